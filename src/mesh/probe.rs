//! A probe's life: its peer's turn starts it, it goes out on one ready link (hedged on the
//! other) or on every ready link, and a reply, its deadline or its link's failure settles
//! it; each change of the peer's count becomes a log record.
//!
//! Every `interval` one probe per peer starts, with its own deadline of `timeout`; a peer
//! whose link is down is redialled and its probes go out once the handshake completes.
//! The [`Tracker`](crate::tracker::Tracker) turns outcomes into changes (DESIGN.md §2).
//!
//! # When turns come
//!
//! On a router wake-ups are the cost, so a round takes as few as its work needs:
//!
//! - A small mesh probes all its peers together: one slot a round. Only a round of more
//!   than [`BURST`] peers is spread, over `ceil(peers / BURST)` slots (at most
//!   [`PHASES`]), because a burst of that many writes would hold up the replies owed to
//!   others (1000 peers: 63 slots of about 16).
//! - Rounds start on the wall clock's multiples of the interval, so the nodes of a mesh
//!   whose clocks agree probe one
//!   another at the same moment: the `PING`s we send, the ones we answer and the `PONG`s
//!   that come back share a few wake-ups instead of one each. Each node walks its slots in
//!   its own rotation of the node list, so in a spread mesh the others' probes of one
//!   node fall in different slots, not all in one. Only the first turn reads the wall
//!   clock; after that turns keep their monotonic cadence (a clock step moves nothing).
//! - When we are awake anyway to answer a `PING` or take a `PONG`, turns due within the
//!   slack ([`Engine::slack`]: an eighth of the interval, less than half the gap between
//!   slots) are taken then, early, instead of waking again for them. The turn after
//!   stays one interval after the due time, so the phase does not drift.
//! - **Duplex probes** (a round of one slot). Of two nodes the one earlier in the node
//!   list probes first: the later one's turns for it lag half the slack
//!   ([`Engine::first_turn`]), and sit on a wheel of their own (`answer_rounds`). Such a
//!   turn is taken early only when that peer's `PING` is answered in this pass on a
//!   connection that said `DUPLEX`, and then a clean probe rides on the `PONG`
//!   (`Engine::answering`; the shell writes a pass's replies after its turns): nothing
//!   more is written, and TCP's acknowledgement of the `PONG` answers it (`ack.rs`). A
//!   pair's round is two writes instead of four. A wake-up for another peer leaves it at
//!   its due time, when it goes on our own link if the `PING` never came. Such a probe
//!   is hedged as on a link. docs/protocol.md, "Duplex probes".
//! - A wake-up that wrote probes lingers [`LINGER_MS`] before it takes input again (the
//!   shell sleeps rather than polls: [`Engine::take_linger`]): the others, woken by the
//!   same beat, write their probes and their replies to ours meanwhile, and one wake-up
//!   reads them all instead of one wake-up each (a 10-node mesh: 4.1 sleeps a node-round
//!   down to 2.7; BENCHMARKS.md). Not one whose turns all rode on `PONG`s: no reply
//!   comes for those (their acknowledgements wake nobody), and the wait would only be
//!   a sleep more (2.9 wake-ups a node-round down to 2.4). Only where so short a wait
//!   is small beside the gap between slots and the hedge delay's floor: not in a round
//!   spread over slots less than 16 ms apart (1000 peers at 1 s), nor with a timeout
//!   under 96 ms. A reply this node owes waits at most that long, and its peers' round
//!   trips to it include it.
//!
//! After a stall (SIGSTOP, suspend) the turns missed are skipped, keeping each peer's
//! phase.
//!
//! # Hedged probes
//!
//! A peer has two links so that a loss stalling one TCP stream (the probes behind a lost
//! segment wait for its repair) rarely stalls both. On a clean path the copy on the second
//! link is work for nothing, and a probe's writes are most of a node's syscalls (a 10-node
//! mesh: 72 of 75 per node per round). So a peer is in one of two states:
//!
//! - **Clean**: a turn writes its probe on one ready link, the first or the second by the
//!   probe's parity (both carry traffic, stay warm through NATs, and a dead one is still
//!   found by the stuck-link rule, [`stuck_ms`](super::stuck_ms)), and arms the peer's
//!   hedge timer for [`hedge_ms`] later. The reply cancels it (once nothing else is in
//!   flight), so a clean mesh wakes for no hedge. If it fires, every probe in flight goes
//!   out on the ready links that do not carry it yet, and the peer turns dual.
//! - **Dual** for [`DUAL_TURNS`] turns: every probe on every ready link at once. A peer
//!   is dual at once while no round trip is known (its first probes), at a turn that finds
//!   a probe unanswered on a link for longer than the hedge delay, after a reply later than
//!   the hedge delay on its link (TCP repaired a loss there, even if the other copy was in
//!   time), and when a link fails under probes while the other is ready (they are re-sent
//!   on it, keeping their deadlines). Each starts the count again: a lossy path stays dual.
//!
//! A peer with one link (the earlier tool's, a `single` peer, or while the other is
//! redialled) has nothing to hedge with: its probe goes on that link, no timer. Measured in
//! the simulator (4 nodes, interval 200, timeout 300, an hour, seeds 1-10): offline lines
//! at 10 % and 30 % loss the same as or fewer than with every probe on both links;
//! docs/protocol.md, "Links under loss".

