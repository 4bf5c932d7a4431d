//! The metrics responder's sockets: a listener on `metrics_listen` and at most
//! [`MAX_CONNS`] HTTP connections, served on the mesh's own poll loop. Every socket is
//! non-blocking. What to read, write, shut and close, and when, is the policy's
//! ([`crate::metrics::responder`]); this file makes the socket calls it asks for.

use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::metrics::Snapshot;
use crate::metrics::responder::{self, Action, Io, MAX_CONNS, ReadEnd};

/// The listener's token; connection `i` has `LISTENER_TOKEN - 1 - i`. Far above the
/// mesh's tokens, which count up from 0.
const LISTENER_TOKEN: usize = usize::MAX;

/// The responder: listener, sockets, and the policy.
pub(super) struct Responder {
    listener: TcpListener,
    streams: Vec<Option<TcpStream>>,
    policy: responder::Responder,
    /// Where a read collects bytes for the policy.
    scratch: Vec<u8>,
}

impl Responder {
    /// Serves on `listener` (bound by the preflight).
    pub(super) fn new(mut listener: TcpListener, registry: &Registry) -> io::Result<Responder> {
        registry.register(&mut listener, Token(LISTENER_TOKEN), Interest::READABLE)?;
        Ok(Responder {
            listener,
            streams: (0..MAX_CONNS).map(|_| None).collect(),
            policy: responder::Responder::new(),
            scratch: Vec::new(),
        })
    }

    /// Whether `token` is the responder's.
    pub(super) fn owns(token: Token) -> bool {
        token.0 >= LISTENER_TOKEN - MAX_CONNS
    }

    /// When [`Responder::handle_timeout`] has something to do: a deadline, or at once.
    pub(super) fn poll_at(&self, mono: u64) -> u64 {
        self.policy.poll_at(mono)
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
        let slot = LISTENER_TOKEN - 1 - token.0;
        self.policy.resume(slot);
        self.pump(slot, snap, mono);
        self.apply(registry);
    }

    /// Drops connections past their deadline; serves requests left waiting.
    pub(super) fn handle_timeout(&mut self, registry: &Registry, snap: &Snapshot<'_>, mono: u64) {
        if self.policy.handle_timeout(mono) {
            for slot in 0..self.streams.len() {
                self.policy.resume(slot);
                self.pump(slot, snap, mono);
            }
        }
        self.apply(registry);
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
            let slot = self.policy.accept(mono);
            self.apply(registry); // an evicted connection leaves the slot first
            let token = Token(LISTENER_TOKEN - 1 - slot);
            if registry
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                self.policy.failed(slot);
                self.apply(registry);
                continue; // dropping the stream closes it
            }
            if let Some(s) = self.streams.get_mut(slot) {
                *s = Some(stream);
            }
        }
    }

    /// Closes what the policy closed.
    fn apply(&mut self, registry: &Registry) {
        while let Some(Action::Close(slot)) = self.policy.poll_action() {
            if let Some(mut s) = self.streams.get_mut(slot).and_then(Option::take) {
                let _ = registry.deregister(&mut s);
            }
        }
    }

    /// Does what the policy asks of `slot`'s socket until it waits.
    fn pump(&mut self, slot: usize, snap: &Snapshot<'_>, mono: u64) {
        let Some(stream) = self.streams.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let policy = &mut self.policy;
        loop {
            match policy.next(slot) {
                Io::Wait => return,
                Io::Write => match stream.write(policy.output(slot)) {
                    Ok(0) => policy.failed(slot),
                    Ok(n) => policy.wrote(slot, n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => policy.blocked(slot),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => policy.failed(slot),
                },
                Io::Read { room } => match fill(stream, &mut self.scratch, room) {
                    Ok(end) => policy.read(slot, &self.scratch, end, mono, snap),
                    Err(_) => policy.failed(slot),
                },
                Io::Shutdown => match stream.shutdown(std::net::Shutdown::Write) {
                    Ok(()) => policy.shut(slot, mono),
                    Err(_) => policy.failed(slot),
                },
                Io::Discard { most } => match discard(stream, most) {
                    Ok(end) => policy.discarded(slot, end),
                    Err(_) => policy.failed(slot),
                },
            }
        }
    }
}

/// Reads into `buf` (cleared first) until the socket is drained, the client closed its
/// side, or `room` bytes are read.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, room: usize) -> io::Result<ReadEnd> {
    buf.clear();
    let mut chunk = [0u8; 1024];
    while buf.len() < room {
        let want = (room - buf.len()).min(chunk.len());
        let chunk = chunk.get_mut(..want).unwrap_or_default();
        match stream.read(chunk) {
            Ok(0) => return Ok(ReadEnd::Eof),
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEnd::Blocked),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ReadEnd::Full)
}

/// Reads and drops at most `most` bytes.
fn discard(stream: &mut TcpStream, most: usize) -> io::Result<ReadEnd> {
    let mut chunk = [0u8; 1024];
    let mut left = most;
    while left > 0 {
        let want = left.min(chunk.len());
        match stream.read(chunk.get_mut(..want).unwrap_or_default()) {
            Ok(0) => return Ok(ReadEnd::Eof),
            Ok(n) => left = left.saturating_sub(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEnd::Blocked),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ReadEnd::Full)
}
