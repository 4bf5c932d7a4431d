//! Connections as the engine sees them: who is at the other end, the line framer for
//! what comes in, and the bytes waiting to go out. Kept in a [`Slab`] under stable,
//! generation-checked [`ConnId`]s, so a late event for a closed connection is recognised
//! as stale instead of landing on whichever connection reused its slot.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::few::Few;
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

/// One connection's engine-side state: the bytes in and out, and where it stands. What a
/// connection holds depends on where it stands ([`State`]): what would mean nothing in
/// its state does not exist there.
pub(crate) struct Conn {
    /// A framer holding a line cut by a segment boundary, only while there is one:
    /// complete lines are read straight from the bytes received, so an idle connection
    /// costs no line buffer.
    pub(crate) input: Option<Box<Framer>>,
    /// Bytes not yet written; empty, and holding no allocation, once all are.
    pub(crate) out: Vec<u8>,
    pub(crate) state: State,
}

/// Where a connection stands.
pub(crate) enum State {
    /// Our link to a peer, carrying our probes.
    Link(Link),
    /// Accepted, and not (yet) proved to be a configured peer: it waits in its pool
    /// ([`super::admission`]). Boxed: it lasts a handshake, and at its size every
    /// connection's slot would pay for it.
    Unproved(Box<Unproved>),
    /// Accepted, and proved to be a configured peer: its probes are answered.
    Inbound(Inbound),
}

/// Our link to a peer.
pub(crate) struct Link {
    /// The peer's index.
    pub(crate) peer: usize,
    pub(crate) stage: Stage,
    /// The probes written on it and not yet answered on it, oldest first, as (seq, when
    /// written, monotonic ms). Replies come back in order on one stream, so the front
    /// says how long the link has been stuck.
    pub(crate) awaiting: Few<(u64, u64)>,
}

/// How far our link is. Until it is ready, `deadline` (one `timeout` from the dial)
/// bounds the connect and the handshake together.
pub(crate) enum Stage {
    /// The shell is connecting the socket.
    Connecting { deadline: TimerId },
    /// Connected; our `HELLO` sent, the peer's awaited.
    Hello { deadline: TimerId },
    /// Connected; our `CHALLENGE` (our nonce, `nonce_c`) sent, the listener's awaited.
    /// (Nonces are boxed here and below: they last a handshake, and inline they would
    /// grow every connection's slot.)
    Challenged {
        deadline: TimerId,
        nonce_c: Box<[u8; NONCE_LEN]>,
    },
    /// Our `PROOF` over both nonces sent, our probes behind it; the listener's proof
    /// awaited. `nonces`: ours (`nonce_c`), then the listener's (`nonce_l`).
    Proved {
        deadline: TimerId,
        nonces: Box<[[u8; NONCE_LEN]; 2]>,
    },
    /// Handshake done at `since` (monotonic ms): probes flow.
    Ready { since: u64 },
    /// To a node of the earlier tool, since `since`: probes are HTTP requests, each
    /// response the reply to the oldest request without one.
    Legacy { since: u64, prober: Box<Prober> },
}

impl Stage {
    /// The deadline of a link not yet ready.
    pub(crate) fn deadline(&self) -> Option<TimerId> {
        match *self {
            Stage::Connecting { deadline }
            | Stage::Hello { deadline }
            | Stage::Challenged { deadline, .. }
            | Stage::Proved { deadline, .. } => Some(deadline),
            Stage::Ready { .. } | Stage::Legacy { .. } => None,
        }
    }

    /// When the link became ready, if it is.
    pub(crate) fn ready_since(&self) -> Option<u64> {
        match *self {
            Stage::Ready { since } | Stage::Legacy { since, .. } => Some(since),
            _ => None,
        }
    }

    /// The stage as the shell and metrics see it.
    pub(crate) fn link_state(&self) -> LinkState {
        match self {
            Stage::Connecting { .. } => LinkState::Connecting,
            Stage::Hello { .. } | Stage::Challenged { .. } | Stage::Proved { .. } => {
                LinkState::Handshaking
            }
            Stage::Ready { .. } | Stage::Legacy { .. } => LinkState::Ready,
        }
    }
}

/// Our link to an old node: what matches its responses to our probes.
#[derive(Debug, Default)]
pub(crate) struct Prober {
    pub(crate) reader: crate::legacy::response::Reader,
    /// Our probes' seqs, in the order their requests went out.
    pub(crate) seqs: VecDeque<u64>,
}

/// An accepted connection that has not proved to be a configured peer.
pub(crate) struct Unproved {
    /// Its source address.
    pub(crate) from: SocketAddr,
    /// When it was accepted (monotonic ms).
    pub(crate) since: u64,
    /// When it is closed unless it proves itself: its handshake's deadline, or an HTTP
    /// client's idle limit between requests.
    pub(crate) deadline: TimerId,
    pub(crate) talk: Talk,
    /// It sent an HTTP request: its going away, or staying silent, is routine.
    pub(crate) spoke_http: bool,
}

/// What an unproved connection is saying.
pub(crate) enum Talk {
    /// Nothing yet, or its next HTTP request: a request line or the handshake awaited.
    Idle,
    /// The head of an HTTP request, up to its empty line.
    Http(HttpHead),
    /// Its `CHALLENGE` (claiming to be `peer`, with nonce `nonce_c`) answered with ours
    /// (`nonce_l`): its `PROOF` awaited.
    Challenged {
        peer: usize,
        nonce_c: [u8; NONCE_LEN],
        nonce_l: [u8; NONCE_LEN],
    },
    /// Answered with `Connection: close`: closed once the answer is written; input is
    /// ignored meanwhile.
    Closing,
}

