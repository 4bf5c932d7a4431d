//! A peer's connections to us, once proved: their `PING`s answered with `PONG`s. A peer
//! keeps two links to us, so two are kept per peer; a third means the peer redialled
//! one, and the one it abandoned goes.

use std::net::SocketAddr;

use super::conn::{Conn, Inbound, State};
use super::input::Input;
use super::quiet::Topic;
use super::{CloseReason, ConnId, Engine, Message, Now};

impl Engine {
    /// An accepted connection proved to be `peer` (its `HELLO`, or its `PROOF`): its
    /// `PING`s are answered from now on.
    pub(super) fn inbound_ready(&mut self, conn: ConnId, peer: usize, from: SocketAddr, now: Now) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if let Some(t) = c.deadline() {
            self.wheel.cancel(t);
        }
        c.state = State::Inbound(Inbound {
            from,
            peer,
            since: now.mono,
            heard: now.mono,
            duplex: None,
        });
        self.waiting.remove(conn, from.ip().to_canonical());
        self.replace_abandoned(conn, peer, now);
        // A fresh handshake proves the peer reachable.
        self.redial_stale(peer, now);
    }

    /// `conn` is `peer`'s newest connection. A peer keeps two links to us: a third
    /// connection means it redialled one, and the one it abandoned is the one it stopped
    /// probing on (its close may still be on the way, or lost).
    fn replace_abandoned(&mut self, conn: ConnId, peer: usize, now: Now) {
        let heard = |id: ConnId| match self.conns.get(id).map(|c| &c.state) {
            Some(State::Inbound(i)) => i.heard,
            _ => 0,
        };
        let (newer, older) = self
            .peers
            .get(peer)
            .map_or((None, None), |p| (p.inbound, p.inbound_older));
        let dead = match (newer, older) {
            (Some(n), Some(o)) if n != conn && o != conn => {
                Some(if heard(n) < heard(o) { n } else { o })
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
    }

    /// A line on a peer's proved connection: its probes.
    pub(super) fn inbound_input(&mut self, conn: ConnId, input: Input, now: Now) {
        match input {
            // After the handshake an unknown verb is a newer peer's business, and so is
            // an answer that only a link carries (a newer peer's use of it).
            Input::Unknown | Input::Clocked(..) => {}
            Input::View { digest, states } => {
                if let Some(peer) = self.inbound_peer(conn) {
                    self.on_view(peer, digest, &states, now);
                }
            }
            Input::Clock(t0) => self.on_clock(conn, t0, now),
            // Taken where our probes may ride (a round of one slot, see `probe.rs`):
            // elsewhere it would cost a little memory per connection for nothing.
            Input::Duplex if self.slots() == 1 => {
                if let Some(Conn {
                    state: State::Inbound(i),
                    ..
                }) = self.conns.get_mut(conn)
                {
                    i.duplex.get_or_insert_default();
                }
            }
            Input::Duplex => {}
            // No `PING` of ours is written here (our probes ride on our `PONG`s and are
            // answered by TCP's acknowledgement, `ack.rs`): a `PONG` answers nothing.
            Input::Pong(_) if self.duplex_peer(conn).is_some() => {}
            Input::Ping(seq) => {
                if let Some(Conn {
                    state: State::Inbound(i),
                    ..
                }) = self.conns.get_mut(conn)
                {
                    i.heard = now.mono;
                    if i.duplex.is_some() {
                        // Our turn for this peer may go with the `PONG` (`take_turns`).
                        // Once per run of its `PING`s (a flood adds no more).
                        let peer = i.peer;
                        if self.answered.last() != Some(&peer) {
                            self.answered.push(peer);
                        }
                    }
                }
                self.send_message(conn, Message::Pong { seq }, now);
                self.awake_for_replies(now);
            }
            _ => self.close(conn, CloseReason::Unexpected, now),
        }
    }

    /// The peer whose proved connection `conn` is, if it announced `DUPLEX`.
    fn duplex_peer(&self, conn: ConnId) -> Option<usize> {
        match self.conns.get(conn).map(|c| &c.state) {
            Some(State::Inbound(i)) if i.duplex.is_some() => Some(i.peer),
            _ => None,
        }
    }

    /// The peer whose proved connection `conn` is.
    fn inbound_peer(&self, conn: ConnId) -> Option<usize> {
        match self.conns.get(conn).map(|c| &c.state) {
            Some(State::Inbound(i)) => Some(i.peer),
            _ => None,
        }
    }

    /// `peer`'s proved connection `conn` closed: said (rate-limited) unless routine.
    pub(super) fn inbound_closed(
        &mut self,
        conn: ConnId,
        peer: usize,
        reason: CloseReason,
        now: Now,
    ) {
        if let Some(p) = self.peers.get_mut(peer) {
            if p.inbound == Some(conn) {
                p.inbound = p.inbound_older.take();
            } else if p.inbound_older == Some(conn) {
                p.inbound_older = None;
            }
        }
        // A peer closing its own connection is routine (it restarted or redialled);
        // anything else is worth a line.
        if !matches!(
            reason,
            CloseReason::ClosedByPeer | CloseReason::Replaced | CloseReason::Reconfigured
        ) {
            // Rate-limited: anyone on a peer's host can open connections in its name and
            // misbehave (without a secret, that is all it takes).
            let msg = format!("connection from peer {} closed: {reason}", self.name(peer));
            self.say_limited(Topic::PeerConns, now, msg);
        }
    }
}
