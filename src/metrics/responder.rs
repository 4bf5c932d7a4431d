//! The metrics responder's policy, sans-IO: connections, bytes and the time come in;
//! what to do with each socket, and which to close, go out. The shell
//! (`daemon::http`) makes the socket calls and nothing else.
//!
//! A scraper can never hold the mesh up: a response waits in its connection's output
//! while the client is slow, and a client that has not sent a whole request, or read its
//! whole response, within [`DEADLINE_MS`] is dropped. One request is served per
//! connection per loop pass (a pipelined one waits for the next pass, so one client cannot
//! keep the loop), a request head is at most [`MAX_HEAD`] bytes, and a connection serves
//! at most [`MAX_REQUESTS`] requests. One connection too many evicts the oldest. Bodies are
//! rendered when asked for and freed once sent. After a last response our side is shut and
//! what the client still sends is read and dropped for at most [`LINGER_MS`] and
//! [`LINGER_BYTES`], so unread request bytes do not make the kernel reset the connection
//! before the client has read the response.
//!
//! Routes: `GET`/`HEAD` `/metrics` (Prometheus text), `/status` (JSON), `/mesh` (what
//! `status --mesh` prints) and `/` (the status page, HTML: [`crate::page`]); another path
//! is `404`, another method `405`; a request the parser refuses gets `400` (`431` too
//! large, `505` another HTTP version) and the connection is closed.
//!
//! The shell's loop, per connection with an event (after [`Responder::resume`]): ask
//! [`Responder::next`] and do what it says until it says [`Io::Wait`]; then carry out
//! [`Responder::poll_action`]'s closes. Each pass, at [`Responder::poll_at`], call
//! [`Responder::handle_timeout`].

use std::fmt::Write as _;

use super::{Snapshot, prometheus, status};
use crate::http::request::{self, Error, MAX_HEAD, Status};

/// Most metrics connections open at once.
pub const MAX_CONNS: usize = 8;
/// Time a client has to send a whole request, or read a whole response (monotonic ms);
/// also how long an idle kept-alive connection stays open.
pub const DEADLINE_MS: u64 = 5_000;
/// Most requests served on one connection; the last response says `Connection: close`.
pub const MAX_REQUESTS: u32 = 100;
/// After a last response, how long (ms) a client's leftovers are read and dropped.
pub const LINGER_MS: u64 = 1_000;
/// After a last response, how many bytes of a client's leftovers are read and dropped in
/// one go before the connection is closed anyway.
pub const LINGER_BYTES: usize = 64 * 1024;

/// A page the responder serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `/metrics`: the Prometheus text format.
    Metrics,
    /// `/status`: JSON.
    Status,
    /// `/mesh`: the mesh's views and verdicts as `status --mesh` prints them.
    Mesh,
    /// `/`: the status page (HTML).
    Home,
}

/// What renders the pages (the engine's and journal's counters; a fake in tests).
pub trait Pages {
    /// Appends `page`'s body to `out`.
    fn render(&self, page: Page, out: &mut String);
}

impl Pages for Snapshot<'_> {
    fn render(&self, page: Page, out: &mut String) {
        match page {
            Page::Metrics => prometheus::render(self, out),
            Page::Status => status::render(self, out),
            Page::Mesh => super::mesh::render_text(&self.engine.mesh_view(), out),
            Page::Home => crate::page::serve(self, out),
        }
    }
}

/// What the shell does next with a connection's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// Nothing until the socket's next event or the next pass.
    Wait,
    /// Write [`Responder::output`]; report [`Responder::wrote`], or
    /// [`Responder::blocked`] if the socket would block.
    Write,
    /// Read at most `room` bytes (none when 0), until the socket would block or the
    /// client closes; report them with [`Responder::read`].
    Read {
        /// Bytes the connection takes now.
        room: usize,
    },
    /// Shut the socket's write side; report [`Responder::shut`].
    Shutdown,
    /// Read and drop at most `most` bytes; report [`Responder::discarded`].
    Discard {
        /// Bytes to drop at most.
        most: usize,
    },
}

/// How a read ([`Io::Read`], [`Io::Discard`]) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// The socket would block: nothing more for now.
    Blocked,
    /// The client closed its side.
    Eof,
    /// As many bytes as asked were read.
    Full,
}

/// What the shell must do besides a socket's next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Close (and deregister) the socket in this slot; the responder has forgotten it.
    Close(usize),
}

