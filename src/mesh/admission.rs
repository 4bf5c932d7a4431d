//! Who may wait for a handshake on the listener, and who makes room for whom.
//!
//! Every accepted connection is taken (the shell always drains its accept queue), and
//! waits here until it has proved to be a configured node (its `HELLO`, or its `PROOF`)
//! or is closed. Two pools, so strangers cannot lock peers out:
//!
//! - **Configured nodes' addresses** each have [`MAX_PENDING_PER_SOURCE`] places of their
//!   own; a newer connection from the same address evicts that address's least recently
//!   active one. No other address can take them, so a stranger never holds a peer's
//!   place. Anyone else at a peer's address (the same host, NAT) shares that address's
//!   places with the peer: its flood evicts the oldest, so the real peer's connection
//!   gets in, and stays in until [`MAX_PENDING_PER_SOURCE`] newer ones from that address
//!   arrive before its handshake completes (a round trip, or the shell's next pass).
//! - **Strangers** (any other address) share [`MAX_STRANGERS`] places, at most
//!   [`MAX_PENDING_PER_SOURCE`] per address; a newcomer makes room by evicting the
//!   oldest (its address's own oldest first). They are there only for the earlier
//!   tool's HTTP answer, and are closed once it is written.
//!
//! So at most `MAX_PENDING_PER_SOURCE` per configured address plus [`MAX_STRANGERS`]
//! connections wait at once, however hard the port is flooded.

use std::collections::HashMap;
use std::net::IpAddr;

use super::conn::ConnId;

/// Most connections from one address waiting for their handshake; one more evicts the
/// oldest.
pub const MAX_PENDING_PER_SOURCE: usize = 4;
/// Most connections from addresses that are no configured node's waiting at once; one
/// more evicts the oldest.
pub const MAX_STRANGERS: usize = 32;

/// A waiting connection: since when it has been waiting (accepted, or its last HTTP
/// answer) and its id.
type Entry = (u64, ConnId);

/// Why a connection must go to make room for a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// Its address already has [`MAX_PENDING_PER_SOURCE`] waiting: its oldest goes.
    SameAddress(ConnId),
    /// Every stranger's place is taken: the oldest stranger goes.
    StrangersFull(ConnId),
}

/// The connections waiting for their handshake, in their two pools.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    /// From configured nodes' addresses, by address.
    peers: HashMap<IpAddr, Vec<Entry>>,
    /// From any other address, with it.
    strangers: Vec<(u64, ConnId, IpAddr)>,
}

impl Admission {
    /// Which waiting connection, if any, must be closed before one more from `ip` (a
    /// configured node's address when `configured`) is taken. Never a connection from
    /// another configured address, and never one from a configured address for a
    /// stranger.
    pub(crate) fn room_for(&self, ip: IpAddr, configured: bool) -> Option<Room> {
        if configured {
            let here = self.peers.get(&ip)?;
            return (here.len() >= MAX_PENDING_PER_SOURCE)
                .then(|| here.iter().min().map(|e| Room::SameAddress(e.1)))
                .flatten();
        }
        let here = self.strangers.iter().filter(|s| s.2 == ip);
        if here.clone().count() >= MAX_PENDING_PER_SOURCE {
            return here.min().map(|s| Room::SameAddress(s.1));
        }
        if self.strangers.len() >= MAX_STRANGERS {
            return self
                .strangers
                .iter()
                .min()
                .map(|s| Room::StrangersFull(s.1));
        }
        None
    }

    /// Takes `id` from `ip` at `now` (call [`Admission::room_for`] first).
    pub(crate) fn insert(&mut self, now: u64, id: ConnId, ip: IpAddr, configured: bool) {
        if configured {
            self.peers.entry(ip).or_default().push((now, id));
        } else {
            self.strangers.push((now, id, ip));
        }
    }

    /// Forgets `id` (from `ip`), wherever it waits: it proved itself or was closed.
    pub(crate) fn remove(&mut self, id: ConnId, ip: IpAddr) {
        // Both pools: a reload may have made the address a peer's, or a stranger's, since.
        if let Some(here) = self.peers.get_mut(&ip) {
            here.retain(|e| e.1 != id);
            if here.is_empty() {
                self.peers.remove(&ip);
            }
        }
        self.strangers.retain(|s| s.1 != id);
    }

    /// `id` (from `ip`) was active at `now` (an HTTP answer): it is evicted after
    /// connections that have been silent longer.
    pub(crate) fn touch(&mut self, id: ConnId, ip: IpAddr, now: u64) {
        let peers = self.peers.get_mut(&ip).into_iter().flatten();
        for e in peers.filter(|e| e.1 == id) {
            e.0 = now;
        }
        for s in self.strangers.iter_mut().filter(|s| s.1 == id) {
            s.0 = now;
        }
    }

    /// The connection to evict when this machine runs out of descriptors: the oldest
    /// stranger's, else the oldest waiting at a configured address.
    pub(crate) fn oldest(&self) -> Option<ConnId> {
        let stranger = self.strangers.iter().min().map(|s| s.1);
        stranger.or_else(|| self.peers.values().flatten().min().map(|e| e.1))
    }

    /// Connections waiting: (at configured addresses, strangers').
    pub(crate) fn len(&self) -> (usize, usize) {
        (
            self.peers.values().map(Vec::len).sum(),
            self.strangers.len(),
        )
    }
}
