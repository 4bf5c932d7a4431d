//! Log format 0.0.3 (DESIGN.md §2): one line at a time, pure.
//!
//! A log file is a sequence of lines, each ended by `"\n"`:
//!
//! ```text
//! ---
//! 0.0.3|2026-11-23T20:09:18.938Z|3|node2|node1:127.0.0.1:47001!node2:127.0.0.1:47002!node3:127.0.0.1:47003
//! 2026-11-23T20:09:25.940Z|node1|1
//! ```
//!
//! - `---` marks a (re)start of logging;
//! - the header `0.0.3|<time>|<threshold>|<whoami>|<nodes>` follows every `---`, `<nodes>`
//!   being every configured node as `<name>:<ip>:<port>` (IPv6 as `<name>:[<ip>]:<port>`)
//!   joined with `!`, in config order;
//! - an event `<time>|<node>|<timeouts>` records a change of a peer's state.
//!
//! `<time>` is UTC, `YYYY-MM-DDTHH:MM:SS.mmmZ`. Times are passed around as `i64`
//! milliseconds since the Unix epoch; this module reads no clock.
//!
//! The writers here ([`write_timestamp`], [`write_header`], [`write_event`]) and the
//! parsers ([`parse_timestamp`], [`parse_line`], [`check_file`]) are the one definition of
//! the format: whatever the writers produce, the parsers accept and re-format to the same
//! bytes. The parsers are strict (canonical numbers, canonical addresses, valid calendar
//! dates) and never panic, on any input. The writers never panic either; they do not
//! validate names (the config does), so feed them valid [`crate::name`]s.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;

use time::{Date, Month};

use crate::name::{self, NameError};

/// The version written at the start of every header line.
pub const FORMAT_VERSION: &str = "0.0.3";

/// The line that marks a (re)start of logging.
pub const RESTART: &str = "---";

/// Milliseconds in a UTC day (UTC as used here has no leap seconds).
pub const DAY_MS: i64 = 86_400_000;

/// Earliest time a timestamp can show: `0000-01-01T00:00:00.000Z`.
pub const MIN_TIME: i64 = -62_167_219_200_000;

/// Latest time a timestamp can show: `9999-12-31T23:59:59.999Z`.
pub const MAX_TIME: i64 = 253_402_300_799_999;

/// Longest header line a daemon writes, `"\n"` included: the prefix (version, time,
/// threshold, whoami) and, for each of at most [`MAX_NODES`](crate::config::MAX_NODES)
/// nodes, `name:[v6%scope]:port!` at its longest. Readers of log files take lines this
/// long, so no header of a large mesh is refused as too long.
pub const MAX_HEADER_LEN: usize = {
    const PREFIX: usize = FORMAT_VERSION.len() + 1 + 24 + 1 + 10 + 1 + name::MAX_NAME_LEN + 1;
    // `[` 39 characters of IPv6 `%` a u32 scope `]` `:` 5 digits of port.
    const ADDR: usize = 1 + 39 + 1 + 10 + 1 + 1 + 5;
    PREFIX + crate::config::MAX_NODES * (name::MAX_NAME_LEN + 1 + ADDR + 1) + 1
};

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Length of a timestamp, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const TIMESTAMP_LEN: usize = 24;

