//! The journal's decisions, without a file call and without a clock: what waits, in which
//! order, what each file gets (`---`, headers, carried counts, event lines), what to drop
//! when too much waits, when to try again and what to tell the operator.
//!
//! Records go in ([`Planner::record`], [`Planner::new_day`], [`Planner::reconfigure`],
//! [`Planner::check`]); write plans come out ([`Planner::next_plan`]), one at a time, each
//! the whole lines of one day's file; what a [`Store`] made of a plan comes back
//! ([`Planner::done`]). Times are parameters: `mono` (monotonic ms) times retries, stalls
//! and waits; `wall` (Unix ms) stamps lines and picks the day's file.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::logline::{self, RESTART};
use crate::name;

/// Most lines (events, and two per `---` + header) waiting in memory for the disk.
pub const MAX_PENDING_LINES: usize = 10_000;
/// Time between two tries to write waiting lines (monotonic ms).
pub const RETRY_MS: u64 = 1_000;
/// Longest time between two checks that the path still names the open file.
pub const CHECK_MS: u64 = 60_000;
/// Most bytes of lines in one plan (one `write` call).
pub const MAX_BATCH: usize = 64 * 1024;
/// How long one plan may stay with the writer before the log counts as stalled (a frozen
/// or hung file system: the writer is stuck in the kernel).
pub const STALL_MS: u64 = 5_000;

/// What a plan becomes: the file calls. The daemon's is [`super::file::FileStore`] (run on
/// the writer thread); the simulator's keeps the files in memory.
pub trait Store {
    /// Appends `plan` to the file at `plan.path`: `plan.lead` first if that file must
    /// start a new run (it was just created or opened, reopened because its path names
    /// another file now, or emptied by another program), then `plan.text`. Reports how
    /// many of the plan's items went out whole; nothing of the others stays in the file.
    fn write(&mut self, plan: &Plan) -> Written;
    /// Deletes this node's day files of days before `before_day`; one line per file.
    fn prune(&mut self, before_day: i64) -> Vec<String>;
    /// Flushes the open file's data to the disk.
    fn sync(&mut self) -> io::Result<()>;
}

/// One append: whole lines for one day's file.
#[derive(Debug, Default)]
pub struct Plan {
    /// The day's file: `<folder>/<YYYY-MM-DD>-<whoami>.log`.
    pub path: PathBuf,
    /// Its UTC day ([`logline::day_number`]).
    pub day: i64,
    /// `---`, the header and the counts the first item needs if the file starts a new run
    /// there (empty if the first item is a header of its own).
    pub lead: String,
    /// The items' lines, one item after another.
    pub text: String,
    /// The end of each item in `text`: an item is written when all its bytes are.
    pub ends: Vec<usize>,
}

/// What the store made of a plan.
#[derive(Debug, Default)]
pub struct Written {
    /// How many of the plan's items went out whole (in order).
    pub items: usize,
    /// Why the rest did not (its message names the file).
    pub error: Option<io::Error>,
    /// What the store has to tell the operator (a file created again, emptied by another
    /// program, a cut line that could not be undone).
    pub notes: Vec<String>,
}

/// The nodes a header lists, in config order.
type Nodes = Arc<[(String, SocketAddr)]>;

/// The header's settings and every peer's count at one place in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Front {
    threshold: u32,
    /// Shared with the planner's `latest` and the reload that brought them: at 1000
    /// nodes each copy would be ~100 KiB.
    nodes: Nodes,
    /// Per node (index into `nodes`).
    counts: Vec<u32>,
}

