//! The earlier tool's HTTP: the reader of an old node's responses
//! (`legacy::response::Reader`), and the request lines the mesh port takes (the one
//! request parser's, `http::request::request_line`; its heads are fuzzed by `http`).
//!
//! Input: one byte of chunk size (0: the whole stream at once), then a byte stream.
//!
//! Checks:
//! - fed in chunks or whole, the reader completes the same number of responses (those
//!   before an error included) and fails (or not) with the same error; after an error,
//!   it is never fed again;
//! - each completed response needed a status line: at most as many responses as
//!   `HTTP/1.` occurs in the stream;
//! - every line of the stream the parser takes as a request line is only
//!   `METHOD SP /path SP HTTP/1.x` and never a mesh protocol line (the mesh port tells
//!   the two apart by it).

#![no_main]

use libfuzzer_sys::fuzz_target;
use uptime_tracker::http::request::request_line;
use uptime_tracker::legacy::response::Reader;
use uptime_tracker::wire::{Message, parse};

fn feed_all(
    stream: &[u8],
    chunk: usize,
) -> (usize, Option<uptime_tracker::legacy::response::Error>) {
    let mut r = Reader::new();
    let mut n = 0;
    for piece in stream.chunks(chunk.max(1)) {
        let (k, result) = r.feed(piece);
        n += k;
        if let Err(e) = result {
            return (n, Some(e));
        }
    }
    (n, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let whole = feed_all(stream, stream.len());
    let chunked = feed_all(stream, usize::from(chunk));
    assert_eq!(whole, chunked, "chunk size {chunk}");
    let heads = stream.windows(7).filter(|w| *w == b"HTTP/1.").count();
    assert!(
        whole.0 <= heads,
        "{} responses from {heads} status lines",
        whole.0
    );

    for line in stream.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Ok(req) = request_line(line) {
            let text = std::str::from_utf8(line).expect("a request line is ASCII");
            let parts: Vec<&str> = text.split(' ').collect();
            assert_eq!(parts.len(), 3, "{text:?}");
            assert!(parts[1].starts_with('/'));
            assert!(matches!(parts[2], "HTTP/1.0" | "HTTP/1.1"));
            assert_eq!(req.method, parts[0]);
            assert_eq!(req.http10, parts[2] == "HTTP/1.0");
            // No mesh line is a request line: their verbs take no `HTTP/1.x` field.
            assert!(
                matches!(parse(line), Err(_) | Ok(Message::Unknown { .. })),
                "{text:?} is both a request line and a mesh message"
            );
        }
    }
});