/// What is wrong with a line (or, from [`check_file`], with a line's place in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// The line is empty.
    Empty,
    /// The line has this many `|`-separated fields; an event has 3, a header 5.
    FieldCount(usize),
    /// A 5-field line that does not start with `0.0.3`.
    Version,
    /// A timestamp is not shaped `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    TimeShape,
    /// A timestamp's date is not a calendar date (e.g. February 30).
    TimeDate,
    /// A timestamp's time of day is out of range (hour > 23, minute or second > 59).
    TimeOfDay,
    /// The threshold is not a canonical decimal number in 1..=4294967295.
    Threshold,
    /// The timeouts count is not a canonical decimal number in 0..=4294967295.
    Timeouts,
    /// The header's whoami is not a valid node name.
    Whoami(NameError),
    /// A node name (in the header's node list or in an event) is not valid.
    NodeName(NameError),
    /// An entry of the header's node list is not `<name>:<ip>:<port>`.
    NodeEntry,
    /// A node's address is not `ip:port` / `[ipv6]:port` in canonical form.
    Address,
    /// A node name appears twice in the header's node list.
    DuplicateNode,
    /// The header's whoami is not in its node list.
    WhoamiNotListed,
    /// [`check_file`]: the file does not start with `---` (or is empty).
    MissingRestart,
    /// [`check_file`]: a `---` is not followed by a header.
    MissingHeader,
    /// [`check_file`]: a header that does not follow a `---`.
    StrayHeader,
    /// [`check_file`]: the event's node is not in the run's header.
    UnknownNode,
    /// [`check_file`]: the event is about the header's whoami itself.
    OwnNode,
    /// [`check_file`]: the event's timeouts count is above the run's threshold.
    OverThreshold,
    /// [`check_file`]: the file's last line is not ended by `"\n"`.
    MissingNewline,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Empty => f.write_str("empty line"),
            LineError::FieldCount(n) => write!(
                f,
                "{n} '|'-separated field(s); an event has 3 (<time>|<node>|<timeouts>), a header 5"
            ),
            LineError::Version => write!(f, "unsupported format version (expected {FORMAT_VERSION})"),
            LineError::TimeShape => {
                f.write_str("bad timestamp: expected YYYY-MM-DDTHH:MM:SS.mmmZ")
            }
            LineError::TimeDate => f.write_str("bad timestamp: not a calendar date"),
            LineError::TimeOfDay => f.write_str("bad timestamp: time of day out of range"),
            LineError::Threshold => f.write_str(
                "bad threshold: expected a decimal number in 1..=4294967295, no sign or leading zeros",
            ),
            LineError::Timeouts => f.write_str(
                "bad timeouts count: expected a decimal number in 0..=4294967295, no sign or leading zeros",
            ),
            LineError::Whoami(e) => write!(f, "bad whoami: {e}"),
            LineError::NodeName(e) => write!(f, "bad node name: {e}"),
            LineError::NodeEntry => f.write_str("bad node entry: expected <name>:<ip>:<port>"),
            LineError::Address => f.write_str(
                "bad node address: expected <ip>:<port> (IPv6 as [<ip>]:<port>) in canonical form",
            ),
            LineError::DuplicateNode => f.write_str("a node is listed twice in the header"),
            LineError::WhoamiNotListed => f.write_str("the header's whoami is not in its node list"),
            LineError::MissingRestart => f.write_str("the file does not start with \"---\""),
            LineError::MissingHeader => f.write_str("\"---\" is not followed by a header line"),
            LineError::StrayHeader => f.write_str("a header line that does not follow \"---\""),
            LineError::UnknownNode => f.write_str("the event's node is not in the header's node list"),
            LineError::OwnNode => f.write_str("the event is about the header's whoami itself"),
            LineError::OverThreshold => {
                f.write_str("the event's timeouts count is above the header's threshold")
            }
            LineError::MissingNewline => f.write_str("the last line is not ended by \"\\n\""),
        }
    }
}

impl std::error::Error for LineError {}

/// A node of a header's node list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node<'a> {
    /// The node's name.
    pub name: &'a str,
    /// The node's address.
    pub addr: SocketAddr,
}

/// One parsed line (without its `"\n"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// `---`: logging (re)starts; a header follows.
    Restart,
    /// `0.0.3|<time>|<threshold>|<whoami>|<nodes>`.
    Header {
        /// When logging started (or the file was switched at midnight).
        time: i64,
        /// Consecutive timeouts after which a peer is offline; at least 1.
        threshold: u32,
        /// The node that writes the file; one of `nodes`.
        whoami: &'a str,
        /// Every configured node, in config order, whoami included.
        nodes: Vec<Node<'a>>,
    },
    /// `<time>|<node>|<timeouts>`.
    Event {
        /// When the change happened.
        time: i64,
        /// The peer whose state changed.
        node: &'a str,
        /// Its consecutive timeouts: 0 when it answered again.
        timeouts: u32,
    },
}

impl Line<'_> {
    /// Appends the line, without `"\n"`, exactly as [`parse_line`] reads it.
    pub fn write(&self, out: &mut String) {
        match self {
            Line::Restart => out.push_str(RESTART),
            Line::Header {
                time,
                threshold,
                whoami,
                nodes,
            } => write_header_from(
                out,
                *time,
                *threshold,
                whoami,
                nodes.iter().map(|n| (n.name, n.addr)),
            ),
            Line::Event {
                time,
                node,
                timeouts,
            } => write_event(out, *time, node, *timeouts),
        }
    }
}

/// The UTC day of `unix_ms` as a day number (0 = 1970-01-01), after clamping `unix_ms` to
/// [`MIN_TIME`]`..=`[`MAX_TIME`] like [`write_timestamp`]. Two times belong in the same
/// log file exactly when their day numbers are equal.
pub fn day_number(unix_ms: i64) -> i64 {
    unix_ms.clamp(MIN_TIME, MAX_TIME).div_euclid(DAY_MS)
}

