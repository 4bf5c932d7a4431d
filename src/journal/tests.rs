//! The journal's tests: the planner and the file store together, inline (as at start),
//! and the writer thread with a disk that hangs.

use super::*;
use crate::logline::{self, LineError, check_file, parse_timestamp};
use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "uptime-tracker-journal-test-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const EXAMPLE: &str = "---\n\
0.0.3|2026-11-23T20:09:18.938Z|3|node2|node1:127.0.0.1:47001!node2:127.0.0.1:47002!node3:127.0.0.1:47003\n\
2026-11-23T20:09:25.940Z|node1|1\n\
2026-11-23T20:09:26.940Z|node1|2\n\
2026-11-23T20:09:27.940Z|node1|3\n";

const HEADER_TAIL: &str =
    "|3|node2|node1:127.0.0.1:47001!node2:127.0.0.1:47002!node3:127.0.0.1:47003\n";

fn at(s: &str) -> i64 {
    parse_timestamp(s).unwrap()
}

/// Both clocks at wall time `s` (the monotonic clock at 0).
fn w(s: &str) -> Now {
    Now::ms(0, at(s))
}

/// Both clocks at wall time `wall` (the monotonic clock at 0).
fn ww(wall: i64) -> Now {
    Now::ms(0, wall)
}

type Nodes = Vec<(&'static str, SocketAddr)>;

fn nodes() -> Nodes {
    vec![
        ("node1", "127.0.0.1:47001".parse().unwrap()),
        ("node2", "127.0.0.1:47002".parse().unwrap()),
        ("node3", "127.0.0.1:47003".parse().unwrap()),
    ]
}

fn open(dir: &Path, now: &str) -> Journal {
    Journal::open(dir, "node2", 3, &nodes(), at(now)).unwrap()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

/// The file passes check_file and every time in it is on `day`.
fn assert_clean(path: &Path, day: &str) {
    let text = read(path);
    let runs = check_file(&text).unwrap_or_else(|e| panic!("{}: {e:?}\n{text}", path.display()));
    for run in runs {
        assert_eq!(logline::day_string(run.min_time), day, "{text}");
        assert_eq!(logline::day_string(run.max_time), day, "{text}");
    }
    assert!(path.ends_with(format!("{day}-node2.log")));
}

#[test]
fn writes_the_design_example_byte_for_byte() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:09:18.938Z");
    assert_eq!(j.path(), dir.0.join("2026-11-23-node2.log"));
    for (t, n) in [
        ("2026-11-23T20:09:25.940Z", 1),
        ("2026-11-23T20:09:26.940Z", 2),
        ("2026-11-23T20:09:27.940Z", 3),
    ] {
        j.record(w(t), "node1", n).unwrap();
    }
    assert_eq!(read(j.path()), EXAMPLE);
    assert_clean(j.path(), "2026-11-23");
}

#[test]
fn creates_missing_folders() {
    let dir = TempDir::new();
    let folder = dir.0.join("a").join("b");
    let j = open(&folder, "2026-11-23T20:09:18.938Z");
    assert_eq!(j.path(), folder.join("2026-11-23-node2.log"));
    assert_clean(j.path(), "2026-11-23");
}

#[test]
fn reopening_appends_a_restart_and_keeps_earlier_bytes() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:09:18.938Z");
    j.record(w("2026-11-23T20:09:25.940Z"), "node1", 1).unwrap();
    let path = j.path().to_path_buf();
    drop(j);
    let before = read(&path);
    let mut j = open(&dir.0, "2026-11-23T21:00:00.000Z");
    j.record(w("2026-11-23T21:00:01.000Z"), "node3", 0).unwrap();
    let after = read(&path);
    assert_eq!(
        after,
        format!(
            "{before}---\n0.0.3|2026-11-23T21:00:00.000Z{HEADER_TAIL}2026-11-23T21:00:01.000Z|node3|0\n"
        )
    );
    assert_eq!(check_file(&after).unwrap().len(), 2);
}

#[test]
fn a_cut_last_line_is_ended_before_the_new_header() {
    let dir = TempDir::new();
    let path = dir.0.join("2026-11-23-node2.log");
    let cut =
        format!("---\n0.0.3|2026-11-23T20:09:18.938Z{HEADER_TAIL}2026-11-23T20:09:25.940Z|no");
    fs::write(&path, &cut).unwrap();
    let j = open(&dir.0, "2026-11-23T20:10:00.000Z");
    let text = read(j.path());
    assert_eq!(
        text,
        format!("{cut}\n---\n0.0.3|2026-11-23T20:10:00.000Z{HEADER_TAIL}")
    );
    // Strictly, the cut fragment is a bad line of its own; everything else parses.
    assert_eq!(
        check_file(&text).map(|_| ()),
        Err((3, LineError::FieldCount(2)))
    );
    for (i, line) in text.lines().enumerate() {
        assert_eq!(logline::parse_line(line).is_ok(), i != 2, "{line}");
    }
}

#[test]
fn an_existing_empty_file_gets_no_extra_newline() {
    let dir = TempDir::new();
    fs::write(dir.0.join("2026-11-23-node2.log"), "").unwrap();
    let j = open(&dir.0, "2026-11-23T20:09:18.938Z");
    assert!(read(j.path()).starts_with("---\n0.0.3|"));
    assert_clean(j.path(), "2026-11-23");
}

