//! The writer thread: a [`Store`] run off the poll loop, fed by a bounded queue. A disk
//! that hangs (frozen, a dead NFS server, a dying SD card) holds this thread in the
//! kernel and nothing else: the loop goes on probing and answering while lines wait in
//! the planner's queue.
//!
//! At most one plan is with the thread at a time (the planner waits for its result), so
//! the request queue holds that plan and the occasional prune or sync. Each result goes
//! back through the same lock, and `wake` tells the loop to come and take it. (A mutex and
//! a condition variable, not `std::sync::mpsc`: the router build is 40 KiB smaller.)

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::plan::{Plan, Store, Written};

/// Requests the queue to the thread holds at most (one plan, prunes, a sync).
const REQUESTS: usize = 4;
/// The thread's stack: it formats nothing bigger than a note.
const STACK: usize = 128 * 1024;

/// Work for the thread.
#[derive(Debug)]
pub enum Request {
    /// Append a plan.
    Write(Plan),
    /// Delete the day files of days before this one.
    Prune(i64),
    /// Flush the open file to the disk.
    Sync,
}

/// What the thread did.
#[derive(Debug)]
pub enum Report {
    /// The plan (given back for its buffers) and what became of it.
    Wrote(Plan, Written),
    /// One line per file deleted or not.
    Pruned(Vec<String>),
    /// The sync's result.
    Synced(io::Result<()>),
}

/// Both directions, under one lock.
#[derive(Debug, Default)]
struct Queues {
    requests: VecDeque<Request>,
    reports: VecDeque<Report>,
    /// The loop dropped its handle: the thread ends after the request in hand.
    closed: bool,
    /// The thread ended.
    gone: bool,
}

#[derive(Debug, Default)]
struct Shared {
    queues: Mutex<Queues>,
    /// A request for the thread, or a report for the loop.
    changed: Condvar,
}

impl Shared {
    /// The queues; a poisoned lock is taken as it is (nothing here panics while holding
    /// it, and the queues stay consistent at every step).
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handle the loop keeps; dropping it lets the thread end.
#[derive(Debug)]
pub struct WriterThread {
    shared: Arc<Shared>,
}

impl WriterThread {
    /// Starts the thread with `store`; `wake` is called after each report is queued.
    pub fn spawn(
        mut store: Box<dyn Store + Send>,
        wake: Box<dyn Fn() + Send>,
    ) -> io::Result<WriterThread> {
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        thread::Builder::new()
            .name("log writer".to_owned())
            .stack_size(STACK)
            .spawn(move || {
                while let Some(request) = next_request(&theirs) {
                    let report = match request {
                        Request::Write(plan) => {
                            let written = store.write(&plan);
                            Report::Wrote(plan, written)
                        }
                        Request::Prune(before_day) => Report::Pruned(store.prune(before_day)),
                        Request::Sync => Report::Synced(store.sync()),
                    };
                    theirs.lock().reports.push_back(report);
                    theirs.changed.notify_all();
                    wake();
                }
                theirs.lock().gone = true;
                theirs.changed.notify_all();
            })?;
        Ok(WriterThread { shared })
    }

    /// Hands `request` to the thread without waiting; gives it back if the queue is full,
    /// or the thread is gone (`true`).
    pub fn send(&self, request: Request) -> Result<(), (Request, bool)> {
        let mut queues = self.shared.lock();
        if queues.gone {
            return Err((request, true));
        }
        if queues.requests.len() >= REQUESTS {
            return Err((request, false));
        }
        queues.requests.push_back(request);
        drop(queues);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// A report, if one is ready.
    pub fn try_recv(&self) -> Option<Report> {
        self.shared.lock().reports.pop_front()
    }

    /// A report, waiting at most `limit`.
    pub fn recv_timeout(&self, limit: Duration) -> Option<Report> {
        let deadline = Instant::now().checked_add(limit);
        let mut queues = self.shared.lock();
        loop {
            if let Some(report) = queues.reports.pop_front() {
                return Some(report);
            }
            let left = deadline.map_or(limit, |d| d.saturating_duration_since(Instant::now()));
            if queues.gone || left.is_zero() {
                return None;
            }
            queues = self
                .shared
                .changed
                .wait_timeout(queues, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

/// The thread's next request, waiting for one; `None` once the loop is gone and nothing
/// is left to do.
fn next_request(shared: &Shared) -> Option<Request> {
    let mut queues = shared.lock();
    loop {
        if let Some(request) = queues.requests.pop_front() {
            return Some(request);
        }
        if queues.closed {
            return None;
        }
        queues = shared
            .changed
            .wait(queues)
            .unwrap_or_else(PoisonError::into_inner);
    }
}