use super::conn::{Conn, Stage, State};
use super::link::Ready;
use super::{
    Action, ConnId, Engine, LogRecord, Message, Now, PeerId, PeerState, Timer, rto_min_ms,
};
use crate::tracker::{Change, ChangeKind};

/// Most distinct probe slots within an interval.
pub const PHASES: usize = 64;

/// Most peers probed in one slot before a round is spread: their probes are two writes
/// each (one per link), about 0.2 ms for 16 on loopback, which is how long the replies
/// we owe others can wait behind them.
pub const BURST: usize = 16;

/// Turns a peer stays dual (every probe on every ready link) after a hedge fired, a link
/// was found late at a turn, or a link failed under a probe: about a minute at the usual
/// 1 s interval. Loss comes in spells (a congested uplink, a flaky radio), and while it
/// lasts a probe on one link would be hedged every few rounds, each one late by the
/// hedge delay; a minute of quiet before trying one link again costs what every round
/// cost before hedging, and a clean mesh never pays it.
pub const DUAL_TURNS: u8 = 64;

/// How long a wake-up that took turns waits before it takes input again (the shell
/// sleeps, see [`Engine::take_linger`]): the others' probes of this round and the
/// replies to ours, written within that time as the other nodes wake for the same beat,
/// are then read in one wake-up instead of one each (a 10-node mesh: 4.1 wake-ups a node
/// a round down to 2.8; on the 2-core VM of BENCHMARKS.md no CPU it could measure, on a
/// router each wake-up from idle is what costs). A reply waits at most this long.
pub const LINGER_MS: u64 = 2;

/// Added to the hedge delay: a reply is late only past what scheduling on a busy router
/// adds to it.
const HEDGE_PAD_MS: u64 = 5;

/// How long a clean peer's probe may go unanswered on its one link before it goes out on
/// the other too: `srtt + 4 × rttvar + 5 ms` (the smoothed round trip of one link and its
/// variation, as TCP reckons its own timer), at least half of [`rto_min_ms`], at most
/// TCP's own first retransmission, `srtt + max(4 × rttvar, rto_min_ms)` (and 200 ms or
/// more after the round trip on a kernel that ignores the daemon's `TCP_RTO_MIN_US`).
/// Longer than a normal reply (a hedge that fires on time sends the probe twice for
/// nothing, and turns the peer dual), and never later than the kernel's repair of the
/// stream, so the copy on the other one is there first or at the same moment. The floor keeps a fast path (loopback, a LAN: srtt well
/// under 1 ms) from hedging on every scheduling hiccup: 25 ms for timeout 300, 100 ms for
/// the default 1.5 s.
pub fn hedge_ms(srtt_us: u64, rttvar_us: u64, timeout: u64) -> u64 {
    let rto_min = rto_min_ms(timeout);
    let (srtt, spread) = (srtt_us / 1000, rttvar_us.saturating_mul(4) / 1000);
    srtt.saturating_add(spread)
        .saturating_add(HEDGE_PAD_MS)
        .max(rto_min / 2)
        .min(srtt.saturating_add(spread.max(rto_min)))
}

