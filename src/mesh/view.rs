//! The mesh sees itself: each node tells its peers what it sees (`VIEW`), keeps what they
//! tell it, and judges every peer live by the rules `report` applies afterwards
//! ([`crate::verdict`]).
//!
//! - **What goes out.** A state per configured node ([`Seen`]: up, missing a few probes,
//!   down, no opinion), in the agreed order (names sorted), with the digest of the node
//!   list ([`crate::wire::view`]). Sent on our ready link to each peer (authenticated when
//!   a secret is set: never on a link whose listener has not proved itself, never to a
//!   node of the earlier tool): when a first link to it comes up; to every peer when one
//!   of our peers changes between online and offline, at most once per `interval` (a
//!   burst of changes is one `VIEW`); and at the peer's turn once [`REFRESH_MS`] passed
//!   since the last. Missing probes alone send nothing: they ride the next one.
//! - **What comes in.** A `VIEW` on a peer's proved connection replaces that peer's row.
//!   One with another digest (its config lists other nodes) makes its row "config
//!   differs": it counts for nothing. A row counts as an observer's while it is fresh
//!   ([`fresh_ms`]) and this node sees the observer online: an observer we cannot reach
//!   says nothing about now.
//! - **Verdicts** ([`Verdict`]), per peer: its observers are this node and every peer
//!   whose row counts and that has an opinion of it. With fewer than two, the verdict is
//!   *unknown*, or *isolated, probably this node* when this node sees every peer (at
//!   least two) down. Otherwise a peer nobody sees down is *up*, and one somebody sees
//!   down is judged by [`crate::verdict::decide`]: *down*, *link* (naming the broken
//!   pairs) or *isolated*.
//! - **Settling.** Other observers notice a change at their own probe phases, up to an
//!   interval and a timeout apart, and their `VIEW` may wait an interval more: a verdict
//!   is *settled* once it has held for [`settle_ms`] (2 × interval + timeout).
//!
//! Cost: judging is O(nodes²); it runs once per batch of changes (a timer a few ms
//! later, [`judge_delay_ms`]), at a settle deadline, and every [`REFRESH_MS`], never per
//! line read.

use super::action::PeerState;
use super::conn::{Conn, Stage};
use super::{Engine, Now, PeerId, Timer};
use crate::verdict::{self, Decision};
use crate::wire::message::{DIGEST_LEN, Message};
use crate::wire::view::{self as wire_view, Seen};

/// How often a peer gets our view even if nothing changed (ms), and our clock request.
pub const REFRESH_MS: u64 = 30_000;

/// How long a received view counts (ms): two refreshes (one may be late behind a slow
/// link) plus a round.
pub fn fresh_ms(interval: u64, timeout: u64) -> u64 {
    (2 * REFRESH_MS)
        .saturating_add(interval)
        .saturating_add(timeout)
}

/// How long a verdict must hold to be settled (ms): other observers notice a change up to
/// an interval and a timeout after this one, and their `VIEW`s may wait one interval
/// more (at most one `VIEW` per interval).
pub fn settle_ms(interval: u64, timeout: u64) -> u64 {
    interval.saturating_mul(2).saturating_add(timeout)
}

/// How long after a change the verdicts are judged (ms): the views that a change makes
/// other nodes send arrive in a burst, judged once.
pub fn judge_delay_ms(interval: u64) -> u64 {
    (interval / 10).clamp(1, 100)
}

/// What this node concludes about a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nobody whose view counts sees it down.
    Up,
    /// Every observer that counts sees it down.
    Down,
    /// Some observers see it down, others up: the broken links are named (observer, peer).
    Link(Vec<(PeerId, PeerId)>),
    /// This observer sees every one of its peers down: it is the one cut off. `None`:
    /// this node ("probably this node", when no other view is left to say).
    Isolated(Option<PeerId>),
    /// Too few views to tell.
    Unknown,
}

