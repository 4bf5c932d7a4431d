//! The log files: format 0.0.3 (see [`crate::logline`]), one file per UTC day, append-only,
//! and nothing lost to a full disk, a read-only remount, a deleted folder or a rotated file.
//!
//! A [`Journal`] writes `<folder>/<YYYY-MM-DD>-<whoami>.log`, the date being the UTC day of
//! each line's own time. Both clocks are parameters ([`Now`]: monotonic ms for the retry
//! timer, wall-clock Unix ms for the lines); this module reads no clock. The monotonic
//! clock is taken to start at 0 when the journal is opened, as the shell's does.
//!
//! Lines go through a queue: [`Journal::record`] and [`Journal::new_day`] append to it and
//! write at once; what cannot be written waits, in order, each line keeping the wall time
//! of its change, and is tried again on every later line and at [`Journal::poll_at`] (every
//! [`RETRY_MS`]). The journal says what happens in notes ([`Journal::take_note`]) the shell
//! prints on stderr: once when lines start waiting (the error, which names the file), once
//! when they went out (how many, how long the oldest waited), and whenever a file had to
//! be reopened or lines had to be dropped.
//!
//! Guarantees:
//! - Files are opened with `O_APPEND`; no byte that was written whole is ever rewritten.
//! - One append (a batch of whole lines for one file, at most [`MAX_BATCH`] bytes) is
//!   handed to the kernel in one `write` call, continued only if the kernel accepts part of
//!   it. If the disk refuses the rest (`ENOSPC`, `EIO`, ...), the file is truncated back
//!   to the end of the last whole line written (this process is the file's only writer),
//!   so no cut line is left; the lines not written wait. Only if that truncate fails too
//!   can a cut line stay (said in a note); it is then ended with `"\n"` before the next
//!   append, as is a line cut short by a crash before this process opened the file.
//! - Order is kept: a line is written only after every line before it. A day switch
//!   waits like a line: every line goes into the file of its own UTC day, after the lines
//!   before it.
//! - Whenever a file is (re)opened (a new day, a file deleted, renamed or replaced, a
//!   restart), `---` and the header come first, followed by one line per peer whose count
//!   is not 0 (its count at that point, stamped with the header's time), so every file and
//!   every run reads on its own.
//! - Before each append, and at least every [`CHECK_MS`] when idle, the journal checks that
//!   the path still names the open file (device and inode); if not (deleted, renamed by
//!   logrotate, replaced), it creates it again (and the folder, if gone), `---` and header
//!   first, and says so.
//! - At most [`MAX_PENDING_LINES`] lines wait. Beyond that the oldest tenth are dropped
//!   (the newest lines say the most about the present) and a note says how many and the
//!   time range; a `---` + header stamped with the first kept line's time, carrying every
//!   peer's count as the dropped lines left it, then marks the gap. Every file stays valid
//!   0.0.3 and a reader sees the dropped stretch as a restart, i.e. unknown time.
//! - [`Journal::open`] still fails when the folder or the file cannot be created or the
//!   first `---` + header cannot be written: at start that is a configuration error.
//! - Invalid input (bad names, a threshold of 0, whoami not among the nodes, an event
//!   about an unknown node or about whoami, a count above the threshold) is refused with
//!   [`io::ErrorKind::InvalidInput`] and nothing is queued, so every file passes
//!   [`crate::logline::check_file`].
//! - Every error message and note names the file (or folder) concerned. Nothing here
//!   panics, whatever the disk or the files' contents.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::logline::{self, RESTART};
use crate::mesh::Now;
use crate::name;

/// Most lines (events, and two per `---` + header) waiting in memory for the disk.
pub const MAX_PENDING_LINES: usize = 10_000;
/// Time between two tries to write waiting lines (monotonic ms).
pub const RETRY_MS: u64 = 1_000;
/// Longest time between two checks that the path still names the open file.
pub const CHECK_MS: u64 = 60_000;
/// Most bytes handed to one `write` call.
pub const MAX_BATCH: usize = 64 * 1024;

/// A line (or a day switch, or a restart) waiting to be written.
#[derive(Debug)]
enum Item {
    /// `<wall>|<node>|<timeouts>`; `node` indexes [`Journal::nodes`].
    Event {
        wall: i64,
        mono: u64,
        node: usize,
        timeouts: u32,
    },
    /// A day switch: if the file of `wall`'s day is new, `---` + header + `carried` (the
    /// non-zero counts), all at `wall`.
    NewDay {
        wall: i64,
        mono: u64,
        carried: Box<[(usize, u32)]>,
    },
    /// `---` + header + the non-zero counts, at `wall`, whether or not the file is new
    /// (after dropped lines, at open, and after a reopen found by the periodic check).
    Restart { wall: i64, mono: u64 },
    /// A config reload: from here on `threshold` and `nodes` hold; `---` + the new header
    /// + `carried` (indices into `nodes`), at `wall`.
    Reconfigure {
        wall: i64,
        mono: u64,
        threshold: u32,
        nodes: Box<[(String, SocketAddr)]>,
        carried: Box<[(usize, u32)]>,
    },
}

