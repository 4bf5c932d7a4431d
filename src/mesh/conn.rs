//! Connections as the engine sees them: who is at the other end, the line framer for
//! what comes in, and the bytes waiting to go out. Kept in a [`Slab`] under stable,
//! generation-checked [`ConnId`]s, so a late event for a closed connection is recognised
//! as stale instead of landing on whichever connection reused its slot.

use std::net::SocketAddr;

use crate::timer::TimerId;
use crate::wire::framer::Framer;
use crate::wire::message::NONCE_LEN;

/// A connection's stable id. The slot index is reused after a close; the generation
/// tells the old id from the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

impl ConnId {
    /// The slot index: dense, small, reused after a close. The shell can index its own
    /// table of sockets with it (and must check the full id, see [`Engine::conn_at`]).
    ///
    /// [`Engine::conn_at`]: super::Engine::conn_at
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// The state of this node's outbound connection to a peer (its link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// The shell is connecting the socket.
    Connecting,
    /// Connected; our `HELLO` sent, waiting for the peer's.
    Handshaking,
    /// Handshake done: probes flow.
    Ready,
}

/// Which end of the mesh a connection belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Our link to peer `peer`, carrying our probes.
    Out {
        /// The peer's index.
        peer: usize,
        /// How far the link is.
        state: LinkState,
    },
    /// A connection accepted from `from`, carrying a peer's probes to us.
    In {
        /// The connection's source address.
        from: SocketAddr,
        /// The peer it proved to be (its `HELLO`), once it did.
        peer: Option<usize>,
        /// When it was accepted (monotonic ms): the oldest waiting one is evicted first.
        since: u64,
    },
}

/// One connection's engine-side state.
pub(crate) struct Conn {
    pub(crate) role: Role,
    /// A framer holding a line cut by a segment boundary, only while there is one:
    /// complete lines are read straight from the bytes received, so an idle connection
    /// costs no line buffer.
    pub(crate) input: Option<Box<Framer>>,
    /// Bytes to send; `out[sent..]` is still unsent.
    pub(crate) out: Vec<u8>,
    pub(crate) sent: usize,
    /// The connect/handshake deadline while the connection is not yet established.
    pub(crate) timer: Option<TimerId>,
    /// The authenticated handshake under way, only while there is one.
    pub(crate) hs: Option<Box<Handshake>>,
    /// An accepted connection speaking the earlier tool's HTTP: the request being read.
    pub(crate) http: Option<HttpIn>,
    /// Our link to a node of the earlier tool: its response reader and our probes' seqs
    /// in the order their requests went out.
    pub(crate) legacy: Option<Box<LegacyOut>>,
    /// Closed as soon as its output is written (an HTTP answer with `Connection: close`);
    /// input is ignored meanwhile.
    pub(crate) closing: bool,
    /// Our link: the probes written on it and not yet answered on it, oldest first, as
    /// (seq, when written, monotonic ms). Replies come back in order on one stream, so
    /// the front says how long the link has been stuck.
    pub(crate) awaiting: std::collections::VecDeque<(u64, u64)>,
    /// Our link: when its handshake completed; an accepted connection: when it last
    /// proved itself or brought a `PING` (monotonic ms).
    pub(crate) ready_at: u64,
}

/// An HTTP request being read on an accepted connection.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HttpIn {
    /// A request line was read and its head is not complete yet.
    pub(crate) open: bool,
    pub(crate) head: bool,
    pub(crate) http10: bool,
    pub(crate) close: bool,
    pub(crate) keep_alive: bool,
    pub(crate) body: bool,
    pub(crate) malformed: bool,
    /// Header lines and bytes of the head so far.
    pub(crate) lines: usize,
    pub(crate) bytes: usize,
}

/// Our link to an old node: what matches its responses to our probes.
#[derive(Debug, Default)]
pub(crate) struct LegacyOut {
    pub(crate) reader: crate::legacy::response::Reader,
    pub(crate) seqs: std::collections::VecDeque<u64>,
}

/// An authenticated handshake under way: both nonces (the listener's is zero until it is
/// known) and the peer the connection is with, or claims to be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Handshake {
    pub(crate) nonce_c: [u8; NONCE_LEN],
    pub(crate) nonce_l: [u8; NONCE_LEN],
    pub(crate) peer: usize,
    /// On our link: our `PROOF` went out, and our probes behind it; the listener's proof
    /// is awaited.
    pub(crate) proved: bool,
}

impl Conn {
    pub(crate) fn new(role: Role) -> Conn {
        Conn {
            role,
            input: None,
            out: Vec::new(),
            sent: 0,
            timer: None,
            hs: None,
            http: None,
            legacy: None,
            closing: false,
            awaiting: std::collections::VecDeque::new(),
            ready_at: 0,
        }
    }

    /// Bytes queued and not yet written.
    pub(crate) fn unsent(&self) -> &[u8] {
        self.out.get(self.sent..).unwrap_or_default()
    }
}

struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// Connections by [`ConnId`]: O(1) insert, lookup and removal; slots are reused.
#[derive(Default)]
pub(crate) struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    pub(crate) fn insert(&mut self, conn: Conn) -> ConnId {
        self.len += 1;
        if let Some(index) = self.free.pop()
            && let Some(slot) = self.slots.get_mut(index as usize)
        {
            slot.conn = Some(conn);
            return ConnId {
                index,
                generation: slot.generation,
            };
        }
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Slot {
            generation: 0,
            conn: Some(conn),
        });
        ConnId {
            index,
            generation: 0,
        }
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&Conn> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.conn.as_ref())
            .flatten()
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.conn.as_mut()
    }

    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let conn = slot.conn.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.len -= 1;
        Some(conn)
    }

    /// The live id in slot `index`, if any.
    pub(crate) fn id_at(&self, index: usize) -> Option<ConnId> {
        let slot = self.slots.get(index)?;
        slot.conn.as_ref().map(|_| ConnId {
            index: index as u32,
            generation: slot.generation,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ConnId, &Conn)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.conn.as_ref().map(|c| {
                (
                    ConnId {
                        index: i as u32,
                        generation: s.generation,
                    },
                    c,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound() -> Conn {
        Conn::new(Role::In {
            from: SocketAddr::from(([127, 0, 0, 1], 1)),
            peer: None,
            since: 0,
        })
    }

    #[test]
    fn stale_ids_do_not_reach_a_reused_slot() {
        let mut slab = Slab::default();
        let a = slab.insert(inbound());
        assert!(slab.remove(a).is_some());
        let b = slab.insert(inbound());
        assert_eq!(a.index(), b.index(), "the slot is reused");
        assert_ne!(a, b);
        assert!(slab.get(a).is_none());
        assert!(slab.remove(a).is_none());
        assert!(slab.get(b).is_some());
        assert_eq!(slab.id_at(b.index()), Some(b));
        assert_eq!(slab.len(), 1);
        assert_eq!(slab.iter().count(), 1);
    }
}
