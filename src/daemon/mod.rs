//! The I/O shell: one `mio::Poll` on one thread (the log's file calls run on the
//! [`Journal`]'s writer thread, so a hung disk never stops it), the only code that touches
//! sockets, signals, files and the clocks. It decides nothing: it reads both clocks once per loop pass,
//! hands readiness and bytes to the [`Engine`], and carries out the engine's [`Action`]s
//! (connect, send, close, append to the [`Journal`], print a line on stderr).
//!
//! Reads are edge-triggered: a read shorter than the buffer means the socket is drained
//! for now (new data brings a new event), so no read is spent on `EAGAIN` after one. One
//! readiness event reads at most [`MAX_READS_PER_EVENT`] times from a connection; one with
//! data left is revisited after a non-blocking poll, so no connection can keep the loop
//! from its timers. Unsent output stays in the engine and is written when the socket is
//! writable again.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpListener;
use mio::unix::pipe;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::config::{Config, Reload};
use crate::journal::{self, Journal};
use crate::logline;
use crate::mesh::{self, Action, CloseReason, ConnId, Engine, IoOp, LogRecord, Now};
use crate::metrics::Snapshot;
use http::Responder;

mod hookproc;
mod http;
mod page;
mod preflight;
mod socks;
mod sys;
use hookproc::HookProcs;
pub use preflight::{Finding, Preflight, Severity};
use socks::{FIRST_CONN, Socks};
use sys::{install_signal_pipe, start_connect, wall_ms};

/// Most reads from one connection per readiness event, so a peer that floods cannot
/// starve timers and other connections.
pub const MAX_READS_PER_EVENT: usize = 8;
/// How often a listener whose `accept` ran out of descriptors is tried again.
const ACCEPT_RETRY_MS: u64 = 100;
/// Most connections accepted in one loop pass: a flood waiting in the accept queue is
/// taken a batch at a time, with every connection's reads (a peer's handshake among
/// them) between two batches. No more than an address's places: a connection is never
/// evicted by newer ones from its address accepted in its own pass, before its next
/// line could be read.
const ACCEPTS_PER_PASS: usize = mesh::MAX_PENDING_PER_SOURCE;
/// Size of one read.
const READ_BUF: usize = 2048;

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
/// The log writer thread has a result (see [`Journal::start_writer`]).
const JOURNAL: Token = Token(2);

/// Why the daemon could not start or had to stop.
#[derive(Debug)]
pub struct DaemonError(String);

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DaemonError {}

fn startup(what: &str) -> impl FnOnce(io::Error) -> DaemonError + '_ {
    move |e| DaemonError(format!("{what}: {e}"))
}

/// `run --help`.
pub const RUN_USAGE: &str = "\
Usage:
  uptime-tracker run --config FILE [--whoami NAME]

Probes every other node of the mesh and logs each change of their state to a file per
UTC day, in the foreground until SIGINT or SIGTERM (it then finishes its log writes).
SIGHUP reloads the config and reopens the log file. Events (listening, peer offline,
back online, errors, hooks, reloads) go to stderr, one line each. It first makes the
checks `check-config` makes, and stops on an error.

  --config FILE   the TOML config file (see config.example.toml)
  --whoami NAME   this node's name, instead of the file's `whoami` (so one file can
                  serve every node)

Exit status: 0 after SIGINT or SIGTERM; 1 on a config error, when it cannot start (port
in use, log folder not writable) or stops on an error; 2 on a usage error.";

/// `check-config --help`.
pub const CHECK_CONFIG_USAGE: &str = "\
Usage:
  uptime-tracker check-config --config FILE [--whoami NAME]

Validates the config file, then makes the checks `run` makes before it serves: its
listen and metrics addresses can be bound (ports free), the log folder can be written
(or created; nothing is left behind), this node's ip is an address of this machine.
Prints errors and warnings on stderr, then a summary of the settings in force.

  --config FILE   the TOML config file
  --whoami NAME   check it as the node NAME, instead of the file's `whoami`

Exit status: 0 when `run` would start (warnings do not change it); 1 on an error; 2 on
a usage error.";

/// The checks `run` makes before serving (`check-config` shows them): see [`Preflight`].
pub fn preflight(cfg: &Config) -> Preflight {
    Preflight::run(cfg)
}