#[derive(Debug)]
struct Conn {
    /// Bytes of the request being received.
    input: Vec<u8>,
    /// The response being sent; `out[sent..]` is unsent.
    out: Vec<u8>,
    sent: usize,
    /// Close once `out` is sent.
    close_after: bool,
    /// Our side is shut: reading and dropping until the client closes.
    shut: bool,
    /// When the next request must be complete, or the response read (monotonic ms).
    deadline: u64,
    /// Order of acceptance: the oldest is evicted first.
    accepted: u64,
    served: u32,
    /// The socket would block on what [`Io`] asked: wait for its next event.
    blocked: bool,
    /// A request was served since the last event: the next waits for the next pass.
    served_now: bool,
}

/// The responder's connections and their policy.
#[derive(Debug)]
pub struct Responder {
    conns: Vec<Option<Conn>>,
    /// Some connection may have a request waiting in its buffer: serve it next pass.
    again: bool,
    /// Connections accepted so far.
    accepted: u64,
    actions: Vec<Action>,
}

impl Default for Responder {
    fn default() -> Self {
        Responder::new()
    }
}

impl Responder {
    /// No connections yet.
    pub fn new() -> Responder {
        Responder {
            conns: (0..MAX_CONNS).map(|_| None).collect(),
            again: false,
            accepted: 0,
            actions: Vec::new(),
        }
    }

    /// A connection was accepted at `mono`: the slot it takes (`0..MAX_CONNS`). With every
    /// slot taken, the oldest connection is evicted first ([`Action::Close`] for its slot,
    /// which the new one then takes: carry out the actions before placing it).
    pub fn accept(&mut self, mono: u64) -> usize {
        let free = self.conns.iter().position(Option::is_none);
        let slot = free.unwrap_or_else(|| {
            let oldest = self
                .conns
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.as_ref().map_or(0, |c| c.accepted));
            let slot = oldest.map_or(0, |(i, _)| i);
            self.close(slot);
            slot
        });
        self.accepted += 1;
        if let Some(c) = self.conns.get_mut(slot) {
            *c = Some(Conn {
                input: Vec::new(),
                out: Vec::new(),
                sent: 0,
                close_after: false,
                shut: false,
                deadline: mono + DEADLINE_MS,
                accepted: self.accepted,
                served: 0,
                blocked: false,
                served_now: false,
            });
        }
        slot
    }

    /// Connections open.
    pub fn open(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    /// The next action, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        if self.actions.is_empty() {
            None
        } else {
            Some(self.actions.remove(0))
        }
    }

    /// When [`Responder::handle_timeout`] has something to do: a deadline, or at once.
    pub fn poll_at(&self, mono: u64) -> u64 {
        if self.again {
            return mono;
        }
        let deadlines = self.conns.iter().flatten().map(|c| c.deadline);
        deadlines.min().unwrap_or(u64::MAX)
    }

    /// Closes connections past their deadline. Whether every connection must be moved on
    /// now (after [`Responder::resume`]): some had a request left waiting.
    pub fn handle_timeout(&mut self, mono: u64) -> bool {
        for slot in 0..self.conns.len() {
            if self.conn(slot).is_some_and(|c| c.deadline <= mono) {
                self.close(slot);
            }
        }
        std::mem::take(&mut self.again)
    }

    /// `slot`'s socket has an event (or the pass serves waiting requests): it may go on.
    pub fn resume(&mut self, slot: usize) {
        if let Some(c) = self.conn_mut(slot) {
            c.blocked = false;
            c.served_now = false;
        }
    }

    /// What the shell does next with `slot`'s socket.
    pub fn next(&mut self, slot: usize) -> Io {
        let Some(c) = self.conn_mut(slot) else {
            return Io::Wait;
        };
        if c.blocked {
            Io::Wait
        } else if c.sent < c.out.len() {
            Io::Write
        } else if c.close_after && !c.shut {
            Io::Shutdown
        } else if c.close_after {
            Io::Discard { most: LINGER_BYTES }
        } else if c.served_now {
            // Another request may be waiting in the buffer: next pass.
            self.again = true;
            Io::Wait
        } else {
            Io::Read {
                room: MAX_HEAD.saturating_sub(c.input.len()),
            }
        }
    }

    /// The bytes `slot` has to send.
    pub fn output(&self, slot: usize) -> &[u8] {
        self.conn(slot)
            .and_then(|c| c.out.get(c.sent..))
            .unwrap_or_default()
    }

    /// `n` bytes of [`Responder::output`] were written; once all are, they are freed.
    pub fn wrote(&mut self, slot: usize, n: usize) {
        if let Some(c) = self.conn_mut(slot) {
            c.sent = c.sent.saturating_add(n).min(c.out.len());
            if c.sent == c.out.len() {
                c.out = Vec::new();
                c.sent = 0;
            }
        }
    }

    /// The socket would block on what [`Responder::next`] asked.
    pub fn blocked(&mut self, slot: usize) {
        if let Some(c) = self.conn_mut(slot) {
            c.blocked = true;
        }
    }

    /// The socket failed (or could not be registered): the connection is closed.
    pub fn failed(&mut self, slot: usize) {
        self.close(slot);
    }

    /// Bytes read for [`Io::Read`] (at most its `room`), and how the read ended: serves the
    /// request if its head is complete, refuses it if it is bad, closes on end of stream
    /// before a whole head.
    pub fn read(&mut self, slot: usize, data: &[u8], end: ReadEnd, mono: u64, pages: &dyn Pages) {
        let Some(c) = self.conn_mut(slot) else {
            return;
        };
        let room = MAX_HEAD.saturating_sub(c.input.len());
        c.input
            .extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
        let eof = end == ReadEnd::Eof;
        match request::parse(&c.input) {
            Ok(Status::Partial) if eof => self.close(slot),
            // More bytes may finish it (a full buffer is never partial).
            Ok(Status::Partial) => c.blocked = true,
            Ok(Status::Complete(req)) => {
                c.served += 1;
                let keep_alive = req.keep_alive && !eof && c.served < MAX_REQUESTS;
                respond(&mut c.out, req.method, req.path, keep_alive, pages);
                c.close_after = !keep_alive;
                let len = req.len;
                c.input.drain(..len.min(c.input.len()));
                c.sent = 0;
                c.deadline = mono + DEADLINE_MS;
                c.served_now = true;
            }
            Err(e) => {
                error_response(&mut c.out, e);
                c.close_after = true;
                c.input = Vec::new();
                c.sent = 0;
                c.deadline = mono + DEADLINE_MS;
                c.served_now = true;
            }
        }
    }

    /// Our side of `slot` is shut ([`Io::Shutdown`]) at `mono`: its leftovers are dropped
    /// for at most [`LINGER_MS`].
    pub fn shut(&mut self, slot: usize, mono: u64) {
        if let Some(c) = self.conn_mut(slot) {
            c.shut = true;
            c.input = Vec::new();
            c.deadline = c.deadline.min(mono + LINGER_MS);
        }
    }

    /// A read for [`Io::Discard`] ended: the connection waits while the socket would block,
    /// and is closed when the client closed or sent [`LINGER_BYTES`] more.
    pub fn discarded(&mut self, slot: usize, end: ReadEnd) {
        match end {
            ReadEnd::Blocked => self.blocked(slot),
            ReadEnd::Eof | ReadEnd::Full => self.close(slot),
        }
    }

    fn conn(&self, slot: usize) -> Option<&Conn> {
        self.conns.get(slot).and_then(Option::as_ref)
    }

    fn conn_mut(&mut self, slot: usize) -> Option<&mut Conn> {
        self.conns.get_mut(slot).and_then(Option::as_mut)
    }

    fn close(&mut self, slot: usize) {
        if self.conns.get_mut(slot).and_then(Option::take).is_some() {
            self.actions.push(Action::Close(slot));
        }
    }
}