impl Verdict {
    /// Every [`Verdict::code`].
    pub const CODES: [&'static str; 5] = ["up", "down", "link", "isolated", "unknown"];

    /// `up`, `down`, `link`, `isolated` or `unknown`, for JSON, metrics and hooks.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Up => "up",
            Verdict::Down => "down",
            Verdict::Link(_) => "link",
            Verdict::Isolated(_) => "isolated",
            Verdict::Unknown => "unknown",
        }
    }
}

/// A peer's verdict, since when, and whether it has settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub verdict: Verdict,
    /// When it took this verdict (monotonic and wall ms).
    pub since_mono: u64,
    pub since_wall: i64,
}

/// What a node's row of the matrix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// This node's own opinions.
    Own,
    /// A view that counts (fresh, from a node this one sees online); its age in ms.
    Fresh(u64),
    /// A view too old, or from a node this one does not reach now: shown, not counted.
    Stale(u64),
    /// Its view names other nodes (another config): not counted.
    ConfigDiffers,
    /// No view from it (an earlier release, the earlier tool, not heard yet).
    None,
}

/// One row of the matrix: what a node sees of each node (in [`MeshView::nodes`] order).
#[derive(Debug, Clone)]
pub struct ViewRow {
    pub kind: RowKind,
    pub seen: Vec<Seen>,
}

/// One peer's verdict and clock, for display.
#[derive(Debug, Clone)]
pub struct PeerVerdict {
    pub judged: Judged,
    /// Held for [`settle_ms`].
    pub settled: bool,
    /// Its clock's offset from ours (ms, positive: ahead) and the round trip it was
    /// measured over (µs), when measured.
    pub offset: Option<(i64, u64)>,
}

/// The whole picture, for `/status`, `status --mesh` and the status page: nodes in the
/// agreed order (sorted names), a row per node, a verdict per node (`None` for this one).
#[derive(Debug, Clone)]
pub struct MeshView {
    pub nodes: Vec<String>,
    /// Each node's id, as [`Verdict`]s name them.
    pub ids: Vec<PeerId>,
    pub me: usize,
    pub rows: Vec<ViewRow>,
    pub verdicts: Vec<Option<PeerVerdict>>,
    /// Views are off: the mesh has more nodes than a `VIEW` line holds.
    pub too_large: bool,
    pub settle_ms: u64,
}

/// A received view.
#[derive(Debug, Clone)]
pub(super) struct Row {
    /// Per node in the agreed order; empty when its digest differed.
    seen: Vec<Seen>,
    at: u64,
}

/// The engine's view state.
#[derive(Debug, Default)]
pub(super) struct Views {
    /// Engine slots in the agreed order: active nodes, this one included, names sorted.
    order: Vec<usize>,
    /// Slot -> position in `order`.
    position: Vec<Option<usize>>,
    digest: [u8; DIGEST_LEN],
    /// Last `VIEW` sent to all (monotonic ms), and whether a send waits for its timer.
    last_broadcast: Option<u64>,
    broadcast_armed: bool,
    judge_armed: Option<u64>,
    /// Per slot: its verdict.
    judged: Vec<Option<Judged>>,
    /// Views switched off ([`Engine::set_views`]).
    off: bool,
}

/// What this node exchanged with a peer: its view, and our clock readings of it (NTP-style
/// over `CLOCK`/`CLOCKED`).
#[derive(Debug, Clone, Default)]
pub(super) struct Exchange {
    /// Our request in flight: its `t0` (wall ms) and when it left (monotonic µs).
    pending: Option<(u64, u64)>,
    /// The last few samples (offset ms, round trip µs); the one of the shortest round
    /// trip is the estimate (the least room for an asymmetric path).
    samples: Vec<(i64, u64)>,
    /// Its offset was said on stderr (beyond the tolerance); said again only after it
    /// came back within.
    warned: bool,
    /// A received view, and when our last one went to it.
    pub(super) row: Option<Row>,
    pub(super) view_sent: Option<u64>,
}

