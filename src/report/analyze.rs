//! One observer's logs, read in file order, turned into what it knew about each peer:
//! the segments of its log (each written under one clock), outages and blips. Pure: fed
//! by [`crate::report::read`] through [`Sink`], no I/O, no clock.
//!
//! The rules (docs/reading-logs.md):
//!
//! - A run of timeouts starts at a peer's `|1` line. If it reaches the header's
//!   threshold, it is an outage from that `|1` to the following `|0`; if it goes back to
//!   `|0` first, it is a blip.
//! - The first header of a day's file continues the run of the day before (a midnight
//!   switch, its carried lines restating the counts) when the observer's previous file is
//!   the day before's, the header comes within [`DAY_SWITCH_GRACE_MS`] of midnight, has
//!   the same threshold and nodes, and the run it continues wrote the latest line of that
//!   file (a run appended later under a clock set back is not the one the daemon carried
//!   over midnight). Any other header is a restart: what the observer knew ends at its
//!   last line before it, and the time up to the new header is unknown; open outages end
//!   there, cut. A day without a file is therefore unknown too.
//! - Times are the observer's own stamps. A **segment** is a stretch of the log written
//!   under one clock: from a header that is not a midnight continuation, or from a line
//!   stamped more than the step tolerance before the line above it in the same run (the
//!   wall clock stepped back: outages open there are cut at the step and start again
//!   after it). A smaller step back is held still. Nothing is held across segments:
//!   whether a segment's clock agrees with the other observers' is
//!   [`crate::report::clocks`]'s question, and a segment found wrong is left out whole.
//! - After its last header, an observer is known up to the window's end when the window
//!   ends on that file's day (or the observer has lines beyond the window); otherwise it
//!   stopped before the next midnight (it wrote no next file) and is known up to its last
//!   line only.
//!
//! State kept: per peer a few numbers, the segments it was watched in, and the outages;
//! per observer its segments (one per restart, clock step or missing day). Nothing grows
//! with the number of lines.

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
    /// The observer's wall clock stepped back: the outage is cut at its last line before
    /// the step (and goes on, as another outage, after it).
    ClockStep,
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
    /// Its start is a `|1` line (not a carried count, or the start of a segment after a
    /// clock step): a moment the other observers can be compared with.
    pub exact: bool,
    /// The index of the observer's [`Segment`] it lies in.
    pub segment: u32,
}

impl Outage {
    /// Its length in ms.
    pub fn duration(&self) -> i64 {
        self.end - self.start
    }
}

/// Where a line is: the UTC day of its file and its 1-based number in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Day number of the file (as in its name).
    pub day: i64,
    /// Line number.
    pub line: usize,
}

/// How a segment began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Began {
    /// A header that is not a midnight continuation: the daemon started, reopened its
    /// file, or reloaded a changed config.
    Header,
    /// A line stamped before the line above it (by more than the step tolerance): the
    /// wall clock stepped back within a run.
    StepBack,
}

/// A stretch of one observer's log written under one clock. Times are its own stamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// What began it.
    pub began: Began,
    /// Stamp of its first line.
    pub first: i64,
    /// Latest stamp of its lines.
    pub last: i64,
    /// Its first line.
    pub from: Pos,
    /// Its last line.
    pub to: Pos,
    /// When it was running (known), once closed: from `first` to its last line, or to the
    /// window's end (see the module doc).
    pub known: Option<(i64, i64)>,
    /// It has lines after the window's end.
    pub ran_past: bool,
}

/// What one observer knew about one peer (unclipped; see [`crate::report::Report`] for
/// the windowed figures).
#[derive(Debug, Clone)]
pub struct PairLog {
    /// The observed peer.
    pub peer: String,
    /// The observer's segments in which it watched this peer, in order: their known time
    /// is this pair's.
    pub segments: Vec<u32>,
    /// Runs of timeouts that went back to 0 before the threshold, within the window, per
    /// entry of `segments`.
    pub blips: Vec<u64>,
    /// Outages, in file order.
    pub outages: Vec<Outage>,
    /// Last logged count (capped at the threshold).
    count: u32,
    /// Time of the current run of timeouts' first line.
    run_start: i64,
    /// The current run began with a `|1` line.
    run_exact: bool,
    offline: bool,
}

