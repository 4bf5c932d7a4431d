//! What the metrics responder serves, rendered on demand from the engine's and the
//! journal's counters: `GET /metrics` in the Prometheus text format ([`prometheus`]) and
//! `GET /status` as JSON ([`status`]), and the responder's policy ([`responder`]: limits,
//! deadlines, eviction, keep-alive, routes). Pure: no sockets, no clock; the shell passes
//! the time, a [`Snapshot`] and the bytes read, and makes the socket calls the responder
//! asks for. Output is built into a caller's buffer and freed once sent.

pub mod mesh;
pub mod prometheus;
pub mod responder;
pub mod status;

use crate::journal::JournalStats;
use crate::mesh::Engine;

/// Everything one rendering reads.
pub struct Snapshot<'a> {
    /// The engine: peers, counters, connections.
    pub engine: &'a Engine,
    /// The journal's line counts.
    pub journal: JournalStats,
    /// When the process started, wall-clock Unix ms.
    pub start_wall: i64,
    /// The clock and files the status page reads (the shell's).
    pub local: &'a dyn crate::page::Local,
}

/// The program's version, as `--version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Appends `n` thousandths (of a second, ...) as a decimal: `1234` -> `1.234`.
fn write_milli(out: &mut String, n: i64) {
    use std::fmt::Write as _;
    let sign = if n < 0 { "-" } else { "" };
    let n = n.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:03}", n / 1000, n % 1000);
}

/// Appends `us` millionths as a decimal: `1500` -> `0.001500`.
fn write_micro(out: &mut String, us: u64) {
    use std::fmt::Write as _;
    let _ = write!(out, "{}.{:06}", us / 1_000_000, us % 1_000_000);
}
