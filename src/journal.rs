//! The log files: format 0.0.3 (see [`crate::logline`]), one file per UTC day, append-only.
//!
//! A [`Journal`] writes `<folder>/<YYYY-MM-DD>-<whoami>.log`, the date being the UTC day of
//! the time passed in. Wall-clock time is a parameter (`i64` Unix milliseconds, UTC): this
//! module reads no clock.
//!
//! Guarantees:
//! - Files are opened with `O_APPEND` and never truncated; no existing byte is rewritten.
//! - Each append (a `---` + header pair, an event line, or the header + carried lines of a
//!   day switch) is formatted into one buffer and handed to the kernel in one `write` call
//!   (continued only if the kernel accepts part of it), so lines from one append are never
//!   interleaved with other writers' lines and a crash cuts at most the last append.
//! - A line cut short (by a crash before this process opened the file, or by a failed
//!   write) is ended with `"\n"` before anything else is appended, so it stays on its own
//!   line and the next lines parse.
//! - If a `---` + header was not (entirely) written, it is written again in front of the
//!   next line, so no event lands in a file without its header.
//! - An event line always lands in the file of its own UTC day: if the day changed, the
//!   journal switches files first; if it cannot open the new file, the line is not
//!   written anywhere (an error is returned) rather than written to the old file.
//! - Invalid input (bad names, a threshold of 0, whoami not among the nodes, an event
//!   about an unknown node or about whoami, a count above the threshold) is refused with
//!   [`io::ErrorKind::InvalidInput`] and nothing is written, so every file passes
//!   [`crate::logline::check_file`] as long as writes succeed.
//! - Every error message names the file (or folder) concerned. Nothing here panics.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::logline::{self, RESTART};
use crate::name;

/// The log file of one node, switched at every UTC midnight.
#[derive(Debug)]
pub struct Journal {
    folder: PathBuf,
    whoami: String,
    threshold: u32,
    nodes: Vec<(String, SocketAddr)>,
    /// Path of the current file.
    path: PathBuf,
    /// The current file, opened for append (and read, to check its last byte).
    file: File,
    /// UTC day number ([`logline::day_number`]) of the current file.
    day: i64,
    /// The current file lacks this run's `---` + header: write them before the next line.
    need_header: bool,
    /// The current file may end in a cut line: check its last byte before the next append.
    maybe_cut: bool,
    /// Reused formatting buffer.
    buf: String,
}

impl Journal {
    /// Opens (creating the folder and the file if needed)
    /// `<folder>/<YYYY-MM-DD>-<whoami>.log` for the UTC day of `now`, in append mode (never
    /// truncates), and appends `---` + the header line (time `now`). If the file is not
    /// empty and its last byte is not `"\n"` (a line cut short by a crash), it first
    /// appends `"\n"` so the cut line stays on its own.
    ///
    /// `nodes` is every configured node in config order, whoami included. Fails with
    /// [`io::ErrorKind::InvalidInput`] if a name breaks [`crate::name::check`], names
    /// repeat, whoami is not among `nodes` or `threshold` is 0; with the I/O error (its
    /// message naming the path) if the folder or file cannot be created or written.
    pub fn open(
        folder: &Path,
        whoami: &str,
        threshold: u32,
        nodes: &[(&str, SocketAddr)],
        now: i64,
    ) -> io::Result<Journal> {
        validate_config(folder, whoami, threshold, nodes)?;
        let day = logline::day_number(now);
        let (path, file) = open_day(folder, whoami, now)?;
        let mut journal = Journal {
            folder: folder.to_path_buf(),
            whoami: whoami.to_owned(),
            threshold,
            nodes: nodes.iter().map(|&(n, a)| (n.to_owned(), a)).collect(),
            path,
            file,
            day,
            need_header: true,
            maybe_cut: true,
            buf: String::new(),
        };
        journal.append(now, &[], false)?;
        Ok(journal)
    }

