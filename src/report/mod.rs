//! Reading the logs back: the `report` and `demo` commands (cargo feature `report`, on
//! by default).
//!
//! ```text
//! find     paths -> each observer's files in day order
//! read     one file's lines streamed through logline::parse_line and checked; bad
//!          lines reported as file:line: reason
//! analyze  one observer's lines -> segments (one clock each), outages and blips per peer
//! clocks   the observers' clocks checked against each other: segments found off are
//!          left out (and listed as problems)
//! verdict  outages of one peer across observers -> incidents with a verdict
//! text     the report for people; export: JSON and CSV; svg: the timeline picture
//! cli      the command line of `report`; demo: the `demo` command
//! ```
//!
//! Observers are read one after another, each file streamed line by line, so memory holds
//! one line, per-peer counters, and the outages and known stretches (which grow with
//! outages, restarts and missing days, not with the number of lines). The rules are in
//! [`analyze`], [`clocks`] and [`verdict`] and in docs/reading-logs.md.
//!
//! Nothing here panics on any input: no `unwrap`, `expect` or indexing is reachable from
//! the contents of a log file.

pub mod analyze;
pub mod cli;
pub mod clocks;
pub mod demo;
pub mod export;
pub mod find;
pub mod read;
pub mod svg;
pub mod text;
pub mod units;
pub mod verdict;

use std::io::Write;
use std::path::PathBuf;

use analyze::{End, ObserverLog, Outage, PairLog, Pos, Segment};
use clocks::{Basis, Clocks, Status};
use read::Problems;
use verdict::Incident;

/// Default clock tolerance between observers, in ms (owned by [`crate::verdict`]).
pub const DEFAULT_TOLERANCE_MS: i64 = crate::verdict::DEFAULT_TOLERANCE_MS;

/// What to read and over which window.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files and folders.
    pub paths: Vec<PathBuf>,
    /// Window start (Unix ms); `None`: the earliest line read (of the segments whose
    /// clocks are not found off).
    pub since: Option<i64>,
    /// Window end (Unix ms); `None`: see [`default_until`].
    pub until: Option<i64>,
    /// Clock tolerance between observers, ms.
    pub tolerance_ms: i64,
    /// This machine's clock (Unix ms): for the default window's end and for lines
    /// stamped in the future; `None` leaves both out (the window then ends at the end of
    /// the day of the latest line).
    pub now: Option<i64>,
}

/// The whole report over one window. All times are Unix ms, clipped to the window.
#[derive(Debug, Clone)]
pub struct Report {
    /// Window start.
    pub since: i64,
    /// Window end.
    pub until: i64,
    /// Clock tolerance used for incidents.
    pub tolerance_ms: i64,
    /// Log files read.
    pub files: usize,
    /// Lines read.
    pub lines: u64,
    /// Problems found in the input (each reported as `file:line: reason`).
    pub problems: u64,
    /// Every observer, by name.
    pub observers: Vec<ObserverReport>,
    /// Every observer × peer, ordered by peer, then observer.
    pub pairs: Vec<PairReport>,
    /// Every observed peer, by name.
    pub peers: Vec<String>,
    /// Outages grouped across observers, with verdicts, by start.
    pub incidents: Vec<Incident>,
    /// How the window's end was chosen.
    pub until_rule: UntilRule,
    /// The clock check: stretches of logs left out, and counts.
    pub clocks: ClockReport,
}

/// How the window's end was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UntilRule {
    /// Given (`--until`).
    Given,
    /// Now: the newest file is of today, its node may still be running.
    Now,
    /// The end of the newest file's day: its node stopped before that midnight.
    EndOfDay,
}

/// The clock check's findings, for the outputs.
#[derive(Debug, Clone, Default)]
pub struct ClockReport {
    /// Segments (stretches of a log under one clock) that matched the reference.
    pub agree: usize,
    /// Segments without evidence either way (used as they are).
    pub unchecked: usize,
    /// Stretches left out, in observer and file order.
    pub left_out: Vec<ClockProblem>,
    /// The agreeing observers' latest stamp is this far after this machine's clock (ms).
    pub ahead_of_now: Option<i64>,
}

