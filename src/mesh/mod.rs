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
//! This file is the engine's face: its state, the events it takes and the timers it
//! runs, each handed to the room that owns it. The rooms (docs/architecture.md walks
//! them):
//! - `link.rs`: our links to each peer, from the dial to their end; `probe.rs`: a
//!   probe's life on them, from its peer's turn to its fate and the log record of a
//!   change; `legacy_http.rs`: the earlier tool's HTTP, its probers answered and its
//!   nodes probed.
//! - `admission.rs`: accepted connections until they prove themselves (two pools, so
//!   strangers cannot lock peers out); `inbound.rs`: a peer's proved connections, its
//!   `PING`s answered.
//! - `handshake.rs`: `HELLO`, or with a secret the authenticated handshake, on both ends;
//!   `proof.rs`: its nonces and proofs (a no-op twin without the `auth` feature).
//! - `input.rs` and `output.rs`: bytes in (lines, decoded) and out (bounded);
//!   `conn.rs`: what a connection holds in each of its states.
//! - `day.rs`: the log's days and their pruning; `clock.rs`: a wall clock that steps
//!   (said once per step); `hooks.rs`: the `on_change` runs;
//!   `reload.rs`: a new config applied; `settings.rs`: what the engine takes from it;
//!   `quiet.rs`: rate limits for operator lines; `stats.rs`: counters for metrics.
//!
//! Limits: a line is at most [`MAX_LINE`](crate::wire::framer::MAX_LINE) bytes and a
//! connection's unsent output at most [`MAX_OUTPUT`] bytes; breaking a limit or the
//! protocol closes that one connection with a typed [`CloseReason`]. Nothing here panics
//! on any input or sequence of calls; stale ids (a connection already closed) are
//! ignored.

mod ack;
mod action;
mod admission;
#[cfg(all(test, feature = "auth"))]
mod auth_tests;
pub(crate) mod clock;
mod conn;
mod day;
mod handshake;
mod hooks;
mod inbound;
mod input;
mod legacy_http;
mod link;
mod output;
mod peer;
mod probe;
mod proof;
mod quiet;
mod reload;
mod settings;
mod stats;
#[cfg(test)]
mod tests;
mod view;

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;

pub use action::{Action, CloseReason, HookId, HookRun, IoOp, LogRecord, Now, PeerId, PeerState};
pub use admission::{
    HANDSHAKE_TIMEOUT_MS, MAX_PENDING_PER_SOURCE, MAX_STRANGERS, STRANGER_TIMEOUT_MS,
};
pub use conn::{ConnId, LinkState, Role};
pub use day::DAY_CHECK_MS;
pub use hooks::MAX_RUNNING as MAX_RUNNING_HOOKS;
pub use legacy_http::HTTP_IDLE_MS;
pub use link::{LINKS_PER_PEER, rto_min_ms, stuck_ms, user_timeout_ms};
pub use output::MAX_OUTPUT;
pub use probe::{BURST, DUAL_TURNS, PHASES, hedge_ms};
pub use proof::{Auth, NonceSource, Secret};
pub use quiet::WINDOW_MS as QUIET_WINDOW_MS;
pub use stats::{
    Closes, ConnCounts, Histogram, PeerStats, PeerView, RECENT_MINUTES, RTT_BUCKETS_US,
};
pub use view::{
    Judged, MeshView, PeerVerdict, REFRESH_MS as VIEW_REFRESH_MS, RowKind, Verdict, ViewRow,
    settle_ms, span_words,
};

