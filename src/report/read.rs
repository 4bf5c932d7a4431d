//! Reading one log file, one line at a time.
//!
//! [`read_file`] streams one file through a [`Sink`]: every line is parsed by the log
//! format's own parser ([`logline::parse_line`]); on top of it this module checks what
//! [`logline::check_file`] checks for a whole file (a `---` first, a header after every
//! `---`, events about the header's other nodes, counts up to its threshold), plus that
//! the header's whoami is the file name's and that every time falls on the file's day
//! (the journal guarantees both).
//!
//! A bad line is reported as `file:line: reason` to [`Problems`] and skipped; reading goes
//! on. Memory is one line buffer (lines are capped at [`MAX_LINE`] bytes) and the current
//! header's node names, whatever the size of the file. Nothing here panics on any input.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use crate::logline::{self, Line, LineError, Node};
use crate::report::find::LogFile;
use crate::report::units;

/// Longest line read, in bytes: the longest header a daemon writes (a mesh of 1024
/// nodes with the longest names and IPv6 addresses, about 124 KiB).
pub const MAX_LINE: usize = logline::MAX_HEADER_LEN;

/// Problems shown per file before the rest are only counted.
const SHOWN_PER_FILE: u64 = 20;

/// Where problems in the input go: `file:line: reason` lines, at most a few per file
/// (the rest are counted), and the total.
pub struct Problems<'w> {
    out: &'w mut dyn Write,
    /// Problems found so far, shown or not.
    pub count: u64,
    in_file: u64,
}

impl<'w> Problems<'w> {
    /// Problems written to `out` (stderr for the command line).
    pub fn new(out: &'w mut dyn Write) -> Problems<'w> {
        Problems {
            out,
            count: 0,
            in_file: 0,
        }
    }

    /// Reports a problem at `path:line` (or at `path` when `line` is `None`).
    pub fn report(&mut self, path: &Path, line: Option<usize>, reason: impl fmt::Display) {
        self.count += 1;
        self.in_file += 1;
        if self.in_file > SHOWN_PER_FILE {
            return;
        }
        // A closed stderr must not stop the report.
        let _ = match line {
            Some(n) => writeln!(self.out, "{}:{n}: {reason}", path.display()),
            None => writeln!(self.out, "{}: {reason}", path.display()),
        };
    }

    /// Reports a problem found after reading, about lines `first..=last` of `path`
    /// (`path:first-last: reason`). Not capped: such problems are few (one per stretch of
    /// a log, see [`crate::report::clocks`]).
    pub fn report_lines(
        &mut self,
        path: &Path,
        first: usize,
        last: usize,
        reason: impl fmt::Display,
    ) {
        self.count += 1;
        let _ = if first == last {
            writeln!(self.out, "{}:{first}: {reason}", path.display())
        } else {
            writeln!(self.out, "{}:{first}-{last}: {reason}", path.display())
        };
    }

    /// Ends a file: says how many of its problems were not shown.
    fn end_file(&mut self, path: &Path) {
        if self.in_file > SHOWN_PER_FILE {
            let _ = writeln!(
                self.out,
                "{}: {} more problem(s) in this file not shown",
                path.display(),
                self.in_file - SHOWN_PER_FILE
            );
        }
        self.in_file = 0;
    }
}

/// What [`read_file`] hands over, in file order. Only lines that passed every check.
pub trait Sink {
    /// A file of day `day` starts.
    fn file_start(&mut self, day: i64);
    /// A valid header (after its `---`) on line `line` of the file. `first_in_file` is true
    /// for the file's first run: only that one can be a midnight switch continuing the day
    /// before.
    fn header(
        &mut self,
        line: usize,
        time: i64,
        threshold: u32,
        nodes: &[Node<'_>],
        first_in_file: bool,
    );
    /// A `---` whose header is bad or missing: the logging restarted, but what followed is
    /// unreadable until the next valid `---` and header.
    fn lost_run(&mut self);
    /// A valid event of the current run, on line `line` of the file.
    fn event(&mut self, line: usize, time: i64, node: &str, timeouts: u32);
    /// The file ended.
    fn file_end(&mut self);
    /// False once the sink needs no more lines (it has read past the window's end).
    fn wants_more(&self) -> bool;
}

/// Where a file's reading stands.
enum State {
    /// Before the first `---`.
    Start,
    /// After a `---` on this line, waiting for its header.
    AwaitHeader(usize),
    /// In a run with this header.
    Run { threshold: u32, nodes: Vec<String> },
    /// After a bad header: events are skipped until the next `---`; the first skipped
    /// event is reported.
    Lost { reported: bool },
}

/// Reads one file of `whoami`, feeding valid lines to `sink` and reporting bad ones.
/// Returns the number of lines read.
pub fn read_file(
    file: &LogFile,
    whoami: &str,
    problems: &mut Problems<'_>,
    sink: &mut dyn Sink,
) -> u64 {
    let path = file.path.as_path();
    let handle = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            problems.report(path, None, format_args!("cannot open: {e}"));
            return 0;
        }
    };
    sink.file_start(file.day);
    let mut reader = LineReader::new(BufReader::with_capacity(64 * 1024, handle));
    let mut read = FileRead {
        path,
        whoami,
        day: file.day,
        day_range: units::day_start(file.day)..units::day_start(file.day + 1),
        state: State::Start,
        headers: 0,
        problems,
        sink,
    };
    while read.sink.wants_more() {
        let (number, got) = match reader.next_line() {
            Ok(got) => got,
            Err(e) => {
                read.problems
                    .report(path, None, format_args!("read error: {e}"));
                break;
            }
        };
        let text = match got {
            Got::Eof if number == 0 => {
                read.problems
                    .report(path, None, "empty file (no \"---\" and header)");
                break;
            }
            Got::Eof => break,
            Got::TooLong => {
                read.problems.report(
                    path,
                    Some(number),
                    format_args!("line longer than {MAX_LINE} bytes"),
                );
                continue;
            }
            Got::Line {
                text: _,
                newline: false,
            } => {
                read.problems
                    .report(path, Some(number), LineError::MissingNewline);
                break;
            }
            Got::Line {
                text,
                newline: true,
            } => text,
        };
        let Ok(text) = std::str::from_utf8(text) else {
            read.problems.report(path, Some(number), "not UTF-8 text");
            continue;
        };
        match logline::parse_line(text) {
            Ok(line) => read.line(number, line),
            Err(e) => read.problems.report(path, Some(number), e),
        }
    }
    read.finish();
    reader.number as u64
}

