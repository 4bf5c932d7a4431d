//! The log files: format 0.0.3 (see [`crate::logline`]), one file per UTC day, append-only,
//! and nothing lost to a full disk, a read-only remount, a frozen or hung disk, a deleted
//! folder or a rotated file.
//!
//! A [`Journal`] writes `<folder>/<YYYY-MM-DD>-<whoami>.log`, the date being the UTC day of
//! each line's own time. It is two parts:
//! - the planner ([`plan::Planner`]): the queue, the headers, the carried counts, the drop
//!   policy, what goes into which file, the notes; no file call, time a parameter. The
//!   simulator runs the same planner over files in memory.
//! - the store ([`file::FileStore`]): the file calls (append, truncate back to the last
//!   whole line, the device/inode checks, reopen, prune, sync). In the daemon it runs on
//!   the writer thread ([`thread`]), so a disk that hangs never stops the poll loop.
//!
//! Both clocks are parameters ([`Now`]: monotonic ms for retries and stalls, wall-clock
//! Unix ms for the lines); this module reads no clock but, at shutdown, the time it waits.
//!
//! Lines go through the planner's queue: [`Journal::record`], [`Journal::new_day`] and
//! [`Journal::reconfigure`] append to it and hand the front to the store at once if it is
//! free; what cannot be written waits, in order, each line keeping the wall time of its
//! change, and is tried again on every later line and at [`Journal::poll_at`] (every
//! [`RETRY_MS`]). The journal says what happens in notes ([`Journal::take_note`]) the shell
//! prints on stderr: once when lines start waiting (the error, which names the file), once
//! when they went out (how many, how long the oldest waited), once when a write has hung
//! for [`STALL_MS`] (since when; the node goes on probing) and once when it went on (every
//! line written in order), and whenever a file had to be reopened or lines had to be
//! dropped.
//!
//! Guarantees:
//! - Files are opened with `O_APPEND`; no byte that was written whole is ever rewritten.
//! - One append (a plan: whole lines for one file, at most [`MAX_BATCH`] bytes) is handed
//!   to the kernel in one `write` call, continued only if the kernel accepts part of it.
//!   If the disk refuses the rest (`ENOSPC`, `EIO`, `EROFS`, ...), the file is truncated
//!   back to the end of the last whole line written (this process is the file's only
//!   writer), so no cut line is left; the lines not written wait. Only if that truncate
//!   fails too can a cut line stay (said in a note); it is then ended with `"\n"` before
//!   the next append, as is a line cut short by a crash before this process opened the
//!   file.
//! - A write that hangs (a frozen file system, a dead NFS server) holds only the writer
//!   thread. New lines wait behind it in memory, stamped when they happened; when it
//!   returns, they are written in order.
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
//!   first, and says so. A file emptied under it (`copytruncate`) gets `---` and header
//!   before the next line.
//! - At most [`MAX_PENDING_LINES`] lines wait. Beyond that the oldest tenth of those the
//!   writer does not hold are dropped (the newest lines say the most about the present)
//!   and a note says how many and the time range; a `---` + header stamped with the first
//!   kept line's time, carrying every peer's count as the dropped lines left it, then
//!   marks the gap. Every file stays valid 0.0.3 and a reader sees the dropped stretch as
//!   a restart, i.e. unknown time.
//! - [`Journal::open`] still fails when the folder or the file cannot be created or the
//!   first `---` + header cannot be written: at start that is a configuration error (it
//!   writes on the caller's thread: a start on a frozen disk waits for it).
//! - [`Journal::shutdown`] waits for the writer at most the grace it is given, then says
//!   what stays unwritten.
//! - Invalid input (bad names, a threshold of 0, whoami not among the nodes, an event
//!   about an unknown node or about whoami, a count above the threshold) is refused with
//!   [`io::ErrorKind::InvalidInput`] and nothing is queued, so every file passes
//!   [`crate::logline::check_file`].
//! - Every error message and note names the file (or folder) concerned. Nothing here
//!   panics, whatever the disk or the files' contents.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::mesh::Now;

pub mod file;
pub mod plan;
mod thread;

pub use file::{FileStore, prune};
pub use plan::{
    CHECK_MS, JournalStats, MAX_BATCH, MAX_PENDING_LINES, Plan, Planner, RETRY_MS, STALL_MS, Store,
    Written,
};
use thread::{Report, Request, WriterThread};

/// How long [`Journal::shutdown`] gives a writer that is stuck, in the daemon.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The log files of one node: the planner, and the store inline or on its thread.
#[derive(Debug)]
pub struct Journal {
    planner: Planner,
    /// The store, while writes are made on the caller's thread (at start, in tests).
    inline: Option<Box<FileStore>>,
    /// The writer thread, once started.
    thread: Option<WriterThread>,
    /// The newest prune asked while the writer's queue was full.
    prune_waiting: Option<i64>,
    /// The writer thread is gone (said once).
    writer_gone: bool,
}