/// Where the config came from, so SIGHUP can read it again.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The config file.
    pub path: PathBuf,
    /// The `--whoami` given, if any.
    pub whoami: Option<String>,
}

/// Holds the signals `run` handles until it can handle them (see `sys::hold_signals`):
/// call it first thing when the command line asks for `run`.
pub fn hold_signals() {
    sys::hold_signals();
}

/// Runs the daemon until SIGINT or SIGTERM; SIGHUP reopens the log and reloads the config
/// from `source`. Returns an error if it cannot start (an error of [`preflight()`], the log
/// file cannot be opened) or if polling itself fails.
pub fn run(cfg: Config, source: ConfigSource) -> Result<(), DaemonError> {
    Shell::new(cfg, source)?.run()
}

struct Shell {
    poll: Poll,
    listener: TcpListener,
    signals: pipe::Receiver,
    journal: Journal,
    engine: Engine,
    socks: Socks,
    /// Source address for outbound sockets: this node's ip, when it is an address here.
    bind_ip: Option<IpAddr>,
    /// How mesh sockets are set up for the timings in force.
    link_tuning: sys::LinkTuning,
    whoami: String,
    start: Instant,
    stop: bool,
    /// Connections that stopped reading at [`MAX_READS_PER_EVENT`] with data left.
    unfinished: Vec<ConnId>,
    /// Connections whose replies wait for the end of the pass, so that our turn for
    /// that peer, taken in the pass's turns, rides on the `PONG` (`src/mesh/ack.rs`).
    replies: Vec<ConnId>,
    /// Writes of the actions being carried out wait in `replies`.
    hold_replies: bool,
    /// Where reads land, kept from one read to the next: a buffer on the stack, zeroed
    /// at every read, was a tenth of a node's user-space instructions (BENCHMARKS.md,
    /// "Issue 21, sixth pass").
    read_buf: Box<[u8; READ_BUF]>,
    /// The engine's [`Engine::acks`] being checked (the buffer kept: no allocation a
    /// pass).
    acks: Vec<ConnId>,
    /// `accept` ran out of descriptors: the queue is retried every [`ACCEPT_RETRY_MS`].
    accept_blocked: bool,
    /// Lines stderr could not take (its reader is not reading).
    stderr_dropped: Cell<u64>,
    /// The last pass stopped accepting at [`ACCEPTS_PER_PASS`]: the queue may hold more
    /// (edge-triggered: no new event comes for them).
    accept_more: bool,
    /// The metrics responder, when `metrics_listen` is set.
    metrics: Option<Responder>,
    /// Wall-clock ms at start, for `process_start_time_seconds`.
    start_wall: i64,
    /// The status page's timeline, remade at most once a minute.
    timeline: page::TimelineCache,
    /// The config in force, and where to read it again.
    cfg: Config,
    source: ConfigSource,
    /// Signals seen since the last pass: reload, reap.
    hup: bool,
    chld: bool,
    hooks: HookProcs,
}

