//! A deterministic network simulator: many unmodified [`Engine`]s over a simulated
//! network on a simulated clock, from a seed (after TigerBeetle's VOPR and FoundationDB's
//! simulation testing). The same seed gives the same history and the same log bytes.
//!
//! The network models what the engine depends on in TCP: connects (SYN, SYN-ACK, refusal
//! by RST), in-order byte streams with per-segment latency and jitter, loss repaired by
//! retransmission with exponential backoff (so a lost segment arrives late, not never),
//! `TCP_USER_TIMEOUT` ending a connection whose data stays unacknowledged, FIN on close,
//! and RST for segments reaching a connection that no longer exists. Faults
//! ([`fault::FaultKind`]): crash and restart, freeze and resume (the kernel keeps
//! accepting and buffering; the process reads and fires its timers late), silent and
//! resetting partitions of one node, a silent cut of one link, a connection gone
//! half-open, and wall-clock steps.
//!
//! [`check`] states the properties every run must keep; [`run`] returns the logs, the
//! ground truth and what the checker found.

pub mod check;
pub mod cli;
pub mod fault;
pub mod journal;
pub mod ops;
mod queue;
pub mod rng;
pub mod summary;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::config::{Config, Node as CfgNode};
use crate::mesh::clock::SAID as CLOCK_STEPPED;
use crate::mesh::{self, Action, CloseReason, ConnId, Engine, IoOp, LogRecord, Now};
use fault::{Fault, FaultKind};
use journal::MemJournal;
use queue::Queue;
use rng::Rng;

/// The simulated TCP's retransmission timeout for data on a path of one-way latency
/// uniform in `lo..=hi` ms: Linux's `srtt + max(4 × mdev, rto_min)`, the mean round trip
/// as `srtt`, the mean deviation of the round trip (a sum of two uniform latencies,
/// `(hi - lo) / 3`) as `mdev`; `rto_min` is [`Options::kernel_rto_min`].
pub fn data_rto_ms((lo, hi): (u64, u64), rto_min: u64) -> u64 {
    (lo + hi) + (4 * hi.saturating_sub(lo) / 3).max(rto_min)
}

/// Linux's default smallest retransmission timeout (`TCP_RTO_MIN`), what a kernel before
/// 6.15 uses whatever the daemon asks (it has no `TCP_RTO_MIN_US`).
pub const LINUX_RTO_MIN_MS: u64 = 200;

/// Retransmissions of a thin stream (under four segments in flight, as a link's probes
/// are) that `TCP_THIN_LINEAR_TIMEOUTS` sends without backoff (Linux's
/// `TCP_THIN_LINEAR_RETRIES`).
const THIN_LINEAR_RETRIES: u32 = 6;

/// What to simulate besides the mesh's own config.
#[derive(Debug, Clone)]
pub struct Options {
    /// The seed: the whole history follows from it.
    pub seed: u64,
    /// Simulated time, ms.
    pub duration_ms: u64,
    /// One-way latency of a segment, ms: uniform in `latency.0..=latency.1`.
    pub latency: (u64, u64),
    /// Probability that one transmission of a segment is lost (0.0 to 1.0).
    pub loss: f64,
    /// Kinds of fault to inject.
    pub kinds: Vec<FaultKind>,
    /// How many faults to draw.
    pub faults: usize,
    /// Wall-clock time at the start (Unix ms, UTC).
    pub start_wall: i64,
    /// These faults instead of drawing `faults` of `kinds` (for tests of one scenario).
    pub scripted: Option<Vec<Fault>>,
    /// Each node's wall clock off by this much (ms) from the start, in node order.
    pub skews: Vec<i64>,
    /// Every this many ms, each running node's verdicts and clock offsets are sampled
    /// into [`Outcome::views`].
    pub view_every: Option<u64>,
    /// The kernel's smallest retransmission timeout, ms; `None`: what the daemon asks
    /// for ([`mesh::rto_min_ms`]), as Linux 6.15 and later grant it. [`LINUX_RTO_MIN_MS`]
    /// models an older kernel.
    pub rto_min: Option<u64>,
    /// Reloads, hooks and pruning to simulate (none by default).
    pub ops: ops::Ops,
}

impl Options {
    /// A two-minute run with every fault kind, across a UTC midnight.
    pub fn quick(seed: u64) -> Options {
        Options {
            seed,
            duration_ms: 120_000,
            latency: (1, 20),
            loss: 0.0,
            kinds: FaultKind::ALL.to_vec(),
            faults: 8,
            start_wall: 1_767_225_540_000, // 2025-12-31T23:59:00Z
            scripted: None,
            skews: Vec::new(),
            view_every: None,
            rto_min: None,
            ops: ops::Ops::default(),
        }
    }

    /// The smallest retransmission timeout the simulated kernel uses on the links of a
    /// mesh with this `timeout`: [`Options::rto_min`], or the daemon's request.
    pub fn kernel_rto_min(&self, timeout: u64) -> u64 {
        self.rto_min.unwrap_or_else(|| mesh::rto_min_ms(timeout))
    }
}

/// A mesh config for `n` simulated nodes named `node1`..: 10.0.x.y, port 47001.
pub fn mesh_config(n: usize, interval: u64, timeout: u64, threshold: u32) -> Config {
    let nodes = (0..n).map(|i| {
        let ip = Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250 + 1) as u8);
        CfgNode::new(
            format!("node{}", i + 1),
            SocketAddr::new(IpAddr::V4(ip), 47001),
        )
    });
    Config {
        interval_ms: interval,
        timeout_ms: timeout,
        offline_threshold: threshold,
        ..Config::new(nodes.collect(), 0)
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The injected faults (the ground truth).
    pub faults: Vec<Fault>,
    /// Every node's log files: (file name, contents), sorted by name.
    pub logs: Vec<(String, String)>,
    /// What the checker found.
    pub report: check::Report,
    /// What the reloads, hooks and prunes did.
    pub ops: ops::Stats,
    /// The samples of [`Options::view_every`], by time.
    pub views: Vec<ViewSample>,
}