impl PairLog {
    fn new(peer: &str) -> PairLog {
        PairLog {
            peer: peer.to_string(),
            segments: Vec::new(),
            blips: Vec::new(),
            outages: Vec::new(),
            count: 0,
            run_start: 0,
            run_exact: false,
            offline: false,
        }
    }

    /// The outage still open (the peer offline at the last line read): its start, whether
    /// that start is exact, and its segment.
    pub fn open_outage(&self) -> Option<(i64, bool, u32)> {
        let segment = self.segments.last().copied()?;
        self.offline
            .then_some((self.run_start, self.run_exact, segment))
    }

    /// Starts watching the peer in segment `segment`, as the daemon does at a start: up.
    fn enter(&mut self, segment: u32) {
        self.segments.push(segment);
        self.blips.push(0);
        self.count = 0;
        self.offline = false;
    }

    /// Ends a run of timeouts at `at`: an outage if it was offline, else nothing (an
    /// unfinished run is neither an outage nor a blip).
    fn end_run(&mut self, at: i64, kind: End, segment: u32) {
        if self.offline {
            self.outages.push(Outage {
                start: self.run_start,
                end: at,
                end_kind: kind,
                from_before: false,
                exact: self.run_exact,
                segment,
            });
        }
        self.count = 0;
        self.offline = false;
    }

    /// The clock stepped back: an open outage is cut at `at` (the last line before the
    /// step) and goes on from `resume`; a run of timeouts in progress goes on from there.
    fn step(&mut self, at: i64, resume: i64, old: u32, new: u32) {
        if self.offline {
            self.end_run(at, End::ClockStep, old);
            self.offline = true;
        }
        if self.offline || self.count > 0 {
            self.run_start = resume;
            self.run_exact = false;
        }
        self.segments.push(new);
        self.blips.push(0);
    }

    fn blip(&mut self, counted: bool) {
        if counted && let Some(b) = self.blips.last_mut() {
            *b += 1;
        }
    }

    /// One event line: `count` timeouts at `t`, under `threshold`; a blip it ends is
    /// counted when `counted` (the line is within the window).
    fn apply(&mut self, t: i64, count: u32, threshold: u32, counted: bool, segment: u32) {
        if count == 0 {
            if !self.offline && self.count > 0 {
                self.blip(counted);
            }
            self.end_run(t, End::Recovered, segment);
        } else if count >= threshold {
            if !self.offline {
                if self.count == 0 {
                    // No `|1` seen (e.g. a threshold of 1, or a carried line).
                    self.run_start = t;
                    self.run_exact = count == 1;
                }
                self.offline = true;
            }
            self.count = threshold;
        } else {
            if self.offline {
                // Only a daemon that restarted unseen logs this while offline.
                self.end_run(t, End::ObserverStopped, segment);
            } else if count < self.count {
                // A new run without a `|0` in between (an unseen restart): the old one
                // ended as a blip.
                self.blip(counted);
                self.count = 0;
            }
            if self.count == 0 {
                self.run_start = t;
                self.run_exact = count == 1;
            }
            self.count = count;
        }
    }
}

/// The current run: since the last header that was not a midnight continuation.
#[derive(Debug)]
struct Run {
    threshold: u32,
    /// Day of the file holding the run's latest header.
    file_day: i64,
    /// Indices into `pairs` of the header's nodes, whoami excluded.
    peers: Vec<usize>,
    /// Index of its current segment.
    segment: usize,
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
    /// The segments of its log, in file order.
    pub segments: Vec<Segment>,
    /// Files read.
    pub files: usize,
    index: BTreeMap<String, usize>,
    run: Option<Run>,
    carry: Option<Carry>,
    file_day: i64,
    /// Latest stamp of the file being read, and of the file before it.
    file_latest: Option<i64>,
    prev_file_latest: Option<i64>,
    /// Window bounds while reading: `since` (else `i64::MIN`) and `until` (else `i64::MAX`).
    lo: i64,
    hi: i64,
    /// A step back of the clock by more than this begins a new segment.
    step_ms: i64,
}

