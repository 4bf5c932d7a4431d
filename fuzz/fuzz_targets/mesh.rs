//! The mesh engine driven by an arbitrary shell and arbitrary peers, against a shadow.
//!
//! Like `tracker`, one layer up: one `mesh::Engine` (2 to 6 nodes, a config built here
//! within the config rules) gets any sequence of the events a shell can feed it, and
//! every action it asks for is carried out and checked. The engine keeps one link per
//! peer here (`set_links_per_peer(1)`): the shadow models the one-link rules, under which
//! every probe goes on the peer's one ready link and none is hedged (hedged probes need
//! two, `src/mesh/probe.rs`); the second link's rules, hedges and dual peers included, are
//! checked by the engine tests, the simulator and `tests/lossy.rs`.
//!
//! Input: setup bytes (node count and address layout, which node this is, interval,
//! timeout, offline and online thresholds, start clocks), then ops, each an op byte and its arguments: the
//! monotonic clock (and the wall clock with it) advances by small, larger or whole-round
//! amounts or onto the next deadline, with or without `handle_timeout`; the wall clock
//! alone steps across a UTC midnight (forwards or back) or by a few seconds;
//! `on_connected` for one of our links (or any connection); `on_accepted` from a
//! configured node's address (or its IPv4/IPv4-mapped twin) or a stranger's, one at a
//! time or a flood of strangers from many addresses; `on_data`
//! with well-formed lines (`HELLO` naming the right node, another node, this node or a
//! stranger; `PING`; `PONG` for a probe seen on the wire or any number; unknown verbs,
//! up to and past the line limit; malformed lines; bursts of `PING`s that outgrow the
//! output limit) or with arbitrary bytes; `on_closed` with every kind of `CloseReason`
//! (this machine's trouble too: EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL);
//! `on_accept_error` with and without a shortage of descriptors; (no byte `/`, so no
//! HTTP request line: those are the engine unit tests' and the `legacy` target's; the
//! engine has no secret here, so a `CHALLENGE` is refused with `no_secret`); `wrote` of part, all or more than the output; stale ids (closed connections) given
//! to every event; a shell that writes everything; a mesh that answers everything; a
//! storm of peers reconnecting; many rounds answered by peers that never get to read.
//!
//! The shadow keeps the live connections (learnt from `Connect` actions and
//! `on_accepted`, dropped on `Close`), each with a copy of the engine's line framer fed
//! the same bytes (so it knows every line the engine reads), what was written on each,
//! and a model of the probes: each peer's turns (the k-th peer of m in slot
//! k*min(m, PHASES)/m, at phase interval*slot/min(m, PHASES); a turn due at `due` handled
//! at `now` is followed by one at due + (missed+1)*interval, missed = (now-due)/interval),
//! each peer's probes in flight with their deadlines, when its link last became ready and
//! when it last missed, and the tracker's rules (`tracker`'s module doc). Checks:
//! - every `Event` is the model's: per peer, the same counts in the same order (a probe
//!   is counted once: as a reply, at its deadline, or when its link fails; a link
//!   dropped for a handshake or probe timeout fails nothing; a link closed for this
//!   machine's trouble, `CloseReason::is_local`, voids its peer's probes: never counted,
//!   not even at their deadlines, and a late `PONG` does nothing); so counts step by +1 up
//!   to the threshold or back to 0 from non-zero; never about this node; at the current
//!   wall time; `timeouts(peer)` equals the log's count after every op;
//! - a `NewDay` is the first action of its event, comes only when the UTC day changed,
//!   and carries exactly the non-zero counts; after every event the log's day is the
//!   wall clock's;
//! - actions: `Connect` only to a configured peer's address, never this node's, with a
//!   fresh id, never while that peer has a link (one link per peer); `Send` and `Close`
//!   only for live connections, each `Close` once, and after it the id is dead
//!   (`output` empty, no `role`, every later event on it does nothing but roll the day);
//!   `Send` only when the output was empty (asked once), and no output waits without one;
//! - which event may do what: `handle_timeout` closes exactly the handshakes past their
//!   deadline (a link `timeout` after its dial, an accepted connection
//!   `HANDSHAKE_TIMEOUT_MS` after its accept), the ready links of peers whose turn comes while a probe queued on
//!   that link has been unanswered on it for `stuck_ms(timeout)` (each redialled at once;
//!   a probe past its deadline alone abandons nothing), and links whose output a turn's
//!   `PING` overflows; a peer's turn (unless `MAX_OUTSTANDING` probes are in flight) dials it if
//!   it has no link and queues its `PING` on its ready link, and nothing else changes any
//!   output; `on_closed` closes exactly that connection with that reason;
//!   `on_accept_error` with a shortage evicts exactly the oldest stranger's connection
//!   without `HELLO`, else the oldest from a configured address, if any, and says whether
//!   it did, without one nothing; `on_accepted`,
//!   `on_accept_error` and `on_connected` never log; only timers and data dial; `wrote`
//!   does nothing but drop the bytes written;
//! - each line read, on any connection in any state, has the outcome the protocol rules
//!   (`mesh`'s module doc) give: which `CloseReason` (a line too long, malformed,
//!   unexpected in this state, a `HELLO` from the wrong node, output over `MAX_OUTPUT`),
//!   or the new link/handshake state, and exactly the bytes queued (our `HELLO`, a
//!   `PONG` per `PING`, the `PING`s of every probe in flight when a link becomes ready);
//!   a valid inbound `HELLO` beside two proved ones of the same peer closes the one of
//!   them heard from least recently (proof or `PING`; the older on a tie), and redials a
//!   missing link, or a ready one that became ready no later than the peer's last miss
//!   (a probe missed at its deadline or failed with its link) with a probe unanswered on
//!   it for `timeout`; `on_connected` queues
//!   `HELLO 1 <whoami>`; `on_accepted` takes every connection, lets strangers wait
//!   `STRANGER_TIMEOUT_MS`, evicts an oldest waiting connection of an address that has
//!   `MAX_PENDING_PER_SOURCE`, else for a stranger when `MAX_STRANGERS` strangers wait the
//!   oldest stranger's, and nothing else: a stranger's arrival never closes a connection
//!   from a configured node's address (a configured node's places are its own); an
//!   unknown verb is ignored after the handshake and closes the connection before it;
//! - after every op: `connections()` is the number of live connections, and so is the
//!   sum of `conn_counts()` (its inbound `awaiting_hello` the waiting handshakes);
//!   `closes()` counts every `Close` by its reason's kind; each peer's probe counters
//!   add up (`started = replied + timed_out + voided + in_flight`); every live one
//!   has the shadow's role and state (states only move forwards; a proved peer is a
//!   configured node other than this one, from its ip) and `conn_at` finds it; at most
//!   one link and two proved inbound connections per peer; waiting handshakes within
//!   `MAX_PENDING_PER_SOURCE` per address and `MAX_STRANGERS` for strangers, as
//!   `waiting()` says; output at
//!   most `MAX_OUTPUT` bytes, whole lines; `poll_at()` is `Some`, and after
//!   `handle_timeout(now)` (until the clock moves) it is after `now`, at most one interval
//!   ahead and not after any peer's next turn;
//! - on the wire: every line the engine writes parses; a link sends `HELLO 1 <whoami>`
//!   once, first, then, once ready, only `PING`s of probes started, numbers rising; an
//!   inbound connection sends `HELLO` only once proved, then only `PONG`s, answering the
//!   `PING`s it read in order;
//! - at the end, a mesh that answers everything: once the probes whose replies were lost
//!   (a `PONG` glued to earlier garbage) are past their deadlines, every link is ready,
//!   every count 0, nothing in flight, and intervals go by without a change logged.
//!
//! `MESH_TRACE=1` prints every event and action, to read a finding.

#![no_main]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use common::Input;
use libfuzzer_sys::fuzz_target;
use uptime_tracker::config::{Config, Node};
use uptime_tracker::logline::{DAY_MS, MAX_TIME, day_number};
use uptime_tracker::mesh::{
    Action, BURST, CloseReason, ConnId, Engine, HANDSHAKE_TIMEOUT_MS, IoOp, LinkState, LogRecord,
    MAX_OUTPUT, MAX_PENDING_PER_SOURCE, MAX_STRANGERS, Now, PHASES, PeerId, Role,
    STRANGER_TIMEOUT_MS, stuck_ms,
};
use uptime_tracker::tracker::MAX_OUTSTANDING;
use uptime_tracker::wire::framer::{Framer, MAX_LINE};
use uptime_tracker::wire::message::{self, Message, PROTOCOL_VERSION, ParseError};

/// Whether `MESH_TRACE` is set.
fn trace() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MESH_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if trace() {
            eprintln!($($arg)*);
        }
    };
}

/// 2026-01-01T00:00:00Z minus 1 s.
const WALL0: i64 = 1_767_225_599_000;
/// How much work (roughly: per event 1, plus 1 per action and per 4 live connections,
/// plus 1 per 32 bytes fed or queued) the bulk ops (PING bursts, blind rounds,
/// reconnection storms) may add up to in one input, so that none runs for long.
const WORK: usize = 6_000;
/// Closed ids kept to replay as stale.
const STALE_KEPT: usize = 16;

/// What the shadow knows about a live connection's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Out {
        peer: usize,
        state: LinkState,
    },
    In {
        from: SocketAddr,
        peer: Option<usize>,
        since: u64,
    },
}

fn rank(s: LinkState) -> u8 {
    match s {
        LinkState::Connecting => 0,
        LinkState::Handshaking => 1,
        LinkState::Ready => 2,
    }
}