#[test]
fn roll_across_midnight_carries_non_zero_counts() {
    let dir = TempDir::new();
    let four = [
        ("node1", "127.0.0.1:47001".parse().unwrap()),
        ("node2", "[::1]:47002".parse().unwrap()),
        ("node3", "10.0.0.3:47003".parse().unwrap()),
        ("node4", "10.0.0.4:47004".parse().unwrap()),
    ];
    let tail = "|3|node2|node1:127.0.0.1:47001!node2:[::1]:47002!node3:10.0.0.3:47003!node4:10.0.0.4:47004\n";
    let mut j = Journal::open(&dir.0, "node2", 3, &four, at("2026-11-23T23:59:59.000Z")).unwrap();
    let day1 = j.path().to_path_buf();
    j.record(w("2026-11-23T23:59:59.500Z"), "node3", 3).unwrap();
    j.record(w("2026-11-23T23:59:59.999Z"), "node1", 1).unwrap();

    let midnight = at("2026-11-24T00:00:00.000Z");
    let carried = [("node1", 1), ("node3", 3), ("node4", 0)];
    j.new_day(ww(midnight), &carried).unwrap();
    let day2 = j.path().to_path_buf();
    assert_eq!(day2, dir.0.join("2026-11-24-node2.log"));
    j.record(ww(midnight + 5), "node4", 1).unwrap();

    assert_eq!(
        read(&day1),
        format!(
            "---\n0.0.3|2026-11-23T23:59:59.000Z{tail}\
             2026-11-23T23:59:59.500Z|node3|3\n\
             2026-11-23T23:59:59.999Z|node1|1\n"
        )
    );
    assert_eq!(
        read(&day2),
        format!(
            "---\n0.0.3|2026-11-24T00:00:00.000Z{tail}\
             2026-11-24T00:00:00.000Z|node1|1\n\
             2026-11-24T00:00:00.000Z|node3|3\n\
             2026-11-24T00:00:00.005Z|node4|1\n"
        )
    );
    for (path, day) in [(&day1, "2026-11-23"), (&day2, "2026-11-24")] {
        let text = read(path);
        let runs = check_file(&text).unwrap();
        assert_eq!(logline::day_string(runs[0].min_time), day);
        assert_eq!(logline::day_string(runs[0].max_time), day);
    }
}

#[test]
fn roll_with_nothing_to_carry_writes_the_header_only() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T23:59:59.999Z");
    j.new_day(w("2026-11-24T00:00:00.000Z"), &[("node1", 0), ("node3", 0)])
        .unwrap();
    assert_eq!(
        read(j.path()),
        format!("---\n0.0.3|2026-11-24T00:00:00.000Z{HEADER_TAIL}")
    );
}

#[test]
fn record_without_roll_switches_files_at_midnight() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T23:59:58.000Z");
    j.record(w("2026-11-23T23:59:59.999Z"), "node1", 1).unwrap();
    let day1 = j.path().to_path_buf();
    let day1_text = read(&day1);
    j.record(w("2026-11-24T00:00:00.000Z"), "node1", 2).unwrap();
    assert_eq!(read(&day1), day1_text, "nothing more goes to the old day");
    // The new file carries node1's count, so it reads on its own.
    assert_eq!(
        read(j.path()),
        format!(
            "---\n0.0.3|2026-11-24T00:00:00.000Z{HEADER_TAIL}\
             2026-11-24T00:00:00.000Z|node1|1\n\
             2026-11-24T00:00:00.000Z|node1|2\n"
        )
    );
    assert_clean(&day1, "2026-11-23");
    assert_clean(j.path(), "2026-11-24");
    // The clock stepping back across midnight goes back to that day's file, as a restart.
    j.record(w("2026-11-23T23:59:59.999Z"), "node1", 3).unwrap();
    assert_eq!(j.path(), day1);
    assert_eq!(check_file(&read(&day1)).unwrap().len(), 2);
    assert!(
        read(&day1)
            .ends_with("2026-11-23T23:59:59.999Z|node1|2\n2026-11-23T23:59:59.999Z|node1|3\n")
    );
    assert_clean(&day1, "2026-11-23");
}

#[test]
fn leap_day_and_far_dates_name_their_files() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2024-02-29T23:59:59.999Z");
    assert_eq!(j.path(), dir.0.join("2024-02-29-node2.log"));
    j.record(w("2024-03-01T00:00:00.000Z"), "node3", 1).unwrap();
    assert_eq!(j.path(), dir.0.join("2024-03-01-node2.log"));
    j.record(ww(-1), "node3", 2).unwrap();
    assert_eq!(j.path(), dir.0.join("1969-12-31-node2.log"));
    j.record(ww(i64::MAX), "node3", 3).unwrap();
    assert_eq!(j.path(), dir.0.join("9999-12-31-node2.log"));
    assert_clean(j.path(), "9999-12-31");
}

#[test]
fn invalid_input_is_refused_and_nothing_written() {
    let dir = TempDir::new();
    let now = at("2026-11-23T20:09:18.938Z");
    let bad_opens: [(&str, u32, Nodes); 5] = [
        ("node9", 3, nodes()),
        ("node2", 0, nodes()),
        ("../x", 3, vec![("../x", "127.0.0.1:1".parse().unwrap())]),
        (
            "node2",
            3,
            vec![
                ("node2", "127.0.0.1:1".parse().unwrap()),
                ("no de", "127.0.0.1:2".parse().unwrap()),
            ],
        ),
        (
            "node2",
            3,
            vec![
                ("node2", "127.0.0.1:1".parse().unwrap()),
                ("node2", "127.0.0.1:2".parse().unwrap()),
            ],
        ),
    ];
    for (whoami, threshold, nodes) in bad_opens {
        let e = Journal::open(&dir.0, whoami, threshold, &nodes, now).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains(&dir.0.display().to_string()), "{e}");
    }
    assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 0);

    let mut j = open(&dir.0, "2026-11-23T20:09:18.938Z");
    let before = read(j.path());
    for (node, timeouts) in [("node2", 1), ("node9", 1), ("", 1), ("node1", 4)] {
        let e = j.record(ww(now + 1), node, timeouts).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(
            e.to_string().contains(&j.path().display().to_string()),
            "{e}"
        );
    }
    let tomorrow = at("2026-11-24T00:00:00.000Z");
    let e = j
        .new_day(ww(tomorrow), &[("node1", 1), ("node3", 4)])
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(read(j.path()), before);
    assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 1);
}

