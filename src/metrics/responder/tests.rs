//! The responder's policy against a scripted socket, time injected.

use super::*;

/// Pages that say which page and how many times it was rendered.
struct Fake;

impl Pages for Fake {
    fn render(&self, page: Page, out: &mut String) {
        out.push_str(match page {
            Page::Metrics => "m 1\n",
            Page::Status => "{}",
            Page::Mesh => "uptime-tracker mesh 0\n",
            Page::Home => "<html>",
        });
    }
}

/// A client's socket as the shell sees it: bytes the client sent and not yet read,
/// whether it closed its side, how many bytes the kernel takes before blocking, and what
/// it received.
#[derive(Default)]
struct Sock {
    inbox: Vec<u8>,
    eof: bool,
    /// Bytes the socket takes before a write would block (`usize::MAX`: any).
    window: usize,
    received: Vec<u8>,
    shut: bool,
    dropped: usize,
}

impl Sock {
    fn new() -> Sock {
        Sock {
            window: usize::MAX,
            ..Sock::default()
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.inbox.extend_from_slice(bytes);
    }

    /// The responses received so far, taken.
    fn take(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.received)).unwrap()
    }
}

/// What the shell does for one event on `slot`: resume, then follow `next` to `Wait`.
fn pump(r: &mut Responder, slot: usize, s: &mut Sock, mono: u64) {
    r.resume(slot);
    step(r, slot, s, mono);
}

/// Follows `next` to `Wait` (the shell's loop), without a new event.
fn step(r: &mut Responder, slot: usize, s: &mut Sock, mono: u64) {
    for _ in 0..1000 {
        match r.next(slot) {
            Io::Wait => return,
            Io::Write => {
                let out = r.output(slot);
                let n = out.len().min(s.window);
                if n == 0 {
                    r.blocked(slot);
                    continue;
                }
                s.received.extend_from_slice(&out[..n]);
                s.window = s.window.saturating_sub(n);
                r.wrote(slot, n);
            }
            Io::Read { room } => {
                let n = room.min(s.inbox.len());
                let data: Vec<u8> = s.inbox.drain(..n).collect();
                let end = if n == room {
                    ReadEnd::Full
                } else if s.eof {
                    ReadEnd::Eof
                } else {
                    ReadEnd::Blocked
                };
                r.read(slot, &data, end, mono, &Fake);
            }
            Io::Shutdown => {
                s.shut = true;
                r.shut(slot, mono);
            }
            Io::Discard { most } => {
                let n = most.min(s.inbox.len());
                s.inbox.drain(..n);
                s.dropped += n;
                let end = if n == most {
                    ReadEnd::Full
                } else if s.eof {
                    ReadEnd::Eof
                } else {
                    ReadEnd::Blocked
                };
                r.discarded(slot, end);
            }
        }
    }
    panic!("the responder never waits");
}

fn closes(r: &mut Responder) -> Vec<usize> {
    std::iter::from_fn(|| r.poll_action())
        .map(|Action::Close(s)| s)
        .collect()
}

const SCRAPE: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn serves_the_pages_and_keeps_the_connection() {
    let mut r = Responder::new();
    let slot = r.accept(0);
    let mut s = Sock::new();
    s.send(SCRAPE);
    pump(&mut r, slot, &mut s, 10);
    let got = s.take();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(
        got.contains("Content-Type: text/plain; version=0.0.4"),
        "{got}"
    );
    assert!(got.contains("Connection: keep-alive\r\n\r\nm 1\n"), "{got}");
    s.send(b"HEAD /status HTTP/1.1\r\n\r\n");
    pump(&mut r, slot, &mut s, 20);
    let got = s.take();
    assert!(got.contains("Content-Length: 2\r\n"), "{got}");
    assert!(got.ends_with("\r\n\r\n"), "HEAD has no body: {got}");
    for (req, status) in [
        (&b"GET /nope HTTP/1.1\r\n\r\n"[..], "404 Not Found"),
        (
            b"DELETE /metrics HTTP/1.1\r\n\r\n",
            "405 Method Not Allowed",
        ),
    ] {
        s.send(req);
        pump(&mut r, slot, &mut s, 30);
        let got = s.take();
        assert!(got.starts_with(&format!("HTTP/1.1 {status}")), "{got}");
    }
    assert!(closes(&mut r).is_empty());
    assert_eq!(r.open(), 1);
}

