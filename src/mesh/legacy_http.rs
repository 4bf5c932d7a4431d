//! The earlier tool's HTTP: answering its probers' requests on the listener, and reading
//! an old node's responses to our probes.
//!
//! An accepted connection whose first line is an HTTP request gets the earlier tool's
//! answer for its source address ([`crate::legacy`]); strangers are let in for that
//! alone, briefly, and closed once answered. A peer with `legacy_http` is probed with
//! HTTP `GET /` on a kept-alive link, its responses matched to the probes in order.

use std::net::SocketAddr;

use super::conn::{Conn, HttpHead, Stage, Talk};
use super::{CloseReason, ConnId, Engine, Now, Timer};
use crate::legacy::request::{self, Header, RequestLine};
use crate::legacy::{self as old, Answer};

/// Time a kept-alive HTTP connection may stay idle between requests (Bun's default).
pub const HTTP_IDLE_MS: u64 = 10_000;

impl Engine {
    /// An HTTP request line on an accepted connection: its head follows.
    pub(super) fn http_request(&mut self, conn: ConnId, line: RequestLine, len: usize) {
        if let Some(u) = self.conns.get_mut(conn).and_then(Conn::unproved_mut) {
            u.spoke_http = true;
            u.talk = Talk::Http(HttpHead {
                head: line.head,
                http10: line.http10,
                bytes: len,
                ..HttpHead::default()
            });
        }
    }

    /// One header line of an HTTP request on an accepted connection; the empty line ends
    /// the head and gets the earlier tool's answer for the source address.
    pub(super) fn http_header(
        &mut self,
        conn: ConnId,
        from: SocketAddr,
        header: Header,
        len: usize,
        now: Now,
    ) {
        let Some(u) = self.conns.get_mut(conn).and_then(Conn::unproved_mut) else {
            return;
        };
        let Talk::Http(http) = &mut u.talk else {
            return self.close(conn, CloseReason::Unexpected, now);
        };
        http.lines += 1;
        http.bytes = http.bytes.saturating_add(len);
        match header {
            Header::End => {}
            Header::Connection { close, keep_alive } => {
                http.close |= close;
                http.keep_alive |= keep_alive;
            }
            Header::Body => http.body = true,
            Header::Other => {}
            Header::Malformed => http.malformed = true,
        }
        let too_large = http.lines > request::MAX_HEADERS || http.bytes > request::MAX_HEAD;
        if header != Header::End && !too_large {
            return;
        }
        let http = *http;
        u.talk = Talk::Idle;
        self.http_answer(conn, from, http, too_large, now);
    }

    /// The head of a request on `conn` from `from` is complete (or `too_large`): the
    /// earlier tool's answer for the source address, or a refusal.
    fn http_answer(
        &mut self,
        conn: ConnId,
        from: SocketAddr,
        http: HttpHead,
        too_large: bool,
        now: Now,
    ) {
        let mut out = Vec::new();
        if too_large || http.malformed || http.body {
            old::refusal(&mut out, too_large);
            self.queue(conn, &out, now);
            return self.finish(conn, now);
        }
        let ip = from.ip().to_canonical();
        let answer = Answer::for_source(ip, self.peer_ips.contains(&ip));
        // Only the earlier tool's probers (configured nodes) keep their connection for
        // the next request. A stranger gets one answer per connection and the door, so
        // it holds a stranger's place only while its request is read and answered: kept
        // alive, a few strangers held every place (a monitoring check opens a new
        // connection each time anyway, and any HTTP client takes `Connection: close`).
        let keep =
            answer == Answer::StillOnline && !http.close && (!http.http10 || http.keep_alive);
        old::answer(&mut out, answer, keep, http.http10, http.head);
        self.queue(conn, &out, now);
        if !keep {
            return self.finish(conn, now);
        }
        // It waits for its next request in its address's places, evicted after those
        // silent longer.
        self.waiting.touch(conn, ip, now.mono);
        let timer = self
            .wheel
            .schedule(now.mono + HTTP_IDLE_MS, Timer::Hello(conn));
        if let Some(u) = self.conns.get_mut(conn).and_then(Conn::unproved_mut) {
            let old = std::mem::replace(&mut u.deadline, timer);
            self.wheel.cancel(old);
        }
    }

    /// Closes `conn` once its output is written.
    fn finish(&mut self, conn: ConnId, now: Now) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if c.unsent().is_empty() {
            self.close(conn, CloseReason::Done, now);
        } else if let Some(u) = c.unproved_mut() {
            u.talk = Talk::Closing;
        }
    }

    /// Probe `seq` on our link `conn` to `peer`, an old node: an HTTP `GET /`, its
    /// response matched to the oldest request without one.
    pub(super) fn send_legacy_probe(&mut self, conn: ConnId, peer: usize, seq: u64, now: Now) {
        let Some(Stage::Legacy { prober, .. }) = self
            .conns
            .get_mut(conn)
            .and_then(Conn::link_mut)
            .map(|l| &mut l.stage)
        else {
            return;
        };
        if prober.reader.until_close() {
            // The old node's last response runs to the end of the connection: this one
            // cannot carry another request. A fresh link takes the waiting probes.
            self.close(conn, CloseReason::Done, now);
            return self.connect(peer, now);
        }
        prober.seqs.push_back(seq);
        let Some(addr) = self.peers.get(peer).map(|p| p.addr) else {
            return;
        };
        let mut out = Vec::new();
        old::probe_request(&mut out, addr);
        self.queue(conn, &out, now);
    }

    /// Bytes from an old node on our link `conn`: each whole HTTP response is the reply
    /// to the oldest probe whose request has no response yet; garbage ends the link.
    pub(super) fn legacy_data(&mut self, conn: ConnId, data: &[u8], now: Now) {
        let Some(link) = self.conns.get_mut(conn).and_then(Conn::link_mut) else {
            return;
        };
        let (peer, Stage::Legacy { prober, .. }) = (link.peer, &mut link.stage) else {
            return;
        };
        let (n, result) = prober.reader.feed(data);
        for _ in 0..n {
            let Some(link) = self.conns.get_mut(conn).and_then(Conn::link_mut) else {
                return;
            };
            let Stage::Legacy { prober, .. } = &mut link.stage else {
                return;
            };
            let Some(seq) = prober.seqs.pop_front() else {
                return self.close(conn, CloseReason::Unexpected, now);
            };
            link.awaiting.pop_front();
            self.replied(peer, seq, now);
        }
        // The responses before the garbage counted; the garbage ends the link.
        if let Err(e) = result {
            self.close(conn, CloseReason::BadResponse(e), now);
        }
    }

    /// Whether `conn` is our link to an old node with no request waiting for its
    /// response: its close is routine (its response ran to the end, or it closes idle
    /// connections), and the next probe redials.
    pub(super) fn legacy_idle(&self, conn: ConnId) -> bool {
        self.conns.get(conn).and_then(Conn::link).is_some_and(
            |l| matches!(&l.stage, Stage::Legacy { prober, .. } if prober.seqs.is_empty()),
        )
    }
}
