//! The handshake on both ends of a connection: `HELLO` both ways, or with a secret
//! ([`Engine::set_auth`]) the authenticated handshake of version [`AUTH_VERSION`].
//!
//! Authenticated, both sides send `CHALLENGE` (name and fresh nonce), then the connecting
//! node proves knowledge of the secret over both nonces, both names and the direction
//! (`PROOF`), and only once that proof checks out does the listener send its own. So a
//! caller that knows no secret gets no MAC to guess it from. No probe is answered or
//! counted before the other side's proof (proofs in [`crate::auth`]; nonces from the
//! shell, so runs stay reproducible). The connecting node's probes follow its `PROOF` at
//! once, ahead of the listener's proof.

use std::net::SocketAddr;

use super::conn::{Conn, Stage, State, Talk};
use super::input::Input;
use super::proof::{Auth, Direction, NonceSource, Secret, Transcript};
use super::quiet::Topic;
use super::{CloseReason, ConnId, Engine, Now};
use crate::timer::TimerId;
use crate::wire::message::{AUTH_VERSION, MAC_LEN, Message, NONCE_LEN, PROTOCOL_VERSION};

impl Engine {
    /// Turns on the authenticated handshake (`secret_file`): every connection of this
    /// node, both ways, then proves knowledge of `secret` before any probe is sent,
    /// answered or counted. `nonces` supplies each handshake's fresh random nonce. Call it
    /// right after [`Engine::new`], before any event.
    pub fn set_auth(&mut self, secret: Secret, nonces: NonceSource) {
        self.auth = Auth::new(secret, nonces);
    }

    /// Whether handshakes are authenticated.
    pub fn authenticated(&self) -> bool {
        self.auth.is_some()
    }

    /// Our link `conn` is connected (its `deadline` armed): we speak first, `HELLO`, or
    /// with a secret our `CHALLENGE`.
    pub(super) fn start_handshake(&mut self, conn: ConnId, deadline: TimerId, now: Now) {
        if self.auth.is_none() {
            return self.send_hello(conn, now);
        }
        let Some(nonce_c) = self.nonce() else {
            return self.close(conn, CloseReason::NoRandom, now);
        };
        if let Some(link) = self.conns.get_mut(conn).and_then(Conn::link_mut) {
            link.stage = Stage::Challenged {
                deadline,
                nonce_c: Box::new(nonce_c),
            };
        }
        self.send_challenge(conn, nonce_c, now);
    }

    /// A line on our link `conn` to `peer` during its handshake.
    pub(super) fn link_handshake(&mut self, conn: ConnId, peer: usize, input: Input, now: Now) {
        let auth = self.auth.is_some();
        match input {
            Input::Hello { name } if !auth => self.link_ready(conn, peer, &name, now),
            Input::Challenge {
                version,
                name,
                nonce,
            } if auth => self.on_their_challenge(conn, peer, version, &name, nonce, now),
            Input::Proof(mac) if auth => self.on_their_proof(conn, peer, &mac, now),
            // The previous release's listener answering our `CHALLENGE` (version 1).
            Input::Response if auth => self.close(conn, CloseReason::OldVersion, now),
            _ => self.close(conn, CloseReason::Unexpected, now),
        }
    }

    fn send_hello(&mut self, conn: ConnId, now: Now) {
        let mut out = Vec::new();
        Message::Hello {
            version: PROTOCOL_VERSION,
            name: &self.whoami,
        }
        .encode(&mut out);
        self.queue(conn, &out, now);
    }

    /// Sends our `CHALLENGE`: our name and our fresh nonce (both sides send one).
    fn send_challenge(&mut self, conn: ConnId, nonce: [u8; NONCE_LEN], now: Now) {
        let mut out = Vec::new();
        Message::Challenge {
            version: AUTH_VERSION,
            name: &self.whoami,
            nonce,
        }
        .encode(&mut out);
        self.queue(conn, &out, now);
    }