#[test]
fn a_pipelined_request_waits_for_the_next_pass() {
    let mut r = Responder::new();
    let slot = r.accept(0);
    let mut s = Sock::new();
    s.send(SCRAPE);
    s.send(b"GET /status HTTP/1.1\r\n\r\n");
    pump(&mut r, slot, &mut s, 100);
    assert_eq!(s.take().matches("HTTP/1.1 200").count(), 1);
    // Due at once, not at a deadline.
    assert_eq!(r.poll_at(100), 100);
    assert!(r.handle_timeout(100));
    pump(&mut r, slot, &mut s, 100);
    assert!(s.take().ends_with("{}"));
    // Each response may leave another request behind: one more pass finds none.
    assert!(r.handle_timeout(100));
    pump(&mut r, slot, &mut s, 100);
    assert!(s.received.is_empty());
    assert_eq!(r.poll_at(100), 100 + DEADLINE_MS);
    assert!(!r.handle_timeout(100));
}

#[test]
fn a_client_has_the_deadline_to_send_a_request_or_read_a_response() {
    let mut r = Responder::new();
    let slot = r.accept(1_000);
    let mut s = Sock::new();
    s.send(b"GET /metrics HT");
    pump(&mut r, slot, &mut s, 1_500);
    assert_eq!(
        r.poll_at(1_500),
        1_000 + DEADLINE_MS,
        "partial bytes earn no time"
    );
    assert!(!r.handle_timeout(1_000 + DEADLINE_MS - 1));
    assert!(closes(&mut r).is_empty());
    s.send(b"TP/1.1\r\n\r\n");
    // A slow reader: the response waits in the output.
    s.window = 10;
    pump(&mut r, slot, &mut s, 2_000);
    assert_eq!(s.received.len(), 10);
    assert_eq!(
        r.next(slot),
        Io::Wait,
        "blocked until the socket's next event"
    );
    assert_eq!(
        r.poll_at(2_000),
        2_000 + DEADLINE_MS,
        "a response restarts the clock"
    );
    s.window = usize::MAX;
    pump(&mut r, slot, &mut s, 3_000);
    assert!(s.take().ends_with("m 1\n"));
    // Idle after it: closed at the deadline, not before.
    r.handle_timeout(2_000 + DEADLINE_MS - 1);
    assert!(closes(&mut r).is_empty());
    r.handle_timeout(2_000 + DEADLINE_MS);
    assert_eq!(closes(&mut r), [slot]);
    assert_eq!(r.open(), 0);
    assert_eq!(r.poll_at(9_999), u64::MAX);
}

#[test]
fn one_connection_too_many_evicts_the_oldest() {
    let mut r = Responder::new();
    let slots: Vec<usize> = (0..MAX_CONNS as u64).map(|t| r.accept(t)).collect();
    let mut sorted = slots.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), MAX_CONNS);
    assert!(closes(&mut r).is_empty());
    let newest = r.accept(100);
    assert_eq!(closes(&mut r), [slots[0]]);
    assert_eq!(newest, slots[0]);
    // The next eviction takes the next oldest, not the newcomer in the old slot.
    r.accept(101);
    assert_eq!(closes(&mut r), [slots[1]]);
    assert_eq!(r.open(), MAX_CONNS);
    // A closed connection frees its slot: no eviction.
    r.failed(slots[5]);
    assert_eq!(closes(&mut r), [slots[5]]);
    assert_eq!(r.accept(102), slots[5]);
    assert!(closes(&mut r).is_empty());
}

#[test]
fn the_last_request_closes_after_a_linger() {
    let mut r = Responder::new();
    let slot = r.accept(0);
    let mut s = Sock::new();
    for i in 1..=MAX_REQUESTS {
        s.send(SCRAPE);
        pump(&mut r, slot, &mut s, u64::from(i));
        let got = s.take();
        let closing = got.contains("Connection: close\r\n");
        assert_eq!(closing, i == MAX_REQUESTS, "request {i}: {got}");
    }
    assert!(s.shut, "our side is shut after the last response");
    // Leftovers are dropped while the client is open; its close ends it.
    s.send(b"GET / HTTP/1.1\r\n\r\n");
    pump(&mut r, slot, &mut s, 200);
    assert!(
        s.received.is_empty(),
        "nothing is answered after the last response"
    );
    assert!(s.dropped > 0);
    assert!(closes(&mut r).is_empty());
    s.eof = true;
    pump(&mut r, slot, &mut s, 300);
    assert_eq!(closes(&mut r), [slot]);
}

