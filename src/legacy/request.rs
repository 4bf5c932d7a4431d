//! The mesh port's view of an HTTP request head, a line at a time (as the mesh's line
//! framer hands lines over, `\r\n` or `\n` already stripped): a thin adapter over the one
//! request parser, [`crate::http::request`], whose grammar and limits it uses.
//!
//! It exists for the engine's current call sites only (its line modes classify one line
//! at a time and keep the counts themselves); once the engine holds a
//! [`crate::http::request::Head`] per connection, this module goes.

use crate::http::request::{self as http, Field};

/// Most header lines in one request head: the shared parser's limit.
pub const MAX_HEADERS: usize = http::MAX_HEADERS;
/// Most bytes of one request head: the shared parser's limit.
pub const MAX_HEAD: usize = http::MAX_HEAD;

/// A request line: `METHOD SP /path SP HTTP/1.x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine {
    /// The method is `HEAD` (the answer has no body).
    pub head: bool,
    /// The version is HTTP/1.0 (keep-alive only when asked for).
    pub http10: bool,
}

/// Parses a request line; `None` when `line` is not one (then it may be a mesh protocol
/// line: no mesh protocol line is a request line).
pub fn request_line(line: &[u8]) -> Option<RequestLine> {
    let line = http::request_line(line).ok()?;
    Some(RequestLine {
        head: line.method == "HEAD",
        http10: line.http10,
    })
}

/// One header line of a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The empty line: the head is complete.
    End,
    /// `Connection:` with its `close` and `keep-alive` options.
    Connection {
        /// The client asked to close after the answer.
        close: bool,
        /// The client asked to keep the connection (HTTP/1.0's opt-in).
        keep_alive: bool,
    },
    /// `Content-Length` other than 0, or any `Transfer-Encoding`: a body follows.
    Body,
    /// Any other well-formed header.
    Other,
    /// Not `name: value` (a name of token characters, then `:`; no control characters).
    Malformed,
}

/// Classifies one header line.
pub fn header(line: &[u8]) -> Header {
    if line.is_empty() {
        return Header::End;
    }
    match http::field(line) {
        Ok(Field::Connection { close, keep_alive }) => Header::Connection { close, keep_alive },
        Ok(Field::Body) => Header::Body,
        Ok(Field::Other) => Header::Other,
        Err(_) => Header::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            request_line(b"GET / HTTP/1.1"),
            Some(RequestLine {
                head: false,
                http10: false
            })
        );
        assert_eq!(
            request_line(b"HEAD /x?y=1 HTTP/1.0"),
            Some(RequestLine {
                head: true,
                http10: true
            })
        );
        for line in [
            &b"HELLO 1 node1"[..],
            b"PING 5",
            b"GET / HTTP/2",
            b"GET  / HTTP/1.1",
            b"GET * HTTP/1.1",
            b"GET / HTTP/1.1 x",
            b"GET /\x01 HTTP/1.1",
            b"",
        ] {
            assert_eq!(
                request_line(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn headers() {
        assert_eq!(header(b""), Header::End);
        assert_eq!(header(b"Host: 127.0.0.1:1"), Header::Other);
        assert_eq!(
            header(b"connection: Keep-Alive"),
            Header::Connection {
                close: false,
                keep_alive: true
            }
        );
        assert_eq!(
            header(b"Connection:close, TE"),
            Header::Connection {
                close: true,
                keep_alive: false
            }
        );
        assert_eq!(header(b"Content-Length: 0"), Header::Other);
        assert_eq!(header(b"Content-Length: 5"), Header::Body);
        assert_eq!(header(b"Transfer-Encoding: chunked"), Header::Body);
        assert_eq!(header(b" Host: x"), Header::Malformed);
        assert_eq!(header(b"Host x"), Header::Malformed);
        assert_eq!(header(b": x"), Header::Malformed);
        assert_eq!(header(b"X: a\x00b"), Header::Malformed);
    }
}