use crate::config::Config;
use crate::logline;
use crate::timer::{TimerId, Wheel};
use crate::tracker::Tracker;
use crate::wire::message::Message;
use admission::Admission;
use conn::{Conn, Slab, State};
use input::Input;
use peer::Peer;
use quiet::{Quiet, Topic};
use settings::Settings;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Check whether the wall clock's UTC day changed.
    DayCheck,
    /// Probe `seq` of peer `peer` has had no reply for `timeout`.
    Probe { peer: usize, seq: u64 },
    /// Peer `peer`'s probes in flight on one link have had no reply for the hedge delay:
    /// they go out on its other ready link (see `probe.rs`, "Hedged probes").
    Hedge(usize),
    /// `conn` (ours) has not completed its handshake in time.
    Connect(ConnId),
    /// `conn` (accepted) has not sent its `HELLO` in time.
    Hello(ConnId),
    /// Hook run `id` reached its deadline.
    Hook(HookId),
    /// The rate limit's window of a kind of operator line ended.
    Quiet(Topic),
    /// Our view goes to every peer (a change, held back to one `VIEW` per interval).
    ViewSend,
    /// Verdicts are judged (after a change, at a settle deadline, or a refresh later).
    Judge,
}

/// Room for actions kept between bursts; a queue grown beyond it is freed once drained.
const KEPT_ACTIONS: usize = 64;

/// A node's whole protocol state. See the [module documentation](self).
pub struct Engine {
    /// This node's name and slot: fixed for the engine's life.
    whoami: String,
    me: usize,
    /// The config in force.
    settings: Settings,
    peers: Vec<Peer>,
    conns: Slab<Conn>,
    wheel: Wheel<Timer>,
    /// Every peer's next turn, (peer, due): apart from the other timers so that a wake-up
    /// can take the turns due within the slack, and nothing else, early (see [`probe`]).
    rounds: Wheel<(usize, u64)>,
    /// The turns of the peers earlier in the node list (the responder's of each pair,
    /// see `probe.rs`): apart, because a wake-up takes them early only with a `PONG` to
    /// that peer, not every one due within the slack.
    answer_rounds: Wheel<(usize, u64)>,
    /// Peers whose `PING` on a duplex connection was answered since the last
    /// [`Engine::handle_timeout`]: their turns may go with the `PONG`.
    answered: Vec<usize>,
    /// Connections with probes riding on their writes, waiting for TCP's
    /// acknowledgement (see `ack.rs`).
    acks: Vec<ConnId>,
    /// Whether our links announce `DUPLEX` (off only for the fuzzer's model).
    duplex: bool,
    /// When we were last awake for replies, until the next [`Engine::handle_timeout`]
    /// takes the turns due within the slack.
    awake: Option<u64>,
    /// Until when the shell should take no input after the turns just taken, if at all
    /// (see [`Engine::take_linger`]).
    linger: Option<u64>,
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
    /// Hooks: the deadline of a run if `on_change` is set, the runs going on, and the
    /// peers whose change waits (see [`hooks`]).
    hooks: hooks::Hooks,
    /// The secret and nonces of the authenticated handshake, when one is configured.
    auth: Option<Auth>,
    /// The clocks of the latest event (for a close that [`Engine::wrote`] completes).
    last: Now,
    /// Links kept per peer ([`LINKS_PER_PEER`]).
    links_per_peer: usize,
    /// Turns are never taken early (the fuzzer's model predicts turns at their due time).
    no_slack: bool,
    /// The agreed node order, views sent and verdicts (see `view.rs`).
    views: view::Views,
}