impl Journal {
    /// Opens (creating the folder and the file if needed)
    /// `<folder>/<YYYY-MM-DD>-<whoami>.log` for the UTC day of `now` (wall-clock ms), in
    /// append mode (never truncates), and appends `---` + the header line (time `now`). If
    /// the file is not empty and its last byte is not `"\n"` (a line cut short by a crash),
    /// it first appends `"\n"` so the cut line stays on its own. Writes go on on the
    /// caller's thread until [`Journal::start_writer`].
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
        let mut planner = Planner::new(folder, whoami, threshold, nodes, now, 0)?;
        let path = planner.path().to_path_buf();
        let existed = path.exists();
        let mut store = FileStore::new(folder, whoami);
        if let Some(plan) = planner.next_plan(0, now) {
            let mut written = store.write(&plan);
            if let Some(e) = written.error.take() {
                // Leave no empty file behind a start that could not write its header (a
                // full disk): the reader would take it for a damaged log.
                if !existed {
                    file::remove_if_empty(&path);
                }
                return Err(e);
            }
            planner.done(plan, written, 0);
        }
        Ok(Journal {
            planner,
            inline: Some(Box::new(store)),
            thread: None,
            prune_waiting: None,
            writer_gone: false,
        })
    }

    /// Moves the file calls to a writer thread; `wake` is called (on that thread) whenever
    /// it has a result, so the poll loop comes to [`Journal::handle_timeout`]. Errors: the
    /// thread cannot be started (writes then stay on the caller's thread).
    pub fn start_writer(&mut self, wake: Box<dyn Fn() + Send>) -> io::Result<()> {
        let Some(store) = self.inline.take() else {
            return Ok(());
        };
        self.start_writer_with(store, wake)
    }

    /// [`Journal::start_writer`] with any store (tests: a disk that hangs).
    fn start_writer_with(
        &mut self,
        store: Box<dyn Store + Send>,
        wake: Box<dyn Fn() + Send>,
    ) -> io::Result<()> {
        self.thread = Some(WriterThread::spawn(store, wake)?);
        Ok(())
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
        self.planner.new_day(now.mono, now.wall, carried)?;
        self.pump(now);
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
        self.planner.record(now.mono, now.wall, node, timeouts)?;
        self.pump(now);
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
        self.planner
            .reconfigure(now.mono, now.wall, threshold, nodes, carried)?;
        self.pump(now);
        Ok(())
    }

    /// Checks now (not at the next line or minute) that the path still names the open
    /// file, and if not creates it again, `---` and header first: SIGHUP after logrotate
    /// moved the file (its `postrotate`). Waiting lines are tried again too.
    pub fn reopen(&mut self, now: Now) {
        self.planner.check(now.mono, now.wall);
        self.pump(now);
    }

    /// Deletes this node's day files of days before `before_day` (on the writer thread if
    /// there is one); what happened comes back as notes.
    pub fn prune(&mut self, before_day: i64) {
        if let Some(store) = &mut self.inline {
            for line in store.prune(before_day) {
                self.planner.note(line);
            }
            return;
        }
        self.prune_waiting = Some(self.prune_waiting.map_or(before_day, |d| d.max(before_day)));
        self.send_prune();
    }

    /// When [`Journal::handle_timeout`] next has something to do (monotonic ms): the next
    /// retry while lines wait, the stall note while a write hangs, else the next check of
    /// the path.
    pub fn poll_at(&self) -> u64 {
        self.planner.poll_at()
    }

    /// Takes what the writer thread did, tries the waiting lines again if their retry is
    /// due, checks (at most every [`CHECK_MS`]) that the path still names the open file,
    /// and says once when a write has hung for [`STALL_MS`]. Call it on every loop pass.
    pub fn handle_timeout(&mut self, now: Now) {
        self.take_reports(now);
        if self.planner.check_due(now.mono) && self.planner.check(now.mono, now.wall) {
            self.pump(now);
        }
        if self.planner.retry_due(now.mono) {
            self.pump(now);
        }
        self.planner.check_stall(now.mono);
    }

    /// A last try to write what waits, waiting for the writer thread at most `grace`, then
    /// a sync of the file's data (within the same grace); a note says what stays
    /// unwritten.
    pub fn shutdown(&mut self, now: Now, grace: Duration) {
        let start = Instant::now();
        let at = |start: Instant| Now {
            mono: now
                .mono
                .saturating_add(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)),
            ..now
        };
        self.take_reports(now);
        self.planner.retry_now();
        self.pump(now);
        let mut synced = false;
        if self.thread.is_some() {
            // Lines first, then the sync, each result awaited within the grace.
            loop {
                if !self.planner.in_flight() {
                    if !self.planner.is_empty() || synced {
                        break;
                    }
                    synced = true;
                    if self.send_sync().is_err() {
                        break;
                    }
                }
                let left = grace.saturating_sub(start.elapsed());
                let Some(report) = self.thread.as_ref().and_then(|t| t.recv_timeout(left)) else {
                    if synced {
                        self.planner.note(format!(
                            "{}: the last sync did not finish within {} s",
                            self.planner.path().display(),
                            grace.as_secs()
                        ));
                    }
                    break;
                };
                let done = matches!(report, Report::Synced(_));
                self.on_report(report, at(start));
                if done {
                    break;
                }
            }
        } else if let Some(store) = &mut self.inline
            && let Err(e) = store.sync()
        {
            self.planner.note(e.to_string());
        }
        self.planner.say_lost();
    }

    /// The next note for the operator (stderr), oldest first.
    pub fn take_note(&mut self) -> Option<String> {
        self.planner.take_note()
    }

    /// Event lines waiting, written and dropped so far, and appends refused.
    pub fn stats(&self) -> JournalStats {
        self.planner.stats()
    }

    /// Event lines waiting to be written.
    pub fn pending(&self) -> usize {
        self.planner.pending()
    }

    /// Path of the file written (or tried) last.
    pub fn path(&self) -> &Path {
        self.planner.path()
    }

    /// Test hook: how many more bytes the inline store's "disk" accepts (`None`: all).
    #[cfg(test)]
    fn set_room(&mut self, room: Option<usize>) {
        if let Some(store) = &mut self.inline {
            store.room = room;
        }
    }

    /// Hands the front of the queue to the store, if it is free: inline, plan after plan
    /// until done or one fails; on the thread, one plan (the next goes when its result
    /// comes back).
    fn pump(&mut self, now: Now) {
        if let Some(store) = &mut self.inline {
            while let Some(plan) = self.planner.next_plan(now.mono, now.wall) {
                let written = store.write(&plan);
                let failed = written.error.is_some();
                self.planner.done(plan, written, now.mono);
                if failed {
                    break;
                }
            }
            return;
        }
        let Some(writer) = &self.thread else {
            return;
        };
        if let Some(plan) = self.planner.next_plan(now.mono, now.wall) {
            match writer.send(Request::Write(plan)) {
                Ok(()) => {}
                Err((request, gone)) => {
                    if let Request::Write(plan) = request {
                        self.planner.unsent(plan);
                    }
                    if gone {
                        self.writer_died();
                    }
                }
            }
        }
        self.send_prune();
    }

    /// Sends the waiting prune, if the writer's queue has room.
    fn send_prune(&mut self) {
        let (Some(writer), Some(before_day)) = (&self.thread, self.prune_waiting) else {
            return;
        };
        match writer.send(Request::Prune(before_day)) {
            Ok(()) => self.prune_waiting = None,
            Err((_, gone)) => {
                if gone {
                    self.writer_died();
                }
            }
        }
    }

    fn send_sync(&mut self) -> Result<(), ()> {
        let Some(writer) = &self.thread else {
            return Err(());
        };
        writer.send(Request::Sync).map_err(|_| ())
    }

    /// Takes the writer thread's results, handing the next plan over after each success.
    fn take_reports(&mut self, now: Now) {
        while let Some(report) = self.thread.as_ref().and_then(WriterThread::try_recv) {
            self.on_report(report, now);
        }
    }

    fn on_report(&mut self, report: Report, now: Now) {
        match report {
            Report::Wrote(plan, written) => {
                let ok = written.error.is_none();
                self.planner.done(plan, written, now.mono);
                if ok {
                    self.pump(now);
                }
            }
            Report::Pruned(lines) => lines.into_iter().for_each(|l| self.planner.note(l)),
            Report::Synced(Ok(())) => {}
            Report::Synced(Err(e)) => self.planner.note(e.to_string()),
        }
    }

    /// The writer thread ended (it never should: it has nothing that panics): lines wait
    /// in memory from now on, under the drop policy.
    fn writer_died(&mut self) {
        if !self.writer_gone {
            self.writer_gone = true;
            self.planner.note(format!(
                "{}: the log writer thread is gone: lines wait in memory (at most {MAX_PENDING_LINES}) and are not written",
                self.planner.path().display()
            ));
        }
    }
}

#[cfg(test)]
mod tests;
