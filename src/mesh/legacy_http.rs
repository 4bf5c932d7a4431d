//! The earlier tool's HTTP: answering its probers' requests on the listener, and reading
//! an old node's responses to our probes.

use std::net::SocketAddr;

use super::conn::HttpIn;
use super::{CloseReason, ConnId, Engine, Now, Role, Timer};
use crate::legacy::request::{self, Header};
use crate::legacy::{self as old, Answer};

/// Time a kept-alive HTTP connection may stay idle between requests (Bun's default).
pub const HTTP_IDLE_MS: u64 = 10_000;

impl Engine {
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
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let Some(http) = c.http.as_mut().filter(|h| h.open) else {
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
        c.http = Some(HttpIn {
            open: false,
            ..http
        });
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
        if let Some(old) = self
            .conns
            .get_mut(conn)
            .and_then(|c| c.timer.replace(timer))
        {
            self.wheel.cancel(old);
        }
    }

    /// Closes `conn` once its output is written.
    pub(super) fn finish(&mut self, conn: ConnId, now: Now) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if c.unsent().is_empty() {
            self.close(conn, CloseReason::Done, now);
        } else {
            c.closing = true;
        }
    }

    /// `read` HTTP responses came in on our link to an old node: each is the reply to the
    /// oldest probe whose request has no response yet.
    pub(super) fn on_responses(
        &mut self,
        conn: ConnId,
        (n, result): (usize, Result<(), old::response::Error>),
        now: Now,
    ) {
        for _ in 0..n {
            let Some(c) = self.conns.get_mut(conn) else {
                return;
            };
            let (Some(legacy), Role::Out { peer, .. }) = (c.legacy.as_mut(), c.role) else {
                return;
            };
            let Some(seq) = legacy.seqs.pop_front() else {
                return self.close(conn, CloseReason::Unexpected, now);
            };
            c.awaiting.pop_front();
            self.replied(peer, seq, now);
        }
        // The responses before the garbage counted; the garbage ends the link.
        if let Err(e) = result {
            self.close(conn, CloseReason::BadResponse(e), now);
        }
    }
}
