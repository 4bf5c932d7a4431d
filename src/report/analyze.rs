//! One observer's logs, read in time order, turned into what it knew about each peer:
//! stretches of known time, outages, blips. Pure: fed by [`crate::report::read`] through
//! [`Sink`], no I/O, no clock.
//!
//! The rules (README, "Reading the logs back"):
//!
//! - A run of timeouts starts at a peer's `|1` line. If it reaches the header's
//!   threshold, it is an outage from that `|1` to the following `|0`; if it goes back to
//!   `|0` first, it is a blip.
//! - The first header of a day's file continues the run of the day before (a midnight
//!   switch, its carried lines restating the counts) when the observer's previous file is
//!   the day before's, the header comes within [`DAY_SWITCH_GRACE_MS`] of midnight and has
//!   the same threshold and nodes. Any other header is a restart: what the observer knew
//!   ends at its last line before it, and the time up to the new header is unknown; open
//!   outages end there, cut. A day without a file is therefore unknown too.
//! - After its last header, an observer is known up to the window's end when the window
//!   ends on that file's day (or the observer has lines beyond the window); otherwise it
//!   stopped before the next midnight (it wrote no next file) and is known up to its last
//!   line only.
//!
//! State kept: per peer a few numbers, the known stretches (one per restart or missing
//! day) and the outages. Nothing grows with the number of lines.

use std::collections::BTreeMap;

use crate::logline::Node;
use crate::report::read::Sink;
use crate::report::units;

/// How late after midnight a day's first header may come and still be the midnight
/// switch of a running daemon (it re-checks the wall clock's day at least once a minute).
pub const DAY_SWITCH_GRACE_MS: i64 = 90_000;

/// How an outage's end was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The peer answered: the `|0` line.
    Recovered,
    /// Still down at the window's end.
    WindowEnd,
    /// The observer stopped knowing (restart, missing day, end of its logs): the outage is
    /// cut at the observer's last line.
    ObserverStopped,
}

/// One outage as one observer saw it: `start` (its `|1`) to `end`, Unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// Time of the `|1` that began the run of timeouts that reached the threshold (or the
    /// window's start, see `from_before`).
    pub start: i64,
    /// Time of the `|0`, or where it was cut.
    pub end: i64,
    /// What ended it.
    pub end_kind: End,
    /// It began before the window (and `start` is the window's start).
    pub from_before: bool,
}

impl Outage {
    /// Its length in ms.
    pub fn duration(&self) -> i64 {
        self.end - self.start
    }
}

/// What one observer knew about one peer (unclipped; see [`crate::report::Report`] for
/// the windowed figures).
#[derive(Debug, Clone)]
pub struct PairLog {
    /// The observed peer.
    pub peer: String,
    /// Known time: `(from, to)`, in time order, not overlapping.
    pub stretches: Vec<(i64, i64)>,
    /// Outages, in time order.
    pub outages: Vec<Outage>,
    /// Runs of timeouts that went back to 0 before the threshold, within the window.
    pub blips: u64,
    /// Start of the current known stretch, while the peer is in the current run's header.
    from: Option<i64>,
    /// Last logged count (capped at the threshold).
    count: u32,
    /// Time of the current run of timeouts' first line.
    run_start: i64,
    offline: bool,
}

impl PairLog {
    fn new(peer: &str) -> PairLog {
        PairLog {
            peer: peer.to_string(),
            stretches: Vec::new(),
            outages: Vec::new(),
            blips: 0,
            from: None,
            count: 0,
            run_start: 0,
            offline: false,
        }
    }

    /// Ends what is known at `at`: the stretch, and an open outage (as `kind`).
    fn close(&mut self, at: i64, kind: End) {
        if let Some(from) = self.from.take() {
            push_stretch(&mut self.stretches, from, at);
        }
        self.end_run(at, kind);
    }

    /// Ends a run of timeouts at `at`: an outage if it was offline, else nothing (an
    /// unfinished run is neither an outage nor a blip).
    fn end_run(&mut self, at: i64, kind: End) {
        if self.offline {
            self.outages.push(Outage {
                start: self.run_start,
                end: at,
                end_kind: kind,
                from_before: false,
            });
        }
        self.count = 0;
        self.offline = false;
    }