#[test]
fn errors_name_the_path() {
    let dir = TempDir::new();
    let not_a_folder = dir.0.join("file");
    fs::write(&not_a_folder, "x").unwrap();
    let e = Journal::open(&not_a_folder, "node2", 3, &nodes(), 0).unwrap_err();
    assert!(
        e.to_string().contains(&not_a_folder.display().to_string()),
        "{e}"
    );

    // The day's file name taken by a folder: the open fails, naming the file.
    fs::create_dir(dir.0.join("2026-11-23-node2.log")).unwrap();
    let e =
        Journal::open(&dir.0, "node2", 3, &nodes(), at("2026-11-23T20:09:18.938Z")).unwrap_err();
    assert!(e.to_string().contains("2026-11-23-node2.log"), "{e}");

    // The same at midnight: the switch waits, the lines after it wait behind it, and
    // the note names the file.
    let mut j = open(&dir.0.join("sub"), "2026-11-22T23:59:59.000Z");
    let day1 = j.path().to_path_buf();
    let day2 = dir.0.join("sub").join("2026-11-23-node2.log");
    fs::create_dir(&day2).unwrap();
    let midnight = at("2026-11-23T00:00:00.000Z");
    j.new_day(ww(midnight), &[("node1", 1)]).unwrap();
    let note = j.take_note().unwrap();
    assert!(note.contains("2026-11-23-node2.log"), "{note}");
    assert!(note.contains("1 line waiting"), "{note}");
    j.record(ww(midnight + 1), "node1", 2).unwrap();
    assert_eq!(j.take_note(), None, "said once");
    assert_eq!(j.pending(), 2);
    assert_eq!(j.path(), day2);
    assert_clean(&day1, "2026-11-22");
    assert_eq!(check_file(&read(&day1)).unwrap()[0].events, 0);
    // The way is clear again: the retry writes both, each stamped when it happened.
    fs::remove_dir(&day2).unwrap();
    j.handle_timeout(Now::ms(RETRY_MS, midnight + 5_000));
    assert_eq!(
        read(&day2),
        format!(
            "---\n0.0.3|2026-11-23T00:00:00.000Z{HEADER_TAIL}\
             2026-11-23T00:00:00.000Z|node1|1\n\
             2026-11-23T00:00:00.001Z|node1|2\n"
        )
    );
    assert!(j.take_note().unwrap().contains("2 lines written"));
}

#[cfg(target_os = "linux")]
#[test]
fn a_day_file_that_refuses_writes_keeps_the_switch_waiting() {
    let dir = TempDir::new();
    let full = dir.0.join("2026-11-24-node2.log");
    std::os::unix::fs::symlink("/dev/full", &full).unwrap();
    let mut j = open(&dir.0, "2026-11-23T23:59:59.999Z");
    j.new_day(w("2026-11-24T00:00:00.000Z"), &[("node1", 1)])
        .unwrap();
    let note = j.take_note().unwrap();
    assert!(note.contains("2026-11-24-node2.log"), "{note}");
    assert!(note.contains("No space left on device"), "{note}");
    assert_eq!(j.path(), full);
    j.record(w("2026-11-24T00:00:01.000Z"), "node1", 0).unwrap();
    assert_eq!(j.pending(), 2);
    // The symlink goes: the path no longer names the open file (/dev/full), so the
    // next try creates a real file, header first.
    fs::remove_file(&full).unwrap();
    j.handle_timeout(Now::ms(RETRY_MS, at("2026-11-24T00:00:02.000Z")));
    assert_eq!(
        read(&full),
        format!(
            "---\n0.0.3|2026-11-24T00:00:00.000Z{HEADER_TAIL}\
             2026-11-24T00:00:00.000Z|node1|1\n\
             2026-11-24T00:00:01.000Z|node1|0\n"
        )
    );
    assert_clean(&full, "2026-11-24");
    assert!(j.take_note().unwrap().contains("creating it again"));
    assert!(j.take_note().unwrap().contains("2 lines written"));
    assert_eq!(j.take_note(), None);
}

#[cfg(target_os = "linux")]
#[test]
fn open_reports_a_failed_header_write() {
    let dir = TempDir::new();
    let full = dir.0.join("2026-11-23-node2.log");
    std::os::unix::fs::symlink("/dev/full", &full).unwrap();
    let e =
        Journal::open(&dir.0, "node2", 3, &nodes(), at("2026-11-23T20:09:18.938Z")).unwrap_err();
    assert!(e.to_string().contains("2026-11-23-node2.log"), "{e}");
    assert!(e.to_string().contains("cannot append"), "{e}");
}

/// Both clocks.
fn at2(mono: u64, wall: &str) -> Now {
    Now::ms(mono, at(wall))
}

fn notes(j: &mut Journal) -> Vec<String> {
    std::iter::from_fn(|| j.take_note()).collect()
}

