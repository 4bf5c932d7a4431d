//! This node's links to its peers: dialling, the link's life until it carries probes,
//! stuck links abandoned, and how a link's end is reported.
//!
//! Two outbound connections per peer ([`LINKS_PER_PEER`]; one to a node of the earlier
//! tool, or to a peer that closes our older link whenever the second comes up) carry this
//! node's probes: the handshake, then `PING seq` answered by `PONG seq`, each probe on
//! one ready link and hedged on the other, or on every ready link while the peer is dual
//! (`probe.rs`, "Hedged probes"), the first reply counting. A link that has not finished its handshake
//! within `timeout` is dropped; a link on which a probe has gone unanswered for
//! [`stuck_ms`] is dropped and redialled at the peer's turn (a silently partitioned peer
//! would otherwise be reached again only when TCP's backed-off retransmits get through,
//! tens of seconds after the heal), but not at a probe's first timeout: under random loss
//! TCP is repairing a segment, and the probes behind it arrive with the repair. A peer
//! that completes a fresh handshake with us while our link to it is down or has a probe
//! overdue is redialled at once too: it is reachable. docs/protocol.md has the
//! measurements.
//!
//! A link that fails (refused, reset, closed) fails every probe waiting on it, unless the
//! other link is ready: then the probes it does not carry yet (a clean peer's probe goes
//! on one link, see `probe.rs`, "Hedged probes") are sent on it at once and keep their
//! deadlines, and the peer turns dual. With no other link ready, a link merely dropped
//! for slowness leaves them to their own deadlines, so each is counted once, at its time;
//! this machine's trouble voids them.

use super::conn::{Conn, Link, Stage, State};
use super::input::Input;
use super::quiet::Topic;
use super::{Action, CloseReason, ConnId, Engine, LinkState, Message, Now, PeerId, Timer};

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

/// The shortest retransmission timeout this node asks the kernel for on every mesh
/// socket (`TCP_RTO_MIN_US`, Linux 6.15 and later): `timeout / 6`, within 5..=200 ms
/// (Linux's default floor is 200 ms, and the option takes nothing above it). A segment
/// lost once is resent after `srtt + max(4 × rttvar, this)`, so with
/// `TCP_THIN_LINEAR_TIMEOUTS` (no backoff for the first six retransmissions of a stream
/// as thin as ours) a probe survives two or three losses in a row within its `timeout`
/// instead of one at most.
/// This is what keeps random loss from reading as outages: docs/protocol.md, "Links
/// under loss", has the measurements. Within the timeout, not far below it: the kernel
/// still adds the measured round trip and its variation, so a slow path is not resent
/// early.
pub fn rto_min_ms(timeout: u64) -> u64 {
    (timeout / 6).clamp(5, 200)
}

/// How long a ready link may leave a probe unanswered before it is abandoned and
/// redialled: `max(3 × timeout, 1 s)`. TCP repairs a lost segment after one RTO (at least
/// [`rto_min_ms`], 200 ms on a kernel that refuses it; the first retransmission, a tail
/// loss probe, without backoff), then, without linear timeouts, backs off: a segment
/// lost three times in a row arrives 4 RTOs (800 ms or more) late, and its next
/// retransmission would be 8 RTOs late. A link stuck that long is worth less
/// than a redial, which itself costs a second when its SYN is lost (the 1 s floor). Any
/// sooner, random loss tears links down and the probes queued on them start over on a
/// redial that loss makes slow (docs/protocol.md, "Links under loss").
pub fn stuck_ms(timeout: u64) -> u64 {
    timeout.saturating_mul(3).max(1000)
}

/// Links this node keeps to each peer (a node of the earlier tool gets one): a probe left
/// unanswered on one goes out on the other too (at once while the peer is dual) and the
/// first reply counts, so a loss that stalls one TCP stream (head-of-line blocking behind
/// a retransmission) rarely stalls both.
pub const LINKS_PER_PEER: usize = 2;

/// Closes in a row of our older link right after the second came up that make a peer an
/// earlier version (one link for it).
pub(super) const REPLACED_SINGLE: u8 = 3;

/// A peer's links that carry probes, at most two, the present ones first.
#[derive(Clone, Copy)]
pub(super) struct Ready(pub(super) [Option<ConnId>; 2]);

impl Ready {
    pub(super) fn iter(self) -> impl Iterator<Item = ConnId> {
        self.0.into_iter().flatten()
    }

    pub(super) fn len(self) -> usize {
        self.iter().count()
    }
}