fn canon(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn failed_by(reason: CloseReason) -> bool {
    !matches!(
        reason,
        CloseReason::ProbeTimeout | CloseReason::HandshakeTimeout
    )
}

struct Conn {
    kind: Kind,
    /// When it was created (monotonic ms): a link's handshake deadline runs from here.
    born: u64,
    /// The engine's framer for this connection, fed the same bytes.
    framer: Framer,
    /// A `Send` was asked since the output was last empty.
    announced: bool,
    /// Written bytes after the last complete line.
    wire: Vec<u8>,
    /// The engine's `HELLO` was written.
    hello_written: bool,
    last_ping: Option<u64>,
    /// Our link: `PING`s written and not answered yet.
    unanswered: VecDeque<u64>,
    /// Inbound: the `PING`s read whose `PONG`s are still to be written, in order.
    expect_pongs: VecDeque<u64>,
    /// Our link: the engine's probes queued on it and not answered on it, oldest first:
    /// (seq, when queued). Its front says how long the link has been stuck.
    awaiting: VecDeque<(u64, u64)>,
    /// Inbound, once proved: when it proved itself or last brought a `PING`.
    heard: u64,
    /// Inbound, once proved: the order of proofs (a later proof, a larger number).
    proved: u64,
    /// Inbound: the peer said DUPLEX on it. Our link: the engine wrote DUPLEX on it.
    duplex: bool,
}

impl Conn {
    fn new(kind: Kind, born: u64) -> Conn {
        Conn {
            kind,
            born,
            framer: Framer::new(),
            announced: false,
            wire: Vec::new(),
            hello_written: false,
            last_ping: None,
            unanswered: VecDeque::new(),
            expect_pongs: VecDeque::new(),
            awaiting: VecDeque::new(),
            heard: 0,
            proved: 0,
            duplex: false,
        }
    }
}

/// Which call produced a batch of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Start,
    Timeout,
    Connected,
    Accepted,
    AcceptError,
    Data(ConnId),
    Closed(ConnId, CloseReason),
    Stale,
}

/// The actions of one call, after the per-action checks.
#[derive(Debug, Default)]
struct Batch {
    /// (id, reason, kind just before the call).
    closes: Vec<(ConnId, CloseReason, Kind)>,
    /// (id, peer).
    connects: Vec<(ConnId, usize)>,
    /// (peer, count).
    events: Vec<(usize, u32)>,
    new_day: bool,
    len: usize,
    /// Operator lines (`Say`) among them: a wall-clock step is said before its NewDay.
    says: usize,
}

/// A peer's probes as the model sees them.
#[derive(Debug, Default)]
struct Probes {
    next_seq: u64,
    /// seq -> deadline.
    in_flight: BTreeMap<u64, u64>,
    /// The tracker's count.
    count: u32,
    /// Replies in a row while offline (count at the threshold).
    replies: u32,
    /// When its next turn (probe) is due; `None` for this node.
    turn: Option<u64>,
    /// When our current link to it became ready (the engine's `ready_at`).
    ready_at: u64,
    /// When a probe to it last counted as a miss (at its deadline or with its link).
    missed_at: Option<u64>,
}

/// What the model says one `handle_timeout` does.
#[derive(Debug, Default)]
struct Timers {
    /// Peers with a probe past its deadline.
    missed: BTreeSet<usize>,
    /// Peers whose turn came (probe started or skipped).
    turns: BTreeSet<usize>,
    /// Peers whose turn's probe started, and its number.
    started: BTreeMap<usize, u64>,
}

/// Names an `on_data` call in a failure message (formatted only then).
struct What<'a>(&'a [u8], ConnId, Kind);

impl std::fmt::Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let What(bytes, id, kind) = self;
        write!(
            f,
            "{:?} on {id:?} ({kind:?})",
            String::from_utf8_lossy(bytes)
        )
    }
}

/// A connection's output, cheaply: its length and last bytes.
#[derive(Debug, Clone, Copy)]
struct Snap {
    len: usize,
    tail: [u8; 16],
}

impl Snap {
    fn of(out: &[u8]) -> Snap {
        let mut tail = [0; 16];
        let n = out.len().min(16);
        tail[..n].copy_from_slice(&out[out.len() - n..]);
        Snap {
            len: out.len(),
            tail,
        }
    }

    /// Whether `out` has this length and ends with these bytes.
    fn ends(&self, out: &[u8]) -> bool {
        let n = self.len.min(16);
        out.len() == self.len && out[out.len() - n..] == self.tail[..n]
    }
}

/// What one `on_data` call is predicted to do.
#[derive(Debug, Default)]
struct Effects {
    /// The connection the line was read on.
    id: Option<ConnId>,
    /// The connection's close reason (its `kind()`), if it is closed.
    close: Option<&'static str>,
    queued: Vec<u8>,
    pongs: Vec<u64>,
    events: Vec<(usize, u32)>,
    /// Other connections closed (a valid inbound HELLO's doing).
    others: Vec<(ConnId, &'static str)>,
    connect: Option<usize>,
}

struct Sim {
    engine: Engine,
    nodes: Vec<(String, SocketAddr)>,
    me: usize,
    interval: u64,
    timeout: u64,
    threshold: u32,
    online_threshold: u32,
    now: Now,
    live: BTreeMap<ConnId, Conn>,
    /// Proofs of inbound connections so far (for `Conn::proved`).
    proofs: u64,
    ever: HashSet<ConnId>,
    closed: VecDeque<ConnId>,
    /// Close actions seen, by `CloseReason::index`.
    closes_by_kind: Vec<u64>,
    /// Each peer's count as the log tells it.
    counts: Vec<u32>,
    /// Event records so far.
    logged: usize,
    /// See [`WORK`].
    work: usize,
    /// The model.
    probes: Vec<Probes>,
    day: i64,
    /// `handle_timeout` ran at the current `now.mono`.
    timers_current: bool,
    /// An engine event ran since the wall clock last moved.
    day_current: bool,
}

impl Sim {
    fn whoami(&self) -> &str {
        &self.nodes[self.me].0
    }

    fn hello_line(&self) -> Vec<u8> {
        format!("HELLO {PROTOCOL_VERSION} {}\n", self.whoami()).into_bytes()
    }

    /// The configured node a valid inbound `HELLO` naming `name` from `from` proves.
    fn valid_hello(&self, name: &str, from: SocketAddr) -> Option<usize> {
        let i = self.nodes.iter().position(|n| n.0 == name)?;
        (i != self.me && canon(self.nodes[i].1.ip()) == canon(from.ip())).then_some(i)
    }

    fn link_of(&self, peer: usize) -> Option<(ConnId, LinkState)> {
        self.live.iter().find_map(|(&id, c)| match c.kind {
            Kind::Out { peer: p, state } if p == peer => Some((id, state)),
            _ => None,
        })
    }

    /// The peer's proved inbound connections, oldest proof first.
    fn inbound_of(&self, peer: usize) -> Vec<ConnId> {
        let mut v: Vec<(u64, ConnId)> = self
            .live
            .iter()
            .filter_map(|(&id, c)| match c.kind {
                Kind::In { peer: Some(p), .. } if p == peer => Some((c.proved, id)),
                _ => None,
            })
            .collect();
        v.sort();
        v.into_iter().map(|x| x.1).collect()
    }

    /// How long link `id` has left its oldest queued probe unanswered (0: none).
    fn stalled(&self, id: ConnId) -> u64 {
        self.live
            .get(&id)
            .and_then(|c| c.awaiting.front())
            .map_or(0, |&(_, at)| self.now.mono.saturating_sub(at))
    }

    /// The engine's `send_probe` notes probe `seq` as queued on link `id` now.
    fn note_queued(&mut self, id: ConnId, seq: u64) {
        let now = self.now.mono;
        if let Some(c) = self.live.get_mut(&id) {
            if c.awaiting.len() >= MAX_OUTSTANDING {
                c.awaiting.pop_front();
            }
            c.awaiting.push_back((seq, now));
        }
    }

    fn pending_from(&self, ip: IpAddr) -> Vec<(u64, ConnId)> {
        self.live
            .iter()
            .filter_map(|(&id, c)| match c.kind {
                Kind::In {
                    from,
                    peer: None,
                    since,
                } if canon(from.ip()) == ip => Some((since, id)),
                _ => None,
            })
            .collect()
    }

    fn known(&self, ip: IpAddr) -> bool {
        let ip = canon(ip);
        self.nodes.iter().any(|n| canon(n.1.ip()) == ip)
    }

    /// When the oldest waiting connection from a stranger was accepted.
    fn oldest_stranger(&self) -> Option<u64> {
        self.live
            .values()
            .filter_map(|c| match c.kind {
                Kind::In {
                    from,
                    peer: None,
                    since,
                } if !self.known(from.ip()) => Some(since),
                _ => None,
            })
            .min()
    }

    /// Connections waiting for their handshake from strangers' addresses.
    fn strangers_waiting(&self) -> usize {
        self.live
            .values()
            .filter(
                |c| matches!(c.kind, Kind::In { peer: None, from, .. } if !self.known(from.ip())),
            )
            .count()
    }

    fn pick(&self, b: u8) -> Option<ConnId> {
        let n = self.live.len();
        (n > 0).then(|| *self.live.keys().nth(usize::from(b) % n).expect("in range"))
    }

    /// Prefers our links still connecting.
    fn pick_connecting(&self, b: u8) -> Option<ConnId> {
        let connecting: Vec<ConnId> = self
            .live
            .iter()
            .filter(|(_, c)| {
                matches!(
                    c.kind,
                    Kind::Out {
                        state: LinkState::Connecting,
                        ..
                    }
                )
            })
            .map(|(&id, _)| id)
            .collect();
        if connecting.is_empty() || b & 0x80 != 0 {
            self.pick(b)
        } else {
            Some(connecting[usize::from(b) % connecting.len()])
        }
    }

    // ---------------------------------------------------------------------------------
    // The probe model (the tracker's rules, wired as the engine wires them).

    fn miss(&mut self, peer: usize, events: &mut Vec<(usize, u32)>) {
        let p = &mut self.probes[peer];
        p.missed_at = Some(self.now.mono);
        if p.count < self.threshold {
            p.count += 1;
            events.push((peer, p.count));
        } else {
            p.replies = 0;
        }
    }

    fn reply(&mut self, peer: usize, seq: u64, events: &mut Vec<(usize, u32)>) {
        let p = &mut self.probes[peer];
        if p.in_flight.remove(&seq).is_some() {
            // Offline: only the online threshold's reply in a row brings it back.
            if p.count == self.threshold {
                p.replies += 1;
                if p.replies < self.online_threshold {
                    return;
                }
            }
            p.replies = 0;
            if p.count != 0 {
                events.push((peer, 0));
            }
            p.count = 0;
        }
    }

    /// The peer's link failed: every probe in flight is a miss.
    fn fail_all(&mut self, peer: usize, events: &mut Vec<(usize, u32)>) {
        let n = std::mem::take(&mut self.probes[peer].in_flight).len();
        for _ in 0..n {
            self.miss(peer, events);
        }
    }