#[test]
fn waiting_lines_keep_their_order_and_times() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:09:18.938Z");
    let path = j.path().to_path_buf();
    let before = read(&path);
    assert_eq!(j.poll_at(), CHECK_MS, "nothing waits: only the path check");
    j.set_room(Some(0)); // the disk is full
    j.record(at2(1_000, "2026-11-23T20:09:25.940Z"), "node1", 1)
        .unwrap();
    let said = notes(&mut j);
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(
        said[0],
        format!(
            "{}: cannot append: No space left on device (os error 28); 1 line waiting in \
             memory (at most {MAX_PENDING_LINES}), retrying every 1000 ms",
            path.display()
        )
    );
    assert_eq!(j.poll_at(), 2_000);
    j.record(at2(2_000, "2026-11-23T20:09:26.940Z"), "node1", 2)
        .unwrap();
    j.record(at2(2_500, "2026-11-23T20:09:27.100Z"), "node3", 1)
        .unwrap();
    j.handle_timeout(at2(3_000, "2026-11-23T20:09:28.000Z"));
    assert_eq!(j.poll_at(), 3_500, "the last failure set the retry");
    assert_eq!(notes(&mut j), Vec::<String>::new(), "said once");
    assert_eq!((j.pending(), read(&path)), (3, before.clone()));

    j.set_room(None); // room again
    j.handle_timeout(at2(3_499, "2026-11-23T20:09:28.499Z"));
    assert_eq!(j.pending(), 3, "not before the retry is due");
    j.handle_timeout(at2(3_500, "2026-11-23T20:09:28.500Z"));
    assert_eq!(
        read(&path),
        format!(
            "{before}2026-11-23T20:09:25.940Z|node1|1\n\
             2026-11-23T20:09:26.940Z|node1|2\n\
             2026-11-23T20:09:27.100Z|node3|1\n"
        )
    );
    assert_eq!(
        notes(&mut j),
        [format!(
            "{}: the waiting lines went out: 3 lines written, the oldest after 2.500 s",
            path.display()
        )]
    );
    assert_eq!(j.poll_at(), CHECK_MS);
    // Later lines go straight out again, without notes.
    j.record(at2(4_000, "2026-11-23T20:09:29.000Z"), "node3", 0)
        .unwrap();
    assert_eq!(notes(&mut j), Vec::<String>::new());
    assert!(read(&path).ends_with("2026-11-23T20:09:29.000Z|node3|0\n"));
    assert_clean(&path, "2026-11-23");
}

#[test]
fn a_short_write_is_truncated_to_the_last_whole_line() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:09:18.938Z");
    let path = j.path().to_path_buf();
    let before = read(&path);
    // The disk takes 10 bytes of the 33 of the line, then is full.
    j.set_room(Some(10));
    j.record(w("2026-11-23T20:09:25.940Z"), "node1", 1).unwrap();
    assert_eq!(read(&path), before, "the cut part was truncated away");
    assert_eq!(j.pending(), 1);
    // Room for the first waiting line and 5 bytes of the second: one whole line stays.
    j.set_room(Some(33 + 5));
    j.record(w("2026-11-23T20:09:26.940Z"), "node1", 2).unwrap();
    let one = format!("{before}2026-11-23T20:09:25.940Z|node1|1\n");
    assert_eq!(read(&path), one);
    assert_eq!(j.pending(), 1);
    assert_clean(&path, "2026-11-23");
    j.set_room(None);
    j.handle_timeout(Now::ms(RETRY_MS, at("2026-11-23T20:09:30.000Z")));
    assert_eq!(
        read(&path),
        format!("{one}2026-11-23T20:09:26.940Z|node1|2\n")
    );
    assert_eq!(j.pending(), 0);
    let said = notes(&mut j);
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[1].contains("2 lines written"), "{said:?}");
    assert_clean(&path, "2026-11-23");
}

#[test]
fn a_header_cut_short_is_truncated_and_written_again() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T23:59:59.000Z");
    j.set_room(Some(20)); // part of the new day's `---` + header
    j.new_day(w("2026-11-24T00:00:00.000Z"), &[("node3", 2)])
        .unwrap();
    let day2 = dir.0.join("2026-11-24-node2.log");
    assert_eq!(read(&day2), "", "nothing half-written stays");
    j.set_room(None);
    j.record(w("2026-11-24T00:00:01.000Z"), "node3", 3).unwrap();
    assert_eq!(
        read(&day2),
        format!(
            "---\n0.0.3|2026-11-24T00:00:00.000Z{HEADER_TAIL}\
             2026-11-24T00:00:00.000Z|node3|2\n\
             2026-11-24T00:00:01.000Z|node3|3\n"
        )
    );
    assert_clean(&day2, "2026-11-24");
}

#[test]
fn a_file_truncated_under_us_gets_a_header_before_the_next_line() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    j.record(w("2026-11-23T20:00:01.000Z"), "node1", 1).unwrap();
    notes(&mut j);
    // logrotate's copytruncate: the same file, emptied.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    j.record(w("2026-11-23T20:00:02.000Z"), "node1", 2).unwrap();
    let said = notes(&mut j);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("truncated by another program"), "{said:?}");
    assert_eq!(
        read(&path),
        format!(
            "---\n0.0.3|2026-11-23T20:00:02.000Z{HEADER_TAIL}\
             2026-11-23T20:00:02.000Z|node1|1\n\
             2026-11-23T20:00:02.000Z|node1|2\n"
        )
    );
    // Lines after that append as usual, with no second header.
    j.record(w("2026-11-23T20:00:03.000Z"), "node1", 3).unwrap();
    assert!(notes(&mut j).is_empty());
    assert!(read(&path).ends_with("|node1|2\n2026-11-23T20:00:03.000Z|node1|3\n"));
    assert_clean(&path, "2026-11-23");
}