    /// One event line: `count` timeouts at `t`, under `threshold`.
    fn apply(&mut self, t: i64, count: u32, threshold: u32, in_window: bool) {
        if count == 0 {
            if !self.offline && self.count > 0 && in_window {
                self.blips += 1;
            }
            self.end_run(t, End::Recovered);
        } else if count >= threshold {
            if !self.offline {
                if self.count == 0 {
                    // No `|1` seen (e.g. a threshold of 1, or a carried line).
                    self.run_start = t;
                }
                self.offline = true;
            }
            self.count = threshold;
        } else {
            if self.offline {
                // Only a daemon that restarted unseen logs this while offline.
                self.end_run(t, End::ObserverStopped);
            } else if count < self.count {
                // A new run without a `|0` in between (an unseen restart): the old one
                // ended as a blip.
                if in_window {
                    self.blips += 1;
                }
                self.count = 0;
            }
            if self.count == 0 {
                self.run_start = t;
            }
            self.count = count;
        }
    }
}

/// Appends `(from, to)`, merging it with the last stretch when they touch.
fn push_stretch(stretches: &mut Vec<(i64, i64)>, from: i64, to: i64) {
    match stretches.last_mut() {
        Some(last) if last.1 >= from => last.1 = last.1.max(to),
        _ => stretches.push((from, to)),
    }
}

/// The current run: since the last header that was not a midnight continuation.
#[derive(Debug)]
struct Run {
    threshold: u32,
    from: i64,
    /// Day of the file holding the run's latest header.
    file_day: i64,
    /// Indices into `pairs` of the header's nodes, whoami excluded.
    peers: Vec<usize>,
}

/// After a midnight continuation header: the peers whose carried line is still expected.
#[derive(Debug)]
struct Carry {
    time: i64,
    pending: Vec<usize>,
}

/// Everything one observer's logs say. Feed it with [`crate::report::read::read_file`],
/// file after file in day order, then call [`ObserverLog::finish`].
#[derive(Debug)]
pub struct ObserverLog {
    /// The observer (whoami).
    pub name: String,
    /// One per peer ever in its headers, in order of appearance.
    pub pairs: Vec<PairLog>,
    /// When it was running (known time), in time order.
    pub stretches: Vec<(i64, i64)>,
    /// Files read.
    pub files: usize,
    /// Earliest and latest times of the lines used.
    pub span: Option<(i64, i64)>,
    index: BTreeMap<String, usize>,
    run: Option<Run>,
    carry: Option<Carry>,
    file_day: i64,
    last_time: Option<i64>,
    /// Window bounds while reading: `since` (else `i64::MIN`) and `until` (else `i64::MAX`).
    lo: i64,
    hi: i64,
    /// It has lines after `hi`: it was running at the window's end.
    ran_past: bool,
}

impl ObserverLog {
    /// An observer read for the window `since..until` (either open).
    pub fn new(name: &str, since: Option<i64>, until: Option<i64>) -> ObserverLog {
        ObserverLog {
            name: name.to_string(),
            pairs: Vec::new(),
            stretches: Vec::new(),
            files: 0,
            span: None,
            index: BTreeMap::new(),
            run: None,
            carry: None,
            file_day: 0,
            last_time: None,
            lo: since.unwrap_or(i64::MIN),
            hi: until.unwrap_or(i64::MAX),
            ran_past: false,
        }
    }

    /// Closes the last run once the window's end `until` is known (the latest time of all
    /// observers' lines unless given), by the rule in the module doc.
    pub fn finish(&mut self, until: i64) {
        self.finish_carry();
        let Some(run) = &self.run else {
            return;
        };
        let last = self.last_time.unwrap_or(run.from);
        let end = if self.ran_past || until <= units::day_start(run.file_day + 1) {
            until.max(last)
        } else {
            last
        };
        let kind = if end >= until {
            End::WindowEnd
        } else {
            End::ObserverStopped
        };
        self.end_run(end, kind);
    }

