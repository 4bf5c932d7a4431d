//! The one HTTP/1.0 and HTTP/1.1 request-head parser, for both ports: over `&[u8]`,
//! bounded, allocation-free and panic-free on any input.
//!
//! Two ways in, one grammar and one set of limits ([`MAX_HEAD`], [`MAX_HEADERS`]):
//! - [`parse`], shaped like httparse, for a buffer that holds what a client sent so far
//!   (the metrics port): [`Status::Partial`] while the head may still be completed,
//!   [`Status::Complete`] with what a small responder needs (method, path, version,
//!   whether the connection may stay open, the head's length), or a small `Copy`
//!   [`Error`] as soon as the bytes so far are one. A head longer than [`MAX_HEAD`] bytes
//!   is an error, not `Partial`, so a caller's buffer never has to grow past it.
//! - [`request_line`] then [`Head::line`], a line at a time, for a reader that already
//!   splits lines (the mesh port, whose framer hands over lines without their line ends,
//!   and which must tell a request line from a mesh protocol line). A [`Head`] keeps the
//!   first error and goes on to the head's empty line, so the answer can wait until the
//!   client has sent its whole head; only [`Error::TooLarge`] comes at once.
//!
//! [`parse`] is [`request_line`] and [`Head`] run over the buffer's lines, stopping at the
//! first error: the two ways agree on every head (the `http` fuzz target checks it).
//!
//! Strict where leniency would hide a confused client or a smuggling attempt: a request
//! with a body (`Content-Length` other than 0, any `Transfer-Encoding`), obsolete line
//! folding, a header name that is not a token, control characters, or a target that is not
//! an absolute path (origin form, RFC 9112 §3.2.1) are errors. Bare `\n` line ends are
//! accepted, as RFC 9112 §2.2 allows. No request line of this grammar is a mesh protocol
//! line: those have no `HTTP/1.x` field, and their names cannot hold `/`.

use std::fmt;

/// Longest request head (request line, headers, their line ends and the empty line), in
/// bytes. A line fed to [`Head::line`] counts as the length its caller says.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most header lines in one head (the empty line that ends it is not one).
pub const MAX_HEADERS: usize = 64;

/// A complete request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method, as sent (a token, e.g. `GET`).
    pub method: &'a str,
    /// The target's path, without its query (`/metrics` for `/metrics?x=1`).
    pub path: &'a str,
    /// The version is HTTP/1.0 (not 1.1).
    pub http10: bool,
    /// Whether the client asked to keep the connection open: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive` (and no `close`).
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
    /// More than [`MAX_HEAD`] bytes without the head's end, or more than [`MAX_HEADERS`]
    /// headers.
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

/// A request line: `METHOD SP /path SP HTTP/1.x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// The method, as sent (a token).
    pub method: &'a str,
    /// The target's path, without its query or fragment.
    pub path: &'a str,
    /// The version is HTTP/1.0 (not 1.1).
    pub http10: bool,
}

/// Parses a request line (without its line end).
pub fn request_line(line: &[u8]) -> Result<RequestLine<'_>, Error> {
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
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        v if v.starts_with(b"HTTP/") => return Err(Error::Version),
        _ => return Err(Error::RequestLine),
    };
    // Both are ASCII (checked above), so valid UTF-8.
    let method = std::str::from_utf8(method).map_err(|_| Error::RequestLine)?;
    let path = std::str::from_utf8(path).map_err(|_| Error::RequestLine)?;
    Ok(RequestLine {
        method,
        path,
        http10,
    })
}

/// A request head after its request line, read a line at a time: the limits, what
/// `Connection` asked, and the first error. Small and `Copy`, so a connection can hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Bytes so far, the request line (and empty lines before it) included.
    bytes: usize,
    headers: usize,
    http10: bool,
    /// `Connection: close` was sent.
    close: bool,
    /// `Connection: keep-alive` was sent.
    keep_alive: bool,
    error: Option<Error>,
}

/// What [`Head::line`] made of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A header line: the head goes on.
    More,
    /// The empty line: the head is complete and well-formed. `keep_alive`: whether the
    /// client asked to keep the connection (see [`Request::keep_alive`]).
    Complete {
        /// The client asked to keep the connection open.
        keep_alive: bool,
    },
}

