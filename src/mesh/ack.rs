//! Probes answered by TCP's acknowledgement (a round of one slot, see `probe.rs`).
//!
//! Of two nodes, the later in the node list answers the earlier's `PING` and takes its
//! own turn for that peer in the same pass. That probe writes nothing: the `PONG` it
//! rides on is the probe. The peer's `PING` has just shown its daemon alive and its path
//! to us working; what is left to know is whether our path to it works, and the peer's
//! kernel tells that by acknowledging the `PONG`'s bytes. So the shell reports, for each
//! connection [`Engine::acks`] names, once every byte written on it is acknowledged
//! ([`Engine::on_acked`]: on Linux `TCP_INFO` shows nothing unacknowledged and nothing
//! unsent), and each probe riding there is answered. A pair's clean round is two writes
//! (the `PING`, the `PONG`) and one pure ACK, instead of three writes with a third
//! `PONG` back; the kernels did that ACK's work before as well, inside the third write.
//!
//! Everything else is a probe's usual life: it is hedged (no acknowledgement within the
//! hedge delay and it goes out as a `PING` on both our links, the peer turns dual), it
//! has its deadline, and a connection that closes under it leaves it to the hedge and
//! the deadline. A path whose acknowledgements do not come back (a one-way link) is
//! found as before: the hedge's `PING`s get no `PONG`. docs/protocol.md, "Duplex probes".

use super::conn::State;
use super::{ConnId, Engine, Now};

impl Engine {
    /// Probe `seq` to `peer` rides on the `PONG` queued on `peer`'s connection `conn`:
    /// nothing more is written, and the acknowledgement of that write answers it.
    pub(super) fn ride(&mut self, conn: ConnId, peer: usize, seq: u64, now: Now) {
        if self.await_reply(conn, peer, seq, now) && !self.acks.contains(&conn) {
            self.acks.push(conn);
        }
    }

    /// The connections with probes riding on what was written there, waiting for TCP's
    /// acknowledgement of it: the shell reports each with [`Engine::on_acked`] once its
    /// output is written and acknowledged, checking after the pass's writes (on a fast
    /// path the acknowledgement is often already there) and at the start of every later
    /// pass, before the timers run (so a hedge or a deadline sees it).
    pub fn acks(&self) -> &[ConnId] {
        &self.acks
    }

    /// Every byte the engine gave the shell for `conn` is written and acknowledged by the
    /// peer's kernel; `rtt_us`, the kernel's smoothed round trip of that connection if
    /// the shell knows it, is what the riding probes' round trips show (the moment the
    /// shell looks is later than the acknowledgement's). Each probe riding on `conn` is
    /// answered. Ignored while output is still queued (the shell has not written it).
    pub fn on_acked(&mut self, conn: ConnId, rtt_us: Option<u64>, now: Now) {
        self.roll_day(now);
        let Some(c) = self.conns.get_mut(conn) else {
            self.acks.retain(|&id| id != conn);
            return;
        };
        if !c.unsent().is_empty() {
            return;
        }
        self.acks.retain(|&id| id != conn);
        let peer = match &c.state {
            State::Inbound(i) => i.peer,
            _ => return,
        };
        let Some(awaiting) = c.awaiting_mut() else {
            return;
        };
        let riding = std::mem::take(awaiting);
        for &(seq, _) in riding.iter() {
            self.replied_in(peer, seq, rtt_us, now);
        }
    }

    /// The probes to `peer` riding on its connections to us, waiting for an
    /// acknowledgement (empty, without allocating, when none does).
    pub(super) fn riding(&self, peer: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        for &id in &self.acks {
            if let Some(c) = self.conns.get(id)
                && matches!(&c.state, State::Inbound(i) if i.peer == peer)
                && let Some(awaiting) = c.awaiting()
            {
                seqs.extend(awaiting.iter().map(|&(seq, _)| seq));
            }
        }
        seqs
    }

    /// `conn` is gone: nothing rides on it any more.
    pub(super) fn forget_acks(&mut self, conn: ConnId) {
        self.acks.retain(|&id| id != conn);
    }

    /// Whether probe `seq` rides on `conn` waiting for an acknowledgement.
    #[cfg(test)]
    pub(super) fn rides(&self, conn: ConnId, seq: u64) -> bool {
        self.acks.contains(&conn)
            && self
                .conns
                .get(conn)
                .and_then(super::conn::Conn::awaiting)
                .is_some_and(|a| a.iter().any(|&(s, _)| s == seq))
    }
}