    fn pair_index(&mut self, peer: &str) -> usize {
        if let Some(&i) = self.index.get(peer) {
            return i;
        }
        let i = self.pairs.len();
        self.pairs.push(PairLog::new(peer));
        self.index.insert(peer.to_string(), i);
        i
    }

    fn end_run(&mut self, at: i64, kind: End) {
        self.carry = None;
        let Some(run) = self.run.take() else {
            return;
        };
        for &p in &run.peers {
            if let Some(pair) = self.pairs.get_mut(p) {
                pair.close(at, kind);
            }
        }
        push_stretch(&mut self.stretches, run.from, at);
    }

    /// Peers whose carried line did not come after a midnight header had a count of 0 at
    /// the switch: their runs end there.
    fn finish_carry(&mut self) {
        if let Some(carry) = self.carry.take() {
            for p in carry.pending {
                if let Some(pair) = self.pairs.get_mut(p) {
                    pair.end_run(carry.time, End::ObserverStopped);
                }
            }
        }
    }

    /// `time`, never before the last line's (a wall clock stepping back is held still).
    fn monotonic(&self, time: i64) -> i64 {
        self.last_time.map_or(time, |last| time.max(last))
    }

    fn note(&mut self, t: i64) {
        self.last_time = Some(t);
        self.span = Some(match self.span {
            Some((a, b)) => (a.min(t), b.max(t)),
            None => (t, t),
        });
    }
}

impl Sink for ObserverLog {
    fn file_start(&mut self, day: i64) {
        self.files += 1;
        self.file_day = day;
    }

    fn header(&mut self, time: i64, threshold: u32, nodes: &[Node<'_>], first_in_file: bool) {
        self.finish_carry();
        if time > self.hi {
            self.ran_past = true;
            return;
        }
        let t = self.monotonic(time);
        let me = self.name.clone();
        let names = || nodes.iter().map(|n| n.name).filter(|&n| n != me);
        let continuation = first_in_file
            && self.run.as_ref().is_some_and(|run| {
                run.file_day + 1 == self.file_day
                    && run.threshold == threshold
                    && time - units::day_start(self.file_day) <= DAY_SWITCH_GRACE_MS
                    && names().count() == run.peers.len()
                    && names().all(|n| self.index.get(n).is_some_and(|i| run.peers.contains(i)))
            });
        if continuation {
            if let Some(run) = &mut self.run {
                run.file_day = self.file_day;
                let pending = run
                    .peers
                    .iter()
                    .copied()
                    .filter(|&p| self.pairs.get(p).is_some_and(|pair| pair.count != 0))
                    .collect();
                self.carry = Some(Carry { time: t, pending });
            }
        } else {
            if self.run.is_some() {
                let last = self.last_time.unwrap_or(t);
                self.end_run(last, End::ObserverStopped);
            }
            let peers: Vec<usize> = names()
                .collect::<Vec<_>>()
                .into_iter()
                .map(|n| self.pair_index(n))
                .collect();
            for &p in &peers {
                if let Some(pair) = self.pairs.get_mut(p) {
                    pair.from = Some(t);
                    pair.count = 0;
                    pair.offline = false;
                }
            }
            self.run = Some(Run {
                threshold,
                from: t,
                file_day: self.file_day,
                peers,
            });
        }
        self.note(t);
    }

    fn lost_run(&mut self) {
        self.finish_carry();
        if let Some(last) = self.last_time {
            self.end_run(last, End::ObserverStopped);
        }
    }

    fn event(&mut self, time: i64, node: &str, timeouts: u32) {
        if time > self.hi {
            self.ran_past = true;
            return;
        }
        let t = self.monotonic(time);
        let Some(threshold) = self.run.as_ref().map(|r| r.threshold) else {
            return;
        };
        let Some(&p) = self.index.get(node) else {
            return;
        };
        match &mut self.carry {
            Some(carry) if carry.time == t => carry.pending.retain(|&q| q != p),
            Some(_) => self.finish_carry(),
            None => {}
        }
        let in_window = t >= self.lo;
        if let Some(pair) = self.pairs.get_mut(p) {
            pair.apply(t, timeouts, threshold, in_window);
        }
        self.note(t);
    }

    fn file_end(&mut self) {}

    fn wants_more(&self) -> bool {
        !self.ran_past
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logline::parse_timestamp;

    fn at(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    fn nodes() -> Vec<Node<'static>> {
        ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, n)| Node {
                name: n,
                addr: format!("127.0.0.{}:1", i + 1).parse().unwrap(),
            })
            .collect()
    }