impl Engine {
    /// `peer`'s turn, due at `due`: a probe, sent now if its link is ready, else once the
    /// link is (re)established. The next turn is one interval later; after a stall
    /// (SIGSTOP, suspend) the turns missed are skipped, keeping the peer's phase. Whether
    /// the probe was written now, so that a reply is on its way (one riding on a `PONG`
    /// waits for an acknowledgement, which wakes nobody: `ack.rs`).
    pub(super) fn probe(&mut self, peer: usize, due: u64, now: Now) -> bool {
        if !self.peers.get(peer).is_some_and(|p| p.active) {
            return false;
        }
        let missed = now.mono.saturating_sub(due) / self.settings.interval;
        let next = due + (missed + 1) * self.settings.interval;
        self.schedule_turn(peer, next);
        let deadline = now.mono + self.settings.timeout;
        let wheel = &mut self.wheel;
        let started = self.tracker.start_probe(peer, |seq| {
            wheel.schedule(deadline, Timer::Probe { peer, seq })
        });
        let Some(seq) = started else {
            let msg = format!(
                "peer {}: too many probes in flight; probe skipped",
                self.name(peer)
            );
            self.say(msg);
            return false;
        };
        if let Some(p) = self.peers.get_mut(peer) {
            p.stats.started += 1;
        }
        self.tend_links(peer, now);
        let ready = self.ready_links(peer);
        let mut sent = ready.len() > 0;
        match self.lead_link(peer, ready, seq, now) {
            Some((lead, hedge)) => {
                match self.answering(peer) {
                    Some(conn) => {
                        self.ride(conn, peer, seq, now);
                        sent = false;
                    }
                    None => self.send_probe(lead, peer, seq, now),
                }
                self.arm_hedge(peer, now.mono + hedge);
            }
            None => {
                for id in ready.iter() {
                    self.send_probe(id, peer, seq, now);
                }
            }
        }
        self.view_turn(peer, now);
        sent
    }

    /// The one link probe `seq` of a clean `peer` goes out on, alternating by round, and
    /// the hedge delay; `None` when it goes on every ready link: fewer than two ready, no
    /// round trip known yet, the peer dual (a turn of it spent), or a probe unanswered on
    /// a link for longer than the hedge delay (the peer turns dual).
    fn lead_link(
        &mut self,
        peer: usize,
        ready: Ready,
        seq: u64,
        now: Now,
    ) -> Option<(ConnId, u64)> {
        let [Some(a), Some(b)] = ready.0 else {
            return None;
        };
        let hedge = self.hedge_delay(peer)?;
        let late = self.stalled(a, now).max(self.stalled(b, now)) > hedge;
        let p = self.peers.get_mut(peer)?;
        if late {
            p.dual = DUAL_TURNS;
        }
        if p.dual > 0 {
            p.dual -= 1;
            return None;
        }
        Some((if seq.is_multiple_of(2) { a } else { b }, hedge))
    }

    /// `peer`'s connection to us with a `PONG` of ours not yet written: a clean probe
    /// rides on it, answered by the acknowledgement of that write (`ack.rs`).
    fn answering(&self, peer: usize) -> Option<ConnId> {
        let p = self.peers.get(peer)?;
        [p.inbound, p.inbound_older]
            .into_iter()
            .flatten()
            .find(|&id| {
                self.conns.get(id).is_some_and(|c| {
                    matches!(&c.state, State::Inbound(i) if i.duplex.is_some())
                        && !c.unsent().is_empty()
                })
            })
    }

