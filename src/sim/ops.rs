//! What operators and the shell do besides moving bytes, simulated: config reloads
//! (SIGHUP) mid-run, the `on_change` hook's runs, and the deletion of old log files
//! (`log_retention_days`). Each is the engine's own API or action carried out with a
//! simulated outcome: [`Engine::reconfigure`](crate::mesh::Engine::reconfigure) at drawn
//! times, each [`Action::Hook`](crate::mesh::Action::Hook) a run that lasts a drawn time
//! (killed when the engine says, reaped a few ms later), each
//! [`Action::PruneLogs`](crate::mesh::Action::PruneLogs) a deletion in a log folder the
//! nodes share (as on one machine with one config), among other nodes' files and files
//! that only look like day files. Times and choices come from the seed, from a generator of
//! their own: a run without ops draws exactly what it drew before.
//!
//! Reloads: every member of the mesh gets the new config within half an interval of the
//! others (a rollout; a frozen node when it resumes, a stopped one when it restarts).
//! - timings: new `interval`, `timeout`, `offline_threshold` and `online_threshold` for
//!   every node (a lower `offline_threshold` sends a peer offline at once);
//! - add: a new node starts with the new config, and every other node's lists it;
//! - remove: a node stops for good, and every other node's config drops it;
//! - move: a node stops, every other node's config gives it a new address (ip and port),
//!   and it restarts there later (in the ground truth: a crash).
//!
//! The run's checker is told the largest timings in force, each node's offline threshold
//! over time and the counts each reload's header carried, and, per node, when it was not a
//! member (a joiner until every node had its config, a removed node from its removal), so
//! properties 1 to 4 of [`super::check`] hold across reloads: the header each reload
//! writes keeps every file valid 0.0.3 and its counts continuous. Besides, checked here:
//! - H1. A node runs at most one hook per peer at a time and at most
//!   [`MAX_RUNNING_HOOKS`](crate::mesh::MAX_RUNNING_HOOKS) in all.
//! - H2. A run tells the peer's state as the node's log has it when the run starts (a
//!   change that waited behind a run tells the latest).
//! - H3. A run is killed when it reaches its timeout: not before, later only by the time
//!   its node was frozen, and never once its exit was reported.
//! - H4. Every run ends: at the end none is going on a running node past its timeout and
//!   the kill's grace.
//! - H5. Coalescing loses no change: per node and peer, the runs plus the changes they
//!   replaced (`coalesced`) equal the changes the log shows once the node's hooks are idle
//!   (never more), a removed peer's waiting change aside.
//! - P1. A prune's cutoff is the node's wall-clock day minus `log_retention_days`.
//! - P2. Prunes come at a (re)start, at a reload, or when the node's wall-clock day
//!   changed since its last prune.
//! - P3. A prune deletes this node's day files older than the cutoff, and nothing else of
//!   the shared folder (no other node's file, no file that only looks like a day file).
//! - P4. By the end, every running node has pruned with its current day's cutoff (unless
//!   the day began less than an interval before the end).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::fault::{Fault, FaultKind};
use super::journal::MemJournal;
use super::rng::Rng;
use super::{SimNode, What, World, check};
use crate::config::{Config, Node as CfgNode, OnChange};
use crate::logline::{self, RESTART};
use crate::mesh::{HookId, HookRun, MAX_RUNNING_HOOKS, PeerState};

/// What to do besides running the mesh (all off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ops {
    /// Reloads to draw (each at its own drawn time).
    pub reloads: Vec<Reload>,
    /// `on_change` on every node, each run lasting a drawn time.
    pub hooks: Option<Hooks>,
    /// `log_retention_days` on every node; each node's folder starts with day files of
    /// the days before the run.
    pub retention_days: Option<u32>,
}

impl Ops {
    /// Whether nothing is asked.
    pub fn is_empty(&self) -> bool {
        self.reloads.is_empty() && self.hooks.is_none() && self.retention_days.is_none()
    }
}

/// A kind of config reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// New `interval`, `timeout`, `offline_threshold` and `online_threshold`.
    Timings,
    /// A new node joins.
    Add,
    /// A node leaves the mesh for good.
    Remove,
    /// A node moves to another address.
    Move,
}

impl Reload {
    /// Every kind.
    pub const ALL: [Reload; 4] = [Reload::Timings, Reload::Add, Reload::Remove, Reload::Move];
}

/// Simulated `on_change` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hooks {
    /// `on_change_timeout_ms`.
    pub timeout_ms: u64,
    /// How long a run takes if not killed: uniform in this range, ms.
    pub run_ms: (u64, u64),
}

/// What the ops did in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Reloads applied to a running engine.
    pub reloads: usize,
    /// Headers the reloads wrote (`---`, the new header, the carried counts).
    pub reload_headers: usize,
    /// Hook runs started.
    pub hook_runs: usize,
    /// Of those, killed at their timeout.
    pub hook_kills: usize,
    /// Changes that waited and were replaced by a later one of the same peer.
    pub coalesced: u64,
    /// Most runs going on at once on one node.
    pub max_running: usize,
    /// Prunes asked for.
    pub prunes: usize,
    /// Day files deleted.
    pub deleted: usize,
}

/// The timings a reload may change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Timings {
    pub(super) interval: u64,
    pub(super) timeout: u64,
    pub(super) offline: u32,
    pub(super) online: u32,
}