impl Front {
    /// The state after `item` is written (or dropped).
    fn apply(&mut self, item: &Item) {
        match item {
            Item::Event { node, timeouts, .. } => {
                if let Some(c) = self.counts.get_mut(*node) {
                    *c = *timeouts;
                }
            }
            Item::NewDay { carried, .. } => {
                self.counts.iter_mut().for_each(|c| *c = 0);
                self.set(carried);
            }
            Item::Restart {
                state: Some(state), ..
            } => self.clone_from(state),
            Item::Restart { state: None, .. } | Item::Check { .. } => {}
            Item::Reconfigure {
                threshold,
                nodes,
                carried,
                ..
            } => {
                self.threshold = *threshold;
                self.nodes = Arc::clone(nodes);
                self.counts = vec![0; nodes.len()];
                self.set(carried);
            }
        }
    }

    fn set(&mut self, carried: &[(usize, u32)]) {
        for &(node, timeouts) in carried {
            if let Some(c) = self.counts.get_mut(node) {
                *c = timeouts;
            }
        }
    }
}

/// A line (or a day switch, a restart, a reload, a check of the file) waiting.
#[derive(Debug)]
enum Item {
    /// `<wall>|<node>|<timeouts>`; `node` indexes the nodes of the header in force.
    Event {
        wall: i64,
        mono: u64,
        node: usize,
        timeouts: u32,
    },
    /// A day switch: if the file of `wall`'s day starts a new run, `---` + header +
    /// `carried` (the non-zero counts), all at `wall`.
    NewDay {
        wall: i64,
        mono: u64,
        carried: Box<[(usize, u32)]>,
    },
    /// `---` + header + the non-zero counts, at `wall`, whether or not the file is new
    /// (at open, and to mark dropped lines). `state`: the settings and counts the header
    /// carries (`None`: those of the lines before it).
    Restart {
        wall: i64,
        mono: u64,
        state: Option<Box<Front>>,
    },
    /// A config reload: from here on `threshold` and `nodes` hold; `---` + the new header
    /// + `carried` (indices into `nodes`), at `wall`.
    Reconfigure {
        wall: i64,
        mono: u64,
        threshold: u32,
        nodes: Nodes,
        carried: Box<[(usize, u32)]>,
    },
    /// Nothing, unless the file must start a new run (deleted, renamed, replaced or
    /// emptied since the last line): then `---` + header + the counts, at `wall`.
    Check { wall: i64, mono: u64 },
}

impl Item {
    fn wall(&self) -> i64 {
        match *self {
            Item::Event { wall, .. }
            | Item::NewDay { wall, .. }
            | Item::Restart { wall, .. }
            | Item::Reconfigure { wall, .. }
            | Item::Check { wall, .. } => wall,
        }
    }

    fn mono(&self) -> u64 {
        match *self {
            Item::Event { mono, .. }
            | Item::NewDay { mono, .. }
            | Item::Restart { mono, .. }
            | Item::Reconfigure { mono, .. }
            | Item::Check { mono, .. } => mono,
        }
    }

    /// Weight against [`MAX_PENDING_LINES`]: every line it may write.
    fn lines(&self) -> usize {
        match self {
            Item::Event { .. } => 1,
            Item::NewDay { carried, .. } | Item::Reconfigure { carried, .. } => 2 + carried.len(),
            Item::Restart { .. } | Item::Check { .. } => 2,
        }
    }

    /// Event lines it stands for, as counted in notes and metrics (`---` and headers
    /// not counted).
    fn events(&self) -> usize {
        match self {
            Item::Event { .. } => 1,
            Item::NewDay { carried, .. } | Item::Reconfigure { carried, .. } => carried.len(),
            Item::Restart { .. } | Item::Check { .. } => 0,
        }
    }
}

/// Lines are waiting since a write failed.
#[derive(Debug)]
struct Outage {
    /// When the oldest line still waiting was queued (monotonic ms).
    oldest: u64,
    /// Event lines written since the outage began.
    written: usize,
}

/// A plan is with the store: since when, and the counts of lines then.
#[derive(Debug, Clone, Copy)]
struct Sent {
    mono: u64,
    wall: i64,
    written: u64,
    dropped: u64,
}