impl Engine {
    /// The state of our link to `peer`, `None` when there is none.
    pub fn link_state(&self, peer: PeerId) -> Option<LinkState> {
        let p = self.peers.get(peer.0)?;
        [p.link, p.spare]
            .into_iter()
            .flatten()
            .filter_map(|id| Some(self.conns.get(id)?.link()?.stage.link_state()))
            .max_by_key(|&s| s as u8)
    }

    /// `peer`'s links (first, second), each if it exists.
    pub(super) fn links(&self, peer: usize) -> [Option<ConnId>; 2] {
        self.peers
            .get(peer)
            .map_or([None, None], |p| [p.link, p.spare])
    }

    /// `peer`'s links that carry probes now (ready, or our `PROOF` sent: see
    /// [`Engine::carries_probes`]), first link first; no allocation (every turn asks).
    pub(super) fn ready_links(&self, peer: usize) -> Ready {
        let [a, b] = self
            .links(peer)
            .map(|l| l.filter(|&id| self.carries_probes(id)));
        Ready(if a.is_none() { [b, None] } else { [a, b] })
    }

    /// How long link `id` has left its oldest unanswered probe unanswered (0: none).
    pub(super) fn stalled(&self, id: ConnId, now: Now) -> u64 {
        self.conns
            .get(id)
            .and_then(|c| c.link()?.awaiting.front())
            .map_or(0, |&(_, at)| now.mono.saturating_sub(at))
    }

    /// The socket of `conn` (an [`Action::Connect`]) is connected: the handshake starts
    /// (to a node of the earlier tool, which has none, probes go out at once).
    pub fn on_connected(&mut self, conn: ConnId, now: Now) {
        self.roll_day(now);
        let Some(link) = self.conns.get_mut(conn).and_then(Conn::link_mut) else {
            return;
        };
        let Stage::Connecting { deadline } = link.stage else {
            return;
        };
        link.stage = Stage::Hello { deadline };
        let peer = link.peer;
        if self.peers.get(peer).is_some_and(|p| p.legacy) {
            let prober = Box::default();
            return self.link_up(
                conn,
                peer,
                Stage::Legacy {
                    since: now.mono,
                    prober,
                },
                now,
            );
        }
        self.start_handshake(conn, deadline, now);
    }