impl ObserverLog {
    /// An observer read for the window `since..until` (either open); a step back of its
    /// clock by more than `step_ms` begins a new segment.
    pub fn new(name: &str, since: Option<i64>, until: Option<i64>, step_ms: i64) -> ObserverLog {
        ObserverLog {
            name: name.to_string(),
            pairs: Vec::new(),
            segments: Vec::new(),
            files: 0,
            index: BTreeMap::new(),
            run: None,
            carry: None,
            file_day: 0,
            file_latest: None,
            prev_file_latest: None,
            lo: since.unwrap_or(i64::MIN),
            hi: until.unwrap_or(i64::MAX),
            step_ms: step_ms.max(0),
        }
    }

    /// Closes the last run once the window's end `until` is known, by the rule in the
    /// module doc.
    pub fn finish(&mut self, until: i64) {
        self.finish_carry();
        let Some(run) = &self.run else {
            return;
        };
        let Some(seg) = self.segments.get(run.segment) else {
            return;
        };
        let end = if seg.ran_past || until <= units::day_start(run.file_day + 1) {
            until.max(seg.last)
        } else {
            seg.last
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

    /// Ends the current run at `at`: its segment's known time, and open outages (as
    /// `kind`).
    fn end_run(&mut self, at: i64, kind: End) {
        self.carry = None;
        let Some(run) = self.run.take() else {
            return;
        };
        let segment = run.segment as u32;
        for &p in &run.peers {
            if let Some(pair) = self.pairs.get_mut(p) {
                pair.end_run(at, kind, segment);
            }
        }
        if let Some(seg) = self.segments.get_mut(run.segment) {
            seg.known = Some((seg.first, at.max(seg.first)));
        }
    }

    /// Peers whose carried line did not come after a midnight header had a count of 0 at
    /// the switch: their runs end there.
    fn finish_carry(&mut self) {
        let Some(carry) = self.carry.take() else {
            return;
        };
        let Some(segment) = self.run.as_ref().map(|r| r.segment as u32) else {
            return;
        };
        for p in carry.pending {
            if let Some(pair) = self.pairs.get_mut(p) {
                pair.end_run(carry.time, End::ObserverStopped, segment);
            }
        }
    }

    /// The current segment, if a run is going on.
    fn segment(&self) -> Option<&Segment> {
        self.run.as_ref().and_then(|r| self.segments.get(r.segment))
    }

    /// The clock stepped back to `t` at line `pos`: the current segment ends at its last
    /// line and a new one begins here.
    fn step_back(&mut self, t: i64, pos: Pos) {
        self.finish_carry();
        let Some(run) = &mut self.run else {
            return;
        };
        let old = run.segment;
        let new = self.segments.len();
        let Some(seg) = self.segments.get_mut(old) else {
            return;
        };
        let at = seg.last;
        seg.known = Some((seg.first, at));
        self.segments.push(Segment {
            began: Began::StepBack,
            first: t,
            last: t,
            from: pos,
            to: pos,
            known: None,
            ran_past: false,
        });
        run.segment = new;
        for &p in &run.peers {
            if let Some(pair) = self.pairs.get_mut(p) {
                pair.step(at, t, old as u32, new as u32);
            }
        }
    }

    /// The line at `pos`, stamped `t`, belongs to the current segment.
    fn note(&mut self, t: i64, pos: Pos) {
        let hi = self.hi;
        if let Some(seg) = self
            .run
            .as_ref()
            .and_then(|r| self.segments.get_mut(r.segment))
        {
            seg.last = seg.last.max(t);
            seg.to = pos;
            seg.ran_past |= t > hi;
        }
        self.file_latest = Some(self.file_latest.map_or(t, |l| l.max(t)));
    }
}

impl Sink for ObserverLog {
    fn file_start(&mut self, day: i64) {
        self.files += 1;
        self.file_day = day;
        self.prev_file_latest = self.file_latest.take();
    }

    fn header(
        &mut self,
        line: usize,
        time: i64,
        threshold: u32,
        nodes: &[Node<'_>],
        first_in_file: bool,
    ) {
        self.finish_carry();
        let pos = Pos {
            day: self.file_day,
            line,
        };
        let me = self.name.clone();
        let names = || nodes.iter().map(|n| n.name).filter(|&n| n != me);
        let latest_before = self.prev_file_latest.unwrap_or(i64::MIN);
        let continuation = first_in_file
            && self.segment().is_some_and(|seg| seg.last >= latest_before)
            && self.run.as_ref().is_some_and(|run| {
                run.file_day + 1 == self.file_day
                    && run.threshold == threshold
                    && time - units::day_start(self.file_day) <= DAY_SWITCH_GRACE_MS
                    && names().count() == run.peers.len()
                    && names().all(|n| self.index.get(n).is_some_and(|i| run.peers.contains(i)))
            });
        if continuation {
            let t = self.segment().map_or(time, |seg| time.max(seg.last));
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
            self.note(t, pos);
            return;
        }
        if let Some(last) = self.segment().map(|seg| seg.last) {
            self.end_run(last, End::ObserverStopped);
        }
        let segment = self.segments.len();
        self.segments.push(Segment {
            began: Began::Header,
            first: time,
            last: time,
            from: pos,
            to: pos,
            known: None,
            ran_past: false,
        });
        let peers: Vec<usize> = names()
            .collect::<Vec<_>>()
            .into_iter()
            .map(|n| self.pair_index(n))
            .collect();
        for &p in &peers {
            if let Some(pair) = self.pairs.get_mut(p) {
                pair.enter(segment as u32);
            }
        }
        self.run = Some(Run {
            threshold,
            file_day: self.file_day,
            peers,
            segment,
        });
        self.note(time, pos);
    }

    fn lost_run(&mut self) {
        self.finish_carry();
        if let Some(last) = self.segment().map(|seg| seg.last) {
            self.end_run(last, End::ObserverStopped);
        }
    }

    fn event(&mut self, line: usize, time: i64, node: &str, timeouts: u32) {
        let pos = Pos {
            day: self.file_day,
            line,
        };
        let Some(last) = self.segment().map(|seg| seg.last) else {
            return;
        };
        let Some(&p) = self.index.get(node) else {
            return;
        };
        let t = if time < last.saturating_sub(self.step_ms) {
            self.step_back(time, pos);
            time
        } else {
            time.max(last)
        };
        let Some((threshold, segment)) = self.run.as_ref().map(|r| (r.threshold, r.segment)) else {
            return;
        };
        match &mut self.carry {
            Some(carry) if carry.time == t => carry.pending.retain(|&q| q != p),
            Some(_) => self.finish_carry(),
            None => {}
        }
        let counted = t >= self.lo && t <= self.hi;
        if let Some(pair) = self.pairs.get_mut(p) {
            pair.apply(t, timeouts, threshold, counted, segment as u32);
        }
        self.note(t, pos);
    }

    fn file_end(&mut self) {}

    fn wants_more(&self) -> bool {
        // Lines after the window's end are read too: a clock set back may follow them
        // with lines inside the window (only files of later days are skipped).
        true
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

    /// Feeds observer `a` line by line, numbering the lines of each file.
    struct Feed {
        o: ObserverLog,
        line: usize,
    }

    impl Feed {
        fn new() -> Feed {
            Feed {
                o: ObserverLog::new("a", None, None, 5_000),
                line: 0,
            }
        }

        fn file(&mut self, date: &str) {
            self.o.file_start(day_of(&format!("{date}T00:00:00.000Z")));
            self.line = 0;
        }

        fn header(&mut self, t: &str, threshold: u32) {
            self.line += 2;
            let first = self.line == 2;
            self.o.header(self.line, at(t), threshold, &nodes(), first);
        }

        fn event(&mut self, t: &str, node: &str, n: u32) {
            self.line += 1;
            self.o.event(self.line, at(t), node, n);
        }

        fn pair(&self, peer: &str) -> &PairLog {
            &self.o.pairs[self.o.index[peer]]
        }

        /// The observer's known stretches.
        fn known(&self) -> Vec<(i64, i64)> {
            self.o.segments.iter().filter_map(|s| s.known).collect()
        }
    }

    fn day_of(s: &str) -> i64 {
        crate::logline::day_number(at(s))
    }

    fn blips(p: &PairLog) -> u64 {
        p.blips.iter().sum()
    }

    #[test]
    fn blip_then_outage_then_recovery() {
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T10:00:00.000Z", 3);
        for (t, n) in [("10:01:00", 1), ("10:01:01", 2), ("10:01:02", 0)] {
            f.event(&format!("2026-11-23T{t}.000Z"), "b", n);
        }
        for (t, n) in [
            ("11:00:00", 1),
            ("11:00:01", 2),
            ("11:00:02", 3),
            ("11:05:00", 0),
        ] {
            f.event(&format!("2026-11-23T{t}.000Z"), "b", n);
        }
        f.o.file_end();
        f.o.finish(at("2026-11-23T12:00:00.000Z"));
        let b = f.pair("b");
        assert_eq!(blips(b), 1);
        assert_eq!(
            b.outages,
            [Outage {
                start: at("2026-11-23T11:00:00.000Z"),
                end: at("2026-11-23T11:05:00.000Z"),
                end_kind: End::Recovered,
                from_before: false,
                exact: true,
                segment: 0,
            }]
        );
        // Known up to the window's end, on the same day as the file.
        assert_eq!(
            f.known(),
            [(
                at("2026-11-23T10:00:00.000Z"),
                at("2026-11-23T12:00:00.000Z")
            )]
        );
        assert_eq!(b.segments, [0]);
        let c = f.pair("c");
        assert!(c.outages.is_empty() && blips(c) == 0);
        let seg = &f.o.segments[0];
        assert_eq!(
            (seg.from.line, seg.to.line, seg.began),
            (2, 9, Began::Header)
        );
    }

    #[test]
    fn restart_cuts_knowledge_and_open_outage() {
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T10:00:00.000Z", 2);
        f.event("2026-11-23T10:10:00.000Z", "c", 1);
        f.event("2026-11-23T10:10:01.000Z", "c", 2);
        // restart an hour later; c is up again for the new run
        f.header("2026-11-23T11:10:01.000Z", 2);
        f.o.finish(at("2026-11-23T12:00:00.000Z"));
        let c = f.pair("c");
        assert_eq!(
            c.outages,
            [Outage {
                start: at("2026-11-23T10:10:00.000Z"),
                end: at("2026-11-23T10:10:01.000Z"),
                end_kind: End::ObserverStopped,
                from_before: false,
                exact: true,
                segment: 0,
            }]
        );
        assert_eq!(
            f.known(),
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
        assert_eq!(c.segments, [0, 1]);
    }

    #[test]
    fn a_restart_back_in_time_is_a_new_segment_and_nothing_is_held() {
        // The trial: a restart with the clock two hours behind. The old reader held every
        // later line at the last stamp (zero-length outages); now the new run is a
        // segment of its own with its own stamps, for the clock check to judge.
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T10:00:00.000Z", 3);
        f.event("2026-11-23T10:00:30.000Z", "b", 1);
        f.event("2026-11-23T10:00:31.000Z", "b", 0);
        f.header("2026-11-23T08:01:00.000Z", 3);
        for (t, n) in [("01:05", 1), ("01:06", 2), ("01:07", 3), ("01:09", 0)] {
            f.event(&format!("2026-11-23T08:{t}.000Z"), "c", n);
        }
        f.o.finish(at("2026-11-24T00:00:00.000Z"));
        let c = f.pair("c");
        assert_eq!(c.outages.len(), 1);
        assert_eq!(c.outages[0].duration(), 4_000);
        assert_eq!(c.outages[0].segment, 1);
        let segs = &f.o.segments;
        assert_eq!(segs.len(), 2);
        assert_eq!(
            (segs[1].first, segs[1].last),
            (
                at("2026-11-23T08:01:00.000Z"),
                at("2026-11-23T08:01:09.000Z")
            )
        );
        assert_eq!((segs[1].from.line, segs[1].to.line), (6, 10));
    }

    #[test]
    fn a_clock_step_back_within_a_run_splits_it_and_cuts_the_open_outage() {
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T10:00:00.000Z", 3);
        for (t, n) in [("10:01", 1), ("10:02", 2), ("10:03", 3)] {
            f.event(&format!("2026-11-23T10:{t}.000Z"), "b", n);
        }
        // A step back of 2 s is held still (within the 5 s step tolerance) ...
        f.event("2026-11-23T10:10:04.000Z", "c", 1);
        f.event("2026-11-23T10:10:02.000Z", "c", 0);
        // ... one of an hour splits the run: b's outage is cut at the last line before
        // the step and goes on after it (not exact: its `|1` was under the other clock).
        f.event("2026-11-23T09:20:00.000Z", "c", 1);
        f.event("2026-11-23T09:20:05.000Z", "b", 0);
        f.o.finish(at("2026-11-23T12:00:00.000Z"));
        let b = f.pair("b");
        assert_eq!(b.outages.len(), 2, "{:?}", b.outages);
        assert_eq!(
            (
                b.outages[0].end_kind,
                b.outages[0].end,
                b.outages[0].segment
            ),
            (End::ClockStep, at("2026-11-23T10:10:04.000Z"), 0)
        );
        assert_eq!(
            (
                b.outages[1].start,
                b.outages[1].end,
                b.outages[1].exact,
                b.outages[1].segment
            ),
            (
                at("2026-11-23T09:20:00.000Z"),
                at("2026-11-23T09:20:05.000Z"),
                false,
                1
            )
        );
        assert_eq!(blips(f.pair("c")), 1);
        assert_eq!(f.o.segments[1].began, Began::StepBack);
        assert_eq!(b.segments, [0, 1]);
        assert!(
            f.o.pairs
                .iter()
                .flat_map(|p| &p.outages)
                .all(|o| o.duration() >= 0)
        );
    }

    #[test]
    fn midnight_continuation_keeps_the_outage_and_a_missing_day_does_not() {
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T00:00:00.004Z", 3);
        for (t, n) in [("59:00", 1), ("59:01", 2), ("59:02", 3)] {
            f.event(&format!("2026-11-23T23:{t}.000Z"), "b", n);
        }
        f.file("2026-11-24");
        f.header("2026-11-24T00:00:00.003Z", 3);
        f.event("2026-11-24T00:00:00.003Z", "b", 3); // carried
        f.event("2026-11-24T00:10:00.000Z", "b", 0);
        // no file for the 25th; the 26th starts again at midnight
        f.file("2026-11-26");
        f.header("2026-11-26T00:00:00.002Z", 3);
        f.o.finish(at("2026-11-26T06:00:00.000Z"));
        let b = f.pair("b");
        assert_eq!(b.outages.len(), 1);
        assert_eq!(b.outages[0].start, at("2026-11-23T23:59:00.000Z"));
        assert_eq!(b.outages[0].end, at("2026-11-24T00:10:00.000Z"));
        assert_eq!(
            f.known(),
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
        // The first segment spans two files.
        let seg = &f.o.segments[0];
        assert_eq!(
            (seg.from.day + 1, seg.to.day, seg.to.line),
            (seg.to.day, seg.to.day, 4)
        );
    }

    #[test]
    fn a_run_appended_under_a_clock_set_back_is_not_carried_over_midnight() {
        // Day 23: a run up to 23:59:50, then a restart whose clock is two hours behind
        // (appended to the file of the 23rd). The first header of the 24th continues the
        // run that wrote the file's latest line, not the one appended last: neither, as
        // the reader cannot tell, so it is a restart.
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T22:00:00.000Z", 3);
        f.event("2026-11-23T23:59:50.000Z", "b", 1);
        f.header("2026-11-23T22:10:00.000Z", 3);
        f.file("2026-11-24");
        f.header("2026-11-24T00:00:00.003Z", 3);
        f.event("2026-11-24T00:00:00.003Z", "b", 1);
        f.o.finish(at("2026-11-24T01:00:00.000Z"));
        assert_eq!(f.o.segments.len(), 3);
        // Whereas the run holding the latest line is continued.
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T22:00:00.000Z", 3);
        f.event("2026-11-23T23:59:50.000Z", "b", 1);
        f.file("2026-11-24");
        f.header("2026-11-24T00:00:00.003Z", 3);
        f.event("2026-11-24T00:00:00.003Z", "b", 1);
        f.o.finish(at("2026-11-24T01:00:00.000Z"));
        assert_eq!(f.o.segments.len(), 1);
    }

    #[test]
    fn missing_carried_line_ends_the_run_at_midnight() {
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T00:00:00.000Z", 3);
        f.event("2026-11-23T23:59:59.000Z", "b", 1);
        f.event("2026-11-23T23:59:59.500Z", "c", 3);
        f.file("2026-11-24");
        f.header("2026-11-24T00:00:00.001Z", 3);
        f.event("2026-11-24T00:00:00.001Z", "b", 1);
        f.event("2026-11-24T00:00:05.000Z", "b", 0);
        f.o.finish(at("2026-11-24T01:00:00.000Z"));
        // b's run continued (a blip); c was not carried: its outage ends at the switch.
        let b = f.pair("b");
        assert_eq!((blips(b), b.outages.len()), (1, 0));
        let c = f.pair("c");
        assert_eq!(c.outages.len(), 1);
        assert_eq!(c.outages[0].end, at("2026-11-24T00:00:00.001Z"));
        // c's outage began with a count of 3: not an exact moment.
        assert!(!c.outages[0].exact);
    }

    #[test]
    fn last_file_of_an_earlier_day_is_known_to_its_last_line_only() {
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T10:00:00.000Z", 3);
        f.event("2026-11-23T11:00:00.000Z", "b", 1);
        f.o.finish(at("2026-11-25T00:00:00.000Z"));
        assert_eq!(
            f.known(),
            [(
                at("2026-11-23T10:00:00.000Z"),
                at("2026-11-23T11:00:00.000Z")
            )]
        );
        // Up to the next midnight exactly is still that file's day.
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T10:00:00.000Z", 3);
        f.o.finish(at("2026-11-24T00:00:00.000Z"));
        assert_eq!(
            f.known(),
            [(
                at("2026-11-23T10:00:00.000Z"),
                at("2026-11-24T00:00:00.000Z")
            )]
        );
    }

    #[test]
    fn threshold_one_and_odd_sequences_never_panic() {
        let mut f = Feed::new();
        f.file("2026-11-23");
        f.header("2026-11-23T10:00:00.000Z", 1);
        f.event("2026-11-23T10:00:01.000Z", "b", 1);
        f.event("2026-11-23T10:00:00.000Z", "b", 0); // clock stepped back 1 s: held
        f.event("2026-11-23T10:00:02.000Z", "zz", 1); // unknown: ignored
        f.o.finish(at("2026-11-23T10:00:03.000Z"));
        let b = f.pair("b");
        assert_eq!(b.outages.len(), 1);
        assert_eq!(b.outages[0].duration(), 0);
        assert!(b.outages[0].exact, "a threshold of 1: the |1 is the start");
    }
}
