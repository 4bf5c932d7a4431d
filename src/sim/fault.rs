//! The faults a simulation injects: what they are, when they happen, and which ordered
//! pairs of nodes (observer, peer) they make unreachable. Drawn from the seed, so a seed
//! names one exact history.

use std::fmt::Write as _;

use super::rng::Rng;
use crate::logline;

/// A kind of fault the simulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// The process dies (its kernel closes its connections) and restarts `for` later.
    Crash,
    /// The process stops (SIGSTOP) and resumes: its kernel keeps accepting and buffering,
    /// its timers and reads run late.
    Freeze,
    /// One node cut off from all others; packets vanish (no RST).
    Partition,
    /// One node cut off from all others by resets: connections and connects are refused.
    Reset,
    /// The link between two nodes cut silently, both ways; the rest of the mesh is fine.
    Cut,
    /// A connection's state vanishes in the middle (a NAT or firewall forgot it): the next
    /// segment either way is answered with a reset.
    HalfOpen,
    /// The node's wall clock steps (NTP), forwards or back; its monotonic clock does not.
    ClockStep,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Crash,
        FaultKind::Freeze,
        FaultKind::Partition,
        FaultKind::Reset,
        FaultKind::Cut,
        FaultKind::HalfOpen,
        FaultKind::ClockStep,
    ];

    /// The name used on the command line and in the ground truth.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Freeze => "freeze",
            FaultKind::Partition => "partition",
            FaultKind::Reset => "reset",
            FaultKind::Cut => "cut",
            FaultKind::HalfOpen => "halfopen",
            FaultKind::ClockStep => "clock",
        }
    }

    /// The kind called `name`.
    pub fn parse(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether it makes nodes unreachable for a while (rather than happening at an
    /// instant).
    pub fn has_duration(self) -> bool {
        !matches!(self, FaultKind::HalfOpen | FaultKind::ClockStep)
    }
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// The node it happens to (for `Cut`, one end of the link).
    pub node: usize,
    /// The other end of a `Cut` link (or of the `HalfOpen` connection).
    pub other: Option<usize>,
    /// Simulated start, ms.
    pub start: u64,
    /// Simulated end, ms (`start` for instants).
    pub end: u64,
    /// For `ClockStep`: how far the wall clock jumps, ms.
    pub step_ms: i64,
}

impl Fault {
    /// Whether `peer` is unreachable from `observer` while this fault lasts.
    pub fn cuts(&self, observer: usize, peer: usize) -> bool {
        match self.kind {
            FaultKind::Crash | FaultKind::Freeze => peer == self.node,
            FaultKind::Partition | FaultKind::Reset => {
                (peer == self.node) != (observer == self.node)
            }
            FaultKind::Cut => {
                let (a, b) = (self.node, self.other.unwrap_or(self.node));
                (observer, peer) == (a, b) || (observer, peer) == (b, a)
            }
            FaultKind::HalfOpen | FaultKind::ClockStep => false,
        }
    }

    /// Whether `node`'s process is not running (dead or stopped) while this fault lasts.
    pub fn stops(&self, node: usize) -> bool {
        matches!(self.kind, FaultKind::Crash | FaultKind::Freeze) && node == self.node
    }
}

/// Draws `count` faults of the given kinds over `duration` ms among `nodes` nodes.
/// Durations spread from a fraction of the detection bound `bound` to many times it, so
/// some outages are too short to be reported and most are long enough. A node is never
/// crashed or frozen twice at once.
pub fn schedule(
    rng: &mut Rng,
    kinds: &[FaultKind],
    count: usize,
    nodes: usize,
    duration: u64,
    bound: u64,
    warmup: u64,
) -> Vec<Fault> {
    const FACTORS: [u64; 10] = [3, 6, 15, 20, 30, 50, 100, 200, 400, 1000];
    let mut faults: Vec<Fault> = Vec::new();
    if kinds.is_empty() || nodes < 2 || duration <= warmup * 2 {
        return faults;
    }
    for _ in 0..count {
        let kind = kinds
            .get(rng.range(0, kinds.len() as u64 - 1) as usize)
            .copied()
            .unwrap_or(FaultKind::Crash);
        let node = rng.range(0, nodes as u64 - 1) as usize;
        let mut other = (node + 1 + rng.range(0, nodes as u64 - 2) as usize) % nodes;
        if other == node {
            other = (node + 1) % nodes;
        }
        let length = if kind.has_duration() {
            // A tenth of a bound factor: 0.3 to 100 detection bounds.
            let factor = FACTORS
                .get(rng.range(0, FACTORS.len() as u64 - 1) as usize)
                .copied()
                .unwrap_or(10);
            (bound * factor / 10).max(1)
        } else {
            0
        };
        let latest = duration.saturating_sub(warmup + length).max(warmup + 1);
        let start = rng.range(warmup, latest);
        let step_ms = if kind == FaultKind::ClockStep {
            let ms = rng.range(1_000, 3_600_000) as i64;
            if rng.chance(0.5) { -ms } else { ms }
        } else {
            0
        };
        let fault = Fault {
            kind,
            node,
            other: matches!(kind, FaultKind::Cut | FaultKind::HalfOpen).then_some(other),
            start,
            end: start + length,
            step_ms,
        };
        let clash = faults.iter().any(|f| {
            f.stops(node)
                && fault.stops(node)
                && f.start <= fault.end + 1
                && fault.start <= f.end + 1
        });
        if !clash {
            faults.push(fault);
        }
    }
    faults.sort_by_key(|f| (f.start, f.node, f.kind));
    faults
}

/// The faults as a JSON array, times as simulated ms and as UTC (the wall clock of a node
/// whose clock never stepped).
pub fn to_json(faults: &[Fault], names: &[String], start_wall: i64) -> String {
    let mut out = String::from("[\n");
    for (i, f) in faults.iter().enumerate() {
        let name = |n: usize| names.get(n).map_or("?", String::as_str);
        let mut from = String::new();
        logline::write_timestamp(&mut from, start_wall + f.start as i64);
        let mut to = String::new();
        logline::write_timestamp(&mut to, start_wall + f.end as i64);
        let _ = write!(
            out,
            "  {{\"kind\": \"{}\", \"node\": \"{}\", ",
            f.kind.name(),
            name(f.node)
        );
        if let Some(o) = f.other {
            let _ = write!(out, "\"other\": \"{}\", ", name(o));
        }
        let _ = write!(
            out,
            "\"start_ms\": {}, \"end_ms\": {}, \"start\": \"{from}\", \"end\": \"{to}\"",
            f.start, f.end
        );
        if f.kind == FaultKind::ClockStep {
            let _ = write!(out, ", \"step_ms\": {}", f.step_ms);
        }
        out.push('}');
        if i + 1 < faults.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str("]\n");
    out
}
