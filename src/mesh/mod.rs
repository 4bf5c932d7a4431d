//! The mesh engine: every decision of a node, with no sockets, no files and no clock.
//!
//! Shaped like smoltcp's `Interface::poll` / quinn-proto's `Connection`: the shell feeds
//! events in ([`Engine::on_connected`], [`Engine::on_accepted`], [`Engine::on_data`],
//! [`Engine::on_closed`], [`Engine::handle_timeout`]), each with both clocks as a [`Now`],
//! and carries out the [`Action`]s it then takes from [`Engine::poll_action`]: connect,
//! send, close, append to the log, tell the operator. [`Engine::poll_at`] says when the
//! next timer is due. The same engine runs under the real shell ([`crate::daemon`]) and
//! the simulator ([`crate::sim`]).
//!
//! What it does:
//! - **Links.** Two outbound connections per peer ([`LINKS_PER_PEER`]; one to a node of
//!   the earlier tool) carry this node's probes: `HELLO` both ways, then `PING seq`
//!   answered by `PONG seq`, each probe on every ready link, the first reply counting. A
//!   link that has not finished its handshake within `timeout` is dropped; a link on
//!   which a probe has gone unanswered for [`stuck_ms`] is dropped and redialled at the
//!   peer's turn (a silently partitioned peer would otherwise be reached again only when
//!   TCP's backed-off retransmits get through, tens of seconds after the heal), but not
//!   at a probe's first timeout: under random loss TCP is repairing a segment, and the
//!   probes behind it arrive with the repair. A peer that completes a fresh handshake
//!   with us while our link to it is down or has a probe overdue is redialled at once
//!   too: it is reachable. docs/protocol.md has the measurements.
//! - **Rounds.** Every `interval` one probe per peer starts, each peer at its own phase
//!   (peers spread evenly over the interval, stable across rounds), with its own deadline
//!   of `timeout`; a peer whose link is down is redialled and its probes go out once the
//!   handshake completes. A connection that fails (refused, reset, closed) fails every
//!   probe waiting on it; a link merely dropped for slowness leaves them to their own
//!   deadlines, so each is counted once, at its time. The [`Tracker`] turns outcomes into
//!   changes (DESIGN.md §2).
//! - **Listener side.** Every accepted connection is taken; it must send a `HELLO`
//!   naming a configured node whose ip it comes from, within [`HANDSHAKE_TIMEOUT_MS`];
//!   then its `PING`s are answered. Two from the same peer are kept (its two links); a
//!   third replaces the one heard from least recently. Until then it waits in one of two pools ([`admission`]): each configured
//!   node's address has [`MAX_PENDING_PER_SOURCE`] places of its own, strangers share
//!   [`MAX_STRANGERS`]; a newcomer evicts the oldest of its pool, so strangers cannot
//!   take a peer's place and a flood from a peer's own address cannot keep it out.
//!   Before the handshake, anything but the handshake (or an HTTP request) closes the
//!   connection, an unknown verb too.
//! - **Authentication.** With a secret ([`Engine::set_auth`]), `HELLO` is replaced by
//!   the authenticated handshake of version [`AUTH_VERSION`]: both sides send
//!   `CHALLENGE` (name and fresh nonce), then the connecting node proves knowledge of
//!   the secret over both nonces, both names and the direction (`PROOF`), and only once
//!   that proof checks out does the listener send its own. So a caller that knows no
//!   secret gets no MAC to guess it from. No probe is answered or counted before the
//!   other side's proof (proofs in [`crate::auth`]; nonces from the shell, so runs stay
//!   reproducible).
//! - **The earlier tool.** An accepted connection whose first line is an HTTP request
//!   gets the earlier tool's answer for its source address ([`crate::legacy`]); strangers
//!   are let in for that alone, briefly, and closed once answered. A peer with
//!   `legacy_http` is probed with HTTP `GET /` on a kept-alive link, its responses
//!   matched to the probes in order.
//! - **Operator lines** that strangers or floods can cause are rate-limited per kind
//!   ([`quiet`]): a line, then a count of the similar ones held back.
//! - **Log.** Each change becomes a [`LogRecord::Event`]; when the UTC day of the wall
//!   clock changes (checked on every record and at least every minute) a
//!   [`LogRecord::NewDay`] carries the non-zero counts into the new file first.
//!
//! Limits: a line is at most [`MAX_LINE`] bytes and a connection's unsent output at most
//! [`MAX_OUTPUT`] bytes; breaking a limit or the protocol closes that one connection with
//! a typed [`CloseReason`]. Nothing here panics on any input or sequence of calls; stale
//! ids (a connection already closed) are ignored.

mod action;
mod admission;
#[cfg(all(test, feature = "auth"))]
mod auth_tests;
pub(crate) mod clock;
mod conn;
mod hooks;
mod quiet;
mod reload;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

pub use action::{Action, CloseReason, HookId, HookRun, IoOp, LogRecord, Now, PeerId, PeerState};
pub use admission::{MAX_PENDING_PER_SOURCE, MAX_STRANGERS};
pub use conn::{ConnId, LinkState, Role};
pub use hooks::MAX_RUNNING as MAX_RUNNING_HOOKS;
pub use quiet::WINDOW_MS as QUIET_WINDOW_MS;
pub use stats::{Closes, ConnCounts, Histogram, PeerStats, RECENT_MINUTES, RTT_BUCKETS_US};

use crate::config::Config;
use crate::legacy::request::{self, Header, RequestLine};
use crate::legacy::{self as old, Answer};
use crate::logline;
use crate::timer::{TimerId, Wheel};
use crate::tracker::{Change, ChangeKind, Tracker};
use crate::wire::framer::{Framer, MAX_LINE};
use crate::wire::message::{self, AUTH_VERSION, Message, PROTOCOL_VERSION};
use admission::{Admission, Room};
use conn::{Conn, Handshake, HttpIn, Slab};
use message::{MAC_LEN, NONCE_LEN};
use quiet::{Quiet, Topic, Verdict};

/// Where handshake nonces come from: fills the buffer with fresh random bytes (the OS's
/// in the daemon, a seeded generator in the simulator and tests), or fails (this
/// machine's trouble: the handshake is dropped and counts against no peer).
pub type NonceSource = Box<dyn FnMut(&mut [u8]) -> std::io::Result<()>>;

/// The authenticated handshake's secret and nonce source (see [`Engine::set_auth`]).
#[cfg(feature = "auth")]
pub struct Auth {
    secret: crate::auth::Secret,
    nonces: NonceSource,
}

/// Without the `auth` feature there is no secret: an `Option<Auth>` is always `None`.
#[cfg(not(feature = "auth"))]
pub type Auth = std::convert::Infallible;

/// Most unsent bytes queued on one connection; a peer that does not read is cut off.
pub const MAX_OUTPUT: usize = 16 * 1024;
/// Time an accepted connection has to send a valid `HELLO`.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 5_000;
/// Longest time between two checks of the wall clock's UTC day (an NTP step is noticed
/// within it).
pub const DAY_CHECK_MS: u64 = 60_000;
/// `TCP_USER_TIMEOUT` for every mesh socket: how long the kernel may hold unacknowledged
/// data before it gives the connection up. Longer than the engine's own bound for a stuck
/// link ([`stuck_ms`], checked once per round): a loss that TCP is still repairing must not
/// cost the connection (and with it the probes on it) before the engine decides. Bounds
/// what is left to the kernel, e.g. an accepted connection whose prober vanished.
pub fn user_timeout_ms(interval: u64, timeout: u64) -> u64 {
    stuck_ms(timeout)
        .saturating_add(interval)
        .saturating_add(timeout)
}

/// How long a ready link may leave a probe unanswered before it is abandoned and
/// redialled: `max(3 × timeout, 1 s)`. TCP repairs a lost segment after one RTO (at least
/// 200 ms on Linux; the first retransmission, a tail loss probe, without backoff), then
/// backs off: a segment lost three times in a row arrives 4 RTOs (800 ms or more) late,
/// and its next retransmission would be 8 RTOs late. A link stuck that long is worth less
/// than a redial, which itself costs a second when its SYN is lost (the 1 s floor). Any
/// sooner, random loss tears links down and the probes queued on them start over on a
/// redial that loss makes slow (docs/protocol.md, "Links under loss").
pub fn stuck_ms(timeout: u64) -> u64 {
    timeout.saturating_mul(3).max(1000)
}

/// Links this node keeps to each peer (a node of the earlier tool gets one): every probe
/// goes out on each ready one and the first reply counts, so a loss that stalls one TCP
/// stream (head-of-line blocking behind a retransmission) rarely stalls both.
pub const LINKS_PER_PEER: usize = 2;

/// Closes in a row of our older link right after the second came up that make a peer an
/// earlier version (one link for it).
const REPLACED_SINGLE: u8 = 3;

/// Most distinct probe phases within an interval (see [`Engine::new`]).
pub const PHASES: usize = 64;

/// Time an accepted connection from an address that is no configured node's has to send
/// its first request (only HTTP is answered there).
pub const STRANGER_TIMEOUT_MS: u64 = 2_000;
/// Time a kept-alive HTTP connection may stay idle between requests (Bun's default).
pub const HTTP_IDLE_MS: u64 = 10_000;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Start `peer`'s next probe, due at `due`: each peer has its own phase within the
    /// interval.
    Round { peer: usize, due: u64 },
    /// Check whether the wall clock's UTC day changed.
    DayCheck,
    /// Probe `seq` of peer `peer` has had no reply for `timeout`.
    Probe { peer: usize, seq: u64 },
    /// `conn` (ours) has not completed its handshake in time.
    Connect(ConnId),
    /// `conn` (accepted) has not sent its `HELLO` in time.
    Hello(ConnId),
    /// Hook run `id` reached its deadline.
    Hook(HookId),
    /// The rate limit's window of a kind of operator line ended.
    Quiet(Topic),
}

