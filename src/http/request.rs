//! An HTTP/1.0 and HTTP/1.1 request head parser: request line and headers, over `&[u8]`,
//! bounded, allocation-free and panic-free on any input.
//!
//! Shaped like httparse: [`parse`] returns [`Status::Partial`] while the head may still
//! be completed, [`Status::Complete`] with what a small responder needs (method, path,
//! whether the connection may stay open, the head's length), or a small `Copy` [`Error`].
//! A head longer than [`MAX_HEAD`] bytes is an error, not `Partial`, so a caller's buffer
//! never has to grow past it.
//!
//! Strict where leniency would hide a confused client or a smuggling attempt: a request
//! with a body (`Content-Length` other than 0, any `Transfer-Encoding`), obsolete line
//! folding, a header name that is not a token, control characters, or a target that is not
//! an absolute path (origin form, RFC 9112 §3.2.1) are errors. Bare `\n` line ends are
//! accepted, as RFC 9112 §2.2 allows.

use std::fmt;

/// Longest request head (request line, headers and the empty line), in bytes.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most header lines in one head.
pub const MAX_HEADERS: usize = 64;

/// A complete request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method, as sent (a token, e.g. `GET`).
    pub method: &'a str,
    /// The target's path, without its query (`/metrics` for `/metrics?x=1`).
    pub path: &'a str,
    /// Whether the client asked to keep the connection open: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// Bytes the head took, the empty line included: where the next request starts.
    pub len: usize,
}

/// The outcome of [`parse`] on a buffer that holds no error so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<'a> {
    /// A whole head.
    Complete(Request<'a>),
    /// The head is not complete yet; more bytes may finish it.
    Partial,
}

/// Why a head is not a request this parser accepts. Each means `400 Bad Request`, except
/// [`Error::TooLarge`] (`431`) and [`Error::Version`] (`505`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// No end of the head within [`MAX_HEAD`] bytes, or more than [`MAX_HEADERS`] headers.
    TooLarge,
    /// The request line is not `METHOD SP /path SP HTTP/1.x`.
    RequestLine,
    /// A version other than HTTP/1.0 or HTTP/1.1.
    Version,
    /// A header line that is not `name: value` (or is folded, or has control characters).
    Header,
    /// The request has a body (`Content-Length` not 0, or `Transfer-Encoding`).
    Body,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::TooLarge => "request head too large",
            Error::RequestLine => "malformed request line",
            Error::Version => "HTTP version not supported",
            Error::Header => "malformed header",
            Error::Body => "request bodies are not accepted",
        })
    }
}

/// Parses the request head at the start of `buf`. Bytes after the head (a pipelined
/// request) are left alone: [`Request::len`] says where they start.
pub fn parse(buf: &[u8]) -> Result<Status<'_>, Error> {
    let mut lines = Lines { buf, at: 0 };
    // RFC 9112 §2.2: empty lines before the request line are ignored.
    let first = loop {
        match lines.next() {
            None => return partial(buf),
            Some(b"") => {}
            Some(line) => break line,
        }
    };
    let (method, path, minor) = request_line(first)?;
    let mut keep_alive = minor == 1;
    let mut headers = 0;
    loop {
        let Some(line) = lines.next() else {
            return partial(buf);
        };
        if line.is_empty() {
            break;
        }
        headers += 1;
        if headers > MAX_HEADERS {
            return Err(Error::TooLarge);
        }
        let (name, value) = header(line)?;
        if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&b| b == b',') {
                let option = trim(option);
                if option.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if option.eq_ignore_ascii_case(b"keep-alive") && minor == 0 {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if value.is_empty() || value.iter().any(|&b| b != b'0') {
                return Err(Error::Body);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(Error::Body);
        }
    }
    if lines.at > MAX_HEAD {
        return Err(Error::TooLarge);
    }
    Ok(Status::Complete(Request {
        method,
        path,
        keep_alive,
        len: lines.at,
    }))
}

/// `Partial`, unless the buffer already holds [`MAX_HEAD`] bytes without a whole head.
fn partial(buf: &[u8]) -> Result<Status<'_>, Error> {
    if buf.len() >= MAX_HEAD {
        Err(Error::TooLarge)
    } else {
        Ok(Status::Partial)
    }
}