/// A stretch of one observer's log left out for its clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockProblem {
    /// The observer.
    pub observer: String,
    /// The index of the segment in the observer's log.
    pub segment: usize,
    /// Its first line.
    pub from: Pos,
    /// Its last line.
    pub to: Pos,
    /// The stamps of its first and last lines (its own clock).
    pub first: i64,
    /// The stamp of its last line.
    pub last: i64,
    /// What the check found.
    pub status: Status,
}

impl ClockProblem {
    /// `2026-11-24-node2.log:3-88`, or `... .. 2026-11-25-node2.log:12` across files.
    pub fn lines(&self) -> String {
        let first = find::file_name(&self.observer, self.from.day);
        if self.from.day == self.to.day {
            format!("{first}:{}-{}", self.from.line, self.to.line)
        } else {
            format!(
                "{first}:{} .. {}:{}",
                self.from.line,
                find::file_name(&self.observer, self.to.day),
                self.to.line
            )
        }
    }

    /// What was wrong with the observer's clock, for people: `was about 2 h 00 min ahead
    /// of the other observers' (17 of its 18 outages and restarts line up ...)`.
    pub fn what(&self) -> String {
        match &self.status {
            Status::Skewed {
                skew,
                at_least,
                basis,
            } => {
                let size = if *at_least {
                    units::duration(skew.abs())
                } else {
                    units::duration_rounded(skew.abs())
                };
                let dir = if *skew > 0 { "ahead of" } else { "behind" };
                let bound = if *at_least { "at least" } else { "about" };
                let why = match basis {
                    Basis::Matches {
                        matched,
                        items,
                        observers,
                    } => format!(
                        "{matched} of its {items} outages and restarts line up with {}'s at that offset, none at its own time",
                        observers.join(", ")
                    ),
                    Basis::Order => {
                        "else its lines and those of the run next to it in the same file are out of order".to_string()
                    }
                    Basis::Future => "its lines are stamped after this machine's clock, other logs' are not".to_string(),
                };
                format!("was {bound} {size} {dir} the other observers' ({why})")
            }
            Status::Unsettled { back_ms } => format!(
                "went back {} between this run and the one next to it in the same file, and no other observer's log says which of the two is wrong",
                units::duration(*back_ms)
            ),
            Status::Agrees | Status::Unchecked => "agrees with the others'".to_string(),
        }
    }
}

/// One observer over the window.
#[derive(Debug, Clone)]
pub struct ObserverReport {
    /// Its name (whoami).
    pub name: String,
    /// Time it was running (known), ms.
    pub known_ms: i64,
    /// The rest of the window: `(from, to)` stretches it knew nothing about.
    pub unknown: Vec<(i64, i64)>,
}

/// What one observer knew about one peer over the window.
#[derive(Debug, Clone)]
pub struct PairReport {
    /// The observer.
    pub observer: String,
    /// The observed peer.
    pub peer: String,
    /// Known stretches within the window.
    pub known: Vec<(i64, i64)>,
    /// Their total, ms.
    pub known_ms: i64,
    /// Time down within known time, ms.
    pub down_ms: i64,
    /// Outages within the window.
    pub outages: Vec<Outage>,
    /// Runs of timeouts that never reached the threshold.
    pub blips: u64,
}

impl PairReport {
    /// Up time within known time, ms.
    pub fn up_ms(&self) -> i64 {
        self.known_ms - self.down_ms
    }

    /// Uptime over known time, `99.993` (floored), or `None` without known time.
    pub fn uptime(&self) -> Option<String> {
        units::percent(self.up_ms(), self.known_ms)
    }

    /// The longest outage's duration.
    pub fn longest_ms(&self) -> Option<i64> {
        self.outages.iter().map(Outage::duration).max()
    }

    /// Mean time to recovery: the mean duration of the outages that ended with a `|0`.
    pub fn mttr_ms(&self) -> Option<i64> {
        let recovered = self.outages.iter().filter(|o| o.end_kind == End::Recovered);
        let (n, sum) = recovered.fold((0i64, 0i64), |(n, s), o| (n + 1, s + o.duration()));
        (n > 0).then(|| sum / n)
    }
}