    /// `handle_timeout` at `now`: every probe past its deadline is a miss; each peer whose
    /// turn is due gets a probe (room permitting) and its next turn.
    fn timers(&mut self, events: &mut Vec<(usize, u32)>) -> Timers {
        let mut t = Timers::default();
        let now = self.now.mono;
        for peer in 0..self.nodes.len() {
            let due: Vec<u64> = self.probes[peer]
                .in_flight
                .iter()
                .filter(|&(_, &d)| d <= now)
                .map(|(&s, _)| s)
                .collect();
            for seq in due {
                self.probes[peer].in_flight.remove(&seq);
                self.miss(peer, events);
                t.missed.insert(peer);
            }
        }
        // Each peer's turn, when due: the next one is a whole number of intervals
        // later (turns missed in a stall are skipped, the phase kept).
        for peer in (0..self.nodes.len()).filter(|&p| p != self.me) {
            let interval = self.interval;
            let timeout = self.timeout;
            let p = &mut self.probes[peer];
            let due = p.turn.expect("a peer has turns");
            if now < due {
                continue;
            }
            let missed = (now - due) / interval;
            p.turn = Some(due + (missed + 1) * interval);
            t.turns.insert(peer);
            if p.in_flight.len() < MAX_OUTSTANDING {
                p.in_flight.insert(p.next_seq, now + timeout);
                t.started.insert(peer, p.next_seq);
                p.next_seq += 1;
            }
        }
        t
    }

    /// Per peer, the events logged are the model's, in order.
    fn same_events(
        &self,
        what: impl std::fmt::Display,
        want: &[(usize, u32)],
        got: &[(usize, u32)],
    ) {
        if want == got {
            return;
        }
        for peer in 0..self.nodes.len() {
            let w: Vec<u32> = want.iter().filter(|e| e.0 == peer).map(|e| e.1).collect();
            let g: Vec<u32> = got.iter().filter(|e| e.0 == peer).map(|e| e.1).collect();
            assert_eq!(g, w, "{what}: peer {peer}'s events");
        }
    }

    // ---------------------------------------------------------------------------------
    // Actions.

    /// Carries out every queued action, checking each.
    fn drain(&mut self, call: Call) -> Batch {
        let mut batch = Batch::default();
        trace!("  {call:?} at {:?}", self.now);
        while let Some(action) = self.engine.poll_action() {
            trace!("    {action:?}");
            let index = batch.len;
            batch.len += 1;
            match action {
                Action::Connect { conn, addr } => {
                    assert!(
                        matches!(call, Call::Start | Call::Timeout | Call::Data(_)),
                        "Connect from {call:?}"
                    );
                    let peer = self
                        .nodes
                        .iter()
                        .position(|n| n.1 == addr)
                        .unwrap_or_else(|| panic!("Connect to {addr}: not a configured node"));
                    assert_ne!(peer, self.me, "Connect to this node itself ({addr})");
                    assert!(self.ever.insert(conn), "Connect reuses id {conn:?}");
                    if let Some((other, _)) = self.link_of(peer) {
                        panic!("Connect {conn:?} to peer {peer} while its link {other:?} lives");
                    }
                    self.live.insert(
                        conn,
                        Conn::new(
                            Kind::Out {
                                peer,
                                state: LinkState::Connecting,
                            },
                            self.now.mono,
                        ),
                    );
                    batch.connects.push((conn, peer));
                }
                Action::Send { conn } => {
                    let c = self
                        .live
                        .get_mut(&conn)
                        .unwrap_or_else(|| panic!("Send for {conn:?}, not live"));
                    assert!(!c.announced, "Send for {conn:?} whose output was not empty");
                    c.announced = true;
                }
                Action::Close { conn, reason } => {
                    let c = self.live.remove(&conn).unwrap_or_else(|| {
                        panic!("Close {conn:?} ({reason:?}): not live (or closed twice)")
                    });
                    assert!(self.engine.output(conn).is_empty(), "output after Close");
                    assert_eq!(self.engine.role(conn), None, "role after Close");
                    if self.closed.len() == STALE_KEPT {
                        self.closed.pop_front();
                    }
                    self.closed.push_back(conn);
                    self.closes_by_kind[reason.index()] += 1;
                    // The shadow's kind is still the one from before this call.
                    batch.closes.push((conn, reason, c.kind));
                }
                Action::Log(LogRecord::NewDay { wall, carried }) => {
                    assert_eq!(
                        index, batch.says,
                        "NewDay is not the event's first action but operator lines"
                    );
                    assert!(!batch.new_day);
                    batch.new_day = true;
                    assert_eq!(wall, self.now.wall);
                    let day = day_number(wall);
                    assert_ne!(day, self.day, "NewDay on the same day");
                    self.day = day;
                    let want: Vec<(String, u32)> = self
                        .counts
                        .iter()
                        .enumerate()
                        .filter(|&(_, &n)| n != 0)
                        .map(|(p, &n)| (self.nodes[p].0.clone(), n))
                        .collect();
                    assert_eq!(carried, want, "NewDay carries other counts");
                }
                Action::Log(LogRecord::Event {
                    wall,
                    peer,
                    name,
                    timeouts,
                }) => {
                    let p = peer.0;
                    assert_eq!(wall, self.now.wall);
                    assert_eq!(Some(&name), self.nodes.get(p).map(|n| &n.0), "Event's name");
                    assert_eq!(day_number(wall), self.day, "Event in the wrong day's file");
                    assert!(p < self.nodes.len(), "Event for unknown peer {p}");
                    assert_ne!(p, self.me, "Event about this node itself");
                    assert!(timeouts <= self.threshold, "{timeouts} > threshold");
                    let last = self.counts[p];
                    if timeouts == 0 {
                        assert_ne!(last, 0, "peer {p}: a 0 line after 0");
                    } else {
                        assert_eq!(timeouts, last + 1, "peer {p}: {last} then {timeouts}");
                    }
                    self.counts[p] = timeouts;
                    self.logged += 1;
                    batch.events.push((p, timeouts));
                }
                Action::Say(s) => {
                    assert!(!s.is_empty());
                    batch.says += 1;
                }
                Action::Log(LogRecord::Reconfigured { .. }) => {
                    panic!("Reconfigured without a reload")
                }
                Action::Hook(_) | Action::KillHook { .. } | Action::PruneLogs { .. } => {
                    panic!("{action:?} without on_change or log_retention_days")
                }
            }
        }
        self.work += 1 + batch.len + self.live.len() / 4;
        if call != Call::Stale {
            self.day_current = true;
        }
        self.sync();
        self.check_batch(call, &batch);
        batch
    }

    /// What each kind of call may do.
    fn check_batch(&self, call: Call, b: &Batch) {
        for &(id, reason, kind) in &b.closes {
            let shell = matches!(call, Call::Closed(c, r) if c == id && r == reason);
            let ok = shell
                || match reason {
                    CloseReason::HandshakeTimeout => {
                        call == Call::Timeout
                            && matches!(kind, Kind::Out { state, .. } if state != LinkState::Ready)
                    }
                    CloseReason::ProbeTimeout => {
                        matches!(call, Call::Timeout | Call::Data(_))
                            && matches!(
                                kind,
                                Kind::Out {
                                    state: LinkState::Ready,
                                    ..
                                }
                            )
                    }
                    CloseReason::NoHello => {
                        call == Call::Timeout && matches!(kind, Kind::In { peer: None, .. })
                    }
                    CloseReason::Evicted => {
                        matches!(call, Call::Accepted | Call::AcceptError)
                            && matches!(kind, Kind::In { peer: None, .. })
                    }
                    CloseReason::Replaced => {
                        matches!(call, Call::Data(c) if c != id)
                            && matches!(kind, Kind::In { peer: Some(_), .. })
                    }
                    CloseReason::WrongNode => {
                        call == Call::Data(id)
                            && matches!(
                                kind,
                                Kind::In { peer: None, .. }
                                    | Kind::Out {
                                        state: LinkState::Handshaking,
                                        ..
                                    }
                            )
                    }
                    CloseReason::Unexpected
                    | CloseReason::Malformed(_)
                    | CloseReason::LineTooLong => call == Call::Data(id),
                    CloseReason::NotReading => matches!(call, Call::Timeout | Call::Data(_)),
                    // No secret: only a CHALLENGE read on an accepted connection.
                    CloseReason::NoSecret => {
                        call == Call::Data(id) && matches!(kind, Kind::In { peer: None, .. })
                    }
                    // Authentication, a reload and the earlier tool's HTTP are not driven here.
                    CloseReason::AuthFailed
                    | CloseReason::OldVersion
                    | CloseReason::AuthRequired
                    | CloseReason::NoRandom
                    | CloseReason::Done
                    | CloseReason::BadResponse(_)
                    | CloseReason::ClosedByPeer
                    | CloseReason::Io { .. }
                    | CloseReason::Local { .. }
                    | CloseReason::Reconfigured => false,
                };
            assert!(ok, "{call:?} closed {id:?} ({kind:?}) with {reason:?}");
        }
        match call {
            Call::Closed(id, reason) => {
                let closes: Vec<(ConnId, CloseReason)> =
                    b.closes.iter().map(|c| (c.0, c.1)).collect();
                assert_eq!(closes, [(id, reason)], "on_closed({id:?}, {reason:?})");
            }
            Call::Connected | Call::Accepted | Call::AcceptError | Call::Stale => {
                assert!(b.events.is_empty(), "{call:?} logged {:?}", b.events);
            }
            Call::Start | Call::Timeout | Call::Data(_) => {}
        }
        if call == Call::Stale {
            assert_eq!(
                b.len - b.says,
                usize::from(b.new_day),
                "a stale id did something"
            );
        }
    }

    /// Takes each live connection's state from the engine, checking that it only moved
    /// forwards.
    fn sync(&mut self) {
        for (&id, c) in self.live.iter_mut() {
            let role = self
                .engine
                .role(id)
                .unwrap_or_else(|| panic!("live {id:?} unknown to the engine"));
            assert_eq!(self.engine.conn_at(id.index()), Some(id));
            c.kind = match (c.kind, role) {
                (Kind::Out { peer, state }, Role::Out { peer: p, state: s }) => {
                    assert_eq!(peer, p, "{id:?} changed peers");
                    assert!(
                        rank(s) >= rank(state),
                        "{id:?} went from {state:?} to {s:?}"
                    );
                    Kind::Out { peer, state: s }
                }
                (
                    Kind::In { from, peer, since },
                    Role::In {
                        from: f,
                        peer: p,
                        since: s,
                    },
                ) => {
                    assert_eq!(from, f);
                    match (peer, p) {
                        (None, None) => assert_eq!(since, s),
                        (Some(a), b) => assert_eq!(Some(a), b, "{id:?} changed peers"),
                        (None, Some(_)) => {}
                    }
                    Kind::In {
                        from,
                        peer: p,
                        since: s,
                    }
                }
                (k, r) => panic!("{id:?}: shadow {k:?}, engine {r:?}"),
            };
        }
    }