    /// How long `peer`'s probe may go unanswered on its one link before it is hedged
    /// ([`hedge_ms`] of its round trips); `None` before any reply.
    fn hedge_delay(&self, peer: usize) -> Option<u64> {
        let stats = &self.peers.get(peer)?.stats;
        Some(hedge_ms(
            stats.srtt_us?,
            stats.rttvar_us,
            self.settings.timeout,
        ))
    }

    /// Arms `peer`'s hedge for `at`, unless one is armed already (for an older probe
    /// still in flight: it fires sooner, and takes this one along).
    fn arm_hedge(&mut self, peer: usize, at: u64) {
        if let Some(p) = self.peers.get_mut(peer)
            && p.hedge.is_none()
        {
            p.hedge = Some(self.wheel.schedule(at, Timer::Hedge(peer)));
        }
    }

    /// `peer`'s hedge is cancelled once nothing of it is in flight: a clean mesh never
    /// wakes for one.
    pub(super) fn settle_hedge(&mut self, peer: usize) {
        if self.tracker.outstanding_len(peer) > 0 {
            return;
        }
        if let Some(t) = self.peers.get_mut(peer).and_then(|p| p.hedge.take()) {
            self.wheel.cancel(t);
        }
    }

    /// `peer`'s hedge fired: a probe went unanswered on its one link for the hedge
    /// delay. Every probe in flight goes out on the ready links that do not carry it yet,
    /// and the peer turns dual for [`DUAL_TURNS`] turns.
    pub(super) fn hedge_fired(&mut self, peer: usize, now: Now) {
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        p.hedge = None;
        if !p.active || self.tracker.outstanding_len(peer) == 0 {
            return;
        }
        self.carry_on(peer, now);
    }