impl Engine {
    /// An engine for `cfg`, started at `now`: it asks to connect to every peer at once
    /// (so the first round, one interval later, finds the links up). The shell has
    /// already written the log's `---` and header for `now.wall`.
    pub fn new(cfg: &Config, now: Now) -> Engine {
        let settings = Settings::new(cfg);
        let peers = settings
            .nodes
            .iter()
            .map(|n| Peer::new(n.name.clone(), n.addr, n.legacy_http, now.wall))
            .collect();
        let mut tracker = Tracker::new(settings.nodes.len(), settings.offline_threshold);
        tracker.set_online_threshold(settings.online_threshold);
        let mut engine = Engine {
            whoami: cfg.whoami.clone(),
            me: cfg.me,
            peers,
            conns: Slab::default(),
            wheel: Wheel::new(now.mono),
            rounds: Wheel::new(now.mono),
            answer_rounds: Wheel::new(now.mono),
            answered: Vec::new(),
            acks: Vec::new(),
            duplex: true,
            awake: None,
            linger: None,
            tracker,
            actions: VecDeque::new(),
            day: logline::day_number(now.wall),
            quiet: Quiet::default(),
            waiting: Admission::default(),
            peer_ips: settings.ips(),
            closes: Closes::default(),
            hooks: hooks::Hooks::new(settings.hook_timeout),
            auth: None,
            last: now,
            links_per_peer: LINKS_PER_PEER,
            no_slack: false,
            views: view::Views::default(),
            settings,
        };
        engine.view_reset();
        // The second link follows at each peer's first turn.
        let peers: Vec<usize> = engine.peer_indices().collect();
        for peer in peers {
            engine.connect(peer, now);
        }
        // Each peer's turn: together in a small mesh, on the wall clock's beat (see
        // `probe`).
        let peers: Vec<usize> = engine.peer_indices().collect();
        for peer in peers {
            let due = engine.first_turn(peer, now);
            engine.schedule_turn(peer, due);
        }
        engine.schedule_day_check(now);
        engine.prune_logs(now);
        engine
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

    /// Takes every turn at its due time, none early within the slack: for the fuzzer's
    /// model, which predicts turns without it (the simulator and engine tests check the
    /// slack).
    #[doc(hidden)]
    pub fn set_no_slack(&mut self) {
        self.no_slack = true;
        // Without slack no turn waits for a peer's `PING` (see `probe.rs`): the first
        // turns placed by `new` for that are placed again, without the lag. Call it right
        // after `new`.
        let now = self.last;
        let waiting: Vec<usize> = self
            .peer_indices()
            .filter(|&p| self.peers.get(p).is_some_and(|p| p.answer_turn))
            .collect();
        for peer in waiting {
            if let Some(t) = self.peers.get(peer).and_then(|p| p.round) {
                self.cancel_turn(peer, t);
            }
            let due = self.first_turn(peer, now);
            self.schedule_turn(peer, due);
        }
    }

    /// Whether our links announce `DUPLEX` (on by default): off, peers never take their
    /// turns with their `PONG`s to ours, as with an earlier build. For tests and
    /// measurements of the difference.
    #[doc(hidden)]
    pub fn set_duplex(&mut self, on: bool) {
        self.duplex = on;
    }

    // ---------------------------------------------------------------------------------
    // What the shell asks.

    /// The next action to carry out, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        let action = self.actions.pop_front();
        if action.is_none() && self.actions.capacity() > KEPT_ACTIONS {
            // A burst (every peer dialled at start, a reload) would otherwise keep its
            // queue for the daemon's life: 112 bytes an action, thousands of them.
            self.actions = VecDeque::new();
        }
        action
    }

    /// When [`Engine::handle_timeout`] next has something to do (monotonic ms). The shell
    /// sleeps until then unless I/O comes first. Never `None` while the engine runs: the
    /// round timer is always armed.
    pub fn poll_at(&self) -> Option<u64> {
        let mut turn = self.rounds.next_deadline();
        let answer = self.answer_rounds.next_deadline();
        // Awake for replies with a turn due within the slack: it goes now.
        if let (Some(t), Some(at)) = (turn, self.awake)
            && t <= at.saturating_add(self.slack())
        {
            turn = Some(at.min(t));
        }
        [self.wheel.next_deadline(), turn, answer]
            .into_iter()
            .flatten()
            .min()
    }

    /// After a wake-up that took turns: the moment (monotonic ms) before which the shell
    /// should take no input, sleeping (not polling) until then, so that this round's
    /// replies and the others' probes are read in one wake-up rather than one each.
    /// `None`: poll as usual. Asked once after each [`Engine::handle_timeout`]; see
    /// `probe.rs`, "When turns come".
    pub fn take_linger(&mut self) -> Option<u64> {
        self.linger.take()
    }