    // ---------------------------------------------------------------------------------
    // The state after every op.

    fn check(&self) {
        assert_eq!(self.engine.connections(), self.live.len(), "connections()");
        let mut links = vec![0usize; self.nodes.len()];
        let mut inbound = vec![0usize; self.nodes.len()];
        let mut sources: BTreeMap<IpAddr, usize> = BTreeMap::new();
        let mut pending = 0;
        for (&id, c) in &self.live {
            match c.kind {
                Kind::Out { peer, .. } => links[peer] += 1,
                Kind::In {
                    peer: Some(p),
                    from,
                    ..
                } => {
                    inbound[p] += 1;
                    assert_ne!(p, self.me, "an inbound connection proved to be this node");
                    assert_eq!(
                        canon(self.nodes[p].1.ip()),
                        canon(from.ip()),
                        "peer {p} proved from another ip"
                    );
                }
                Kind::In {
                    peer: None, from, ..
                } => {
                    pending += 1;
                    *sources.entry(canon(from.ip())).or_default() += 1;
                }
            }
            let out = self.engine.output(id);
            assert!(
                out.len() <= MAX_OUTPUT,
                "{id:?}: {} bytes of output",
                out.len()
            );
            if out.is_empty() {
                assert!(c.wire.is_empty(), "{id:?}: a line cut off in the middle");
            } else {
                assert!(c.announced, "{id:?}: output waiting without a Send");
                assert_eq!(out.last(), Some(&b'\n'), "{id:?}: output ends mid-line");
            }
        }
        for p in 0..self.nodes.len() {
            assert!(links[p] <= 1, "peer {p} has {} links", links[p]);
            assert!(inbound[p] <= 2, "peer {p} has {} inbound", inbound[p]);
            assert_eq!(
                self.counts[p], self.probes[p].count,
                "peer {p}: log vs model"
            );
            assert_eq!(
                self.engine.timeouts(PeerId(p)),
                self.counts[p],
                "peer {p}: timeouts() vs the log"
            );
            let state = self.link_of(p).map(|l| l.1);
            assert_eq!(self.engine.link_state(PeerId(p)), state, "peer {p} link");
        }
        let strangers = self.strangers_waiting();
        assert!(strangers <= MAX_STRANGERS, "{strangers} strangers waiting");
        assert_eq!(
            self.engine.waiting(),
            (pending - strangers, strangers),
            "waiting()"
        );
        // Metrics: every probe started is replied, timed out, voided or in flight; the
        // connections by state are the live ones; closes by kind are the closes seen.
        for peer in self.engine.peers() {
            let s = peer.stats;
            assert_eq!(
                s.started,
                s.replied + s.timed_out + s.voided + peer.in_flight as u64,
                "peer {}: probe counters {s:?}, {} in flight",
                peer.name,
                peer.in_flight
            );
        }
        let by_state = self.engine.conn_counts();
        let counted: usize = by_state.out.iter().chain(&by_state.inbound).sum();
        assert_eq!(counted, self.live.len(), "conn_counts() {by_state:?}");
        assert_eq!(
            by_state.inbound[0], pending,
            "conn_counts(): inbound awaiting HELLO"
        );
        let closed: Vec<u64> = self.engine.closes().iter().map(|k| k.1).collect();
        assert_eq!(closed, self.closes_by_kind, "closes() by kind");
        for (ip, n) in sources {
            assert!(n <= MAX_PENDING_PER_SOURCE, "{n} waiting from {ip}");
        }
        let at = self.engine.poll_at().expect("poll_at() is None");
        if self.timers_current {
            assert!(at > self.now.mono, "poll_at {at} <= now {}", self.now.mono);
            // A first turn waits for the wall clock's next beat: up to two intervals.
            assert!(
                at <= self.now.mono + 2 * self.interval,
                "poll_at {at}: more than two intervals after {}",
                self.now.mono
            );
            let turn = self.probes.iter().filter_map(|p| p.turn).min();
            assert!(
                turn.is_some_and(|t| at <= t),
                "poll_at {at} after the next turn {turn:?}"
            );
        }
        if self.day_current {
            assert_eq!(
                self.day,
                day_number(self.now.wall),
                "log day behind the wall"
            );
        }
    }

    /// Every live connection's output, as length and last bytes.
    fn outputs(&self) -> BTreeMap<ConnId, Snap> {
        self.live
            .keys()
            .map(|&id| (id, Snap::of(self.engine.output(id))))
            .collect()
    }

    /// The output of every connection still live is what it was plus what `added` says.
    fn outputs_grew(
        &self,
        what: impl std::fmt::Display,
        before: &BTreeMap<ConnId, Snap>,
        added: &[(ConnId, Vec<u8>)],
    ) {
        for (id, old) in before {
            if !self.live.contains_key(id) {
                continue;
            }
            let out = self.engine.output(*id);
            let add: Vec<u8> = added
                .iter()
                .filter(|a| a.0 == *id)
                .flat_map(|a| a.1.iter().copied())
                .collect();
            assert_eq!(out.len(), old.len + add.len(), "{what}: output of {id:?}");
            assert!(
                old.ends(&out[..old.len]),
                "{what}: output of {id:?} rewritten"
            );
            assert_eq!(&out[old.len..], &add[..], "{what}: output of {id:?}");
        }
    }

    // ---------------------------------------------------------------------------------
    // Clocks.

    fn advance(&mut self, ms: u64) {
        if ms == 0 {
            return;
        }
        self.now.mono += ms;
        self.now.wall = self.now.wall.saturating_add(ms as i64);
        self.timers_current = false;
        self.day_current = false;
    }

    fn set_wall(&mut self, wall: i64) {
        self.now.wall = wall;
        self.day_current = false;
    }

    fn timeout(&mut self) {
        let now = self.now.mono;
        let mut want = Vec::new();
        let t = self.timers(&mut want);
        let outputs = self.outputs();
        let links: BTreeMap<usize, (ConnId, LinkState)> = (0..self.nodes.len())
            .filter_map(|p| self.link_of(p).map(|l| (p, l)))
            .collect();
        // Handshakes past their deadline: our links `timeout` after the dial, accepted
        // connections HANDSHAKE_TIMEOUT_MS after the accept.
        let mut due: BTreeMap<ConnId, &'static str> = self
            .live
            .iter()
            .filter_map(|(&id, c)| match c.kind {
                Kind::Out { state, .. }
                    if state != LinkState::Ready && c.born + self.timeout <= now =>
                {
                    Some((id, "handshake_timeout"))
                }
                Kind::In {
                    peer: None,
                    since,
                    from,
                } if since
                    + if self.known(from.ip()) {
                        HANDSHAKE_TIMEOUT_MS
                    } else {
                        STRANGER_TIMEOUT_MS
                    }
                    <= now =>
                {
                    Some((id, "no_hello"))
                }
                _ => None,
            })
            .collect();

        // A turn abandons its peer's ready link (and redials it) when a probe has been
        // unanswered on it for stuck_ms; a probe past its deadline alone does not.
        let stuck: BTreeSet<usize> = t
            .started
            .keys()
            .copied()
            .filter(|p| {
                matches!(links.get(p), Some(&(id, LinkState::Ready))
                    if self.stalled(id) >= stuck_ms(self.timeout))
            })
            .collect();
        self.engine.handle_timeout(self.now);
        self.timers_current = true;
        let b = self.drain(Call::Timeout);

        // A turn's PING that overflows a link's output fails that link's probes.
        let mut overflowed = BTreeSet::new();
        for &(id, reason, kind) in &b.closes {
            if let (CloseReason::NotReading, Kind::Out { peer, .. }) = (reason, kind) {
                assert!(
                    t.started.contains_key(&peer),
                    "NotReading on {id:?} without a turn"
                );
                overflowed.insert(peer);
                self.fail_all(peer, &mut want);
                due.insert(id, "not_reading");
            }
        }
        self.same_events("handle_timeout", &want, &b.events);
        for p in &stuck {
            if let Some(&(id, _)) = links.get(p) {
                due.insert(id, "probe_timeout");
            }
        }
        let closes: BTreeMap<ConnId, &'static str> =
            b.closes.iter().map(|c| (c.0, c.1.kind())).collect();
        assert_eq!(closes, due, "handle_timeout at {now}: {b:?}");
        // Redials: a peer whose link timed out a probe at once; a turn, its peer if
        // without a link (a link that failed in the same call may go either way).
        let dialled: BTreeSet<usize> = b.connects.iter().map(|c| c.1).collect();
        assert_eq!(dialled.len(), b.connects.len(), "two dials to one peer");
        for (id, reason) in &due {
            if *reason == "probe_timeout"
                && let Kind::Out { peer, .. } =
                    b.closes.iter().find(|c| c.0 == *id).expect("closed").2
            {
                assert!(
                    dialled.contains(&peer),
                    "peer {peer}: no redial after {reason}"
                );
            }
        }
        for p in (0..self.nodes.len()).filter(|&p| p != self.me) {
            let had = links.contains_key(&p);
            let lost = b
                .closes
                .iter()
                .any(|c| matches!(c.2, Kind::Out { peer, .. } if peer == p));
            if t.started.contains_key(&p) && !had {
                assert!(dialled.contains(&p), "turn: peer {p} not dialled");
            }
            if dialled.contains(&p) {
                assert!(
                    lost || (t.started.contains_key(&p) && !had),
                    "peer {p} dialled for nothing"
                );
            }
        }
        // A turn's probe goes out on its peer's ready link (unless abandoned as stuck).
        let queued: Vec<(ConnId, u64)> = t
            .started
            .iter()
            .filter_map(|(&p, &seq)| match links.get(&p) {
                Some(&(id, LinkState::Ready)) if !stuck.contains(&p) => Some((id, seq)),
                _ => None,
            })
            .collect();
        let pings: Vec<(ConnId, Vec<u8>)> = queued
            .iter()
            .map(|&(id, seq)| (id, format!("PING {seq}\n").into_bytes()))
            .collect();
        self.outputs_grew("handle_timeout", &outputs, &pings);
        for (id, seq) in queued {
            self.note_queued(id, seq);
        }
    }

    // ---------------------------------------------------------------------------------
    // Events.