#[test]
fn a_deleted_renamed_or_replaced_file_is_created_again_header_first() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    j.record(w("2026-11-23T20:00:01.000Z"), "node1", 1).unwrap();
    j.record(w("2026-11-23T20:00:02.000Z"), "node3", 3).unwrap();
    let reopened = |j: &mut Journal| {
        let said = notes(j);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with(&format!("{}: ", path.display())),
            "{said:?}"
        );
        assert!(said[0].contains("creating it again"), "{said:?}");
    };

    // Deleted: the next line lands in a new file, `---`, header and counts first.
    fs::remove_file(&path).unwrap();
    j.record(w("2026-11-23T20:00:03.000Z"), "node1", 2).unwrap();
    reopened(&mut j);
    let header = "---\n0.0.3|2026-11-23T20:00:03.000Z";
    assert_eq!(
        read(&path),
        format!(
            "{header}{HEADER_TAIL}\
             2026-11-23T20:00:03.000Z|node1|1\n\
             2026-11-23T20:00:03.000Z|node3|3\n\
             2026-11-23T20:00:03.000Z|node1|2\n"
        )
    );

    // Renamed by logrotate: the old name gets a fresh file; the rotated one is left be.
    let rotated = dir.0.join("rotated.log");
    fs::rename(&path, &rotated).unwrap();
    let rotated_text = read(&rotated);
    j.record(w("2026-11-23T20:00:04.000Z"), "node3", 0).unwrap();
    reopened(&mut j);
    assert_eq!(read(&rotated), rotated_text);
    assert_eq!(
        read(&path),
        format!(
            "---\n0.0.3|2026-11-23T20:00:04.000Z{HEADER_TAIL}\
             2026-11-23T20:00:04.000Z|node1|2\n\
             2026-11-23T20:00:04.000Z|node3|3\n\
             2026-11-23T20:00:04.000Z|node3|0\n"
        )
    );

    // Replaced by another file: that one is appended to, header first.
    let other = dir.0.join("other");
    fs::write(&other, "").unwrap();
    fs::rename(&other, &path).unwrap();
    j.record(w("2026-11-23T20:00:05.000Z"), "node1", 3).unwrap();
    reopened(&mut j);
    assert_eq!(
        read(&path),
        format!(
            "---\n0.0.3|2026-11-23T20:00:05.000Z{HEADER_TAIL}\
             2026-11-23T20:00:05.000Z|node1|2\n\
             2026-11-23T20:00:05.000Z|node1|3\n"
        )
    );

    // The whole folder gone: created again.
    fs::remove_dir_all(&dir.0).unwrap();
    j.record(w("2026-11-23T20:00:06.000Z"), "node1", 0).unwrap();
    reopened(&mut j);
    assert_eq!(
        read(&path),
        format!(
            "---\n0.0.3|2026-11-23T20:00:06.000Z{HEADER_TAIL}\
             2026-11-23T20:00:06.000Z|node1|3\n\
             2026-11-23T20:00:06.000Z|node1|0\n"
        )
    );
    assert_clean(&path, "2026-11-23");
}

#[test]
fn the_minute_check_recreates_a_deleted_file_without_waiting_for_a_line() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    j.record(at2(10, "2026-11-23T20:00:01.000Z"), "node3", 3)
        .unwrap();
    j.handle_timeout(at2(CHECK_MS, "2026-11-23T20:01:00.000Z"));
    assert_eq!(notes(&mut j), Vec::<String>::new(), "the file is fine");
    assert_eq!(j.poll_at(), 2 * CHECK_MS);
    fs::remove_file(&path).unwrap();
    j.handle_timeout(at2(2 * CHECK_MS - 1, "2026-11-23T20:01:59.999Z"));
    assert!(!path.exists(), "not checked before it is due");
    j.handle_timeout(at2(2 * CHECK_MS, "2026-11-23T20:02:00.000Z"));
    assert_eq!(notes(&mut j).len(), 1);
    assert_eq!(
        read(&path),
        format!(
            "---\n0.0.3|2026-11-23T20:02:00.000Z{HEADER_TAIL}2026-11-23T20:02:00.000Z|node3|3\n"
        )
    );
    assert_eq!(j.poll_at(), 3 * CHECK_MS);
    // A check on another day than the file's leaves the switch to the day roll.
    fs::remove_file(&path).unwrap();
    j.handle_timeout(at2(3 * CHECK_MS, "2026-11-24T00:00:00.000Z"));
    assert!(!path.exists());
    assert!(!dir.0.join("2026-11-24-node2.log").exists());
}

#[test]
fn past_the_bound_the_oldest_lines_are_dropped_and_the_file_stays_valid() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    j.planner.set_max_lines(20);
    j.set_room(Some(0));
    let base = at("2026-11-23T20:01:00.000Z");
    let event = |i: i64| {
        let node = if i % 2 == 0 { "node1" } else { "node3" };
        let count = u32::try_from((i / 2) % 4).unwrap();
        (base + i * 1000, node, count)
    };
    for i in 0..30 {
        let (wall, node, count) = event(i);
        let mono = u64::try_from(i).unwrap() * 10;
        j.record(Now::ms(mono, wall), node, count).unwrap();
    }
    let said = notes(&mut j);
    // Said: lines waiting; then each drop with its count and time range.
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(said[0].contains("waiting"), "{said:?}");
    let p = path.display();
    assert_eq!(
        said[1],
        format!(
            "{p}: too many lines waiting (more than 20): dropped the oldest 8 lines \
             (stamped 2026-11-23T20:01:00.000Z to 2026-11-23T20:01:07.000Z); a `---` and \
             header stamped 2026-11-23T20:01:08.000Z with the counts they left will mark the gap"
        )
    );
    assert_eq!(
        said[2],
        format!(
            "{p}: too many lines waiting (more than 20): dropped the oldest 6 lines \
             (stamped 2026-11-23T20:01:08.000Z to 2026-11-23T20:01:13.000Z); a `---` and \
             header stamped 2026-11-23T20:01:14.000Z with the counts they left will mark the gap"
        )
    );
    assert_eq!(j.pending(), 16);
    let st = j.stats();
    assert_eq!((st.waiting, st.written, st.dropped), (16, 0, 14));
    assert_eq!(st.write_errors, 30, "every append tried and refused");
    j.set_room(None);
    j.handle_timeout(Now::ms(1_000_000, base + 60_000));
    let st = j.stats();
    assert_eq!((st.waiting, st.written, st.dropped), (0, 16, 14));
    let text = read(&path);
    let runs = check_file(&text).unwrap();
    assert_eq!(runs.len(), 2, "{text}");
    // The new run: its header at the first kept line's time, the counts the dropped
    // lines left (node1 at 2 after line 12, node3 at 2 after line 13), then lines 14..30.
    let mut want = format!(
        "---\n0.0.3|2026-11-23T20:01:14.000Z{HEADER_TAIL}\
         2026-11-23T20:01:14.000Z|node1|2\n\
         2026-11-23T20:01:14.000Z|node3|2\n"
    );
    for i in 14..30 {
        let (wall, node, count) = event(i);
        logline::write_event(&mut want, wall, node, count);
        want.push('\n');
    }
    assert!(text.ends_with(&want), "{text}");
    assert_eq!(runs[1].events, 18);
    let said = notes(&mut j);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("16 lines written"), "{said:?}");
    assert_clean(&path, "2026-11-23");
}