    fn day_of(s: &str) -> i64 {
        crate::logline::day_number(at(s))
    }

    #[test]
    fn blip_then_outage_then_recovery() {
        let mut o = ObserverLog::new("a", None, None);
        o.file_start(day_of("2026-11-23T00:00:00.000Z"));
        o.header(at("2026-11-23T10:00:00.000Z"), 3, &nodes(), true);
        for (t, n) in [("10:01:00", 1), ("10:01:01", 2), ("10:01:02", 0)] {
            o.event(at(&format!("2026-11-23T{t}.000Z")), "b", n);
        }
        for (t, n) in [
            ("11:00:00", 1),
            ("11:00:01", 2),
            ("11:00:02", 3),
            ("11:05:00", 0),
        ] {
            o.event(at(&format!("2026-11-23T{t}.000Z")), "b", n);
        }
        o.file_end();
        o.finish(at("2026-11-23T12:00:00.000Z"));
        let b = &o.pairs[o.index["b"]];
        assert_eq!(b.blips, 1);
        assert_eq!(
            b.outages,
            [Outage {
                start: at("2026-11-23T11:00:00.000Z"),
                end: at("2026-11-23T11:05:00.000Z"),
                end_kind: End::Recovered,
                from_before: false
            }]
        );
        // Known up to the window's end, on the same day as the file.
        assert_eq!(
            b.stretches,
            [(
                at("2026-11-23T10:00:00.000Z"),
                at("2026-11-23T12:00:00.000Z")
            )]
        );
        let c = &o.pairs[o.index["c"]];
        assert!(c.outages.is_empty() && c.blips == 0);
    }

    #[test]
    fn restart_cuts_knowledge_and_open_outage() {
        let mut o = ObserverLog::new("a", None, None);
        o.file_start(day_of("2026-11-23T00:00:00.000Z"));
        o.header(at("2026-11-23T10:00:00.000Z"), 2, &nodes(), true);
        o.event(at("2026-11-23T10:10:00.000Z"), "c", 1);
        o.event(at("2026-11-23T10:10:01.000Z"), "c", 2);
        // restart an hour later; c is up again for the new run
        o.header(at("2026-11-23T11:10:01.000Z"), 2, &nodes(), false);
        o.finish(at("2026-11-23T12:00:00.000Z"));
        let c = &o.pairs[o.index["c"]];
        assert_eq!(
            c.outages,
            [Outage {
                start: at("2026-11-23T10:10:00.000Z"),
                end: at("2026-11-23T10:10:01.000Z"),
                end_kind: End::ObserverStopped,
                from_before: false
            }]
        );
        assert_eq!(
            o.stretches,
            [
                (
                    at("2026-11-23T10:00:00.000Z"),
                    at("2026-11-23T10:10:01.000Z")
                ),
                (
                    at("2026-11-23T11:10:01.000Z"),
                    at("2026-11-23T12:00:00.000Z")
                )
            ]
        );
    }