impl Item {
    fn wall(&self) -> i64 {
        match *self {
            Item::Event { wall, .. }
            | Item::NewDay { wall, .. }
            | Item::Restart { wall, .. }
            | Item::Reconfigure { wall, .. } => wall,
        }
    }

    fn mono(&self) -> u64 {
        match *self {
            Item::Event { mono, .. }
            | Item::NewDay { mono, .. }
            | Item::Restart { mono, .. }
            | Item::Reconfigure { mono, .. } => mono,
        }
    }

    /// Weight against [`MAX_PENDING_LINES`]: every line it may write.
    fn lines(&self) -> usize {
        match self {
            Item::Event { .. } => 1,
            Item::NewDay { carried, .. } | Item::Reconfigure { carried, .. } => 2 + carried.len(),
            Item::Restart { .. } => 2,
        }
    }

    /// Event lines it stands for, as counted in notes (`---` and headers not counted).
    fn events(&self) -> usize {
        match self {
            Item::Event { .. } => 1,
            Item::NewDay { carried, .. } | Item::Reconfigure { carried, .. } => carried.len(),
            Item::Restart { .. } => 0,
        }
    }
}

/// The open file and what it was when opened.
#[derive(Debug)]
struct OpenFile {
    file: File,
    path: PathBuf,
    /// UTC day number ([`logline::day_number`]) of the file.
    day: i64,
    dev: u64,
    ino: u64,
    /// The file's length after our last write (or when opened): shorter than this, it was
    /// truncated by another program (logrotate's `copytruncate`).
    end: u64,
}

/// Lines are waiting since a write failed.
#[derive(Debug)]
struct Outage {
    /// When the oldest line still waiting was queued (monotonic ms).
    oldest: u64,
    /// Event lines written since the outage began.
    written: usize,
}

/// Event lines by fate, since the journal was opened (`---` and header lines not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Lines waiting in memory for the disk.
    pub waiting: u64,
    /// Lines written.
    pub written: u64,
    /// Lines given up: dropped from a full queue of waiting lines.
    pub dropped: u64,
    /// Appends the disk refused (each retry counts).
    pub write_errors: u64,
}

/// The log files of one node, switched at every UTC midnight.
#[derive(Debug)]
pub struct Journal {
    folder: PathBuf,
    whoami: String,
    /// The threshold and nodes of the header for the front of the queue (the lines
    /// written or dropped last); a queued reload changes them when it reaches the front.
    threshold: u32,
    nodes: Vec<(String, SocketAddr)>,
    /// The threshold and nodes of the newest reload still queued: what new lines are
    /// checked against (`None`: none queued, the front's hold).
    latest: Option<(u32, Vec<(String, SocketAddr)>)>,
    /// Path of the file written last (or tried last).
    path: PathBuf,
    file: Option<OpenFile>,
    /// The open file lacks `---` + header: write them before the next line.
    need_header: bool,
    /// The open file may end in a cut line: check its last byte before the next append.
    maybe_cut: bool,
    /// Lines not yet written, oldest first.
    queue: VecDeque<Item>,
    /// Sum of [`Item::lines`] over the queue.
    queued_lines: usize,
    max_lines: usize,
    /// Per node (index into `nodes`), its count as of the front of the queue: what the
    /// written (or dropped) lines left.
    counts: Vec<u32>,
    outage: Option<Outage>,
    /// When to try the queue again (meaningful while it is not empty).
    retry_at: u64,
    /// When to check the path next.
    next_check: u64,
    notes: VecDeque<String>,
    /// What happened to lines so far, for metrics.
    counts_so_far: JournalStats,
    /// Reused formatting buffer, and the end of each whole item in it.
    buf: String,
    ends: Vec<usize>,
    /// Test hook: how many more bytes the "disk" accepts (`None`: no limit).
    #[cfg(test)]
    room: Option<usize>,
}