/// One file being read: where it stands, and where its lines and problems go.
struct FileRead<'a, 'p> {
    path: &'a Path,
    whoami: &'a str,
    /// The file's day (its name's), and its times.
    day: i64,
    day_range: std::ops::Range<i64>,
    state: State,
    /// Valid headers so far.
    headers: usize,
    problems: &'a mut Problems<'p>,
    sink: &'a mut dyn Sink,
}

impl FileRead<'_, '_> {
    /// Line `number`, parsed.
    fn line(&mut self, number: usize, line: Line<'_>) {
        match line {
            Line::Restart => {
                if let State::AwaitHeader(at) = self.state {
                    self.problems
                        .report(self.path, Some(at), LineError::MissingHeader);
                    self.sink.lost_run();
                }
                self.state = State::AwaitHeader(number);
            }
            Line::Header {
                time,
                threshold,
                whoami,
                nodes,
            } => self.header(number, time, threshold, whoami, &nodes),
            Line::Event {
                time,
                node,
                timeouts,
            } => self.event(number, time, node, timeouts),
        }
    }

    /// Whether `time` falls on the file's day.
    fn on_day(&self, time: i64) -> bool {
        self.day_range.contains(&time)
    }

    /// A header at line `number`: it must follow a `---`, name the file's node and fall
    /// on the file's day.
    fn header(
        &mut self,
        number: usize,
        time: i64,
        threshold: u32,
        header_whoami: &str,
        nodes: &[Node<'_>],
    ) {
        let path = self.path;
        if !matches!(self.state, State::AwaitHeader(_)) {
            let e = if number == 1 {
                LineError::MissingRestart
            } else {
                LineError::StrayHeader
            };
            return self.problems.report(path, Some(number), e);
        }
        let whoami = self.whoami;
        let problem = if header_whoami != whoami {
            Some(format!(
                "the header's whoami {header_whoami:?} is not the file name's {whoami:?}"
            ))
        } else if !self.on_day(time) {
            Some(off_day(self.day))
        } else {
            None
        };
        if let Some(p) = problem {
            self.problems.report(path, Some(number), p);
            self.sink.lost_run();
            self.state = State::Lost { reported: false };
            return;
        }
        self.sink
            .header(number, time, threshold, nodes, self.headers == 0);
        self.headers += 1;
        self.state = State::Run {
            threshold,
            nodes: nodes
                .iter()
                .filter(|n| n.name != whoami)
                .map(|n| n.name.to_string())
                .collect(),
        };
    }

    /// An event at line `number`: it must be in a run, about one of its other nodes,
    /// within its threshold, on the file's day.
    fn event(&mut self, number: usize, time: i64, node: &str, timeouts: u32) {
        let path = self.path;
        let on_day = self.on_day(time);
        match &mut self.state {
            State::Run { threshold, nodes } => {
                let problem = if node == self.whoami {
                    Some(LineError::OwnNode.to_string())
                } else if !nodes.iter().any(|n| n == node) {
                    Some(LineError::UnknownNode.to_string())
                } else if timeouts > *threshold {
                    Some(LineError::OverThreshold.to_string())
                } else if !on_day {
                    Some(off_day(self.day))
                } else {
                    None
                };
                match problem {
                    Some(p) => self.problems.report(path, Some(number), p),
                    None => self.sink.event(number, time, node, timeouts),
                }
            }
            State::Lost { reported } => {
                if !*reported {
                    let reason = "event after a bad header; skipped";
                    self.problems.report(path, Some(number), reason);
                    *reported = true;
                }
            }
            State::Start => {
                self.problems
                    .report(path, Some(number), LineError::MissingRestart);
                self.state = State::Lost { reported: true };
            }
            State::AwaitHeader(_) => {
                self.problems
                    .report(path, Some(number), LineError::MissingHeader);
                self.sink.lost_run();
                self.state = State::Lost { reported: true };
            }
        }
    }

    /// The file ended (or the sink wants no more): a `---` left without its header is
    /// reported.
    fn finish(self) {
        if let State::AwaitHeader(at) = self.state
            && self.sink.wants_more()
        {
            self.problems
                .report(self.path, Some(at), LineError::MissingHeader);
            self.sink.lost_run();
        }
        self.sink.file_end();
        self.problems.end_file(self.path);
    }
}

fn off_day(day: i64) -> String {
    format!(
        "the time is not on the file's day {}",
        logline::day_string(units::day_start(day))
    )
}

/// What [`LineReader::next_line`] found.
enum Got<'a> {
    /// A line without its `"\n"`; `newline` is false for a last line without one.
    Line { text: &'a [u8], newline: bool },
    /// A line over [`MAX_LINE`] bytes (skipped up to its end).
    TooLong,
    /// End of the file.
    Eof,
}

/// Reads `"\n"`-ended lines with a cap on their length, reusing one buffer.
struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// 1-based number of the line last returned.
    number: usize,
}

