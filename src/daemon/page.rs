//! What the status page ([`crate::page`]) reads from this machine: the wall clock, the
//! end of today's log file, and (with `report`) the last 24 h of this node's logs as the
//! timeline SVG, remade when today's log has changed (at most every
//! [`TIMELINE_MIN_MS`]) or is [`TIMELINE_EVERY_MS`] old, so that reloads, however many,
//! mostly cost the poll loop one short read each.

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::page::{LOG_TAIL_BYTES, Local, MAX_LOG_LINES, Timeline};

/// How long a timeline is reused, today's log unchanged, before it is made again (wall ms).
pub const TIMELINE_EVERY_MS: i64 = 60_000;
/// Most bytes of log files the timeline reads (yesterday's and today's together); a
/// node whose logs are larger gets a note instead: reading them would hold the loop up.
#[cfg(feature = "report")]
pub const MAX_TIMELINE_INPUT: u64 = 2 * 1024 * 1024;

/// The timeline last made: when, and the size of today's log file it read.
#[derive(Debug, Default)]
pub(super) struct TimelineCache(RefCell<Option<Made>>);

#[derive(Debug)]
struct Made {
    at: i64,
    today_len: Option<u64>,
    timeline: Timeline,
}

/// A timeline is remade when today's log has changed, but not sooner than this after
/// the last (wall ms): a flapping peer does not make every reload read the files.
pub const TIMELINE_MIN_MS: i64 = 5_000;

/// This node's files, for one rendering of the page.
pub(super) struct LogFiles<'a> {
    /// Today's log file (the journal's).
    pub(super) today: &'a Path,
    /// This node.
    pub(super) whoami: &'a str,
    /// Now, wall ms.
    pub(super) now_wall: i64,
    pub(super) cache: &'a TimelineCache,
}

impl Local for LogFiles<'_> {
    fn now_wall(&self) -> i64 {
        self.now_wall
    }

    fn log_tail(&self) -> Result<Vec<String>, String> {
        tail(self.today).map_err(|e| format!("cannot read {}: {e}", self.today.display()))
    }

    fn timeline(&self) -> Timeline {
        let mut cache = self.cache.0.borrow_mut();
        let today_len = std::fs::metadata(self.today).ok().map(|m| m.len());
        if let Some(made) = cache.as_ref() {
            let age = self.now_wall - made.at;
            let fresh = (0..TIMELINE_EVERY_MS).contains(&age);
            let changed = made.today_len != today_len;
            if fresh && (!changed || age < TIMELINE_MIN_MS) {
                return made.timeline.clone();
            }
        }
        let timeline = make_timeline(self.today, self.whoami, self.now_wall);
        *cache = Some(Made {
            at: self.now_wall,
            today_len,
            timeline: timeline.clone(),
        });
        timeline
    }
}

/// The last lines of the file at `path`, read from at most [`LOG_TAIL_BYTES`] at its end;
/// a line cut by that start begins with "…".
fn tail(path: &Path) -> std::io::Result<Vec<String>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.take(LOG_TAIL_BYTES).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if start > 0
        && let Some(first) = lines.first_mut()
    {
        first.insert(0, '\u{2026}');
    }
    let skip = lines.len().saturating_sub(MAX_LOG_LINES);
    lines.drain(..skip);
    Ok(lines)
}

#[cfg(not(feature = "report"))]
fn make_timeline(_today: &Path, _whoami: &str, _now_wall: i64) -> Timeline {
    Timeline::NotBuilt
}

/// `report`'s timeline over this node's files of yesterday and today, for the 24 h up
/// to `now_wall`.
#[cfg(feature = "report")]
fn make_timeline(today: &Path, whoami: &str, now_wall: i64) -> Timeline {
    use crate::logline::day_number;
    use crate::report::{self, find::file_name};
    const DAY_MS: i64 = 86_400_000;
    let folder = today.parent().unwrap_or(Path::new("."));
    let since = now_wall.saturating_sub(DAY_MS);
    let mut paths = Vec::new();
    let mut size = 0u64;
    for day in [day_number(since), day_number(now_wall)] {
        let path = folder.join(file_name(whoami, day));
        if let Ok(meta) = std::fs::metadata(&path)
            && !paths.contains(&path)
        {
            size += meta.len();
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Timeline::Missing(format!(
            "No log file of the last 24 h in {}.",
            folder.display()
        ));
    }
    if size > MAX_TIMELINE_INPUT {
        return Timeline::Missing(format!(
            "The last 24 h of logs are {} KiB, more than this page reads ({} KiB): run `uptime-tracker report --svg FILE` on them.",
            size / 1024,
            MAX_TIMELINE_INPUT / 1024
        ));
    }
    let opts = report::Options {
        paths,
        since: Some(since),
        until: Some(now_wall),
        tolerance_ms: report::DEFAULT_TOLERANCE_MS,
        now: Some(now_wall),
    };
    match report::build(&opts, &mut std::io::sink()) {
        Some(r) => Timeline::Svg(report::svg::render(&r)),
        None => Timeline::Missing("No log file of the last 24 h could be read.".to_string()),
    }
}