impl Journal {
    /// Opens (creating the folder and the file if needed)
    /// `<folder>/<YYYY-MM-DD>-<whoami>.log` for the UTC day of `now` (wall-clock ms), in
    /// append mode (never truncates), and appends `---` + the header line (time `now`). If
    /// the file is not empty and its last byte is not `"\n"` (a line cut short by a crash),
    /// it first appends `"\n"` so the cut line stays on its own.
    ///
    /// `nodes` is every configured node in config order, whoami included. Fails with
    /// [`io::ErrorKind::InvalidInput`] if a name breaks [`crate::name::check`], names
    /// repeat, whoami is not among `nodes` or `threshold` is 0; with the I/O error (its
    /// message naming the path) if the folder or file cannot be created or written: at
    /// start, nothing waits.
    pub fn open(
        folder: &Path,
        whoami: &str,
        threshold: u32,
        nodes: &[(&str, SocketAddr)],
        now: i64,
    ) -> io::Result<Journal> {
        validate_config(folder, whoami, threshold, nodes)?;
        let day = logline::day_number(now);
        let path = day_path(folder, whoami, now);
        let existed = path.exists();
        let file = open_file(folder, &path, day)?;
        let mut journal = Journal {
            folder: folder.to_path_buf(),
            whoami: whoami.to_owned(),
            threshold,
            nodes: nodes.iter().map(|&(n, a)| (n.to_owned(), a)).collect(),
            latest: None,
            path,
            file: Some(file),
            need_header: true,
            maybe_cut: true,
            queue: VecDeque::new(),
            queued_lines: 0,
            max_lines: MAX_PENDING_LINES,
            counts: vec![0; nodes.len()],
            outage: None,
            retry_at: 0,
            next_check: CHECK_MS,
            notes: VecDeque::new(),
            counts_so_far: JournalStats::default(),
            buf: String::new(),
            ends: Vec::new(),
            #[cfg(test)]
            room: None,
        };
        journal.push(Item::Restart { wall: now, mono: 0 });
        if let Err(e) = journal.write_batch() {
            // Leave no empty file behind a start that could not write its header (a
            // full disk): the reader would take it for a damaged log.
            if !existed && fs::metadata(&journal.path).is_ok_and(|m| m.len() == 0) {
                let _ = fs::remove_file(&journal.path);
            }
            return Err(e);
        }
        Ok(journal)
    }

    /// The engine's new day (it alone decides when a day ends, from the wall clock):
    /// switches to the file of `now.wall`'s UTC day (later or, if the clock stepped back,
    /// earlier), which gets `---` + header (time `now.wall`), then one event line
    /// `<now>|<node>|<timeouts>` per entry of `carried` whose timeouts is not 0, all in one
    /// write, so that each day's file reads on its own. `carried` is the peers' current
    /// counts, capped at the threshold.
    ///
    /// If the new file cannot be opened or written, the switch waits in the queue like a
    /// line, and the lines after it wait behind it.
    ///
    /// Errors: only an invalid `carried` entry (unknown node, whoami, count above the
    /// threshold), refused before anything happens.
    pub fn new_day(&mut self, now: Now, carried: &[(&str, u32)]) -> io::Result<()> {
        let mut kept = Vec::with_capacity(carried.len());
        for &(node, timeouts) in carried {
            let index = self.validate_event(node, timeouts)?;
            if timeouts != 0 {
                kept.push((index, timeouts));
            }
        }
        self.push(Item::NewDay {
            wall: now.wall,
            mono: now.mono,
            carried: kept.into_boxed_slice(),
        });
        self.flush(now.mono);
        Ok(())
    }

    /// Appends `<now.wall>|<node>|<timeouts>` to the file of `now.wall`'s UTC day (after
    /// `---` + header and the other peers' non-zero counts if that file is new: the
    /// engine's [`Journal::new_day`] comes first, carrying its counts at midnight). If it
    /// cannot be written now, it waits.
    ///
    /// Refuses ([`io::ErrorKind::InvalidInput`], nothing queued) a node that is not a
    /// configured peer, whoami itself, or `timeouts` above the threshold.
    pub fn record(&mut self, now: Now, node: &str, timeouts: u32) -> io::Result<()> {
        let index = self.validate_event(node, timeouts)?;
        self.push(Item::Event {
            wall: now.wall,
            mono: now.mono,
            node: index,
            timeouts,
        });
        self.flush(now.mono);
        Ok(())
    }

