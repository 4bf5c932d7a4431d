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
