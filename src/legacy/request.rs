//! The lines of an HTTP/1.x request head, one at a time (as the mesh's line framer hands
//! them over, `\r\n` or `\n` already stripped), with what the answer depends on.
//!
//! A minimal parser on purpose: the mesh port answers every request the same way, so it
//! only needs to know that a request started, whether it is `HEAD`, its version, whether
//! the client asked to keep the connection (`Connection`), whether it has a body (which
//! the port does not take) and where the head ends. (The metrics branch has a full
//! request-head parser, `src/http/request.rs`; the two can be unified once both land.)

/// Most header lines in one request head.
pub const MAX_HEADERS: usize = 64;
/// Most bytes of one request head (the request line, headers and line ends).
pub const MAX_HEAD: usize = 8 * 1024;

/// A request line: `METHOD SP target SP HTTP/1.x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine {
    /// The method is `HEAD` (the answer has no body).
    pub head: bool,
    /// The version is HTTP/1.0 (keep-alive only when asked for).
    pub http10: bool,
}

/// Parses a request line; `None` when `line` is not one. No mesh protocol line is one:
/// their fields are numbers, names (which cannot contain `/`) and hex.
pub fn request_line(line: &[u8]) -> Option<RequestLine> {
    let mut parts = line.split(|&b| b == b' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let method_ok = (1..=16).contains(&method.len()) && method.iter().all(u8::is_ascii_uppercase);
    let target_ok = !target.is_empty() && target.iter().all(|&b| b.is_ascii_graphic());
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return None,
    };
    (method_ok && target_ok).then_some(RequestLine {
        head: method == b"HEAD",
        http10,
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
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Header::Malformed;
    };
    let (name, value) = line.split_at(colon);
    let value = value.get(1..).unwrap_or_default();
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if name.is_empty()
        || !name.iter().all(token)
        || value.iter().any(|&b| b.is_ascii_control() && b != b'\t')
    {
        return Header::Malformed;
    }
    let value = value.trim_ascii();
    if name.eq_ignore_ascii_case(b"connection") {
        let mut close = false;
        let mut keep_alive = false;
        for option in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            close |= option.eq_ignore_ascii_case(b"close");
            keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
        }
        Header::Connection { close, keep_alive }
    } else if name.eq_ignore_ascii_case(b"transfer-encoding")
        || (name.eq_ignore_ascii_case(b"content-length") && value != b"0")
    {
        Header::Body
    } else {
        Header::Other
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
            b"get / HTTP/1.1",
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