    /// A config reload: from `now.wall` on, lines are checked against and headers list
    /// `threshold` and `nodes`; writes `---` + the new header, then one line per entry of
    /// `carried` whose count is not 0 (the engine's counts at the reload), into the file of
    /// `now.wall`'s day. Waits like a line if it cannot be written.
    ///
    /// Errors ([`io::ErrorKind::InvalidInput`], nothing changed): what [`Journal::open`]
    /// refuses (bad names, whoami missing, a threshold of 0), or a `carried` entry that is
    /// not a peer of `nodes` or is above `threshold`. The folder and whoami cannot change.
    pub fn reconfigure(
        &mut self,
        now: Now,
        threshold: u32,
        nodes: &[(&str, SocketAddr)],
        carried: &[(&str, u32)],
    ) -> io::Result<()> {
        validate_config(&self.folder, &self.whoami, threshold, nodes)?;
        let mut kept = Vec::with_capacity(carried.len());
        for &(node, timeouts) in carried {
            let index = nodes.iter().position(|&(n, _)| n == node);
            match index {
                Some(i) if node != self.whoami && timeouts <= threshold => {
                    if timeouts != 0 {
                        kept.push((i, timeouts));
                    }
                }
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{}: reload not logged: {node:?} with count {timeouts} is not a peer within the threshold {threshold}",
                            self.path.display()
                        ),
                    ));
                }
            }
        }
        let nodes: Vec<(String, SocketAddr)> =
            nodes.iter().map(|&(n, a)| (n.to_owned(), a)).collect();
        self.latest = Some((threshold, nodes.clone()));
        self.push(Item::Reconfigure {
            wall: now.wall,
            mono: now.mono,
            threshold,
            nodes: nodes.into_boxed_slice(),
            carried: kept.into_boxed_slice(),
        });
        self.flush(now.mono);
        Ok(())
    }

    /// Checks now (not at the next line or minute) that the path still names the open
    /// file, and if not creates it again, `---` and header first: SIGHUP after logrotate
    /// moved the file (its `postrotate`).
    pub fn reopen(&mut self, now: Now) {
        if self.queue.is_empty() && self.file_replaced(logline::day_number(now.wall)) {
            self.push(Item::Restart {
                wall: now.wall,
                mono: now.mono,
            });
        }
        self.flush(now.mono);
    }

    /// When [`Journal::handle_timeout`] next has something to do (monotonic ms): the next
    /// retry while lines wait, else the next check of the path.
    pub fn poll_at(&self) -> u64 {
        if self.queue.is_empty() {
            self.next_check
        } else {
            self.retry_at.min(self.next_check)
        }
    }

    /// Tries the waiting lines again if their retry is due, and checks (at most every
    /// [`CHECK_MS`]) that the path still names the open file, reopening it if not.
    pub fn handle_timeout(&mut self, now: Now) {
        if now.mono >= self.next_check {
            self.next_check = now.mono.saturating_add(CHECK_MS);
            if self.queue.is_empty() && self.file_replaced(logline::day_number(now.wall)) {
                // The next lines would reopen it anyway; do it now, so the file is back
                // (with its header and the current counts) even when nothing happens.
                self.push(Item::Restart {
                    wall: now.wall,
                    mono: now.mono,
                });
                self.flush(now.mono);
            }
        }
        if !self.queue.is_empty() && now.mono >= self.retry_at {
            self.flush(now.mono);
        }
    }

    /// A last try to write what waits (at shutdown); a note says what is still unwritten.
    pub fn shutdown(&mut self, now: Now) {
        if self.queue.is_empty() {
            return;
        }
        self.flush(now.mono);
        let lost: usize = self.queue.iter().map(Item::events).sum();
        if lost > 0 {
            let (first, last) = wall_range(self.queue.iter());
            self.note(format!(
                "{}: {lost} line{} could not be written and {} lost ({}); the last error was said above",
                self.path.display(),
                plural(lost),
                if lost == 1 { "is" } else { "are" },
                range_text(first, last),
            ));
        }
    }

    /// The next note for the operator (stderr), oldest first.
    pub fn take_note(&mut self) -> Option<String> {
        self.notes.pop_front()
    }

    /// Event lines waiting, written and dropped so far, and appends refused.
    pub fn stats(&self) -> JournalStats {
        JournalStats {
            waiting: self.pending() as u64,
            ..self.counts_so_far
        }
    }

    /// Event lines waiting to be written.
    pub fn pending(&self) -> usize {
        self.queue.iter().map(Item::events).sum()
    }

    /// Path of the file written (or tried) last.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the open file's data to disk (`sync_data`); call it at shutdown.
    pub fn sync(&self) -> io::Result<()> {
        match &self.file {
            Some(f) => f
                .file
                .sync_data()
                .map_err(|e| with_path(&f.path, "cannot sync", e)),
            None => Ok(()),
        }
    }

    /// The index of `node` in `nodes` if it is a peer and `timeouts` is in range.
    fn validate_event(&self, node: &str, timeouts: u32) -> io::Result<usize> {
        let (threshold, nodes) = match &self.latest {
            Some((t, n)) => (*t, n),
            None => (self.threshold, &self.nodes),
        };
        let index = nodes.iter().position(|(n, _)| n == node);
        let problem = if node == self.whoami {
            format!("{node:?} is this node (whoami), not a peer")
        } else if timeouts > threshold {
            format!("timeouts {timeouts} of {node:?} is above the threshold {threshold}")
        } else if let Some(index) = index {
            return Ok(index);
        } else {
            format!("{node:?} is not a configured node")
        };
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: event not logged: {problem}", self.path.display()),
        ))
    }

    fn note(&mut self, note: String) {
        self.notes.push_back(note);
    }

    /// Queues `item`; past the bound, drops the oldest lines (see the module docs).
    fn push(&mut self, item: Item) {
        self.queued_lines = self.queued_lines.saturating_add(item.lines());
        self.queue.push_back(item);
        if self.queued_lines > self.max_lines {
            self.drop_oldest();
        }
    }

    /// Drops the oldest tenth of the bound (and room for the marker), never the newest
    /// item, and puts a [`Item::Restart`] marker stamped with the first kept line's time
    /// in front of what is kept.
    fn drop_oldest(&mut self) {
        let room = self.max_lines / 10 + self.nodes.len() + 2;
        let target = self.max_lines.saturating_sub(room);
        let mut dropped = 0;
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        while self.queued_lines > target && self.queue.len() > 1 {
            let Some(item) = self.pop_front() else {
                break;
            };
            dropped += item.events();
            self.counts_so_far.dropped += item.events() as u64;
            if item.events() > 0 {
                first = first.min(item.wall());
                last = last.max(item.wall());
            }
        }
        let Some(front) = self.queue.front() else {
            return;
        };
        let (wall, mono) = (front.wall(), front.mono());
        if !matches!(front, Item::Restart { .. } | Item::Reconfigure { .. }) {
            self.queue.push_front(Item::Restart { wall, mono });
            self.queued_lines = self.queued_lines.saturating_add(2);
        }
        if let Some(outage) = &mut self.outage {
            outage.oldest = mono;
        }
        self.note(format!(
            "{}: too many lines waiting (more than {}): dropped the oldest {dropped} line{} ({}); \
             a `---` and header stamped {} with the counts they left will mark the gap",
            self.path.display(),
            self.max_lines,
            plural(dropped),
            range_text(first, last),
            timestamp(wall),
        ));
    }

    /// Removes the front item, applying it to `counts`.
    fn pop_front(&mut self) -> Option<Item> {
        let item = self.queue.pop_front()?;
        self.queued_lines = self.queued_lines.saturating_sub(item.lines());
        match &item {
            Item::Event { node, timeouts, .. } => {
                if let Some(c) = self.counts.get_mut(*node) {
                    *c = *timeouts;
                }
            }
            Item::NewDay { carried, .. } => {
                self.counts.iter_mut().for_each(|c| *c = 0);
                for &(node, timeouts) in carried.iter() {
                    if let Some(c) = self.counts.get_mut(node) {
                        *c = timeouts;
                    }
                }
            }
            Item::Restart { .. } => {}
            Item::Reconfigure {
                threshold,
                nodes,
                carried,
                ..
            } => {
                self.threshold = *threshold;
                self.nodes = nodes.to_vec();
                self.counts = vec![0; nodes.len()];
                for &(node, timeouts) in carried.iter() {
                    if let Some(c) = self.counts.get_mut(node) {
                        *c = timeouts;
                    }
                }
                if !self
                    .queue
                    .iter()
                    .any(|i| matches!(i, Item::Reconfigure { .. }))
                {
                    self.latest = None;
                }
            }
        }
        Some(item)
    }

    /// Writes what waits, batch after batch, until done or a write fails (then the rest
    /// waits for [`Journal::poll_at`]). Says once when lines start waiting and once when
    /// they all went out.
    fn flush(&mut self, mono: u64) {
        while !self.queue.is_empty() {
            if let Err(e) = self.write_batch() {
                self.counts_so_far.write_errors += 1;
                self.retry_at = mono.saturating_add(RETRY_MS);
                if self.outage.is_none() {
                    let oldest = self.queue.front().map_or(mono, Item::mono);
                    self.outage = Some(Outage { oldest, written: 0 });
                    let waiting = self.pending();
                    self.note(format!(
                        "{e}; {waiting} line{} waiting in memory (at most {}), retrying every {} ms",
                        plural(waiting),
                        self.max_lines,
                        RETRY_MS
                    ));
                }
                return;
            }
        }
        if let Some(outage) = self.outage.take() {
            let waited = mono.saturating_sub(outage.oldest);
            self.note(format!(
                "{}: the waiting lines went out: {} line{} written, the oldest after {}.{:03} s",
                self.path.display(),
                outage.written,
                plural(outage.written),
                waited / 1000,
                waited % 1000
            ));
        }
    }

    /// Whether the open file is `day`'s and its path no longer names it (deleted, renamed,
    /// replaced). A path that cannot be checked for another reason counts as fine: the
    /// open file is then still the best place for the lines.
    fn file_replaced(&self, day: i64) -> bool {
        let Some(f) = &self.file else {
            return false;
        };
        if f.day != day {
            return false;
        }
        match fs::metadata(&f.path) {
            Ok(m) => m.dev() != f.dev || m.ino() != f.ino,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
    }

    /// Makes the file of `wall`'s day the open one: keeps the open file if it is that
    /// day's and its path still names it; otherwise opens (creating) it, `---` and header
    /// due. On error, nothing changes but `path`.
    fn ensure_file(&mut self, wall: i64) -> io::Result<()> {
        let day = logline::day_number(wall);
        if self.file.as_ref().is_some_and(|f| f.day == day) {
            if !self.file_replaced(day) {
                return Ok(());
            }
            self.file = None;
            self.need_header = true;
            self.note(format!(
                "{}: the path no longer names the file being written (deleted, renamed or replaced): \
                 creating it again, `---` and header first",
                self.path.display()
            ));
        }
        let path = day_path(&self.folder, &self.whoami, wall);
        self.path.clone_from(&path);
        let file = open_file(&self.folder, &path, day)?;
        self.file = Some(file);
        self.need_header = true;
        self.maybe_cut = true;
        Ok(())
    }

    /// Writes one batch from the front of the queue: the items of one day's file, up to
    /// [`MAX_BATCH`] bytes, in one write. Removes from the queue exactly the items written
    /// whole; a part of an item that reached the file is truncated away. Errors name the
    /// file.
    fn write_batch(&mut self) -> io::Result<()> {
        let Some(wall) = self.queue.front().map(Item::wall) else {
            return Ok(());
        };
        self.ensure_file(wall)?;
        let Some(f) = &self.file else {
            return Ok(()); // ensure_file opened it
        };
        let path = f.path.clone();
        let len = f
            .file
            .metadata()
            .map_err(|e| with_path(&path, "cannot stat", e))?
            .len();
        let cut = self.maybe_cut
            && !ends_with_newline(&f.file, len).map_err(|e| with_path(&path, "cannot read", e))?;
        let day = f.day;
        if len < f.end && !self.need_header {
            // Emptied or cut under us: whatever follows must read on its own.
            self.need_header = true;
            self.note(format!(
                "{}: the file was truncated by another program (copytruncate?): `---` and header first",
                path.display()
            ));
        }
        self.build(day, cut);
        let Some(f) = &self.file else {
            return Ok(());
        };
        let (written, result) = if self.buf.is_empty() {
            (0, Ok(()))
        } else {
            #[cfg(test)]
            let out = write_limited(&f.file, self.buf.as_bytes(), &mut self.room);
            #[cfg(not(test))]
            let out = write_fully(&f.file, self.buf.as_bytes());
            out
        };
        let whole = self.ends.iter().take_while(|&&end| end <= written).count();
        let kept = whole
            .checked_sub(1)
            .and_then(|i| self.ends.get(i))
            .copied()
            .unwrap_or(0);
        let mut truncate_error = None;
        if result.is_err() && written > kept {
            let to = len.saturating_add(u64::try_from(kept).unwrap_or(u64::MAX));
            if let Err(e) = f.file.set_len(to) {
                truncate_error = Some(e);
            }
        }
        if whole > 0 {
            self.need_header = false;
            self.maybe_cut = false;
        }
        let reached = if result.is_ok() { written } else { kept };
        if let Some(f) = self.file.as_mut() {
            f.end = len.saturating_add(u64::try_from(reached).unwrap_or(u64::MAX));
        }
        for _ in 0..whole {
            let Some(item) = self.pop_front() else {
                break;
            };
            self.counts_so_far.written += item.events() as u64;
            if let Some(outage) = &mut self.outage {
                outage.written = outage.written.saturating_add(item.events());
            }
        }
        // Bound the buffer kept between appends.
        if self.buf.capacity() > 2 * MAX_BATCH {
            self.buf = String::new();
        }
        if let Some(e) = truncate_error {
            self.maybe_cut = true;
            self.note(format!(
                "{}: cannot undo a partial write (truncate: {e}): the file may end in a cut line",
                path.display()
            ));
        }
        result.map_err(|e| with_path(&path, "cannot append", e))
    }

    /// Formats the front items of `day`'s file into `buf`, one whole item after another,
    /// recording each item's end in `ends`. `cut`: the file ends in a cut line; start
    /// with `"\n"`.
    fn build(&mut self, day: i64, cut: bool) {
        let Journal {
            buf,
            ends,
            queue,
            nodes,
            counts,
            threshold,
            whoami,
            need_header,
            ..
        } = self;
        buf.clear();
        ends.clear();
        if cut {
            buf.push('\n');
        }
        let front_counts = || counts.iter().copied().enumerate();
        let mut header_due = *need_header;
        // A reload at the front brings the header, and the nodes of the lines after it.
        let (threshold, nodes): (u32, &[(String, SocketAddr)]) = match queue.front() {
            Some(Item::Reconfigure {
                threshold, nodes, ..
            }) => (*threshold, nodes),
            _ => (*threshold, nodes),
        };
        for item in queue.iter() {
            if logline::day_number(item.wall()) != day {
                break;
            }
            if !ends.is_empty()
                && (buf.len() >= MAX_BATCH
                    || matches!(item, Item::Restart { .. } | Item::Reconfigure { .. }))
            {
                // A restart carries the counts of the queue's front, and a reload
                // changes the header: each goes first in its batch.
                break;
            }
            let header =
                |buf: &mut String, wall: i64, carried: &mut dyn Iterator<Item = (usize, u32)>| {
                    write_header_block(buf, wall, threshold, whoami, nodes, carried);
                };
            match item {
                Item::Event {
                    wall,
                    node,
                    timeouts,
                    ..
                } => {
                    if header_due {
                        header_due = false;
                        header(buf, *wall, &mut front_counts());
                    }
                    if let Some((name, _)) = nodes.get(*node) {
                        logline::write_event(buf, *wall, name, *timeouts);
                        buf.push('\n');
                    }
                }
                Item::NewDay { wall, carried, .. } => {
                    if header_due {
                        header_due = false;
                        header(buf, *wall, &mut carried.iter().copied());
                    }
                }
                Item::Restart { wall, .. } => {
                    header_due = false;
                    header(buf, *wall, &mut front_counts());
                }
                Item::Reconfigure { wall, carried, .. } => {
                    header_due = false;
                    header(buf, *wall, &mut carried.iter().copied());
                }
            }
            ends.push(buf.len());
        }
    }
}