const CLOCK_SAMPLES: usize = 4;

impl Exchange {
    fn estimate(&self) -> Option<(i64, u64)> {
        self.samples.iter().copied().min_by_key(|&(_, rtt)| rtt)
    }
}

impl Engine {
    /// Recomputes the agreed order and digest (at start and after a reload); views
    /// received under the old list no longer fit and are dropped.
    pub(super) fn view_reset(&mut self) {
        let mut order: Vec<usize> = self
            .peers
            .iter()
            .enumerate()
            .filter(|&(i, p)| p.active || i == self.me)
            .map(|(i, _)| i)
            .collect();
        order.sort_by(|&a, &b| self.name(a).cmp(self.name(b)));
        let digest = wire_view::digest(order.iter().map(|&i| self.name(i)));
        let mut position = vec![None; self.peers.len()];
        for (k, &slot) in order.iter().enumerate() {
            if let Some(p) = position.get_mut(slot) {
                *p = Some(k);
            }
        }
        if digest != self.views.digest {
            for p in &mut self.peers {
                p.view.row = None;
            }
        }
        self.views.judged.resize(self.peers.len(), None);
        self.views.order = order;
        self.views.position = position;
        self.views.digest = digest;
        self.views.last_broadcast = None;
    }

    /// Stops sending views and clock requests and judging (received views are ignored;
    /// `CLOCK` is still answered): for the fuzz target's exact model of the probe rules,
    /// which leaves views to the simulator. Call it right after [`Engine::new`].
    #[doc(hidden)]
    pub fn set_views(&mut self, on: bool) {
        self.views.off = !on;
    }

    /// Whether views are exchanged at all: not when the node list outgrows a line.
    fn views_on(&self) -> bool {
        !self.views.off
            && self.views.order.len() <= wire_view::MAX_NODES
            && self.views.order.len() >= 2
    }

    /// What this node sees of slot `peer`.
    fn own_seen(&self, peer: usize) -> Seen {
        if peer == self.me || !self.peers.get(peer).is_some_and(|p| p.active) {
            return Seen::Unknown;
        }
        if !self.tracker.is_online(peer) {
            Seen::Down
        } else if self.tracker.timeouts(peer) > 0 {
            Seen::Missing
        } else {
            Seen::Up
        }
    }

    /// Our `VIEW` line.
    fn view_line(&self) -> Vec<u8> {
        let states: Vec<Seen> = self.views.order.iter().map(|&i| self.own_seen(i)).collect();
        let text = wire_view::encode(&states);
        let mut out = Vec::with_capacity(text.len() + 24);
        Message::View {
            digest: self.views.digest,
            states: &text,
        }
        .encode(&mut out);
        out
    }

    /// `peer`'s link that may carry our view: ready, its listener proved (never one
    /// merely past our own `PROOF`), not the earlier tool's.
    fn view_link(&self, peer: usize) -> Option<super::ConnId> {
        self.links(peer).into_iter().flatten().find(|&id| {
            self.conns
                .get(id)
                .and_then(Conn::link)
                .is_some_and(|l| matches!(l.stage, Stage::Ready { .. }))
        })
    }

    /// Sends our view (and a clock request) to `peer` if it has a link for it.
    fn send_view(&mut self, peer: usize, line: &[u8], now: Now) {
        let Some(conn) = self.view_link(peer) else {
            return;
        };
        self.queue(conn, line, now);
        if let Some(p) = self.peers.get_mut(peer) {
            p.view.view_sent = Some(now.mono);
        }
    }

    /// Sends `CLOCK` to `peer` on its view link.
    fn send_clock(&mut self, peer: usize, now: Now) {
        let Some(conn) = self.view_link(peer) else {
            return;
        };
        let Ok(t0) = u64::try_from(now.wall) else {
            return;
        };
        if let Some(p) = self.peers.get_mut(peer) {
            p.view.pending = Some((t0, now.mono_us()));
        }
        self.send_message(conn, Message::Clock { t0 }, now);
    }