/// A plan stayed with the store past [`STALL_MS`], and that was said.
#[derive(Debug)]
struct Stall {
    since: Sent,
    path: PathBuf,
}

/// Event lines by fate, since the journal was opened (`---` and header lines not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Lines waiting in memory for the disk (those the writer holds among them).
    pub waiting: u64,
    /// Lines written.
    pub written: u64,
    /// Lines given up: dropped from a full queue of waiting lines.
    pub dropped: u64,
    /// Appends the disk refused (each retry counts).
    pub write_errors: u64,
}

/// The queue of one node's log lines and every decision about them.
#[derive(Debug)]
pub struct Planner {
    folder: PathBuf,
    whoami: String,
    /// Settings and counts as the written (or dropped) lines left them: what the header
    /// and the carried counts of the next plan start from.
    front: Front,
    /// Threshold and nodes of the newest record accepted: what new lines are checked
    /// against.
    latest: (u32, Nodes),
    /// Path of the file planned last.
    path: PathBuf,
    /// UTC day of the last line accepted (written or waiting): a path check at a wall
    /// time of another day waits for the engine's day switch (see [`Planner::check`]).
    day: i64,
    /// Lines not yet written, oldest first; the first `taken` are with the store.
    queue: VecDeque<Item>,
    taken: usize,
    /// Sum of [`Item::lines`] over the queue.
    queued_lines: usize,
    max_lines: usize,
    outage: Option<Outage>,
    sent: Option<Sent>,
    stall: Option<Stall>,
    /// When to try the queue again after a failure.
    retry_at: u64,
    /// When to check the path next.
    next_check: u64,
    notes: VecDeque<String>,
    stats: JournalStats,
    /// A plan's buffers, kept for the next one.
    spare: Option<Plan>,
}

impl Planner {
    /// A planner for `<folder>/<YYYY-MM-DD>-<whoami>.log`, its first item a `---` + header
    /// at `wall` (a start). `nodes` is every configured node in config order, whoami
    /// included. `mono` is the monotonic clock now.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] if a name breaks [`name::check`], names
    /// repeat, whoami is not among `nodes` or `threshold` is 0.
    pub fn new(
        folder: &Path,
        whoami: &str,
        threshold: u32,
        nodes: &[(&str, SocketAddr)],
        wall: i64,
        mono: u64,
    ) -> io::Result<Planner> {
        validate_config(folder, whoami, threshold, nodes)?;
        let owned: Nodes = nodes.iter().map(|&(n, a)| (n.to_owned(), a)).collect();
        let mut planner = Planner {
            folder: folder.to_path_buf(),
            whoami: whoami.to_owned(),
            front: Front {
                threshold,
                nodes: Arc::clone(&owned),
                counts: vec![0; nodes.len()],
            },
            latest: (threshold, owned),
            path: day_path(folder, whoami, wall),
            day: logline::day_number(wall),
            queue: VecDeque::new(),
            taken: 0,
            queued_lines: 0,
            max_lines: MAX_PENDING_LINES,
            outage: None,
            sent: None,
            stall: None,
            retry_at: 0,
            next_check: mono.saturating_add(CHECK_MS),
            notes: VecDeque::new(),
            stats: JournalStats::default(),
            spare: None,
        };
        planner.push(Item::Restart {
            wall,
            mono,
            state: None,
        });
        Ok(planner)
    }

    /// The engine's day switch at `wall` (it alone decides when a day ends): that day's
    /// file, when it starts a new run, gets `---` + header + the non-zero counts of
    /// `carried`, all at `wall`.
    ///
    /// Errors ([`io::ErrorKind::InvalidInput`], nothing queued): an entry of `carried`
    /// that is not a peer or is above the threshold.
    pub fn new_day(&mut self, mono: u64, wall: i64, carried: &[(&str, u32)]) -> io::Result<()> {
        let mut kept = Vec::with_capacity(carried.len());
        for &(node, timeouts) in carried {
            let index = self.validate_event(node, timeouts)?;
            if timeouts != 0 {
                kept.push((index, timeouts));
            }
        }
        self.day = logline::day_number(wall);
        self.push(Item::NewDay {
            wall,
            mono,
            carried: kept.into_boxed_slice(),
        });
        Ok(())
    }