/// Reads and analyses everything under `opts.paths`. Problems in the input go to
/// `problems_out` as `file:line: reason` lines (a stretch of a log whose clock is found
/// off is one); the report counts them. `None` when no log file was found at all.
pub fn build(opts: &Options, problems_out: &mut dyn Write) -> Option<Report> {
    let mut problems = Problems::new(problems_out);
    let inputs = find::find(&opts.paths, &mut problems);
    if inputs.is_empty() {
        return None;
    }
    let (mut logs, lines) = read_logs(opts, &inputs, &mut problems);
    let clocks = clocks::check(&logs, opts.tolerance_ms, opts.now);
    let clock_report = report_clocks(&logs, &clocks, &inputs, &mut problems);
    let (since, until, until_rule) = window_bounds(&logs, &clocks, opts);
    for log in &mut logs {
        log.finish(until);
    }
    let files = logs.iter().map(|l| l.files).sum();
    let mut report = window(logs, &clocks, since, until, opts.tolerance_ms);
    report.files = files;
    report.lines = lines;
    report.problems = problems.count;
    report.until_rule = until_rule;
    report.clocks = clock_report;
    Some(report)
}

/// Every observer's files within reach of the window, read into one log each, and the
/// number of lines read.
fn read_logs(
    opts: &Options,
    inputs: &find::Inputs,
    problems: &mut Problems<'_>,
) -> (Vec<ObserverLog>, u64) {
    // Files of days before the window's (but the day before, for runs and outages in
    // progress at its start) and after it are not read.
    let first_day = opts
        .since
        .map(|s| crate::logline::day_number(s).saturating_sub(1));
    // A window ending at a midnight needs nothing of the day it ends at: a file's lines
    // all lie on its day, and its observer is known up to that midnight anyway.
    let last_day = opts
        .until
        .map(|u| crate::logline::day_number(u.saturating_sub(1)));
    let mut logs = Vec::new();
    let mut lines = 0u64;
    for (name, _) in inputs.observers() {
        let mut log = ObserverLog::new(
            name,
            opts.since,
            opts.until,
            clocks::check_tolerance(opts.tolerance_ms),
        );
        for file in inputs.files(
            name,
            first_day.unwrap_or(i64::MIN),
            last_day.unwrap_or(i64::MAX),
        ) {
            lines += read::read_file(&file, name, problems, &mut log);
        }
        logs.push(log);
    }
    (logs, lines)
}

/// Counts the segments the clock check kept and lists those it left out, each also
/// reported as a problem.
fn report_clocks(
    logs: &[ObserverLog],
    clocks: &Clocks,
    inputs: &find::Inputs,
    problems: &mut Problems<'_>,
) -> ClockReport {
    let mut clock_report = ClockReport {
        ahead_of_now: clocks.reference_ahead_of_now,
        ..ClockReport::default()
    };
    for (o, log) in logs.iter().enumerate() {
        for (k, seg) in log.segments.iter().enumerate() {
            match clocks.of(o, k) {
                Status::Agrees => clock_report.agree += 1,
                Status::Unchecked => clock_report.unchecked += 1,
                status => {
                    let p = ClockProblem {
                        observer: log.name.clone(),
                        segment: k,
                        from: seg.from,
                        to: seg.to,
                        first: seg.first,
                        last: seg.last,
                        status: status.clone(),
                    };
                    report_left_out(&p, inputs, problems);
                    clock_report.left_out.push(p);
                }
            }
        }
    }
    clock_report
}

/// `file:first-last: <observer>'s clock ...; this run ... is left out`, naming the
/// second file too when the stretch runs past midnight.
fn report_left_out(p: &ClockProblem, inputs: &find::Inputs, problems: &mut Problems<'_>) {
    let path = inputs.path_of(&p.observer, p.from.day);
    let last = if p.to.day == p.from.day {
        p.to.line
    } else {
        p.from.line
    };
    let across = if p.to.day == p.from.day {
        String::new()
    } else {
        format!(
            " (to {}:{})",
            inputs.path_of(&p.observer, p.to.day).display(),
            p.to.line
        )
    };
    problems.report_lines(
        &path,
        p.from.line,
        last,
        format_args!(
            "{}'s clock {}; this run{across}, {} .. {} by its clock, is left out",
            p.observer,
            p.what(),
            units::timestamp(p.first),
            units::timestamp(p.last)
        ),
    );
}