    fn connected(&mut self, id: ConnId) {
        let kind = self.live.get(&id).map(|c| c.kind);
        let outputs = self.outputs();
        self.engine.on_connected(id, self.now);
        let b = self.drain(Call::Connected);
        let hello = match kind {
            Some(Kind::Out {
                state: LinkState::Connecting,
                ..
            }) => vec![(id, self.hello_line())],
            _ => Vec::new(),
        };
        self.outputs_grew("on_connected", &outputs, &hello);
        assert!(b.closes.is_empty() && b.connects.is_empty());
        match kind {
            Some(Kind::Out {
                peer,
                state: LinkState::Connecting,
            }) => {
                assert_eq!(
                    b.len - b.says,
                    usize::from(b.new_day) + 1,
                    "on_connected: {b:?}"
                );
                assert_eq!(self.engine.output(id), &self.hello_line()[..]);
                assert_eq!(
                    self.engine.role(id),
                    Some(Role::Out {
                        peer,
                        state: LinkState::Handshaking
                    })
                );
            }
            Some(_) => {
                assert_eq!(
                    b.len - b.says,
                    usize::from(b.new_day),
                    "on_connected again: {b:?}"
                );
            }
            None => unreachable!("connected() on a dead id"),
        }
    }

    fn accepted(&mut self, from: SocketAddr) -> Option<ConnId> {
        let ip = canon(from.ip());
        let known = self.known(ip);
        let waiting = self.pending_from(ip);
        // A full address gives up one of its oldest waiting connections (any of those
        // accepted in the same millisecond). Strangers are let in too (the earlier tool's
        // HTTP is answered to anyone); with every stranger's place taken, a stranger's
        // connection evicts the oldest stranger's. A configured address's places are its
        // own: nobody else's arrival touches them.
        let full = waiting.len() >= MAX_PENDING_PER_SOURCE;
        let oldest = waiting.iter().map(|w| w.0).min();
        let stranger = (!known && !full && self.strangers_waiting() >= MAX_STRANGERS)
            .then(|| self.oldest_stranger())
            .flatten();
        let outputs = self.outputs();
        let got = self.engine.on_accepted(from, self.now);
        let b = self.drain(Call::Accepted);
        self.outputs_grew("on_accepted", &outputs, &[]);
        for (id, _, kind) in &b.closes {
            if let Kind::In { from: f, .. } = kind {
                assert!(
                    known || !self.known(f.ip()),
                    "a stranger from {from} closed {id:?}, a connection from configured {f}"
                );
            }
        }
        match (&b.closes[..], full, stranger) {
            ([], false, None) => {}
            ([(_, CloseReason::Evicted, Kind::In { from: f, since, .. })], true, None) => {
                assert_eq!(canon(f.ip()), ip, "evicted a connection from {f}");
                assert_eq!(Some(*since), oldest, "evicted a younger connection");
            }
            ([(_, CloseReason::Evicted, Kind::In { from: f, since, .. })], false, Some(oldest)) => {
                assert!(!self.known(f.ip()), "evicted a node's connection from {f}");
                assert_eq!(*since, oldest, "evicted a younger stranger");
            }
            (closes, _, _) => panic!("on_accepted({from}) closed {closes:?}"),
        }
        assert!(b.connects.is_empty());
        let id = got.unwrap_or_else(|| panic!("{from} refused"));
        assert!(self.ever.insert(id), "on_accepted reuses id {id:?}");
        assert_eq!(self.engine.output(id), b"");
        self.live.insert(
            id,
            Conn::new(
                Kind::In {
                    from,
                    peer: None,
                    since: self.now.mono,
                },
                self.now.mono,
            ),
        );
        got
    }

    /// `accept` failed; on a `shortage` the oldest connection without `HELLO` is evicted,
    /// a stranger's first (any of those accepted in the same millisecond, the engine's
    /// lowest id first).
    fn accept_error(&mut self, shortage: bool, errno: i32) {
        // A stranger's first: the oldest waiting from an address that is no node's, else
        // the oldest waiting from a configured address.
        let oldest_at = |strangers: bool| {
            self.live
                .iter()
                .filter_map(|(_, c)| match c.kind {
                    Kind::In {
                        peer: None,
                        since,
                        from,
                    } if self.known(from.ip()) != strangers => Some(since),
                    _ => None,
                })
                .min()
        };
        let stranger_waiting = oldest_at(true).is_some();
        let oldest = oldest_at(true).or_else(|| oldest_at(false));
        let outputs = self.outputs();
        let error = std::io::Error::from_raw_os_error(errno);
        let evicted = self.engine.on_accept_error(&error, shortage, self.now);
        let b = self.drain(Call::AcceptError);
        self.outputs_grew("on_accept_error", &outputs, &[]);
        assert!(b.connects.is_empty() && b.events.is_empty());
        let want = if shortage { oldest } else { None };
        assert_eq!(
            evicted,
            want.is_some(),
            "on_accept_error({shortage}): {b:?}"
        );
        match (&b.closes[..], want) {
            ([], None) => {}
            ([(_, CloseReason::Evicted, Kind::In { since, from, .. })], Some(oldest)) => {
                assert_eq!(*since, oldest, "evicted a younger connection");
                assert!(
                    !self.known(from.ip()) || !stranger_waiting,
                    "evicted {from} while a stranger waited"
                );
            }
            (closes, _) => panic!("on_accept_error({shortage}) closed {closes:?}"),
        }
    }

    /// Bytes read from `id`. The shadow framer cuts them into the lines the engine reads;
    /// each line's outcome is predicted by the protocol rules and checked.
    fn data(&mut self, id: ConnId, bytes: &[u8]) {
        // No `/` reaches the engine, so no line is an HTTP request line (`... HTTP/1.1`):
        // the mesh port's answers to the earlier tool are left to the engine's unit tests
        // and the `legacy` target. (`/` is otherwise only a byte no name may hold.)
        let bytes: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'/' { b'_' } else { b })
            .collect();
        let bytes = &bytes[..];
        self.work += bytes.len() / 32;
        let Some(c) = self.live.get(&id) else {
            return;
        };
        let mut framer = c.framer.clone();
        let kind0 = c.kind;
        let mut kind = kind0;
        let before = self.engine.output(id).len();
        let mut fx = Effects {
            id: Some(id),
            ..Effects::default()
        };
        let mut rest = bytes;
        'feed: loop {
            let taken = framer.push(rest);
            rest = &rest[taken..];
            loop {
                let line = match framer.next_line() {
                    Ok(None) => break,
                    Ok(Some(line)) => line,
                    Err(_) => {
                        fx.close = Some("line_too_long");
                        break 'feed;
                    }
                };
                if let Some(reason) = self.line(&mut kind, message::parse(line), before, &mut fx) {
                    fx.close = Some(reason);
                    break 'feed;
                }
            }
            if rest.is_empty() {
                break;
            }
        }
        // A link closed for what it read fails its probes.
        if let (Some(_), Kind::Out { peer, .. }) = (fx.close, kind) {
            let mut events = std::mem::take(&mut fx.events);
            self.fail_all(peer, &mut events);
            fx.events = events;
        }

        let outputs = self.outputs();
        self.work += fx.queued.len() / 32;
        trace!("  on_data({id:?}, {:?})", String::from_utf8_lossy(bytes));
        self.engine.on_data(id, bytes, self.now);
        let b = self.drain(Call::Data(id));
        let what = What(bytes, id, kind0);
        self.outputs_grew(&what, &outputs, &[(id, fx.queued.clone())]);
        let mine: Vec<&'static str> = b
            .closes
            .iter()
            .filter(|c| c.0 == id)
            .map(|c| c.1.kind())
            .collect();
        assert_eq!(
            mine,
            fx.close.into_iter().collect::<Vec<_>>(),
            "{what}: {b:?}"
        );
        let others: Vec<(ConnId, &'static str)> = b
            .closes
            .iter()
            .filter(|c| c.0 != id)
            .map(|c| (c.0, c.1.kind()))
            .collect();
        assert_eq!(others, fx.others, "{what}: {b:?}");
        let connects: Vec<usize> = b.connects.iter().map(|c| c.1).collect();
        assert_eq!(
            connects,
            fx.connect.into_iter().collect::<Vec<_>>(),
            "{what}"
        );
        self.same_events(&what, &fx.events, &b.events);
        if fx.close.is_none() {
            let role = self.engine.role(id).expect("live");
            match (kind, role) {
                (Kind::Out { peer, state }, Role::Out { peer: p, state: s }) => {
                    assert_eq!((peer, state), (p, s), "{what}");
                }
                (Kind::In { peer, .. }, Role::In { peer: p, .. }) => {
                    assert_eq!(peer, p, "{what}");
                }
                (k, r) => panic!("{what}: want {k:?}, engine {r:?}"),
            }
            let c = self.live.get_mut(&id).expect("live");
            c.framer = framer;
            c.expect_pongs.extend(fx.pongs);
        }
    }