    #[test]
    fn midnight_continuation_keeps_the_outage_and_a_missing_day_does_not() {
        let mut o = ObserverLog::new("a", None, None);
        let d1 = day_of("2026-11-23T00:00:00.000Z");
        o.file_start(d1);
        o.header(at("2026-11-23T00:00:00.004Z"), 3, &nodes(), true);
        for (t, n) in [("59:00", 1), ("59:01", 2), ("59:02", 3)] {
            o.event(at(&format!("2026-11-23T23:{t}.000Z")), "b", n);
        }
        o.file_start(d1 + 1);
        o.header(at("2026-11-24T00:00:00.003Z"), 3, &nodes(), true);
        o.event(at("2026-11-24T00:00:00.003Z"), "b", 3); // carried
        o.event(at("2026-11-24T00:10:00.000Z"), "b", 0);
        // no file for the 25th; the 26th starts again at midnight
        o.file_start(d1 + 3);
        o.header(at("2026-11-26T00:00:00.002Z"), 3, &nodes(), true);
        o.finish(at("2026-11-26T06:00:00.000Z"));
        let b = &o.pairs[o.index["b"]];
        assert_eq!(b.outages.len(), 1);
        assert_eq!(b.outages[0].start, at("2026-11-23T23:59:00.000Z"));
        assert_eq!(b.outages[0].end, at("2026-11-24T00:10:00.000Z"));
        assert_eq!(
            o.stretches,
            [
                (
                    at("2026-11-23T00:00:00.004Z"),
                    at("2026-11-24T00:10:00.000Z")
                ),
                (
                    at("2026-11-26T00:00:00.002Z"),
                    at("2026-11-26T06:00:00.000Z")
                )
            ]
        );
    }

    #[test]
    fn missing_carried_line_ends_the_run_at_midnight() {
        let mut o = ObserverLog::new("a", None, None);
        let d1 = day_of("2026-11-23T00:00:00.000Z");
        o.file_start(d1);
        o.header(at("2026-11-23T00:00:00.000Z"), 3, &nodes(), true);
        o.event(at("2026-11-23T23:59:59.000Z"), "b", 1);
        o.event(at("2026-11-23T23:59:59.500Z"), "c", 3);
        o.file_start(d1 + 1);
        o.header(at("2026-11-24T00:00:00.001Z"), 3, &nodes(), true);
        o.event(at("2026-11-24T00:00:00.001Z"), "b", 1);
        o.event(at("2026-11-24T00:00:05.000Z"), "b", 0);
        o.finish(at("2026-11-24T01:00:00.000Z"));
        // b's run continued (a blip); c was not carried: its outage ends at the switch.
        let b = &o.pairs[o.index["b"]];
        assert_eq!((b.blips, b.outages.len()), (1, 0));
        let c = &o.pairs[o.index["c"]];
        assert_eq!(c.outages.len(), 1);
        assert_eq!(c.outages[0].end, at("2026-11-24T00:00:00.001Z"));
    }

    #[test]
    fn last_file_of_an_earlier_day_is_known_to_its_last_line_only() {
        let mut o = ObserverLog::new("a", None, None);
        o.file_start(day_of("2026-11-23T00:00:00.000Z"));
        o.header(at("2026-11-23T10:00:00.000Z"), 3, &nodes(), true);
        o.event(at("2026-11-23T11:00:00.000Z"), "b", 1);
        o.finish(at("2026-11-25T00:00:00.000Z"));
        assert_eq!(
            o.stretches,
            [(
                at("2026-11-23T10:00:00.000Z"),
                at("2026-11-23T11:00:00.000Z")
            )]
        );
        // Up to the next midnight exactly is still that file's day.
        let mut o = ObserverLog::new("a", None, None);
        o.file_start(day_of("2026-11-23T00:00:00.000Z"));
        o.header(at("2026-11-23T10:00:00.000Z"), 3, &nodes(), true);
        o.finish(at("2026-11-24T00:00:00.000Z"));
        assert_eq!(
            o.stretches,
            [(
                at("2026-11-23T10:00:00.000Z"),
                at("2026-11-24T00:00:00.000Z")
            )]
        );
    }

    #[test]
    fn threshold_one_and_odd_sequences_never_panic() {
        let mut o = ObserverLog::new("a", None, None);
        o.file_start(day_of("2026-11-23T00:00:00.000Z"));
        o.header(at("2026-11-23T10:00:00.000Z"), 1, &nodes(), true);
        o.event(at("2026-11-23T10:00:01.000Z"), "b", 1);
        o.event(at("2026-11-23T10:00:00.000Z"), "b", 0); // clock stepped back: held
        o.event(at("2026-11-23T10:00:02.000Z"), "zz", 1); // unknown: ignored
        o.finish(at("2026-11-23T10:00:03.000Z"));
        let b = &o.pairs[o.index["b"]];
        assert_eq!(b.outages.len(), 1);
        assert_eq!(b.outages[0].duration(), 0);
    }
}
