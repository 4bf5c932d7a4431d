//! The properties every simulated run must keep, checked against the ground truth, and
//! the figures `simulate` prints. Times are simulated ms.
//!
//! With `D` the detection bound ([`detection_bound`]) and `R` the recovery bound
//! ([`recovery_bound`]):
//! 1. **Detected.** Whenever a peer is unreachable from an observer for longer than `D`
//!    while the observer runs, the observer holds it offline (count = threshold) at most
//!    `D` after the later of the fault's start and the observer's own (re)start or resume.
//! 2. **No false offline.** An observer logs a peer offline only if, within `D` before
//!    (reaching back over any time the observer itself was stopped, since a frozen process
//!    gives its verdicts late), the pair was cut, the peer down, or a segment between them
//!    was delayed past half the timeout (loss repaired by retransmission) or reset.
//! 3. **Recovered.** After a fault between an observer and a peer heals, with both running
//!    and the path undisturbed for `R`, the observer logs the peer back (count 0) within `R`.
//! 4. **Valid files.** Every file passes [`logline::check_file`], and per peer the counts
//!    step by one from 0 up to the threshold or drop to 0; a new day's file starts with the
//!    carried counts, so each file reads on its own.
//!
//! (5, same seed same bytes, is checked by the tests that run a seed twice.)

use std::collections::HashMap;

use super::fault::Fault;
use crate::logline::{self, Line};

/// The longest time from the start of an outage to its offline line: `threshold`
/// rounds, the last probe's `timeout`, one round of phase, and a few network trips.
pub fn detection_bound(interval: u64, timeout: u64, threshold: u32, max_latency: u64) -> u64 {
    u64::from(threshold) * interval + timeout + interval + 4 * max_latency
}

/// The longest time from the end of an outage to the peer's `|0`: `interval + timeout`
/// plus one round, and a few network trips (connect, handshake, probe); with an
/// `online_threshold` N above 1, N-1 more rounds (the probes in flight across the heal
/// may still miss up to `timeout` after it, and each miss restarts the run of replies:
/// the N turns that start after that are answered in a row).
pub fn recovery_bound(interval: u64, timeout: u64, online_threshold: u32, max_latency: u64) -> u64 {
    (u64::from(online_threshold.max(1)) + 1) * interval + timeout + 6 * max_latency
}

/// What the checker needs to know of a run.
pub struct Facts<'a> {
    /// Number of nodes.
    pub nodes: usize,
    /// Their names.
    pub names: &'a [String],
    /// Config values.
    pub interval: u64,
    /// Config values.
    pub timeout: u64,
    /// Config values.
    pub threshold: u32,
    /// Config values.
    pub online_threshold: u32,
    /// Largest one-way latency.
    pub max_latency: u64,
    /// Simulated time.
    pub duration: u64,
    /// The ground truth.
    pub faults: &'a [Fault],
    /// Per node: (time, peer, count) of each event line.
    pub events: Vec<&'a [(u64, usize, u32)]>,
    /// Per node: times of each (re)start.
    pub starts: Vec<&'a [u64]>,
    /// Per ordered pair `a * nodes + b`: delayed or reset traffic, (from, to).
    pub disturbances: &'a HashMap<usize, Vec<(u64, u64)>>,
}

/// What the checker found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Pair outages (observer, peer) longer than the detection bound, checkable.
    pub outages: usize,
    /// Of those, logged offline within the bound.
    pub detected: usize,
    /// Pair outages too short to be reported (at most the bound).
    pub short: usize,
    /// Offline lines about a peer that was up and reachable: no injected fault on the
    /// path between the two within the detection bound before the line, whatever the
    /// loss or latency. What a user of these settings would get as false alarms.
    pub false_alarms: usize,
    /// Offline lines with no cause at all in the ground truth: no fault, and no segment
    /// between the pair delayed past half the timeout or reset (property 2; always 0 in
    /// a run without violations).
    pub false_offlines: usize,
    /// Offline lines in all.
    pub offline_lines: usize,
    /// Event lines in all.
    pub lines: usize,
    /// Outage start (or the observer's restart or resume, if later) to the offline
    /// line, ms, per outage detected afresh.
    pub detection_ms: Vec<u64>,
    /// Heal to `|0`, ms, per recovery.
    pub recovery_ms: Vec<u64>,
    /// Recoveries checked and how many were late.
    pub recoveries: usize,
    /// Every broken property, in words.
    pub violations: Vec<String>,
}