    /// One line read on a connection in state `kind` (the rules of the engine's
    /// `on_input`): updates `kind` and the model, records what is queued and done to
    /// others; returns the close reason if the line closes the connection.
    fn line(
        &mut self,
        kind: &mut Kind,
        msg: Result<Message<'_>, ParseError>,
        before: usize,
        fx: &mut Effects,
    ) -> Option<&'static str> {
        let Ok(msg) = msg else {
            return Some("malformed");
        };
        // Queues one message; too much unread output closes the connection.
        let queue = |fx: &mut Effects, bytes: &[u8]| {
            if before + fx.queued.len() + bytes.len() > MAX_OUTPUT {
                Some("not_reading")
            } else {
                fx.queued.extend_from_slice(bytes);
                None
            }
        };
        match (*kind, msg) {
            // A newer peer's verb after the handshake; before it, only the handshake.
            (
                Kind::Out {
                    state: LinkState::Ready,
                    ..
                }
                | Kind::In { peer: Some(_), .. },
                Message::Unknown { .. },
            ) => None,
            (
                Kind::Out {
                    peer,
                    state: LinkState::Handshaking,
                },
                Message::Hello { name, .. },
            ) => {
                if name != self.nodes[peer].0 {
                    return Some("wrong_node");
                }
                *kind = Kind::Out {
                    peer,
                    state: LinkState::Ready,
                };
                self.probes[peer].ready_at = self.now.mono;
                // We take the peer's PINGs on this link: said once, before anything else.
                if let Some(r) = queue(fx, b"DUPLEX\n") {
                    return Some(r);
                }
                // The probes started while the link was down go out now.
                let seqs: Vec<u64> = self.probes[peer].in_flight.keys().copied().collect();
                for seq in seqs {
                    if let Some(id) = fx.id {
                        self.note_queued(id, seq);
                    }
                    if let Some(r) = queue(fx, format!("PING {seq}\n").as_bytes()) {
                        return Some(r);
                    }
                }
                None
            }
            (
                Kind::Out {
                    peer,
                    state: LinkState::Ready,
                },
                Message::Pong { seq },
            ) => {
                // Replies come in order on a link: everything queued before `seq` is
                // answered too (or everything, for a seq never queued here).
                if let Some(c) = fx.id.and_then(|id| self.live.get_mut(&id)) {
                    while let Some((s, _)) = c.awaiting.pop_front() {
                        if s == seq {
                            break;
                        }
                    }
                }
                let mut events = std::mem::take(&mut fx.events);
                self.reply(peer, seq, &mut events);
                fx.events = events;
                None
            }
            (
                Kind::In {
                    from,
                    peer: None,
                    since,
                },
                Message::Hello { name, .. },
            ) => {
                let Some(p) = self.valid_hello(name, from) else {
                    return Some("wrong_node");
                };
                *kind = Kind::In {
                    from,
                    peer: Some(p),
                    since,
                };
                if let Some(r) = queue(fx, &self.hello_line()) {
                    return Some(r);
                }
                self.proofs += 1;
                let (now, proofs) = (self.now.mono, self.proofs);
                if let Some(c) = fx.id.and_then(|id| self.live.get_mut(&id)) {
                    c.heard = now;
                    c.proved = proofs;
                }
                // Two inbound connections per peer: a third closes the one of the two
                // heard from least recently (the older on a tie).
                if let [older, newer] = self.inbound_of(p)[..] {
                    let heard = |id: ConnId| self.live.get(&id).map_or(0, |c| c.heard);
                    let dead = if heard(newer) < heard(older) {
                        newer
                    } else {
                        older
                    };
                    fx.others.push((dead, "replaced"));
                }
                match self.link_of(p) {
                    None => fx.connect = Some(p),
                    // A ready link is redialled only if made no later than the peer's
                    // last miss (a fresh link is left alone) and a probe is overdue on it.
                    Some((link, LinkState::Ready))
                        if self.probes[p]
                            .missed_at
                            .is_some_and(|m| self.probes[p].ready_at <= m)
                            && self.stalled(link) >= self.timeout =>
                    {
                        fx.others.push((link, "probe_timeout"));
                        fx.connect = Some(p);
                    }
                    Some(_) => {}
                }
                None
            }
            // No secret here: a peer asking for an authenticated handshake is refused.
            (Kind::In { peer: None, .. }, Message::Challenge { .. }) => Some("no_secret"),
            // The peer's probe on our link (we said DUPLEX): answered there.
            (
                Kind::Out {
                    state: LinkState::Ready,
                    ..
                },
                Message::Ping { seq },
            ) => {
                if let Some(r) = queue(fx, format!("PONG {seq}\n").as_bytes()) {
                    return Some(r);
                }
                fx.pongs.push(seq);
                None
            }
            // A peer's DUPLEX on its proved connection: our probes may ride on our PONGs
            // there (one link a peer here: none ever does), and its PONGs are ignored.
            (Kind::In { peer: Some(_), .. }, Message::Duplex) => {
                if let Some(c) = fx.id.and_then(|id| self.live.get_mut(&id)) {
                    c.duplex = true;
                }
                None
            }
            (
                Kind::Out {
                    state: LinkState::Ready,
                    ..
                },
                Message::Duplex,
            ) => None,
            // A PONG on a duplex connection answers nothing (our probes ride on our
            // PONGs there and TCP's acknowledgement answers them): it is ignored.
            (Kind::In { peer: Some(_), .. }, Message::Pong { .. })
                if fx
                    .id
                    .and_then(|id| self.live.get(&id))
                    .is_some_and(|c| c.duplex) =>
            {
                None
            }
            (Kind::In { peer: Some(_), .. }, Message::Ping { seq }) => {
                let now = self.now.mono;
                if let Some(c) = fx.id.and_then(|id| self.live.get_mut(&id)) {
                    c.heard = now;
                }
                if let Some(r) = queue(fx, format!("PONG {seq}\n").as_bytes()) {
                    return Some(r);
                }
                fx.pongs.push(seq);
                None
            }
            // Views and clock answers after the handshake: ignored (views are off here).
            (
                Kind::Out {
                    state: LinkState::Ready,
                    ..
                }
                | Kind::In { peer: Some(_), .. },
                Message::View { .. } | Message::Clocked { .. },
            ) => None,
            (
                Kind::Out {
                    state: LinkState::Ready,
                    ..
                },
                Message::Clock { .. },
            ) => None,
            // A proved peer's clock request: answered with our wall clock.
            (Kind::In { peer: Some(_), .. }, Message::Clock { t0 }) => {
                match u64::try_from(self.now.wall) {
                    Ok(t1) => queue(fx, format!("CLOCKED {t0} {t1}\n").as_bytes()),
                    Err(_) => None,
                }
            }
            _ => Some("unexpected"),
        }
    }

    fn closed(&mut self, id: ConnId, reason: CloseReason) {
        let mut want = Vec::new();
        if let Some(Kind::Out { peer, .. }) = self.live.get(&id).map(|c| c.kind) {
            if reason.is_local() {
                // This machine's trouble: the peer's probes are void, uncounted.
                self.probes[peer].in_flight.clear();
            } else if failed_by(reason) {
                self.fail_all(peer, &mut want);
            }
        }
        let outputs = self.outputs();
        self.engine.on_closed(id, reason, self.now);
        let b = self.drain(Call::Closed(id, reason));
        self.outputs_grew("on_closed", &outputs, &[]);
        assert!(b.connects.is_empty());
        self.same_events("on_closed", &want, &b.events);
    }

    /// The shell wrote `n` bytes (of the output, or more than there is).
    fn wrote(&mut self, id: ConnId, n: usize) {
        let out = self.engine.output(id);
        let take = n.min(out.len());
        let written = out[..take].to_vec();
        let rest = &out[take..];
        // What is left: its length, first and last bytes.
        let (rest_snap, rest_head) = (Snap::of(rest), rest[..rest.len().min(16)].to_vec());
        self.engine.wrote(id, n);
        assert!(
            self.engine.poll_action().is_none(),
            "wrote() asked for something"
        );
        let out = self.engine.output(id);
        assert!(
            rest_snap.ends(out) && out.starts_with(&rest_head),
            "wrote({n}) of {take} left the wrong bytes"
        );
        let whoami = self.whoami().to_string();
        let Some(c) = self.live.get_mut(&id) else {
            assert!(written.is_empty());
            return;
        };
        if out.is_empty() {
            c.announced = false;
        }
        c.wire.extend_from_slice(&written);
        while let Some(end) = c.wire.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = c.wire.drain(..=end).collect();
            let text = &line[..end];
            let msg = message::parse(text).unwrap_or_else(|e| {
                panic!("{id:?} wrote {:?}: {e}", String::from_utf8_lossy(text))
            });
            match (c.kind, msg) {
                (kind, Message::Hello { version, name }) => {
                    assert_eq!((version, name), (PROTOCOL_VERSION, whoami.as_str()));
                    assert!(!c.hello_written, "{id:?} wrote HELLO twice");
                    assert!(
                        !matches!(kind, Kind::In { peer: None, .. }),
                        "HELLO to an inbound connection not proved"
                    );
                    c.hello_written = true;
                }
                (
                    Kind::Out {
                        peer,
                        state: LinkState::Ready,
                    },
                    Message::Ping { seq },
                ) => {
                    assert!(c.hello_written, "PING before HELLO");
                    assert!(
                        c.last_ping.is_none_or(|l| l < seq),
                        "PING {seq} after {:?}",
                        c.last_ping
                    );
                    assert!(
                        seq < self.probes[peer].next_seq,
                        "PING {seq}: never started"
                    );
                    c.last_ping = Some(seq);
                    c.unanswered.push_back(seq);
                }
                (
                    Kind::Out {
                        state: LinkState::Ready,
                        ..
                    },
                    Message::Duplex,
                ) => {
                    assert!(c.hello_written, "DUPLEX before HELLO");
                    assert!(!c.duplex, "{id:?} wrote DUPLEX twice");
                    assert!(c.last_ping.is_none(), "DUPLEX after a PING");
                    c.duplex = true;
                }
                (
                    Kind::Out {
                        state: LinkState::Ready,
                        ..
                    },
                    Message::Pong { seq },
                ) => {
                    assert_eq!(c.expect_pongs.pop_front(), Some(seq), "PONG out of turn");
                }
                (Kind::In { peer: Some(_), .. }, Message::Clocked { .. }) => {
                    assert!(c.hello_written, "CLOCKED before HELLO");
                }
                (Kind::In { peer: Some(_), .. }, Message::Pong { seq }) => {
                    assert!(c.hello_written, "PONG before HELLO");
                    assert_eq!(c.expect_pongs.pop_front(), Some(seq), "PONG out of turn");
                }
                (kind, msg) => panic!("{id:?} ({kind:?}) wrote {msg:?}"),
            }
        }
    }

    fn flush_all(&mut self) {
        let ids: Vec<ConnId> = self.live.keys().copied().collect();
        for id in ids {
            self.wrote(id, usize::MAX);
        }
    }

    /// Every peer does the right thing at once: links connect and answer HELLO, and
    /// every PING written is answered.
    fn cooperate(&mut self) {
        for _ in 0..4 {
            self.flush_all();
            let ids: Vec<ConnId> = self.live.keys().copied().collect();
            for id in ids {
                let Some(c) = self.live.get_mut(&id) else {
                    continue;
                };
                match c.kind {
                    Kind::Out {
                        state: LinkState::Connecting,
                        ..
                    } => self.connected(id),
                    Kind::Out {
                        peer,
                        state: LinkState::Handshaking,
                    } => {
                        let line = format!("HELLO 1 {}\n", self.nodes[peer].0);
                        self.data(id, line.as_bytes());
                    }
                    Kind::Out {
                        state: LinkState::Ready,
                        ..
                    } => {
                        let seqs: Vec<u64> = c.unanswered.drain(..).collect();
                        if !seqs.is_empty() {
                            let text: String = seqs.iter().map(|s| format!("PONG {s}\n")).collect();
                            self.data(id, text.as_bytes());
                        }
                    }
                    Kind::In { .. } => {}
                }
            }
        }
        self.flush_all();
    }

    /// Peers that answer without reading: links are connected and answered, and every
    /// probe in flight gets its PONG, whatever was written.
    fn blind(&mut self) {
        let ids: Vec<ConnId> = self.live.keys().copied().collect();
        for id in ids {
            let Some(c) = self.live.get(&id) else {
                continue;
            };
            match c.kind {
                Kind::Out {
                    state: LinkState::Connecting,
                    ..
                } => {
                    self.connected(id);
                    let line = format!("HELLO 1 {}\n", right_name(self, id));
                    self.data(id, line.as_bytes());
                }
                Kind::Out {
                    peer,
                    state: LinkState::Ready,
                } => {
                    let text: String = self.probes[peer]
                        .in_flight
                        .keys()
                        .map(|s| format!("PONG {s}\n"))
                        .collect();
                    self.data(id, text.as_bytes());
                }
                _ => {}
            }
        }
    }

    fn acked(&mut self, id: ConnId) {
        assert!(
            self.engine.acks().is_empty(),
            "a probe rides with one link a peer"
        );
        let outputs = self.outputs();
        self.engine.on_acked(id, None, self.now);
        self.drain(Call::Stale);
        self.outputs_grew("acknowledgement", &outputs, &[]);
    }

    fn stale(&mut self, id: ConnId, what: u8, arg: u8) {
        assert!(!self.live.contains_key(&id));
        let outputs = self.outputs();
        match what % 6 {
            0 => self.engine.on_data(id, b"PING 1\n", self.now),
            1 => self.engine.on_data(id, &[arg; 600], self.now),
            2 => self.engine.on_closed(id, reason(arg), self.now),
            3 => self.engine.on_connected(id, self.now),
            4 => self.engine.on_acked(id, Some(u64::from(arg)), self.now),
            _ => self.engine.wrote(id, usize::from(arg)),
        }
        self.drain(Call::Stale);
        self.outputs_grew("stale id", &outputs, &[]);
        assert!(self.engine.output(id).is_empty());
        assert_eq!(self.engine.role(id), None);
        assert_ne!(self.engine.conn_at(id.index()), Some(id));
    }
}

