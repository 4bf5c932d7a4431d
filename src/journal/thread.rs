//! The writer thread: a [`Store`] run off the poll loop, fed by a bounded queue. A disk
//! that hangs (frozen, a dead NFS server, a dying SD card) holds this thread in the
//! kernel and nothing else: the loop goes on probing and answering while lines wait in
//! the planner's queue.
//!
//! At most one plan is with the thread at a time (the planner waits for its result), so
//! the request queue holds that plan and the occasional prune or sync. Each result goes
//! back on a channel, and `wake` tells the loop to come and take it.

use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread;
use std::time::Duration;

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

/// The handle the loop keeps.
#[derive(Debug)]
pub struct WriterThread {
    requests: SyncSender<Request>,
    reports: Receiver<Report>,
}

impl WriterThread {
    /// Starts the thread with `store`; `wake` is called after each report is sent.
    pub fn spawn(
        mut store: Box<dyn Store + Send>,
        wake: Box<dyn Fn() + Send>,
    ) -> io::Result<WriterThread> {
        let (requests, inbox) = mpsc::sync_channel::<Request>(REQUESTS);
        let (outbox, reports) = mpsc::channel::<Report>();
        thread::Builder::new()
            .name("log writer".to_owned())
            .stack_size(STACK)
            .spawn(move || {
                // Ends when the loop drops its handle (and the request in hand is done).
                while let Ok(request) = inbox.recv() {
                    let report = match request {
                        Request::Write(plan) => {
                            let written = store.write(&plan);
                            Report::Wrote(plan, written)
                        }
                        Request::Prune(before_day) => Report::Pruned(store.prune(before_day)),
                        Request::Sync => Report::Synced(store.sync()),
                    };
                    if outbox.send(report).is_err() {
                        break;
                    }
                    wake();
                }
            })?;
        Ok(WriterThread { requests, reports })
    }

    /// Hands `request` to the thread without waiting; gives it back if the queue is full,
    /// or the thread is gone (`true`).
    pub fn send(&self, request: Request) -> Result<(), (Request, bool)> {
        self.requests.try_send(request).map_err(|e| match e {
            TrySendError::Full(r) => (r, false),
            TrySendError::Disconnected(r) => (r, true),
        })
    }

    /// A report, if one is ready.
    pub fn try_recv(&self) -> Option<Report> {
        self.reports.try_recv().ok()
    }

    /// A report, waiting at most `limit`.
    pub fn recv_timeout(&self, limit: Duration) -> Option<Report> {
        self.reports.recv_timeout(limit).ok()
    }
}