/// The response to a well-formed request, into `out`.
fn respond(out: &mut Vec<u8>, method: &str, path: &str, keep_alive: bool, pages: &dyn Pages) {
    let head_only = method == "HEAD";
    let mut body = String::new();
    let (status, content_type) = if method != "GET" && !head_only {
        body.push_str("only GET and HEAD\n");
        ("405 Method Not Allowed", "text/plain; charset=utf-8")
    } else if path == "/metrics" {
        pages.render(Page::Metrics, &mut body);
        ("200 OK", prometheus::CONTENT_TYPE)
    } else if path == "/status" {
        pages.render(Page::Status, &mut body);
        ("200 OK", "application/json")
    } else if path == "/mesh" {
        pages.render(Page::Mesh, &mut body);
        ("200 OK", "text/plain; charset=utf-8")
    } else if path == "/" {
        pages.render(Page::Home, &mut body);
        ("200 OK", crate::page::CONTENT_TYPE)
    } else {
        body.push_str("not found: try /, /metrics, /status or /mesh\n");
        ("404 Not Found", "text/plain; charset=utf-8")
    };
    let mut head = String::with_capacity(160);
    let _ = write!(
        head,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if status.starts_with("405") {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    out.clear();
    out.reserve_exact(head.len() + if head_only { 0 } else { body.len() });
    out.extend_from_slice(head.as_bytes());
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
}

/// The response to a request the parser refused; the connection closes after it.
fn error_response(out: &mut Vec<u8>, e: Error) {
    let status = match e {
        Error::TooLarge => "431 Request Header Fields Too Large",
        Error::Version => "505 HTTP Version Not Supported",
        _ => "400 Bad Request",
    };
    let body = e.to_string();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len() + 1
    );
    out.clear();
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body.as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests;