/// What one node concluded about its peers at one moment.
#[derive(Debug, Clone)]
pub struct ViewSample {
    /// Simulated time, ms.
    pub at: u64,
    /// The node (config order).
    pub node: usize,
    /// Per peer (config order; `None` for the node itself): its verdict's code, whether
    /// it settled, and its measured clock offset (ms).
    pub peers: Vec<Option<(&'static str, bool, Option<i64>)>>,
}

/// Runs one simulation of `cfg`'s mesh (every node of it) under `opts`.
pub fn run(cfg: &Config, opts: &Options) -> Outcome {
    let mut world = World::new(cfg, opts);
    world.plan_ops();
    world.run();
    // The nodes of the run: the config's, and a node that joined.
    let names: Vec<String> = world.nodes.iter().map(|n| n.cfg.whoami.clone()).collect();
    let max = world.ops.max_timings(cfg);
    let events: Vec<&[(u64, usize, u32)]> =
        world.nodes.iter().map(|n| n.events.as_slice()).collect();
    let facts = check::Facts {
        nodes: names.len(),
        names: &names,
        interval: max.interval,
        timeout: max.timeout,
        threshold: max.offline,
        online_threshold: max.online,
        max_latency: opts.latency.1,
        duration: opts.duration_ms,
        faults: &world.faults,
        counts: world.ops.counts(&events),
        events,
        starts: world.nodes.iter().map(|n| n.starts.as_slice()).collect(),
        disturbances: &world.disturbances,
        absent: world.ops.absent(names.len()),
        thresholds: world.ops.thresholds(names.len()),
    };
    let mut report = check::check(&facts);
    for (i, (node, name)) in world.nodes.iter().zip(&names).enumerate() {
        let stopped_at_end = world
            .faults
            .iter()
            .any(|f| f.stops(i) && f.end >= opts.duration_ms);
        report.check_clock(
            name,
            &node.clock_steps,
            &node.clock_said,
            &node.starts,
            stopped_at_end,
        );
    }
    world.finish_ops(&mut report.violations);
    for node in &world.nodes {
        for (name, text) in node.journal.files() {
            report.check_file(name, text, cfg.offline_threshold);
        }
    }
    let ops = world.ops.stats();
    let mut logs: Vec<(String, String)> = world
        .nodes
        .into_iter()
        .flat_map(|n| n.journal.into_files())
        .collect();
    logs.sort();
    Outcome {
        faults: world.faults,
        logs,
        report,
        views: world.views,
        ops,
    }
}

/// An event of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    /// `node`'s engine timers (if `epoch` is still its incarnation).
    Timer { node: usize, epoch: u32 },
    /// The head segment of connection `conn`'s direction `dir` arrives.
    Deliver { conn: usize, dir: usize },
    /// Fault `i` begins.
    FaultStart(usize),
    /// Fault `i` ends.
    FaultEnd(usize),
    /// Time to sample every node's verdicts.
    Sample,
    /// Op event `i` ([`ops`]).
    Op(usize),
    /// `node`'s linger after its turns ends (if `epoch` is still its incarnation).
    LingerEnd { node: usize, epoch: u32 },
    /// The kernel at end `1 - dir` of `conn` acknowledges the data of direction `dir`
    /// sent at `sent` (its `attempts`-th try to get the acknowledgement back).
    Ack {
        conn: usize,
        dir: usize,
        sent: u64,
        attempts: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SegKind {
    Syn,
    SynAck,
    Data(Bytes),
    Fin,
    Rst,
}

/// A segment's payload: a probe or reply fits inline, so the common segment allocates
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bytes {
    Inline { len: u8, buf: [u8; 30] },
    Heap(Vec<u8>),
}

impl Bytes {
    fn new(data: &[u8]) -> Bytes {
        let mut buf = [0u8; 30];
        match buf.get_mut(..data.len()) {
            Some(dst) => {
                dst.copy_from_slice(data);
                Bytes::Inline {
                    len: data.len() as u8,
                    buf,
                }
            }
            None => Bytes::Heap(data.to_vec()),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Inline { len, buf } => buf.get(..usize::from(*len)).unwrap_or_default(),
            Bytes::Heap(v) => v,
        }
    }
}

#[derive(Debug, Clone)]
struct Seg {
    kind: SegKind,
    /// When it was first sent.
    sent: u64,
    /// When its latest transmission left.
    tx: u64,
    /// Transmissions lost so far ([`GIVE_UP`]: the kernel gives the connection up when
    /// it is due).
    attempts: u32,
    /// Its sender waits for its acknowledgement: probes ride on it (`src/mesh/ack.rs`).
    ack: bool,
}

/// A segment's `attempts` once its sender's kernel will give up at its next due time.
const GIVE_UP: u32 = u32::MAX;

/// The segments of one direction of a connection, in order. A direction rarely holds
/// more than one (a probe or its reply in flight), so the head is kept inline: sending
/// and delivering it touch the connection alone, not a buffer elsewhere in memory.
#[derive(Debug, Default)]
struct SegQueue {
    head: Option<Seg>,
    /// The segments after `head` (empty while `head` is `None`).
    rest: VecDeque<Seg>,
}

impl SegQueue {
    fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    fn push_back(&mut self, seg: Seg) {
        if self.head.is_none() {
            self.head = Some(seg);
        } else {
            self.rest.push_back(seg);
        }
    }

    fn push_front(&mut self, seg: Seg) {
        if let Some(old) = self.head.replace(seg) {
            self.rest.push_front(old);
        }
    }

    fn pop_front(&mut self) -> Option<Seg> {
        let seg = self.head.take()?;
        self.head = self.rest.pop_front();
        Some(seg)
    }

    fn clear(&mut self) {
        self.head = None;
        self.rest.clear();
    }
}

/// One end of a simulated connection.
#[derive(Debug, Clone, Copy)]
struct End {
    node: usize,
    epoch: u32,
    /// The engine's id for it; `None` once closed (or before the server side accepts).
    conn: Option<ConnId>,
}

/// A simulated TCP connection: end 0 dialled, end 1 accepted. Direction `d` carries
/// segments from end `d` to end `1 - d`.
#[derive(Debug)]
struct SimConn {
    ends: [End; 2],
    queues: [SegQueue; 2],
    scheduled: [bool; 2],
    /// A middlebox forgot it: every segment is answered with a reset.
    dead: bool,
    /// End 1 exists in the server's kernel (the SYN arrived).
    accepted: bool,
}

/// A frozen process's kernel keeps these for it until it resumes.
#[derive(Debug, Clone)]
enum Held {
    Accepted {
        conn: usize,
    },
    Connected {
        conn: usize,
    },
    Data {
        conn: usize,
        end: usize,
        bytes: Bytes,
    },
    Closed {
        conn: usize,
        end: usize,
        reason: CloseReason,
    },
    /// Everything end `end` of `conn` sent is acknowledged.
    Acked {
        conn: usize,
        end: usize,
        rtt_us: u64,
    },
}

struct SimNode {
    cfg: Config,
    addr: SocketAddr,
    engine: Option<Box<Engine>>,
    epoch: u32,
    frozen: bool,
    /// Until when its process sleeps after its turns ([`Engine::take_linger`]): what
    /// arrives meanwhile is held, as for a frozen one, and taken in one wake-up.
    lingering: Option<u64>,
    held: Vec<Held>,
    wall_offset: i64,
    timer_at: Option<u64>,
    journal: MemJournal,
    /// The engine's connections: slot index -> (id, simulated connection, its end there),
    /// so that sending looks at the simulated connection only to queue the segment.
    by_conn: Vec<Option<(ConnId, usize, usize)>>,
    /// (simulated time, peer, count) of every event line.
    events: Vec<(u64, usize, u32)>,
    /// Simulated times of every (re)start.
    starts: Vec<u64>,
    /// (simulated time, ms) of each step of its wall clock while it ran.
    clock_steps: Vec<(u64, i64)>,
    /// (simulated time, line) of each step it said.
    clock_said: Vec<(u64, String)>,
    next_port: u16,
}

impl SimNode {
    /// A node not started yet, its wall clock `wall_offset` ms off the simulation's.
    fn new(cfg: Config, addr: SocketAddr, journal: MemJournal, wall_offset: i64) -> SimNode {
        SimNode {
            cfg,
            addr,
            engine: None,
            epoch: 0,
            frozen: false,
            lingering: None,
            held: Vec::new(),
            wall_offset,
            timer_at: None,
            journal,
            by_conn: Vec::new(),
            events: Vec::new(),
            starts: Vec::new(),
            clock_steps: Vec::new(),
            clock_said: Vec::new(),
            next_port: 40_000,
        }
    }
}

struct World {
    now: u64,
    queue: Queue<What>,
    rng: Rng,
    opts: Options,
    nodes: Vec<SimNode>,
    by_ip: HashMap<IpAddr, usize>,
    conns: Vec<SimConn>,
    /// Indices of `conns` free for reuse (both ends closed, nothing in flight).
    free_conns: Vec<usize>,
    faults: Vec<Fault>,
    /// Faults in force.
    active: Vec<usize>,
    /// Per ordered pair `(a * n + b)`: times a segment between them took long
    /// (retransmitted) or a connection was reset under them: (from, to).
    disturbances: HashMap<usize, Vec<(u64, u64)>>,
    user_timeout: u64,
    timeout: u64,
    views: Vec<ViewSample>,
    /// The retransmission timeout of data lost once, ms ([`data_rto_ms`]).
    data_rto: u64,
    /// Node index by name (a peer's slot in an engine is not its index after a reload).
    by_name: HashMap<String, usize>,
    ops: ops::State,
}

impl World {
    fn new(cfg: &Config, opts: &Options) -> World {
        let mut rng = Rng::new(opts.seed);
        let n = cfg.nodes.len();
        let bound = check::detection_bound(
            cfg.interval_ms,
            cfg.timeout_ms,
            cfg.offline_threshold,
            opts.latency.1,
        );
        let mut fault_rng = rng.fork();
        let drawn = fault::schedule(
            &mut fault_rng,
            &opts.kinds,
            opts.faults,
            n,
            opts.duration_ms,
            bound,
            cfg.interval_ms * 5 + cfg.timeout_ms,
        );
        let faults = opts.scripted.clone().unwrap_or(drawn);
        let node_list: Vec<(String, SocketAddr)> =
            cfg.nodes.iter().map(|n| (n.name.clone(), n.addr)).collect();
        let nodes = cfg
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let mut c = cfg.clone();
                c.me = i;
                c.whoami = node.name.clone();
                let journal = MemJournal::new(&node.name, cfg.offline_threshold, node_list.clone());
                let skew = opts.skews.get(i).copied().unwrap_or(0);
                SimNode::new(c, node.addr, journal, skew)
            })
            .collect();
        let by_ip = cfg
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.addr.ip().to_canonical(), i))
            .collect();
        World {
            now: 0,
            queue: Queue::new(),
            rng,
            opts: opts.clone(),
            nodes,
            by_ip,
            conns: Vec::new(),
            free_conns: Vec::new(),
            faults,
            active: Vec::new(),
            disturbances: HashMap::new(),
            user_timeout: mesh::user_timeout_ms(cfg.interval_ms, cfg.timeout_ms),
            timeout: cfg.timeout_ms,
            views: Vec::new(),
            data_rto: data_rto_ms(opts.latency, opts.kernel_rto_min(cfg.timeout_ms)),
            by_name: cfg
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.clone(), i))
                .collect(),
            ops: ops::State::default(),
        }
    }

    fn push(&mut self, at: u64, what: What) {
        self.queue.push(at, what);
    }

    fn run(&mut self) {
        for i in 0..self.faults.len() {
            let (start, end, lasts) = match self.faults.get(i) {
                Some(f) => (f.start, f.end, f.kind.has_duration()),
                None => continue,
            };
            self.push(start, What::FaultStart(i));
            if lasts {
                self.push(end, What::FaultEnd(i));
            }
        }
        // Nodes start a few ms apart, as real ones never start at the same instant.
        for node in 0..self.nodes.len() {
            if self.ops.starts_later(node) {
                continue;
            }
            let at = self.rng.range(0, 50);
            self.now = at;
            self.start_node(node);
        }
        self.now = 0;
        if let Some(every) = self.opts.view_every {
            self.push(every.max(1), What::Sample);
        }
        while let Some((at, what)) = self.queue.pop() {
            if at > self.opts.duration_ms {
                break;
            }
            self.now = self.now.max(at);
            match what {
                What::Timer { node, epoch } => self.on_timer(node, epoch, at),
                What::Deliver { conn, dir } => self.deliver(conn, dir),
                What::FaultStart(i) => self.fault_start(i),
                What::FaultEnd(i) => self.fault_end(i),
                What::Sample => self.sample(),
                What::Op(i) => self.on_op(i),
                What::LingerEnd { node, epoch } => self.linger_end(node, epoch, at),
                What::Ack {
                    conn,
                    dir,
                    sent,
                    attempts,
                } => self.ack(conn, dir, sent, attempts),
            }
        }
    }

    /// Every running node's verdicts and clock offsets now.
    fn sample(&mut self) {
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(engine) = node.engine.as_ref().filter(|_| !node.frozen) else {
                continue;
            };
            let peers = (0..n)
                .map(|p| {
                    let id = mesh::PeerId(p);
                    let (j, settled) = engine.verdict(id)?;
                    let offset = engine.clock_offset(id).map(|(o, _)| o);
                    Some((j.verdict.code(), settled, offset))
                })
                .collect();
            self.views.push(ViewSample {
                at: self.now,
                node: i,
                peers,
            });
        }
        if let Some(every) = self.opts.view_every {
            self.push(self.now + every.max(1), What::Sample);
        }
    }

    fn clock(&self, node: usize) -> Now {
        let offset = self.nodes.get(node).map_or(0, |n| n.wall_offset);
        Now::ms(self.now, self.opts.start_wall + self.now as i64 + offset)
    }

    fn start_node(&mut self, node: usize) {
        let now = self.clock(node);
        let t = self.now;
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        n.journal.start(now.mono, now.wall);
        n.starts.push(t);
        let mut engine = Box::new(Engine::new(&n.cfg, now));
        // Odd seeds run the mesh with a shared secret (in a build with `auth`):
        // authenticated handshakes, their nonces drawn from the seed, the node and its
        // start (so a restart's differ).
        if self.opts.seed % 2 == 1
            && let Some(secret) = mesh::Secret::new(b"simulated mesh secret")
        {
            let mut rng = Rng::new(
                self.opts.seed
                    ^ (node as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ ((n.starts.len() as u64) << 48),
            );
            engine.set_auth(
                secret,
                Box::new(move |buf: &mut [u8]| {
                    for chunk in buf.chunks_mut(8) {
                        let bytes = rng.next_u64().to_le_bytes();
                        for (b, r) in chunk.iter_mut().zip(bytes) {
                            *b = r;
                        }
                    }
                    Ok(())
                }),
            );
        }
        n.engine = Some(engine);
        n.frozen = false;
        self.settle(node);
    }

    fn on_timer(&mut self, node: usize, epoch: u32, at: u64) {
        let now = self.clock(node);
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if n.epoch != epoch || n.frozen || n.timer_at != Some(at) {
            return;
        }
        n.timer_at = None;
        if n.lingering.is_some() {
            // A timer due within the linger ends it, as in the daemon.
            return self.wake(node);
        }
        if let Some(engine) = n.engine.as_mut() {
            engine.handle_timeout(now);
        }
        self.settle(node);
    }

    /// `node`'s linger after its turns ends at `at`: it wakes, unless frozen meanwhile
    /// (then it wakes when it resumes).
    fn linger_end(&mut self, node: usize, epoch: u32, at: u64) {
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if n.epoch != epoch || n.lingering != Some(at) || n.frozen {
            return;
        }
        self.wake(node);
    }

    /// `node`'s process runs again after a freeze or a linger: the kernel hands over
    /// everything it kept, then the late timers run (replies that arrived meanwhile count
    /// before their deadlines), as the daemon's next pass does.
    fn wake(&mut self, node: usize) {
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        n.lingering = None;
        for what in std::mem::take(&mut n.held) {
            self.apply(node, what);
        }
        let now = self.clock(node);
        if let Some(n) = self.nodes.get_mut(node) {
            if let Some(engine) = n.engine.as_mut() {
                engine.handle_timeout(now);
            }
            n.timer_at = None;
        }
        self.settle(node);
    }

    /// Carries out what `node`'s engine asks, then re-arms its timer event.
    fn settle(&mut self, node: usize) {
        loop {
            let Some(n) = self.nodes.get_mut(node) else {
                return;
            };
            let Some(engine) = n.engine.as_mut() else {
                return;
            };
            let Some(action) = engine.poll_action() else {
                break;
            };
            match action {
                Action::Connect { conn, addr } => self.dial(node, conn, addr),
                Action::Send { conn } => {
                    let out = engine.output(conn);
                    let len = out.len();
                    let bytes = Bytes::new(out);
                    engine.wrote(conn, len);
                    let ack = engine.acks().contains(&conn);
                    if let Some((sc, end)) = self.sim_conn(node, conn) {
                        self.send_data(sc, end, SegKind::Data(bytes), ack);
                    }
                }
                Action::Close { conn, .. } => {
                    if let Some((sc, end)) = self.sim_conn(node, conn) {
                        if let Some(e) = self.conns.get_mut(sc).and_then(|c| c.ends.get_mut(end)) {
                            e.conn = None;
                        }
                        self.forget(node, conn);
                        self.send(sc, end, SegKind::Fin);
                    }
                }
                Action::Log(record) => {
                    let t = self.now;
                    match record {
                        LogRecord::NewDay { wall, carried } => {
                            let refs: Vec<(&str, u32)> =
                                carried.iter().map(|(s, c)| (s.as_str(), *c)).collect();
                            n.journal.new_day(t, wall, &refs);
                        }
                        LogRecord::Event {
                            wall,
                            peer,
                            name,
                            timeouts,
                        } => {
                            n.journal.event(t, wall, &name, timeouts);
                            let p = self.by_name.get(&name).copied().unwrap_or(peer.0);
                            n.events.push((t, p, timeouts));
                        }
                        LogRecord::Reconfigured {
                            wall,
                            threshold,
                            nodes,
                            carried,
                        } => {
                            let refs: Vec<(&str, u32)> =
                                carried.iter().map(|(s, c)| (s.as_str(), *c)).collect();
                            ops::reconfigured(n, t, wall, threshold, nodes, &refs);
                            let before = n.events.len();
                            self.ops.note_carried(node, t, before, &refs, &self.by_name);
                        }
                    }
                }
                Action::Say(line) => {
                    if line.starts_with(CLOCK_STEPPED) {
                        n.clock_said.push((self.now, line));
                    }
                }
                Action::Hook(run) => self.hook_started(node, run),
                Action::KillHook { id } => self.hook_kill(node, id),
                Action::PruneLogs { before_day } => self.prune(node, before_day),
            }
        }
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if let Some(until) = n.engine.as_mut().and_then(|e| e.take_linger())
            && until > self.now
            && !n.frozen
        {
            // Its timers stay armed: one due sooner ends the linger.
            n.lingering = Some(until);
            let epoch = n.epoch;
            self.push(until, What::LingerEnd { node, epoch });
        }
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        let next = n.engine.as_ref().and_then(|e| e.poll_at());
        if let Some(at) = next
            && n.timer_at != Some(at)
        {
            n.timer_at = Some(at);
            let epoch = n.epoch;
            let at = at.max(self.now);
            self.push(at, What::Timer { node, epoch });
            if let Some(n) = self.nodes.get_mut(node) {
                n.timer_at = Some(at);
            }
        }
    }

    /// The simulated connection of `node`'s engine connection `conn`, and its end there.
    fn sim_conn(&self, node: usize, conn: ConnId) -> Option<(usize, usize)> {
        let n = self.nodes.get(node)?;
        match n.by_conn.get(conn.index()) {
            Some(Some((id, sc, end))) if *id == conn => Some((*sc, *end)),
            _ => None,
        }
    }

    /// `node`'s engine connection `conn` is end `end` of simulated connection `sc`.
    fn remember(&mut self, node: usize, conn: ConnId, sc: usize, end: usize) {
        if let Some(n) = self.nodes.get_mut(node) {
            if n.by_conn.len() <= conn.index() {
                n.by_conn.resize(conn.index() + 1, None);
            }
            if let Some(slot) = n.by_conn.get_mut(conn.index()) {
                *slot = Some((conn, sc, end));
            }
        }
    }

    fn forget(&mut self, node: usize, conn: ConnId) {
        if let Some(slot) = self
            .nodes
            .get_mut(node)
            .and_then(|n| n.by_conn.get_mut(conn.index()))
            && matches!(slot, Some((id, _, _)) if *id == conn)
        {
            *slot = None;
        }
    }

    fn dial(&mut self, node: usize, conn: ConnId, addr: SocketAddr) {
        let Some(&server) = self.by_ip.get(&addr.ip().to_canonical()) else {
            return self.notify_closed(
                node,
                conn,
                CloseReason::Io {
                    op: IoOp::Connect,
                    errno: libc::EHOSTUNREACH,
                },
            );
        };
        let epoch = self.nodes.get(node).map_or(0, |n| n.epoch);
        let fresh = SimConn {
            ends: [
                End {
                    node,
                    epoch,
                    conn: Some(conn),
                },
                End {
                    node: server,
                    epoch: 0,
                    conn: None,
                },
            ],
            queues: [SegQueue::default(), SegQueue::default()],
            scheduled: [false, false],
            dead: false,
            accepted: false,
        };
        if self.free_conns.is_empty() && self.conns.len() % 256 == 255 {
            self.sweep_conns();
        }
        let sc = match self.free_conns.pop() {
            Some(i) => {
                if let Some(slot) = self.conns.get_mut(i) {
                    *slot = fresh;
                }
                i
            }
            None => {
                self.conns.push(fresh);
                self.conns.len() - 1
            }
        };
        self.remember(node, conn, sc, 0);
        self.send(sc, 0, SegKind::Syn);
    }

    /// Finds connections that are over (both ends closed, nothing queued or scheduled,
    /// none held for a frozen node) so `dial` can reuse them: without this a long run
    /// would keep every connection ever made (each redial while a peer is down is one).
    fn sweep_conns(&mut self) {
        let held: std::collections::HashSet<usize> = self
            .nodes
            .iter()
            .flat_map(|n| n.held.iter())
            .map(|h| match h {
                Held::Accepted { conn }
                | Held::Connected { conn }
                | Held::Data { conn, .. }
                | Held::Closed { conn, .. }
                | Held::Acked { conn, .. } => *conn,
            })
            .collect();
        self.free_conns = self
            .conns
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                c.ends.iter().all(|e| e.conn.is_none())
                    && c.queues.iter().all(SegQueue::is_empty)
                    && !c.scheduled.iter().any(|&s| s)
                    && !held.contains(i)
            })
            .map(|(i, _)| i)
            .rev()
            .collect();
    }

    /// Tells `node`'s engine that `conn` is closed, at once (a local error).
    fn notify_closed(&mut self, node: usize, conn: ConnId, reason: CloseReason) {
        let now = self.clock(node);
        self.forget(node, conn);
        if let Some(engine) = self.nodes.get_mut(node).and_then(|n| n.engine.as_mut()) {
            engine.on_closed(conn, reason, now);
        }
    }

    /// Queues a segment from end `end` of `sc`.
    fn send(&mut self, sc: usize, end: usize, kind: SegKind) {
        self.send_data(sc, end, kind, false);
    }

    /// Queues a segment from end `end` of `sc`; `ack`: its sender waits for its
    /// acknowledgement.
    fn send_data(&mut self, sc: usize, end: usize, kind: SegKind, ack: bool) {
        let now = self.now;
        let Some(c) = self.conns.get_mut(sc) else {
            return;
        };
        let Some(q) = c.queues.get_mut(end) else {
            return;
        };
        q.push_back(Seg {
            kind,
            sent: now,
            tx: now,
            attempts: 0,
            ack,
        });
        if !c.scheduled[end] {
            c.scheduled[end] = true;
            let at = now + self.latency();
            self.push(at, What::Deliver { conn: sc, dir: end });
        }
    }

    /// The wait before retransmitting a segment lost `attempts + 1` times, from its
    /// latest transmission. A SYN or SYN-ACK: 1 s (Linux's `TCP_TIMEOUT_INIT`), doubled
    /// each time. Data: Linux's RTO, `srtt + max(4 × mdev, rto_min)` (RFC 6298 with the
    /// socket's `TCP_RTO_MIN_US`, [`Options::kernel_rto_min`]), with the path's mean round
    /// trip as `srtt` and the mean deviation of a sum of two uniform latencies as `mdev`.
    /// The first retransmission of a lone segment is Linux's tail loss probe, sent when
    /// the RTO would fire; the next [`THIN_LINEAR_RETRIES`] keep the same wait
    /// (`TCP_THIN_LINEAR_TIMEOUTS`), each later one doubles it (exponential backoff), up
    /// to `TCP_RTO_MAX`. Fitted against real loss on this kind of machine
    /// (docs/protocol.md, "Links under loss").
    fn rto(&self, data: bool, attempts: u32) -> u64 {
        if !data {
            return (1000u64 << attempts.min(9)).min(120_000);
        }
        // Every mesh socket sets TCP_THIN_LINEAR_TIMEOUTS: the first retransmissions
        // of its thin stream keep one RTO apart.
        let backoff = attempts.saturating_sub(THIN_LINEAR_RETRIES);
        (self.data_rto << backoff.min(12)).min(120_000)
    }

    fn latency(&mut self) -> u64 {
        let (lo, hi) = self.opts.latency;
        self.rng.range(lo, hi).max(1)
    }

    /// Whether packets between nodes `a` and `b` pass now: `Some(true)` pass,
    /// `Some(false)` vanish, `None` are reset.
    fn path(&self, a: usize, b: usize) -> Option<bool> {
        let mut pass = Some(true);
        for &i in &self.active {
            let Some(f) = self.faults.get(i) else {
                continue;
            };
            let cut = match f.kind {
                FaultKind::Partition | FaultKind::Reset => (a == f.node) != (b == f.node),
                FaultKind::Cut => f.cuts(a, b),
                _ => false,
            };
            if cut {
                if f.kind == FaultKind::Reset {
                    return None;
                }
                pass = Some(false);
            }
        }
        pass
    }

    fn disturb(&mut self, a: usize, b: usize, from: u64, to: u64) {
        let n = self.nodes.len();
        for key in [a * n + b, b * n + a] {
            self.disturbances.entry(key).or_default().push((from, to));
        }
    }

    /// The head segment of direction `dir` of `sc` reaches the other end (or not).
    fn deliver(&mut self, sc: usize, dir: usize) {
        let now = self.now;
        let Some(c) = self.conns.get_mut(sc) else {
            return;
        };
        c.scheduled[dir] = false;
        let (from, to) = (c.ends[dir], c.ends[1 - dir]);
        let dead = c.dead;
        let Some(mut seg) = c.queues[dir].pop_front() else {
            return;
        };
        let path = self.path(from.node, to.node);
        let lost = path == Some(true) && self.rng.chance(self.opts.loss);
        if seg.attempts == GIVE_UP || path == Some(false) || lost {
            // Retransmit with backoff; give up as the kernel would.
            let data = matches!(seg.kind, SegKind::Data(_) | SegKind::Fin);
            let gives_up = seg.attempts == GIVE_UP || (!data && seg.attempts >= 6);
            if gives_up {
                if let Some(c) = self.conns.get_mut(sc) {
                    c.queues[dir].clear();
                }
                if let Some(id) = from.conn {
                    let op = if seg.kind == SegKind::Syn {
                        IoOp::Connect
                    } else {
                        IoOp::Write
                    };
                    // The engine is told (now, or when its frozen process resumes), and
                    // only then is its end closed and forgotten: cleared before, the
                    // close found no connection to report, the engine kept it, and its
                    // own close later landed on whatever connection reused the slot.
                    self.notify_closed_if(
                        from,
                        id,
                        CloseReason::Io {
                            op,
                            errno: libc::ETIMEDOUT,
                        },
                    );
                }
                return;
            }
            // Linux collapses the small segments queued behind a retransmitted one into it
            // (`tcp_retrans_try_collapse`): after a stall, what waited arrives at once,
            // in one segment, not one segment and one loss chance each.
            if let SegKind::Data(bytes) = &mut seg.kind
                && let Some(c) = self.conns.get_mut(sc)
            {
                let mut joined = bytes.as_slice().to_vec();
                while let Some(next) = c.queues[dir].head.as_ref()
                    && let SegKind::Data(more) = &next.kind
                {
                    joined.extend_from_slice(more.as_slice());
                    seg.ack |= next.ack;
                    c.queues[dir].pop_front();
                }
                if joined.len() != bytes.as_slice().len() {
                    *bytes = Bytes::new(&joined);
                }
            }
            // The retransmission leaves one RTO (backed off) after the transmission that
            // was lost, and takes a path's latency like any segment. With data still
            // unacknowledged at TCP_USER_TIMEOUT, the kernel gives up then instead.
            let next_tx = seg.tx + self.rto(data, seg.attempts);
            let at = if data && next_tx >= seg.sent + self.user_timeout {
                seg.attempts = GIVE_UP;
                (seg.sent + self.user_timeout).max(now)
            } else {
                seg.attempts += 1;
                seg.tx = next_tx;
                (next_tx + self.latency()).max(now)
            };
            // A lost segment is a delay from when it was sent until its retransmission
            // arrives, whether or not it ever does (its connection may be closed first, and
            // what queues behind it waits as long).
            if at.saturating_sub(seg.sent) * 2 > self.timeout {
                self.disturb(from.node, to.node, seg.sent, at);
            }
            if let Some(c) = self.conns.get_mut(sc) {
                c.queues[dir].push_front(seg);
                c.scheduled[dir] = true;
            }
            self.push(at, What::Deliver { conn: sc, dir });
            return;
        }
        let more = self.conns.get_mut(sc).is_some_and(|c| {
            c.scheduled[dir] = !c.queues[dir].is_empty();
            // The next segment goes out now that the one before it is through.
            if let Some(next) = c.queues[dir].head.as_mut() {
                next.tx = now;
            }
            c.scheduled[dir]
        });
        if more {
            let at = now + self.latency();
            self.push(at, What::Deliver { conn: sc, dir });
        }
        if now.saturating_sub(seg.sent) * 2 > self.timeout {
            self.disturb(from.node, to.node, seg.sent, now);
        }
        if path.is_none() || dead {
            // Reset: the sender's end learns it after one more trip; nothing arrives.
            if seg.kind != SegKind::Rst {
                self.reset_back(sc, dir);
            }
            return;
        }
        let ack = seg.ack.then_some(seg.sent);
        self.arrive(sc, dir, seg.kind, ack);
    }

    /// An acknowledgement of direction `dir`'s data (sent at `sent`) reaches its sender,
    /// unless the path back loses it: then the sender's kernel retransmits the data at
    /// its RTO, and the receiver acknowledges it again (until `TCP_USER_TIMEOUT`, when
    /// the sender's kernel gives up; the connection's end is left to its other data).
    /// The sender's engine hears of it once nothing sent after it is still on the way,
    /// as `TCP_INFO` shows the daemon nothing unacknowledged.
    fn ack(&mut self, sc: usize, dir: usize, sent: u64, attempts: u32) {
        let now = self.now;
        let Some(c) = self.conns.get(sc) else {
            return;
        };
        let (from, to) = (c.ends[dir], c.ends[1 - dir]);
        match self.path(to.node, from.node) {
            None => return,
            Some(true) if !self.rng.chance(self.opts.loss) => {}
            Some(_) => {
                let at = now + self.rto(true, attempts) + self.latency();
                if at < sent + self.user_timeout {
                    let attempts = attempts + 1;
                    self.push(
                        at,
                        What::Ack {
                            conn: sc,
                            dir,
                            sent,
                            attempts,
                        },
                    );
                }
                return;
            }
        }
        if !c.queues[dir].is_empty() {
            return;
        }
        let current = self
            .nodes
            .get(from.node)
            .is_some_and(|n| n.epoch == from.epoch);
        if current && from.conn.is_some() {
            let rtt_us = now.saturating_sub(sent).saturating_mul(1000);
            self.handle(
                from.node,
                Held::Acked {
                    conn: sc,
                    end: dir,
                    rtt_us,
                },
            );
        }
    }

    fn notify_closed_if(&mut self, end: End, conn: ConnId, reason: CloseReason) {
        if self
            .nodes
            .get(end.node)
            .is_some_and(|n| n.epoch == end.epoch)
        {
            self.hold_or(end.node, conn, reason);
        }
    }

    /// Delivers a close to a node's engine, or holds it while the node is frozen.
    fn hold_or(&mut self, node: usize, conn: ConnId, reason: CloseReason) {
        let Some((sc, end)) = self.sim_conn(node, conn) else {
            return;
        };
        self.handle(
            node,
            Held::Closed {
                conn: sc,
                end,
                reason,
            },
        );
    }

    /// Sends a reset back to the sender of direction `dir`.
    fn reset_back(&mut self, sc: usize, dir: usize) {
        let now = self.now;
        let Some(c) = self.conns.get_mut(sc) else {
            return;
        };
        let from = c.ends[dir];
        c.queues[dir].clear();
        c.scheduled[dir] = false;
        if let Some(id) = from.conn {
            let a = c.ends[1 - dir].node;
            self.disturb(from.node, a, now, now + 1);
            // The reset travels back like any segment.
            let back = 1 - dir;
            if let Some(c) = self.conns.get_mut(sc) {
                c.queues[back].clear();
                c.queues[back].push_back(Seg {
                    kind: SegKind::Rst,
                    sent: now,
                    tx: now,
                    attempts: 0,
                    ack: false,
                });
                if !c.scheduled[back] {
                    c.scheduled[back] = true;
                    let at = now + self.latency();
                    self.push(
                        at,
                        What::Deliver {
                            conn: sc,
                            dir: back,
                        },
                    );
                }
            }
            let _ = id;
        }
    }

    /// A segment arrived at end `1 - dir` of `sc`.
    fn arrive(&mut self, sc: usize, dir: usize, kind: SegKind, ack: Option<u64>) {
        let Some(c) = self.conns.get(sc) else {
            return;
        };
        let to_end = 1 - dir;
        let to = c.ends[to_end];
        let Some(node) = self.nodes.get(to.node) else {
            return;
        };
        let alive = node.engine.is_some();
        match kind {
            SegKind::Syn => {
                if !alive {
                    return self.reset_back(sc, dir);
                }
                let epoch = node.epoch;
                if let Some(c) = self.conns.get_mut(sc) {
                    c.accepted = true;
                    c.ends[1].epoch = epoch;
                }
                self.send(sc, 1, SegKind::SynAck);
                self.handle(to.node, Held::Accepted { conn: sc });
            }
            SegKind::SynAck => {
                if to.conn.is_some() && node.epoch == to.epoch {
                    self.handle(to.node, Held::Connected { conn: sc });
                }
            }
            SegKind::Data(bytes) => {
                let current = node.epoch == to.epoch && alive;
                let open = to.conn.is_some() || (to_end == 1 && c.accepted && node.frozen);
                if !current || !open {
                    return self.reset_back(sc, dir);
                }
                // The kernel acknowledges it, frozen process or not.
                if let Some(sent) = ack {
                    let at = self.now + self.latency();
                    self.push(
                        at,
                        What::Ack {
                            conn: sc,
                            dir,
                            sent,
                            attempts: 0,
                        },
                    );
                }
                self.handle(
                    to.node,
                    Held::Data {
                        conn: sc,
                        end: to_end,
                        bytes,
                    },
                );
            }
            SegKind::Fin => {
                if node.epoch == to.epoch && alive {
                    self.handle(
                        to.node,
                        Held::Closed {
                            conn: sc,
                            end: to_end,
                            reason: CloseReason::ClosedByPeer,
                        },
                    );
                }
            }
            SegKind::Rst => {
                if node.epoch == to.epoch && alive {
                    let op = if to_end == 0 && !c.accepted {
                        IoOp::Connect
                    } else {
                        IoOp::Read
                    };
                    let errno = if op == IoOp::Connect {
                        libc::ECONNREFUSED
                    } else {
                        libc::ECONNRESET
                    };
                    self.handle(
                        to.node,
                        Held::Closed {
                            conn: sc,
                            end: to_end,
                            reason: CloseReason::Io { op, errno },
                        },
                    );
                }
            }
        }
    }

    /// Hands an arrival to the node's engine, or holds it while the node is frozen.
    fn handle(&mut self, node: usize, what: Held) {
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if n.frozen || n.lingering.is_some() {
            n.held.push(what);
            return;
        }
        self.apply(node, what);
        // As the daemon's pass: the turns this input brings forward are taken before
        // anything is written, so a `PONG` and a probe that goes with it leave in one
        // segment (src/mesh/probe.rs).
        let now = self.clock(node);
        if let Some(engine) = self.nodes.get_mut(node).and_then(|n| n.engine.as_mut()) {
            engine.handle_timeout(now);
        }
        self.settle(node);
    }

    fn apply(&mut self, node: usize, what: Held) {
        let now = self.clock(node);
        let Some(sc_id) = (match &what {
            Held::Accepted { conn }
            | Held::Connected { conn }
            | Held::Data { conn, .. }
            | Held::Closed { conn, .. }
            | Held::Acked { conn, .. } => Some(*conn),
        }) else {
            return;
        };
        let Some(c) = self.conns.get(sc_id) else {
            return;
        };
        // Only an accept needs the dialling node's address: data, the common case, does
        // not look at that node at all.
        let client_addr = match what {
            Held::Accepted { .. } => self.nodes.get(c.ends[0].node).map(|n| n.addr),
            _ => None,
        };
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        let Some(engine) = n.engine.as_mut() else {
            return;
        };
        match what {
            Held::Accepted { conn } => {
                let port = n.next_port;
                n.next_port = n.next_port.checked_add(1).unwrap_or(40_000);
                let from = SocketAddr::new(
                    client_addr.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip()),
                    port,
                );
                match engine.on_accepted(from, now) {
                    Some(id) => {
                        if let Some(c) = self.conns.get_mut(conn) {
                            c.ends[1].conn = Some(id);
                        }
                        self.remember(node, id, conn, 1);
                    }
                    None => self.send(conn, 1, SegKind::Fin),
                }
            }
            Held::Connected { conn } => {
                if let Some(id) = c.ends[0].conn {
                    engine.on_connected(id, now);
                }
                let _ = conn;
            }
            Held::Data { end, bytes, .. } => {
                if let Some(id) = c.ends.get(end).and_then(|e| e.conn) {
                    engine.on_data(id, bytes.as_slice(), now);
                }
            }
            Held::Acked { end, rtt_us, .. } => {
                if let Some(id) = c.ends.get(end).and_then(|e| e.conn) {
                    engine.on_acked(id, Some(rtt_us), now);
                }
            }
            Held::Closed { conn, end, reason } => {
                let id = c.ends.get(end).and_then(|e| e.conn);
                if let Some(id) = id {
                    engine.on_closed(id, reason, now);
                    if let Some(e) = self.conns.get_mut(conn).and_then(|c| c.ends.get_mut(end)) {
                        e.conn = None;
                    }
                    self.forget(node, id);
                }
            }
        }
    }

    fn fault_start(&mut self, i: usize) {
        let Some(f) = self.faults.get(i).cloned() else {
            return;
        };
        match f.kind {
            FaultKind::Crash => self.crash(f.node),
            FaultKind::Freeze => {
                if let Some(n) = self.nodes.get_mut(f.node) {
                    n.frozen = n.engine.is_some();
                }
            }
            FaultKind::Partition | FaultKind::Reset | FaultKind::Cut => self.active.push(i),
            FaultKind::HalfOpen => {
                let other = f.other.unwrap_or(f.node);
                let pick = self.conns.iter().position(|c| {
                    !c.dead
                        && c.accepted
                        && c.ends[0].conn.is_some()
                        && c.ends[1].conn.is_some()
                        && ((c.ends[0].node, c.ends[1].node) == (f.node, other)
                            || (c.ends[0].node, c.ends[1].node) == (other, f.node))
                });
                if let Some(c) = pick.and_then(|p| self.conns.get_mut(p)) {
                    c.dead = true;
                    let now = self.now;
                    let bound = self.timeout * 4;
                    self.disturb(f.node, other, now, now + bound);
                }
            }
            FaultKind::ClockStep => {
                let now = self.now;
                if let Some(n) = self.nodes.get_mut(f.node) {
                    n.wall_offset += f.step_ms;
                    if n.engine.is_some() {
                        n.clock_steps.push((now, f.step_ms));
                    }
                }
            }
        }
    }

    fn fault_end(&mut self, i: usize) {
        let Some(f) = self.faults.get(i).cloned() else {
            return;
        };
        match f.kind {
            FaultKind::Crash => {
                if self.nodes.get(f.node).is_some_and(|n| n.engine.is_none()) {
                    self.start_node(f.node);
                }
            }
            FaultKind::Freeze => {
                let Some(n) = self.nodes.get_mut(f.node) else {
                    return;
                };
                if !n.frozen {
                    return;
                }
                n.frozen = false;
                self.wake(f.node);
            }
            FaultKind::Partition | FaultKind::Reset | FaultKind::Cut => {
                self.active.retain(|&a| a != i);
            }
            FaultKind::HalfOpen | FaultKind::ClockStep => {}
        }
    }

    /// The process dies: its kernel sends FIN on each of its connections.
    fn crash(&mut self, node: usize) {
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if n.engine.is_none() {
            return;
        }
        n.engine = None;
        n.frozen = false;
        n.lingering = None;
        n.held.clear();
        n.timer_at = None;
        let epoch = n.epoch;
        n.epoch += 1;
        let open: Vec<(usize, usize)> = n
            .by_conn
            .drain(..)
            .flatten()
            .map(|(_, sc, _)| sc)
            .filter_map(|sc| {
                let c = self.conns.get(sc)?;
                let end = (0..2).find(|&e| c.ends[e].node == node && c.ends[e].epoch == epoch)?;
                Some((sc, end))
            })
            .collect();
        for (sc, end) in open {
            if let Some(e) = self.conns.get_mut(sc).and_then(|c| c.ends.get_mut(end)) {
                e.conn = None;
            }
            self.send(sc, end, SegKind::Fin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direction's queue with its head inline keeps the order of a plain deque under
    /// sends, deliveries, retransmissions put back in front, and resets that clear it.
    #[test]
    fn seg_queue_keeps_deque_order() {
        let mut rng = Rng::new(3);
        let mut q = SegQueue::default();
        let mut model: VecDeque<Seg> = VecDeque::new();
        let seg = |sent: u64| Seg {
            kind: SegKind::Data(Bytes::new(&sent.to_le_bytes())),
            sent,
            tx: sent,
            attempts: 0,
            ack: false,
        };
        let key = |s: Option<Seg>| s.map(|s| (s.sent, s.kind));
        for step in 0..20_000u64 {
            match rng.range(0, 9) {
                0..=3 => {
                    q.push_back(seg(step));
                    model.push_back(seg(step));
                }
                4..=6 => assert_eq!(key(q.pop_front()), key(model.pop_front()), "{step}"),
                7 => {
                    if let Some(s) = model.pop_front() {
                        assert_eq!(key(q.pop_front()), key(Some(s.clone())), "{step}");
                        q.push_front(s.clone());
                        model.push_front(s);
                    }
                }
                8 => {
                    q.push_front(seg(step));
                    model.push_front(seg(step));
                }
                _ => {
                    q.clear();
                    model.clear();
                }
            }
            assert_eq!(q.is_empty(), model.is_empty(), "{step}");
        }
    }
}
