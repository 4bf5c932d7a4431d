//! For the tests that make real network faults in namespaces of their own
//! (`tests/partition.rs`, `tests/oneway.rs`): running `ip` and `nft` with input, a
//! namespace deleted on drop, and a log's counts with their times.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{events, parse_iso_ms};

/// This machine's wall clock, Unix ms: what the daemons stamp their lines with.
pub fn wall_ms() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(d.as_millis()).unwrap()
}

/// Runs `prog <args>` with `stdin` as its input; `Ok` holds its stdout, `Err` the command
/// and its stderr.
pub fn run(prog: &str, args: &[&str], stdin: &str) -> Result<String, String> {
    let what = format!("`{prog} {}`", args.join(" "));
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .map_err(|e| format!("{what}: cannot write its input: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

pub fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args, "").map(drop)
}

pub fn ip_ok(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

/// A network namespace a test added; deleted on drop (which also deletes the veth ends
/// inside it, and with them the pairs, and its nft tables).
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// `ip netns add name`. A namespace of that name can only be left over from a dead
    /// run of the same test (the name holds its process's pid), so it is deleted first.
    pub fn add(name: String) -> Result<Netns, String> {
        if PathBuf::from("/run/netns").join(&name).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
        ip(&["netns", "add", &name])?;
        Ok(Netns { name })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// `peer`'s counts in `log`, with their times (Unix ms).
pub fn timed_counts(log: &str, peer: &str) -> Vec<(i64, u32)> {
    events(log)
        .into_iter()
        .filter(|e| e.node == peer)
        .map(|e| {
            let ms = parse_iso_ms(&e.time).unwrap_or_else(|| panic!("bad time {:?}", e.time));
            (ms, e.timeouts)
        })
        .collect()
}

/// `counts` as `[|1@+755ms …]`, times from `origin`.
pub fn fmt_counts(counts: &[(i64, u32)], origin: i64) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|(t, c)| format!("|{c}@{:+}ms", t - origin))
        .collect();
    format!("[{}]", parts.join(" "))
}

/// A cut between nodes and its heal, and what a careful operator expects each observer on
/// the far side to log of each peer across it.
#[derive(Clone, Copy)]
pub struct Cut {
    /// Prefix of the lines it prints (the test's name).
    pub label: &'static str,
    /// When the cut began and ended (Unix ms).
    pub cut_ms: i64,
    pub heal_ms: i64,
    /// How long after the heal the logs were watched.
    pub watched_ms: i64,
    pub threshold: u32,
    /// Offline (the threshold's count) at most this long after the cut.
    pub detect_bound_ms: i64,
    /// Back (`|0`, the first line after the heal) at most this long after it.
    pub recover_bound_ms: i64,
}

impl Cut {
    /// Judges what `observer`'s `log` says of `peer`: during the cut `|1` .. `|threshold`
    /// once, the last within the detection bound; after the heal `|0` first, within the
    /// recovery bound, and nothing more. Each breach goes onto `violations`; the measured
    /// times are printed.
    pub fn judge(&self, log: &str, observer: &str, peer: &str, violations: &mut Vec<String>) {
        let (o, p) = (observer, peer);
        let Cut {
            label,
            cut_ms,
            heal_ms,
            watched_ms,
            threshold,
            detect_bound_ms,
            recover_bound_ms,
        } = *self;
        let all = timed_counts(log, p);
        let during: Vec<(i64, u32)> = all
            .iter()
            .copied()
            .filter(|&(t, _)| t >= cut_ms && t < heal_ms)
            .collect();
        let after: Vec<(i64, u32)> = all.iter().copied().filter(|&(t, _)| t >= heal_ms).collect();
        let counts: Vec<u32> = during.iter().map(|&(_, c)| c).collect();
        let want: Vec<u32> = (1..=threshold).collect();
        if counts != want {
            violations.push(format!(
                "{o} -> {p}: during the cut logged {} (relative to the cut), want |1 .. \
                 |{threshold} once",
                fmt_counts(&during, cut_ms)
            ));
        }
        let detect = during
            .iter()
            .find(|&&(_, c)| c == threshold)
            .map(|&(t, _)| t - cut_ms);
        match detect {
            Some(ms) if ms > detect_bound_ms => violations.push(format!(
                "{o} -> {p}: offline (|{threshold}) {ms} ms after the cut, bound \
                 {detect_bound_ms} ms"
            )),
            None => violations.push(format!(
                "{o} -> {p}: never logged offline (|{threshold}) during the {} ms cut",
                heal_ms - cut_ms
            )),
            Some(_) => {}
        }
        let recover = match after.first() {
            Some(&(t, 0)) => Some(t - heal_ms),
            _ => None,
        };
        match recover {
            Some(ms) if ms > recover_bound_ms => violations.push(format!(
                "{o} -> {p}: back online (|0) {ms} ms after the heal, bound {recover_bound_ms} ms"
            )),
            None => violations.push(format!(
                "{o} -> {p}: not logged back online (|0 as the first line after the heal) \
                 within {watched_ms} ms of the heal, bound {recover_bound_ms} ms; after the \
                 heal: {}",
                fmt_counts(&after, heal_ms)
            )),
            Some(_) => {}
        }
        if after.len() > 1 {
            violations.push(format!(
                "{o} -> {p}: flapped after the heal: {} (relative to the heal)",
                fmt_counts(&after, heal_ms)
            ));
        }
        let show = |v: Option<i64>, bound: i64| match v {
            Some(ms) => format!("{ms:>5} ms (bound {bound})"),
            None => format!(" none (bound {bound})"),
        };
        eprintln!(
            "{label}: {o} sees {p}: offline after the cut {}, back after the heal {}",
            show(detect, detect_bound_ms),
            match recover {
                None => format!(" none within {watched_ms} ms (bound {recover_bound_ms})"),
                r => show(r, recover_bound_ms),
            }
        );
    }
}