impl Head {
    /// The head of a request whose request line is `line`; `len`: the bytes it took with
    /// its line end (and any empty lines before it). Over [`MAX_HEAD`]: [`Error::TooLarge`].
    pub fn new(line: &RequestLine<'_>, len: usize) -> Result<Head, Error> {
        if len > MAX_HEAD {
            return Err(Error::TooLarge);
        }
        Ok(Head {
            bytes: len,
            headers: 0,
            http10: line.http10,
            close: false,
            keep_alive: false,
            error: None,
        })
    }

    /// The request's version is HTTP/1.0 (not 1.1).
    pub fn http10(&self) -> bool {
        self.http10
    }

    /// Bytes the head took so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The first error in the header lines so far: a caller that need not read the rest
    /// of the head can stop here.
    pub fn error(&self) -> Option<Error> {
        self.error
    }

    /// One line of the head, without its line end; `len`: the bytes it took with its line
    /// end. Past a limit: [`Error::TooLarge`] at once. A malformed header, or one that
    /// announces a body, is kept ([`Head::error`]) and returned at the empty line, so the
    /// rest of the head is read first.
    pub fn line(&mut self, line: &[u8], len: usize) -> Result<Progress, Error> {
        self.bytes = self.bytes.saturating_add(len);
        if line.is_empty() {
            if self.bytes > MAX_HEAD {
                return Err(Error::TooLarge);
            }
            return match self.error {
                Some(e) => Err(e),
                None => Ok(Progress::Complete {
                    keep_alive: !self.close && (!self.http10 || self.keep_alive),
                }),
            };
        }
        self.headers += 1;
        if self.headers > MAX_HEADERS || self.bytes > MAX_HEAD {
            return Err(Error::TooLarge);
        }
        match field(line) {
            Ok(Field::Connection { close, keep_alive }) => {
                self.close |= close;
                self.keep_alive |= keep_alive;
            }
            Ok(Field::Other) => {}
            Ok(Field::Body) => {
                self.error.get_or_insert(Error::Body);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        Ok(Progress::More)
    }
}

/// What a header line means to this parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `Connection:` with its `close` and `keep-alive` options.
    Connection {
        /// The client asked to close after the answer.
        close: bool,
        /// The client asked to keep the connection (HTTP/1.0's opt-in).
        keep_alive: bool,
    },
    /// `Content-Length` other than 0 (all zeros), or any `Transfer-Encoding`: a body
    /// follows.
    Body,
    /// Any other header.
    Other,
}

/// Classifies one header line (not empty, without its line end); [`Error::Header`] when
/// it is not `name: value` with a token name and no control characters.
pub fn field(line: &[u8]) -> Result<Field, Error> {
    let colon = line.iter().position(|&b| b == b':').ok_or(Error::Header)?;
    let (name, value) = line.split_at(colon);
    let value = value.get(1..).unwrap_or_default();
    // A name must be a token: this also refuses obsolete folding (a leading blank) and
    // a blank before the colon (RFC 9112 §5.1).
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(Error::Header);
    }
    if value.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
        return Err(Error::Header);
    }
    let value = value.trim_ascii();
    Ok(if name.eq_ignore_ascii_case(b"connection") {
        let (mut close, mut keep_alive) = (false, false);
        for option in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            close |= option.eq_ignore_ascii_case(b"close");
            keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
        }
        Field::Connection { close, keep_alive }
    } else if name.eq_ignore_ascii_case(b"transfer-encoding")
        || (name.eq_ignore_ascii_case(b"content-length")
            && (value.is_empty() || value.iter().any(|&b| b != b'0')))
    {
        Field::Body
    } else {
        Field::Other
    })
}

