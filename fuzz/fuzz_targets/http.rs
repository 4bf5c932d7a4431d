//! The one HTTP request-head parser (`http::request`), both ways in: a buffer at once
//! (`parse`, the metrics port) and a line at a time (`request_line` then `Head::line`,
//! the mesh port). No panic on any bytes; answers consistent with every prefix of the
//! input (as a client's bytes arrive in pieces), and the two ways agree.
//!
//! Input: the bytes a client sent (head, maybe a pipelined request after it).
//!
//! Checks:
//! - a complete head is at most `MAX_HEAD` bytes, ends with a line end, has a token
//!   method and an absolute path without query; parsing just its bytes, or its bytes
//!   followed by anything, gives the same request;
//! - `Partial` only below `MAX_HEAD` bytes;
//! - every prefix of the input is consistent with the whole: a prefix that is complete
//!   gives the whole's request, a prefix that is an error gives the whole's error, and
//!   a whole that is partial has only partial prefixes;
//! - fed line by line (each line's real length), the head gives the same request as
//!   `parse`; where `parse` stops at an error, the lines give that error at the head's
//!   end (or `TooLarge` first, or no end yet); where `parse` is partial, the lines have
//!   no end and no error yet.

#![no_main]

use libfuzzer_sys::fuzz_target;
use uptime_tracker::http::request::{
    Error, Head, MAX_HEAD, Progress, Request, Status, parse, request_line,
};

/// What the lines of `data` give, fed one at a time as a line reader would.
#[derive(Debug, PartialEq)]
enum ByLines<'a> {
    /// The head's end: the request.
    Complete(Request<'a>),
    /// An error (at the request line, at a limit, or at the head's end).
    Err(Error),
    /// No end yet; `pending`: the first error kept so far.
    Open { pending: Option<Error> },
}

fn by_lines(data: &[u8]) -> ByLines<'_> {
    let mut at = 0;
    let mut next = || {
        let rest = data.get(at..)?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        let line = &rest[..end];
        at += end + 1;
        Some((line.strip_suffix(b"\r").unwrap_or(line), end + 1))
    };
    let mut skipped = 0;
    let (first, len) = loop {
        match next() {
            None => return ByLines::Open { pending: None },
            Some((b"", n)) => skipped += n,
            Some(line) => break line,
        }
    };
    let rl = match request_line(first) {
        Ok(rl) => rl,
        Err(e) => return ByLines::Err(e),
    };
    let mut head = match Head::new(&rl, skipped + len) {
        Ok(h) => h,
        Err(e) => return ByLines::Err(e),
    };
    while let Some((line, n)) = next() {
        match head.line(line, n) {
            Ok(Progress::More) => {}
            Ok(Progress::Complete { keep_alive }) => {
                return ByLines::Complete(Request {
                    method: rl.method,
                    path: rl.path,
                    http10: rl.http10,
                    keep_alive,
                    len: head.bytes(),
                });
            }
            Err(e) => return ByLines::Err(e),
        }
    }
    ByLines::Open {
        pending: head.error(),
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    match whole {
        Ok(Status::Complete(r)) => {
            assert!(r.len <= data.len() && r.len <= MAX_HEAD, "{r:?}");
            let head = &data[..r.len];
            assert_eq!(head.last(), Some(&b'\n'));
            assert!(!r.method.is_empty());
            assert!(r.method.bytes().all(|b| b.is_ascii_graphic()));
            assert!(r.path.starts_with('/'));
            assert!(!r.path.contains(['?', '#']));
            assert_eq!(parse(head), Ok(Status::Complete(r)));
            let mut more = head.to_vec();
            more.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(parse(&more), Ok(Status::Complete(r)));
        }
        Ok(Status::Partial) => assert!(data.len() < MAX_HEAD),
        Err(_) => {}
    }
    // A few prefixes (all of them would be quadratic in the input's length).
    for cut in [data.len() / 3, data.len() / 2, data.len().saturating_sub(1)] {
        let prefix = parse(&data[..cut]);
        match prefix {
            Ok(Status::Complete(_)) | Err(_) => assert_eq!(prefix, whole, "prefix of {cut}"),
            Ok(Status::Partial) => {}
        }
        if whole == Ok(Status::Partial) {
            assert_eq!(prefix, Ok(Status::Partial), "prefix of {cut}");
        }
    }
    // The line-at-a-time way agrees.
    let lines = by_lines(data);
    match whole {
        Ok(Status::Complete(r)) => assert_eq!(lines, ByLines::Complete(r)),
        Ok(Status::Partial) => assert_eq!(lines, ByLines::Open { pending: None }),
        Err(Error::TooLarge) => assert!(
            matches!(lines, ByLines::Err(Error::TooLarge) | ByLines::Open { .. }),
            "{lines:?}"
        ),
        Err(e @ (Error::RequestLine | Error::Version)) => assert_eq!(lines, ByLines::Err(e)),
        Err(e @ (Error::Header | Error::Body)) => assert!(
            matches!(lines, ByLines::Err(x) if x == e || x == Error::TooLarge)
                || lines == ByLines::Open { pending: Some(e) },
            "{e:?} by lines: {lines:?}"
        ),
    }
});