/// The window: `(since, until, how until was chosen)`, from the options or else from
/// the segments the clock check kept; never ending before it starts.
fn window_bounds(logs: &[ObserverLog], clocks: &Clocks, opts: &Options) -> (i64, i64, UntilRule) {
    let used: Vec<&Segment> = logs
        .iter()
        .enumerate()
        .flat_map(|(o, log)| {
            log.segments
                .iter()
                .enumerate()
                .filter(move |&(k, _)| !clocks.left_out(o, k))
                .map(|(_, s)| s)
        })
        .collect();
    let since = opts
        .since
        .or_else(|| used.iter().map(|s| s.first).min())
        .unwrap_or(0);
    let (until, until_rule) = match opts.until {
        Some(u) => (u, UntilRule::Given),
        None => {
            default_until(used.iter().copied(), opts.now).unwrap_or((since, UntilRule::EndOfDay))
        }
    };
    (since, until.max(since), until_rule)
}

/// The default end of the window over the segments `used` (those whose clocks are not
/// found off): now, when the newest file is of today (its node may still be running;
/// never before the latest line); otherwise the end of that file's day (its node stopped
/// before the next midnight: a running daemon would have written the next day's file).
/// `None` without any segment.
pub fn default_until<'a>(
    used: impl Iterator<Item = &'a Segment>,
    now: Option<i64>,
) -> Option<(i64, UntilRule)> {
    let (newest_day, latest) = used.fold(None, |acc: Option<(i64, i64)>, s| {
        Some(acc.map_or((s.to.day, s.last), |(d, l)| {
            (d.max(s.to.day), l.max(s.last))
        }))
    })?;
    match now {
        Some(now) if newest_day >= crate::logline::day_number(now) => {
            Some((now.max(latest), UntilRule::Now))
        }
        _ => Some((
            units::day_start(newest_day.saturating_add(1)).max(latest),
            UntilRule::EndOfDay,
        )),
    }
}

