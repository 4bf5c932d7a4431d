//! Running the `on_change` program: spawn with the change in environment variables, read
//! its output without blocking, kill it on the engine's word, reap it on SIGCHLD.
//!
//! The engine decides when a hook runs and when it is killed (src/mesh/hooks.rs); this
//! only carries that out. Each run gets its own process group (so a kill reaches the
//! children a script started, e.g. a hanging `curl`), stdin from /dev/null, and its
//! stdout and stderr as non-blocking pipes polled by the loop. Output goes to stderr one
//! line at a time, prefixed `hook <peer>: `; at most [`MAX_OUTPUT`] bytes per run are shown
//! (lines cut at [`MAX_LINE`]), the rest counted.

use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mio::unix::pipe;
use mio::{Interest, Registry, Token};

use crate::logline;
use crate::mesh::{HookId, HookRun};

/// Most runs at once (the engine's limit).
pub(super) const SLOTS: usize = crate::mesh::MAX_RUNNING_HOOKS;
/// Tokens of run slot `k`: `FIRST_HOOK + 2k` (stdout) and `FIRST_HOOK + 2k + 1` (stderr).
pub(super) const FIRST_HOOK: usize = 3;
/// Most output bytes of one run shown on stderr.
pub const MAX_OUTPUT: usize = 4096;
/// Longest output line shown; a longer one is cut.
pub const MAX_LINE: usize = 512;
/// Most reads from one pipe per readiness event (1 KiB each), so a hook that floods its
/// output cannot hold up the loop; a pipe with more is read on in the next pass (the
/// pipes are edge-triggered: a writer blocked in one large write sends no new edge).
const READS_PER_EVENT: usize = 16;
/// Most reads from one pipe once its process ended (a pipe holds 64 KiB; a child the
/// hook left behind may keep writing).
const READS_AT_END: usize = 64;

/// One run going on.
struct Proc {
    id: HookId,
    name: String,
    child: Child,
    pipes: [Option<pipe::Receiver>; 2],
    /// A line not yet ended, per pipe.
    partial: [Vec<u8>; 2],
    shown: usize,
    hidden: usize,
}

/// The runs going on, by slot.
#[derive(Default)]
pub(super) struct HookProcs {
    slots: Vec<Option<Proc>>,
    /// Pipes whose last read filled its budget: read on in the next pass.
    unfinished: Vec<Token>,
}

/// What became of a run.
pub(super) struct Ended {
    pub(super) id: HookId,
    /// A line about how it ended, when not a plain success.
    pub(super) said: Option<String>,
}

impl HookProcs {
    /// Whether any run is going on.
    pub(super) fn any(&self) -> bool {
        self.slots.iter().any(Option::is_some)
    }

    /// Starts `program` for `run` (this node is `node`). The error names the program.
    pub(super) fn spawn(
        &mut self,
        registry: &Registry,
        program: &Path,
        node: &str,
        run: &HookRun,
    ) -> io::Result<()> {
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < SLOTS => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => {
                return Err(io::Error::other("too many hooks running"));
            }
        };
        let mut time = String::new();
        logline::write_timestamp(&mut time, run.wall);
        let event = match run.state {
            crate::mesh::PeerState::Offline => "peer-offline",
            crate::mesh::PeerState::Online => "peer-online",
        };
        let mut child = Command::new(program)
            .env("UPTIME_TRACKER_EVENT", event)
            .env("UPTIME_TRACKER_PEER", &run.name)
            .env("UPTIME_TRACKER_PEER_ADDRESS", run.addr.to_string())
            .env("UPTIME_TRACKER_STATE", run.state.as_str())
            .env("UPTIME_TRACKER_TIMEOUTS", run.timeouts.to_string())
            .env("UPTIME_TRACKER_TIME", time)
            .env("UPTIME_TRACKER_NODE", node)
            .env("UPTIME_TRACKER_COALESCED", run.coalesced.to_string())
            .env("UPTIME_TRACKER_VERDICT", run.verdict)
            .env(
                "UPTIME_TRACKER_VERDICT_SETTLED",
                if run.settled { "1" } else { "0" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", program.display())))?;
        let mut pipes: [Option<pipe::Receiver>; 2] = [
            child.stdout.take().map(pipe::Receiver::from),
            child.stderr.take().map(pipe::Receiver::from),
        ];
        for (k, p) in pipes.iter_mut().enumerate() {
            let registered = p.as_mut().map(|r| {
                r.set_nonblocking(true)?;
                registry.register(r, Token(FIRST_HOOK + 2 * slot + k), Interest::READABLE)
            });
            if let Some(Err(_)) = registered {
                // Output unseen, but the run itself goes on.
                *p = None;
            }
        }
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some(Proc {
                id: run.id,
                name: run.name.clone(),
                child,
                pipes,
                partial: [Vec::new(), Vec::new()],
                shown: 0,
                hidden: 0,
            });
        }
        Ok(())
    }

    /// Whether `token` is a hook pipe's.
    pub(super) fn owns(token: Token) -> bool {
        (FIRST_HOOK..FIRST_HOOK + 2 * SLOTS).contains(&token.0)
    }