impl Timings {
    fn of(cfg: &Config) -> Timings {
        Timings {
            interval: cfg.interval_ms,
            timeout: cfg.timeout_ms,
            offline: cfg.offline_threshold,
            online: cfg.online_threshold,
        }
    }

    fn max(self, o: Timings) -> Timings {
        Timings {
            interval: self.interval.max(o.interval),
            timeout: self.timeout.max(o.timeout),
            offline: self.offline.max(o.offline),
            online: self.online.max(o.online),
        }
    }
}

/// How long a killed run takes to be reaped, at most (ms).
const KILL_GRACE_MS: u64 = 20;
/// How often a frozen node is looked at again for a reload or a hook's exit (ms).
const POLL_MS: u64 = 50;
/// Files in every node's folder that only look like its day files.
const LOOKALIKES: [&str; 7] = [
    "notes.txt",
    "{day}-{me}.log.gz",
    "{day}-{me}.log~",
    "x{day}-{me}.log",
    "{day}-x-{me}.log",
    "2025-02-30-{me}.log",
    "{day}-{me}2.log",
];

/// An op event due.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// Planned reload `plan` reaches `node`.
    Reload { node: usize, plan: usize },
    /// Planned reload `plan` begins (a joiner starts, a leaver stops, a mover moves).
    Begin { plan: usize },
    /// Hook run `id` of `node` (incarnation `epoch`) exits.
    HookExit { node: usize, epoch: u32, id: u64 },
}

#[derive(Debug, Clone)]
struct Planned {
    kind: Reload,
    at: u64,
    /// The node added, removed or moved.
    node: Option<usize>,
    /// The timings it sets.
    timings: Timings,
    /// Nodes that still have to get it.
    left: usize,
    /// When the last one got it.
    done: u64,
}

#[derive(Debug, Clone)]
struct Run {
    id: u64,
    epoch: u32,
    peer: usize,
    start: u64,
    /// When its process ends (drawn; earlier once killed).
    exit_at: u64,
}

#[derive(Debug, Clone, Copy)]
struct HookRec {
    epoch: u32,
    peer: usize,
    coalesced: u32,
}

#[derive(Debug, Clone, Copy)]
struct PruneRec {
    epoch: u32,
    day: i64,
}

/// The ops' state in a run.
#[derive(Debug, Default)]
pub(super) struct State {
    ops: Ops,
    rng: Option<Rng>,
    due: Vec<Option<Due>>,
    free: Vec<usize>,
    plans: Vec<Planned>,
    /// Per world node: in the mesh's config now, its address there, and whether it is
    /// the earlier tool (`legacy_http`).
    member: Vec<bool>,
    addrs: Vec<SocketAddr>,
    legacy: Vec<bool>,
    /// The timings in force, and the largest of each.
    timings: Timings,
    max: Timings,
    /// Per node: its offline threshold from each time on.
    thresholds: Vec<Vec<(u64, u32)>>,
    /// Per node: the counts its reloads' headers carried, (events logged before it,
    /// time, peer, count): the place in the log matters, an event of the same ms may come
    /// before or after a header.
    carried: Vec<Vec<(usize, u64, usize, u32)>>,
    /// The joiner's world index, until it joins.
    joiner: Option<usize>,
    /// Per node: runs going on, runs started, prunes, when it last reloaded.
    runs: Vec<Vec<Run>>,
    started: Vec<Vec<HookRec>>,
    prunes: Vec<Vec<PruneRec>>,
    reloaded: Vec<Option<u64>>,
    /// Per node: spans when it was not a member.
    absent: Vec<Vec<(u64, u64)>>,
    violations: Vec<String>,
    pub(super) stats: Stats,
}

impl State {
    /// The largest interval, timeout, offline and online thresholds in force during the
    /// run.
    pub(super) fn max_timings(&self, cfg: &Config) -> Timings {
        if self.rng.is_none() {
            return Timings::of(cfg);
        }
        self.max
    }

    /// Per node, its offline threshold from each time on (empty: the config's throughout).
    pub(super) fn thresholds(&self, nodes: usize) -> Vec<Vec<(u64, u32)>> {
        (0..nodes)
            .map(|n| self.thresholds.get(n).cloned().unwrap_or_default())
            .collect()
    }

    /// `node`'s counts in its log's order: its `events` and the counts its reloads'
    /// headers carried, (time, peer, count).
    pub(super) fn log_counts(
        &self,
        node: usize,
        events: &[(u64, usize, u32)],
    ) -> Vec<(u64, usize, u32)> {
        let carried = self.carried.get(node).map_or(&[][..], Vec::as_slice);
        let mut out = Vec::with_capacity(events.len() + carried.len());
        let mut c = carried.iter().peekable();
        for (i, &e) in events.iter().enumerate() {
            while let Some(&(_, t, p, n)) = c.next_if(|x| x.0 <= i) {
                out.push((t, p, n));
            }
            out.push(e);
        }
        out.extend(c.map(|&(_, t, p, n)| (t, p, n)));
        out
    }

    /// Per node, its counts in its log's order when reloads' headers carried some
    /// (empty: its events alone).
    pub(super) fn counts(&self, events: &[&[(u64, usize, u32)]]) -> Vec<Vec<(u64, usize, u32)>> {
        events
            .iter()
            .enumerate()
            .map(|(n, e)| {
                if self.carried.get(n).is_none_or(Vec::is_empty) {
                    Vec::new()
                } else {
                    self.log_counts(n, e)
                }
            })
            .collect()
    }