/// Sorts `stretches` and merges those that overlap or touch.
fn merged(mut stretches: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    stretches.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(stretches.len());
    for (a, b) in stretches {
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The figures of `logs` over `since..until`, without the segments `clocks` left out.
/// Consumes the logs: their lists are clipped in place, not copied.
fn window(
    logs: Vec<ObserverLog>,
    clocks: &Clocks,
    since: i64,
    until: i64,
    tolerance_ms: i64,
) -> Report {
    let mut observers = Vec::new();
    let mut pairs = Vec::new();
    for (o, log) in logs.into_iter().enumerate() {
        let used = |k: u32| !clocks.left_out(o, k as usize);
        let known_of = |k: u32| log.segments.get(k as usize).and_then(|s| s.known);
        let known = clipped(
            (0..log.segments.len() as u32)
                .filter(|&k| used(k))
                .filter_map(known_of)
                .collect(),
            since,
            until,
        );
        let unknown = gaps(&known, since, until);
        observers.push(ObserverReport {
            name: log.name.clone(),
            known_ms: total(&known),
            unknown,
        });
        for pair in log.pairs {
            let PairLog {
                peer,
                segments,
                blips,
                mut outages,
                ..
            } = pair;
            let known = clipped(
                segments
                    .iter()
                    .copied()
                    .filter(|&k| used(k))
                    .filter_map(known_of)
                    .collect(),
                since,
                until,
            );
            let blips = segments
                .iter()
                .zip(&blips)
                .filter(|(k, _)| used(**k))
                .map(|(_, b)| b)
                .sum();
            clip_outages(&mut outages, used, since, until);
            let down_ms = total(&merged(outages.iter().map(|o| (o.start, o.end)).collect()));
            pairs.push(PairReport {
                observer: log.name.clone(),
                peer,
                known_ms: total(&known),
                known,
                down_ms,
                outages,
                blips,
            });
        }
    }
    pairs.sort_by(|a, b| (&a.peer, &a.observer).cmp(&(&b.peer, &b.observer)));
    let mut peers: Vec<String> = pairs.iter().map(|p| p.peer.clone()).collect();
    peers.dedup();
    let incidents = verdict::incidents(&pairs, tolerance_ms);
    Report {
        since,
        until,
        tolerance_ms,
        files: 0,
        lines: 0,
        problems: 0,
        observers,
        pairs,
        peers,
        incidents,
        until_rule: UntilRule::Given,
        clocks: ClockReport::default(),
    }
}

/// `stretches` merged and clipped to `since..until`, empty ones dropped.
fn clipped(stretches: Vec<(i64, i64)>, since: i64, until: i64) -> Vec<(i64, i64)> {
    let mut stretches = merged(stretches);
    stretches.retain_mut(|s| {
        *s = (s.0.max(since), s.1.min(until));
        s.0 <= s.1
    });
    stretches.shrink_to_fit();
    stretches
}

/// The summed length of `stretches`, ms.
fn total(stretches: &[(i64, i64)]) -> i64 {
    stretches.iter().map(|(a, b)| b - a).sum::<i64>()
}

/// The stretches of `since..until` that the merged, clipped `known` does not cover.
fn gaps(known: &[(i64, i64)], since: i64, until: i64) -> Vec<(i64, i64)> {
    let mut unknown = Vec::new();
    let mut at = since;
    for &(a, b) in known.iter().filter(|(a, b)| a < b) {
        if a > at {
            unknown.push((at, a));
        }
        at = at.max(b);
    }
    if until > at {
        unknown.push((at, until));
    }
    unknown
}

/// Keeps the outages of used segments that touch the window, clipped to it (one that
/// runs past its end ends by the window; one from before its start says so), by start.
fn clip_outages(outages: &mut Vec<Outage>, used: impl Fn(u32) -> bool, since: i64, until: i64) {
    outages.retain_mut(|o| {
        let keep = used(o.segment)
            && o.end >= since
            && o.start <= until
            && !(o.end == since && o.start < since);
        *o = Outage {
            start: o.start.max(since),
            end: o.end.min(until),
            end_kind: if o.end > until {
                End::WindowEnd
            } else {
                o.end_kind
            },
            from_before: o.start < since,
            ..*o
        };
        keep
    });
    outages.sort_by_key(|o| (o.start, o.end));
    outages.shrink_to_fit();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logline::{self, DAY_MS};
    use std::fs;

    /// xorshift64*: deterministic test data.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    const NAMES: [&str; 4] = ["a", "b", "c", "d"];

    /// Random logs of four observers over three days: runs with random clock offsets
    /// (often none, sometimes hours either way), steps back within runs, crashes seen
    /// by several observers, blips, and midnight switches, written as the daemon would
    /// (each line in the file of its stamp's day).
    fn random_logs(rng: &mut Rng, dir: &std::path::Path) {
        let day0 = 20_415 * DAY_MS;
        let nodes: Vec<(&str, std::net::SocketAddr)> = NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, format!("127.0.0.{}:1", i + 1).parse().unwrap()))
            .collect();
        // Crashes of random nodes: (node, start, end).
        let crashes: Vec<(usize, i64, i64)> = (0..rng.below(12))
            .map(|_| {
                let s = day0 + rng.below(3 * DAY_MS as u64) as i64;
                (
                    rng.below(4) as usize,
                    s,
                    s + 3_000 + rng.below(600_000) as i64,
                )
            })
            .collect();
        for (me, name) in NAMES.iter().enumerate() {
            let mut files: std::collections::BTreeMap<i64, String> = Default::default();
            let mut push = |t: i64, line: &str| {
                files
                    .entry(logline::day_number(t))
                    .or_default()
                    .push_str(line);
            };
            let mut t = day0 + rng.below(3_600_000) as i64;
            while t < day0 + 3 * DAY_MS {
                let offset = match rng.below(6) {
                    0 => (rng.below(8 * 3_600_000) as i64) - 4 * 3_600_000,
                    1 => rng.below(20_000) as i64 - 10_000,
                    _ => 0,
                };
                let run_end = t + rng.below(DAY_MS as u64) as i64;
                let mut head = String::from("---\n");
                logline::write_header(&mut head, t + offset, 3, name, &nodes);
                head.push('\n');
                push(t + offset, &head);
                let mut step = 0;
                let mut events: Vec<(i64, usize, u32)> = Vec::new();
                for &(n, s, e) in &crashes {
                    if n != me && s > t && e < run_end {
                        let d = rng.below(1_500) as i64;
                        for (k, at) in [(1, s), (2, s + 1000), (3, s + 2000), (0, e)] {
                            events.push((at + d, n, k));
                        }
                    }
                }
                for _ in 0..rng.below(6) {
                    let at = t + rng.below((run_end - t).max(1) as u64) as i64;
                    let n = (me + 1 + rng.below(3) as usize) % 4;
                    events.push((at, n, 1));
                    events.push((at + 500, n, 0));
                }
                events.sort_unstable();
                for (at, n, k) in events {
                    if rng.below(40) == 0 {
                        step -= rng.below(7_200_000) as i64;
                    }
                    let stamp = at + offset + step;
                    let mut line = String::new();
                    logline::write_event(&mut line, stamp, NAMES[n], k);
                    line.push('\n');
                    push(stamp, &line);
                }
                t = run_end + rng.below(3_600_000) as i64;
            }
            for (day, text) in files {
                let date = logline::day_string(day * DAY_MS);
                fs::write(dir.join(format!("{date}-{name}.log")), text).unwrap();
            }
        }
    }

    #[test]
    fn random_logs_keep_the_report_consistent() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let dir = std::env::temp_dir().join(format!(
            "uptime-tracker-report-random-{}",
            std::process::id()
        ));
        let (mut left_out, mut incidents) = (0, 0);
        for case in 0..60 {
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            random_logs(&mut rng, &dir);
            let day0 = 20_415 * DAY_MS;
            let (since, until) = match case % 3 {
                0 => (None, None),
                1 => (Some(day0 + 3_600_000), Some(day0 + DAY_MS + 7_200_000)),
                _ => (None, Some(day0 + 2 * DAY_MS)),
            };
            let opts = Options {
                paths: vec![dir.clone()],
                since,
                until,
                tolerance_ms: [0, 5_000, 60_000][case % 3],
                now: Some(day0 + [2, 5, 400][case % 3] * DAY_MS),
            };
            let mut sink = Vec::new();
            let Some(r) = build(&opts, &mut sink) else {
                continue;
            };
            let window = r.until - r.since;
            assert!(window >= 0, "case {case}");
            for p in &r.pairs {
                assert!(
                    p.known_ms >= 0 && p.known_ms <= window,
                    "case {case}: {p:?}"
                );
                assert!(
                    p.down_ms >= 0 && p.down_ms <= p.known_ms,
                    "case {case}: {p:?}"
                );
                for o in &p.outages {
                    assert!(o.start <= o.end, "case {case}: {o:?}");
                    assert!(o.start >= r.since && o.end <= r.until, "case {case}: {o:?}");
                    let left_out = r
                        .clocks
                        .left_out
                        .iter()
                        .any(|c| c.observer == p.observer && c.segment == o.segment as usize);
                    assert!(!left_out, "case {case}: {o:?} of a stretch left out");
                }
            }
            for o in &r.observers {
                assert!(
                    o.known_ms >= 0 && o.known_ms <= window,
                    "case {case}: {o:?}"
                );
            }
            for i in &r.incidents {
                assert!(
                    i.start <= i.end && i.down_ms <= i.end - i.start && i.down_ms >= 0,
                    "case {case}: {i:?}"
                );
            }
            // Each stretch left out was said once on the problems' output.
            let said = String::from_utf8(sink).unwrap();
            assert_eq!(
                said.matches("'s clock ").count(),
                r.clocks.left_out.len(),
                "case {case}:\n{said}"
            );
            assert!(r.problems as usize >= r.clocks.left_out.len());
            left_out += r.clocks.left_out.len();
            incidents += r.incidents.len();
        }
        // The cases did exercise the check (clocks off by hours, steps back).
        assert!(
            left_out > 20 && incidents > 100,
            "{left_out} left out, {incidents} incidents"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