    /// Our link's `CHALLENGE` was answered by the listener's: it must be `peer`, speaking
    /// this handshake's version. We prove first (the listener proves only to a caller
    /// that did), and our waiting probes follow the `PROOF` at once: no round trip is
    /// lost to the listener's proof, which comes back ahead of their `PONG`s.
    fn on_their_challenge(
        &mut self,
        conn: ConnId,
        peer: usize,
        version: u32,
        name: &str,
        nonce_l: [u8; NONCE_LEN],
        now: Now,
    ) {
        if name != self.name(peer) {
            return self.wrong_node(conn, peer, name, now);
        }
        if version < AUTH_VERSION {
            return self.close(conn, CloseReason::OldVersion, now);
        }
        let Some((deadline, nonce_c)) = (match self.link_stage(conn) {
            Some(Stage::Challenged { deadline, nonce_c }) => Some((*deadline, **nonce_c)),
            _ => None,
        }) else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        let whoami = self.whoami.clone();
        let Some(proof) = self.prove(Direction::Connector, &nonce_c, &nonce_l, &whoami, name)
        else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        if let Some(link) = self.conns.get_mut(conn).and_then(Conn::link_mut) {
            link.stage = Stage::Proved {
                deadline,
                nonces: Box::new([nonce_c, nonce_l]),
            };
        }
        self.send_message(conn, Message::Proof { mac: proof }, now);
        self.send_waiting_probes(conn, peer, now);
    }

    /// The listener's `PROOF` on our link, after ours: it must prove it knows the secret
    /// for this connection's nonces; then the link is ready.
    fn on_their_proof(&mut self, conn: ConnId, peer: usize, mac: &[u8; MAC_LEN], now: Now) {
        let Some(&[nonce_c, nonce_l]) = (match self.link_stage(conn) {
            Some(Stage::Proved { nonces, .. }) => Some(&**nonces),
            _ => None,
        }) else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        let (whoami, name) = (self.whoami.clone(), self.name(peer).to_string());
        if !self.verify(Direction::Listener, &nonce_c, &nonce_l, &whoami, &name, mac) {
            return self.close(conn, CloseReason::AuthFailed, now);
        }
        self.link_ready(conn, peer, &name, now);
    }

    /// How far our link `conn` is.
    fn link_stage(&self, conn: ConnId) -> Option<&Stage> {
        Some(&self.conns.get(conn)?.link()?.stage)
    }

    /// An accepted connection's `HELLO` (no secret here): a configured peer from its own
    /// ip gets ours, and its `PING`s are answered.
    pub(super) fn on_hello(&mut self, conn: ConnId, from: SocketAddr, name: &str, now: Now) {
        if self.auth.is_some() {
            return self.close(conn, CloseReason::AuthRequired, now);
        }
        if let Some(peer) = self.check_claim(conn, from, name, now) {
            self.send_hello(conn, now);
            self.inbound_ready(conn, peer, from, now);
        }
    }

    /// An accepted connection's `CHALLENGE`: a configured peer from its own ip, speaking
    /// this handshake's version, gets our name and nonce, and no proof yet: ours goes only
    /// to a caller whose own proof checked out (else anyone at a peer's address could
    /// collect proofs over nonces of its choosing to guess the secret offline).
    pub(super) fn on_challenge(
        &mut self,
        conn: ConnId,
        from: SocketAddr,
        version: u32,
        name: &str,
        nonce_c: [u8; NONCE_LEN],
        now: Now,
    ) {
        if self.auth.is_none() {
            return self.close(conn, CloseReason::NoSecret, now);
        }
        if let Some(State::Unproved(u)) = self.conns.get(conn).map(|c| &c.state)
            && matches!(u.talk, Talk::Challenged { .. })
        {
            return self.close(conn, CloseReason::Unexpected, now);
        }
        let Some(peer) = self.check_claim(conn, from, name, now) else {
            return;
        };
        if version < AUTH_VERSION {
            // Only from the claimed peer's own address (checked above), so what it says
            // is likely, though anyone there could send it.
            let msg = format!(
                "connection from {from} (as peer {name}) closed: it asks for the previous \
                 release's authenticated handshake (version {version}); this release speaks \
                 version {AUTH_VERSION} only: upgrade {name}"
            );
            self.say_limited(Topic::OldVersion, now, msg);
            return self.close(conn, CloseReason::OldVersion, now);
        }
        let Some(nonce_l) = self.nonce() else {
            return self.close(conn, CloseReason::NoRandom, now);
        };
        if let Some(u) = self.conns.get_mut(conn).and_then(Conn::unproved_mut) {
            u.talk = Talk::Challenged {
                peer,
                nonce_c,
                nonce_l,
            };
        }
        self.send_challenge(conn, nonce_l, now);
    }