/// The head of an HTTP request being read on an accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HttpHead {
    /// The head so far, as the one request parser reads it (its limits, what
    /// `Connection` asked, its first error).
    pub(crate) head: crate::http::request::Head,
    /// The method is `HEAD`: the answer has no body.
    pub(crate) bodiless: bool,
}

/// An accepted connection proved to be a configured peer.
pub(crate) struct Inbound {
    pub(crate) from: SocketAddr,
    /// The peer's index.
    pub(crate) peer: usize,
    /// When it proved itself (monotonic ms).
    pub(crate) since: u64,
    /// When it last proved itself or brought a `PING`: of a peer's connections, the one
    /// heard from least recently is the one it abandoned.
    pub(crate) heard: u64,
    /// Present once the peer said `DUPLEX` on it (a build that probes first, see
    /// `probe.rs`): our probes riding on our `PONG`s here, waiting for TCP's
    /// acknowledgement (`ack.rs`), (seq, when taken). Boxed, so that the connections of
    /// a mesh without it (a large one, see `Engine::answers_first`) stay as small as
    /// before: 4 of them per peer.
    pub(crate) duplex: Option<Box<crate::few::Few<(u64, u64)>>>,
}

impl Conn {
    pub(crate) fn new(state: State) -> Conn {
        Conn {
            input: None,
            out: Vec::new(),
            state,
        }
    }

    /// Bytes queued and not yet written.
    pub(crate) fn unsent(&self) -> &[u8] {
        &self.out
    }

    /// Who it is, as the shell and metrics see it.
    pub(crate) fn role(&self) -> Role {
        match &self.state {
            State::Link(l) => Role::Out {
                peer: l.peer,
                state: l.stage.link_state(),
            },
            State::Unproved(u) => Role::In {
                from: u.from,
                peer: None,
                since: u.since,
            },
            State::Inbound(i) => Role::In {
                from: i.from,
                peer: Some(i.peer),
                since: i.since,
            },
        }
    }

    /// Our link, if it is one.
    pub(crate) fn link(&self) -> Option<&Link> {
        match &self.state {
            State::Link(l) => Some(l),
            _ => None,
        }
    }

    pub(crate) fn link_mut(&mut self) -> Option<&mut Link> {
        match &mut self.state {
            State::Link(l) => Some(l),
            _ => None,
        }
    }

    /// Our probes waiting for their replies on this connection: a link's, or a peer's
    /// connection to us where they ride on our `PONG`s.
    pub(crate) fn awaiting(&self) -> Option<&crate::few::Few<(u64, u64)>> {
        match &self.state {
            State::Link(l) => Some(&l.awaiting),
            State::Inbound(i) => i.duplex.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn awaiting_mut(&mut self) -> Option<&mut crate::few::Few<(u64, u64)>> {
        match &mut self.state {
            State::Link(l) => Some(&mut l.awaiting),
            State::Inbound(i) => i.duplex.as_deref_mut(),
            _ => None,
        }
    }

    pub(crate) fn unproved_mut(&mut self) -> Option<&mut Unproved> {
        match &mut self.state {
            State::Unproved(u) => Some(u),
            _ => None,
        }
    }

    /// The deadline armed for it, if any (a link not yet ready, an unproved connection).
    pub(crate) fn deadline(&self) -> Option<TimerId> {
        match &self.state {
            State::Link(l) => l.stage.deadline(),
            State::Unproved(u) => Some(u.deadline),
            State::Inbound(_) => None,
        }
    }

    /// Whether it is closed once its output is written (input ignored meanwhile).
    pub(crate) fn closing(&self) -> bool {
        matches!(&self.state, State::Unproved(u) if matches!(u.talk, Talk::Closing))
    }
}

struct Slot<T> {
    generation: u32,
    conn: Option<T>,
}

/// Connections by [`ConnId`]: O(1) insert, lookup and removal; slots are reused.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Inserts what `make` makes of the new connection's id (a deadline's timer names it).
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(ConnId) -> T) -> ConnId {
        self.len += 1;
        if let Some(index) = self.free.pop()
            && let Some(slot) = self.slots.get_mut(index as usize)
        {
            let id = ConnId {
                index,
                generation: slot.generation,
            };
            slot.conn = Some(make(id));
            return id;
        }
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        let id = ConnId {
            index,
            generation: 0,
        };
        self.slots.push(Slot {
            generation: 0,
            conn: Some(make(id)),
        });
        id
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.conn.as_ref())
            .flatten()
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.conn.as_mut()
    }

    pub(crate) fn remove(&mut self, id: ConnId) -> Option<T> {
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

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ConnId, &T)> {
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

    #[test]
    fn stale_ids_do_not_reach_a_reused_slot() {
        let mut slab = Slab::default();
        let a = slab.insert_with(|_| 'a');
        assert_eq!(slab.remove(a), Some('a'));
        let b = slab.insert_with(|id| {
            assert_eq!(id.index(), a.index(), "the slot is reused");
            'b'
        });
        assert_ne!(a, b);
        assert!(slab.get(a).is_none());
        assert!(slab.remove(a).is_none());
        assert_eq!(slab.get(b), Some(&'b'));
        assert_eq!(slab.id_at(b.index()), Some(b));
        assert_eq!(slab.len(), 1);
        assert_eq!(slab.iter().count(), 1);
    }
}