/// A configured node as the engine keeps it.
struct Peer {
    name: String,
    addr: SocketAddr,
    /// Our link to it, if one exists (any state).
    link: Option<ConnId>,
    /// Our second link to it, if one exists (any state): carries a copy of every probe.
    spare: Option<ConnId>,
    /// It closes our older link when the second one arrives (a version that answers one
    /// connection per peer): it gets one link.
    single: bool,
    /// Times in a row it closed one of our links right after the other came up.
    replaced: u8,
    /// Its authenticated inbound connection, if any.
    inbound: Option<ConnId>,
    /// Its previous authenticated inbound connection, if still open: a peer keeps two
    /// links to us, each answered.
    inbound_older: Option<ConnId>,
    /// The class of trouble last reported for it ([`CloseReason::class`]), so a peer
    /// that stays down is reported once; `None` once a handshake succeeded.
    trouble: Option<&'static str>,
    /// It runs the earlier tool: probed with HTTP `GET /`, no handshake.
    legacy: bool,
    /// Whether a link to it ever completed a handshake.
    ever_connected: bool,
    /// When a probe to it last counted as a miss.
    missed_at: Option<u64>,
    /// Its counters, for metrics and `status`.
    stats: PeerStats,
    /// Whether the slot holds a configured node (a reload frees a removed peer's slot).
    active: bool,
    /// Its next turn's timer.
    round: Option<TimerId>,
    /// A change waiting for its hook to run (see [`hooks`]).
    hook_pending: Option<HookRun>,
}

impl Peer {
    fn new(name: String, addr: SocketAddr, legacy: bool, wall: i64) -> Peer {
        Peer {
            name,
            addr,
            link: None,
            spare: None,
            single: false,
            replaced: 0,
            inbound: None,
            inbound_older: None,
            trouble: None,
            legacy,
            ever_connected: false,
            missed_at: None,
            stats: PeerStats::new(wall),
            active: true,
            round: None,
            hook_pending: None,
        }
    }
}

/// A peer as metrics and `status` see it ([`Engine::peers`]).
#[derive(Debug, Clone, Copy)]
pub struct PeerView<'a> {
    /// Its id.
    pub id: PeerId,
    /// Its name.
    pub name: &'a str,
    /// Whether it is online (not yet declared offline).
    pub online: bool,
    /// Its consecutive timeouts (at most the threshold).
    pub timeouts: u32,
    /// Its probes in flight (started, not yet settled).
    pub in_flight: usize,
    /// Its counters.
    pub stats: &'a PeerStats,
}

/// One line read from a connection, decoded into owned values so the engine can act on
/// it after the framer's borrow ends.
enum Input {
    Hello {
        name: String,
    },
    Challenge {
        version: u32,
        name: String,
        nonce: [u8; NONCE_LEN],
    },
    /// The previous release's listener answering our `CHALLENGE` (handshake version 1).
    Response,
    Proof([u8; MAC_LEN]),
    HttpRequest(RequestLine, usize),
    HttpHeader(Header, usize),
    Ping(u64),
    Pong(u64),
    Unknown,
    Bad(CloseReason),
}

/// A node's whole protocol state. See the [module documentation](self).
pub struct Engine {
    whoami: String,
    me: usize,
    interval: u64,
    timeout: u64,
    peers: Vec<Peer>,
    conns: Slab,
    wheel: Wheel<Timer>,
    tracker: Tracker<TimerId>,
    actions: VecDeque<Action>,
    /// UTC day number of the log file being written.
    day: i64,
    /// The rate limits of operator lines, per kind.
    quiet: Quiet,
    /// Accepted connections still waiting for their handshake, in their pools.
    waiting: Admission,
    /// Every configured node's ip (canonical), for the stranger check on each accept.
    peer_ips: HashSet<IpAddr>,
    /// Connections closed, by kind.
    closes: Closes,
    /// `log_retention_days`, if set.
    retention_days: Option<u32>,
    /// What the log header says: every node in config order. A reload writes a new
    /// header only when this or the threshold changes.
    header_nodes: Vec<(String, SocketAddr)>,
    /// Hooks: the deadline of a run if `on_change` is set, the runs going on, and the
    /// peers whose change waits (see [`hooks`]).
    hooks: hooks::Hooks,
    /// The secret and nonces of the authenticated handshake, when one is configured.
    auth: Option<Auth>,
    /// The clocks of the latest event (for a close that [`Engine::wrote`] completes).
    last: Now,
    /// Links kept per peer ([`LINKS_PER_PEER`]).
    links_per_peer: usize,
}

impl Engine {
    /// An engine for `cfg`, started at `now`: it asks to connect to every peer at once
    /// (so the first round, one interval later, finds the links up). The shell has
    /// already written the log's `---` and header for `now.wall`.
    pub fn new(cfg: &Config, now: Now) -> Engine {
        let peers = cfg
            .nodes
            .iter()
            .map(|n| Peer::new(n.name.clone(), n.addr, n.legacy_http, now.wall))
            .collect();
        let mut tracker = Tracker::new(cfg.nodes.len(), cfg.offline_threshold);
        tracker.set_online_threshold(cfg.online_threshold);
        let mut engine = Engine {
            whoami: cfg.whoami.clone(),
            me: cfg.me,
            interval: cfg.interval_ms.max(1),
            timeout: cfg.timeout_ms.max(1),
            peers,
            conns: Slab::default(),
            wheel: Wheel::new(now.mono),
            tracker,
            actions: VecDeque::new(),
            day: logline::day_number(now.wall),
            quiet: Quiet::default(),
            waiting: Admission::default(),
            peer_ips: cfg
                .nodes
                .iter()
                .map(|n| n.addr.ip().to_canonical())
                .collect(),
            closes: Closes::default(),
            retention_days: cfg.log_retention_days,
            header_nodes: cfg.nodes.iter().map(|n| (n.name.clone(), n.addr)).collect(),
            hooks: hooks::Hooks::new(cfg.on_change.as_ref().map(|h| h.timeout_ms)),
            auth: None,
            last: now,
            links_per_peer: LINKS_PER_PEER,
        };
        // The second link follows at each peer's first turn.
        let peers: Vec<usize> = engine.peer_indices().collect();
        for peer in peers {
            engine.connect(peer, now);
        }
        // Probes are spread over the interval in at most PHASES slots, each peer in its
        // own slot for good: a round is not a burst of N writes holding up the replies we
        // owe, and a slot's few probes (and their replies) share one wake-up.
        let peers: Vec<usize> = engine.peer_indices().collect();
        let first = now.mono + engine.interval;
        let slots = peers.len().clamp(1, PHASES) as u64;
        for (k, &peer) in peers.iter().enumerate() {
            let slot = k as u64 * slots / peers.len() as u64;
            let phase = engine.interval * slot / slots;
            let due = first + phase;
            let timer = engine.wheel.schedule(due, Timer::Round { peer, due });
            if let Some(p) = engine.peers.get_mut(peer) {
                p.round = Some(timer);
            }
        }
        engine.schedule_day_check(now);
        engine.prune_logs(now);
        engine
    }

    /// Turns on the authenticated handshake (`secret_file`): every connection of this
    /// node, both ways, then proves knowledge of `secret` before any probe is sent,
    /// answered or counted. `nonces` supplies each handshake's fresh random nonce. Call it
    /// right after [`Engine::new`], before any event.
    #[cfg(feature = "auth")]
    pub fn set_auth(&mut self, secret: crate::auth::Secret, nonces: NonceSource) {
        self.auth = Some(Auth { secret, nonces });
    }

    /// The node is stopping: says how many operator lines the rate limits held back
    /// since their last report, which would otherwise never be told.
    pub fn on_stop(&mut self, now: Now) {
        for topic in quiet::Topic::ALL {
            if let Some((held, span, _)) = self.quiet.window_ended(topic, now.mono) {
                self.say(topic.summary(held, span));
            }
        }
    }

    /// Keeps `n` links (1 or 2) per peer instead of [`LINKS_PER_PEER`], from the next
    /// turns on: for tests and fuzzing of the one-link rules.
    #[doc(hidden)]
    pub fn set_links_per_peer(&mut self, n: usize) {
        self.links_per_peer = n.clamp(1, LINKS_PER_PEER);
    }

    /// Whether handshakes are authenticated.
    pub fn authenticated(&self) -> bool {
        self.auth.is_some()
    }

    // ---------------------------------------------------------------------------------
    // What the shell asks.

    /// The next action to carry out, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Engine::handle_timeout`] next has something to do (monotonic ms). The shell
    /// sleeps until then unless I/O comes first. Never `None` while the engine runs: the
    /// round timer is always armed.
    pub fn poll_at(&self) -> Option<u64> {
        self.wheel.next_deadline()
    }

    /// `conn`'s bytes waiting to be written (empty for an unknown or closed connection).
    pub fn output(&self, conn: ConnId) -> &[u8] {
        self.conns.get(conn).map_or(&[], Conn::unsent)
    }