    /// `<wall>|<node>|<timeouts>`, for the file of `wall`'s day (after `---` + header and
    /// the other peers' non-zero counts if that file starts a new run there).
    ///
    /// Refuses ([`io::ErrorKind::InvalidInput`], nothing queued) a node that is not a
    /// configured peer, whoami itself, or `timeouts` above the threshold.
    pub fn record(&mut self, mono: u64, wall: i64, node: &str, timeouts: u32) -> io::Result<()> {
        let index = self.validate_event(node, timeouts)?;
        self.day = logline::day_number(wall);
        self.push(Item::Event {
            wall,
            mono,
            node: index,
            timeouts,
        });
        Ok(())
    }

    /// A config reload at `wall`: from here on lines are checked against, and headers
    /// list, `threshold` and `nodes`; `---` + the new header + the non-zero counts of
    /// `carried` go into the file of `wall`'s day.
    ///
    /// Errors ([`io::ErrorKind::InvalidInput`], nothing changed): what [`Planner::new`]
    /// refuses, or a `carried` entry that is not a peer of `nodes` or is above
    /// `threshold`. The folder and whoami cannot change.
    pub fn reconfigure(
        &mut self,
        mono: u64,
        wall: i64,
        threshold: u32,
        nodes: &[(&str, SocketAddr)],
        carried: &[(&str, u32)],
    ) -> io::Result<()> {
        validate_config(&self.folder, &self.whoami, threshold, nodes)?;
        let mut kept = Vec::with_capacity(carried.len());
        for &(node, timeouts) in carried {
            match nodes.iter().position(|&(n, _)| n == node) {
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
        let nodes: Nodes = nodes.iter().map(|&(n, a)| (n.to_owned(), a)).collect();
        self.day = logline::day_number(wall);
        self.latest = (threshold, Arc::clone(&nodes));
        self.push(Item::Reconfigure {
            wall,
            mono,
            threshold,
            nodes,
            carried: kept.into_boxed_slice(),
        });
        Ok(())
    }

    /// Asks for a check that the path still names the file (and a new run there, with
    /// the counts, if it does not): when nothing waits and `wall` is on the day of the
    /// last line (a check on another day leaves the switch to the engine's new day). Returns
    /// whether it queued one.
    pub fn check(&mut self, mono: u64, wall: i64) -> bool {
        self.next_check = mono.saturating_add(CHECK_MS);
        if !self.queue.is_empty() || logline::day_number(wall) != self.day {
            return false;
        }
        self.push(Item::Check { wall, mono });
        true
    }

    /// Whether the periodic check of the path is due.
    pub fn check_due(&self, mono: u64) -> bool {
        mono >= self.next_check
    }

    /// Whether lines wait and a failed write's retry is due (or nothing failed).
    pub fn retry_due(&self, mono: u64) -> bool {
        !self.queue.is_empty() && mono >= self.retry_at
    }

    /// Makes the retry due now (a last try at shutdown).
    pub fn retry_now(&mut self) {
        self.retry_at = 0;
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether a plan is with the store.
    pub fn in_flight(&self) -> bool {
        self.sent.is_some()
    }

    /// When something is next due (monotonic ms): the check of the path, a retry while
    /// lines wait, the stall note while a plan is with the store.
    pub fn poll_at(&self) -> u64 {
        let mut at = self.next_check;
        match self.sent {
            Some(sent) if self.stall.is_none() => {
                at = at.min(sent.mono.saturating_add(STALL_MS));
            }
            Some(_) => {}
            None if !self.queue.is_empty() => at = at.min(self.retry_at),
            None => {}
        }
        at
    }

    /// The next plan, if lines wait and no plan is with the store: the front items of
    /// one day's file, at most [`MAX_BATCH`] bytes, a restart or reload always first in
    /// its plan. The caller hands it to a store and its result to [`Planner::done`] (or
    /// gives it back unsent to [`Planner::unsent`]). `mono`/`wall`: now.
    pub fn next_plan(&mut self, mono: u64, wall: i64) -> Option<Plan> {
        if self.sent.is_some() || self.queue.is_empty() {
            return None;
        }
        let mut plan = self.spare.take().unwrap_or_default();
        self.build(&mut plan);
        self.path.clone_from(&plan.path);
        self.taken = plan.ends.len();
        self.sent = Some(Sent {
            mono,
            wall,
            written: self.stats.written,
            dropped: self.stats.dropped,
        });
        Some(plan)
    }

    /// A plan that could not be handed to the store: its items wait again.
    pub fn unsent(&mut self, plan: Plan) {
        self.sent = None;
        self.taken = 0;
        self.spare = Some(plan);
    }

    /// What the store made of `plan` (at `mono`): the items written leave the queue; on
    /// an error the rest waits for the retry. Says once when lines start waiting, once
    /// when they all went out, and when a stall said earlier is over.
    pub fn done(&mut self, plan: Plan, written: Written, mono: u64) {
        self.sent = None;
        let whole = written.items.min(self.taken);
        self.taken = 0;
        self.spare = Some(plan);
        for _ in 0..whole {
            let Some(item) = self.queue.pop_front() else {
                break;
            };
            self.queued_lines = self.queued_lines.saturating_sub(item.lines());
            self.front.apply(&item);
            let events = item.events();
            self.stats.written += events as u64;
            if let Some(outage) = &mut self.outage {
                outage.written = outage.written.saturating_add(events);
            }
        }
        self.notes.extend(written.notes);
        if let Some(e) = written.error {
            self.stats.write_errors += 1;
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
        if !self.queue.is_empty() {
            return;
        }
        if let Some(outage) = self.outage.take() {
            let waited = mono.saturating_sub(outage.oldest);
            self.note(format!(
                "{}: the waiting lines went out: {} line{} written, the oldest after {}",
                self.path.display(),
                outage.written,
                plural(outage.written),
                seconds(waited),
            ));
        }
        if let Some(stall) = self.stall.take() {
            let written = self.stats.written.saturating_sub(stall.since.written);
            let dropped = match self.stats.dropped.saturating_sub(stall.since.dropped) {
                0 => "none lost".to_owned(),
                n => format!("{n} dropped (said above)"),
            };
            self.note(format!(
                "writes to {} went on after {} (stalled since {}): {written} line{} written in \
                 order, stamped when they happened, {dropped}",
                stall.path.display(),
                seconds(mono.saturating_sub(stall.since.mono)),
                timestamp(stall.since.wall),
                if written == 1 { "" } else { "s" },
            ));
        }
    }

    /// Says once (at `mono`) that a plan has been with the store for [`STALL_MS`] or
    /// more: the disk is stuck, and lines wait in memory.
    pub fn check_stall(&mut self, mono: u64) {
        let Some(sent) = self.sent else {
            return;
        };
        let stuck = mono.saturating_sub(sent.mono);
        if self.stall.is_some() || stuck < STALL_MS {
            return;
        }
        let waiting = self.pending();
        self.note(format!(
            "writes to {} stalled since {} ({}); {waiting} line{} wait{} in memory (at most {}), \
             in order, stamped when they happened; probing goes on",
            self.path.display(),
            timestamp(sent.wall),
            whole_seconds(stuck),
            plural(waiting),
            if waiting == 1 { "s" } else { "" },
            self.max_lines,
        ));
        self.stall = Some(Stall {
            since: sent,
            path: self.path.clone(),
        });
    }

    /// At shutdown, after the last try: a note on what stays unwritten, if anything (and,
    /// if the store still holds a plan, that it is stuck).
    pub fn say_lost(&mut self) {
        let lost = self.pending();
        if lost == 0 {
            return;
        }
        let (first, last) = wall_range(self.queue.iter());
        // A write stuck in the kernel is abandoned when the process ends (the kernel lets
        // the writer go only when the disk answers, and then kills it).
        let why = match self.sent {
            Some(sent) => format!("writes stalled since {}", timestamp(sent.wall)),
            None => "the last error was said above".to_owned(),
        };
        self.note(format!(
            "{}: {lost} line{} could not be written and {} lost ({}); {why}",
            self.path.display(),
            plural(lost),
            if lost == 1 { "is" } else { "are" },
            range_text(first, last),
        ));
    }

    /// A note for the operator, from the driver (prune results, the writer's end).
    pub fn note(&mut self, note: String) {
        self.notes.push_back(note);
    }

    /// The next note for the operator (stderr), oldest first.
    pub fn take_note(&mut self) -> Option<String> {
        self.notes.pop_front()
    }

    /// Event lines waiting, written and dropped so far, and appends refused.
    pub fn stats(&self) -> JournalStats {
        JournalStats {
            waiting: self.pending() as u64,
            ..self.stats
        }
    }

    /// Event lines waiting to be written (those with the store among them).
    pub fn pending(&self) -> usize {
        self.queue.iter().map(Item::events).sum()
    }

    /// Path of the file planned last (or, before any plan, of the first).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Test hook: a smaller bound than [`MAX_PENDING_LINES`].
    #[cfg(test)]
    pub fn set_max_lines(&mut self, max: usize) {
        self.max_lines = max;
    }

    /// The index of `node` in the newest nodes if it is a peer and `timeouts` is in range.
    fn validate_event(&self, node: &str, timeouts: u32) -> io::Result<usize> {
        let (threshold, nodes) = (&self.latest.0, &self.latest.1);
        let index = nodes.iter().position(|(n, _)| n == node);
        let problem = if node == self.whoami {
            format!("{node:?} is this node (whoami), not a peer")
        } else if timeouts > *threshold {
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

    /// Queues `item`; past the bound, drops the oldest lines the store does not hold.
    fn push(&mut self, item: Item) {
        self.queued_lines = self.queued_lines.saturating_add(item.lines());
        self.queue.push_back(item);
        if self.queued_lines > self.max_lines {
            self.drop_oldest();
        }
    }

    /// Drops the oldest tenth of the bound (and room for the marker) among the items the
    /// store does not hold, never the newest item, and puts a [`Item::Restart`] marker
    /// stamped with the first kept line's time, carrying the counts the dropped lines
    /// left, in front of what is kept.
    fn drop_oldest(&mut self) {
        let room = self.max_lines / 10 + self.latest.1.len() + 2;
        let target = self.max_lines.saturating_sub(room);
        // The settings and counts as of the first item not held by the store, then as
        // each dropped item leaves them.
        let mut state = self.front.clone();
        for item in self.queue.iter().take(self.taken) {
            state.apply(item);
        }
        let mut dropped = 0;
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        while self.queued_lines > target && self.queue.len() > self.taken + 1 {
            let Some(item) = self.queue.remove(self.taken) else {
                break;
            };
            self.queued_lines = self.queued_lines.saturating_sub(item.lines());
            state.apply(&item);
            let events = item.events();
            dropped += events;
            self.stats.dropped += events as u64;
            if events > 0 {
                first = first.min(item.wall());
                last = last.max(item.wall());
            }
        }
        let Some(kept) = self.queue.get_mut(self.taken) else {
            return;
        };
        let (wall, mono) = (kept.wall(), kept.mono());
        match kept {
            // A reload's header carries its own settings and counts.
            Item::Reconfigure { .. } => {}
            Item::Restart { state: s, .. } => *s = Some(Box::new(state)),
            _ => {
                self.queue.insert(
                    self.taken,
                    Item::Restart {
                        wall,
                        mono,
                        state: Some(Box::new(state)),
                    },
                );
                self.queued_lines = self.queued_lines.saturating_add(2);
            }
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

    /// Fills `plan` from the front of the queue: the items of one day's file, up to
    /// [`MAX_BATCH`] bytes, each whole, with the end of each in `ends`.
    fn build(&mut self, plan: &mut Plan) {
        let Planner {
            queue,
            front,
            whoami,
            folder,
            ..
        } = self;
        plan.lead.clear();
        plan.text.clear();
        plan.ends.clear();
        let Some(first) = queue.front() else {
            return;
        };
        plan.day = logline::day_number(first.wall());
        plan.path = day_path(folder, whoami, first.wall());
        // The header's settings for the whole plan: a reload or a marker at the front
        // brings its own (later ones start their own plan).
        let (threshold, nodes, counts): (u32, &[(String, SocketAddr)], &[u32]) = match first {
            Item::Reconfigure {
                threshold, nodes, ..
            } => (*threshold, nodes, &[]),
            Item::Restart {
                state: Some(state), ..
            } => (state.threshold, &state.nodes, &state.counts),
            _ => (front.threshold, &front.nodes, &front.counts),
        };
        let header =
            |buf: &mut String, wall: i64, carried: &mut dyn Iterator<Item = (usize, u32)>| {
                write_header_block(buf, wall, threshold, whoami, nodes, carried);
            };
        let counted = || counts.iter().copied().enumerate();
        match first {
            Item::Event { wall, .. } | Item::Check { wall, .. } => {
                header(&mut plan.lead, *wall, &mut counted());
            }
            Item::NewDay { wall, carried, .. } => {
                header(&mut plan.lead, *wall, &mut carried.iter().copied());
            }
            Item::Restart { .. } | Item::Reconfigure { .. } => {}
        }
        for item in queue.iter() {
            if logline::day_number(item.wall()) != plan.day {
                break;
            }
            if !plan.ends.is_empty()
                && (plan.text.len() >= MAX_BATCH
                    || matches!(item, Item::Restart { .. } | Item::Reconfigure { .. }))
            {
                break;
            }
            match item {
                Item::Event {
                    wall,
                    node,
                    timeouts,
                    ..
                } => {
                    if let Some((name, _)) = nodes.get(*node) {
                        logline::write_event(&mut plan.text, *wall, name, *timeouts);
                        plan.text.push('\n');
                    }
                }
                Item::NewDay { .. } | Item::Check { .. } => {}
                Item::Restart { wall, .. } => header(&mut plan.text, *wall, &mut counted()),
                Item::Reconfigure { wall, carried, .. } => {
                    header(&mut plan.text, *wall, &mut carried.iter().copied());
                }
            }
            plan.ends.push(plan.text.len());
        }
        // Bound the buffers kept between plans.
        if plan.text.capacity() > 2 * MAX_BATCH {
            plan.text.shrink_to(2 * MAX_BATCH);
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

/// `<folder>/<YYYY-MM-DD>-<whoami>.log` for `wall`'s UTC day.
pub fn day_path(folder: &Path, whoami: &str, wall: i64) -> PathBuf {
    let mut file_name = logline::day_string(wall);
    file_name.push('-');
    file_name.push_str(whoami);
    file_name.push_str(".log");
    folder.join(file_name)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn timestamp(wall: i64) -> String {
    let mut s = String::with_capacity(24);
    logline::write_timestamp(&mut s, wall);
    s
}

/// `2.500 s`.
fn seconds(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

/// `15 s`, rounded down.
fn whole_seconds(ms: u64) -> String {
    format!("{} s", ms / 1000)
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