/// Appends the UTC date of a day number as `YYYY-MM-DD`. Never panics: the day is
/// clamped to the days of years 0000..=9999.
fn write_date(out: &mut String, day: i64) {
    let day = day.clamp(MIN_TIME.div_euclid(DAY_MS), MAX_TIME.div_euclid(DAY_MS));
    // In range by the clamp, so the conversions cannot fail; fall back to the epoch anyway.
    let date = i32::try_from(day + UNIX_EPOCH_JULIAN_DAY)
        .ok()
        .and_then(|jd| Date::from_julian_day(jd).ok())
        .unwrap_or(Date::MIN);
    push_digits(out, date.year().clamp(0, 9999).unsigned_abs(), 4);
    out.push('-');
    push_digits(out, u32::from(u8::from(date.month())), 2);
    out.push('-');
    push_digits(out, u32::from(date.day()), 2);
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, millisecond precision) for `unix_ms`.
///
/// Times before [`MIN_TIME`] or after [`MAX_TIME`] (outside years 0000..=9999) are
/// clamped to those bounds, so the output always has this exact shape and always parses
/// back with [`parse_timestamp`]. Never panics.
pub fn write_timestamp(out: &mut String, unix_ms: i64) {
    let ms = unix_ms.clamp(MIN_TIME, MAX_TIME);
    write_date(out, ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS) as u32; // 0..86_400_000
    out.push('T');
    push_digits(out, in_day / 3_600_000, 2);
    out.push(':');
    push_digits(out, in_day / 60_000 % 60, 2);
    out.push(':');
    push_digits(out, in_day / 1000 % 60, 2);
    out.push('.');
    push_digits(out, in_day % 1000, 3);
    out.push('Z');
}

/// Parses a timestamp written by [`write_timestamp`]: exactly
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, a valid calendar date, hour 00..=23, minute and second
/// 00..=59 (no leap second). Returns Unix milliseconds.
pub fn parse_timestamp(s: &str) -> Result<i64, LineError> {
    let b = s.as_bytes();
    if b.len() != TIMESTAMP_LEN {
        return Err(LineError::TimeShape);
    }
    for (i, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        if b[i] != sep {
            return Err(LineError::TimeShape);
        }
    }
    let num = |from: usize, to: usize| digits(&b[from..to]).ok_or(LineError::TimeShape);
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second, milli) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or(LineError::TimeDate)?;
    let date = i32::try_from(year)
        .ok()
        .zip(u8::try_from(day).ok())
        .and_then(|(y, d)| Date::from_calendar_date(y, month, d).ok())
        .ok_or(LineError::TimeDate)?;
    if hour > 23 || minute > 59 || second > 59 {
        return Err(LineError::TimeOfDay);
    }
    let days = i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY;
    let secs_in_day = i64::from(hour * 3600 + minute * 60 + second);
    Ok(days * DAY_MS + secs_in_day * 1000 + i64::from(milli))
}

/// The UTC calendar day of `unix_ms` as `YYYY-MM-DD`, as used in log file names
/// (clamped like [`write_timestamp`]).
pub fn day_string(unix_ms: i64) -> String {
    let mut s = String::with_capacity(10);
    write_date(&mut s, day_number(unix_ms));
    s
}

/// Milliseconds from `unix_ms` until the next UTC midnight: in 1..=86_400_000 (a time
/// exactly at midnight gets a whole day). Never panics, for any `i64`.
pub fn ms_until_next_midnight(unix_ms: i64) -> u64 {
    (DAY_MS - unix_ms.rem_euclid(DAY_MS)) as u64
}

/// Appends a header line, without `"\n"`:
/// `0.0.3|<time>|<threshold>|<whoami>|<name>:<ip>:<port>!...`, nodes in the given order.
pub fn write_header(
    out: &mut String,
    time: i64,
    threshold: u32,
    whoami: &str,
    nodes: &[(&str, SocketAddr)],
) {
    write_header_from(out, time, threshold, whoami, nodes.iter().copied());
}

/// [`write_header`] over any iterator of nodes (the journal keeps owned names).
pub(crate) fn write_header_from<'n>(
    out: &mut String,
    time: i64,
    threshold: u32,
    whoami: &str,
    nodes: impl Iterator<Item = (&'n str, SocketAddr)>,
) {
    out.push_str(FORMAT_VERSION);
    out.push('|');
    write_timestamp(out, time);
    out.push('|');
    push_u32(out, threshold);
    out.push('|');
    out.push_str(whoami);
    out.push('|');
    for (i, (name, addr)) in nodes.enumerate() {
        if i > 0 {
            out.push('!');
        }
        out.push_str(name);
        out.push(':');
        // SocketAddr's Display: `ip:port`, `[v6]:port`. Writing to a String cannot fail.
        let _ = write!(out, "{addr}");
    }
}

/// Appends an event line, without `"\n"`: `<time>|<node>|<timeouts>`.
pub fn write_event(out: &mut String, time: i64, node: &str, timeouts: u32) {
    write_timestamp(out, time);
    out.push('|');
    out.push_str(node);
    out.push('|');
    push_u32(out, timeouts);
}