    /// Whether `now` falls on another UTC day than the current file, i.e. whether
    /// [`Journal::roll`] would switch files. Cheap: call it before every
    /// [`Journal::record`] and [`Journal::roll`] when it says so.
    pub fn needs_roll(&self, now: i64) -> bool {
        logline::day_number(now) != self.day
    }

    /// If `now` falls on another UTC day than the current file (later or, if the clock
    /// stepped back, earlier): opens that day's file, appends `---` + header (time `now`),
    /// then one event line `<now>|<node>|<timeouts>` per entry of `carried` whose timeouts
    /// is not 0, all in one write, so that each day's file reads on its own. `carried` is
    /// the peers' current counts; the caller caps them at the threshold. Returns whether it
    /// switched (`Ok(false)`: same day, nothing written).
    ///
    /// Errors: an invalid `carried` entry (unknown node, whoami, count above the threshold)
    /// is refused before anything happens. If the new file cannot be opened, the journal
    /// stays on the old file and day, and the next `roll`/`record` tries again. If it was
    /// opened but the write failed, the journal has switched: the carried lines are lost,
    /// and the next append re-writes the header if it is missing.
    pub fn roll(&mut self, now: i64, carried: &[(&str, u32)]) -> io::Result<bool> {
        if !self.needs_roll(now) {
            return Ok(false);
        }
        for &(node, timeouts) in carried {
            self.validate_event(node, timeouts)?;
        }
        self.switch(now)?;
        self.append(now, carried, true)?;
        Ok(true)
    }

    /// Appends `<now>|<node>|<timeouts>`. If `now` falls on another UTC day and
    /// [`Journal::roll`] was not called, it switches files first (`---` + header only, no
    /// carried lines), so a line never lands in the wrong day's file. To carry the peers'
    /// state into the new day's file, call `roll` first whenever
    /// [`Journal::needs_roll`] says so.
    ///
    /// Refuses ([`io::ErrorKind::InvalidInput`], nothing written) a node that is not a
    /// configured peer, whoami itself, or `timeouts` above the threshold.
    pub fn record(&mut self, now: i64, node: &str, timeouts: u32) -> io::Result<()> {
        self.validate_event(node, timeouts)?;
        if self.needs_roll(now) {
            self.switch(now)?;
        }
        self.append(now, &[(node, timeouts)], false)
    }

    /// Path of the current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the current file's data to disk (`sync_data`); call it at shutdown.
    pub fn sync(&self) -> io::Result<()> {
        self.file
            .sync_data()
            .map_err(|e| with_path(&self.path, "cannot sync", e))
    }

    fn validate_event(&self, node: &str, timeouts: u32) -> io::Result<()> {
        let problem = if node == self.whoami {
            Some(format!("{node:?} is this node (whoami), not a peer"))
        } else if !self.nodes.iter().any(|(n, _)| n == node) {
            Some(format!("{node:?} is not a configured node"))
        } else if timeouts > self.threshold {
            Some(format!(
                "timeouts {timeouts} of {node:?} is above the threshold {}",
                self.threshold
            ))
        } else {
            None
        };
        match problem {
            Some(p) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: event not logged: {p}", self.path.display()),
            )),
            None => Ok(()),
        }
    }

    /// Opens the file of `now`'s day and makes it current; the header is written by the
    /// next append. On error the journal is unchanged.
    fn switch(&mut self, now: i64) -> io::Result<()> {
        let (path, file) = open_day(&self.folder, &self.whoami, now)?;
        self.path = path;
        self.file = file;
        self.day = logline::day_number(now);
        self.need_header = true;
        self.maybe_cut = true;
        Ok(())
    }

    /// Appends, in one write: `"\n"` if the file ends in a cut line, `---` + header if
    /// missing, then one event line per entry of `events` (skipping counts of 0 if
    /// `skip_zero`). All times are `now`.
    fn append(&mut self, now: i64, events: &[(&str, u32)], skip_zero: bool) -> io::Result<()> {
        self.buf.clear();
        if self.maybe_cut {
            let ends_well = ends_with_newline(&self.file)
                .map_err(|e| with_path(&self.path, "cannot read", e))?;
            if !ends_well {
                self.buf.push('\n');
            }
        }
        if self.need_header {
            self.buf.push_str(RESTART);
            self.buf.push('\n');
            logline::write_header_from(
                &mut self.buf,
                now,
                self.threshold,
                &self.whoami,
                self.nodes.iter().map(|(n, a)| (n.as_str(), *a)),
            );
            self.buf.push('\n');
        }
        let header_end = self.buf.len();
        for &(node, timeouts) in events {
            if skip_zero && timeouts == 0 {
                continue;
            }
            logline::write_event(&mut self.buf, now, node, timeouts);
            self.buf.push('\n');
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let (written, result) = write_fully(&self.file, self.buf.as_bytes());
        if written >= header_end {
            self.need_header = false;
        }
        // Bound the buffer kept between appends (a roll may carry many lines).
        if self.buf.capacity() > 64 * 1024 {
            self.buf = String::new();
        }
        match result {
            Ok(()) => {
                self.maybe_cut = false;
                Ok(())
            }
            Err(e) => {
                self.maybe_cut = true;
                Err(with_path(&self.path, "cannot append", e))
            }
        }
    }
}