    /// A reload's header at `node` at `t`, after `before` event lines, carried `counts`
    /// (by peer name).
    pub(super) fn note_carried(
        &mut self,
        node: usize,
        t: u64,
        before: usize,
        counts: &[(&str, u32)],
        by_name: &HashMap<String, usize>,
    ) {
        self.stats.reload_headers += 1;
        if let Some(c) = self.carried.get_mut(node) {
            for &(name, count) in counts {
                if let Some(&p) = by_name.get(name) {
                    c.push((before, t, p, count));
                }
            }
        }
    }

    /// `node`'s offline threshold at `t`.
    fn threshold_at(&self, node: usize, t: u64) -> u32 {
        self.thresholds
            .get(node)
            .and_then(|th| th.iter().rev().find(|&&(from, _)| from <= t))
            .map_or(1, |&(_, x)| x)
    }

    /// `node`'s config is `threshold`'s from `t` on.
    fn note_threshold(&mut self, node: usize, t: u64, threshold: u32) {
        if let Some(th) = self.thresholds.get_mut(node)
            && th.last().map(|&(_, x)| x) != Some(threshold)
        {
            th.push((t, threshold));
        }
    }

    /// Per node, when it was not a member of the mesh.
    pub(super) fn absent(&self, nodes: usize) -> Vec<Vec<(u64, u64)>> {
        (0..nodes)
            .map(|n| self.absent.get(n).cloned().unwrap_or_default())
            .collect()
    }

    /// Whether `node` waits to be started by an op (a joiner).
    pub(super) fn starts_later(&self, node: usize) -> bool {
        self.joiner == Some(node)
    }

    /// What the ops did.
    pub(super) fn stats(&self) -> Stats {
        self.stats.clone()
    }

    fn violation(&mut self, what: String) {
        if self.violations.len() < 100 {
            self.violations.push(what);
        }
    }
}

/// Writes a new header into `n`'s files for a reload: `---`, the header of its config now,
/// and the carried counts (what the real journal writes for `LogRecord::Reconfigured`).
/// A reload's header, as the engine's record gives it (threshold, nodes, carried counts).
pub(super) fn reconfigured(
    n: &mut SimNode,
    mono: u64,
    wall: i64,
    threshold: u32,
    nodes: Vec<(String, SocketAddr)>,
    carried: &[(&str, u32)],
) {
    n.journal.reconfigure(mono, wall, threshold, nodes, carried);
}

/// Gives `n` a journal whose headers list its config's nodes, keeping its files.
fn replace_journal(n: &mut SimNode) {
    let nodes = n
        .cfg
        .nodes
        .iter()
        .map(|x| (x.name.clone(), x.addr))
        .collect();
    n.journal.set_header(n.cfg.offline_threshold, nodes);
}

/// The day files of `whoami` among `names` of days before `before_day`: names exactly
/// `YYYY-MM-DD-<whoami>.log` with a valid date (the rule of [`crate::journal::prune`]).
pub fn prune_selection<'a>(
    names: impl IntoIterator<Item = &'a str>,
    whoami: &str,
    before_day: i64,
) -> Vec<&'a str> {
    let suffix = format!("-{whoami}.log");
    names
        .into_iter()
        .filter(|name| {
            name.strip_suffix(suffix.as_str())
                .and_then(day_of)
                .is_some_and(|day| day < before_day)
        })
        .collect()
}

/// The day number of `YYYY-MM-DD`, only if written exactly so.
fn day_of(date: &str) -> Option<i64> {
    if date.len() != 10 {
        return None;
    }
    let ms = logline::parse_timestamp(&format!("{date}T00:00:00.000Z")).ok()?;
    Some(logline::day_number(ms))
}

impl World {
    /// Draws the ops of the run and sets the nodes up for them: hooks and retention in
    /// every config, old day files, a joiner, reload events; faults that would restart a
    /// removed node or blur a move are dropped. Before the run starts.
    pub(super) fn plan_ops(&mut self) {
        if self.opts.ops.is_empty() {
            return;
        }
        let ops = self.opts.ops.clone();
        let mut rng = Rng::new(self.opts.seed ^ 0x6F70_735F_7369_6D31);
        let n = self.nodes.len();
        let base = self.nodes.first().map(|x| x.cfg.clone());
        let Some(base) = base else {
            return;
        };
        let mut st = State {
            member: vec![true; n],
            addrs: self.nodes.iter().map(|x| x.addr).collect(),
            legacy: base.nodes.iter().map(|x| x.legacy_http).collect(),
            timings: Timings::of(&base),
            max: Timings::of(&base),
            ops: ops.clone(),
            ..State::default()
        };
        for node in &mut self.nodes {
            node.cfg.on_change = ops.hooks.map(|h| OnChange {
                program: PathBuf::from("/simulated/on_change"),
                timeout_ms: h.timeout_ms,
                only_down: false,
            });
            node.cfg.log_retention_days = ops.retention_days;
        }
        if ops.reloads.contains(&Reload::Add) {
            st.joiner = Some(self.add_joiner(&mut st));
        }
        let total = self.nodes.len();
        st.runs.resize_with(total, Vec::new);
        st.started.resize_with(total, Vec::new);
        st.prunes.resize_with(total, Vec::new);
        st.reloaded.resize(total, None);
        st.absent.resize_with(total, Vec::new);
        st.thresholds = vec![vec![(0, base.offline_threshold)]; total];
        st.carried.resize_with(total, Vec::new);
        if ops.retention_days.is_some() {
            self.old_files();
        }
        self.plan_reloads(&mut st, &mut rng, &base);
        st.rng = Some(rng);
        self.ops = st;
    }