    /// The shell wrote `n` bytes of [`Engine::output`].
    pub fn wrote(&mut self, conn: ConnId, n: usize) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        c.sent = c.sent.saturating_add(n).min(c.out.len());
        if c.sent == c.out.len() {
            c.out.clear();
            c.sent = 0;
            if c.closing {
                let now = self.last;
                self.close(conn, CloseReason::Done, now);
            }
        }
    }

    /// The live connection in slot `index` ([`ConnId::index`]), for a shell that indexes
    /// its sockets by slot.
    pub fn conn_at(&self, index: usize) -> Option<ConnId> {
        self.conns.id_at(index)
    }

    /// Who `conn` is: our link to a peer, or an accepted connection.
    pub fn role(&self, conn: ConnId) -> Option<Role> {
        self.conns.get(conn).map(|c| c.role)
    }

    /// This node's name.
    pub fn whoami(&self) -> &str {
        &self.whoami
    }

    /// A configured node's name (`"?"` for an unknown id).
    pub fn peer_name(&self, peer: PeerId) -> &str {
        self.peers.get(peer.0).map_or("?", |p| p.name.as_str())
    }

    /// Every peer (configured nodes but this one), in slot order.
    pub fn peer_ids(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peer_indices().map(PeerId)
    }

    /// A peer's consecutive timeouts (at most the threshold).
    pub fn timeouts(&self, peer: PeerId) -> u32 {
        self.tracker.timeouts(peer.0)
    }

    /// The state of our link to `peer`, `None` when there is none.
    pub fn link_state(&self, peer: PeerId) -> Option<LinkState> {
        let p = self.peers.get(peer.0)?;
        [p.link, p.spare]
            .into_iter()
            .flatten()
            .filter_map(|id| match self.conns.get(id)?.role {
                Role::Out { state, .. } => Some(state),
                Role::In { .. } => None,
            })
            .max_by_key(|&s| s as u8)
    }

    /// `peer`'s links (first, second), each if it exists.
    fn links(&self, peer: usize) -> [Option<ConnId>; 2] {
        self.peers
            .get(peer)
            .map_or([None, None], |p| [p.link, p.spare])
    }

    /// `peer`'s links that carry probes now (ready, or our `PROOF` sent: see
    /// [`Engine::carries_probes`]).
    fn ready_links(&self, peer: usize) -> Vec<ConnId> {
        self.links(peer)
            .into_iter()
            .flatten()
            .filter(|&id| self.carries_probes(id))
            .collect()
    }

    /// How long link `id` has left its oldest unanswered probe unanswered (0: none).
    fn stalled(&self, id: ConnId, now: Now) -> u64 {
        self.conns
            .get(id)
            .and_then(|c| c.awaiting.front())
            .map_or(0, |&(_, at)| now.mono.saturating_sub(at))
    }

    /// Number of open connections (both directions).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Every peer (not this node), in config order, with its state and counters.
    pub fn peers(&self) -> impl Iterator<Item = PeerView<'_>> {
        self.peers
            .iter()
            .enumerate()
            .filter(|&(i, p)| i != self.me && p.active)
            .map(|(i, p)| PeerView {
                id: PeerId(i),
                name: &p.name,
                online: self.tracker.is_online(i),
                timeouts: self.tracker.timeouts(i),
                in_flight: self.tracker.outstanding_len(i),
                stats: &p.stats,
            })
    }

    /// Connections closed so far, by kind.
    pub fn closes(&self) -> &Closes {
        &self.closes
    }

    /// Open connections by state.
    pub fn conn_counts(&self) -> ConnCounts {
        let mut n = ConnCounts::default();
        for (_, c) in self.conns.iter() {
            let slot = match c.role {
                Role::Out { state, .. } => n.out.get_mut(state as usize),
                Role::In { peer, .. } => n.inbound.get_mut(usize::from(peer.is_some())),
            };
            if let Some(slot) = slot {
                *slot += 1;
            }
        }
        n
    }

    /// The offline threshold.
    pub fn threshold(&self) -> u32 {
        self.tracker.threshold()
    }

    // ---------------------------------------------------------------------------------
    // Events.

    /// The socket of `conn` (an [`Action::Connect`]) is connected: send our `HELLO`.
    pub fn on_connected(&mut self, conn: ConnId, now: Now) {
        self.roll_day(now);
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let Role::Out { state, .. } = &mut c.role else {
            return;
        };
        if *state != LinkState::Connecting {
            return;
        }
        *state = LinkState::Handshaking;
        let peer = match c.role {
            Role::Out { peer, .. } => peer,
            Role::In { .. } => return,
        };
        if self.peers.get(peer).is_some_and(|p| p.legacy) {
            // The earlier tool has no handshake: probes go out at once.
            c.legacy = Some(Box::default());
            let name = self.name(peer).to_string();
            return self.link_ready(conn, peer, &name, now);
        }
        if self.auth.is_none() {
            return self.send_hello(conn, now);
        }
        let Some(nonce_c) = self.nonce() else {
            return self.close(conn, CloseReason::NoRandom, now);
        };
        if let Some(c) = self.conns.get_mut(conn) {
            c.hs = Some(Box::new(Handshake {
                nonce_c,
                nonce_l: [0; NONCE_LEN],
                peer,
                proved: false,
            }));
        }
        self.send_challenge(conn, nonce_c, now);
    }

    /// A connection from `from` was accepted. Returns its id: every connection is taken
    /// (the shell drains its accept queue), room being made in its pool by evicting the
    /// oldest waiting one there (see [`admission`]): another connection from the same
    /// address, or for a stranger, the oldest stranger's. A configured node's connection
    /// never makes way for a stranger's. (`None` is never returned; the shell closes the
    /// socket if it ever were.)
    pub fn on_accepted(&mut self, from: SocketAddr, now: Now) -> Option<ConnId> {
        self.roll_day(now);
        let ip = from.ip().to_canonical();
        // Strangers are let in too, briefly: the earlier tool answered anyone's HTTP
        // request (401 to strangers), and a migrating mesh keeps that.
        let configured = self.peer_ips.contains(&ip);
        match self.waiting.room_for(ip, configured) {
            None => {}
            Some(Room::SameAddress(oldest)) => {
                let old = self.peer_from(oldest);
                self.close(oldest, CloseReason::Evicted, now);
                let topic = if configured {
                    Topic::Unproved
                } else {
                    Topic::Strangers
                };
                let msg = format!(
                    "connection from {} closed: {MAX_PENDING_PER_SOURCE} newer ones from its \
                     address are waiting for their handshake",
                    old.map_or_else(|| ip.to_string(), |a| a.to_string())
                );
                self.say_limited(topic, now, msg);
            }
            Some(Room::StrangersFull(oldest)) => {
                let old = self.peer_from(oldest);
                self.close(oldest, CloseReason::Evicted, now);
                let msg = format!(
                    "handshake slots full: {MAX_STRANGERS} strangers' connections waiting; the \
                     oldest ({}) closed to make room for one from {from}",
                    old.map_or_else(String::new, |a| a.to_string())
                );
                self.say_limited(Topic::SlotsFull, now, msg);
            }
        }
        let id = self.conns.insert(Conn::new(Role::In {
            from,
            peer: None,
            since: now.mono,
        }));
        self.waiting.insert(now.mono, id, ip, configured);
        let wait = if configured {
            HANDSHAKE_TIMEOUT_MS
        } else {
            STRANGER_TIMEOUT_MS
        };
        let timer = self.wheel.schedule(now.mono + wait, Timer::Hello(id));
        if let Some(c) = self.conns.get_mut(id) {
            c.timer = Some(timer);
        }
        Some(id)
    }

    /// The source address of accepted connection `conn`.
    fn peer_from(&self, conn: ConnId) -> Option<SocketAddr> {
        match self.conns.get(conn)?.role {
            Role::In { from, .. } => Some(from),
            Role::Out { .. } => None,
        }
    }

    /// `accept` failed: this machine's trouble (descriptors, memory), never a peer's.
    /// On a `shortage` of descriptors, the oldest accepted connection still waiting for
    /// its handshake is evicted to make room, a stranger's first (a real peer completes
    /// its handshake within a round trip, so a flood cannot hold the descriptors a
    /// restarting peer needs). Returns whether one was, so the shell can accept again at
    /// once.
    pub fn on_accept_error(&mut self, error: &std::io::Error, shortage: bool, now: Now) -> bool {
        self.roll_day(now);
        self.say_limited(Topic::Local, now, format!("this machine: accept: {error}"));
        if !shortage {
            return false;
        }
        match self.waiting.oldest() {
            Some(id) => {
                self.close(id, CloseReason::Evicted, now);
                true
            }
            None => false,
        }
    }

    /// Connections waiting for their handshake: (from configured nodes' addresses, from
    /// strangers'). Bounded by [`MAX_PENDING_PER_SOURCE`] per configured address and
    /// [`MAX_STRANGERS`].
    pub fn waiting(&self) -> (usize, usize) {
        self.waiting.len()
    }

    /// Bytes read from `conn`. Complete lines are acted on at once (replies queued, probes
    /// settled); a protocol error closes the connection.
    pub fn on_data(&mut self, conn: ConnId, mut data: &[u8], now: Now) {
        self.roll_day(now);
        loop {
            let Some(c) = self.conns.get_mut(conn) else {
                return;
            };
            if c.closing {
                return;
            }
            if let Some(legacy) = c.legacy.as_mut() {
                let read = legacy.reader.feed(data);
                return self.on_responses(conn, read, now);
            }
            let mode = line_mode(c);
            let Some(framer) = c.input.as_mut() else {
                // No partial line pending: take whole lines straight from `data`, with
                // the framer's rules (`\n` ends a line, one `\r` before it is dropped,
                // at most MAX_LINE bytes with the `\n`).
                let Some(end) = data.iter().position(|&b| b == b'\n') else {
                    if data.len() >= MAX_LINE {
                        return self.close(conn, CloseReason::LineTooLong, now);
                    }
                    if !data.is_empty() {
                        let mut framer = Box::new(Framer::new());
                        framer.push(data);
                        c.input = Some(framer);
                    }
                    return;
                };
                if end >= MAX_LINE {
                    return self.close(conn, CloseReason::LineTooLong, now);
                }
                let line = data.get(..end).unwrap_or_default();
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let input = decode(mode, line);
                data = data.get(end + 1..).unwrap_or_default();
                self.on_input(conn, input, now);
                continue;
            };
            // A partial line is pending: the framer joins it with what follows.
            let taken = framer.push(data);
            data = data.get(taken..).unwrap_or_default();
            loop {
                let input = match self.conns.get_mut(conn) {
                    None => return,
                    Some(c) if c.closing => return,
                    Some(c) => match (line_mode(c), c.input.as_mut().map(|f| f.next_line())) {
                        (_, None | Some(Ok(None))) => break,
                        (mode, Some(Ok(Some(line)))) => decode(mode, line),
                        (_, Some(Err(_))) => Input::Bad(CloseReason::LineTooLong),
                    },
                };
                self.on_input(conn, input, now);
            }
            if let Some(c) = self.conns.get_mut(conn)
                && c.input.as_ref().is_some_and(|f| f.buffered() == 0)
            {
                c.input = None;
            }
            if data.is_empty() {
                return;
            }
        }
    }

    /// `conn`'s socket failed or was closed by the other side.
    pub fn on_closed(&mut self, conn: ConnId, mut reason: CloseReason, now: Now) {
        self.roll_day(now);
        // An old node closing our link with no request outstanding (its response ran to
        // the end, or it closes idle connections) is routine: the next probe redials.
        if reason == CloseReason::ClosedByPeer
            && self
                .conns
                .get(conn)
                .and_then(|c| c.legacy.as_ref())
                .is_some_and(|l| l.seqs.is_empty())
        {
            reason = CloseReason::Done;
        }
        self.close(conn, reason, now);
    }

    /// Runs every timer due at `now.mono`: rounds, probe deadlines, handshake deadlines,
    /// the day check.
    pub fn handle_timeout(&mut self, now: Now) {
        self.roll_day(now);
        while let Some((_, timer)) = self.wheel.pop_expired(now.mono) {
            self.on_timer(timer, now);
        }
    }

    // ---------------------------------------------------------------------------------
    // Decisions.

    fn peer_indices(&self) -> impl Iterator<Item = usize> + '_ {
        let me = self.me;
        self.peers
            .iter()
            .enumerate()
            .filter(move |&(i, p)| i != me && p.active)
            .map(|(i, _)| i)
    }

    fn name(&self, peer: usize) -> &str {
        self.peers.get(peer).map_or("?", |p| p.name.as_str())
    }

    fn say(&mut self, msg: String) {
        self.actions.push_back(Action::Say(msg));
    }

    /// Says `msg` unless `topic`'s rate limit holds it back ([`quiet`]): strangers and
    /// floods cannot flood stderr, nor hide one kind of line behind another.
    fn say_limited(&mut self, topic: Topic, now: Now, msg: String) {
        match self.quiet.line(topic, now.mono) {
            Verdict::Held => {}
            Verdict::SayAndWait { until } => {
                self.say(msg);
                self.wheel.schedule(until, Timer::Quiet(topic));
            }
        }
    }

    /// Appends `bytes` to `conn`'s output; asks the shell to send if it was empty. Too
    /// much unread output closes the connection.
    fn queue(&mut self, conn: ConnId, bytes: &[u8], now: Now) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let was_empty = c.unsent().is_empty();
        if c.sent > 0 {
            c.out.drain(..c.sent);
            c.sent = 0;
        }
        c.out.extend_from_slice(bytes);
        if c.out.len() > MAX_OUTPUT {
            return self.close(conn, CloseReason::NotReading, now);
        }
        if was_empty {
            self.actions.push_back(Action::Send { conn });
        }
    }

    fn send_hello(&mut self, conn: ConnId, now: Now) {
        let mut out = Vec::new();
        Message::Hello {
            version: PROTOCOL_VERSION,
            name: &self.whoami,
        }
        .encode(&mut out);
        self.queue(conn, &out, now);
    }

    /// Sends probe `seq` to `peer` on `conn`, noting when (for its round-trip time).
    fn send_message(&mut self, conn: ConnId, msg: Message<'_>, now: Now) {
        let mut buf = [0u8; 64];
        let mut out = Vec::new();
        // Short messages (PING/PONG) are encoded without allocating.
        let bytes: &[u8] = match msg {
            Message::Ping { seq } => encode_seq(&mut buf, b"PING ", seq),
            Message::Pong { seq } => encode_seq(&mut buf, b"PONG ", seq),
            _ => {
                msg.encode(&mut out);
                &out
            }
        };
        self.queue(conn, bytes, now);
    }

    /// Sends our `CHALLENGE`: our name and our fresh nonce (both sides send one).
    fn send_challenge(&mut self, conn: ConnId, nonce: [u8; NONCE_LEN], now: Now) {
        let mut out = Vec::new();
        Message::Challenge {
            version: AUTH_VERSION,
            name: &self.whoami,
            nonce,
        }
        .encode(&mut out);
        self.queue(conn, &out, now);
    }

    fn on_input(&mut self, conn: ConnId, input: Input, now: Now) {
        let Some(role) = self.conns.get(conn).map(|c| c.role) else {
            return;
        };
        match (role, input) {
            (_, Input::Bad(reason)) => self.close(conn, reason, now),
            // After the handshake an unknown verb is a newer peer's business; before it,
            // only the handshake is spoken (nor can a stranger hold a slot by chatting).
            (
                Role::Out {
                    state: LinkState::Ready,
                    ..
                }
                | Role::In { peer: Some(_), .. },
                Input::Unknown,
            ) => {}
            (
                Role::Out {
                    peer,
                    state: LinkState::Handshaking,
                },
                Input::Hello { name },
            ) if self.auth.is_none() => self.link_ready(conn, peer, &name, now),
            (
                Role::Out {
                    peer,
                    state: LinkState::Handshaking,
                },
                Input::Challenge {
                    version,
                    name,
                    nonce,
                },
            ) if self.auth.is_some() => {
                self.on_their_challenge(conn, peer, version, &name, nonce, now)
            }
            (
                Role::Out {
                    peer,
                    state: LinkState::Handshaking,
                },
                Input::Proof(mac),
            ) if self.auth.is_some() => self.on_their_proof(conn, peer, &mac, now),
            (
                Role::Out {
                    state: LinkState::Handshaking,
                    ..
                },
                Input::Response,
            ) if self.auth.is_some() => self.close(conn, CloseReason::OldVersion, now),
            (
                Role::Out {
                    peer,
                    state: LinkState::Ready,
                },
                Input::Pong(seq),
            ) => {
                if let Some(c) = self.conns.get_mut(conn) {
                    // Replies come in order: everything before `seq` was answered too
                    // (or was never written here).
                    while let Some(&(s, _)) = c.awaiting.front() {
                        c.awaiting.pop_front();
                        if s == seq {
                            break;
                        }
                    }
                }
                self.replied(peer, seq, now);
            }
            (
                Role::In {
                    peer: None, from, ..
                },
                Input::Hello { name },
            ) => {
                if self.auth.is_some() {
                    return self.close(conn, CloseReason::AuthRequired, now);
                }
                if let Some(peer) = self.check_claim(conn, from, &name, now) {
                    self.send_hello(conn, now);
                    self.inbound_ready(conn, peer, from, now);
                }
            }
            (
                Role::In {
                    peer: None, from, ..
                },
                Input::Challenge {
                    version,
                    name,
                    nonce,
                },
            ) => self.on_challenge(conn, from, version, &name, nonce, now),
            (Role::In { peer: None, .. }, Input::HttpRequest(line, len)) => {
                if let Some(c) = self.conns.get_mut(conn) {
                    c.http = Some(HttpIn {
                        open: true,
                        head: line.head,
                        http10: line.http10,
                        bytes: len,
                        ..HttpIn::default()
                    });
                }
            }
            (
                Role::In {
                    peer: None, from, ..
                },
                Input::HttpHeader(header, len),
            ) => self.http_header(conn, from, header, len, now),
            (
                Role::In {
                    peer: None, from, ..
                },
                Input::Proof(mac),
            ) => self.on_proof(conn, from, &mac, now),
            (Role::In { peer: Some(_), .. }, Input::Ping(seq)) => {
                if let Some(c) = self.conns.get_mut(conn) {
                    c.ready_at = now.mono;
                }
                self.send_message(conn, Message::Pong { seq }, now)
            }
            (_, _) => self.close(conn, CloseReason::Unexpected, now),
        }
    }

    /// Our link to `peer` reached a node that says it is `name`, not `peer`: said once
    /// until a handshake with it succeeds (like the close that follows: a redial every
    /// round would otherwise repeat it all day), and closed.
    fn wrong_node(&mut self, conn: ConnId, peer: usize, name: &str, now: Now) {
        let expected = self.name(peer);
        let said = self
            .peers
            .get(peer)
            .is_some_and(|p| p.trouble == Some(CloseReason::WrongNode.class()));
        if !said {
            let msg = format!(
                "peer {expected}: the node at {} says it is {name:?}",
                self.peers
                    .get(peer)
                    .map_or_else(String::new, |p| p.addr.to_string())
            );
            self.say(msg);
        }
        self.close(conn, CloseReason::WrongNode, now)
    }

    /// Our link to `peer` completed its handshake (the peer's `HELLO`, or its `PROOF`):
    /// the probes waiting for it go out, unless they already went behind our `PROOF`.
    fn link_ready(&mut self, conn: ConnId, peer: usize, name: &str, now: Now) {
        if name != self.name(peer) {
            return self.wrong_node(conn, peer, name, now);
        }
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        c.role = Role::Out {
            peer,
            state: LinkState::Ready,
        };
        let pipelined = c.hs.take().is_some_and(|hs| hs.proved);
        if let Some(t) = c.timer.take() {
            self.wheel.cancel(t);
        }
        c.ready_at = now.mono;
        if let Some(p) = self.peers.get_mut(peer) {
            let first = !p.ever_connected;
            p.ever_connected = true;
            if p.trouble.take().is_some() || first {
                let msg = format!("peer {}: connected", p.name);
                self.say(msg);
            }
        }
        if !pipelined {
            self.send_waiting_probes(conn, peer, now);
        }
    }

    /// Probes started while our link to `peer` was not carrying them go out on `conn`.
    fn send_waiting_probes(&mut self, conn: ConnId, peer: usize, now: Now) {
        let waiting: Vec<u64> = self.tracker.outstanding(peer).collect();
        for seq in waiting {
            self.send_probe(conn, peer, seq, now);
        }
    }

    /// The state of our link `conn` (`None` for an accepted connection or a stale id).
    fn link_state_of(&self, conn: ConnId) -> Option<LinkState> {
        match self.conns.get(conn)?.role {
            Role::Out { state, .. } => Some(state),
            Role::In { .. } => None,
        }
    }

    /// Whether our link `conn` carries probes now: its handshake is done, or our `PROOF`
    /// went out (probes follow it on the same ordered stream; their `PONG`s count only
    /// after the listener's proof, which comes before them).
    fn carries_probes(&self, conn: ConnId) -> bool {
        self.conns.get(conn).is_some_and(|c| match c.role {
            Role::Out {
                state: LinkState::Ready,
                ..
            } => true,
            Role::Out {
                state: LinkState::Handshaking,
                ..
            } => c.hs.as_ref().is_some_and(|hs| hs.proved),
            _ => false,
        })
    }

    /// An accepted connection's claim to be `name` (its `HELLO` or `CHALLENGE`): it must
    /// name a configured peer whose ip it comes from. Returns the peer, or closes `conn`.
    fn check_claim(
        &mut self,
        conn: ConnId,
        from: SocketAddr,
        name: &str,
        now: Now,
    ) -> Option<usize> {
        let ip = from.ip().to_canonical();
        let found = self.peers.iter().position(|p| p.active && p.name == name);
        let problem = match found {
            None => Some(format!("HELLO names {name:?}, not a configured node")),
            Some(i) if i == self.me => Some(format!("HELLO names this node, {name:?}")),
            Some(i) => {
                let configured = self.peers.get(i).map(|p| p.addr.ip().to_canonical());
                (configured != Some(ip)).then(|| {
                    format!(
                        "HELLO names {name:?}, whose configured ip is {}, but comes from {ip}",
                        configured.map_or_else(String::new, |ip| ip.to_string())
                    )
                })
            }
        };
        let (Some(peer), None) = (found, problem.as_ref()) else {
            let msg = format!(
                "connection from {from} closed: {}",
                problem.unwrap_or_default()
            );
            let topic = if self.peer_ips.contains(&ip) {
                Topic::Unproved
            } else {
                Topic::Strangers
            };
            self.say_limited(topic, now, msg);
            self.close(conn, CloseReason::WrongNode, now);
            return None;
        };
        Some(peer)
    }

    /// An accepted connection proved to be `peer` (its `HELLO`, or its `PROOF`): its
    /// `PING`s are answered from now on.
    fn inbound_ready(&mut self, conn: ConnId, peer: usize, from: SocketAddr, now: Now) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        c.hs = None;
        c.role = Role::In {
            from,
            peer: Some(peer),
            since: now.mono,
        };
        if let Some(t) = c.timer.take() {
            self.wheel.cancel(t);
        }
        self.waiting.remove(conn, from.ip().to_canonical());
        if let Some(c) = self.conns.get_mut(conn) {
            c.ready_at = now.mono;
        }
        // A peer keeps two links to us: a third connection means it redialled one, and
        // the one it abandoned is the one it stopped probing on (its close may still be
        // on the way, or lost).
        let heard = |id: Option<ConnId>| {
            id.and_then(|id| self.conns.get(id))
                .map_or(0, |c| c.ready_at)
        };
        let (newer, older) = self
            .peers
            .get(peer)
            .map_or((None, None), |p| (p.inbound, p.inbound_older));
        let dead = match (newer, older) {
            (Some(n), Some(o)) if n != conn && o != conn => {
                Some(if heard(Some(n)) < heard(Some(o)) {
                    n
                } else {
                    o
                })
            }
            _ => None,
        };
        if let Some(dead) = dead {
            self.close(dead, CloseReason::Replaced, now);
        }
        if let Some(p) = self.peers.get_mut(peer)
            && p.inbound != Some(conn)
        {
            p.inbound_older = p.inbound.replace(conn);
        }
        // A fresh handshake proves the peer reachable: if our link to it is down or its
        // probes are going unanswered, redial now instead of at the next round.
        // Only a link with a probe overdue on it is stale; one made since the peer's
        // last miss is fresh: leave it (both sides redialling on each other's new
        // handshakes would knock each other's fresh links down in turn).
        let missed_at = self.peers.get(peer).and_then(|p| p.missed_at);
        let links = self.links(peer);
        if links.iter().all(Option::is_none) {
            return self.connect(peer, now);
        }
        for id in self.ready_links(peer) {
            let fresh = self
                .conns
                .get(id)
                .is_none_or(|c| missed_at.is_none_or(|m| c.ready_at > m));
            if !fresh && self.stalled(id, now) >= self.timeout {
                self.close(id, CloseReason::ProbeTimeout, now);
                self.connect(peer, now);
            }
        }
    }

    /// Our link's `CHALLENGE` was answered by the listener's: it must be `peer`, speaking
    /// this handshake's version. We prove first (the listener proves only to a caller
    /// that did), and our waiting probes follow the `PROOF` at once: no round trip is
    /// lost to the listener's proof, which comes back ahead of their `PONG`s.
    fn on_their_challenge(
        &mut self,
        conn: ConnId,
        peer: usize,
        version: u32,
        name: &str,
        nonce_l: [u8; NONCE_LEN],
        now: Now,
    ) {
        if name != self.name(peer) {
            return self.wrong_node(conn, peer, name, now);
        }
        if version < AUTH_VERSION {
            return self.close(conn, CloseReason::OldVersion, now);
        }
        let Some(mut hs) = self
            .conns
            .get_mut(conn)
            .and_then(|c| c.hs.take())
            .filter(|hs| !hs.proved)
        else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        hs.nonce_l = nonce_l;
        hs.proved = true;
        let whoami = self.whoami.clone();
        let Some(proof) = self.prove(Direction::Connector, &hs.nonce_c, &nonce_l, &whoami, name)
        else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        if let Some(c) = self.conns.get_mut(conn) {
            c.hs = Some(hs);
        }
        self.send_message(conn, Message::Proof { mac: proof }, now);
        self.send_waiting_probes(conn, peer, now);
    }

    /// The listener's `PROOF` on our link, after ours: it must prove it knows the secret
    /// for this connection's nonces; then the link is ready.
    fn on_their_proof(&mut self, conn: ConnId, peer: usize, mac: &[u8; MAC_LEN], now: Now) {
        let Some(hs) = self
            .conns
            .get(conn)
            .and_then(|c| c.hs.as_deref())
            .copied()
            .filter(|hs| hs.proved)
        else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        let (whoami, name) = (self.whoami.clone(), self.name(peer).to_string());
        if !self.verify(
            Direction::Listener,
            &hs.nonce_c,
            &hs.nonce_l,
            &whoami,
            &name,
            mac,
        ) {
            return self.close(conn, CloseReason::AuthFailed, now);
        }
        self.link_ready(conn, peer, &name, now);
    }

    /// An accepted connection's `CHALLENGE`: a configured peer from its own ip, speaking
    /// this handshake's version, gets our name and nonce, and no proof yet: ours goes only
    /// to a caller whose own proof checked out (else anyone at a peer's address could
    /// collect proofs over nonces of its choosing to guess the secret offline).
    fn on_challenge(
        &mut self,
        conn: ConnId,
        from: SocketAddr,
        version: u32,
        name: &str,
        nonce_c: [u8; NONCE_LEN],
        now: Now,
    ) {
        if self.auth.is_none() {
            return self.close(conn, CloseReason::NoSecret, now);
        }
        if self.conns.get(conn).is_some_and(|c| c.hs.is_some()) {
            return self.close(conn, CloseReason::Unexpected, now);
        }
        let Some(peer) = self.check_claim(conn, from, name, now) else {
            return;
        };
        if version < AUTH_VERSION {
            // Only from the claimed peer's own address (checked above), so what it says
            // is likely, though anyone there could send it.
            let msg = format!(
                "connection from {from} (as peer {name}) closed: it asks for the previous \
                 release's authenticated handshake (version {version}); this release speaks \
                 version {AUTH_VERSION} only: upgrade {name}"
            );
            self.say_limited(Topic::OldVersion, now, msg);
            return self.close(conn, CloseReason::OldVersion, now);
        }
        let Some(nonce_l) = self.nonce() else {
            return self.close(conn, CloseReason::NoRandom, now);
        };
        if let Some(c) = self.conns.get_mut(conn) {
            c.hs = Some(Box::new(Handshake {
                nonce_c,
                nonce_l,
                peer,
                proved: false,
            }));
        }
        self.send_challenge(conn, nonce_l, now);
    }

    /// An accepted connection's `PROOF`: it must be the claimed peer's proof for this
    /// connection's two nonces. Then, and only then, ours goes back, and its `PING`s are
    /// answered.
    fn on_proof(&mut self, conn: ConnId, from: SocketAddr, mac: &[u8; MAC_LEN], now: Now) {
        let Some(hs) = self.conns.get_mut(conn).and_then(|c| c.hs.take()) else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        let peer_name = self.name(hs.peer).to_string();
        let whoami = self.whoami.clone();
        if !self.verify(
            Direction::Connector,
            &hs.nonce_c,
            &hs.nonce_l,
            &peer_name,
            &whoami,
            mac,
        ) {
            // Anyone at a peer's address can fail handshakes in its name, as often as it
            // likes: its own rate limit, and words that blame neither side.
            let msg = format!(
                "connection from {from} (as peer {peer_name}) closed: authentication failed: \
                 its proof does not match this node's secret (another secret_file on \
                 {peer_name}, or someone else at its address)"
            );
            self.say_limited(Topic::AuthFailed, now, msg);
            return self.close(conn, CloseReason::AuthFailed, now);
        }
        let Some(proof) = self.prove(
            Direction::Listener,
            &hs.nonce_c,
            &hs.nonce_l,
            &peer_name,
            &whoami,
        ) else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        self.send_message(conn, Message::Proof { mac: proof }, now);
        self.inbound_ready(conn, hs.peer, from, now);
    }

    /// One header line of an HTTP request on an accepted connection; the empty line ends
    /// the head and gets the earlier tool's answer for the source address.
    fn http_header(
        &mut self,
        conn: ConnId,
        from: SocketAddr,
        header: Header,
        len: usize,
        now: Now,
    ) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let Some(http) = c.http.as_mut().filter(|h| h.open) else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        http.lines += 1;
        http.bytes = http.bytes.saturating_add(len);
        match header {
            Header::End => {}
            Header::Connection { close, keep_alive } => {
                http.close |= close;
                http.keep_alive |= keep_alive;
            }
            Header::Body => http.body = true,
            Header::Other => {}
            Header::Malformed => http.malformed = true,
        }
        let too_large = http.lines > request::MAX_HEADERS || http.bytes > request::MAX_HEAD;
        if header != Header::End && !too_large {
            return;
        }
        let http = *http;
        c.http = Some(HttpIn {
            open: false,
            ..http
        });
        let mut out = Vec::new();
        if too_large || http.malformed || http.body {
            old::refusal(&mut out, too_large);
            self.queue(conn, &out, now);
            return self.finish(conn, now);
        }
        let ip = from.ip().to_canonical();
        let answer = Answer::for_source(ip, self.peer_ips.contains(&ip));
        // Only the earlier tool's probers (configured nodes) keep their connection for
        // the next request. A stranger gets one answer per connection and the door, so
        // it holds a stranger's place only while its request is read and answered: kept
        // alive, a few strangers held every place (a monitoring check opens a new
        // connection each time anyway, and any HTTP client takes `Connection: close`).
        let keep =
            answer == Answer::StillOnline && !http.close && (!http.http10 || http.keep_alive);
        old::answer(&mut out, answer, keep, http.http10, http.head);
        self.queue(conn, &out, now);
        if !keep {
            return self.finish(conn, now);
        }
        // It waits for its next request in its address's places, evicted after those
        // silent longer.
        self.waiting.touch(conn, ip, now.mono);
        let timer = self
            .wheel
            .schedule(now.mono + HTTP_IDLE_MS, Timer::Hello(conn));
        if let Some(old) = self
            .conns
            .get_mut(conn)
            .and_then(|c| c.timer.replace(timer))
        {
            self.wheel.cancel(old);
        }
    }

    /// Closes `conn` once its output is written.
    fn finish(&mut self, conn: ConnId, now: Now) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if c.unsent().is_empty() {
            self.close(conn, CloseReason::Done, now);
        } else {
            c.closing = true;
        }
    }

    /// Sends probe `seq` on our ready link `conn`: a `PING`, or to an old node an HTTP
    /// `GET /` (its response is matched to the oldest request without one).
    fn send_probe(&mut self, conn: ConnId, peer: usize, seq: u64, now: Now) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.stats.sent(seq, now.mono_us());
        }
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if c.awaiting.len() >= crate::tracker::MAX_OUTSTANDING {
            c.awaiting.pop_front();
        }
        c.awaiting.push_back((seq, now.mono));
        let (Some(legacy), Role::Out { peer, .. }) = (c.legacy.as_mut(), c.role) else {
            return self.send_message(conn, Message::Ping { seq }, now);
        };
        if legacy.reader.until_close() {
            // The old node's last response runs to the end of the connection: this one
            // cannot carry another request. A fresh link takes the waiting probes.
            self.close(conn, CloseReason::Done, now);
            return self.connect(peer, now);
        }
        legacy.seqs.push_back(seq);
        let Some(addr) = self.peers.get(peer).map(|p| p.addr) else {
            return;
        };
        let mut out = Vec::new();
        old::probe_request(&mut out, addr);
        self.queue(conn, &out, now);
    }

    /// `read` HTTP responses came in on our link to an old node: each is the reply to the
    /// oldest probe whose request has no response yet.
    fn on_responses(
        &mut self,
        conn: ConnId,
        (n, result): (usize, Result<(), old::response::Error>),
        now: Now,
    ) {
        for _ in 0..n {
            let Some(c) = self.conns.get_mut(conn) else {
                return;
            };
            let (Some(legacy), Role::Out { peer, .. }) = (c.legacy.as_mut(), c.role) else {
                return;
            };
            let Some(seq) = legacy.seqs.pop_front() else {
                return self.close(conn, CloseReason::Unexpected, now);
            };
            c.awaiting.pop_front();
            self.replied(peer, seq, now);
        }
        // The responses before the garbage counted; the garbage ends the link.
        if let Err(e) = result {
            self.close(conn, CloseReason::BadResponse(e), now);
        }
    }

    /// Probe `seq` to `peer` was answered (a `PONG`, or an old node's HTTP response).
    fn replied(&mut self, peer: usize, seq: u64, now: Now) {
        if let Some((timer, change)) = self.tracker.reply(peer, seq, now.mono) {
            self.wheel.cancel(timer);
            if let Some(p) = self.peers.get_mut(peer) {
                p.stats.replied(seq, now.mono_us());
            }
            if let Some(change) = change {
                self.log_change(change, now);
            }
        }
    }

    /// A fresh nonce, or `None` without a secret or when no random bytes could be had.
    fn nonce(&mut self) -> Option<[u8; NONCE_LEN]> {
        #[cfg(feature = "auth")]
        {
            let auth = self.auth.as_mut()?;
            let mut nonce = [0u8; NONCE_LEN];
            match (auth.nonces)(&mut nonce) {
                Ok(()) => Some(nonce),
                Err(e) => {
                    self.say(format!(
                        "this machine: no random bytes for a handshake: {e}"
                    ));
                    None
                }
            }
        }
        #[cfg(not(feature = "auth"))]
        {
            None
        }
    }

    /// `dir`'s proof over the nonces and names (connector's name first).
    fn prove(
        &self,
        dir: Direction,
        nonce_c: &[u8; NONCE_LEN],
        nonce_l: &[u8; NONCE_LEN],
        name_c: &str,
        name_l: &str,
    ) -> Option<[u8; MAC_LEN]> {
        #[cfg(feature = "auth")]
        {
            let auth = self.auth.as_ref()?;
            let t = crate::auth::Transcript {
                nonce_c,
                nonce_l,
                name_c,
                name_l,
            };
            Some(crate::auth::prove(&auth.secret, dir.into(), &t))
        }
        #[cfg(not(feature = "auth"))]
        {
            let _ = (dir, nonce_c, nonce_l, name_c, name_l);
            None
        }
    }

    /// Whether `mac` is `dir`'s proof over the nonces and names (constant-time compare).
    fn verify(
        &self,
        dir: Direction,
        nonce_c: &[u8; NONCE_LEN],
        nonce_l: &[u8; NONCE_LEN],
        name_c: &str,
        name_l: &str,
        mac: &[u8; MAC_LEN],
    ) -> bool {
        #[cfg(feature = "auth")]
        {
            let Some(auth) = self.auth.as_ref() else {
                return false;
            };
            let t = crate::auth::Transcript {
                nonce_c,
                nonce_l,
                name_c,
                name_l,
            };
            crate::auth::verify(&auth.secret, dir.into(), &t, mac)
        }
        #[cfg(not(feature = "auth"))]
        {
            let _ = (dir, nonce_c, nonce_l, name_c, name_l, mac);
            false
        }
    }

    fn on_timer(&mut self, timer: Timer, now: Now) {
        match timer {
            Timer::Round { peer, due } => self.probe(peer, due, now),
            Timer::DayCheck => {
                self.roll_day(now);
                self.schedule_day_check(now);
            }
            Timer::Probe { peer, seq } => {
                let Some((_, change)) = self.tracker.miss(peer, seq, now.mono) else {
                    return;
                };
                if let Some(p) = self.peers.get_mut(peer) {
                    p.stats.timed_out(seq, now.mono_us());
                }
                self.missed(peer, now);
                if let Some(change) = change {
                    self.log_change(change, now);
                }
                // The links stay: TCP is probably repairing a loss on them, and the
                // probes queued behind it arrive with the repair. A link stuck too long
                // is abandoned at the peer's next turn (`tend_links`).
            }
            Timer::Connect(conn) => {
                if let Some(c) = self.conns.get_mut(conn) {
                    c.timer = None;
                    self.close(conn, CloseReason::HandshakeTimeout, now);
                }
            }
            Timer::Hello(conn) => {
                if let Some(c) = self.conns.get_mut(conn) {
                    c.timer = None;
                    self.close(conn, CloseReason::NoHello, now);
                }
            }
            Timer::Hook(id) => self.hook_deadline(id),
            Timer::Quiet(topic) => {
                if let Some((held, span, until)) = self.quiet.window_ended(topic, now.mono) {
                    self.say(topic.summary(held, span));
                    self.wheel.schedule(until, Timer::Quiet(topic));
                }
            }
        }
    }

    /// `peer`'s turn, due at `due`: a probe, sent now if its link is ready, else once the
    /// link is (re)established. The next turn is one interval later; after a stall
    /// (SIGSTOP, suspend) the turns missed are skipped, keeping the peer's phase.
    fn probe(&mut self, peer: usize, due: u64, now: Now) {
        if !self.peers.get(peer).is_some_and(|p| p.active) {
            return;
        }
        let missed = now.mono.saturating_sub(due) / self.interval;
        let next = due + (missed + 1) * self.interval;
        let timer = self.wheel.schedule(next, Timer::Round { peer, due: next });
        if let Some(p) = self.peers.get_mut(peer) {
            p.round = Some(timer);
        }
        let deadline = now.mono + self.timeout;
        let wheel = &mut self.wheel;
        let started = self.tracker.start_probe(peer, |seq| {
            wheel.schedule(deadline, Timer::Probe { peer, seq })
        });
        let Some(seq) = started else {
            let msg = format!(
                "peer {}: too many probes in flight; probe skipped",
                self.name(peer)
            );
            return self.say(msg);
        };
        if let Some(p) = self.peers.get_mut(peer) {
            p.stats.started += 1;
        }
        self.tend_links(peer, now);
        for id in self.ready_links(peer) {
            self.send_probe(id, peer, seq, now);
        }
    }

    /// Abandons `peer`'s stuck links (a probe unanswered on it for [`stuck_ms`]: TCP
    /// would otherwise hold our probes in its backed-off retransmit queue long after the
    /// path is back) and dials the links it should have.
    fn tend_links(&mut self, peer: usize, now: Now) {
        let bound = stuck_ms(self.timeout);
        let ready = self.ready_links(peer);
        for &id in &ready {
            if self.stalled(id, now) >= bound {
                self.close(id, CloseReason::ProbeTimeout, now);
            }
        }
        // Both links lived side by side for a while: the peer keeps two.
        let settled = ready.len() == 2
            && ready.iter().all(|&id| {
                self.link_state_of(id) == Some(LinkState::Ready)
                    && self.conns.get(id).is_some_and(|c| {
                        now.mono.saturating_sub(c.ready_at) > self.timeout.saturating_mul(2)
                    })
            });
        if settled && let Some(p) = self.peers.get_mut(peer) {
            p.replaced = 0;
        }
        let Some(p) = self.peers.get(peer) else {
            return;
        };
        let want = if p.legacy || p.single {
            1
        } else {
            self.links_per_peer
        };
        let have = usize::from(p.link.is_some()) + usize::from(p.spare.is_some());
        for _ in have..want {
            self.connect(peer, now);
        }
    }

    /// Asks the shell to open a link to `peer`, with a deadline for its handshake.
    fn connect(&mut self, peer: usize, now: Now) {
        let Some(addr) = self.peers.get(peer).map(|p| p.addr) else {
            return;
        };
        let conn = self.conns.insert(Conn::new(Role::Out {
            peer,
            state: LinkState::Connecting,
        }));
        let timer = self
            .wheel
            .schedule(now.mono + self.timeout, Timer::Connect(conn));
        if let Some(c) = self.conns.get_mut(conn) {
            c.timer = Some(timer);
        }
        if let Some(p) = self.peers.get_mut(peer) {
            if p.link.is_none() {
                p.link = Some(conn);
            } else {
                if let Some(old) = p.spare.replace(conn) {
                    // Never more than two: the oldest spare goes.
                    self.actions.push_back(Action::Connect { conn, addr });
                    return self.close(old, CloseReason::Replaced, now);
                }
            }
        }
        self.actions.push_back(Action::Connect { conn, addr });
    }

    /// Forgets `conn` and asks the shell to close it. For our link: a failure fails every
    /// probe waiting on it; a timeout (handshake or probe) leaves them to their own
    /// deadlines. Reports a peer's trouble once per kind.
    fn close(&mut self, conn: ConnId, reason: CloseReason, now: Now) {
        let Some(c) = self.conns.remove(conn) else {
            return;
        };
        if let Some(t) = c.timer {
            self.wheel.cancel(t);
        }
        self.actions.push_back(Action::Close { conn, reason });
        self.closes.count(reason);
        match c.role {
            Role::Out { peer, state } => {
                let mut other = None;
                if let Some(p) = self.peers.get_mut(peer) {
                    if p.link == Some(conn) {
                        p.link = p.spare.take();
                    } else if p.spare == Some(conn) {
                        p.spare = None;
                    }
                    other = p.link;
                }
                // Another ready link still carries the probes: they keep their deadlines.
                let covered = other.and_then(|id| self.conns.get(id)).and_then(|o| {
                    matches!(
                        o.role,
                        Role::Out {
                            state: LinkState::Ready,
                            ..
                        }
                    )
                    .then_some(o.ready_at)
                });
                // A node that closes our older link as soon as the second is up, again and
                // again, answers one connection per peer (an earlier version): it gets one
                // link from now on. (Once can be loss: a handshake it completed and we gave
                // up made it drop one of ours.)
                if reason == CloseReason::ClosedByPeer
                    && covered.is_some_and(|at| now.mono.saturating_sub(at) <= self.timeout)
                    && let Some(p) = self.peers.get_mut(peer)
                    && !p.single
                {
                    p.replaced = p.replaced.saturating_add(1);
                }
                if let Some(p) = self.peers.get_mut(peer)
                    && !p.single
                    && p.replaced >= REPLACED_SINGLE
                {
                    p.single = true;
                    let msg = format!(
                        "peer {}: it closes our first link when the second comes up (an earlier \
                         version?): probing it on one link",
                        p.name
                    );
                    self.say(msg);
                }
                let covered = covered.is_some();
                if reason == CloseReason::Done {
                    // An old node's link whose response ran to the end of the connection:
                    // its probes are redialled with the link, nothing failed.
                    return;
                }
                if reason == CloseReason::Reconfigured {
                    // The peer was removed or moved: what was in flight on the old link
                    // says nothing about it now. Its count holds.
                    let wheel = &mut self.wheel;
                    let mut n = 0;
                    self.tracker.void_all(peer, |timer| {
                        wheel.cancel(timer);
                        n += 1;
                    });
                    if let Some(p) = self.peers.get_mut(peer) {
                        p.stats.settled_all(n, true, now.mono_us());
                    }
                    return;
                }
                if reason.is_local() {
                    // This machine's trouble, not the peer's: its probes are void and
                    // its count holds; the next turn tries again.
                    let wheel = &mut self.wheel;
                    let mut n = 0;
                    self.tracker.void_all(peer, |timer| {
                        wheel.cancel(timer);
                        n += 1;
                    });
                    if let Some(p) = self.peers.get_mut(peer) {
                        p.stats.settled_all(n, true, now.mono_us());
                    }
                    let msg = format!(
                        "this machine: {reason} (peer {}'s probes are not counted)",
                        self.name(peer)
                    );
                    self.say_limited(Topic::Local, now, msg);
                    return;
                }
                self.report_trouble(peer, reason, state);
                if !covered
                    && !matches!(
                        reason,
                        CloseReason::ProbeTimeout | CloseReason::HandshakeTimeout
                    )
                {
                    self.fail_probes(peer, now);
                }
            }
            Role::In {
                peer: None, from, ..
            } => {
                let ip = from.ip().to_canonical();
                self.waiting.remove(conn, ip);
                let topic = if self.peer_ips.contains(&ip) {
                    Topic::Unproved
                } else {
                    Topic::Strangers
                };
                match (c.hs, reason) {
                    // Said by whoever closed it, or routine.
                    (
                        _,
                        CloseReason::WrongNode
                        | CloseReason::AuthFailed
                        | CloseReason::OldVersion
                        | CloseReason::Evicted
                        | CloseReason::Done,
                    ) => {}
                    // An HTTP client going away, or idle too long: routine.
                    (_, CloseReason::ClosedByPeer | CloseReason::NoHello) if c.http.is_some() => {}
                    // Gone after our nonce, before its proof: nothing of ours was refused
                    // (we had proved nothing yet), and anyone at a peer's address can do
                    // it.
                    (Some(hs), CloseReason::ClosedByPeer) => {
                        let msg = format!(
                            "connection from {from} (as peer {}) closed by the other side \
                             before it proved it knows the secret",
                            self.name(hs.peer)
                        );
                        self.say_limited(topic, now, msg);
                    }
                    _ => {
                        let msg = format!("connection from {from} closed: {reason}");
                        self.say_limited(topic, now, msg);
                    }
                }
            }
            Role::In {
                peer: Some(peer), ..
            } => {
                if let Some(p) = self.peers.get_mut(peer) {
                    if p.inbound == Some(conn) {
                        p.inbound = p.inbound_older.take();
                    } else if p.inbound_older == Some(conn) {
                        p.inbound_older = None;
                    }
                }
                // A peer closing its own connection is routine (it restarted or
                // redialled); anything else is worth a line.
                if !matches!(
                    reason,
                    CloseReason::ClosedByPeer | CloseReason::Replaced | CloseReason::Reconfigured
                ) {
                    // Rate-limited: anyone on a peer's host can open connections in its
                    // name and misbehave (without a secret, that is all it takes).
                    let msg = format!("connection from peer {} closed: {reason}", self.name(peer));
                    self.say_limited(Topic::PeerConns, now, msg);
                }
            }
        }
    }

    fn report_trouble(&mut self, peer: usize, reason: CloseReason, state: LinkState) {
        let kind = reason.class();
        let authenticated = self.auth.is_some();
        let own = self.peers.get(self.me).map(|p| p.addr.ip());
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        if p.trouble == Some(kind) {
            return;
        }
        p.trouble = Some(kind);
        // A peer that hangs up on our HELLO does not recognise us: most often this
        // node's `ip` in the config is not the address it really connects from.
        let hint = match (state, reason) {
            (LinkState::Handshaking, CloseReason::ClosedByPeer | CloseReason::Io { .. })
                if authenticated =>
            {
                " during the authenticated handshake: does it have the same secret_file, and \
                 know this node? (see the peer's own stderr)"
                    .to_string()
            }
            (LinkState::Handshaking, CloseReason::ClosedByPeer | CloseReason::Io { .. }) => {
                format!(
                    " during the handshake: does it know this node? (configured ip {}; see the peer's own stderr)",
                    own.map_or_else(String::new, |ip| ip.to_string())
                )
            }
            _ => String::new(),
        };
        let msg = format!("peer {}: {reason}{hint}", p.name);
        self.say(msg);
    }

    fn missed(&mut self, peer: usize, now: Now) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.missed_at = Some(now.mono);
        }
    }

    /// Every probe in flight to `peer` is a miss.
    fn fail_probes(&mut self, peer: usize, now: Now) {
        if self.tracker.outstanding_len(peer) > 0 {
            self.missed(peer, now);
        }
        let mut changes = Vec::new();
        let mut n = 0;
        let wheel = &mut self.wheel;
        self.tracker.miss_all(peer, now.mono, |timer, change| {
            wheel.cancel(timer);
            changes.extend(change);
            n += 1;
        });
        if let Some(p) = self.peers.get_mut(peer) {
            p.stats.settled_all(n, false, now.mono_us());
        }
        for change in changes {
            self.log_change(change, now);
        }
    }

    fn schedule_day_check(&mut self, now: Now) {
        let wait = logline::ms_until_next_midnight(now.wall).min(DAY_CHECK_MS);
        self.wheel.schedule(now.mono + wait.max(1), Timer::DayCheck);
    }

    /// If the wall clock's UTC day changed, asks for the new day's file with every peer's
    /// non-zero count carried over. Called on entry to every event, before anything can
    /// change a count, so each carried count is the one the new file's next line for that
    /// peer continues from: every day's file reads on its own. A wall clock that stepped
    /// since the last event ([`clock::step`]) is said first, once.
    fn roll_day(&mut self, now: Now) {
        // Before the day's switch: a step across midnight is said, then its new file.
        if let Some(step) = clock::step(self.last, now) {
            self.say(clock::said(step, now));
        }
        self.last = now;
        let day = logline::day_number(now.wall);
        if day == self.day {
            return;
        }
        self.day = day;
        let carried = self.carried();
        self.actions.push_back(Action::Log(LogRecord::NewDay {
            wall: now.wall,
            carried,
        }));
        self.prune_logs(now);
    }

    /// Peers with a non-zero count and that count (capped at the threshold).
    fn carried(&self) -> Vec<(PeerId, u32)> {
        let threshold = self.tracker.threshold();
        self.peer_indices()
            .filter_map(|p| {
                let n = self.tracker.timeouts(p).min(threshold);
                (n != 0).then_some((PeerId(p), n))
            })
            .collect()
    }

    /// With `log_retention_days` set, asks the shell to delete the day files older than
    /// that: those of days strictly before `today - days` (so `days` = 7 keeps today's
    /// file and the 7 before it).
    fn prune_logs(&mut self, now: Now) {
        if let Some(days) = self.retention_days {
            let before_day = logline::day_number(now.wall).saturating_sub(i64::from(days));
            self.actions.push_back(Action::PruneLogs { before_day });
        }
    }

    fn log_change(&mut self, change: Change, now: Now) {
        // Only a wall clock that stepped inside this very event lands here.
        self.roll_day(now);
        self.actions.push_back(Action::Log(LogRecord::Event {
            wall: now.wall,
            peer: PeerId(change.peer),
            timeouts: change.timeouts,
        }));
        if matches!(
            change.kind,
            ChangeKind::WentOffline | ChangeKind::Recovered { was_offline: true }
        ) && let Some(p) = self.peers.get_mut(change.peer)
        {
            p.stats.transitions += 1;
            p.stats.since_wall = now.wall;
        }
        let name = self.name(change.peer).to_string();
        match change.kind {
            ChangeKind::Missed => {}
            ChangeKind::WentOffline => {
                self.say(format!(
                    "peer {name} offline after {} timeouts",
                    change.timeouts
                ));
                self.hook(change.peer, PeerState::Offline, change.timeouts, now);
            }
            ChangeKind::Recovered { was_offline: true } => {
                self.say(format!("peer {name} back online"));
                self.hook(change.peer, PeerState::Online, 0, now);
            }
            ChangeKind::Recovered { was_offline: false } => {}
        }
    }
}