    /// Reads what the pipe of `token` has; returns the lines to show.
    pub(super) fn on_readable(&mut self, registry: &Registry, token: Token) -> Vec<String> {
        let mut lines = Vec::new();
        let Some(i) = token.0.checked_sub(FIRST_HOOK) else {
            return lines;
        };
        if let Some(Some(p)) = self.slots.get_mut(i / 2)
            && p.drain(registry, i % 2, &mut lines, READS_PER_EVENT)
            && !self.unfinished.contains(&token)
        {
            self.unfinished.push(token);
        }
        lines
    }

    /// Whether a pipe has data left from its last read: the loop must not sleep.
    pub(super) fn has_unfinished(&self) -> bool {
        !self.unfinished.is_empty()
    }

    /// The pipes to read on, taken.
    pub(super) fn take_unfinished(&mut self) -> Vec<Token> {
        std::mem::take(&mut self.unfinished)
    }

    /// Kills run `id` (its whole process group).
    pub(super) fn kill(&mut self, id: HookId) {
        for p in self.slots.iter_mut().flatten() {
            if p.id == id
                && let Ok(pid) = i32::try_from(p.child.id())
            {
                // SAFETY: kill(2) with a process group we created; no memory involved.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
        }
    }

    /// Reaps the runs that ended (waitpid with WNOHANG), after reading what their pipes
    /// still hold. Returns the lines to show and the runs that ended.
    pub(super) fn reap(&mut self, registry: &Registry) -> (Vec<String>, Vec<Ended>) {
        let mut lines = Vec::new();
        let mut ended = Vec::new();
        for slot in &mut self.slots {
            let Some(p) = slot.as_mut() else {
                continue;
            };
            let status = match p.child.try_wait() {
                Ok(None) => continue,
                Ok(Some(status)) => Ok(status),
                Err(e) => Err(e),
            };
            for k in 0..2 {
                p.drain(registry, k, &mut lines, READS_AT_END);
                p.flush_partial(k, &mut lines);
                if let Some(mut r) = p.pipes.get_mut(k).and_then(Option::take) {
                    let _ = registry.deregister(&mut r);
                }
            }
            if p.hidden > 0 {
                lines.push(format!(
                    "hook {}: {} more bytes of output not shown",
                    p.name, p.hidden
                ));
            }
            let said = match status {
                Ok(s) if s.success() => None,
                Ok(s) => Some(match (s.code(), s.signal()) {
                    (Some(code), _) => format!("hook {}: exited with status {code}", p.name),
                    (None, Some(sig)) => format!("hook {}: ended by signal {sig}", p.name),
                    _ => format!("hook {}: ended ({s})", p.name),
                }),
                Err(e) => Some(format!("hook {}: cannot wait for it: {e}", p.name)),
            };
            ended.push(Ended { id: p.id, said });
            *slot = None;
        }
        (lines, ended)
    }
}

impl Proc {
    /// Reads pipe `k` until it would block or ends, at most `reads` times; complete
    /// lines go to `lines`.
    /// Reads pipe `k` up to `reads` times; `true` when every read filled the buffer's
    /// worth of budget and the pipe may hold more.
    fn drain(
        &mut self,
        registry: &Registry,
        k: usize,
        lines: &mut Vec<String>,
        reads: usize,
    ) -> bool {
        let mut buf = [0u8; 1024];
        for _ in 0..reads {
            let Some(r) = self.pipes.get_mut(k).and_then(Option::as_mut) else {
                return false;
            };
            match r.read(&mut buf) {
                Ok(0) => {
                    self.flush_partial(k, lines);
                    if let Some(mut r) = self.pipes.get_mut(k).and_then(Option::take) {
                        let _ = registry.deregister(&mut r);
                    }
                    return false;
                }
                Ok(n) => self.take(k, buf.get(..n).unwrap_or_default(), lines),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false, // WouldBlock, or a broken pipe: the reap ends it
            }
        }
        true
    }

    fn take(&mut self, k: usize, mut bytes: &[u8], lines: &mut Vec<String>) {
        while !bytes.is_empty() {
            let end = bytes.iter().position(|&b| b == b'\n');
            let (chunk, rest, done) = match end {
                Some(i) => (
                    bytes.get(..i).unwrap_or_default(),
                    bytes.get(i + 1..).unwrap_or_default(),
                    true,
                ),
                None => (bytes, &[][..], false),
            };
            bytes = rest;
            if let Some(partial) = self.partial.get_mut(k) {
                let room = MAX_LINE.saturating_sub(partial.len());
                partial.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
                self.hidden += chunk.len().saturating_sub(room);
                if done || partial.len() >= MAX_LINE {
                    self.flush_partial(k, lines);
                }
            }
        }
    }

    /// Shows pipe `k`'s pending line, if any (within the run's output budget).
    fn flush_partial(&mut self, k: usize, lines: &mut Vec<String>) {
        let Some(partial) = self.partial.get_mut(k) else {
            return;
        };
        if partial.is_empty() {
            return;
        }
        let line = std::mem::take(partial);
        if self.shown + line.len() > MAX_OUTPUT {
            self.hidden += line.len();
            return;
        }
        self.shown += line.len();
        let text: String = String::from_utf8_lossy(&line)
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        lines.push(format!("hook {}: {text}", self.name));
    }
}