impl Report {
    /// Property 4 for one file.
    pub fn check_file(&mut self, name: &str, text: &str, threshold: u32) {
        if let Err((line, e)) = logline::check_file(text) {
            self.violations
                .push(format!("{name}:{line}: not valid 0.0.3: {e}"));
            return;
        }
        let mut counts: HashMap<&str, u32> = HashMap::new();
        let mut header_time = None;
        let mut carrying = false;
        for (i, line) in text.lines().enumerate() {
            match logline::parse_line(line) {
                Ok(Line::Restart) => {
                    counts.clear();
                    header_time = None;
                }
                Ok(Line::Header { time, .. }) => {
                    header_time = Some(time);
                    carrying = true;
                }
                Ok(Line::Event {
                    time,
                    node,
                    timeouts,
                }) => {
                    if carrying && Some(time) == header_time && timeouts > 0 {
                        counts.insert(node, timeouts);
                        continue;
                    }
                    carrying = false;
                    let prev = counts.get(node).copied().unwrap_or(0);
                    let ok = if timeouts == 0 {
                        prev > 0
                    } else {
                        prev < threshold && timeouts == prev + 1
                    };
                    if !ok {
                        self.violations.push(format!(
                            "{name}:{}: {node} goes from {prev} to {timeouts}",
                            i + 1
                        ));
                    }
                    counts.insert(node, timeouts);
                }
                Err(_) => {}
            }
        }
    }
}

/// A closed interval of simulated time.
type Span = (u64, u64);

fn overlaps(spans: &[Span], from: u64, to: u64) -> bool {
    spans.iter().any(|&(a, b)| a <= to && from <= b)
}

/// Merges overlapping or touching spans.
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::new();
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The observer's count for `peer` as logged up to and including `t` (its log since its
/// last start before `t`).
fn count_at(events: &[(u64, usize, u32)], starts: &[u64], peer: usize, t: u64) -> (u32, u64) {
    let since = starts
        .iter()
        .copied()
        .filter(|&s| s <= t)
        .max()
        .unwrap_or(0);
    // Events are in time order: look back from `t` to the start.
    let end = events.partition_point(|&(at, _, _)| at <= t);
    events
        .get(..end)
        .unwrap_or_default()
        .iter()
        .rev()
        .take_while(|&&(at, _, _)| at >= since)
        .find(|&&(_, p, _)| p == peer)
        .map_or((0, since), |&(at, _, c)| (c, at))
}

/// Properties 1 to 3 (see the module documentation).
pub fn check(f: &Facts<'_>) -> Report {
    let mut r = Report::default();
    let empty: Vec<Span> = Vec::new();
    for o in 0..f.nodes {
        let events = f.events.get(o).copied().unwrap_or_default();
        r.lines += events.len();
        let stopped: Vec<Span> = merge(
            f.faults
                .iter()
                .filter(|x| x.stops(o))
                .map(|x| (x.start, x.end))
                .collect(),
        );
        for p in (0..f.nodes).filter(|&p| p != o) {
            let down = merge(
                f.faults
                    .iter()
                    .filter(|x| x.cuts(o, p))
                    .map(|x| (x.start, x.end))
                    .collect(),
            );
            // Injected faults on the path: the outages, and a connection made half-open
            // by a middlebox (its resets reach the pair for a few timeouts).
            let faulted = merge(
                down.iter()
                    .copied()
                    .chain(
                        f.faults
                            .iter()
                            .filter(|x| {
                                x.kind == super::fault::FaultKind::HalfOpen
                                    && [(o, p), (p, o)]
                                        .contains(&(x.node, x.other.unwrap_or(x.node)))
                            })
                            .map(|x| (x.start, x.start + 4 * f.timeout)),
                    )
                    .collect(),
            );
            let pair = Pair {
                f,
                o,
                p,
                events,
                starts: f.starts.get(o).copied().unwrap_or_default(),
                stopped: &stopped,
                noisy: f.disturbances.get(&(o * f.nodes + p)).unwrap_or(&empty),
                down,
                faulted,
            };
            pair.detected(&mut r);
            pair.recovered(&mut r);
            pair.no_false_offline(&mut r);
        }
    }
    r
}