#[test]
fn shutdown_tries_once_more_and_says_what_is_lost() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    j.set_room(Some(0));
    j.record(w("2026-11-23T20:00:01.000Z"), "node1", 1).unwrap();
    j.record(w("2026-11-23T20:00:02.000Z"), "node1", 2).unwrap();
    notes(&mut j);
    j.shutdown(w("2026-11-23T20:00:03.000Z"), Duration::ZERO);
    assert_eq!(
        notes(&mut j),
        [format!(
            "{}: 2 lines could not be written and are lost (stamped \
             2026-11-23T20:00:01.000Z to 2026-11-23T20:00:02.000Z); the last error was said above",
            path.display()
        )]
    );
    // With room again, the last try writes them.
    j.set_room(None);
    j.shutdown(w("2026-11-23T20:00:04.000Z"), Duration::ZERO);
    assert_eq!(j.pending(), 0);
    assert!(read(&path).ends_with("2026-11-23T20:00:02.000Z|node1|2\n"));
    assert!(notes(&mut j)[0].contains("2 lines written"));
}

#[test]
fn a_reload_writes_the_new_header_and_checks_lines_against_it() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    j.record(w("2026-11-23T20:00:01.000Z"), "node3", 2).unwrap();
    let new: Nodes = vec![
        ("node1", "127.0.0.1:47001".parse().unwrap()),
        ("node2", "127.0.0.1:47002".parse().unwrap()),
        ("node4", "127.0.0.1:47004".parse().unwrap()),
    ];
    // Refused: a carried count above the new threshold, or a node not in the list.
    let at_reload = w("2026-11-23T20:00:02.000Z");
    assert!(j.reconfigure(at_reload, 2, &new, &[("node1", 3)]).is_err());
    assert!(j.reconfigure(at_reload, 2, &new, &[("node3", 1)]).is_err());
    j.reconfigure(at_reload, 2, &new, &[("node1", 1), ("node4", 0)])
        .unwrap();
    j.record(w("2026-11-23T20:00:03.000Z"), "node4", 1).unwrap();
    let e = j.record(w("2026-11-23T20:00:04.000Z"), "node3", 1);
    assert!(e.is_err(), "node3 is gone");
    assert!(j.record(w("2026-11-23T20:00:04.000Z"), "node1", 3).is_err());
    assert_eq!(
        read(&path),
        "---\n0.0.3|2026-11-23T20:00:00.000Z|3|node2|node1:127.0.0.1:47001!node2:127.0.0.1:47002!node3:127.0.0.1:47003\n\
         2026-11-23T20:00:01.000Z|node3|2\n\
         ---\n0.0.3|2026-11-23T20:00:02.000Z|2|node2|node1:127.0.0.1:47001!node2:127.0.0.1:47002!node4:127.0.0.1:47004\n\
         2026-11-23T20:00:02.000Z|node1|1\n\
         2026-11-23T20:00:03.000Z|node4|1\n"
    );
    assert_clean(&path, "2026-11-23");
    // A later restart marker (the file deleted) uses the new header and counts.
    fs::remove_file(&path).unwrap();
    j.reopen(Now {
        mono: 5,
        wall: at("2026-11-23T20:00:05.000Z"),
        micros: 0,
    });
    assert_eq!(
        read(&path),
        "---\n0.0.3|2026-11-23T20:00:05.000Z|2|node2|node1:127.0.0.1:47001!node2:127.0.0.1:47002!node4:127.0.0.1:47004\n\
         2026-11-23T20:00:05.000Z|node1|1\n\
         2026-11-23T20:00:05.000Z|node4|1\n"
    );
    let said = notes(&mut j);
    assert!(
        said.iter().any(|n| n.contains("no longer names the file")),
        "{said:?}"
    );
}

#[test]
fn a_reload_waits_in_order_behind_lines_the_disk_refused() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    j.set_room(Some(0));
    j.record(w("2026-11-23T20:00:01.000Z"), "node3", 1).unwrap();
    let new: Nodes = vec![
        ("node2", "127.0.0.1:47002".parse().unwrap()),
        ("node5", "127.0.0.1:47005".parse().unwrap()),
    ];
    j.reconfigure(w("2026-11-23T20:00:02.000Z"), 3, &new, &[])
        .unwrap();
    j.record(w("2026-11-23T20:00:03.000Z"), "node5", 1).unwrap();
    assert_eq!(j.pending(), 2);
    j.set_room(None);
    j.handle_timeout(Now {
        mono: RETRY_MS,
        wall: at("2026-11-23T20:00:04.000Z"),
        micros: 0,
    });
    assert_eq!(j.pending(), 0);
    let text = read(&path);
    assert!(
        text.ends_with(
            "2026-11-23T20:00:01.000Z|node3|1\n---\n0.0.3|2026-11-23T20:00:02.000Z|3|node2|node2:127.0.0.1:47002!node5:127.0.0.1:47005\n\
             2026-11-23T20:00:03.000Z|node5|1\n"
        ),
        "{text}"
    );
    assert_clean(&path, "2026-11-23");
}