    /// An accepted connection's `PROOF`: it must be the claimed peer's proof for this
    /// connection's two nonces. Then, and only then, ours goes back, and its `PING`s are
    /// answered.
    pub(super) fn on_proof(
        &mut self,
        conn: ConnId,
        from: SocketAddr,
        mac: &[u8; MAC_LEN],
        now: Now,
    ) {
        let talk = self
            .conns
            .get_mut(conn)
            .and_then(Conn::unproved_mut)
            .map(|u| std::mem::replace(&mut u.talk, Talk::Idle));
        let Some(Talk::Challenged {
            peer,
            nonce_c,
            nonce_l,
        }) = talk
        else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        let peer_name = self.name(peer).to_string();
        let whoami = self.whoami.clone();
        if !self.verify(
            Direction::Connector,
            &nonce_c,
            &nonce_l,
            &peer_name,
            &whoami,
            mac,
        ) {
            // Anyone at a peer's address can fail handshakes in its name, as often as it
            // likes: its own rate limit, and words that blame neither side.
            let msg = format!(
                "connection from {from} (as peer {peer_name}) closed: authentication failed: \
                 its proof does not match this node's secret (another secret_file on \
                 {peer_name}, or someone else at its address)"
            );
            self.say_limited(Topic::AuthFailed, now, msg);
            return self.close(conn, CloseReason::AuthFailed, now);
        }
        let Some(proof) = self.prove(Direction::Listener, &nonce_c, &nonce_l, &peer_name, &whoami)
        else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        self.send_message(conn, Message::Proof { mac: proof }, now);
        self.inbound_ready(conn, peer, from, now);
    }

    /// A fresh nonce, or `None` without a secret or when no random bytes could be had.
    fn nonce(&mut self) -> Option<[u8; NONCE_LEN]> {
        match self.auth.as_mut()?.nonce() {
            Ok(nonce) => Some(nonce),
            Err(e) => {
                self.say(format!(
                    "this machine: no random bytes for a handshake: {e}"
                ));
                None
            }
        }
    }

    /// `dir`'s proof over the nonces and names (connector's name first); `None` without
    /// a secret.
    fn prove(
        &self,
        dir: Direction,
        nonce_c: &[u8; NONCE_LEN],
        nonce_l: &[u8; NONCE_LEN],
        name_c: &str,
        name_l: &str,
    ) -> Option<[u8; MAC_LEN]> {
        let t = Transcript {
            nonce_c,
            nonce_l,
            name_c,
            name_l,
        };
        Some(self.auth.as_ref()?.prove(dir, &t))
    }

    /// Whether `mac` is `dir`'s proof over the nonces and names (constant-time compare);
    /// never without a secret.
    fn verify(
        &self,
        dir: Direction,
        nonce_c: &[u8; NONCE_LEN],
        nonce_l: &[u8; NONCE_LEN],
        name_c: &str,
        name_l: &str,
        mac: &[u8; MAC_LEN],
    ) -> bool {
        let t = Transcript {
            nonce_c,
            nonce_l,
            name_c,
            name_l,
        };
        self.auth.as_ref().is_some_and(|a| a.verify(dir, &t, mac))
    }
}