/// Parses one line, given without its `"\n"`. Checks everything a single line can show:
/// field shapes, names ([`crate::name::check`]), canonical numbers and addresses, a
/// threshold of at least 1, a header whose whoami is one of its nodes and whose node
/// names are distinct. Whether an event fits its header is [`check_file`]'s business.
pub fn parse_line(line: &str) -> Result<Line<'_>, LineError> {
    if line.is_empty() {
        return Err(LineError::Empty);
    }
    if line == RESTART {
        return Ok(Line::Restart);
    }
    let mut fields = [""; 5];
    let mut count = 0;
    for field in line.split('|') {
        if let Some(slot) = fields.get_mut(count) {
            *slot = field;
        }
        count += 1;
    }
    match count {
        3 => {
            let time = parse_timestamp(fields[0])?;
            name::check(fields[1]).map_err(LineError::NodeName)?;
            let timeouts = parse_u32(fields[2]).ok_or(LineError::Timeouts)?;
            Ok(Line::Event {
                time,
                node: fields[1],
                timeouts,
            })
        }
        5 if fields[0] == FORMAT_VERSION => {
            let time = parse_timestamp(fields[1])?;
            let threshold = parse_u32(fields[2])
                .filter(|&t| t >= 1)
                .ok_or(LineError::Threshold)?;
            let whoami = fields[3];
            name::check(whoami).map_err(LineError::Whoami)?;
            let nodes = parse_nodes(fields[4])?;
            if !nodes.iter().any(|n| n.name == whoami) {
                return Err(LineError::WhoamiNotListed);
            }
            Ok(Line::Header {
                time,
                threshold,
                whoami,
                nodes,
            })
        }
        5 => Err(LineError::Version),
        n => Err(LineError::FieldCount(n)),
    }
}

fn parse_nodes(field: &str) -> Result<Vec<Node<'_>>, LineError> {
    let mut nodes: Vec<Node<'_>> = Vec::new();
    let mut canonical = String::new();
    for entry in field.split('!') {
        let (name, addr) = entry.split_once(':').ok_or(LineError::NodeEntry)?;
        name::check(name).map_err(LineError::NodeName)?;
        let parsed: SocketAddr = addr.parse().map_err(|_| LineError::Address)?;
        canonical.clear();
        let _ = write!(canonical, "{parsed}");
        if canonical != addr {
            return Err(LineError::Address);
        }
        if nodes.iter().any(|n| n.name == name) {
            return Err(LineError::DuplicateNode);
        }
        nodes.push(Node { name, addr: parsed });
    }
    Ok(nodes)
}

/// What [`check_file`] found about one run: a `---`, its header and the events after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary<'a> {
    /// 1-based line number of the run's `---`.
    pub line: usize,
    /// The header's time.
    pub time: i64,
    /// The header's threshold.
    pub threshold: u32,
    /// The header's whoami.
    pub whoami: &'a str,
    /// The header's nodes.
    pub nodes: Vec<Node<'a>>,
    /// Number of event lines in the run.
    pub events: usize,
    /// Earliest time of the run's header and events.
    pub min_time: i64,
    /// Latest time of the run's header and events.
    pub max_time: i64,
}

/// Checks a whole file strictly: the text is not empty and ends with `"\n"`; every line
/// parses ([`parse_line`]); the first line is `---`; every `---` is followed by a header
/// and every header follows a `---`; every event's node is one of its run's header nodes
/// other than whoami, and its timeouts count is at most the run's threshold. A line cut
/// short by a crash (which the journal ends with `"\n"` before appending more) is an error
/// here. Times are not required to increase (the wall clock may step back).
///
/// Returns one summary per run, or the 1-based number of the first bad line and what is
/// wrong with it.
pub fn check_file(text: &str) -> Result<Vec<RunSummary<'_>>, (usize, LineError)> {
    if text.is_empty() {
        return Err((1, LineError::MissingRestart));
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut runs: Vec<RunSummary<'_>> = Vec::new();
    // Line number of a `---` still waiting for its header.
    let mut awaiting_header: Option<usize> = None;
    let mut last_line = 0;
    for (index, line) in body.split('\n').enumerate() {
        let number = index + 1;
        last_line = number;
        let parsed = parse_line(line).map_err(|e| (number, e))?;
        if number == 1 && parsed != Line::Restart {
            return Err((number, LineError::MissingRestart));
        }
        match parsed {
            Line::Restart => {
                if awaiting_header.is_some() {
                    return Err((number, LineError::MissingHeader));
                }
                awaiting_header = Some(number);
            }
            Line::Header {
                time,
                threshold,
                whoami,
                nodes,
            } => {
                let Some(restart) = awaiting_header.take() else {
                    return Err((number, LineError::StrayHeader));
                };
                runs.push(RunSummary {
                    line: restart,
                    time,
                    threshold,
                    whoami,
                    nodes,
                    events: 0,
                    min_time: time,
                    max_time: time,
                });
            }
            Line::Event {
                time,
                node,
                timeouts,
            } => {
                if awaiting_header.is_some() {
                    return Err((number, LineError::MissingHeader));
                }
                // Line 1 is `---`, so a run exists once no header is awaited.
                let Some(run) = runs.last_mut() else {
                    return Err((number, LineError::MissingHeader));
                };
                if node == run.whoami {
                    return Err((number, LineError::OwnNode));
                }
                if !run.nodes.iter().any(|n| n.name == node) {
                    return Err((number, LineError::UnknownNode));
                }
                if timeouts > run.threshold {
                    return Err((number, LineError::OverThreshold));
                }
                run.events += 1;
                run.min_time = run.min_time.min(time);
                run.max_time = run.max_time.max(time);
            }
        }
    }
    if let Some(restart) = awaiting_header {
        return Err((restart, LineError::MissingHeader));
    }
    if !text.ends_with('\n') {
        return Err((last_line, LineError::MissingNewline));
    }
    Ok(runs)
}

