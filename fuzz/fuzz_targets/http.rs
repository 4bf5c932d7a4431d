//! The HTTP request-head parser: no panic on any bytes, and answers consistent with
//! every prefix of the input (as a client's bytes arrive in pieces).
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
//!   a whole that is partial has only partial prefixes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use uptime_tracker::http::request::{MAX_HEAD, Status, parse};

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
});