#[test]
fn reopen_on_sighup_recreates_a_rotated_file_at_once() {
    let dir = TempDir::new();
    let mut j = open(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    let rotated = dir.0.join("rotated.log");
    fs::rename(&path, &rotated).unwrap();
    // logrotate moved it away: SIGHUP's reopen creates the path again at once.
    j.reopen(Now {
        mono: 1,
        wall: at("2026-11-23T20:00:01.000Z"),
        micros: 0,
    });
    assert!(read(&path).starts_with("---\n0.0.3|2026-11-23T20:00:01.000Z|3|node2|"));
    let before = read(&path);
    j.reopen(Now {
        mono: 2,
        wall: at("2026-11-23T20:00:02.000Z"),
        micros: 0,
    });
    assert_eq!(read(&path), before, "same file: nothing written");
    assert_eq!(read(&rotated).lines().count(), 2);
}

#[test]
fn prune_deletes_only_this_nodes_day_files_older_than_the_cutoff() {
    let dir = TempDir::new();
    let names = [
        "2026-11-20-node2.log",
        "2026-11-21-node2.log",
        "2026-11-22-node2.log",
        "2026-11-23-node2.log",
        "2026-11-20-node1.log",
        "2026-11-20-node2.log.gz",
        "2026-11-20-xnode2.log",
        "2026-13-01-node2.log",
        "2026-1-01-node2.log",
        "notes.txt",
    ];
    for n in names {
        fs::write(dir.0.join(n), "x").unwrap();
    }
    fs::create_dir(dir.0.join("2026-11-19-node2.log")).unwrap();
    let cutoff = logline::day_number(at("2026-11-22T00:00:00.000Z"));
    let said = prune(&dir.0, "node2", cutoff);
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[0].ends_with("2026-11-20-node2.log: deleted (log_retention_days)"));
    assert!(said[1].contains("2026-11-21-node2.log: deleted"));
    let mut left: Vec<String> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    let mut expect: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !n.starts_with("2026-11-20-node2.log") && *n != "2026-11-21-node2.log")
        .chain(["2026-11-19-node2.log", "2026-11-20-node2.log.gz"])
        .collect();
    expect.sort_unstable();
    expect.dedup();
    assert_eq!(left, expect);
    // A folder that cannot be listed is one line, never a panic.
    let said = prune(&dir.0.join("missing"), "node2", cutoff);
    assert_eq!(said.len(), 1);
    assert!(said[0].contains("cannot list the folder"), "{said:?}");
}

// ---------------------------------------------------------------------------------------
// The writer thread, with a disk that hangs.

