//! A configured node as the engine keeps it: its links, its inbound connections, what was
//! last reported about it, its counters.

use std::net::SocketAddr;

use super::action::HookRun;
use super::conn::ConnId;
use super::stats::PeerStats;
use super::view::Exchange;
use crate::timer::TimerId;

/// A configured node as the engine keeps it.
pub(super) struct Peer {
    pub(super) name: String,
    pub(super) addr: SocketAddr,
    /// Our link to it, if one exists (any state).
    pub(super) link: Option<ConnId>,
    /// Our second link to it, if one exists (any state): carries every other probe while
    /// the peer is clean, a copy of every probe while it is dual (see `probe.rs`).
    pub(super) spare: Option<ConnId>,
    /// The hedge armed for its probes in flight on one link: when it fires, they go out
    /// on the other ready link too (see `probe.rs`, "Hedged probes").
    pub(super) hedge: Option<TimerId>,
    /// Turns left in which every probe goes out on every ready link at once (0: clean,
    /// each probe on one link, hedged).
    pub(super) dual: u8,
    /// It closes our older link when the second one arrives (a version that answers one
    /// connection per peer): it gets one link.
    pub(super) single: bool,
    /// Times in a row it closed one of our links right after the other came up.
    pub(super) replaced: u8,
    /// Its authenticated inbound connection, if any.
    pub(super) inbound: Option<ConnId>,
    /// Its previous authenticated inbound connection, if still open: a peer keeps two
    /// links to us, each answered.
    pub(super) inbound_older: Option<ConnId>,
    /// The class of trouble last reported for it ([`CloseReason::class`](super::CloseReason::class)), so a peer
    /// that stays down is reported once; `None` once a handshake succeeded.
    pub(super) trouble: Option<&'static str>,
    /// It runs the earlier tool: probed with HTTP `GET /`, no handshake.
    pub(super) legacy: bool,
    /// Whether a link to it ever completed a handshake.
    pub(super) ever_connected: bool,
    /// When a probe to it last counted as a miss.
    pub(super) missed_at: Option<u64>,
    /// Its counters, for metrics and `status`.
    pub(super) stats: PeerStats,
    /// Whether the slot holds a configured node (a reload frees a removed peer's slot).
    pub(super) active: bool,
    /// Its next turn's timer.
    pub(super) round: Option<TimerId>,
    /// That timer is on the responders' wheel (`answer_rounds`, see `probe.rs`).
    pub(super) answer_turn: bool,
    /// A change waiting for its hook to run (see `hooks.rs`).
    pub(super) hook_pending: Option<Box<HookRun>>,
    /// With `on_change_when = "down"`: it went offline and its hook waits for the
    /// verdict to settle as down; and whether its offline run happened (so its online
    /// run follows).
    pub(super) hook_waits_for_down: bool,
    pub(super) hook_paged: bool,
    /// Its view of the mesh and our clock readings of it (see `view.rs`).
    pub(super) view: Exchange,
}

impl Peer {
    pub(super) fn new(name: String, addr: SocketAddr, legacy: bool, wall: i64) -> Peer {
        Peer {
            name,
            addr,
            link: None,
            spare: None,
            hedge: None,
            dual: 0,
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
            answer_turn: false,
            hook_pending: None,
            hook_waits_for_down: false,
            hook_paged: false,
            view: Exchange::default(),
        }
    }
}