impl Shell {
    fn new(cfg: Config, source: ConfigSource) -> Result<Shell, DaemonError> {
        sys::stderr_nonblocking();
        let mut pre = Preflight::run(&cfg);
        let limit = sys::raise_nofile(cfg.nodes.len().saturating_sub(1)).map_err(DaemonError)?;
        let listen = pre.listen;
        let listener = pre.take_listener();
        let Some(mut listener) = listener.filter(|_| !pre.has_errors()) else {
            let errors: Vec<&str> = pre.errors().map(|f| f.message.as_str()).collect();
            return Err(DaemonError(errors.join("; ")));
        };
        let poll = Poll::new().map_err(startup("cannot create the poller"))?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(startup("cannot register the listener"))?;
        let mut signals =
            install_signal_pipe().map_err(startup("cannot install signal handlers"))?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(startup("cannot register the signal pipe"))?;
        let nodes: Vec<(&str, SocketAddr)> = cfg
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.addr))
            .collect();
        let start = Instant::now();
        let now = Now::ms(0, wall_ms());
        let mut journal = Journal::open(
            &cfg.log_folder,
            &cfg.whoami,
            cfg.offline_threshold,
            &nodes,
            now.wall,
        )
        .map_err(|e| DaemonError(format!("cannot open the log: {e}")))?;
        // From here on the file calls run on their own thread: a disk that hangs holds
        // that thread, never this loop.
        let waker = Waker::new(poll.registry(), JOURNAL)
            .map_err(startup("cannot register the log writer's waker"))?;
        journal
            .start_writer(Box::new(move || {
                let _ = waker.wake();
            }))
            .map_err(startup("cannot start the log writer thread"))?;
        let own_ip = cfg.own().addr.ip();
        let metrics = match pre.take_metrics_listener() {
            Some(l) => Some(
                Responder::new(l, poll.registry())
                    .map_err(startup("cannot register the metrics listener"))?,
            ),
            None => None,
        };
        let shell = Shell {
            poll,
            listener,
            signals,
            journal,
            engine: Engine::new(&cfg, now),
            socks: Socks::default(),
            bind_ip: pre.own_ip_local.then_some(own_ip),
            link_tuning: sys::LinkTuning::new(cfg.interval_ms, cfg.timeout_ms),
            whoami: cfg.whoami.clone(),
            start,
            stop: false,
            unfinished: Vec::new(),
            replies: Vec::new(),
            hold_replies: false,
            read_buf: Box::new([0; READ_BUF]),
            acks: Vec::new(),
            accept_blocked: false,
            stderr_dropped: Cell::new(0),
            accept_more: false,
            metrics,
            start_wall: now.wall,
            timeline: page::TimelineCache::default(),
            cfg: cfg.clone(),
            source,
            hup: false,
            chld: false,
            hooks: HookProcs::default(),
        };
        #[cfg(feature = "auth")]
        let mut shell = shell;
        #[cfg(feature = "auth")]
        if let Some(secret) = pre.take_secret() {
            shell
                .engine
                .set_auth(secret, Box::new(|buf: &mut [u8]| sys::os_random(buf)));
            if let Some(file) = &cfg.secret_file {
                shell.say(format_args!(
                    "handshakes authenticated with the secret in {}",
                    file.display()
                ));
            }
        }
        for warning in pre.warnings() {
            shell.say(format_args!("{warning}"));
        }
        shell.say_if_kernel_refuses();
        let peers = cfg.nodes.len() - 1;
        shell.say(format_args!(
            "listening on {listen}, probing {peers} peer{} every {} ms (timeout {} ms, offline after {}), logging to {}, up to {limit} open files",
            if peers == 1 { "" } else { "s" },
            cfg.interval_ms,
            cfg.timeout_ms,
            cfg.offline_threshold,
            shell.journal.path().display()
        ));
        if let Some(addr) = cfg.metrics_listen {
            shell.say(format_args!(
                "serving metrics on http://{addr}/metrics, /status and /mesh, the status page on /"
            ));
        }
        Ok(shell)
    }

    /// The poll loop: sleep until the next timer or I/O event; hand I/O, then due timers,
    /// to the engine; carry out what it asks after each.
    fn run(&mut self) -> Result<(), DaemonError> {
        let mut events = Events::with_capacity(256);
        self.apply_actions(self.now());
        while !self.stop {
            let linger = self.engine.take_linger();
            let mut timeout = if self.unfinished.is_empty()
                && !self.hooks.has_unfinished()
                && !self.accept_more
            {
                let mono = self.mono();
                // The engine's timers, the journal's retry of waiting lines / check of its
                // file, and a listener short of descriptors.
                let mut at = self
                    .engine
                    .poll_at()
                    .map_or(self.journal.poll_at(), |at| at.min(self.journal.poll_at()));
                if self.accept_blocked {
                    at = at.min(mono + ACCEPT_RETRY_MS);
                }
                if let Some(m) = &self.metrics {
                    at = at.min(m.poll_at(mono));
                }
                Some(Duration::from_millis(at.saturating_sub(mono)))
            } else {
                // Connections or hook pipes with data left, or an accept queue not yet
                // drained: just collect new events, then read and accept on.
                Some(Duration::ZERO)
            };
            // After our turns, the round's replies and the others' probes are on their
            // way: sleep, not poll, so that one wake-up reads them all
            // (`Engine::take_linger`); a timer due sooner ends the sleep.
            if let (Some(until), Some(left)) = (linger, timeout) {
                let nap = Duration::from_millis(until.saturating_sub(self.mono())).min(left);
                if !nap.is_zero() {
                    std::thread::sleep(nap);
                    timeout = Some(left - nap);
                }
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(DaemonError(format!("poll: {e}")));
            }
            // One reading of the clocks for the whole pass: a reply read in this pass was
            // there before any deadline this pass treats as expired.
            let now = self.now();
            // An acknowledgement that came since the last pass answers its probes before
            // this pass's hedges and deadlines run.
            self.check_acks(now);
            for id in std::mem::take(&mut self.unfinished) {
                self.read(id, false, now);
            }
            for token in self.hooks.take_unfinished() {
                for line in self.hooks.on_readable(self.poll.registry(), token) {
                    self.say(format_args!("{line}"));
                }
            }
            if std::mem::take(&mut self.accept_blocked) {
                // Edge-triggered: connections queued while descriptors were short bring
                // no new event; drain them once there is room.
                self.accept(now);
            }
            for event in events.iter() {
                self.on_event(event, now);
            }
            if std::mem::take(&mut self.accept_more) {
                self.accept(now);
            }
            if std::mem::take(&mut self.chld) {
                self.reap_hooks(now);
            }
            if std::mem::take(&mut self.hup) {
                self.reload(now);
            }
            self.engine.handle_timeout(now);
            self.apply_actions(now);
            // The pass's replies, with the probes its turns put on the same connections
            // (the buffer kept: no allocation a pass).
            let mut replies = std::mem::take(&mut self.replies);
            for &id in &replies {
                self.flush(id, now);
            }
            replies.clear();
            self.replies = replies;
            self.apply_actions(now);
            // On a fast path the acknowledgement of what was just written is often there
            // already: no wake-up waits for it.
            self.check_acks(now);
            self.journal.handle_timeout(now);
            self.journal_notes();
            if let Some(m) = &mut self.metrics
                && m.poll_at(now.mono) <= now.mono
            {
                let snap = Snapshot {
                    engine: &self.engine,
                    journal: self.journal.stats(),
                    start_wall: self.start_wall,
                    local: &page::LogFiles {
                        today: self.journal.path(),
                        whoami: self.engine.whoami(),
                        now_wall: now.wall,
                        cache: &self.timeline,
                    },
                };
                m.handle_timeout(self.poll.registry(), &snap, now.mono);
            }
        }
        let now = self.now();
        self.engine.on_stop(now);
        self.apply_actions(now);
        self.say(format_args!("stopping"));
        // Peers and scrapers see this node leave now, not once a disk that hangs lets go.
        self.close_network();
        // A last try for lines still waiting for the disk, then a sync, waiting at most
        // the grace for a writer stuck on a frozen disk; says what stays unwritten.
        self.journal.shutdown(self.now(), journal::SHUTDOWN_GRACE);
        self.journal_notes();
        Ok(())
    }

    /// Closes every connection and the metrics port, and stops listening.
    fn close_network(&mut self) {
        self.socks = Socks::default();
        self.metrics = None;
        let _ = socket2::SockRef::from(&self.listener).shutdown(std::net::Shutdown::Read);
    }

    fn on_event(&mut self, event: &Event, now: Now) {
        match event.token() {
            token if Responder::owns(token) => {
                if let Some(m) = &mut self.metrics {
                    let snap = Snapshot {
                        engine: &self.engine,
                        journal: self.journal.stats(),
                        start_wall: self.start_wall,
                        local: &page::LogFiles {
                            today: self.journal.path(),
                            whoami: self.engine.whoami(),
                            now_wall: now.wall,
                            cache: &self.timeline,
                        },
                    };
                    m.on_event(token, self.poll.registry(), &snap, now.mono);
                }
            }
            LISTENER => self.accept(now),
            SIGNALS => self.on_signal(),
            // Its results are taken in every pass (`Journal::handle_timeout`).
            JOURNAL => {}
            t if HookProcs::owns(t) => {
                for line in self.hooks.on_readable(self.poll.registry(), t) {
                    self.say(format_args!("{line}"));
                }
            }
            Token(t) => {
                let Some(index) = t.checked_sub(FIRST_CONN) else {
                    return;
                };
                let Some(sock) = self.socks.at(index) else {
                    return;
                };
                let id = sock.id;
                if sock.connecting {
                    match sys::connect_outcome(&sock.stream) {
                        None => return,
                        Some(Err(e)) => {
                            let reason = sys::close_reason(IoOp::Connect, &e);
                            self.engine.on_closed(id, reason, now);
                            return self.apply_actions(now);
                        }
                        Some(Ok(())) => {}
                    }
                    sock.connecting = false;
                    self.engine.on_connected(id, now);
                    self.apply_actions(now);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(id, event.is_read_closed(), now);
                }
                // A reply held for the end of the pass is written then (an incoming
                // segment's ACK also makes the socket writable).
                if event.is_writable() && !self.replies.contains(&id) {
                    self.flush(id, now);
                    self.apply_actions(now);
                }
            }
        }
    }

    /// Reads from `id` and hands the bytes to the engine, writing its replies as it goes
    /// (so the output limit measures what the other side really left unread). A short
    /// read means drained, unless the other side closed (then read on to the end).
    fn read(&mut self, id: ConnId, to_end: bool, now: Now) {
        for _ in 0..MAX_READS_PER_EVENT {
            let Some(sock) = self.socks.get(id) else {
                return;
            };
            let n = match sock.stream.read(&mut self.read_buf[..]) {
                Ok(0) => {
                    self.engine.on_closed(id, CloseReason::ClosedByPeer, now);
                    return self.apply_actions(now);
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.engine
                        .on_closed(id, sys::close_reason(IoOp::Read, &e), now);
                    return self.apply_actions(now);
                }
            };
            self.engine
                .on_data(id, self.read_buf.get(..n).unwrap_or_default(), now);
            if n < READ_BUF && !to_end {
                // Drained: its replies go at the end of the pass, with any probe of ours
                // on the same connection (src/mesh/probe.rs).
                self.hold_replies = true;
                self.apply_actions(now);
                self.hold_replies = false;
                return;
            }
            self.apply_actions(now);
        }
        self.unfinished.push(id);
    }

    /// Writes `id`'s pending output until done or the socket would block.
    fn flush(&mut self, id: ConnId, now: Now) {
        loop {
            let Some(sock) = self.socks.get(id).filter(|s| !s.connecting) else {
                return;
            };
            let out = self.engine.output(id);
            if out.is_empty() {
                return;
            }
            match sock.stream.write(out) {
                Ok(0) => {
                    let reason = CloseReason::Io {
                        op: IoOp::Write,
                        errno: 0,
                    };
                    return self.engine.on_closed(id, reason, now);
                }
                Ok(n) => self.engine.wrote(id, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return self
                        .engine
                        .on_closed(id, sys::close_reason(IoOp::Write, &e), now);
                }
            }
        }
    }

    /// Tells the engine which of the connections its probes ride on have every byte
    /// written and acknowledged (`src/mesh/ack.rs`): one `getsockopt` each, and only
    /// while a probe rides there.
    fn check_acks(&mut self, now: Now) {
        if self.engine.acks().is_empty() {
            return;
        }
        let mut acks = std::mem::take(&mut self.acks);
        acks.extend_from_slice(self.engine.acks());
        for &id in &acks {
            if !self.engine.output(id).is_empty() {
                continue;
            }
            let Some(sock) = self.socks.get(id) else {
                continue;
            };
            if let Some((true, rtt_us)) = sys::acked(&sock.stream) {
                self.engine.on_acked(id, Some(rtt_us), now);
            }
        }
        acks.clear();
        self.acks = acks;
        self.apply_actions(now);
    }

    /// Carries out what the engine asks, in order, until it asks nothing more.
    fn apply_actions(&mut self, now: Now) {
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Connect { conn, addr } => self.connect(conn, addr, now),
                // Once per connection a pass: the engine asks to send only when the
                // output was empty, and a held one is not written before the pass ends.
                Action::Send { conn } if self.hold_replies => self.replies.push(conn),
                Action::Send { conn } => self.flush(conn, now),
                Action::Close { conn, .. } => {
                    if let Some(mut sock) = self.socks.take(conn) {
                        let _ = self.poll.registry().deregister(&mut sock.stream);
                    }
                }
                Action::Log(record) => self.log(record, now),
                Action::Say(msg) => self.say(format_args!("{msg}")),
                Action::Hook(run) => {
                    let program = self.cfg.on_change.as_ref().map(|h| h.program.clone());
                    let started = match &program {
                        Some(program) => {
                            self.hooks
                                .spawn(self.poll.registry(), program, &self.whoami, &run)
                        }
                        None => Err(io::Error::other("on_change is not set")),
                    };
                    if let Err(e) = started {
                        self.say(format_args!("hook {}: cannot start: {e}", run.name));
                        self.engine.on_hook_exit(run.id, now);
                    }
                }
                Action::KillHook { id } => self.hooks.kill(id),
                Action::PruneLogs { before_day } => {
                    self.journal.prune(before_day);
                    self.journal_notes();
                }
            }
        }
    }

    fn connect(&mut self, id: ConnId, addr: SocketAddr, now: Now) {
        // An IPv4-mapped address (`::ffff:a.b.c.d`) is dialled, and bound, as the IPv4
        // address it is, so peers see the source they expect.
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        let bind = self
            .bind_ip
            .map(|ip| ip.to_canonical())
            .filter(|ip| ip.is_ipv4() == addr.is_ipv4());
        let result = start_connect(addr, bind, self.link_tuning)
            .and_then(|stream| self.socks.insert(self.poll.registry(), id, stream, true));
        if let Err(e) = result {
            self.engine
                .on_closed(id, sys::close_reason(IoOp::Connect, &e), now);
        }
    }

    /// Takes connections from the listener's queue, at most [`ACCEPTS_PER_PASS`] (the
    /// rest next pass), and reads what each has sent already: the queue is always
    /// drained, the engine making room for each connection (see `mesh::admission`), so a
    /// flood of strangers cannot leave a peer's connection waiting in the kernel.
    fn accept(&mut self, now: Now) {
        for _ in 0..ACCEPTS_PER_PASS {
            let (stream, from) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors: the engine frees one by evicting the oldest
                    // connection still without HELLO, and accepting goes on at once; with
                    // none to evict, it is retried soon (the queue is drained once there
                    // is room). A connection reset before accept: not fatal.
                    let shortage = sys::is_shortage(&e);
                    let freed = self.engine.on_accept_error(&e, shortage, now);
                    self.apply_actions(now);
                    if freed {
                        continue;
                    }
                    self.accept_blocked = shortage;
                    return;
                }
            };
            let Some(id) = self.engine.on_accepted(from, now) else {
                self.apply_actions(now);
                continue; // dropping the stream closes it
            };
            let _ = stream.set_nodelay(true);
            let _ = self.link_tuning.apply(&socket2::SockRef::from(&stream));
            if let Err(e) = self.socks.insert(self.poll.registry(), id, stream, false) {
                self.engine
                    .on_closed(id, sys::close_reason(IoOp::Read, &e), now);
            }
            self.apply_actions(now);
            // A caller's first line is usually there already (a queued connection's
            // certainly): acted on now, a peer's handshake moves on before the next
            // connections from its address can crowd it out.
            self.read(id, false, now);
        }
        self.accept_more = true;
    }

    /// Hands a log record to the journal, stamped with its own wall time (`now.mono` only
    /// times how long lines wait when the disk refuses them).
    fn log(&mut self, record: LogRecord, now: Now) {
        let result = match &record {
            LogRecord::NewDay { wall, carried } => {
                let carried = borrowed(carried);
                self.journal.new_day(Now { wall: *wall, ..now }, &carried)
            }
            LogRecord::Reconfigured {
                wall,
                threshold,
                nodes,
                carried,
            } => {
                let at = Now { wall: *wall, ..now };
                let nodes = borrowed(nodes);
                self.journal
                    .reconfigure(at, *threshold, &nodes, &borrowed(carried))
            }
            LogRecord::Event {
                wall,
                name,
                timeouts,
                ..
            } => self
                .journal
                .record(Now { wall: *wall, ..now }, name, *timeouts),
        };
        if let Err(e) = result {
            self.say(format_args!("log: {e}"));
        }
        self.journal_notes();
    }

    /// Prints what the journal has to say (lines waiting for the disk, written, dropped;
    /// a file reopened).
    fn journal_notes(&mut self) {
        while let Some(note) = self.journal.take_note() {
            self.say(format_args!("log: {note}"));
        }
    }

    /// Monotonic milliseconds since start: the clock of timers.
    fn mono(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn now(&self) -> Now {
        let elapsed = self.start.elapsed();
        Now {
            mono: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            wall: wall_ms(),
            micros: elapsed.subsec_micros() % 1000,
        }
    }

    /// Says so when the kernel will not resend lost segments as soon as the timings ask
    /// (no `TCP_RTO_MIN_US` before Linux 6.15): under heavy packet loss, peers that are
    /// up will then be logged offline far more often, and the operator should know why.
    fn say_if_kernel_refuses(&self) {
        if let Some(e) = self.link_tuning.kernel_refuses() {
            self.say(format_args!(
                "this kernel keeps its 200 ms floor for resending a lost segment (TCP_RTO_MIN_US {} ms: {e}; Linux 6.15 or later takes it): under heavy packet loss, expect more offline lines about reachable peers (docs/tuning.md, \"Links under loss\")",
                self.link_tuning.rto_min_ms()
            ));
        }
    }

    /// A human-readable line on stderr, stamped with UTC time and this node's name. One
    /// `write` per line: a pipe takes a line shorter than `PIPE_BUF` whole or not at all,
    /// and a pipe nobody reads (made non-blocking at start) costs the line, never the
    /// daemon. Lines lost so are counted and the count said once the reader is back.
    fn say(&self, msg: fmt::Arguments<'_>) {
        let mut line = String::with_capacity(96);
        logline::write_timestamp(&mut line, wall_ms());
        let dropped = self.stderr_dropped.get();
        if dropped > 0 {
            let _ = writeln!(
                line,
                " {}: ({dropped} earlier lines lost: stderr was not being read)",
                self.whoami
            );
            logline::write_timestamp(&mut line, wall_ms());
        }
        let _ = writeln!(line, " {}: {msg}", self.whoami);
        // Not eprintln!: it panics when stderr is a closed pipe (a dead log collector).
        match io::stderr().write(line.as_bytes()) {
            Ok(_) => self.stderr_dropped.set(0),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stderr_dropped.set(dropped + 1);
            }
            Err(_) => {}
        }
    }

    /// Notes the signals the handler wrote into the pipe (one byte each, the signal's
    /// number); they are acted on after this pass's events.
    fn on_signal(&mut self) {
        let mut buf = [0u8; 16];
        loop {
            match self.signals.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for &sig in buf.get(..n).unwrap_or_default() {
                        match i32::from(sig) {
                            libc::SIGHUP => self.hup = true,
                            libc::SIGCHLD => self.chld = true,
                            _ => self.stop = true,
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    /// SIGHUP: reads the config again and applies it if it is valid and changes nothing
    /// that needs a restart (else says why and goes on with the old one); then reopens
    /// the log file if logrotate moved it.
    fn reload(&mut self, now: Now) {
        let path = self.source.path.clone();
        self.say(format_args!(
            "SIGHUP: reloading {} and reopening the log",
            path.display()
        ));
        match self.load_new_config(&path) {
            Err(why) => self.say(format_args!(
                "reload: {why}; still running on the previous config"
            )),
            Ok(reload) => {
                self.engine.reconfigure(&reload, now);
                let new = reload.into_config();
                self.link_tuning = sys::LinkTuning::new(new.interval_ms, new.timeout_ms);
                if new.timeout_ms != self.cfg.timeout_ms {
                    self.say_if_kernel_refuses();
                }
                // The config in force: the next reload is checked against it.
                self.cfg = new;
            }
        }
        self.apply_actions(now);
        self.journal.reopen(now);
        self.journal_notes();
    }

    /// The config file, validated, and checked against the one running.
    fn load_new_config(&self, path: &Path) -> Result<Reload, String> {
        let new = Config::load(path, self.source.whoami.as_deref()).map_err(|e| e.to_string())?;
        let peers = new.nodes.len().saturating_sub(1);
        let reload = self
            .cfg
            .reload(new)
            .map_err(|why| format!("{}: {why}", path.display()))?;
        sys::raise_nofile(peers).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(reload)
    }

    /// SIGCHLD: reaps the hooks that ended and tells the engine.
    fn reap_hooks(&mut self, now: Now) {
        if !self.hooks.any() {
            return;
        }
        let (lines, ended) = self.hooks.reap(self.poll.registry());
        for line in lines {
            self.say(format_args!("{line}"));
        }
        for e in ended {
            if let Some(said) = e.said {
                self.say(format_args!("{said}"));
            }
            self.engine.on_hook_exit(e.id, now);
        }
        self.apply_actions(now);
    }
}

/// `(name, value)` pairs as the journal takes them.
fn borrowed<T: Copy>(pairs: &[(String, T)]) -> Vec<(&str, T)> {
    pairs.iter().map(|(n, v)| (n.as_str(), *v)).collect()
}