/// Errnos the shell judges this machine's own trouble (`CloseReason::Local`), as on
/// Linux: EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL.
const LOCAL_ERRNOS: [i32; 5] = [24, 23, 105, 12, 99];

fn reason(b: u8) -> CloseReason {
    match b % 17 {
        15 | 16 => {
            let op = [IoOp::Connect, IoOp::Read, IoOp::Write][usize::from(b / 17) % 3];
            let errno = LOCAL_ERRNOS[usize::from(b / 51) % LOCAL_ERRNOS.len()];
            // As the shell tells it (daemon::sys::close_reason).
            let r = CloseReason::Local { op, errno };
            debug_assert!(r.is_local());
            r
        }
        0 => CloseReason::ClosedByPeer,
        1 => CloseReason::Io {
            op: IoOp::Connect,
            errno: 111,
        },
        2 => CloseReason::Io {
            op: IoOp::Read,
            errno: 104,
        },
        3 => CloseReason::Io {
            op: IoOp::Write,
            errno: 32,
        },
        4 => CloseReason::Io {
            op: IoOp::Write,
            errno: 0,
        },
        5 => CloseReason::HandshakeTimeout,
        6 => CloseReason::ProbeTimeout,
        7 => CloseReason::NoHello,
        8 => CloseReason::LineTooLong,
        9 => CloseReason::Malformed(ParseError::Empty),
        10 => CloseReason::Unexpected,
        11 => CloseReason::WrongNode,
        12 => CloseReason::NotReading,
        13 => CloseReason::Replaced,
        _ => CloseReason::Evicted,
    }
}

/// Node `i`'s address in layout `mode`: distinct IPv4s; one IPv4, many ports; IPv4-mapped
/// IPv6s; pairs of nodes sharing an IPv4 or an IPv6.
fn node_addr(mode: u8, i: usize) -> SocketAddr {
    let port = 47001 + i as u16;
    let k = i as u8;
    let ip: IpAddr = match mode {
        0 => Ipv4Addr::new(127, 0, 0, k + 1).into(),
        1 => Ipv4Addr::LOCALHOST.into(),
        2 => Ipv4Addr::new(10, 0, 0, k + 1).to_ipv6_mapped().into(),
        _ if i % 4 < 2 => Ipv4Addr::new(10, 0, 0, k / 2 + 1).into(),
        _ => Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(k / 2 + 1)).into(),
    };
    SocketAddr::new(ip, port)
}

/// The same ip in its other form: IPv4 as IPv4-mapped IPv6 and back.
fn twin(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().into(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
    }
}

/// The name a correct `HELLO` on `id` carries: the dialled peer's, or for an inbound
/// connection a node (not this one) configured at its source ip, if any.
fn right_name(sim: &Sim, id: ConnId) -> String {
    match sim.live[&id].kind {
        Kind::Out { peer, .. } => sim.nodes[peer].0.clone(),
        Kind::In { from, .. } => (0..sim.nodes.len())
            .find(|&i| i != sim.me && canon(sim.nodes[i].1.ip()) == canon(from.ip()))
            .map_or_else(|| sim.nodes[0].0.clone(), |i| sim.nodes[i].0.clone()),
    }
}

