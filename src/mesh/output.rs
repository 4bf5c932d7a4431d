//! Bytes out: each connection's unsent output, bounded, and the shell told when to write.

use super::conn::Conn;
use super::{Action, CloseReason, ConnId, Engine, Now};
use crate::wire::framer::MAX_LINE;
use crate::wire::message::{Message, decimal};

/// Most unsent bytes queued on one connection; a peer that does not read is cut off.
pub const MAX_OUTPUT: usize = 16 * 1024;
/// Most room kept for a connection's next output once all is written: a `PING` or `PONG`
/// line with any seq (at most 26 bytes).
const KEPT_OUTPUT: usize = 32;

impl Engine {
    /// `conn`'s bytes waiting to be written (empty for an unknown or closed connection).
    pub fn output(&self, conn: ConnId) -> &[u8] {
        self.conns.get(conn).map_or(&[], Conn::unsent)
    }

    /// The shell wrote `n` bytes of [`Engine::output`].
    pub fn wrote(&mut self, conn: ConnId, n: usize) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if n < c.out.len() {
            // A short write (the socket's buffer full): rare, so the rest moves down
            // rather than every connection keeping an offset.
            c.out.drain(..n);
        } else {
            // Room for a probe's line is kept (no allocation per PING or PONG, which the
            // simulator would feel); a larger burst's (a handshake, a view) is freed:
            // 4,000 connections each keeping the buffer their largest burst grew were
            // most of the daemon's memory at 1000 peers.
            if c.out.capacity() > KEPT_OUTPUT {
                c.out = Vec::new();
            } else {
                c.out.clear();
            }
            if c.closing() {
                let now = self.last;
                self.close(conn, CloseReason::Done, now);
            }
        }
    }

    /// Appends `bytes` to `conn`'s output; asks the shell to send if it was empty. Too
    /// much unread output closes the connection.
    pub(super) fn queue(&mut self, conn: ConnId, bytes: &[u8], now: Now) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let was_empty = c.out.is_empty();
        c.out.extend_from_slice(bytes);
        if c.out.len() > MAX_OUTPUT {
            return self.close(conn, CloseReason::NotReading, now);
        }
        if was_empty {
            self.actions.push_back(Action::Send { conn });
        }
    }

    /// Sends probe `seq` to `peer` on `conn`, noting when (for its round-trip time).
    pub(super) fn send_message(&mut self, conn: ConnId, msg: Message<'_>, now: Now) {
        let mut buf = [0u8; 64];
        let mut out = Vec::new();
        // Short messages (PING/PONG) are encoded without allocating.
        let bytes: &[u8] = match msg {
            Message::Ping { seq } => encode_seq(&mut buf, b"PING ", seq),
            Message::Pong { seq } => encode_seq(&mut buf, b"PONG ", seq),
            _ => {
                msg.encode(&mut out);
                &out
            }
        };
        self.queue(conn, bytes, now);
    }
}

/// `<verb><seq>\n` into `buf` (a u64 has at most 20 digits, so 64 bytes always fit), each
/// part copied once (a byte-at-a-time iterator chain cost about 180 instructions a
/// message at opt-level "z"; every probe and reply is one).
pub(super) fn encode_seq<'b>(buf: &'b mut [u8; 64], verb: &[u8; 5], seq: u64) -> &'b [u8] {
    let (scratch, start) = decimal(seq);
    let digits = scratch.get(start..).unwrap_or_default();
    let mut at = 0;
    for part in [verb.as_slice(), digits, b"\n"] {
        if let Some(slot) = buf.get_mut(at..at + part.len()) {
            slot.copy_from_slice(part);
        }
        at += part.len();
    }
    buf.get(..at).unwrap_or_default()
}

const _: () = assert!(MAX_LINE >= 64);