/// Checks the names, the threshold and that whoami is among the nodes.
fn validate_config(
    folder: &Path,
    whoami: &str,
    threshold: u32,
    nodes: &[(&str, SocketAddr)],
) -> io::Result<()> {
    let invalid = |what: String| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: cannot open the log: {what}", folder.display()),
        ))
    };
    if let Err(e) = name::check(whoami) {
        return invalid(format!("whoami {whoami:?}: {e}"));
    }
    if threshold == 0 {
        return invalid("the offline threshold must be at least 1".to_owned());
    }
    for (i, &(node, _)) in nodes.iter().enumerate() {
        if let Err(e) = name::check(node) {
            return invalid(format!("node {node:?}: {e}"));
        }
        if nodes[..i].iter().any(|&(n, _)| n == node) {
            return invalid(format!("node {node:?} is listed twice"));
        }
    }
    if !nodes.iter().any(|&(n, _)| n == whoami) {
        return invalid(format!("whoami {whoami:?} is not among the nodes"));
    }
    Ok(())
}

/// Creates `folder` if needed and opens `<folder>/<YYYY-MM-DD>-<whoami>.log` for `now`'s
/// UTC day, for append (never truncating) and read.
fn open_day(folder: &Path, whoami: &str, now: i64) -> io::Result<(PathBuf, File)> {
    fs::create_dir_all(folder).map_err(|e| with_path(folder, "cannot create the log folder", e))?;
    let mut file_name = logline::day_string(now);
    file_name.push('-');
    file_name.push_str(whoami);
    file_name.push_str(".log");
    let path = folder.join(file_name);
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| with_path(&path, "cannot open", e))?;
    Ok((path, file))
}

/// Whether `file` is empty or ends with `"\n"`.
fn ends_with_newline(mut file: &File) -> io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// Writes all of `bytes` with as few `write` calls as the kernel allows (one, normally),
/// retrying on `Interrupted`. Returns how many bytes were written, and the error if not all.
fn write_fully(mut file: &File, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut written = 0;
    while written < bytes.len() {
        match file.write(&bytes[written..]) {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "the file accepted no more bytes");
                return (written, Err(e));
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Err(e)),
        }
    }
    (written, Ok(()))
}

