//! The log format 0.0.3 reader and writers.
//!
//! Input: a log file's bytes (invalid UTF-8 replaced). Its first 16 bytes also give two
//! times for the timestamp checks.
//!
//! Checks:
//! - every line that `parse_line` accepts is re-formatted by `Line::write` to the very
//!   same bytes, which parse to the same `Line`;
//! - `check_file` never panics; when it accepts a file, the file has one `---` and one
//!   header per run plus the runs' events (line numbers, counts, times, thresholds and
//!   whoami as summarised), every line parses, it ends with `\n`, and each event's node
//!   is a non-whoami node of its run within the threshold; when it rejects a file, the
//!   line it names exists and every line before it parses;
//! - timestamps: `parse_timestamp(write_timestamp(t)) == t` for t in
//!   `MIN_TIME..=MAX_TIME` (clamped outside), 24 bytes, and string order is time order;
//!   `day_string` is the timestamp's date, `day_number` its day, and
//!   `ms_until_next_midnight` lands exactly on the next UTC midnight;
//! - the writers' output parses back: `write_event` with a valid name, `write_header`
//!   with a parsed header's nodes.

#![no_main]

mod common;

use common::Input;
use libfuzzer_sys::fuzz_target;
use uptime_tracker::logline::{
    self, DAY_MS, Line, LineError, MAX_TIME, MIN_TIME, check_file, parse_line, parse_timestamp,
    write_event, write_header, write_timestamp,
};
use uptime_tracker::name;

fn timestamp(t: i64) -> String {
    let mut s = String::new();
    write_timestamp(&mut s, t);
    s
}

fn check_time(t: i64) {
    let clamped = t.clamp(MIN_TIME, MAX_TIME);
    let s = timestamp(t);
    assert_eq!(s.len(), 24, "{s}");
    assert_eq!(parse_timestamp(&s), Ok(clamped), "{t} -> {s}");
    assert_eq!(logline::day_string(t), s[..10]);
    let day = logline::day_number(t);
    assert_eq!(day, clamped.div_euclid(DAY_MS));
    let midnight = format!("{}T00:00:00.000Z", &s[..10]);
    assert_eq!(parse_timestamp(&midnight), Ok(day * DAY_MS), "{midnight}");
    let wait = logline::ms_until_next_midnight(t);
    assert!((1..=DAY_MS as u64).contains(&wait), "{t}: {wait}");
    assert_eq!(
        (i128::from(t) + i128::from(wait)).rem_euclid(i128::from(DAY_MS)),
        0
    );
}

/// A time spread over the whole writable range, with a margin on either side.
fn in_range(raw: u64) -> i64 {
    let span = (MAX_TIME - MIN_TIME + 1 + 2_000) as u64;
    MIN_TIME - 1_000 + (raw % span) as i64
}

fn check_line_round_trip(line: &str) {
    let Ok(parsed) = parse_line(line) else { return };
    let mut out = String::new();
    parsed.write(&mut out);
    assert_eq!(out, line, "re-formatted differently");
    assert_eq!(parse_line(&out).as_ref(), Ok(&parsed));
    // The writers agree with `Line::write`.
    let mut direct = String::new();
    match &parsed {
        Line::Restart => direct.push_str(logline::RESTART),
        Line::Header {
            time,
            threshold,
            whoami,
            nodes,
        } => {
            let list: Vec<_> = nodes.iter().map(|n| (n.name, n.addr)).collect();
            write_header(&mut direct, *time, *threshold, whoami, &list);
        }
        Line::Event {
            time,
            node,
            timeouts,
        } => write_event(&mut direct, *time, node, *timeouts),
    }
    assert_eq!(direct, line);
}

fn check_whole_file(text: &str) {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<&str> = body.split('\n').collect();
    match check_file(text) {
        Ok(runs) => {
            assert!(text.ends_with('\n'));
            assert!(!runs.is_empty(), "an accepted file has a run");
            let events: usize = runs.iter().map(|r| r.events).sum();
            assert_eq!(
                lines.len(),
                2 * runs.len() + events,
                "lines unaccounted for"
            );
            assert_eq!(runs[0].line, 1);
            for (i, run) in runs.iter().enumerate() {
                let end = runs.get(i + 1).map_or(lines.len() + 1, |next| next.line);
                assert!(run.line < end);
                assert_eq!(end - run.line, 2 + run.events, "run at line {}", run.line);
                assert_eq!(lines[run.line - 1], "---");
                let Ok(Line::Header {
                    time,
                    threshold,
                    whoami,
                    nodes,
                }) = parse_line(lines[run.line])
                else {
                    panic!("no header after the --- of line {}", run.line);
                };
                assert_eq!(
                    (time, threshold, whoami, &nodes),
                    (run.time, run.threshold, run.whoami, &run.nodes)
                );
                assert!(threshold >= 1);
                assert!(nodes.iter().any(|n| n.name == whoami));
                let (mut min, mut max) = (time, time);
                for line in &lines[run.line + 1..end - 1] {
                    let Ok(Line::Event {
                        time,
                        node,
                        timeouts,
                    }) = parse_line(line)
                    else {
                        panic!("not an event: {line:?}");
                    };
                    assert_ne!(node, whoami);
                    assert!(nodes.iter().any(|n| n.name == node));
                    assert!(timeouts <= threshold);
                    min = min.min(time);
                    max = max.max(time);
                }
                assert_eq!((min, max), (run.min_time, run.max_time));
            }
        }
        Err((number, e)) => {
            assert!(
                (1..=lines.len()).contains(&number),
                "line {number} of {}: {e:?}",
                lines.len()
            );
            for line in &lines[..number - 1] {
                assert!(
                    parse_line(line).is_ok(),
                    "line before the error fails: {line:?}"
                );
            }
            if e == LineError::MissingNewline {
                assert!(!text.ends_with('\n'));
                assert_eq!(number, lines.len());
            }
            assert!(!e.to_string().is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    for line in text.split('\n') {
        check_line_round_trip(line);
    }
    check_whole_file(&text);

    // Timestamps, from the first 16 bytes.
    let mut input = Input::new(data);
    let (a, b) = (input.u64(), input.u64());
    check_time(a as i64);
    let (t1, t2) = (in_range(a), in_range(b));
    check_time(t1);
    check_time(t2);
    let (s1, s2) = (timestamp(t1), timestamp(t2));
    assert_eq!(
        s1.cmp(&s2),
        t1.clamp(MIN_TIME, MAX_TIME)
            .cmp(&t2.clamp(MIN_TIME, MAX_TIME)),
        "{s1} vs {s2}"
    );
    // Any 24 bytes that parse as a timestamp are the canonical spelling of that time.
    if let Some(head) = text.get(..24)
        && let Ok(t) = parse_timestamp(head)
    {
        assert_eq!(timestamp(t), head);
    }

    // The event writer with a name from the input, when it is a valid name.
    let name = text.split(['\n', '|']).nth(1).unwrap_or("");
    if name::check(name).is_ok() {
        let mut line = String::new();
        write_event(&mut line, t1, name, b as u32);
        assert_eq!(
            parse_line(&line),
            Ok(Line::Event {
                time: t1.clamp(MIN_TIME, MAX_TIME),
                node: name,
                timeouts: b as u32,
            })
        );
    }
});