    /// Every probe to `peer` in flight goes out on each of its ready links that does not
    /// carry it yet (a hedge, or the link that carried it failed), keeping its deadline;
    /// the peer turns dual. The rare path: it may allocate.
    pub(super) fn carry_on(&mut self, peer: usize, now: Now) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.dual = DUAL_TURNS;
        }
        let waiting: Vec<u64> = self.tracker.outstanding(peer).collect();
        for id in self.ready_links(peer).iter() {
            for &seq in &waiting {
                if !self.carries(id, seq) {
                    self.send_probe(id, peer, seq, now);
                }
            }
        }
    }

    /// Whether probe `seq` is waiting for its reply on `conn` (our link, or a peer's
    /// connection it rides on with a `PONG`).
    pub(super) fn carries(&self, conn: ConnId, seq: u64) -> bool {
        self.conns
            .get(conn)
            .and_then(Conn::awaiting)
            .is_some_and(|a| a.iter().any(|&(s, _)| s == seq))
    }

    /// Slots a round is spread over: one for up to [`BURST`] peers.
    pub(super) fn slots(&self) -> u64 {
        let others = self.peers.len().saturating_sub(1);
        others.div_ceil(BURST).clamp(1, PHASES) as u64
    }

    /// How early a turn may be taken when we are awake anyway: an eighth of the interval,
    /// and less than half the gap between two slots (so slots never merge into a burst
    /// larger than [`BURST`]).
    pub(super) fn slack(&self) -> u64 {
        if self.no_slack {
            return 0;
        }
        let interval = self.settings.interval;
        (interval / 8).min(interval / (2 * self.slots()))
    }

    /// When `peer`'s first turn is due, `now` being the engine's start or the peer's
    /// arrival by a reload: the first moment after `now` that is a multiple of the
    /// interval on the wall clock plus its slot's phase, so within one interval. Its slot
    /// is its place in the node list counted from the node after this one (see the module
    /// documentation). Not later: a node restarted during a peer's outage must log it
    /// within the detection bound (`threshold` rounds, a `timeout` and one round of
    /// phase; docs/reading-logs.md), which a first turn up to two intervals ahead broke.
    pub(super) fn first_turn(&self, peer: usize, now: Now) -> u64 {
        let interval = self.settings.interval;
        let n = self.peers.len().max(1);
        let others = n.saturating_sub(1).max(1) as u64;
        let slots = self.slots();
        let rank = ((peer + n - self.me % n) % n).saturating_sub(1) as u64;
        let slot = (rank * slots / others).min(slots - 1);
        // A wall clock before 1970 aligns nothing (it will be stepped soon anyway).
        let wall = u64::try_from(now.wall).unwrap_or(0);
        let to_boundary = (interval - wall % interval) % interval;
        // Of two peers, the one later in the node list probes a little after the other, so
        // that the other's `PING` comes first and ours goes with our `PONG` (see
        // `Engine::answering`).
        let lag = if self.answers_first(peer) {
            self.slack() / 2
        } else {
            0
        };
        match (to_boundary + interval * slot / slots + lag) % interval {
            0 => now.mono + interval,
            ahead => now.mono + ahead,
        }
    }

    /// We are awake anyway (a reply to write or one read): the turns due within the slack
    /// go with this wake-up, instead of one of their own. They are taken by
    /// [`Engine::handle_timeout`], after the rest of the wake-up's input: a reply still
    /// unread must not find its link judged stuck by a turn taken before it (after a
    /// freeze, all of it arrives at once).
    pub(super) fn awake_for_replies(&mut self, now: Now) {
        self.awake = Some(now.mono);
    }

    /// The turns due by `now`, or within the slack if we were awake for replies since
    /// the last call: a peer's earlier in the node list (we answer its probes) only if
    /// its `PING` was just answered on a duplex connection, so that ours goes in the same
    /// write (taken at another peer's reply, it would go alone, and the peer's `PING`
    /// would find it done). One not taken keeps its due time: if the peer's `PING` never
    /// comes, it goes then, on our link.
    pub(super) fn take_turns(&mut self, now: Now) {
        let until = match self.awake.take() {
            Some(t) => t.saturating_add(self.slack()).max(now.mono),
            None => now.mono,
        };
        let mut sent = false;
        while let Some((_, (peer, due))) = self.rounds.pop_expired(until) {
            sent |= self.probe(peer, due, now);
        }
        while let Some((_, (peer, due))) = self.answer_rounds.pop_expired(now.mono) {
            sent |= self.probe(peer, due, now);
        }
        let mut answered = std::mem::take(&mut self.answered);
        for &peer in &answered {
            // A turn on `rounds` was taken above.
            let Some(t) = self
                .peers
                .get(peer)
                .filter(|p| p.answer_turn)
                .and_then(|p| p.round)
            else {
                continue;
            };
            if self.answer_rounds.deadline(t).is_some_and(|d| d <= until)
                && self.answering(peer).is_some()
                && let Some((_, due)) = self.answer_rounds.cancel(t)
            {
                sent |= self.probe(peer, due, now);
            }
        }
        // Kept for the next pass: this one's buffer, emptied (no allocation a pass).
        answered.clear();
        self.answered = answered;
        if sent && self.lingers() {
            self.linger = Some(now.mono.saturating_add(LINGER_MS));
        }
    }

    /// Arms `peer`'s next turn for `due`, on the wheel of its kind (see
    /// [`Engine::take_turns`]).
    pub(super) fn schedule_turn(&mut self, peer: usize, due: u64) {
        let answer = self.answers_first(peer);
        let rounds = if answer {
            &mut self.answer_rounds
        } else {
            &mut self.rounds
        };
        let timer = rounds.schedule(due, (peer, due));
        if let Some(p) = self.peers.get_mut(peer) {
            p.round = Some(timer);
            p.answer_turn = answer;
        }
    }

    /// Disarms `peer`'s turn `t` (armed by [`Engine::schedule_turn`]).
    pub(super) fn cancel_turn(&mut self, peer: usize, t: crate::timer::TimerId) {
        if self.peers.get(peer).is_some_and(|p| p.answer_turn) {
            self.answer_rounds.cancel(t);
        } else {
            self.rounds.cancel(t);
        }
    }

    /// Whether our turns for `peer` wait for its `PING` to ride on (see "When turns
    /// come"): it is earlier in the node list, and the round is one slot. In a round
    /// spread over slots the two nodes of a pair probe each other in different slots (each
    /// walks its own rotation), so a lag would only split a slot's wake-up in two.
    pub(super) fn answers_first(&self, peer: usize) -> bool {
        peer < self.me && self.slots() == 1 && self.slack() > 0
    }

    /// Whether a wake-up that took turns lingers ([`LINGER_MS`]): only where the wait
    /// is small beside the gap between slots (a spread round's next slot, the replies
    /// owed to its peers, must not wait) and beside the hedge delay's floor (a peer's
    /// reply held this long must not look late to it).
    fn lingers(&self) -> bool {
        let gap = self.settings.interval / self.slots();
        gap >= 8 * LINGER_MS && rto_min_ms(self.settings.timeout) >= 8 * LINGER_MS
    }

    /// Sends probe `seq` on our ready link `conn`: a `PING`, or to an old node an HTTP
    /// `GET /` (see [`Engine::send_legacy_probe`]).
    pub(super) fn send_probe(&mut self, conn: ConnId, peer: usize, seq: u64, now: Now) {
        if !self.await_reply(conn, peer, seq, now) {
            return;
        }
        if let Some(link) = self.conns.get(conn).and_then(Conn::link)
            && let (Stage::Legacy { .. }, peer) = (&link.stage, link.peer)
        {
            return self.send_legacy_probe(conn, peer, seq, now);
        }
        self.send_message(conn, Message::Ping { seq }, now)
    }

    /// Probe `seq` to `peer` starts waiting for its reply on `conn` (written there, or
    /// riding on what was, see `ack.rs`); false if `conn` carries no probes.
    pub(super) fn await_reply(&mut self, conn: ConnId, peer: usize, seq: u64, now: Now) -> bool {
        if let Some(p) = self.peers.get_mut(peer) {
            p.stats.sent(seq, now.mono_us());
        }
        let Some(awaiting) = self.conns.get_mut(conn).and_then(Conn::awaiting_mut) else {
            return false;
        };
        if awaiting.len() >= crate::tracker::MAX_OUTSTANDING {
            awaiting.pop_front();
        }
        awaiting.push_back((seq, now.mono));
        true
    }

    /// The `PONG` of probe `seq` on our link `conn` to `peer`.
    pub(super) fn pong(&mut self, conn: ConnId, peer: usize, seq: u64, now: Now) {
        let mut written = None;
        if let Some(awaiting) = self.conns.get_mut(conn).and_then(Conn::awaiting_mut) {
            // Replies come in order: everything before `seq` was answered too (or was
            // never written here).
            while let Some(&(s, at)) = awaiting.front() {
                awaiting.pop_front();
                if s == seq {
                    written = Some(at);
                    break;
                }
            }
        }
        // A reply later than the hedge delay on its link (TCP repaired a loss, or the
        // path slowed): the peer stays dual, even if the other link's copy was in time.
        if let Some(at) = written {
            let rtt = now.mono.saturating_sub(at);
            let late = self.hedge_delay(peer).is_some_and(|hedge| rtt > hedge);
            if let Some(p) = self.peers.get_mut(peer) {
                if late {
                    p.dual = DUAL_TURNS;
                }
                p.stats.round_trip(rtt.saturating_mul(1000));
            }
        }
        self.replied(peer, seq, now);
        self.awake_for_replies(now);
    }

    /// Probe `seq` to `peer` was answered (a `PONG`, or an old node's HTTP response).
    pub(super) fn replied(&mut self, peer: usize, seq: u64, now: Now) {
        self.replied_in(peer, seq, None, now);
    }

    /// Probe `seq` to `peer` was answered, in `rtt_us` if known otherwise than by the
    /// time from its write to now (an acknowledgement, see `ack.rs`).
    pub(super) fn replied_in(&mut self, peer: usize, seq: u64, rtt_us: Option<u64>, now: Now) {
        if let Some((timer, change)) = self.tracker.reply(peer, seq, now.mono) {
            self.wheel.cancel(timer);
            self.settle_hedge(peer);
            if let Some(p) = self.peers.get_mut(peer) {
                p.stats.replied(seq, now.mono_us(), rtt_us);
            }
            if let Some(change) = change {
                self.log_change(change, now);
            }
        }
    }

    pub(super) fn missed(&mut self, peer: usize, now: Now) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.missed_at = Some(now.mono);
        }
    }

    /// Every probe in flight to `peer` is void: settled uncounted, its count holds (this
    /// machine's trouble, or a reload that removed or moved the peer).
    pub(super) fn void_probes(&mut self, peer: usize, now: Now) {
        let wheel = &mut self.wheel;
        let mut n = 0;
        self.tracker.void_all(peer, |timer| {
            wheel.cancel(timer);
            n += 1;
        });
        if let Some(p) = self.peers.get_mut(peer) {
            p.stats.settled_all(n, true, now.mono_us());
        }
        self.settle_hedge(peer);
    }

    /// Every probe in flight to `peer` is a miss (its link failed, and no other carries
    /// them), but one riding on a `PONG` of ours on a connection still open: that
    /// connection, not the link, carries it (`ack.rs`).
    pub(super) fn fail_probes(&mut self, peer: usize, now: Now) {
        let riding = self.riding(peer);
        if !riding.is_empty() {
            return self.fail_probes_but(peer, &riding, now);
        }
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
        self.settle_hedge(peer);
        for change in changes {
            self.log_change(change, now);
        }
    }

    /// Every probe in flight to `peer` but those in `riding` is a miss, oldest first.
    /// The rare path: it may allocate.
    fn fail_probes_but(&mut self, peer: usize, riding: &[u64], now: Now) {
        let failed: Vec<u64> = self
            .tracker
            .outstanding(peer)
            .filter(|seq| !riding.contains(seq))
            .collect();
        if !failed.is_empty() {
            self.missed(peer, now);
        }
        for seq in failed {
            if let Some((timer, change)) = self.tracker.miss(peer, seq, now.mono) {
                self.wheel.cancel(timer);
                if let Some(p) = self.peers.get_mut(peer) {
                    p.stats.timed_out(seq, now.mono_us());
                }
                if let Some(change) = change {
                    self.log_change(change, now);
                }
            }
        }
    }

    /// A change of `peer`'s count: its log line, and for a change of state the
    /// operator's line and the hook.
    pub(super) fn log_change(&mut self, change: Change, now: Now) {
        // Only a wall clock that stepped inside this very event lands here.
        self.roll_day(now);
        let name = self.name(change.peer).to_string();
        self.actions.push_back(Action::Log(LogRecord::Event {
            wall: now.wall,
            peer: PeerId(change.peer),
            name: name.clone(),
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
        match change.kind {
            ChangeKind::Missed => {}
            ChangeKind::WentOffline => {
                self.say(format!(
                    "peer {name} offline after {} timeouts",
                    change.timeouts
                ));
                self.view_changed(now);
                self.hook(change.peer, PeerState::Offline, change.timeouts, now);
            }
            ChangeKind::Recovered { was_offline: true } => {
                self.say(format!("peer {name} back online"));
                self.view_changed(now);
                self.hook(change.peer, PeerState::Online, 0, now);
            }
            ChangeKind::Recovered { was_offline: false } => {}
        }
    }
}
