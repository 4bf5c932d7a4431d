//! The metrics responder's sockets: a listener on `metrics_listen` and at most
//! [`MAX_CONNS`] HTTP connections, served on the mesh's own poll loop.
//!
//! A scraper can never hold the mesh up: every socket is non-blocking, a response waits
//! in its connection's output buffer while the client is slow, and a client that has not
//! sent a whole request, or read its whole response, within [`DEADLINE_MS`] is dropped.
//! One request is served per connection per loop pass (a pipelined one waits for the
//! next pass), a request head is at most [`MAX_HEAD`] bytes, and a connection serves at
//! most [`MAX_REQUESTS`] requests. One connection too many evicts the oldest. Bodies are
//! rendered when asked for and freed once sent.
//!
//! Routes: `GET`/`HEAD` `/metrics` (Prometheus text), `/status` (JSON) and `/` (the
//! status page, HTML: [`crate::page`]); another path
//! is `404`, another method `405`; a request the parser refuses gets `400` (`431` too
//! large, `505` another HTTP version) and the connection is closed.

use std::fmt::Write as _;
use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::http::request::{self, Error, MAX_HEAD, Status};
use crate::metrics::{Snapshot, prometheus, status};

/// Most metrics connections open at once.
pub const MAX_CONNS: usize = 8;
/// Time a client has to send a whole request, or read a whole response (monotonic ms);
/// also how long an idle kept-alive connection stays open.
pub const DEADLINE_MS: u64 = 5_000;
/// Most requests served on one connection; the last response says `Connection: close`.
pub const MAX_REQUESTS: u32 = 100;
/// After a last response, how long, and how many bytes, a client's leftovers are read
/// and discarded before the connection is closed.
const LINGER_MS: u64 = 1_000;
const LINGER_BYTES: usize = 64 * 1024;

/// The listener's token; connection `i` has `LISTENER_TOKEN - 1 - i`. Far above the
/// mesh's tokens, which count up from 0.
const LISTENER_TOKEN: usize = usize::MAX;

struct Conn {
    stream: TcpStream,
    /// Bytes of the request being received.
    input: Vec<u8>,
    /// The response being sent; `out[sent..]` is unsent.
    out: Vec<u8>,
    sent: usize,
    /// Close once `out` is sent.
    close_after: bool,
    /// Response sent and our side shut: reading (and discarding) until the client
    /// closes, so unread request bytes do not make the kernel reset the connection
    /// before the client has read the response.
    draining: bool,
    /// When the next request must be complete, or the response read (monotonic ms).
    deadline: u64,
    /// Order of acceptance: the oldest is evicted first.
    accepted: u64,
    served: u32,
}

/// The responder: listener and connections.
pub(super) struct Responder {
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    /// Some connection may have a request waiting in its buffer: serve it next pass.
    again: bool,
    /// Connections accepted so far.
    accepted: u64,
}

impl Responder {
    /// Serves on `listener` (bound by the preflight).
    pub(super) fn new(mut listener: TcpListener, registry: &Registry) -> io::Result<Responder> {
        registry.register(&mut listener, Token(LISTENER_TOKEN), Interest::READABLE)?;
        Ok(Responder {
            listener,
            conns: (0..MAX_CONNS).map(|_| None).collect(),
            again: false,
            accepted: 0,
        })
    }

    /// Whether `token` is the responder's.
    pub(super) fn owns(token: Token) -> bool {
        token.0 >= LISTENER_TOKEN - MAX_CONNS
    }

    /// When [`Responder::handle_timeout`] has something to do: a deadline, or at once.
    pub(super) fn poll_at(&self, mono: u64) -> u64 {
        if self.again {
            return mono;
        }
        let deadlines = self.conns.iter().flatten().map(|c| c.deadline);
        deadlines.min().unwrap_or(u64::MAX)
    }

    /// A readiness event for one of the responder's tokens.
    pub(super) fn on_event(
        &mut self,
        token: Token,
        registry: &Registry,
        snap: &Snapshot<'_>,
        mono: u64,
    ) {
        if token.0 == LISTENER_TOKEN {
            return self.accept(registry, mono);
        }
        let i = LISTENER_TOKEN - 1 - token.0;
        self.pump(i, registry, snap, mono);
    }

    /// Drops connections past their deadline; serves requests left waiting.
    pub(super) fn handle_timeout(&mut self, registry: &Registry, snap: &Snapshot<'_>, mono: u64) {
        for i in 0..self.conns.len() {
            if self
                .conns
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(|c| c.deadline <= mono)
            {
                self.drop_conn(i, registry);
            }
        }
        if std::mem::take(&mut self.again) {
            for i in 0..self.conns.len() {
                self.pump(i, registry, snap, mono);
            }
        }
    }