    /// Our link to `peer` reached a node that says it is `name`, not `peer`: said once
    /// until a handshake with it succeeds (like the close that follows: a redial every
    /// round would otherwise repeat it all day), and closed.
    pub(super) fn wrong_node(&mut self, conn: ConnId, peer: usize, name: &str, now: Now) {
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

    /// Our link to `peer` completed its handshake (the peer's `HELLO`, or its `PROOF`)
    /// with a node that says it is `name`.
    pub(super) fn link_ready(&mut self, conn: ConnId, peer: usize, name: &str, now: Now) {
        if name != self.name(peer) {
            return self.wrong_node(conn, peer, name, now);
        }
        self.link_up(conn, peer, Stage::Ready { since: now.mono }, now);
    }

    /// Our link `conn` to `peer` is up, now at `ready` (ready, or to an old node): the
    /// probes waiting for it go out, unless they already went behind our `PROOF`.
    fn link_up(&mut self, conn: ConnId, peer: usize, ready: Stage, now: Now) {
        let Some(link) = self.conns.get_mut(conn).and_then(Conn::link_mut) else {
            return;
        };
        let pipelined = matches!(link.stage, Stage::Proved { .. });
        let duplex = self.duplex && matches!(ready, Stage::Ready { .. });
        if let Some(t) = link.stage.deadline() {
            self.wheel.cancel(t);
        }
        link.stage = ready;
        if let Some(p) = self.peers.get_mut(peer) {
            let first = !p.ever_connected;
            p.ever_connected = true;
            if p.trouble.take().is_some() || first {
                let msg = format!("peer {}: connected", p.name);
                self.say(msg);
            }
        }
        // We take the peer's `PING`s on this link from now on: it may write its probe
        // with its `PONG` to ours (see `probe.rs`). Earlier builds ignore the verb on a
        // proved connection; an old node's HTTP gets none.
        if duplex {
            self.send_message(conn, Message::Duplex, now);
        }
        if !pipelined {
            self.send_waiting_probes(conn, peer, now);
        }
        self.view_link_up(conn, peer, now);
    }

    /// Probes started while our link to `peer` was not carrying them go out on `conn`.
    pub(super) fn send_waiting_probes(&mut self, conn: ConnId, peer: usize, now: Now) {
        let waiting: Vec<u64> = self.tracker.outstanding(peer).collect();
        for seq in waiting {
            self.send_probe(conn, peer, seq, now);
        }
    }

    /// The state of our link `conn` (`None` for an accepted connection or a stale id).
    pub(super) fn link_state_of(&self, conn: ConnId) -> Option<LinkState> {
        Some(self.conns.get(conn)?.link()?.stage.link_state())
    }

    /// Whether our link `conn` carries probes now: its handshake is done, or our `PROOF`
    /// went out (probes follow it on the same ordered stream; their `PONG`s count only
    /// after the listener's proof, which comes before them).
    pub(super) fn carries_probes(&self, conn: ConnId) -> bool {
        self.conns.get(conn).and_then(Conn::link).is_some_and(|l| {
            matches!(
                l.stage,
                Stage::Ready { .. } | Stage::Legacy { .. } | Stage::Proved { .. }
            )
        })
    }

    /// When our link `conn` became ready (0 while it is not, or is gone).
    fn ready_since(&self, conn: ConnId) -> u64 {
        self.conns
            .get(conn)
            .and_then(Conn::link)
            .and_then(|l| l.stage.ready_since())
            .unwrap_or(0)
    }

    /// Abandons `peer`'s stuck links (a probe unanswered on it for [`stuck_ms`]: TCP
    /// would otherwise hold our probes in its backed-off retransmit queue long after the
    /// path is back) and dials the links it should have.
    pub(super) fn tend_links(&mut self, peer: usize, now: Now) {
        let bound = stuck_ms(self.settings.timeout);
        let ready = self.ready_links(peer);
        for id in ready.iter() {
            if self.stalled(id, now) >= bound {
                self.close(id, CloseReason::ProbeTimeout, now);
            }
        }
        // Both links lived side by side for a while: the peer keeps two.
        let settled = ready.len() == 2
            && ready.iter().all(|id| {
                self.link_state_of(id) == Some(LinkState::Ready)
                    && now.mono.saturating_sub(self.ready_since(id))
                        > self.settings.timeout.saturating_mul(2)
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
    pub(super) fn connect(&mut self, peer: usize, now: Now) {
        let Some(addr) = self.peers.get(peer).map(|p| p.addr) else {
            return;
        };
        let (wheel, due) = (&mut self.wheel, now.mono + self.settings.timeout);
        let conn = self.conns.insert_with(|id| {
            Conn::new(State::Link(Link {
                peer,
                stage: Stage::Connecting {
                    deadline: wheel.schedule(due, Timer::Connect(id)),
                },
                awaiting: Default::default(),
            }))
        });
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

    /// `peer` completed a fresh handshake with us, so it is reachable: if our link to it
    /// is down or its probes are going unanswered, redial now instead of at the next
    /// round. Only a link with a probe overdue on it is stale; one made since the peer's
    /// last miss is fresh: leave it (both sides redialling on each other's new handshakes
    /// would knock each other's fresh links down in turn).
    pub(super) fn redial_stale(&mut self, peer: usize, now: Now) {
        let missed_at = self.peers.get(peer).and_then(|p| p.missed_at);
        let links = self.links(peer);
        if links.iter().all(Option::is_none) {
            return self.connect(peer, now);
        }
        for id in self.ready_links(peer).iter() {
            let fresh = self
                .conns
                .get(id)
                .is_none_or(|_| missed_at.is_none_or(|m| self.ready_since(id) > m));
            if !fresh && self.stalled(id, now) >= self.settings.timeout {
                self.close(id, CloseReason::ProbeTimeout, now);
                self.connect(peer, now);
            }
        }
    }

    /// A line on our link `conn` to `peer`: the handshake's, then the replies.
    pub(super) fn link_input(
        &mut self,
        conn: ConnId,
        peer: usize,
        state: LinkState,
        input: Input,
        now: Now,
    ) {
        match (state, input) {
            // After the handshake an unknown verb is a newer peer's business, and so is
            // what only a proved connection carries (a newer peer's use of it).
            (
                LinkState::Ready,
                Input::Unknown | Input::View { .. } | Input::Clock(_) | Input::Duplex,
            ) => {}
            (LinkState::Ready, Input::Clocked(t0, t1)) => self.on_clocked(peer, t0, t1, now),
            (LinkState::Ready, Input::Pong(seq)) => self.pong(conn, peer, seq, now),
            // The peer's own probe, written with its reply to ours: we sent `DUPLEX` on
            // this link (see `probe.rs`).
            (LinkState::Ready, Input::Ping(seq)) => {
                self.send_message(conn, Message::Pong { seq }, now);
                self.awake_for_replies(now);
            }
            (LinkState::Handshaking, input) => self.link_handshake(conn, peer, input, now),
            _ => self.close(conn, CloseReason::Unexpected, now),
        }
    }

    /// Our link `conn` to `peer` is gone. A failure fails every probe waiting on it,
    /// unless another link carries them on (ready now, or once its handshake is done;
    /// probes riding on a connection of the peer's are not the link's to fail,
    /// `ack.rs`); a timeout (handshake or probe) leaves
    /// them to their own deadlines; this machine's trouble, or a reload, voids them.
    /// Reports a peer's trouble once per kind.
    pub(super) fn link_closed(
        &mut self,
        conn: ConnId,
        peer: usize,
        state: LinkState,
        reason: CloseReason,
        now: Now,
    ) {
        let covered = self.forget_link(conn, peer);
        self.note_replaced(peer, reason, covered, now);
        match reason {
            // An old node's link whose response ran to the end of the connection: its
            // probes are redialled with the link, nothing failed.
            CloseReason::Done => {}
            // The peer was removed or moved: what was in flight on the old link says
            // nothing about it now. Its count holds.
            CloseReason::Reconfigured => self.void_probes(peer, now),
            reason if reason.is_local() => {
                // This machine's trouble, not the peer's: its probes are void and its
                // count holds; the next turn tries again.
                self.void_probes(peer, now);
                let msg = format!(
                    "this machine: {reason} (peer {}'s probes are not counted)",
                    self.name(peer)
                );
                self.say_limited(Topic::Local, now, msg);
            }
            reason => {
                self.report_trouble(peer, reason, state);
                let timeout = matches!(
                    reason,
                    CloseReason::ProbeTimeout | CloseReason::HandshakeTimeout
                );
                // A link abandoned for slowness (`timeout`) was judged at a turn, long
                // after its probes' hedge: each keeps its own deadline, and its copy on
                // the other link if it has one.
                if !timeout && covered.is_some() {
                    // The link left carries them on: the probes only the closed link
                    // carried (a clean peer's, see `probe.rs`) go out on it now.
                    self.carry_on(peer, now);
                } else if !timeout && self.link_coming(peer) {
                    // The link left is still on its way (a redial): the probes go out on
                    // it once it is up (`send_waiting_probes`), within their deadlines;
                    // if it fails too, they fail then. A peer that closed one link and
                    // not the other is reachable: at a third connection in our name it
                    // drops the one it last heard from least, and a link that only
                    // carried the handshake (our probes riding on its `PONG`s, `ack.rs`)
                    // can be that one.
                } else if !timeout {
                    self.fail_probes(peer, now);
                }
            }
        }
    }

    /// Whether `peer`'s link left is being dialled or handshaking: it will carry the
    /// probes in flight once up.
    fn link_coming(&self, peer: usize) -> bool {
        self.peers
            .get(peer)
            .and_then(|p| p.link)
            .and_then(|l| self.link_state_of(l))
            .is_some_and(|s| s != LinkState::Ready)
    }

    /// Drops `conn` from `peer`'s links. Returns when the link left came up, if it is
    /// ready: it carries the probes on, and they keep their deadlines.
    fn forget_link(&mut self, conn: ConnId, peer: usize) -> Option<u64> {
        let p = self.peers.get_mut(peer)?;
        if p.link == Some(conn) {
            p.link = p.spare.take();
        } else if p.spare == Some(conn) {
            p.spare = None;
        }
        self.conns.get(p.link?)?.link()?.stage.ready_since()
    }

    /// A node that closes our older link as soon as the second is up (`covered`: the
    /// other came up then), again and again, answers one connection per peer (an
    /// earlier version): it gets one link from now on. (Once can be loss: a handshake it
    /// completed and we gave up made it drop one of ours.)
    fn note_replaced(&mut self, peer: usize, reason: CloseReason, covered: Option<u64>, now: Now) {
        let Some(p) = self.peers.get_mut(peer).filter(|p| !p.single) else {
            return;
        };
        if reason == CloseReason::ClosedByPeer
            && covered.is_some_and(|at| now.mono.saturating_sub(at) <= self.settings.timeout)
        {
            p.replaced = p.replaced.saturating_add(1);
        }
        if p.replaced >= REPLACED_SINGLE {
            p.single = true;
            let msg = format!(
                "peer {}: it closes our first link when the second comes up (an earlier \
                 version?): probing it on one link",
                p.name
            );
            self.say(msg);
        }
    }

    pub(super) fn report_trouble(&mut self, peer: usize, reason: CloseReason, state: LinkState) {
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
}