/// Parses the request head at the start of `buf`, stopping at the first error. Bytes after
/// the head (a pipelined request) are left alone: [`Request::len`] says where they start.
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
    let line = request_line(first)?;
    let mut head = Head::new(&line, lines.at)?;
    loop {
        let start = lines.at;
        let Some(text) = lines.next() else {
            return partial(buf);
        };
        match head.line(text, lines.at - start)? {
            Progress::More => {
                if let Some(e) = head.error() {
                    return Err(e);
                }
            }
            Progress::Complete { keep_alive } => {
                return Ok(Status::Complete(Request {
                    method: line.method,
                    path: line.path,
                    http10: line.http10,
                    keep_alive,
                    len: head.bytes(),
                }));
            }
        }
    }
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

    /// Feeds `text`'s lines as the mesh port does (each line end counted as 2 bytes).
    fn by_lines(text: &[u8]) -> Result<Option<(RequestLine<'_>, bool)>, Error> {
        let mut lines = text
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = lines.next().unwrap_or_default();
        let rl = request_line(first)?;
        let mut head = Head::new(&rl, first.len() + 2)?;
        for line in lines {
            if let Progress::Complete { keep_alive } = head.line(line, line.len() + 2)? {
                return Ok(Some((rl, keep_alive)));
            }
        }
        Ok(None)
    }

    #[test]
    fn a_scrape_request() {
        let buf = b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/plain;version=0.0.4\r\n\r\nGET /";
        let r = complete(buf);
        assert_eq!((r.method, r.path, r.keep_alive), ("GET", "/metrics", true));
        assert!(!r.http10);
        assert_eq!(&buf[r.len..], b"GET /");
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        assert!(!complete(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!complete(b"GET / HTTP/1.1\r\nConnection: te, close\r\n\r\n").keep_alive);
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(complete(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").keep_alive);
        // `close` wins, whatever the order.
        assert!(!complete(b"GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n").keep_alive);
        assert!(
            !complete(b"GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n")
                .keep_alive
        );
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
    }

    #[test]
    fn the_limits_are_exact() {
        // MAX_HEADERS headers are fine, one more is too many.
        let many = |n: usize| format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(n));
        assert!(complete(many(MAX_HEADERS).as_bytes()).keep_alive);
        assert_eq!(
            parse(many(MAX_HEADERS + 1).as_bytes()),
            Err(Error::TooLarge)
        );
        // A head of exactly MAX_HEAD bytes is fine, one byte more is too large.
        let sized = |n: usize| {
            let mut h = b"GET / HTTP/1.1\r\nX: ".to_vec();
            h.resize(n - 4, b'a');
            h.extend_from_slice(b"\r\n\r\n");
            h
        };
        let exact = sized(MAX_HEAD);
        assert_eq!(complete(&exact).len, MAX_HEAD);
        assert_eq!(parse(&sized(MAX_HEAD + 1)), Err(Error::TooLarge));
        // The same limits by lines.
        assert!(by_lines(many(MAX_HEADERS).as_bytes()).is_ok());
        assert_eq!(
            by_lines(many(MAX_HEADERS + 1).as_bytes()),
            Err(Error::TooLarge)
        );
        let unix = |n: usize| {
            let mut h = b"GET / HTTP/1.1\nX: ".to_vec();
            // Each of the three line ends counts 2 bytes by lines.
            h.resize(n - 5, b'a');
            h.extend_from_slice(b"\n\n");
            h
        };
        assert!(matches!(by_lines(&unix(MAX_HEAD)), Ok(Some(_))));
        assert_eq!(by_lines(&unix(MAX_HEAD + 1)), Err(Error::TooLarge));
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
        assert!(complete(b"GET / HTTP/1.1\r\nContent-Length: 00\r\n\r\n").keep_alive);
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n"),
            Err(Error::Body)
        );
    }

    #[test]
    fn by_lines_an_error_waits_for_the_end_of_the_head() {
        let mut head = Head::new(&request_line(b"GET / HTTP/1.1").unwrap(), 16).unwrap();
        assert_eq!(head.line(b"A b", 5), Ok(Progress::More));
        assert_eq!(head.error(), Some(Error::Header));
        assert_eq!(head.line(b"Content-Length: 3", 19), Ok(Progress::More));
        assert_eq!(head.line(b"Host: x", 9), Ok(Progress::More));
        // The first error, at the end.
        assert_eq!(head.line(b"", 2), Err(Error::Header));
        assert_eq!(
            by_lines(b"HEAD /x?y HTTP/1.0\nConnection: Keep-Alive\n\n"),
            Ok(Some((
                RequestLine {
                    method: "HEAD",
                    path: "/x",
                    http10: true
                },
                true
            )))
        );
    }

    #[test]
    fn no_mesh_protocol_line_is_a_request_line() {
        for line in [
            &b"HELLO 1 node1"[..],
            b"PING 5",
            b"PONG 5",
            b"CHALLENGE 2 node1 00ff",
            b"PROOF 00ff",
            b"",
        ] {
            assert_eq!(request_line(line), Err(Error::RequestLine), "{line:?}");
        }
    }
}