/// Well-formed (or deliberately broken) lines for connection `id`, from a kind byte and
/// its arguments.
fn make_lines(sim: &Sim, input: &mut Input<'_>, id: ConnId) -> Vec<u8> {
    let kind = input.u8_or0();
    let crlf = if kind & 0x40 != 0 { "\r\n" } else { "\n" };
    let version = if kind & 0x80 != 0 {
        u32::from(input.u8_or0())
    } else {
        1
    };
    let n = sim.nodes.len();
    let hello = |name: &str| format!("HELLO {version} {name}{crlf}");
    let text = match kind % 12 {
        0 => hello(&right_name(sim, id)),
        1 => hello(&sim.nodes[usize::from(input.u8_or0()) % n].0),
        2 => hello(sim.whoami()),
        3 => hello(["stranger", "n~1.x", "node"][usize::from(input.u8_or0()) % 3]),
        4 => {
            let seq = if kind & 0x80 != 0 {
                input.u64()
            } else {
                u64::from(input.u8_or0())
            };
            format!("PING {seq}{crlf}")
        }
        5 => {
            let b = input.u8_or0();
            let seq = match &sim.live[&id].unanswered {
                q if !q.is_empty() && b & 1 == 0 => q[usize::from(b >> 1) % q.len()],
                _ => u64::from(b >> 1),
            };
            format!("PONG {seq}{crlf}")
        }
        6 => {
            [
                "hello",
                "",
                "PING 01",
                "PONG",
                "PING 1 2",
                "HELLO 1 a|b",
                "HELLO 0 x",
                "PING  3",
                "PONG -1",
                "\u{e9}",
                "DUPLEX",
                "DUPLEX 1",
            ][usize::from(input.u8_or0()) % 12]
                .to_string()
                + crlf
        }
        7 => {
            // An unknown verb (ignored), up to and just past the line limit.
            let b = input.u8_or0();
            let len = if b & 0x80 != 0 {
                MAX_LINE - 2 + usize::from(b & 3)
            } else {
                usize::from(b)
            };
            let mut s = "FUTURE ".to_string();
            while s.len() + crlf.len() < len {
                s.push('x');
            }
            s + crlf
        }
        8 => {
            // A burst of PINGs with long numbers: enough of them (about 630) outgrow
            // the output limit.
            let b = input.u8_or0();
            let count = 4 * (1 + usize::from(b & 0x7f));
            let base = if b & 0x80 != 0 { u64::MAX - 4096 } else { 0 };
            (0..count as u64)
                .map(|i| format!("PING {}\n", base + i))
                .collect()
        }
        10 => {
            // A newer peer's view and clock lines, well formed (a forged digest, a
            // wrong length, our digest).
            let b = input.u8_or0();
            match b % 4 {
                0 => format!("CLOCK {}{crlf}", input.u64()),
                1 => format!("CLOCKED {} {}{crlf}", input.u64(), input.u64()),
                2 => format!(
                    "VIEW {:016x} {}{crlf}",
                    input.u64(),
                    "A".repeat(1 + usize::from(b >> 2))
                ),
                _ => {
                    let names: Vec<&str> = sim.nodes.iter().map(|n| n.0.as_str()).collect();
                    let digest = uptime_tracker::wire::view::digest(names);
                    let states = "U".repeat(sim.nodes.len().div_ceil(4) * 4 / 3);
                    let hex: String = digest.iter().map(|d| format!("{d:02x}")).collect();
                    format!("VIEW {hex} {states}{crlf}")
                }
            }
        }
        11 => {
            // Broken views and clock lines.
            [
                "VIEW",
                "VIEW 0123456789abcdef",
                "VIEW 0123456789ABCDEF wA",
                "VIEW 0123456789abcdef w=",
                "VIEW 0123456789abcdef wA x",
                "CLOCK",
                "CLOCK -1",
                "CLOCKED 1",
                "CLOCKED 1 2 3",
                "CLOCK 18446744073709551616",
            ][usize::from(input.u8_or0()) % 10]
                .to_string()
                + crlf
        }
        _ => {
            // A peer's usual opening: HELLO and a probe in one read.
            format!(
                "HELLO 1 {}\nPING {}{crlf}",
                right_name(sim, id),
                input.u8_or0()
            )
        }
    };
    text.into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let b = input.u8_or0();
    let n = 2 + usize::from(b % 5);
    let layout = (b / 5) % 4;
    let me = usize::from(input.u8_or0()) % n;
    let interval = 1 + u64::from(input.u16()) % 10_000;
    let timeout = 1 + u64::from(input.u32()) % (250 * interval).min(86_400_000);
    let t = input.u8_or0();
    let threshold = 1 + u32::from(t % 10);
    let online_threshold = 1 + u32::from(t >> 6);
    let clocks = input.u8_or0();
    let mono = match clocks & 3 {
        0 => 0,
        1 => u64::from(input.u32()),
        2 => (1 << 36) - 1_000, // just before the timer wheel's horizon
        _ => 1 << 40,
    };
    let wall = match (clocks >> 2) & 3 {
        0 => WALL0 - 60_000 + i64::from(input.u16()),
        1 => WALL0 - i64::from(input.u32()),
        2 => -1 - i64::from(input.u16()),       // before 1970
        _ => MAX_TIME - i64::from(input.u16()), // the end of year 9999
    };
    let nodes: Vec<(String, SocketAddr)> = (0..n)
        .map(|i| (format!("node{}", i + 1), node_addr(layout, i)))
        .collect();
    let cfg = Config {
        interval_ms: interval,
        timeout_ms: timeout,
        offline_threshold: threshold,
        log_folder: "/var/log/uptime-tracker".into(),
        // Bit 4: no `listen` (the default); the engine does not read it.
        listen: (clocks & 0x10 == 0).then_some(nodes[me].1),
        online_threshold,
        ..Config::new(
            nodes
                .iter()
                .map(|(name, addr)| Node::new(name.clone(), *addr))
                .collect(),
            me,
        )
    };
    let now = Now::ms(mono, wall);
    let mut sim = Sim {
        engine: {
            // One link per peer: the shadow models the one-link rules (the second link's
            // are the engine tests', the simulator's and tests/lossy.rs's).
            let mut e = Engine::new(&cfg, now);
            e.set_links_per_peer(1);
            // Views and clock requests are the simulator's to check (tests/view.rs); the
            // lines themselves are fed here, and CLOCK is answered.
            e.set_views(false);
            // Turns at their due time: the shadow does not model the slack by which a
            // wake-up for replies takes turns early (the simulator and engine tests do).
            e.set_no_slack();
            e
        },
        nodes,
        me,
        interval,
        timeout,
        threshold,
        online_threshold,
        now,
        live: BTreeMap::new(),
        proofs: 0,
        ever: HashSet::new(),
        closed: VecDeque::new(),
        closes_by_kind: vec![0; CloseReason::KINDS.len()],
        counts: vec![0; n],
        logged: 0,
        work: 0,
        probes: (0..n).map(|_| Probes::default()).collect(),
        day: day_number(wall),
        timers_current: true,
        day_current: true,
    };
    // Each peer's first turn (src/mesh/probe.rs, first_turn): the first moment after the
    // start that is a multiple of the interval on the wall clock plus its slot's phase
    // (within one interval); its slot is its place counted from the node after this one,
    // ceil(m / BURST) slots.
    let others = n.saturating_sub(1).max(1) as u64;
    let slots = others.div_ceil(BURST as u64).clamp(1, PHASES as u64);
    let wall_ms = u64::try_from(wall).unwrap_or(0);
    let to_boundary = (interval - wall_ms % interval) % interval;
    for peer in (0..n).filter(|&p| p != me) {
        let rank = ((peer + n - me % n) % n).saturating_sub(1) as u64;
        let slot = (rank * slots / others).min(slots - 1);
        let ahead = (to_boundary + interval * slot / slots) % interval;
        sim.probes[peer].turn = Some(mono + if ahead == 0 { interval } else { ahead });
    }
    assert_eq!(sim.engine.whoami(), sim.whoami());
    let first = sim.drain(Call::Start);
    let mut dialled: Vec<usize> = first.connects.iter().map(|c| c.1).collect();
    dialled.sort_unstable();
    assert_eq!(
        dialled,
        (0..n).filter(|&i| i != me).collect::<Vec<_>>(),
        "the start dials every peer once"
    );
    assert_eq!(first.len - first.says, n - 1, "{first:?}");
    sim.check();

    let (mut blind_done, mut storms) = (false, 0);
    while let Some(op) = input.u8() {
        trace!("op {} ({} live)", op % 20, sim.live.len());
        match op % 20 {
            0 => {
                let a = input.u8_or0();
                sim.advance(u64::from(a & 0x7f));
                if a & 0x80 != 0 {
                    sim.timeout();
                }
            }
            1 => sim.advance(u64::from(input.u16())),
            2 => {
                // Onto the next deadline, or one short of it.
                let short = u64::from(input.u8_or0() & 1);
                let at = sim.engine.poll_at().expect("poll_at");
                let target = at.saturating_sub(short).max(sim.now.mono);
                sim.advance(target - sim.now.mono);
                sim.timeout();
            }
            3 => sim.timeout(),
            4 => {
                let a = input.u8_or0();
                let day = sim.now.wall.div_euclid(DAY_MS);
                let x = i64::from(a >> 2);
                let wall = match a % 4 {
                    0 => (day + 1) * DAY_MS - 1 - x, // just before midnight
                    1 => (day + 1) * DAY_MS + x,     // across it, forwards
                    2 => day * DAY_MS - 1 - x,       // back across the last one
                    _ => sim.now.wall + i64::from(input.u16()) - 32_768,
                };
                sim.set_wall(wall);
            }
            5 => {
                if let Some(id) = sim.pick_connecting(input.u8_or0()) {
                    sim.connected(id);
                }
            }
            6 => {
                let a = input.u8_or0();
                let port = 40_000 + u16::from(input.u8_or0());
                let node = sim.nodes[usize::from(a >> 3) % n].1.ip();
                let ip = match a % 8 {
                    0..=4 => node,
                    5 => twin(node),
                    6 => Ipv4Addr::new(192, 0, 2, a).into(),
                    _ => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(a)).into(),
                };
                sim.accepted(SocketAddr::new(ip, port));
            }
            7 => {
                if let Some(id) = sim.pick(input.u8_or0()) {
                    let bytes = make_lines(&sim, &mut input, id);
                    if bytes.len() < 1024 || sim.work < WORK {
                        sim.data(id, &bytes);
                    }
                }
            }
            8 => {
                if let Some(id) = sim.pick(input.u8_or0()) {
                    let len = usize::from(input.u8_or0());
                    let bytes = input.take(len);
                    sim.data(id, bytes);
                }
            }
            9 => {
                if let Some(id) = sim.pick(input.u8_or0()) {
                    let r = reason(input.u8_or0());
                    sim.closed(id, r);
                }
            }
            10 => {
                if let Some(id) = sim.pick(input.u8_or0()) {
                    let a = input.u8_or0();
                    if a == 0xff {
                        // An acknowledgement of everything written there: with one link a
                        // peer no probe rides on a PONG (`src/mesh/ack.rs`), so it does
                        // nothing.
                        sim.acked(id);
                    } else {
                        let len = sim.engine.output(id).len();
                        let amount = match a % 4 {
                            0 => usize::from(a >> 2),
                            1 => len / 2,
                            2 => len,
                            _ => len + usize::from(a),
                        };
                        sim.wrote(id, amount);
                    }
                }
            }
            11 => {
                let a = input.u8_or0();
                let arg = input.u8_or0();
                if !sim.closed.is_empty() {
                    let id = sim.closed[usize::from(a >> 3) % sim.closed.len()];
                    sim.stale(id, a, arg);
                }
            }
            12 => sim.flush_all(),
            13 => sim.cooperate(),
            14 => {
                let k = 1 + u64::from(input.u8_or0() % 4);
                sim.advance(k * interval);
                sim.timeout();
            }
            15 => sim.advance(1_000 * u64::from(input.u8_or0())),
            16 => {
                // Rounds answered blind: our links come up and every probe in flight is
                // answered, but the shell never writes, so a link's output only grows
                // until a round's PING finds it full. Once per input.
                let rounds = 64 * (1 + usize::from(input.u8_or0() % 32));
                let rounds = if blind_done { 0 } else { rounds };
                blind_done = true;
                for _ in 0..rounds {
                    if sim.work >= WORK {
                        break;
                    }
                    sim.advance(interval);
                    sim.timeout();
                    sim.blind();
                }
            }
            19 => {
                // A flood of strangers from up to 64 addresses: it fills their places and
                // must never touch a configured address's.
                let a = input.u8_or0();
                let addresses = 1 + u16::from(a % 64);
                for k in 0..(4 * u16::from(a)) {
                    if sim.work >= WORK {
                        break;
                    }
                    let host = k % addresses;
                    let ip: IpAddr = if a & 1 != 0 {
                        Ipv4Addr::new(198, 51, 100, host as u8).into()
                    } else {
                        Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, host).into()
                    };
                    sim.accepted(SocketAddr::new(ip, 20_000 + k));
                    sim.work += 1;
                    if k % 16 == 15 {
                        sim.advance(1);
                    }
                }
            }
            18 => {
                let a = input.u8_or0();
                let errno = if a & 1 != 0 {
                    LOCAL_ERRNOS[usize::from(a >> 1) % 2] // EMFILE, ENFILE
                } else {
                    [103, 12, 105][usize::from(a >> 1) % 3] // ECONNABORTED, ENOMEM, ENOBUFS
                };
                sim.accept_error(a & 2 != 0, errno);
            }
            _ => {
                // A storm of reconnections: peers connect and prove themselves again and
                // again (each replacing the last).
                let a = input.u8_or0();
                for k in 0..=u16::from(a) {
                    if sim.work >= WORK || storms >= 512 {
                        break;
                    }
                    storms += 1;
                    let node = (usize::from(a) + usize::from(k)) % n;
                    let from = SocketAddr::new(sim.nodes[node].1.ip(), 30_000 + k);
                    if let Some(id) = sim.accepted(from) {
                        let line = format!("HELLO 1 {}\n", right_name(&sim, id));
                        sim.data(id, line.as_bytes());
                    }
                }
            }
        }
        sim.check();
    }

    // A mesh that answers everything. A connection holding part of a line is dropped
    // first. Two rounds bring every link up and answer every probe whose PING was
    // written; a PONG lost earlier (glued to garbage) leaves its probe to its deadline,
    // so time then jumps past the last deadline, and one more round settles (one per
    // `online_threshold` for a peer that is offline). From then
    // on: every link ready, every count 0, nothing in flight, and no change is logged.
    let cut: Vec<ConnId> = sim
        .live
        .iter()
        .filter(|(_, c)| c.framer.buffered() != 0)
        .map(|(&id, _)| id)
        .collect();
    for id in cut {
        sim.closed(id, CloseReason::ClosedByPeer);
    }
    let round = |sim: &mut Sim| {
        sim.advance(interval);
        sim.timeout();
        sim.cooperate();
        sim.check();
    };
    round(&mut sim);
    round(&mut sim);
    let last = sim.probes.iter().flat_map(|p| p.in_flight.values()).max();
    if let Some(&last) = last
        && last > sim.now.mono
    {
        sim.advance(last - sim.now.mono);
        sim.timeout();
        sim.cooperate();
        sim.check();
    }
    round(&mut sim);
    // An offline peer needs `online_threshold` answered rounds in a row to be back.
    for _ in 1..online_threshold {
        round(&mut sim);
    }
    for _ in 0..3 {
        let logged = sim.logged;
        round(&mut sim);
        assert_eq!(sim.logged, logged, "a healthy mesh logged a change");
        for p in (0..n).filter(|&p| p != me) {
            assert_eq!(sim.counts[p], 0, "peer {p} still counted");
            assert!(
                sim.probes[p].in_flight.is_empty(),
                "peer {p}: a probe unanswered"
            );
            assert_eq!(
                sim.engine.link_state(PeerId(p)),
                Some(LinkState::Ready),
                "peer {p}'s link"
            );
        }
    }
});