/// A switch shared with the store: while on, writes wait (a frozen file system).
#[derive(Clone, Default)]
struct Freeze(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Freeze {
    fn set(&self, frozen: bool) {
        *self.0.0.lock().unwrap() = frozen;
        self.0.1.notify_all();
    }

    fn wait_thawed(&self) {
        let mut frozen = self.0.0.lock().unwrap();
        while *frozen {
            frozen = self.0.1.wait(frozen).unwrap();
        }
    }
}

/// The real file store behind a [`Freeze`]; counts the plans that reached the disk.
struct FreezableStore {
    inner: FileStore,
    freeze: Freeze,
    entered: std::sync::mpsc::Sender<()>,
}

impl Store for FreezableStore {
    fn write(&mut self, plan: &Plan) -> Written {
        let _ = self.entered.send(());
        self.freeze.wait_thawed();
        self.inner.write(plan)
    }

    fn prune(&mut self, before_day: i64) -> Vec<String> {
        self.inner.prune(before_day)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.freeze.wait_thawed();
        self.inner.sync()
    }
}

/// A journal opened at `now` whose writes run on the writer thread behind a [`Freeze`];
/// the receivers hear each wake-up and each write that reached the store.
fn threaded(
    dir: &Path,
    now: &str,
) -> (
    Journal,
    Freeze,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Receiver<()>,
) {
    let mut j = open(dir, now);
    let inner = *j.inline.take().unwrap();
    let freeze = Freeze::default();
    let (entered, writes) = std::sync::mpsc::channel();
    let store = FreezableStore {
        inner,
        freeze: freeze.clone(),
        entered,
    };
    let (woke, wakes) = std::sync::mpsc::channel();
    j.start_writer_with(
        Box::new(store),
        Box::new(move || {
            let _ = woke.send(());
        }),
    )
    .unwrap();
    (j, freeze, wakes, writes)
}

/// Takes the writer's results until nothing waits (each pass at `now`), as the loop does
/// when woken.
fn settle(j: &mut Journal, wakes: &std::sync::mpsc::Receiver<()>, now: Now) {
    for _ in 0..100 {
        j.handle_timeout(now);
        if j.pending() == 0 && !j.planner.in_flight() {
            return;
        }
        wakes
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the writer thread reports");
    }
    panic!("still {} lines waiting", j.pending());
}

#[test]
fn a_hung_disk_holds_the_writer_thread_not_the_caller() {
    let dir = TempDir::new();
    let (mut j, freeze, wakes, writes) = threaded(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    let before = read(&path);
    freeze.set(true);
    let started = Instant::now();
    j.record(at2(1_000, "2026-11-23T20:00:01.000Z"), "node1", 1)
        .unwrap();
    writes.recv().unwrap(); // the first line is with the writer, which hangs
    j.record(at2(2_000, "2026-11-23T20:00:02.000Z"), "node1", 2)
        .unwrap();
    j.record(at2(3_000, "2026-11-23T20:00:03.000Z"), "node1", 3)
        .unwrap();
    j.handle_timeout(at2(3_000, "2026-11-23T20:00:03.000Z"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the caller never waits"
    );
    assert_eq!(j.poll_at(), 1_000 + STALL_MS, "woken to say the stall");
    assert_eq!(j.stats().waiting, 3);
    assert_eq!(notes(&mut j), Vec::<String>::new());
    j.handle_timeout(at2(1_000 + STALL_MS - 1, "2026-11-23T20:00:05.999Z"));
    assert_eq!(notes(&mut j), Vec::<String>::new(), "not before STALL_MS");
    j.handle_timeout(at2(1_000 + STALL_MS, "2026-11-23T20:00:06.000Z"));
    assert_eq!(
        notes(&mut j),
        [format!(
            "writes to {} stalled since 2026-11-23T20:00:01.000Z (5 s); 3 lines wait in memory \
             (at most {MAX_PENDING_LINES}), in order, stamped when they happened; probing goes on",
            path.display()
        )]
    );
    j.record(at2(10_000, "2026-11-23T20:00:10.000Z"), "node1", 0)
        .unwrap();
    j.handle_timeout(at2(15_000, "2026-11-23T20:00:15.000Z"));
    assert_eq!(notes(&mut j), Vec::<String>::new(), "said once");
    assert_eq!(read(&path), before, "nothing written while frozen");
    let st = j.stats();
    assert_eq!((st.waiting, st.written, st.write_errors), (4, 0, 0));

    // The thaw: every line, in order, stamped when it happened; said once.
    freeze.set(false);
    settle(&mut j, &wakes, at2(16_000, "2026-11-23T20:00:16.000Z"));
    assert_eq!(
        read(&path),
        format!(
            "{before}2026-11-23T20:00:01.000Z|node1|1\n\
             2026-11-23T20:00:02.000Z|node1|2\n\
             2026-11-23T20:00:03.000Z|node1|3\n\
             2026-11-23T20:00:10.000Z|node1|0\n"
        )
    );
    assert_eq!(
        notes(&mut j),
        [format!(
            "writes to {} went on after 15.000 s (stalled since 2026-11-23T20:00:01.000Z): \
             4 lines written in order, stamped when they happened, none lost",
            path.display()
        )]
    );
    let st = j.stats();
    assert_eq!((st.waiting, st.written, st.dropped), (0, 4, 0));
    assert_eq!(j.poll_at(), CHECK_MS, "idle: only the path check");
    assert_clean(&path, "2026-11-23");
}

#[test]
fn while_the_writer_hangs_the_bound_drops_only_lines_it_does_not_hold() {
    let dir = TempDir::new();
    let (mut j, freeze, wakes, writes) = threaded(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    j.planner.set_max_lines(20);
    freeze.set(true);
    let base = at("2026-11-23T20:01:00.000Z");
    // node1 climbs 1, 2, 3, back to 0, ...; node3 likewise, a step behind.
    let event = |i: i64| {
        let node = if i % 2 == 0 { "node1" } else { "node3" };
        (base + i * 1000, node, u32::try_from((i / 2) % 4).unwrap())
    };
    for i in 0..30 {
        let (wall, node, count) = event(i);
        j.record(Now::ms(u64::try_from(i).unwrap(), wall), node, count)
            .unwrap();
        if i == 0 {
            writes.recv().unwrap();
        }
    }
    let said = notes(&mut j);
    assert!(!said.is_empty(), "drops are said");
    assert!(
        said.iter().all(|n| n.contains("dropped the oldest")),
        "{said:?}"
    );
    let st = j.stats();
    assert_eq!(st.waiting + st.dropped, 30);
    assert!(st.dropped > 0);
    j.handle_timeout(Now::ms(STALL_MS, base + 30_000));
    assert!(notes(&mut j)[0].contains("stalled since"));
    freeze.set(false);
    settle(&mut j, &wakes, Now::ms(60_000, base + 60_000));
    let text = read(&path);
    let runs = check_file(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    // The line the writer held went out; a marker with the counts the dropped lines left
    // (a new run) stands for the gap; the newest lines follow.
    let (wall0, _, _) = event(0);
    let mut first = String::new();
    logline::write_event(&mut first, wall0, "node1", 0);
    assert!(text.contains(&format!("{first}\n---\n")), "{text}");
    assert_eq!(runs.len(), 2, "{text}");
    let st = j.stats();
    assert_eq!((st.waiting, st.written + st.dropped), (0, 30));
    let last = text.lines().last().unwrap();
    let (wall, node, count) = event(29);
    let mut want = String::new();
    logline::write_event(&mut want, wall, node, count);
    assert_eq!(last, want);
    let said = notes(&mut j);
    assert!(
        said.last().unwrap().contains("dropped (said above)"),
        "{said:?}"
    );
}

#[test]
fn shutdown_gives_a_stuck_writer_its_grace_then_says_what_is_lost() {
    let dir = TempDir::new();
    let (mut j, freeze, _wakes, writes) = threaded(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    freeze.set(true);
    j.record(at2(1_000, "2026-11-23T20:00:01.000Z"), "node1", 1)
        .unwrap();
    writes.recv().unwrap();
    j.record(at2(2_000, "2026-11-23T20:00:02.000Z"), "node1", 2)
        .unwrap();
    let started = Instant::now();
    j.shutdown(
        at2(3_000, "2026-11-23T20:00:03.000Z"),
        Duration::from_millis(300),
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        notes(&mut j),
        [format!(
            "{}: 2 lines could not be written and are lost (stamped 2026-11-23T20:00:01.000Z to \
             2026-11-23T20:00:02.000Z); writes stalled since 2026-11-23T20:00:01.000Z",
            path.display()
        )]
    );
    freeze.set(false);
}

#[test]
fn the_writer_thread_writes_prunes_and_syncs() {
    let dir = TempDir::new();
    fs::write(dir.0.join("2026-11-01-node2.log"), "x").unwrap();
    let (mut j, _freeze, wakes, _writes) = threaded(&dir.0, "2026-11-23T20:00:00.000Z");
    let path = j.path().to_path_buf();
    j.record(w("2026-11-23T20:00:01.000Z"), "node3", 1).unwrap();
    j.prune(logline::day_number(at("2026-11-20T00:00:00.000Z")));
    settle(&mut j, &wakes, w("2026-11-23T20:00:02.000Z"));
    let mut said = Vec::new();
    for _ in 0..100 {
        said.extend(notes(&mut j));
        if !said.is_empty() {
            break;
        }
        let _ = wakes.recv_timeout(Duration::from_millis(100));
        j.handle_timeout(w("2026-11-23T20:00:02.000Z"));
    }
    assert!(!dir.0.join("2026-11-01-node2.log").exists());
    j.shutdown(w("2026-11-23T20:00:03.000Z"), Duration::from_secs(10));
    said.extend(notes(&mut j));
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].ends_with("2026-11-01-node2.log: deleted (log_retention_days)"));
    assert!(read(&path).ends_with("2026-11-23T20:00:01.000Z|node3|1\n"));
    assert_eq!(j.stats().written, 1);
}