impl<R: BufRead> LineReader<R> {
    fn new(inner: R) -> LineReader<R> {
        LineReader {
            inner,
            buf: Vec::with_capacity(256),
            number: 0,
        }
    }

    /// The next line and its 1-based number.
    fn next_line(&mut self) -> io::Result<(usize, Got<'_>)> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        let newline = loop {
            let chunk = match self.inner.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break false;
            }
            any = true;
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                let part = chunk.get(..take).unwrap_or_default();
                if self.buf.len() + part.len() > MAX_LINE {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(part);
                }
            }
            self.inner.consume(take + usize::from(found));
            if found {
                break true;
            }
        };
        if !any {
            return Ok((self.number, Got::Eof));
        }
        self.number += 1;
        if too_long {
            return Ok((self.number, Got::TooLong));
        }
        Ok((
            self.number,
            Got::Line {
                text: &self.buf,
                newline,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::find::parse_file_name;
    use std::fs;

    /// Records what `read_file` hands over.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl Sink for Recorder {
        fn file_start(&mut self, _: i64) {}
        fn header(&mut self, _: usize, time: i64, threshold: u32, nodes: &[Node<'_>], first: bool) {
            self.0.push(format!(
                "header {} {threshold} {} {first}",
                time % 1000,
                nodes.len()
            ));
        }
        fn lost_run(&mut self) {
            self.0.push("lost".into());
        }
        fn event(&mut self, _: usize, time: i64, node: &str, timeouts: u32) {
            self.0
                .push(format!("event {} {node} {timeouts}", time % 1000));
        }
        fn file_end(&mut self) {
            self.0.push("end".into());
        }
        fn wants_more(&self) -> bool {
            true
        }
    }

    fn read_text(name: &str, text: &str) -> (Vec<String>, String) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "uptime-tracker-read-test-{}-{n}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        let (day, whoami) = parse_file_name(name).unwrap();
        let mut out = Vec::new();
        let mut problems = Problems::new(&mut out);
        let mut rec = Recorder::default();
        read_file(&LogFile { day, path }, whoami, &mut problems, &mut rec);
        let _ = fs::remove_dir_all(&dir);
        let shown = String::from_utf8(out).unwrap();
        (rec.0, shown.replace(&format!("{}/", dir.display()), ""))
    }

    #[test]
    fn read_file_checks_the_structure() {
        let h = |ms: &str, who: &str| {
            format!("0.0.3|2026-11-23T10:00:00.{ms}Z|3|{who}|a:127.0.0.1:1!b:127.0.0.2:1\n")
        };
        let text = [
            h("001", "a"),                           // 1: header before any ---
            "---\n".into(),                          // 2
            "2026-11-23T10:00:01.002Z|b|1\n".into(), // 3: event instead of a header
            "---\n".into(),                          // 4
            h("004", "b"),                           // 5: whoami of another node
            "2026-11-23T10:00:01.006Z|b|1\n".into(), // 6: skipped, reported
            "2026-11-23T10:00:01.007Z|b|2\n".into(), // 7: skipped, not reported
            "---\n".into(),                          // 8
            h("009", "a"),                           // 9
            h("010", "a"),                           // 10: stray header
            "2026-11-23T10:00:01.011Z|b|0\n".into(), // 11
            "2026-11-23T10:00:01.012Z|a|1\n".into(), // 12: own node
            "---\n".into(),                          // 13: at the end, no header
        ]
        .concat();
        let (calls, problems) = read_text("2026-11-23-a.log", &text);
        assert_eq!(
            calls,
            [
                "lost",
                "lost",
                "header 9 3 2 true",
                "event 11 b 0",
                "lost",
                "end"
            ]
        );
        let problems: Vec<&str> = problems.lines().collect();
        assert_eq!(
            problems,
            [
                "2026-11-23-a.log:1: the file does not start with \"---\"",
                "2026-11-23-a.log:3: \"---\" is not followed by a header line",
                "2026-11-23-a.log:5: the header's whoami \"b\" is not the file name's \"a\"",
                "2026-11-23-a.log:6: event after a bad header; skipped",
                "2026-11-23-a.log:10: a header line that does not follow \"---\"",
                "2026-11-23-a.log:12: the event is about the header's whoami itself",
                "2026-11-23-a.log:13: \"---\" is not followed by a header line",
            ]
        );
    }

    #[test]
    fn the_longest_header_a_daemon_writes_is_read() {
        use crate::config::MAX_NODES;
        use crate::name::MAX_NAME_LEN;
        use std::net::SocketAddr;
        // The largest mesh, the longest names, IPv6 addresses with no zeros to shorten.
        let names: Vec<String> = (0..MAX_NODES)
            .map(|i| format!("{i:04}{}", "n".repeat(MAX_NAME_LEN - 4)))
            .collect();
        let nodes: Vec<(&str, SocketAddr)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let addr = format!("[fd01:1111:2222:3333:4444:5555:{:04x}:ffff]:65535", i + 1);
                (n.as_str(), addr.parse().unwrap())
            })
            .collect();
        let whoami = names[0].as_str();
        let mut text = String::from("---\n");
        let time = 1_795_428_000_000; // 2026-11-23T10:00:00.000Z
        logline::write_header(&mut text, time, u32::MAX, whoami, &nodes);
        let header = text.len() - 4 + 1;
        assert!(header > 64 * 1024, "{header} bytes");
        assert!(header <= MAX_LINE, "{header} bytes, MAX_LINE {MAX_LINE}");
        text.push('\n');
        logline::write_event(&mut text, time + 1, &names[1], 1);
        text.push('\n');
        let (calls, problems) = read_text(&format!("2026-11-23-{whoami}.log"), &text);
        assert_eq!(problems, "");
        let header = format!("header 0 {} {MAX_NODES} true", u32::MAX);
        let event = format!("event 1 {} 1", names[1]);
        assert_eq!(calls, [header, event, "end".to_string()]);
    }

    #[test]
    fn problems_are_capped_per_file() {
        let text = "junk\n".repeat(25);
        let (_, problems) = read_text("2026-11-23-a.log", &text);
        let lines: Vec<&str> = problems.lines().collect();
        assert_eq!(lines.len(), 21);
        assert_eq!(
            lines[20],
            "2026-11-23-a.log: 5 more problem(s) in this file not shown"
        );
    }

    fn lines_of(input: &[u8]) -> Vec<String> {
        let mut r = LineReader::new(io::BufReader::with_capacity(7, input));
        let mut out = Vec::new();
        loop {
            match r.next_line().unwrap() {
                (_, Got::Eof) => return out,
                (n, Got::TooLong) => out.push(format!("{n}:TOO LONG")),
                (n, Got::Line { text, newline }) => out.push(format!(
                    "{}:{}{}",
                    n,
                    String::from_utf8_lossy(text),
                    if newline { "" } else { " (no newline)" }
                )),
            }
        }
    }

    #[test]
    fn line_reader_splits_caps_and_numbers() {
        assert_eq!(lines_of(b""), Vec::<String>::new());
        assert_eq!(lines_of(b"a\n\nbc\n"), ["1:a", "2:", "3:bc"]);
        assert_eq!(lines_of(b"a\nlast"), ["1:a", "2:last (no newline)"]);
        let mut long = vec![b'x'; MAX_LINE + 1];
        long.extend_from_slice(b"\nok\n");
        assert_eq!(lines_of(&long), ["1:TOO LONG", "2:ok"]);
        let mut exact = vec![b'y'; MAX_LINE];
        exact.push(b'\n');
        assert_eq!(lines_of(&exact).len(), 1);
        assert!(!lines_of(&exact)[0].contains("TOO LONG"));
    }
}