    fn accept(&mut self, registry: &Registry, mono: u64) {
        loop {
            let mut stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock: drained. Anything else (out of descriptors): the client
                // waits in the queue and is taken with the next connection's event.
                Err(_) => return,
            };
            let free = self.conns.iter().position(Option::is_none);
            let i = match free {
                Some(i) => i,
                None => {
                    let oldest = self
                        .conns
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, c)| c.as_ref().map_or(0, |c| c.accepted));
                    let Some((i, _)) = oldest else {
                        return;
                    };
                    self.drop_conn(i, registry);
                    i
                }
            };
            let token = Token(LISTENER_TOKEN - 1 - i);
            if registry
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue; // dropping the stream closes it
            }
            self.accepted += 1;
            if let Some(slot) = self.conns.get_mut(i) {
                *slot = Some(Conn {
                    stream,
                    input: Vec::new(),
                    out: Vec::new(),
                    sent: 0,
                    close_after: false,
                    draining: false,
                    deadline: mono + DEADLINE_MS,
                    accepted: self.accepted,
                    served: 0,
                });
            }
        }
    }

    fn drop_conn(&mut self, i: usize, registry: &Registry) {
        if let Some(mut c) = self.conns.get_mut(i).and_then(Option::take) {
            let _ = registry.deregister(&mut c.stream);
        }
    }

    /// Moves connection `i` on: sends what is pending; then reads and serves at most one
    /// request. Closes it when done, on error, or on a bad request.
    fn pump(&mut self, i: usize, registry: &Registry, snap: &Snapshot<'_>, mono: u64) {
        let Some(c) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let mut served = false;
        let keep = loop {
            match c.flush() {
                Err(_) => break false,
                Ok(false) => break true, // the client is slow: wait for writable
                Ok(true) if c.close_after => break c.linger(mono),
                Ok(true) if served => {
                    // Another request may be waiting in the buffer: next pass.
                    self.again = true;
                    break true;
                }
                Ok(true) => {}
            }
            let eof = match c.fill() {
                Ok(eof) => eof,
                Err(_) => break false,
            };
            match request::parse(&c.input) {
                Ok(Status::Partial) => break !eof,
                Ok(Status::Complete(req)) => {
                    c.served += 1;
                    let keep_alive = req.keep_alive && !eof && c.served < MAX_REQUESTS;
                    respond(&mut c.out, req.method, req.path, keep_alive, snap);
                    c.close_after = !keep_alive;
                    let len = req.len;
                    c.input.drain(..len.min(c.input.len()));
                }
                Err(e) => {
                    error_response(&mut c.out, e);
                    c.close_after = true;
                    c.input = Vec::new();
                }
            }
            c.sent = 0;
            c.deadline = mono + DEADLINE_MS;
            served = true;
        };
        if !keep {
            self.drop_conn(i, registry);
        }
    }
}

impl Conn {
    /// Writes pending output; `Ok(true)` once all is sent (the buffer is then freed).
    fn flush(&mut self) -> io::Result<bool> {
        while let Some(rest) = self.out.get(self.sent..).filter(|r| !r.is_empty()) {
            match self.stream.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out = Vec::new();
        self.sent = 0;
        Ok(true)
    }

    /// After the last response: shuts our side, then discards what the client still
    /// sends, for at most [`LINGER_MS`] and [`LINGER_BYTES`]. Whether to keep waiting.
    fn linger(&mut self, mono: u64) -> bool {
        if !self.draining {
            self.draining = true;
            self.input = Vec::new();
            self.deadline = self.deadline.min(mono + LINGER_MS);
            if self.stream.shutdown(std::net::Shutdown::Write).is_err() {
                return false;
            }
        }
        let mut buf = [0u8; 1024];
        for _ in 0..LINGER_BYTES / buf.len() {
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// Reads until the socket is drained or the buffer holds [`MAX_HEAD`] bytes.
    /// `Ok(true)`: the client closed its side.
    fn fill(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 1024];
        while self.input.len() < MAX_HEAD {
            let room = (MAX_HEAD - self.input.len()).min(buf.len());
            let chunk = buf.get_mut(..room).unwrap_or_default();
            match self.stream.read(chunk) {
                Ok(0) => return Ok(true),
                Ok(n) => self
                    .input
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

/// The response to a well-formed request, into `out`.
fn respond(out: &mut Vec<u8>, method: &str, path: &str, keep_alive: bool, snap: &Snapshot<'_>) {
    let head_only = method == "HEAD";
    let mut body = String::new();
    let (status, content_type) = if method != "GET" && !head_only {
        body.push_str("only GET and HEAD\n");
        ("405 Method Not Allowed", "text/plain; charset=utf-8")
    } else if path == "/metrics" {
        prometheus::render(snap, &mut body);
        ("200 OK", prometheus::CONTENT_TYPE)
    } else if path == "/status" {
        status::render(snap, &mut body);
        ("200 OK", "application/json")
    } else if path == "/" {
        crate::page::serve(snap, &mut body);
        ("200 OK", crate::page::CONTENT_TYPE)
    } else {
        body.push_str("not found: try /, /metrics or /status\n");
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
    out.clear();
    let _ = write!(
        VecWriter(out),
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    );
}

/// `fmt::Write` into a byte buffer.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