    /// Our link to `peer` is ready: if it is the first, the peer gets our view and a
    /// clock request at once (it may have restarted, knowing nothing).
    pub(super) fn view_link_up(&mut self, conn: super::ConnId, peer: usize, now: Now) {
        if !self.views_on() {
            return;
        }
        // The first judging (then one every refresh at least): a link is up.
        if self.views.judge_armed.is_none() {
            self.arm_judge(now);
        }
        if self.view_link(peer) != Some(conn) {
            return;
        }
        let others_ready = self
            .links(peer)
            .into_iter()
            .flatten()
            .filter(|&id| id != conn && self.view_link(peer) == Some(id))
            .count();
        if others_ready > 0 {
            return;
        }
        let line = self.view_line();
        self.send_view(peer, &line, now);
        self.send_clock(peer, now);
    }

    /// `peer`'s turn: refresh its copy of our view and our clock reading of it when
    /// [`REFRESH_MS`] passed.
    pub(super) fn view_turn(&mut self, peer: usize, now: Now) {
        if !self.views_on() {
            return;
        }
        let due = self
            .peers
            .get(peer)
            .and_then(|p| p.view.view_sent)
            .is_none_or(|t| now.mono.saturating_sub(t) >= REFRESH_MS);
        if due {
            let line = self.view_line();
            self.send_view(peer, &line, now);
            self.send_clock(peer, now);
        }
    }

    /// One of our peers changed between online and offline: every peer gets our view,
    /// at most once per interval; verdicts are judged again.
    pub(super) fn view_changed(&mut self, now: Now) {
        if self.views.off {
            return;
        }
        // Judged at once, so a hook run for this change is told the verdict as it now
        // stands (not settled yet), and again once the views it makes arrive.
        self.judge(now);
        self.arm_judge(now);
        if !self.views_on() || self.views.broadcast_armed {
            return;
        }
        let next = self
            .views
            .last_broadcast
            .map_or(now.mono, |t| t.saturating_add(self.settings.interval));
        if next <= now.mono {
            self.broadcast_view(now);
        } else {
            self.views.broadcast_armed = true;
            self.wheel.schedule(next, Timer::ViewSend);
        }
    }

    /// Sends our view to every peer with a link for it.
    pub(super) fn broadcast_view(&mut self, now: Now) {
        self.views.broadcast_armed = false;
        self.views.last_broadcast = Some(now.mono);
        let line = self.view_line();
        let peers: Vec<usize> = self.peer_indices().collect();
        for peer in peers {
            self.send_view(peer, &line, now);
        }
    }

    /// A `VIEW` on `peer`'s proved connection.
    pub(super) fn on_view(
        &mut self,
        peer: usize,
        digest: [u8; DIGEST_LEN],
        states: &str,
        now: Now,
    ) {
        if self.views.off {
            return;
        }
        let seen = if digest == self.views.digest {
            match wire_view::decode(states, self.views.order.len()) {
                Some(seen) => seen,
                // Our digest, but not our number of nodes: a forgery or a bug, not a
                // config difference. Its row goes, nothing else.
                None => {
                    if let Some(p) = self.peers.get_mut(peer) {
                        p.view.row = None;
                    }
                    return self.arm_judge(now);
                }
            }
        } else {
            Vec::new()
        };
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        let changed = p.view.row.as_ref().is_none_or(|r| r.seen != seen);
        p.view.row = Some(Row { seen, at: now.mono });
        if changed {
            self.arm_judge(now);
        }
    }

    /// A `CLOCK` on `peer`'s proved connection `conn`: answered with our wall clock.
    pub(super) fn on_clock(&mut self, conn: super::ConnId, t0: u64, now: Now) {
        let Ok(t1) = u64::try_from(now.wall) else {
            return;
        };
        self.send_message(conn, Message::Clocked { t0, t1 }, now);
    }