    /// The live connection in slot `index` ([`ConnId::index`]), for a shell that indexes
    /// its sockets by slot.
    pub fn conn_at(&self, index: usize) -> Option<ConnId> {
        self.conns.id_at(index)
    }

    /// Who `conn` is: our link to a peer, or an accepted connection.
    pub fn role(&self, conn: ConnId) -> Option<Role> {
        self.conns.get(conn).map(Conn::role)
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

    /// The offline threshold.
    pub fn threshold(&self) -> u32 {
        self.tracker.threshold()
    }

    // ---------------------------------------------------------------------------------
    // Events.

    /// `conn`'s socket failed or was closed by the other side.
    pub fn on_closed(&mut self, conn: ConnId, mut reason: CloseReason, now: Now) {
        self.roll_day(now);
        // An old node closing our link with no request outstanding (its response ran to
        // the end, or it closes idle connections) is routine: the next probe redials.
        if reason == CloseReason::ClosedByPeer && self.legacy_idle(conn) {
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
        self.take_turns(now);
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

    /// One line from `conn`, decoded: each kind of connection has its own rules.
    fn on_input(&mut self, conn: ConnId, input: Input, now: Now) {
        let Some(role) = self.role(conn) else {
            return;
        };
        if let Input::Bad(reason) = input {
            return self.close(conn, reason, now);
        }
        match role {
            Role::Out { peer, state } => self.link_input(conn, peer, state, input, now),
            Role::In {
                from, peer: None, ..
            } => self.unproved_input(conn, from, input, now),
            Role::In { peer: Some(_), .. } => self.inbound_input(conn, input, now),
        }
    }

    fn on_timer(&mut self, timer: Timer, now: Now) {
        match timer {
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
                self.settle_hedge(peer);
                if let Some(change) = change {
                    self.log_change(change, now);
                }
                // The links stay: TCP is probably repairing a loss on them, and the
                // probes queued behind it arrive with the repair. A link stuck too long
                // is abandoned at the peer's next turn (`tend_links`).
            }
            Timer::Hedge(peer) => self.hedge_fired(peer, now),
            Timer::Connect(conn) => self.close(conn, CloseReason::HandshakeTimeout, now),
            Timer::Hello(conn) => self.close(conn, CloseReason::NoHello, now),
            Timer::Hook(id) => self.hook_deadline(id),
            Timer::ViewSend => self.broadcast_view(now),
            Timer::Judge => self.on_judge_timer(now),
            Timer::Quiet(topic) => {
                if let Some((held, span, until)) = self.quiet.window_ended(topic, now.mono) {
                    self.say(topic.summary(held, span));
                    self.wheel.schedule(until, Timer::Quiet(topic));
                }
            }
        }
    }

    /// Forgets `conn` and asks the shell to close it; what its end means is for its room
    /// to say: our link's ([`Engine::link_closed`]), an accepted connection's before its
    /// handshake ([`Engine::unproved_closed`]) or after ([`Engine::inbound_closed`]).
    fn close(&mut self, conn: ConnId, reason: CloseReason, now: Now) {
        let Some(c) = self.conns.remove(conn) else {
            return;
        };
        self.forget_acks(conn);
        if let Some(t) = c.deadline() {
            self.wheel.cancel(t);
        }
        self.actions.push_back(Action::Close { conn, reason });
        self.closes.count(reason);
        match c.state {
            State::Link(l) => {
                let state = l.stage.link_state();
                self.link_closed(conn, l.peer, state, reason, now)
            }
            State::Unproved(u) => self.unproved_closed(conn, &u, reason, now),
            State::Inbound(i) => self.inbound_closed(conn, i.peer, reason, now),
        }
    }
}
