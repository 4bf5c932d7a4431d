//! Bytes in: lines cut from what a connection sends, decoded into owned values.

use super::conn::{Conn, HttpHead, Link, Stage, State, Talk};
use super::{CloseReason, ConnId, Engine, Now};
use crate::http::request::{self, Error, Head, Progress};
use crate::wire::framer::{Framer, MAX_LINE};
use crate::wire::message::{self, MAC_LEN, Message, NONCE_LEN};

/// One line read from a connection, decoded into owned values so the engine can act on
/// it after the framer's borrow ends.
pub(super) enum Input {
    Hello {
        name: String,
    },
    Challenge {
        version: u32,
        name: String,
        nonce: [u8; NONCE_LEN],
    },
    /// The previous release's listener answering our `CHALLENGE` (handshake version 1).
    Response,
    Proof([u8; MAC_LEN]),
    /// An HTTP request line on an accepted connection: its head follows (or it is
    /// already too large).
    HttpRequest(Result<HttpHead, Error>),
    /// A line of that head: the head after it, and what the line made of it.
    HttpHeader(HttpHead, Result<Progress, Error>),
    Ping(u64),
    Pong(u64),
    View {
        digest: [u8; message::DIGEST_LEN],
        states: String,
    },
    Clock(u64),
    Clocked(u64, u64),
    Duplex,
    Unknown,
    Bad(CloseReason),
}

impl Engine {
    /// Bytes read from `conn`. Complete lines are acted on at once (replies queued, probes
    /// settled); a protocol error closes the connection.
    pub fn on_data(&mut self, conn: ConnId, mut data: &[u8], now: Now) {
        self.roll_day(now);
        loop {
            let Some(c) = self.conns.get_mut(conn) else {
                return;
            };
            if c.closing() {
                return;
            }
            if let Some(Link {
                stage: Stage::Legacy { .. },
                ..
            }) = c.link()
            {
                return self.legacy_data(conn, data, now);
            }
            let mode = line_mode(c);
            let Some(framer) = c.input.as_mut() else {
                // No partial line pending: take whole lines straight from `data`, with
                // the framer's rules (`\n` ends a line, one `\r` before it is dropped,
                // at most MAX_LINE bytes with the `\n`).
                let Some(end) = data.iter().position(|&b| b == b'\n') else {
                    if data.len() >= MAX_LINE {
                        return self.close(conn, CloseReason::LineTooLong, now);
                    }
                    if !data.is_empty() {
                        let mut framer = Box::new(Framer::new());
                        framer.push(data);
                        c.input = Some(framer);
                    }
                    return;
                };
                if end >= MAX_LINE {
                    return self.close(conn, CloseReason::LineTooLong, now);
                }
                let line = data.get(..end).unwrap_or_default();
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let input = decode(mode, line);
                data = data.get(end + 1..).unwrap_or_default();
                self.on_input(conn, input, now);
                continue;
            };
            // A partial line is pending: the framer joins it with what follows.
            let taken = framer.push(data);
            data = data.get(taken..).unwrap_or_default();
            loop {
                let input = match self.conns.get_mut(conn) {
                    None => return,
                    Some(c) if c.closing() => return,
                    Some(c) => match (line_mode(c), c.input.as_mut().map(|f| f.next_line())) {
                        (_, None | Some(Ok(None))) => break,
                        (mode, Some(Ok(Some(line)))) => decode(mode, line),
                        (_, Some(Err(_))) => Input::Bad(CloseReason::LineTooLong),
                    },
                };
                self.on_input(conn, input, now);
            }
            if let Some(c) = self.conns.get_mut(conn)
                && c.input.as_ref().is_some_and(|f| f.buffered() == 0)
            {
                c.input = None;
            }
            if data.is_empty() {
                return;
            }
        }
    }
}

/// How a connection's next line is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineMode {
    /// The mesh protocol.
    Protocol,
    /// An accepted connection between requests: an HTTP request line, or the protocol.
    MaybeHttp,
    /// Inside an HTTP request head: header lines, read into this head.
    Http(HttpHead),
}

fn line_mode(c: &Conn) -> LineMode {
    match &c.state {
        State::Unproved(u) => match u.talk {
            Talk::Http(head) => LineMode::Http(head),
            Talk::Idle | Talk::Closing => LineMode::MaybeHttp,
            Talk::Challenged { .. } => LineMode::Protocol,
        },
        State::Link(_) | State::Inbound(_) => LineMode::Protocol,
    }
}

/// Decodes one line into owned values.
fn decode(mode: LineMode, line: &[u8]) -> Input {
    // Each line's length with its line end (counted as 2, `\r\n`), for the head limit.
    let len = line.len().saturating_add(2);
    match mode {
        LineMode::Http(mut http) => {
            let progress = http.head.line(line, len);
            return Input::HttpHeader(http, progress);
        }
        // A line that is no request line may be a mesh protocol line (no mesh line is a
        // request line): the protocol's parser decides.
        LineMode::MaybeHttp => {
            if let Ok(request) = request::request_line(line) {
                let bodiless = request.method == "HEAD";
                return Input::HttpRequest(
                    Head::new(&request, len).map(|head| HttpHead { head, bodiless }),
                );
            }
        }
        LineMode::Protocol => {}
    }
    match message::parse(line) {
        Ok(Message::Hello { name, .. }) => Input::Hello {
            name: name.to_string(),
        },
        Ok(Message::Ping { seq }) => Input::Ping(seq),
        Ok(Message::Pong { seq }) => Input::Pong(seq),
        Ok(Message::Challenge {
            version,
            name,
            nonce,
        }) => Input::Challenge {
            version,
            name: name.to_string(),
            nonce,
        },
        Ok(Message::Response { .. }) => Input::Response,
        Ok(Message::Proof { mac }) => Input::Proof(mac),
        Ok(Message::View { digest, states }) => Input::View {
            digest,
            states: states.to_string(),
        },
        Ok(Message::Clock { t0 }) => Input::Clock(t0),
        Ok(Message::Clocked { t0, t1 }) => Input::Clocked(t0, t1),
        Ok(Message::Duplex) => Input::Duplex,
        Ok(Message::Unknown { .. }) => Input::Unknown,
        Err(e) => Input::Bad(CloseReason::Malformed(e)),
    }
}