/// Appends `---`, the header and one event line per non-zero count of `carried` (node
/// index, count), all at `wall`.
fn write_header_block(
    buf: &mut String,
    wall: i64,
    threshold: u32,
    whoami: &str,
    nodes: &[(String, SocketAddr)],
    carried: &mut dyn Iterator<Item = (usize, u32)>,
) {
    buf.push_str(RESTART);
    buf.push('\n');
    logline::write_header_from(
        buf,
        wall,
        threshold,
        whoami,
        nodes.iter().map(|(n, a)| (n.as_str(), *a)),
    );
    buf.push('\n');
    for (node, timeouts) in carried {
        if timeouts == 0 {
            continue;
        }
        if let Some((name, _)) = nodes.get(node) {
            logline::write_event(buf, wall, name, timeouts);
            buf.push('\n');
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
        if nodes.iter().take(i).any(|&(n, _)| n == node) {
            return invalid(format!("node {node:?} is listed twice"));
        }
    }
    if !nodes.iter().any(|&(n, _)| n == whoami) {
        return invalid(format!("whoami {whoami:?} is not among the nodes"));
    }
    Ok(())
}

/// Deletes this node's day files in `folder` of UTC days before `before_day` (a
/// [`logline::day_number`]): only names exactly `YYYY-MM-DD-<whoami>.log`, a valid date,
/// regular files. Returns one line per file deleted or that could not be (each naming
/// the file); an unreadable folder is one line. Never fails otherwise.
pub fn prune(folder: &Path, whoami: &str, before_day: i64) -> Vec<String> {
    let mut said = Vec::new();
    let entries = match fs::read_dir(folder) {
        Ok(e) => e,
        Err(e) => {
            said.push(format!(
                "{}: cannot list the folder to delete old logs: {e}",
                folder.display()
            ));
            return said;
        }
    };
    let suffix = format!("-{whoami}.log");
    let mut old: Vec<(i64, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(day) = name
            .to_str()
            .and_then(|n| n.strip_suffix(suffix.as_str()))
            .and_then(parse_day)
        else {
            continue;
        };
        if day < before_day && entry.file_type().is_ok_and(|t| t.is_file()) {
            old.push((day, entry.path()));
        }
    }
    old.sort();
    for (_, path) in old {
        match fs::remove_file(&path) {
            Ok(()) => said.push(format!("{}: deleted (log_retention_days)", path.display())),
            Err(e) => said.push(format!(
                "{}: cannot delete an old log (log_retention_days): {e}",
                path.display()
            )),
        }
    }
    said
}

/// The day number of `YYYY-MM-DD`, only if written exactly so.
fn parse_day(date: &str) -> Option<i64> {
    if date.len() != 10 {
        return None;
    }
    let wall = logline::parse_timestamp(&format!("{date}T00:00:00.000Z")).ok()?;
    (logline::day_string(wall) == date).then(|| logline::day_number(wall))
}

/// `<folder>/<YYYY-MM-DD>-<whoami>.log` for `now`'s UTC day.
fn day_path(folder: &Path, whoami: &str, now: i64) -> PathBuf {
    let mut file_name = logline::day_string(now);
    file_name.push('-');
    file_name.push_str(whoami);
    file_name.push_str(".log");
    folder.join(file_name)
}

/// Creates `folder` if needed and opens `path` (of UTC day `day`) for append (never
/// truncating) and read, noting its device and inode.
fn open_file(folder: &Path, path: &Path, day: i64) -> io::Result<OpenFile> {
    fs::create_dir_all(folder).map_err(|e| with_path(folder, "cannot create the log folder", e))?;
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| with_path(path, "cannot open", e))?;
    let meta = file
        .metadata()
        .map_err(|e| with_path(path, "cannot stat", e))?;
    Ok(OpenFile {
        file,
        path: path.to_path_buf(),
        day,
        dev: meta.dev(),
        ino: meta.ino(),
        end: meta.len(),
    })
}