/// `<path>: <what>: <error>`, keeping the error's kind.
fn with_path(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {what}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logline::{LineError, check_file, parse_timestamp};
    use std::sync::atomic::{AtomicUsize, Ordering};

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
        let runs =
            check_file(&text).unwrap_or_else(|e| panic!("{}: {e:?}\n{text}", path.display()));
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
            j.record(at(t), "node1", n).unwrap();
        }
        j.sync().unwrap();
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
        j.record(at("2026-11-23T20:09:25.940Z"), "node1", 1)
            .unwrap();
        let path = j.path().to_path_buf();
        drop(j);
        let before = read(&path);
        let mut j = open(&dir.0, "2026-11-23T21:00:00.000Z");
        j.record(at("2026-11-23T21:00:01.000Z"), "node3", 0)
            .unwrap();
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
        let mut j =
            Journal::open(&dir.0, "node2", 3, &four, at("2026-11-23T23:59:59.000Z")).unwrap();
        let day1 = j.path().to_path_buf();
        j.record(at("2026-11-23T23:59:59.500Z"), "node3", 3)
            .unwrap();
        assert!(!j.needs_roll(at("2026-11-23T23:59:59.999Z")));
        assert!(
            !j.roll(at("2026-11-23T23:59:59.999Z"), &[("node3", 3)])
                .unwrap()
        );
        j.record(at("2026-11-23T23:59:59.999Z"), "node1", 1)
            .unwrap();

        let midnight = at("2026-11-24T00:00:00.000Z");
        assert!(j.needs_roll(midnight));
        let carried = [("node1", 1), ("node3", 3), ("node4", 0)];
        assert!(j.roll(midnight, &carried).unwrap());
        let day2 = j.path().to_path_buf();
        assert_eq!(day2, dir.0.join("2026-11-24-node2.log"));
        assert!(!j.roll(midnight + 1, &carried).unwrap());
        j.record(midnight + 5, "node4", 1).unwrap();

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
        assert!(
            j.roll(
                at("2026-11-24T00:00:00.000Z"),
                &[("node1", 0), ("node3", 0)]
            )
            .unwrap()
        );
        assert_eq!(
            read(j.path()),
            format!("---\n0.0.3|2026-11-24T00:00:00.000Z{HEADER_TAIL}")
        );
    }

    #[test]
    fn record_without_roll_switches_files_at_midnight() {
        let dir = TempDir::new();
        let mut j = open(&dir.0, "2026-11-23T23:59:58.000Z");
        j.record(at("2026-11-23T23:59:59.999Z"), "node1", 1)
            .unwrap();
        let day1 = j.path().to_path_buf();
        let day1_text = read(&day1);
        j.record(at("2026-11-24T00:00:00.000Z"), "node1", 2)
            .unwrap();
        assert_eq!(read(&day1), day1_text, "nothing more goes to the old day");
        assert_eq!(
            read(j.path()),
            format!(
                "---\n0.0.3|2026-11-24T00:00:00.000Z{HEADER_TAIL}2026-11-24T00:00:00.000Z|node1|2\n"
            )
        );
        assert_clean(&day1, "2026-11-23");
        assert_clean(j.path(), "2026-11-24");
        // The clock stepping back across midnight goes back to that day's file, as a restart.
        j.record(at("2026-11-23T23:59:59.999Z"), "node1", 3)
            .unwrap();
        assert_eq!(j.path(), day1);
        assert_eq!(check_file(&read(&day1)).unwrap().len(), 2);
        assert_clean(&day1, "2026-11-23");
    }

    #[test]
    fn leap_day_and_far_dates_name_their_files() {
        let dir = TempDir::new();
        let mut j = open(&dir.0, "2024-02-29T23:59:59.999Z");
        assert_eq!(j.path(), dir.0.join("2024-02-29-node2.log"));
        j.record(at("2024-03-01T00:00:00.000Z"), "node3", 1)
            .unwrap();
        assert_eq!(j.path(), dir.0.join("2024-03-01-node2.log"));
        j.record(-1, "node3", 2).unwrap();
        assert_eq!(j.path(), dir.0.join("1969-12-31-node2.log"));
        j.record(i64::MAX, "node3", 3).unwrap();
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
            let e = j.record(now + 1, node, timeouts).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(
                e.to_string().contains(&j.path().display().to_string()),
                "{e}"
            );
        }
        let tomorrow = at("2026-11-24T00:00:00.000Z");
        let e = j.roll(tomorrow, &[("node1", 1), ("node3", 4)]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(j.needs_roll(tomorrow), "a refused roll does not switch");
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
        let e = Journal::open(&dir.0, "node2", 3, &nodes(), at("2026-11-23T20:09:18.938Z"))
            .unwrap_err();
        assert!(e.to_string().contains("2026-11-23-node2.log"), "{e}");

        // The same at midnight: the journal stays on its day and tries again later.
        let mut j = open(&dir.0.join("sub"), "2026-11-22T23:59:59.000Z");
        let day1 = j.path().to_path_buf();
        fs::create_dir(dir.0.join("sub").join("2026-11-23-node2.log")).unwrap();
        let midnight = at("2026-11-23T00:00:00.000Z");
        let e = j.roll(midnight, &[("node1", 1)]).unwrap_err();
        assert!(e.to_string().contains("2026-11-23-node2.log"), "{e}");
        assert!(j.record(midnight, "node1", 2).is_err());
        assert_eq!(j.path(), day1);
        assert!(j.needs_roll(midnight));
        assert_clean(&day1, "2026-11-22");
        assert_eq!(check_file(&read(&day1)).unwrap()[0].events, 0);
    }

    /// A file on which every write fails with ENOSPC.
    #[cfg(target_os = "linux")]
    fn dev_full() -> File {
        OpenOptions::new()
            .read(true)
            .append(true)
            .open("/dev/full")
            .unwrap()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_is_reported_and_its_cut_line_ended_later() {
        let dir = TempDir::new();
        let mut j = open(&dir.0, "2026-11-23T20:09:18.938Z");
        let path = j.path().to_path_buf();
        let real = std::mem::replace(&mut j.file, dev_full());
        let e = j
            .record(at("2026-11-23T20:09:25.940Z"), "node1", 1)
            .unwrap_err();
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        // Simulate the part of the line that reached the file before the error.
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"2026-11-23T20:09:25.940Z|no")
            .unwrap();
        j.file = real;
        j.record(at("2026-11-23T20:09:26.940Z"), "node1", 2)
            .unwrap();
        j.record(at("2026-11-23T20:09:27.940Z"), "node1", 3)
            .unwrap();
        assert_eq!(
            read(&path),
            format!(
                "---\n0.0.3|2026-11-23T20:09:18.938Z{HEADER_TAIL}\
                 2026-11-23T20:09:25.940Z|no\n\
                 2026-11-23T20:09:26.940Z|node1|2\n\
                 2026-11-23T20:09:27.940Z|node1|3\n"
            )
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_header_that_failed_is_written_before_the_next_line() {
        let dir = TempDir::new();
        let full = dir.0.join("2026-11-24-node2.log");
        std::os::unix::fs::symlink("/dev/full", &full).unwrap();
        let mut j = open(&dir.0, "2026-11-23T23:59:59.999Z");
        let e = j
            .roll(at("2026-11-24T00:00:00.000Z"), &[("node1", 1)])
            .unwrap_err();
        assert!(e.to_string().contains("2026-11-24-node2.log"), "{e}");
        assert_eq!(
            j.path(),
            full,
            "the journal switched; the header is still due"
        );
        assert!(!j.needs_roll(at("2026-11-24T00:00:00.001Z")));
        // The disk has room again.
        fs::remove_file(&full).unwrap();
        j.file = open_day(&dir.0, "node2", at("2026-11-24T00:00:00.000Z"))
            .unwrap()
            .1;
        j.record(at("2026-11-24T00:00:01.000Z"), "node1", 0)
            .unwrap();
        assert_eq!(
            read(&full),
            format!(
                "---\n0.0.3|2026-11-24T00:00:01.000Z{HEADER_TAIL}2026-11-24T00:00:01.000Z|node1|0\n"
            )
        );
        assert_clean(&full, "2026-11-24");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn open_reports_a_failed_header_write() {
        let dir = TempDir::new();
        let full = dir.0.join("2026-11-23-node2.log");
        std::os::unix::fs::symlink("/dev/full", &full).unwrap();
        let e = Journal::open(&dir.0, "node2", 3, &nodes(), at("2026-11-23T20:09:18.938Z"))
            .unwrap_err();
        assert!(e.to_string().contains("2026-11-23-node2.log"), "{e}");
        assert!(e.to_string().contains("cannot append"), "{e}");
    }
}