/// Parses `b` as unsigned decimal digits (any count up to 9, leading zeros allowed).
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Parses a canonical decimal `u32`: digits only, no sign, no leading zeros except "0".
fn parse_u32(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 10 || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u32::from(c - b'0'))
        } else {
            None
        }
    })
}

/// Appends `v` in decimal, zero-padded to `width` digits (`v` must have at most `width`).
fn push_digits(out: &mut String, v: u32, width: u32) {
    for i in (0..width).rev() {
        let d = v / 10u32.pow(i) % 10;
        out.push(char::from(b'0' + d as u8));
    }
}

/// Appends `v` in canonical decimal.
fn push_u32(out: &mut String, v: u32) {
    let digits = v.checked_ilog10().unwrap_or(0) + 1;
    push_digits(out, v, digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "---\n\
0.0.3|2026-11-23T20:09:18.938Z|3|node2|node1:127.0.0.1:47001!node2:127.0.0.1:47002!node3:127.0.0.1:47003\n\
2026-11-23T20:09:25.940Z|node1|1\n\
2026-11-23T20:09:26.940Z|node1|2\n\
2026-11-23T20:09:27.940Z|node1|3\n";

    fn ts(ms: i64) -> String {
        let mut s = String::new();
        write_timestamp(&mut s, ms);
        s
    }

    fn at(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn timestamp_edge_cases() {
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1, "1970-01-01T00:00:00.001Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (-1000, "1969-12-31T23:59:59.000Z"),
            (-86_400_000, "1969-12-31T00:00:00.000Z"),
            (-86_400_001, "1969-12-30T23:59:59.999Z"),
            (1_709_164_800_000, "2024-02-29T00:00:00.000Z"),
            (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
            (1_709_251_200_000, "2024-03-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_795_464_565_940, "2026-11-23T20:09:25.940Z"),
            (1_795_478_399_999, "2026-11-23T23:59:59.999Z"),
            (1_795_478_400_000, "2026-11-24T00:00:00.000Z"),
            (253_402_214_400_000, "9999-12-31T00:00:00.000Z"),
            (MAX_TIME, "9999-12-31T23:59:59.999Z"),
            (MIN_TIME, "0000-01-01T00:00:00.000Z"),
            (-62_162_121_600_000, "0000-02-29T00:00:00.000Z"),
        ] {
            assert_eq!(ts(ms), text, "{ms}");
            assert_eq!(parse_timestamp(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn timestamp_clamps_out_of_range_years() {
        assert_eq!(ts(MAX_TIME + 1), "9999-12-31T23:59:59.999Z");
        assert_eq!(ts(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(ts(MIN_TIME - 1), "0000-01-01T00:00:00.000Z");
        assert_eq!(ts(i64::MIN), "0000-01-01T00:00:00.000Z");
        assert_eq!(day_string(i64::MAX), "9999-12-31");
        assert_eq!(day_string(i64::MIN), "0000-01-01");
        assert_eq!(day_number(i64::MAX), day_number(MAX_TIME));
    }

    #[test]
    fn timestamp_round_trips_on_a_sweep() {
        let mut s = String::new();
        let mut ms = MIN_TIME;
        // Steps of a prime number of milliseconds (~ 37 days) across the whole range.
        while ms <= MAX_TIME {
            s.clear();
            write_timestamp(&mut s, ms);
            assert_eq!(s.len(), TIMESTAMP_LEN);
            assert_eq!(parse_timestamp(&s), Ok(ms), "{s}");
            ms += 3_196_800_007;
        }
    }

    #[test]
    fn timestamp_parse_rejects_malformed() {
        for (text, err) in [
            ("", LineError::TimeShape),
            ("2026-11-23T20:09:25.940", LineError::TimeShape),
            ("2026-11-23T20:09:25.940z", LineError::TimeShape),
            ("2026-11-23 20:09:25.940Z", LineError::TimeShape),
            ("2026-11-23T20:09:25.94Z", LineError::TimeShape),
            ("2026-11-23T20:09:25.9400Z", LineError::TimeShape),
            ("2026-11-23T20:09:25Z", LineError::TimeShape),
            ("2026-11-23T20:09:25.940+00:00", LineError::TimeShape),
            ("+026-11-23T20:09:25.940Z", LineError::TimeShape),
            ("2026-1-123T20:09:25.940Z", LineError::TimeShape),
            ("2026-11-23T20:0a:25.940Z", LineError::TimeShape),
            ("2026-11-23T2 :09:25.940Z", LineError::TimeShape),
            ("２026-11-23T20:09:25.940Z", LineError::TimeShape),
            ("2026-13-01T00:00:00.000Z", LineError::TimeDate),
            ("2026-00-01T00:00:00.000Z", LineError::TimeDate),
            ("2026-02-29T00:00:00.000Z", LineError::TimeDate),
            ("1900-02-29T00:00:00.000Z", LineError::TimeDate),
            ("2026-04-31T00:00:00.000Z", LineError::TimeDate),
            ("2026-01-00T00:00:00.000Z", LineError::TimeDate),
            ("2026-01-01T24:00:00.000Z", LineError::TimeOfDay),
            ("2026-01-01T00:60:00.000Z", LineError::TimeOfDay),
            ("2016-12-31T23:59:60.000Z", LineError::TimeOfDay),
        ] {
            assert_eq!(parse_timestamp(text), Err(err), "{text:?}");
        }
        assert_eq!(at("2024-02-29T12:00:00.000Z"), 1_709_208_000_000);
    }

    #[test]
    fn days_and_midnights() {
        assert_eq!(day_string(0), "1970-01-01");
        assert_eq!(day_string(-1), "1969-12-31");
        assert_eq!(day_string(at("2026-11-23T23:59:59.999Z")), "2026-11-23");
        assert_eq!(day_string(at("2026-11-24T00:00:00.000Z")), "2026-11-24");
        assert_eq!(day_string(at("2024-02-29T23:59:59.999Z")), "2024-02-29");
        assert_eq!(ms_until_next_midnight(at("2026-11-23T23:59:59.999Z")), 1);
        assert_eq!(
            ms_until_next_midnight(at("2026-11-24T00:00:00.000Z")),
            86_400_000
        );
        assert_eq!(
            ms_until_next_midnight(at("2026-11-23T20:09:25.940Z")),
            13_834_060
        );
        assert_eq!(ms_until_next_midnight(-1), 1);
        assert!((1..=86_400_000).contains(&ms_until_next_midnight(i64::MIN)));
        assert!((1..=86_400_000).contains(&ms_until_next_midnight(i64::MAX)));
        assert_eq!(
            day_number(at("2026-11-23T23:59:59.999Z")) + 1,
            day_number(at("2026-11-24T00:00:00.000Z"))
        );
    }

    #[test]
    fn design_example_parses_and_reformats_byte_for_byte() {
        let runs = check_file(EXAMPLE).unwrap();
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!(
            (run.line, run.threshold, run.whoami, run.events),
            (1, 3, "node2", 3)
        );
        assert_eq!(run.time, at("2026-11-23T20:09:18.938Z"));
        assert_eq!(run.max_time, at("2026-11-23T20:09:27.940Z"));
        assert_eq!(run.nodes.len(), 3);

        let mut out = String::new();
        for line in EXAMPLE.lines() {
            parse_line(line).unwrap().write(&mut out);
            out.push('\n');
        }
        assert_eq!(out, EXAMPLE);
    }

    #[test]
    fn writers_produce_the_design_example() {
        let nodes: Vec<(&str, SocketAddr)> = vec![
            ("node1", "127.0.0.1:47001".parse().unwrap()),
            ("node2", "127.0.0.1:47002".parse().unwrap()),
            ("node3", "127.0.0.1:47003".parse().unwrap()),
        ];
        let mut out = String::from("---\n");
        write_header(&mut out, at("2026-11-23T20:09:18.938Z"), 3, "node2", &nodes);
        out.push('\n');
        for (t, n) in [
            ("2026-11-23T20:09:25.940Z", 1),
            ("2026-11-23T20:09:26.940Z", 2),
            ("2026-11-23T20:09:27.940Z", 3),
        ] {
            write_event(&mut out, at(t), "node1", n);
            out.push('\n');
        }
        assert_eq!(out, EXAMPLE);
    }

    #[test]
    fn ipv6_nodes_round_trip() {
        let line = "0.0.3|2026-11-23T20:09:18.938Z|4294967295|b|a:[::1]:1!b:10.0.0.2:65535!c:[2001:db8::7]:0";
        match parse_line(line).unwrap() {
            Line::Header {
                threshold, nodes, ..
            } => {
                assert_eq!(threshold, u32::MAX);
                assert_eq!(nodes[0].addr, "[::1]:1".parse().unwrap());
                assert_eq!(nodes[2].name, "c");
            }
            other => panic!("{other:?}"),
        }
        let mut out = String::new();
        parse_line(line).unwrap().write(&mut out);
        assert_eq!(out, line);
    }

    #[test]
    fn events_parse() {
        assert_eq!(
            parse_line("2026-11-23T20:09:25.940Z|node1|0"),
            Ok(Line::Event {
                time: at("2026-11-23T20:09:25.940Z"),
                node: "node1",
                timeouts: 0
            })
        );
        assert_eq!(
            parse_line("2026-11-23T20:09:25.940Z|router-3.lan|4294967295"),
            Ok(Line::Event {
                time: at("2026-11-23T20:09:25.940Z"),
                node: "router-3.lan",
                timeouts: u32::MAX
            })
        );
        assert_eq!(parse_line("---"), Ok(Line::Restart));
        // Names follow crate::name, whatever its exact rule.
        assert_eq!(
            parse_line("2026-11-23T20:09:25.940Z|caf\u{e9}|1"),
            Err(LineError::NodeName(name::check("caf\u{e9}").unwrap_err()))
        );
    }

    #[test]
    fn parse_line_rejects_malformed() {
        const H: &str =
            "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node1:127.0.0.1:47001!node2:127.0.0.1:47002";
        assert!(parse_line(H).is_ok());
        let cases: &[(&str, LineError)] = &[
            ("", LineError::Empty),
            ("--", LineError::FieldCount(1)),
            ("----", LineError::FieldCount(1)),
            ("--- ", LineError::FieldCount(1)),
            ("---\r", LineError::FieldCount(1)),
            // events
            ("2026-11-23T20:09:25.940Z|node1", LineError::FieldCount(2)),
            (
                "2026-11-23T20:09:25.940Z|node1|1|",
                LineError::FieldCount(4),
            ),
            (
                "2026-11-23T20:09:25.940Z|node1|1|2|3|4",
                LineError::FieldCount(6),
            ),
            ("2026-11-23T20:09:25.940|node1|1", LineError::TimeShape),
            ("2026-02-30T20:09:25.940Z|node1|1", LineError::TimeDate),
            (
                "2026-11-23T20:09:25.940Z||1",
                LineError::NodeName(NameError::Empty),
            ),
            (
                "2026-11-23T20:09:25.940Z|no de|1",
                LineError::NodeName(NameError::Forbidden(' ')),
            ),
            ("2026-11-23T20:09:25.940Z|node1|01", LineError::Timeouts),
            ("2026-11-23T20:09:25.940Z|node1|00", LineError::Timeouts),
            ("2026-11-23T20:09:25.940Z|node1|+1", LineError::Timeouts),
            ("2026-11-23T20:09:25.940Z|node1|-1", LineError::Timeouts),
            ("2026-11-23T20:09:25.940Z|node1|", LineError::Timeouts),
            ("2026-11-23T20:09:25.940Z|node1| 1", LineError::Timeouts),
            ("2026-11-23T20:09:25.940Z|node1|1\r", LineError::Timeouts),
            (
                "2026-11-23T20:09:25.940Z|node1|4294967296",
                LineError::Timeouts,
            ),
            (
                "2026-11-23T20:09:25.940Z|node1|99999999999",
                LineError::Timeouts,
            ),
            // headers
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2",
                LineError::FieldCount(4),
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:127.0.0.1:1|x",
                LineError::FieldCount(6),
            ),
            (
                "0.0.2|2026-11-23T20:09:18.938Z|3|node2|node2:127.0.0.1:1",
                LineError::Version,
            ),
            (
                "0.0.3|2026-11-23T20:09:18Z|3|node2|node2:127.0.0.1:1",
                LineError::TimeShape,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|0|node2|node2:127.0.0.1:1",
                LineError::Threshold,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|03|node2|node2:127.0.0.1:1",
                LineError::Threshold,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z||node2|node2:127.0.0.1:1",
                LineError::Threshold,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|4294967296|node2|node2:127.0.0.1:1",
                LineError::Threshold,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|no/de|node2:127.0.0.1:1",
                LineError::Whoami(NameError::Forbidden('/')),
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3||node2:127.0.0.1:1",
                LineError::Whoami(NameError::Empty),
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|",
                LineError::NodeEntry,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2",
                LineError::NodeEntry,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:127.0.0.1:1!",
                LineError::NodeEntry,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:127.0.0.1:1!!a:127.0.0.1:2",
                LineError::NodeEntry,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|:127.0.0.1:1",
                LineError::NodeName(NameError::Empty),
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:127.0.0.1",
                LineError::Address,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:127.0.0.1:",
                LineError::Address,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:127.0.0.1:65536",
                LineError::Address,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:127.0.0.1:01",
                LineError::Address,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:localhost:1",
                LineError::Address,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:::1:1",
                LineError::Address,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:[0::1]:1",
                LineError::Address,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:127.0.0.1:1 ",
                LineError::Address,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node2:127.0.0.1:1!node2:127.0.0.1:2",
                LineError::DuplicateNode,
            ),
            (
                "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node1:127.0.0.1:1",
                LineError::WhoamiNotListed,
            ),
        ];
        for (line, err) in cases {
            assert_eq!(parse_line(line), Err(*err), "{line:?}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn parse_line_never_panics_on_mutations() {
        // Every single-byte truncation and a few substitutions of a valid header and event.
        let lines = [
            "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node1:127.0.0.1:47001!node2:[::1]:47002",
            "2026-11-23T20:09:25.940Z|node1|1",
        ];
        for line in lines {
            for cut in 0..=line.len() {
                if let Some(prefix) = line.get(..cut) {
                    let _ = parse_line(prefix);
                }
                for sub in ["|", "!", ":", "", "\u{e9}", "9", "["] {
                    if let (Some(a), Some(b)) = (line.get(..cut), line.get(cut + 1..)) {
                        let _ = parse_line(&format!("{a}{sub}{b}"));
                    }
                }
            }
        }
    }

    #[test]
    fn check_file_accepts_several_runs() {
        let text = format!(
            "{EXAMPLE}---\n0.0.3|2026-11-23T21:00:00.000Z|1|node2|node2:127.0.0.1:47002!node3:127.0.0.1:47003\n\
             2026-11-23T20:59:00.000Z|node3|1\n---\n0.0.3|2026-11-23T22:00:00.000Z|3|node2|node2:127.0.0.1:47002\n"
        );
        let runs = check_file(&text).unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!((runs[1].line, runs[1].events, runs[1].threshold), (6, 1, 1));
        assert_eq!(runs[1].min_time, at("2026-11-23T20:59:00.000Z"));
        assert_eq!(runs[1].max_time, at("2026-11-23T21:00:00.000Z"));
        assert_eq!((runs[2].line, runs[2].events), (9, 0));
    }

    #[test]
    fn check_file_reports_the_bad_line() {
        let header =
            "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node1:127.0.0.1:47001!node2:127.0.0.1:47002";
        let event = "2026-11-23T20:09:25.940Z|node1|1";
        let cases: Vec<(String, (usize, LineError))> = vec![
            (String::new(), (1, LineError::MissingRestart)),
            ("\n".into(), (1, LineError::Empty)),
            (format!("{header}\n"), (1, LineError::MissingRestart)),
            (format!("{event}\n"), (1, LineError::MissingRestart)),
            ("---\n".into(), (1, LineError::MissingHeader)),
            (format!("---\n{event}\n"), (2, LineError::MissingHeader)),
            (
                format!("---\n---\n{header}\n"),
                (2, LineError::MissingHeader),
            ),
            (
                format!("---\n{header}\n{header}\n"),
                (3, LineError::StrayHeader),
            ),
            (
                format!("---\n{header}\n{event}"),
                (3, LineError::MissingNewline),
            ),
            (format!("---\n{header}"), (2, LineError::MissingNewline)),
            (format!("---\n{header}\n\n{event}\n"), (3, LineError::Empty)),
            (format!("---\n{header}\n{event}\n\n"), (4, LineError::Empty)),
            (format!("---\n{header}\r\n"), (2, LineError::Address)),
            (
                format!("---\n{header}\n2026-11-23T20:09:25.940Z|node2|1\n"),
                (3, LineError::OwnNode),
            ),
            (
                format!("---\n{header}\n2026-11-23T20:09:25.940Z|node3|1\n"),
                (3, LineError::UnknownNode),
            ),
            (
                format!("---\n{header}\n2026-11-23T20:09:25.940Z|node1|4\n"),
                (3, LineError::OverThreshold),
            ),
            // A line cut by a crash, ended by the journal before the next restart.
            (
                format!("---\n{header}\n{event}\n2026-11-23T20:09:26.940Z|nod\n---\n{header}\n"),
                (4, LineError::FieldCount(2)),
            ),
            (
                format!("---\n{header}\n{event}\n---\n"),
                (4, LineError::MissingHeader),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(check_file(&text).map(|_| ()), Err(expected), "{text:?}");
        }
    }
}