/// Whether `file`, `len` bytes long, is empty or ends with `"\n"`.
fn ends_with_newline(mut file: &File, len: u64) -> io::Result<bool> {
    if len == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(len.saturating_sub(1)))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last == [b'\n'])
}

/// Writes all of `bytes` with as few `write` calls as the kernel allows (one, normally),
/// retrying on `Interrupted`. Returns how many bytes were written, and the error if not all.
fn write_fully(mut file: &File, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut written = 0;
    while let Some(rest) = bytes.get(written..).filter(|r| !r.is_empty()) {
        match file.write(rest) {
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

/// Test hook: [`write_fully`] on a "disk" that accepts `room` more bytes (all if `None`),
/// then fails with `ENOSPC`, as a full file system does after a short write.
#[cfg(test)]
fn write_limited(file: &File, bytes: &[u8], room: &mut Option<usize>) -> (usize, io::Result<()>) {
    let Some(left) = *room else {
        return write_fully(file, bytes);
    };
    let n = left.min(bytes.len());
    let (written, result) = write_fully(file, bytes.get(..n).unwrap_or_default());
    *room = Some(left.saturating_sub(written));
    match result {
        Ok(()) if written < bytes.len() => {
            (written, Err(io::Error::from_raw_os_error(libc::ENOSPC)))
        }
        other => (written, other),
    }
}

/// `<path>: <what>: <error>`, keeping the error's kind.
fn with_path(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {what}: {e}", path.display()))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn timestamp(wall: i64) -> String {
    let mut s = String::with_capacity(24);
    logline::write_timestamp(&mut s, wall);
    s
}

/// `stamped <first> to <last>` (or `stamped <first>`), for notes.
fn range_text(first: i64, last: i64) -> String {
    if first > last {
        "no event lines".to_owned()
    } else if first == last {
        format!("stamped {}", timestamp(first))
    } else {
        format!("stamped {} to {}", timestamp(first), timestamp(last))
    }
}

/// Earliest and latest time of the event lines among `items` (`(MAX, MIN)` if none).
fn wall_range<'a>(items: impl Iterator<Item = &'a Item>) -> (i64, i64) {
    items
        .filter(|i| i.events() > 0)
        .fold((i64::MAX, i64::MIN), |(a, b), i| {
            (a.min(i.wall()), b.max(i.wall()))
        })
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
            j.record(w(t), "node1", n).unwrap();
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
        let mut j =
            Journal::open(&dir.0, "node2", 3, &four, at("2026-11-23T23:59:59.000Z")).unwrap();
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
        let e = Journal::open(&dir.0, "node2", 3, &nodes(), at("2026-11-23T20:09:18.938Z"))
            .unwrap_err();
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
        let e = Journal::open(&dir.0, "node2", 3, &nodes(), at("2026-11-23T20:09:18.938Z"))
            .unwrap_err();
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
        j.room = Some(0); // the disk is full
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

        j.room = None; // room again
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
        j.room = Some(10);
        j.record(w("2026-11-23T20:09:25.940Z"), "node1", 1).unwrap();
        assert_eq!(read(&path), before, "the cut part was truncated away");
        assert_eq!(j.pending(), 1);
        // Room for the first waiting line and 5 bytes of the second: one whole line stays.
        j.room = Some(33 + 5);
        j.record(w("2026-11-23T20:09:26.940Z"), "node1", 2).unwrap();
        let one = format!("{before}2026-11-23T20:09:25.940Z|node1|1\n");
        assert_eq!(read(&path), one);
        assert_eq!(j.pending(), 1);
        assert_clean(&path, "2026-11-23");
        j.room = None;
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
        j.room = Some(20); // part of the new day's `---` + header
        j.new_day(w("2026-11-24T00:00:00.000Z"), &[("node3", 2)])
            .unwrap();
        let day2 = dir.0.join("2026-11-24-node2.log");
        assert_eq!(read(&day2), "", "nothing half-written stays");
        j.room = None;
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
        j.max_lines = 20;
        j.room = Some(0);
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
        j.room = None;
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
        j.room = Some(0);
        j.record(w("2026-11-23T20:00:01.000Z"), "node1", 1).unwrap();
        j.record(w("2026-11-23T20:00:02.000Z"), "node1", 2).unwrap();
        notes(&mut j);
        j.shutdown(w("2026-11-23T20:00:03.000Z"));
        assert_eq!(
            notes(&mut j),
            [format!(
                "{}: 2 lines could not be written and are lost (stamped \
                 2026-11-23T20:00:01.000Z to 2026-11-23T20:00:02.000Z); the last error was said above",
                path.display()
            )]
        );
        // With room again, the last try writes them.
        j.room = None;
        j.shutdown(w("2026-11-23T20:00:04.000Z"));
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
        j.room = Some(0);
        j.record(w("2026-11-23T20:00:01.000Z"), "node3", 1).unwrap();
        let new: Nodes = vec![
            ("node2", "127.0.0.1:47002".parse().unwrap()),
            ("node5", "127.0.0.1:47005".parse().unwrap()),
        ];
        j.reconfigure(w("2026-11-23T20:00:02.000Z"), 3, &new, &[])
            .unwrap();
        j.record(w("2026-11-23T20:00:03.000Z"), "node5", 1).unwrap();
        assert_eq!(j.pending(), 2);
        j.room = None;
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
}