/// Whole lines (without `\n` and one `\r` before it); `at` is where the next begins.
struct Lines<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.at..)?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        self.at += end + 1;
        let line = rest.get(..end)?;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// `METHOD SP target SP HTTP/1.x`: the method, the path, and the minor version.
fn request_line(line: &[u8]) -> Result<(&str, &str, u8), Error> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::RequestLine);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(Error::RequestLine);
    }
    // Origin form only: an absolute path, printable ASCII.
    if target.first() != Some(&b'/') || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(Error::RequestLine);
    }
    let path = match target.iter().position(|&b| b == b'?' || b == b'#') {
        Some(end) => target.get(..end).unwrap_or(target),
        None => target,
    };
    let minor = match version {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        v if v.starts_with(b"HTTP/") => return Err(Error::Version),
        _ => return Err(Error::RequestLine),
    };
    // Both are ASCII (checked above), so valid UTF-8.
    let method = std::str::from_utf8(method).map_err(|_| Error::RequestLine)?;
    let path = std::str::from_utf8(path).map_err(|_| Error::RequestLine)?;
    Ok((method, path, minor))
}

/// `name: value` with the value's surrounding blanks trimmed.
fn header(line: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let colon = line.iter().position(|&b| b == b':').ok_or(Error::Header)?;
    let (name, value) = (
        line.get(..colon).unwrap_or_default(),
        line.get(colon + 1..).unwrap_or_default(),
    );
    // A name must be a token: this also refuses obsolete folding (a leading blank) and
    // a blank before the colon (RFC 9112 §5.1).
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(Error::Header);
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Error::Header);
    }
    Ok((name, trim(value)))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> Request<'_> {
        match parse(buf) {
            Ok(Status::Complete(r)) => r,
            other => panic!("{other:?} for {:?}", String::from_utf8_lossy(buf)),
        }
    }

    #[test]
    fn a_scrape_request() {
        let buf = b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/plain;version=0.0.4\r\n\r\nGET /";
        let r = complete(buf);
        assert_eq!((r.method, r.path, r.keep_alive), ("GET", "/metrics", true));
        assert_eq!(&buf[r.len..], b"GET /");
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        assert!(!complete(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!complete(b"GET / HTTP/1.1\r\nConnection: te, close\r\n\r\n").keep_alive);
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(complete(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").keep_alive);
        assert!(complete(b"\r\nHEAD /status HTTP/1.1\n\n").keep_alive);
    }

    #[test]
    fn incomplete_heads_are_partial_until_the_limit() {
        for cut in [
            &b""[..],
            b"GE",
            b"GET / HTTP/1.1\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r",
        ] {
            assert_eq!(parse(cut), Ok(Status::Partial), "{cut:?}");
        }
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD, b'a');
        assert_eq!(parse(&big), Err(Error::TooLarge));
        big.truncate(MAX_HEAD - 1);
        assert_eq!(parse(&big), Ok(Status::Partial));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&big), Err(Error::TooLarge));
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(parse(many.as_bytes()), Err(Error::TooLarge));
    }

    #[test]
    fn malformed_heads_are_errors() {
        let cases: [(&[u8], Error); 12] = [
            (b"GET /\r\n\r\n", Error::RequestLine),
            (b"GET  / HTTP/1.1\r\n\r\n", Error::RequestLine),
            (b"GET http://a/ HTTP/1.1\r\n\r\n", Error::RequestLine),
            (b"G(T / HTTP/1.1\r\n\r\n", Error::RequestLine),
            (b"GET /\x01 HTTP/1.1\r\n\r\n", Error::RequestLine),
            (b"GET / HTTP/2.0\r\n\r\n", Error::Version),
            (b"GET / FTP/1.0\r\n\r\n", Error::RequestLine),
            (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", Error::Header),
            (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", Error::Header),
            (b"GET / HTTP/1.1\r\nA: b\x00\r\n\r\n", Error::Header),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                Error::Body,
            ),
            (
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                Error::Body,
            ),
        ];
        for (buf, e) in cases {
            assert_eq!(parse(buf), Err(e), "{:?}", String::from_utf8_lossy(buf));
        }
        assert!(complete(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").keep_alive);
    }
}