    /// A node that joins later, in no config yet: `joiner` at an address no node has.
    fn add_joiner(&mut self, st: &mut State) -> usize {
        let index = self.nodes.len();
        let mut octet = 1u8;
        let addr = loop {
            let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 200, 0, octet)), 47001);
            if !self.by_ip.contains_key(&a.ip()) || octet == u8::MAX {
                break a;
            }
            octet += 1;
        };
        let mut name = String::from("joiner");
        while self.by_name.contains_key(&name) {
            name.push('x');
        }
        let Some(mut cfg) = self.nodes.first().map(|x| x.cfg.clone()) else {
            return index;
        };
        cfg.whoami = name.clone();
        cfg.me = cfg.nodes.len();
        cfg.nodes.push(CfgNode {
            name: name.clone(),
            addr,
            legacy_http: false,
        });
        let journal = MemJournal::new(&name, cfg.offline_threshold, Vec::new());
        self.nodes.push(SimNode::new(cfg, addr, journal, 0));
        if let Some(node) = self.nodes.last_mut() {
            replace_journal(node);
        }
        self.by_ip.insert(addr.ip(), index);
        self.by_name.insert(name, index);
        st.member.push(false);
        st.addrs.push(addr);
        st.absent.resize_with(index + 1, Vec::new);
        index
    }

    /// Day files of the days before the run in every node's folder, each a valid 0.0.3
    /// file (a start and its header).
    fn old_files(&mut self) {
        let start_day = logline::day_number(self.opts.start_wall);
        for node in &mut self.nodes {
            for back in 1..=4 {
                let wall = (start_day - back) * 86_400_000 + 3_600_000;
                let nodes: Vec<(&str, SocketAddr)> = node
                    .cfg
                    .nodes
                    .iter()
                    .map(|x| (x.name.as_str(), x.addr))
                    .collect();
                let mut text = format!("{RESTART}\n");
                logline::write_header(
                    &mut text,
                    wall,
                    node.cfg.offline_threshold,
                    &node.cfg.whoami,
                    &nodes,
                );
                text.push('\n');
                let name = format!("{}-{}.log", logline::day_string(wall), node.cfg.whoami);
                node.journal.files_mut().insert(name, text);
            }
        }
    }

    /// Draws each reload's time and details, and schedules their beginnings.
    fn plan_reloads(&mut self, st: &mut State, rng: &mut Rng, base: &Config) {
        let duration = self.opts.duration_ms;
        let mut kinds = st.ops.reloads.clone();
        // Joins before leaves: a joiner is counted among the nodes that can leave.
        kinds.sort_by_key(|k| Reload::ALL.iter().position(|x| x == k));
        let mut times: Vec<u64> = kinds
            .iter()
            .map(|_| rng.range(duration / 5, duration * 3 / 4))
            .collect();
        times.sort_unstable();
        let mut timings = st.timings;
        let mut taken: Vec<usize> = Vec::new();
        let mut plans = Vec::new();
        for (kind, at) in kinds.into_iter().zip(times) {
            let mut p = Planned {
                kind,
                at,
                node: None,
                timings,
                left: 0,
                done: at,
            };
            match kind {
                Reload::Timings => {
                    // Each reload steps from the timings in force, within a band around
                    // the base config's: a storm of reloads is no random walk to an
                    // interval no config may have (or past u64).
                    let lo = (base.interval_ms / 4).max(20);
                    let hi = base.interval_ms.saturating_mul(4).max(lo);
                    let interval =
                        (timings.interval * [1, 3, 4][rng.range(0, 2) as usize] / 2).clamp(lo, hi);
                    let most = (interval * 250).min(base.timeout_ms.saturating_mul(4).max(10));
                    let timeout =
                        (timings.timeout * [2, 3, 4][rng.range(0, 2) as usize] / 3).clamp(10, most);
                    let offline = rng
                        .range(
                            u64::from(timings.offline.saturating_sub(2).max(1)),
                            u64::from(timings.offline) + 2,
                        )
                        .min(u64::from(base.offline_threshold) * 2 + 2)
                        as u32;
                    timings = Timings {
                        interval,
                        timeout,
                        offline,
                        online: rng.range(1, 3) as u32,
                    };
                    p.timings = timings;
                    st.max = st.max.max(timings);
                }
                Reload::Add => p.node = st.joiner,
                Reload::Remove | Reload::Move => {
                    // A member not yet removed or moved, never the last two.
                    let candidates: Vec<usize> = (0..base.nodes.len())
                        .filter(|i| !taken.contains(i))
                        .collect();
                    if candidates.len() < 3 {
                        continue;
                    }
                    let pick = candidates
                        .get(rng.range(0, candidates.len() as u64 - 1) as usize)
                        .copied();
                    p.node = pick;
                    taken.extend(pick);
                }
            }
            plans.push(p);
        }
        // The faults' bounds with the largest timings.
        let m = st.max;
        let bound = check::detection_bound(m.interval, m.timeout, m.offline, self.opts.latency.1);
        let recover = check::recovery_bound(m.interval, m.timeout, m.online, self.opts.latency.1);
        for (i, p) in plans.iter_mut().enumerate() {
            match (p.kind, p.node) {
                (Reload::Remove, Some(k)) => {
                    // Nothing may restart it or cut it after it left.
                    self.faults
                        .retain(|f| !(involves(f, k) && f.end + 1 >= p.at));
                }
                (Reload::Move, Some(k)) => {
                    let down = rng.range(m.interval.max(1), 3 * bound);
                    let (from, to) = (p.at.saturating_sub(bound), p.at + down + recover);
                    self.faults
                        .retain(|f| !(involves(f, k) && f.start <= to && from <= f.end));
                    // Its stop, in the ground truth: a crash until it restarts there.
                    self.faults.push(Fault {
                        kind: FaultKind::Crash,
                        node: k,
                        other: None,
                        start: p.at,
                        end: p.at + down,
                        step_ms: 0,
                    });
                }
                _ => {}
            }
            let slot = st.slot(Due::Begin { plan: i });
            self.push(p.at, What::Op(slot));
        }
        self.faults.sort_by_key(|f| (f.start, f.node, f.kind));
        st.plans = plans;
    }

    /// An op event.
    pub(super) fn on_op(&mut self, slot: usize) {
        let Some(due) = self.ops.due.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.ops.free.push(slot);
        match due {
            Due::Begin { plan } => self.begin(plan),
            Due::Reload { node, plan } => self.reload(node, plan),
            Due::HookExit { node, epoch, id } => self.hook_exit(node, epoch, id),
        }
    }

    fn schedule(&mut self, at: u64, due: Due) {
        let slot = self.ops.slot(due);
        self.push(at, What::Op(slot));
    }

    /// A reload begins: the operator changes the file (and starts, stops or moves a node),
    /// then each member gets the new config within half an interval.
    fn begin(&mut self, plan: usize) {
        let Some(p) = self.ops.plans.get(plan).cloned() else {
            return;
        };
        let mut after = self.now;
        match (p.kind, p.node) {
            (Reload::Timings, _) => {
                self.ops.timings = p.timings;
                // The simulated kernels take the new timings for new connections; the
                // disturbance mark follows the shorter timeout.
                let t = p.timings;
                self.user_timeout = crate::mesh::user_timeout_ms(t.interval, t.timeout);
                self.timeout = self.timeout.min(t.timeout);
            }
            (Reload::Add, Some(j)) => {
                if let Some(m) = self.ops.member.get_mut(j) {
                    *m = true;
                }
                // Not a member until every node has it (the end shortened then).
                if let Some(a) = self.ops.absent.get_mut(j) {
                    a.push((0, u64::MAX / 4));
                }
                self.ops.joiner = None;
                let cfg = self.config_for(j);
                self.ops.note_threshold(j, self.now, cfg.offline_threshold);
                if let Some(n) = self.nodes.get_mut(j) {
                    n.cfg = cfg;
                    replace_journal(n);
                }
                self.start_node(j);
            }
            (Reload::Remove, Some(k)) => {
                if let Some(m) = self.ops.member.get_mut(k) {
                    *m = false;
                }
                self.crash(k);
                if let Some(a) = self.ops.absent.get_mut(k) {
                    a.push((p.at, u64::MAX / 4));
                }
            }
            (Reload::Move, Some(k)) => {
                // Stopped by its crash fault at this very time: moved, it restarts at the
                // fault's end with its new config.
                self.crash(k);
                let old = self.ops.addrs.get(k).copied();
                let new = SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(10, 100, (k / 250) as u8, (k % 250 + 1) as u8)),
                    47002,
                );
                if let Some(a) = self.ops.addrs.get_mut(k) {
                    *a = new;
                }
                if let Some(old) = old {
                    self.by_ip.remove(&old.ip().to_canonical());
                }
                self.by_ip.insert(new.ip(), k);
                let cfg = self.config_for(k);
                self.ops.note_threshold(k, self.now, cfg.offline_threshold);
                if let Some(n) = self.nodes.get_mut(k) {
                    n.addr = new;
                    n.cfg = cfg;
                    replace_journal(n);
                }
                after += 1;
            }
            _ => return,
        }
        let members: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.ops.member.get(i).copied().unwrap_or(false) && Some(i) != p.node)
            .collect();
        if let Some(pl) = self.ops.plans.get_mut(plan) {
            pl.left = members.len();
            pl.done = after;
        }
        let half = self.ops.timings.interval / 2;
        for node in members {
            let jitter = self.ops.rng.as_mut().map_or(0, |r| r.range(0, half));
            self.schedule(after + jitter, Due::Reload { node, plan });
        }
    }

    /// `node` gets the mesh's config as it is now: a running engine reloads, a stopped
    /// node takes it at its restart, a frozen one when it resumes.
    fn reload(&mut self, node: usize, plan: usize) {
        let frozen = self.nodes.get(node).is_some_and(|n| n.frozen);
        if frozen {
            return self.schedule(self.now + POLL_MS, Due::Reload { node, plan });
        }
        let cfg = self.config_for(node);
        let now = self.clock(node);
        let t = self.now;
        self.ops.note_threshold(node, t, cfg.offline_threshold);
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        match n.engine.as_mut() {
            Some(engine) => {
                // Checked against the config in force, as the daemon's SIGHUP does.
                match n.cfg.reload(cfg) {
                    Ok(reload) => {
                        engine.reconfigure(&reload, now);
                        n.cfg = reload.into_config();
                    }
                    Err(e) => {
                        let msg = format!("reload: {} refused its new config: {e}", n.cfg.whoami);
                        self.ops.violation(msg);
                    }
                }
                self.ops.stats.reloads += 1;
                if let Some(r) = self.ops.reloaded.get_mut(node) {
                    *r = Some(t);
                }
                self.settle(node);
            }
            None => {
                n.cfg = cfg;
                replace_journal(n);
            }
        }
        if let Some(p) = self.ops.plans.get_mut(plan) {
            p.left = p.left.saturating_sub(1);
            p.done = p.done.max(t);
            if p.left == 0
                && p.kind == Reload::Add
                && let Some(j) = p.node
                && let Some(span) = self.ops.absent.get_mut(j).and_then(|a| a.last_mut())
            {
                span.1 = p.done;
            }
        }
    }

    /// The mesh's config as `node` reads it now.
    fn config_for(&self, node: usize) -> Config {
        let mut cfg = match self.nodes.first() {
            Some(n) => n.cfg.clone(),
            None => return crate::sim::mesh_config(1, 1000, 1000, 1),
        };
        cfg.nodes = (0..self.nodes.len())
            .filter(|&i| self.ops.member.get(i).copied().unwrap_or(false) || i == node)
            .filter_map(|i| {
                let name = self.nodes.get(i)?.cfg.whoami.clone();
                let addr = self.ops.addrs.get(i).copied()?;
                Some(CfgNode {
                    name,
                    addr,
                    legacy_http: self.ops.legacy.get(i).copied().unwrap_or(false),
                })
            })
            .collect();
        let name = self
            .nodes
            .get(node)
            .map(|n| n.cfg.whoami.clone())
            .unwrap_or_default();
        cfg.me = cfg.nodes.iter().position(|x| x.name == name).unwrap_or(0);
        cfg.whoami = name;
        let t = self.ops.timings;
        (cfg.interval_ms, cfg.timeout_ms) = (t.interval, t.timeout);
        (cfg.offline_threshold, cfg.online_threshold) = (t.offline, t.online);
        cfg
    }

    /// The engine of `node` started hook run `run`.
    pub(super) fn hook_started(&mut self, node: usize, run: HookRun) {
        let t = self.now;
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        let epoch = n.epoch;
        let me = n.cfg.whoami.clone();
        let Some(&peer) = self.by_name.get(&run.name) else {
            return self
                .ops
                .violation(format!("hook: {me} ran for unknown {}", run.name));
        };
        // H2: the state its log has now.
        let since = n.starts.last().copied().unwrap_or(0);
        let threshold = n.cfg.offline_threshold;
        let logged = self
            .ops
            .log_counts(node, &n.events)
            .iter()
            .rev()
            .take_while(|&&(at, _, _)| at >= since)
            .find(|&&(_, p, _)| p == peer)
            .map_or(0, |&(_, _, c)| c);
        let offline = logged >= threshold;
        if offline != (run.state == PeerState::Offline) {
            self.ops.violation(format!(
                "hook: {me} at {t} ran for {} saying {} but its log has it at {logged}",
                run.name,
                run.state.as_str()
            ));
        }
        let duration = {
            let (lo, hi) = self.opts.ops.hooks.map_or((0, 0), |h| h.run_ms);
            self.ops.rng.as_mut().map_or(lo, |r| r.range(lo, hi))
        };
        let runs = self.ops.runs.get_mut(node);
        let Some(runs) = runs else {
            return;
        };
        runs.retain(|r| r.epoch == epoch);
        // H1.
        if runs.iter().any(|r| r.peer == peer) {
            let msg = format!("hook: {me} at {t} ran a second hook for {}", run.name);
            self.ops.violation(msg);
        }
        let Some(runs) = self.ops.runs.get_mut(node) else {
            return;
        };
        runs.push(Run {
            id: run.id.0,
            epoch,
            peer,
            start: t,
            exit_at: t + duration,
        });
        let going = runs.len();
        if going > MAX_RUNNING_HOOKS {
            self.ops
                .violation(format!("hook: {me} at {t} runs {going} hooks at once"));
        }
        self.ops.stats.max_running = self.ops.stats.max_running.max(going);
        self.ops.stats.hook_runs += 1;
        self.ops.stats.coalesced += u64::from(run.coalesced);
        if let Some(s) = self.ops.started.get_mut(node) {
            s.push(HookRec {
                epoch,
                peer,
                coalesced: run.coalesced,
            });
        }
        self.schedule(
            t + duration,
            Due::HookExit {
                node,
                epoch,
                id: run.id.0,
            },
        );
    }

    /// The engine of `node` asked to kill run `id`.
    pub(super) fn hook_kill(&mut self, node: usize, id: HookId) {
        let t = self.now;
        let timeout = self.opts.ops.hooks.map_or(0, |h| h.timeout_ms);
        let epoch = self.nodes.get(node).map_or(0, |n| n.epoch);
        let me = self
            .nodes
            .get(node)
            .map(|n| n.cfg.whoami.clone())
            .unwrap_or_default();
        let Some(run) = self
            .ops
            .runs
            .get(node)
            .and_then(|rs| rs.iter().find(|r| r.id == id.0 && r.epoch == epoch))
            .cloned()
        else {
            return self.ops.violation(format!(
                "hook: {me} at {t} killed run {} that is not going (or was reported ended)",
                id.0
            ));
        };
        // H3: at its timeout; later only by the time its node was frozen.
        let due = run.start + timeout;
        let frozen_since = self
            .faults
            .iter()
            .any(|f| f.kind == FaultKind::Freeze && f.node == node && f.start <= t && due <= f.end);
        if t < due || (t > due && !frozen_since) {
            self.ops.violation(format!(
                "hook: {me} killed run {} at {t}, its timeout was due at {due}",
                id.0
            ));
        }
        self.ops.stats.hook_kills += 1;
        let grace = self
            .ops
            .rng
            .as_mut()
            .map_or(0, |r| r.range(0, KILL_GRACE_MS));
        let exit = (t + grace).min(run.exit_at);
        if let Some(r) = self
            .ops
            .runs
            .get_mut(node)
            .and_then(|rs| rs.iter_mut().find(|r| r.id == id.0 && r.epoch == epoch))
        {
            r.exit_at = exit;
        }
        self.schedule(
            exit,
            Due::HookExit {
                node,
                epoch,
                id: id.0,
            },
        );
    }

    /// A hook's process ends: its node's shell reaps it and tells the engine.
    fn hook_exit(&mut self, node: usize, epoch: u32, id: u64) {
        let t = self.now;
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        if n.epoch != epoch || n.engine.is_none() {
            return;
        }
        let current = self
            .ops
            .runs
            .get(node)
            .and_then(|rs| rs.iter().find(|r| r.id == id && r.epoch == epoch))
            .is_some_and(|r| r.exit_at == t);
        if !current {
            return; // an earlier plan for a run killed since, or already reaped
        }
        if n.frozen {
            // Its exit waits for the shell's next loop pass.
            if let Some(r) = self
                .ops
                .runs
                .get_mut(node)
                .and_then(|rs| rs.iter_mut().find(|r| r.id == id && r.epoch == epoch))
            {
                r.exit_at = t + POLL_MS;
            }
            return self.schedule(t + POLL_MS, Due::HookExit { node, epoch, id });
        }
        if let Some(rs) = self.ops.runs.get_mut(node) {
            rs.retain(|r| !(r.id == id && r.epoch == epoch));
        }
        let now = self.clock(node);
        if let Some(engine) = self.nodes.get_mut(node).and_then(|n| n.engine.as_mut()) {
            engine.on_hook_exit(HookId(id), now);
        }
        self.settle(node);
    }

    /// The engine of `node` asked to delete its day files of days before `before_day`.
    pub(super) fn prune(&mut self, node: usize, before_day: i64) {
        let t = self.now;
        let wall = self.clock(node).wall;
        let day = logline::day_number(wall);
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        let (me, epoch) = (n.cfg.whoami.clone(), n.epoch);
        let days = i64::from(n.cfg.log_retention_days.unwrap_or(0));
        self.ops.stats.prunes += 1;
        // P1.
        if before_day != day - days {
            self.ops.violation(format!(
                "prune: {me} at {t} deletes before day {before_day}, its day {day} less {days} days"
            ));
        }
        // P2.
        let at_start = n.starts.last() == Some(&t);
        let at_reload = self.ops.reloaded.get(node).copied().flatten() == Some(t);
        let last = self
            .ops
            .prunes
            .get(node)
            .and_then(|p| p.last())
            .filter(|p| p.epoch == epoch)
            .map(|p| p.day);
        if !at_start && !at_reload && last == Some(day) {
            self.ops.violation(format!(
                "prune: {me} at {t} pruned again on day {day}, not at a start, a reload or a new day"
            ));
        }
        if let Some(p) = self.ops.prunes.get_mut(node) {
            p.push(PruneRec { epoch, day });
        }
        // P3: over the shared folder: every node's files and the lookalikes.
        let lookalikes: Vec<String> = LOOKALIKES
            .iter()
            .map(|l| {
                l.replace("{day}", &logline::day_string(wall - 5 * 86_400_000))
                    .replace("{me}", &me)
            })
            .collect();
        let mut owner: HashMap<String, usize> = HashMap::new();
        for (i, other) in self.nodes.iter().enumerate() {
            for name in other.journal.files().keys() {
                owner.insert(name.clone(), i);
            }
        }
        let listing: Vec<&str> = owner
            .keys()
            .map(String::as_str)
            .chain(lookalikes.iter().map(String::as_str))
            .collect();
        let mut chosen: Vec<String> = prune_selection(listing, &me, before_day)
            .into_iter()
            .map(str::to_string)
            .collect();
        chosen.sort_unstable();
        for name in chosen {
            if owner.get(&name) != Some(&node) {
                self.ops
                    .violation(format!("prune: {me} at {t} deletes {name}, not its own"));
                continue;
            }
            if let Some(n) = self.nodes.get_mut(node) {
                n.journal.files_mut().remove(&name);
            }
            self.ops.stats.deleted += 1;
        }
    }

    /// The end-of-run properties (H4, H5, P4), into `violations`.
    pub(super) fn finish_ops(&mut self, violations: &mut Vec<String>) {
        if self.ops.rng.is_none() {
            return;
        }
        let end = self.now;
        let end_wall = |w: &World, node: usize| w.clock(node).wall;
        for node in 0..self.nodes.len() {
            let Some(n) = self.nodes.get(node) else {
                continue;
            };
            let Some(engine) = n.engine.as_ref() else {
                continue;
            };
            let me = n.cfg.whoami.clone();
            let frozen = n.frozen
                || self
                    .faults
                    .iter()
                    .any(|f| f.kind == FaultKind::Freeze && f.node == node && f.end + 1000 >= end);
            if frozen {
                continue;
            }
            // H4.
            if let Some(h) = self.opts.ops.hooks {
                let overdue: Vec<(u64, u64)> = self
                    .ops
                    .runs
                    .get(node)
                    .into_iter()
                    .flatten()
                    .filter(|r| {
                        let froze = self.faults.iter().any(|f| {
                            f.kind == FaultKind::Freeze && f.node == node && f.end >= r.start
                        });
                        r.epoch == n.epoch
                            && !froze
                            && end > r.start + h.timeout_ms + KILL_GRACE_MS + POLL_MS
                    })
                    .map(|r| (r.id, r.start))
                    .collect();
                for (id, start) in overdue {
                    self.ops.violation(format!(
                        "hook: {me}'s run {id} started at {start} still goes at {end}"
                    ));
                }
            }
            // H5: this incarnation's changes against its runs.
            if self.opts.ops.hooks.is_some() {
                let since = n.starts.last().copied().unwrap_or(0);
                let mut logged = self.ops.log_counts(node, &n.events);
                logged.retain(|&(at, _, _)| at >= since);
                let mut changes: BTreeMap<usize, u64> = BTreeMap::new();
                let mut offline: BTreeMap<usize, bool> = BTreeMap::new();
                for (at, p, c) in logged {
                    let threshold = self.ops.threshold_at(node, at);
                    let was = offline.get(&p).copied().unwrap_or(false);
                    let is = if c >= threshold {
                        true
                    } else if c == 0 {
                        false
                    } else {
                        was
                    };
                    if is != was {
                        *changes.entry(p).or_default() += 1;
                    }
                    offline.insert(p, is);
                }
                let mut told: BTreeMap<usize, u64> = BTreeMap::new();
                for h in self.ops.started.get(node).into_iter().flatten() {
                    if h.epoch == n.epoch {
                        *told.entry(h.peer).or_default() += 1 + u64::from(h.coalesced);
                    }
                }
                let idle = engine.hooks_running() == 0;
                let removed: Vec<usize> = (0..self.nodes.len())
                    .filter(|&i| !self.ops.member.get(i).copied().unwrap_or(true))
                    .collect();
                let peers: BTreeSet<usize> = changes.keys().chain(told.keys()).copied().collect();
                for p in &peers {
                    let (c, r) = (
                        changes.get(p).copied().unwrap_or(0),
                        told.get(p).copied().unwrap_or(0),
                    );
                    let name = self.nodes.get(*p).map_or("?", |x| x.cfg.whoami.as_str());
                    if r > c || (idle && r != c && !removed.contains(p)) {
                        self.ops.violation(format!(
                            "hook: {me} logged {c} changes of {name}, its hooks told {r} (idle: {idle})"
                        ));
                    }
                }
            }
            // P4.
            if let Some(days) = self.opts.ops.retention_days {
                let wall = end_wall(self, node);
                let day = logline::day_number(wall);
                let since_midnight = wall.rem_euclid(86_400_000) as u64;
                let last = self
                    .ops
                    .prunes
                    .get(node)
                    .and_then(|p| p.last())
                    .map(|p| p.day);
                if since_midnight > self.ops.max.interval + self.ops.max.timeout
                    && last != Some(day)
                {
                    self.ops.violation(format!(
                        "prune: {me} never pruned on its day {day} (last {last:?}, retention {days})"
                    ));
                }
            }
        }
        violations.append(&mut self.ops.violations);
    }
}

