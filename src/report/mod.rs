//! Reading the logs back: the `report` and `demo` commands (cargo feature `report`, on
//! by default).
//!
//! ```text
//! find     paths -> each observer's files in day order
//! read     one file's lines streamed through logline::parse_line and checked; bad
//!          lines reported as file:line: reason
//! analyze  one observer's lines -> known stretches, outages and blips per peer
//! verdict  outages of one peer across observers -> incidents with a verdict
//! text     the report for people; export: JSON and CSV; svg: the timeline picture
//! cli      the command line of `report`; demo: the `demo` command
//! ```
//!
//! Observers are read one after another, each file streamed line by line, so memory holds
//! one line, per-peer counters, and the outages and known stretches (which grow with
//! outages, restarts and missing days, not with the number of lines). The rules are in
//! [`analyze`] and [`verdict`] and in the README ("Reading the logs back").
//!
//! Nothing here panics on any input: no `unwrap`, `expect` or indexing is reachable from
//! the contents of a log file.

pub mod analyze;
pub mod cli;
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

use analyze::{End, ObserverLog, Outage, PairLog};
use read::Problems;
use verdict::Incident;

/// Default clock tolerance between observers, in ms: log headers carry the threshold but
/// not the probe interval, so the tolerance cannot be derived from them; 5 s covers a few
/// intervals of a typical mesh (1 s) and ordinary NTP-synchronised clocks.
pub const DEFAULT_TOLERANCE_MS: i64 = 5_000;

/// What to read and over which window.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files and folders.
    pub paths: Vec<PathBuf>,
    /// Window start (Unix ms); `None`: the earliest line read.
    pub since: Option<i64>,
    /// Window end (Unix ms); `None`: the latest line read.
    pub until: Option<i64>,
    /// Clock tolerance between observers, ms.
    pub tolerance_ms: i64,
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
/// `problems_out` as `file:line: reason` lines; the report counts them. `None` when no log
/// file was found at all.
pub fn build(opts: &Options, problems_out: &mut dyn Write) -> Option<Report> {
    let mut problems = Problems::new(problems_out);
    let inputs = find::find(&opts.paths, &mut problems);
    if inputs.is_empty() {
        return None;
    }
    // Files of days before the window's (but the day before, for runs and outages in
    // progress at its start) and after it are not read.
    let first_day = opts
        .since
        .map(|s| crate::logline::day_number(s).saturating_sub(1));
    let last_day = opts.until.map(crate::logline::day_number);
    let mut logs = Vec::new();
    let mut lines = 0u64;
    for (name, _) in inputs.observers() {
        let mut log = ObserverLog::new(name, opts.since, opts.until);
        for file in inputs.files(
            name,
            first_day.unwrap_or(i64::MIN),
            last_day.unwrap_or(i64::MAX),
        ) {
            lines += read::read_file(&file, name, &mut problems, &mut log);
            if !read::Sink::wants_more(&log) {
                break;
            }
        }
        logs.push(log);
    }
    let span = logs
        .iter()
        .filter_map(|l| l.span)
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    let since = opts.since.or(span.map(|s| s.0)).unwrap_or(0);
    let until = opts.until.or(span.map(|s| s.1)).unwrap_or(since).max(since);
    for log in &mut logs {
        log.finish(until);
    }
    let files = logs.iter().map(|l| l.files).sum();
    let mut report = window(logs, since, until, opts.tolerance_ms);
    report.files = files;
    report.lines = lines;
    report.problems = problems.count;
    Some(report)
}

/// The figures of `logs` over `since..until`. Consumes the logs: their lists are clipped
/// in place, not copied.
fn window(logs: Vec<ObserverLog>, since: i64, until: i64, tolerance_ms: i64) -> Report {
    let clip = |mut stretches: Vec<(i64, i64)>| -> Vec<(i64, i64)> {
        stretches.retain_mut(|s| {
            *s = (s.0.max(since), s.1.min(until));
            s.0 <= s.1
        });
        stretches.shrink_to_fit();
        stretches
    };
    let total = |stretches: &[(i64, i64)]| stretches.iter().map(|(a, b)| b - a).sum::<i64>();
    let mut observers = Vec::new();
    let mut pairs = Vec::new();
    for log in logs {
        let known = clip(log.stretches);
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
        observers.push(ObserverReport {
            name: log.name.clone(),
            known_ms: total(&known),
            unknown,
        });
        for pair in log.pairs {
            let PairLog {
                peer,
                stretches,
                mut outages,
                blips,
                ..
            } = pair;
            let known = clip(stretches);
            outages.retain_mut(|o| {
                let keep =
                    o.end >= since && o.start <= until && !(o.end == since && o.start < since);
                *o = Outage {
                    start: o.start.max(since),
                    end: o.end.min(until),
                    end_kind: if o.end > until {
                        End::WindowEnd
                    } else {
                        o.end_kind
                    },
                    from_before: o.start < since,
                };
                keep
            });
            outages.shrink_to_fit();
            pairs.push(PairReport {
                observer: log.name.clone(),
                peer,
                known_ms: total(&known),
                known,
                down_ms: outages.iter().map(Outage::duration).sum(),
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
    }
}
