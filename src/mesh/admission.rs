//! Who may wait for a handshake on the listener, and who makes room for whom.
//!
//! Every accepted connection is taken (the shell always drains its accept queue), and
//! waits here until it has proved to be a configured node (its `HELLO`, or its `PROOF`,
//! naming a configured node whose ip it comes from, within [`HANDSHAKE_TIMEOUT_MS`]) or
//! is closed. Before the handshake, anything but the handshake (or an HTTP request)
//! closes the connection, an unknown verb too. Two pools, so strangers cannot lock peers
//! out:
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
use std::net::{IpAddr, SocketAddr};

use super::conn::{Conn, ConnId, State, Talk, Unproved};
use super::input::Input;
use super::quiet::Topic;
use super::{CloseReason, Engine, Now, Role, Timer};

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

/// Time an accepted connection has to send a valid `HELLO`.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 5_000;

/// Time an accepted connection from an address that is no configured node's has to send
/// its first request (only HTTP is answered there).
pub const STRANGER_TIMEOUT_MS: u64 = 2_000;

impl Engine {
    /// A connection from `from` was accepted. Returns its id: every connection is taken
    /// (the shell drains its accept queue), room being made in its pool by evicting the
    /// oldest waiting one there (see `mesh/admission.rs`): another connection from the
    /// same address, or for a stranger, the oldest stranger's. A configured node's
    /// connection never makes way for a stranger's. (`None` is never returned; the shell
    /// closes the socket if it ever were.)
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
                let msg = format!(
                    "connection from {} closed: {MAX_PENDING_PER_SOURCE} newer ones from its \
                     address are waiting for their handshake",
                    old.map_or_else(|| ip.to_string(), |a| a.to_string())
                );
                self.say_limited(self.pool_topic(ip), now, msg);
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
        let wait = if configured {
            HANDSHAKE_TIMEOUT_MS
        } else {
            STRANGER_TIMEOUT_MS
        };
        let wheel = &mut self.wheel;
        let id = self.conns.insert_with(|id| {
            Conn::new(State::Unproved(Box::new(Unproved {
                from,
                since: now.mono,
                deadline: wheel.schedule(now.mono + wait, Timer::Hello(id)),
                talk: Talk::Idle,
                spoke_http: false,
            })))
        });
        self.waiting.insert(now.mono, id, ip, configured);
        Some(id)
    }

    /// The source address of accepted connection `conn`.
    fn peer_from(&self, conn: ConnId) -> Option<SocketAddr> {
        match self.conns.get(conn)?.role() {
            Role::In { from, .. } => Some(from),
            Role::Out { .. } => None,
        }
    }

    /// The rate limit for lines about an unproved connection from `ip`: a configured
    /// node's address, or a stranger's.
    fn pool_topic(&self, ip: IpAddr) -> Topic {
        if self.peer_ips.contains(&ip) {
            Topic::Unproved
        } else {
            Topic::Strangers
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

    /// A line on an unproved connection from `from`: only the handshake (or an HTTP
    /// request) is spoken here; anything else, an unknown verb too, closes it (nor can
    /// a stranger hold a place by chatting).
    pub(super) fn unproved_input(
        &mut self,
        conn: ConnId,
        from: SocketAddr,
        input: Input,
        now: Now,
    ) {
        match input {
            Input::Hello { name } => self.on_hello(conn, from, &name, now),
            Input::Challenge {
                version,
                name,
                nonce,
            } => self.on_challenge(conn, from, version, &name, nonce, now),
            Input::Proof(mac) => self.on_proof(conn, from, &mac, now),
            Input::HttpRequest(head) => self.http_request(conn, head, now),
            Input::HttpHeader(head, progress) => self.http_header(conn, from, head, progress, now),
            _ => self.close(conn, CloseReason::Unexpected, now),
        }
    }

    /// An accepted connection's claim to be `name` (its `HELLO` or `CHALLENGE`): it must
    /// name a configured peer whose ip it comes from. Returns the peer, or closes `conn`.
    pub(super) fn check_claim(
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
            self.say_limited(self.pool_topic(ip), now, msg);
            self.close(conn, CloseReason::WrongNode, now);
            return None;
        };
        Some(peer)
    }

    /// Accepted connection `conn` from `from` closed before its handshake completed
    /// (`talk`: what it was saying): said (rate-limited per pool) unless whoever closed
    /// it said why, or it is routine.
    pub(super) fn unproved_closed(
        &mut self,
        conn: ConnId,
        u: &Unproved,
        reason: CloseReason,
        now: Now,
    ) {
        let from = u.from;
        let ip = from.ip().to_canonical();
        self.waiting.remove(conn, ip);
        let topic = self.pool_topic(ip);
        match (&u.talk, reason) {
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
            (_, CloseReason::ClosedByPeer | CloseReason::NoHello) if u.spoke_http => {}
            // Gone after our nonce, before its proof: nothing of ours was refused (we had
            // proved nothing yet), and anyone at a peer's address can do it.
            (Talk::Challenged { peer, .. }, CloseReason::ClosedByPeer) => {
                let msg = format!(
                    "connection from {from} (as peer {}) closed by the other side before it \
                     proved it knows the secret",
                    self.name(*peer)
                );
                self.say_limited(topic, now, msg);
            }
            _ => {
                let msg = format!("connection from {from} closed: {reason}");
                self.say_limited(topic, now, msg);
            }
        }
    }
}