impl State {
    fn slot(&mut self, due: Due) -> usize {
        match self.free.pop() {
            Some(i) => {
                if let Some(d) = self.due.get_mut(i) {
                    *d = Some(due);
                }
                i
            }
            None => {
                self.due.push(Some(due));
                self.due.len() - 1
            }
        }
    }
}

/// Whether `f` happens to node `k` or on a path to it.
fn involves(f: &Fault, k: usize) -> bool {
    f.node == k || f.other == Some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The simulated folder's rule is the real one: over the same names, it picks what
    /// `journal::prune` deletes from a real folder.
    #[test]
    fn the_prune_rule_is_the_journals() {
        let dir = std::env::temp_dir().join(format!("ut-sim-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let names = [
            "2025-12-28-node1.log",
            "2025-12-29-node1.log",
            "2025-12-30-node1.log",
            "2025-12-28-node11.log",
            "2025-12-28-x-node1.log",
            "2025-12-28-node1.log.gz",
            "x2025-12-28-node1.log",
            "2025-02-30-node1.log",
            "2025-12-28-node12.log",
            "notes.txt",
        ];
        for n in names {
            std::fs::write(dir.join(n), "---\n").unwrap();
        }
        let cutoff = logline::day_number(1_767_052_800_000); // 2025-12-30
        let mut ours: Vec<&str> = prune_selection(names, "node1", cutoff);
        ours.sort_unstable();
        assert_eq!(ours, ["2025-12-28-node1.log", "2025-12-29-node1.log"]);
        crate::journal::prune(&dir, "node1", cutoff);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort_unstable();
        let mut expected: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !ours.contains(n))
            .collect();
        expected.sort_unstable();
        assert_eq!(left, expected);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