    /// A `CLOCKED` on our link to `peer`: the answer to our request `t0`, if it is ours.
    /// offset = ((t1 − t0) + (t2 − t3)) / 2 with t2 = t1 (answered at once).
    pub(super) fn on_clocked(&mut self, peer: usize, t0: u64, t1: u64, now: Now) {
        let tolerance = verdict::DEFAULT_TOLERANCE_MS;
        let name = self.name(peer).to_string();
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        let Some((sent, sent_us)) = p.view.pending else {
            return;
        };
        if sent != t0 {
            return;
        }
        p.view.pending = None;
        let rtt = now.mono_us().saturating_sub(sent_us);
        let t3 = i128::from(now.wall);
        let offset = (2 * i128::from(t1) - i128::from(t0) - t3) / 2;
        let offset = i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX });
        if p.view.samples.len() >= CLOCK_SAMPLES {
            p.view.samples.remove(0);
        }
        p.view.samples.push((offset, rtt));
        let Some((best, _)) = p.view.estimate() else {
            return;
        };
        let beyond = best.unsigned_abs() > tolerance.unsigned_abs();
        if beyond && !p.view.warned {
            p.view.warned = true;
            let way = if best > 0 { "ahead of" } else { "behind" };
            let msg = format!(
                "peer {name}'s clock is {} {way} this node's (measured over the mesh): their \
                 logs' times disagree by more than report's {} s tolerance; check NTP on both",
                span_words(best.unsigned_abs()),
                tolerance / 1000
            );
            self.say(msg);
        } else if !beyond && best.unsigned_abs() <= tolerance.unsigned_abs() / 2 {
            p.view.warned = false;
        }
    }

    /// `peer`'s clock offset from ours (ms, positive: ahead) and the round trip of its
    /// best sample (µs).
    pub fn clock_offset(&self, peer: PeerId) -> Option<(i64, u64)> {
        self.peers.get(peer.0)?.view.estimate()
    }

    pub(super) fn arm_judge(&mut self, now: Now) {
        if self.views.off {
            return;
        }
        let at = now
            .mono
            .saturating_add(judge_delay_ms(self.settings.interval));
        if self.views.judge_armed.is_some_and(|t| t <= at) {
            return;
        }
        self.views.judge_armed = Some(at);
        self.wheel.schedule(at, Timer::Judge);
    }

    /// The judge timer: verdicts judged now; the next judge is at the earliest settle
    /// deadline, or a refresh later.
    pub(super) fn on_judge_timer(&mut self, now: Now) {
        if self.views.judge_armed.is_some_and(|t| t > now.mono) {
            // A sooner timer replaced this one's purpose; that one will judge.
            return;
        }
        self.views.judge_armed = None;
        self.judge(now);
        let settle = settle_ms(self.settings.interval, self.settings.timeout);
        let next_settle = self
            .views
            .judged
            .iter()
            .flatten()
            .map(|j| j.since_mono.saturating_add(settle))
            .filter(|&t| t > now.mono)
            .min();
        let at = next_settle.unwrap_or(now.mono.saturating_add(REFRESH_MS));
        self.views.judge_armed = Some(at);
        self.wheel.schedule(at, Timer::Judge);
    }

    /// Whether slot `o`'s row counts now, and the row.
    fn counting_row(&self, o: usize, now_mono: u64) -> Option<&[Seen]> {
        let fresh = fresh_ms(self.settings.interval, self.settings.timeout);
        let p = self.peers.get(o)?;
        let row = p.view.row.as_ref()?;
        (p.active
            && o != self.me
            && !row.seen.is_empty()
            && now_mono.saturating_sub(row.at) <= fresh
            && self.tracker.is_online(o))
        .then_some(row.seen.as_slice())
    }

    /// Judges every peer now.
    fn judge(&mut self, now: Now) {
        let verdicts: Vec<(usize, Verdict)> = {
            let order = &self.views.order;
            // Per position: the row that counts (this node's own opinions for its own).
            let own: Vec<Seen> = order.iter().map(|&i| self.own_seen(i)).collect();
            let me_pos = self.views.position.get(self.me).copied().flatten();
            let rows: Vec<Option<&[Seen]>> = order
                .iter()
                .enumerate()
                .map(|(k, &slot)| {
                    if Some(k) == me_pos {
                        Some(own.as_slice())
                    } else {
                        self.counting_row(slot, now.mono)
                    }
                })
                .collect();
            let saw_all_down: Vec<bool> = rows
                .iter()
                .enumerate()
                .map(|(k, row)| {
                    row.is_some_and(|r| {
                        let opinions = r
                            .iter()
                            .enumerate()
                            .filter(|&(j, s)| j != k && *s != Seen::Unknown);
                        let (n, down) = opinions
                            .fold((0, true), |(n, d), (_, s)| (n + 1, d && *s == Seen::Down));
                        n >= 2 && down
                    })
                })
                .collect();
            let me_alone_down = me_pos.is_some_and(|k| saw_all_down.get(k) == Some(&true));
            order
                .iter()
                .enumerate()
                .filter(|&(k, _)| Some(k) != me_pos)
                .map(|(k, &slot)| {
                    let mut seen = Vec::new();
                    let mut not_seen = Vec::new();
                    for (o, row) in rows.iter().enumerate() {
                        if o == k {
                            continue;
                        }
                        match row.and_then(|r| r.get(k)) {
                            Some(Seen::Down) => seen.push(o),
                            Some(s) if s.is_up() => not_seen.push(o),
                            _ => {}
                        }
                    }
                    let verdict = if seen.len() + not_seen.len() < 2 {
                        if me_alone_down {
                            Verdict::Isolated(None)
                        } else if seen.is_empty() && !not_seen.is_empty() {
                            Verdict::Up
                        } else {
                            Verdict::Unknown
                        }
                    } else if seen.is_empty() {
                        Verdict::Up
                    } else {
                        let all_down = |o: usize| saw_all_down.get(o) == Some(&true);
                        match verdict::decide(k, &seen, &not_seen, all_down) {
                            Decision::NodeDown => Verdict::Down,
                            Decision::Isolated(o) if Some(o) == me_pos => Verdict::Isolated(None),
                            Decision::Isolated(o) => {
                                Verdict::Isolated(order.get(o).map(|&s| PeerId(s)))
                            }
                            Decision::Partial => Verdict::Link(
                                seen.iter()
                                    .filter_map(|&o| order.get(o))
                                    .map(|&o| (PeerId(o), PeerId(slot)))
                                    .collect(),
                            ),
                        }
                    };
                    (slot, verdict)
                })
                .collect()
        };
        for (slot, verdict) in verdicts {
            let Some(j) = self.views.judged.get_mut(slot) else {
                continue;
            };
            if j.as_ref().is_none_or(|j| j.verdict != verdict) {
                *j = Some(Judged {
                    verdict,
                    since_mono: now.mono,
                    since_wall: now.wall,
                });
            }
        }
        self.settled_hooks(now);
    }

    /// `peer`'s verdict now, and whether it has settled.
    pub fn verdict(&self, peer: PeerId) -> Option<(&Judged, bool)> {
        let j = self.views.judged.get(peer.0)?.as_ref()?;
        let settle = settle_ms(self.settings.interval, self.settings.timeout);
        Some((j, self.last.mono.saturating_sub(j.since_mono) >= settle))
    }

    /// With `hook_when = "down"`: runs the hooks that wait for a settled verdict. A peer
    /// offline whose verdict settled as down gets its `offline` run; one back online
    /// gets its `online` run only if its `offline` run happened.
    fn settled_hooks(&mut self, now: Now) {
        if !self.settings.hook_only_down {
            return;
        }
        let peers: Vec<usize> = self.peer_indices().collect();
        for peer in peers {
            let settled_down = self
                .verdict(PeerId(peer))
                .is_some_and(|(j, settled)| settled && j.verdict == Verdict::Down);
            let Some(p) = self.peers.get_mut(peer) else {
                continue;
            };
            if settled_down && p.hook_waits_for_down && !self.tracker.is_online(peer) {
                p.hook_waits_for_down = false;
                p.hook_paged = true;
                let timeouts = self.tracker.timeouts(peer);
                self.run_hook(peer, PeerState::Offline, timeouts, now);
            }
        }
    }

    /// The verdict and its settling for the hook's environment.
    pub(super) fn hook_verdict(&self, peer: usize) -> (&'static str, bool) {
        self.verdict(PeerId(peer))
            .map_or(("unknown", false), |(j, s)| (j.verdict.code(), s))
    }

    /// The matrix, verdicts and offsets (see [`MeshView`]).
    pub fn mesh_view(&self) -> MeshView {
        let now = self.last.mono;
        let order = &self.views.order;
        let nodes: Vec<String> = order.iter().map(|&i| self.name(i).to_string()).collect();
        let me = self
            .views
            .position
            .get(self.me)
            .copied()
            .flatten()
            .unwrap_or(0);
        let fresh = fresh_ms(self.settings.interval, self.settings.timeout);
        let rows = order
            .iter()
            .map(|&slot| {
                if slot == self.me {
                    return ViewRow {
                        kind: RowKind::Own,
                        seen: order.iter().map(|&i| self.own_seen(i)).collect(),
                    };
                }
                let row = self.peers.get(slot).and_then(|p| p.view.row.as_ref());
                match row {
                    None => ViewRow {
                        kind: RowKind::None,
                        seen: vec![Seen::Unknown; order.len()],
                    },
                    Some(r) if r.seen.is_empty() => ViewRow {
                        kind: RowKind::ConfigDiffers,
                        seen: vec![Seen::Unknown; order.len()],
                    },
                    Some(r) => {
                        let age = now.saturating_sub(r.at);
                        let counts = age <= fresh && self.tracker.is_online(slot);
                        ViewRow {
                            kind: if counts {
                                RowKind::Fresh(age)
                            } else {
                                RowKind::Stale(age)
                            },
                            seen: r.seen.clone(),
                        }
                    }
                }
            })
            .collect();
        let verdicts = order
            .iter()
            .map(|&slot| {
                if slot == self.me {
                    return None;
                }
                let (judged, settled) = match self.verdict(PeerId(slot)) {
                    Some((j, s)) => (j.clone(), s),
                    None => (
                        Judged {
                            verdict: Verdict::Unknown,
                            since_mono: now,
                            since_wall: self.last.wall,
                        },
                        false,
                    ),
                };
                Some(PeerVerdict {
                    judged,
                    settled,
                    offset: self.clock_offset(PeerId(slot)),
                })
            })
            .collect();
        MeshView {
            nodes,
            ids: order.iter().map(|&i| PeerId(i)).collect(),
            me,
            rows,
            verdicts,
            too_large: order.len() > wire_view::MAX_NODES,
            settle_ms: settle_ms(self.settings.interval, self.settings.timeout),
        }
    }
}

/// `7_260_000` -> `2 h 1 min`; `2_500` -> `2.5 s`.
pub fn span_words(ms: u64) -> String {
    if ms < 60_000 {
        return format!("{}.{} s", ms / 1000, ms % 1000 / 100);
    }
    let min = ms / 60_000;
    if min < 60 {
        return format!("{min} min");
    }
    let (h, min) = (min / 60, min % 60);
    if h < 48 {
        return format!("{h} h {min} min");
    }
    format!("{} days {} h", h / 24, h % 24)
}