#[test]
fn a_lingering_client_is_closed_after_the_linger_time_or_bytes() {
    // Time.
    let mut r = Responder::new();
    let slot = r.accept(0);
    let mut s = Sock::new();
    s.send(b"GET /metrics HTTP/1.0\r\n\r\n");
    pump(&mut r, slot, &mut s, 50);
    assert!(s.take().contains("Connection: close\r\n"));
    assert!(s.shut);
    assert_eq!(r.poll_at(50), 50 + LINGER_MS);
    r.handle_timeout(50 + LINGER_MS - 1);
    assert!(closes(&mut r).is_empty());
    r.handle_timeout(50 + LINGER_MS);
    assert_eq!(closes(&mut r), [slot]);
    // Bytes.
    let slot = r.accept(0);
    let mut s = Sock::new();
    s.send(b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    s.send(&vec![b'x'; 2 * LINGER_BYTES]);
    pump(&mut r, slot, &mut s, 60);
    assert_eq!(s.dropped, LINGER_BYTES);
    assert_eq!(closes(&mut r), [slot]);
}

#[test]
fn bad_requests_are_refused_and_closed() {
    for (req, status) in [
        (
            &b"GET /metrics HTTP/2.0\r\n\r\n"[..],
            "505 HTTP Version Not Supported",
        ),
        (
            b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            "400 Bad Request",
        ),
        (b"GET / HTTP/1.1\r\nfolded\r\n", "400 Bad Request"),
        (b"HELLO 1 node1\n", "400 Bad Request"),
    ] {
        let mut r = Responder::new();
        let slot = r.accept(0);
        let mut s = Sock::new();
        s.send(req);
        s.eof = true;
        pump(&mut r, slot, &mut s, 0);
        let got = s.take();
        assert!(got.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{got}");
        assert!(got.contains("Connection: close\r\n"));
        assert_eq!(closes(&mut r), [slot]);
    }
}

#[test]
fn a_head_is_read_up_to_the_limit_only() {
    let mut r = Responder::new();
    let slot = r.accept(0);
    let mut s = Sock::new();
    s.send(b"GET / HTTP/1.1\r\nX: ");
    s.send(&vec![b'a'; 2 * MAX_HEAD]);
    assert_eq!(r.next(slot), Io::Read { room: MAX_HEAD });
    pump(&mut r, slot, &mut s, 0);
    assert!(s.take().starts_with("HTTP/1.1 431 "));
    // Not a byte past the limit was taken as the request; the rest is dropped.
    assert_eq!(s.dropped + s.inbox.len(), 2 * MAX_HEAD + 19 - MAX_HEAD);
    // A partial head takes only the room left.
    let slot = r.accept(0);
    let mut s = Sock::new();
    s.send(b"GET / HTTP/1.1\r\n");
    pump(&mut r, slot, &mut s, 0);
    assert_eq!(r.next(slot), Io::Wait);
    r.resume(slot);
    assert_eq!(
        r.next(slot),
        Io::Read {
            room: MAX_HEAD - 16
        }
    );
}

#[test]
fn end_of_stream_before_a_head_closes_silently_and_after_one_says_close() {
    let mut r = Responder::new();
    let slot = r.accept(0);
    let mut s = Sock::new();
    s.send(b"GET /metr");
    s.eof = true;
    pump(&mut r, slot, &mut s, 0);
    assert!(s.received.is_empty());
    assert_eq!(closes(&mut r), [slot]);
    // A whole request then the client's close: answered, `Connection: close`.
    let slot = r.accept(0);
    let mut s = Sock::new();
    s.send(SCRAPE);
    s.eof = true;
    pump(&mut r, slot, &mut s, 0);
    assert!(s.take().contains("Connection: close\r\n\r\nm 1\n"));
    assert_eq!(closes(&mut r), [slot]);
}