/// One observer `o` and one peer `p`, with what happened between them.
struct Pair<'a> {
    f: &'a Facts<'a>,
    o: usize,
    p: usize,
    /// The observer's event lines, and its starts.
    events: &'a [(u64, usize, u32)],
    starts: &'a [u64],
    /// When the observer was stopped (crashed or frozen).
    stopped: &'a [Span],
    /// When segments between them were late, or their connection reset.
    noisy: &'a [Span],
    /// When the path between them was cut.
    down: Vec<Span>,
    /// When a fault was on the path: the cuts, and a half-open connection's resets.
    faulted: Vec<Span>,
}

impl Pair<'_> {
    fn name(&self, n: usize) -> &str {
        self.f.names.get(n).map_or("?", String::as_str)
    }

    /// 1. Every outage longer than the detection bound is logged offline within it.
    fn detected(&self, r: &mut Report) {
        let f = self.f;
        let bound = detection_bound(f.interval, f.timeout, f.threshold, f.max_latency);
        for &(s, e) in &self.down {
            if e - s <= bound {
                r.short += 1;
                continue;
            }
            let mut t0 = s;
            while let Some(&(_, end)) = self
                .stopped
                .iter()
                .find(|&&(a, b)| a <= t0 + bound && t0 <= b)
            {
                t0 = end + 1;
            }
            if t0 + bound > e || t0 + bound > f.duration {
                continue;
            }
            r.outages += 1;
            let (count, at) = count_at(self.events, self.starts, self.p, t0 + bound);
            if count >= f.threshold {
                r.detected += 1;
                // From when this observer could notice; an outage it already held
                // offline from before needs no new line and gives no figure.
                if at >= t0 {
                    r.detection_ms.push(at - t0);
                }
            } else {
                r.violations.push(format!(
                    "{} did not log {} offline within {bound} ms of {t0} (unreachable {s}..{e}; count {count})",
                    self.name(self.o),
                    self.name(self.p)
                ));
            }
        }
    }

    /// 3. After a heal the peer is logged back within the recovery bound.
    fn recovered(&self, r: &mut Report) {
        let f = self.f;
        let recover = recovery_bound(f.interval, f.timeout, f.online_threshold, f.max_latency);
        for &(s, e) in &self.down {
            let until = e + recover;
            if until > f.duration
                || overlaps(&self.down, e + 1, until)
                || overlaps(self.stopped, s, until)
                || overlaps(self.noisy, e, until)
            {
                continue;
            }
            r.recoveries += 1;
            let (count, _) = count_at(self.events, self.starts, self.p, until);
            if count != 0 {
                r.violations.push(format!(
                    "{} did not log {} back within {recover} ms of the heal at {e} (count {count})",
                    self.name(self.o),
                    self.name(self.p)
                ));
            } else if let Some(&(at, _, _)) = self
                .events
                .iter()
                .find(|&&(at, q, c)| q == self.p && c == 0 && at >= e && at <= until)
            {
                r.recovery_ms.push(at - e);
            }
        }
    }

    /// 2. No offline line without a fault or a delay on the path before it.
    fn no_false_offline(&self, r: &mut Report) {
        let f = self.f;
        let bound = detection_bound(f.interval, f.timeout, f.threshold, f.max_latency);
        let mut prev = 0;
        let mut since = 0;
        for &(at, q, c) in self.events {
            if self.starts.iter().any(|&st| st > since && st <= at) {
                prev = 0;
            }
            since = at;
            if q != self.p {
                continue;
            }
            if c >= f.threshold && prev < f.threshold {
                r.offline_lines += 1;
                // A stopped observer gives its verdicts late: look back from where it
                // stopped.
                let mut from = at.saturating_sub(bound);
                while let Some(&(a, _)) = self
                    .stopped
                    .iter()
                    .find(|&&(a, b)| a < from + bound && from <= b && a < from)
                {
                    from = a.saturating_sub(bound);
                }
                if !overlaps(&self.faulted, from, at) {
                    r.false_alarms += 1;
                }
                if !overlaps(&self.down, from, at) && !overlaps(self.noisy, from, at) {
                    r.false_offlines += 1;
                    r.violations.push(format!(
                        "{} logged {} offline at {at} with no fault or delay between them since {from}",
                        self.name(self.o),
                        self.name(self.p)
                    ));
                }
            }
            prev = c;
        }
    }
}

/// The `q`-th percentile (0 to 100) of `values`, nearest rank.
pub fn percentile(values: &[u64], q: u64) -> Option<u64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    if n == 0 {
        return None;
    }
    let rank = ((q as usize * n).div_ceil(100)).clamp(1, n);
    v.get(rank - 1).copied()
}