/// Which side's proof (mirrors `auth::Direction`, which exists only with the feature).
#[derive(Debug, Clone, Copy)]
enum Direction {
    Connector,
    Listener,
}

#[cfg(feature = "auth")]
impl From<Direction> for crate::auth::Direction {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Connector => crate::auth::Direction::Connector,
            Direction::Listener => crate::auth::Direction::Listener,
        }
    }
}

/// How a connection's next line is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineMode {
    /// The mesh protocol.
    Protocol,
    /// An accepted connection between requests: an HTTP request line, or the protocol.
    MaybeHttp,
    /// Inside an HTTP request head: header lines.
    Http,
}

fn line_mode(c: &Conn) -> LineMode {
    match c.role {
        Role::In { peer: None, .. } if c.hs.is_none() => match c.http {
            Some(h) if h.open => LineMode::Http,
            _ => LineMode::MaybeHttp,
        },
        _ => LineMode::Protocol,
    }
}

/// Decodes one line into owned values.
fn decode(mode: LineMode, line: &[u8]) -> Input {
    // Each line's length with its line end (counted as 2, `\r\n`), for the head limit.
    let len = line.len().saturating_add(2);
    match mode {
        LineMode::Http => return Input::HttpHeader(request::header(line), len),
        LineMode::MaybeHttp => {
            if let Some(request) = request::request_line(line) {
                return Input::HttpRequest(request, len);
            }
        }
        LineMode::Protocol => {}
    }
    match message::parse(line) {
        Ok(Message::Hello { name, .. }) => Input::Hello {
            name: name.to_string(),
        },
        Ok(Message::Ping { seq }) => Input::Ping(seq),
        Ok(Message::Pong { seq }) => Input::Pong(seq),
        Ok(Message::Challenge {
            version,
            name,
            nonce,
        }) => Input::Challenge {
            version,
            name: name.to_string(),
            nonce,
        },
        Ok(Message::Response { .. }) => Input::Response,
        Ok(Message::Proof { mac }) => Input::Proof(mac),
        Ok(Message::Unknown { .. }) => Input::Unknown,
        Err(e) => Input::Bad(CloseReason::Malformed(e)),
    }
}

/// `<verb><seq>\n` into `buf` (a u64 has at most 20 digits, so 64 bytes always fit).
fn encode_seq<'b>(buf: &'b mut [u8; 64], verb: &[u8; 5], seq: u64) -> &'b [u8] {
    let mut digits = [0u8; 20];
    let mut n = seq;
    let mut len = 0;
    loop {
        if let Some(d) = digits.get_mut(len) {
            *d = b'0' + (n % 10) as u8;
        }
        len += 1;
        n /= 10;
        if n == 0 || len == digits.len() {
            break;
        }
    }
    let mut at = 0;
    for &b in verb
        .iter()
        .chain(digits.iter().take(len).rev())
        .chain(b"\n")
    {
        if let Some(slot) = buf.get_mut(at) {
            *slot = b;
        }
        at += 1;
    }
    buf.get(..at).unwrap_or_default()
}

const _: () = assert!(MAX_LINE >= 64);
