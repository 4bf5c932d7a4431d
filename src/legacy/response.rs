//! Reads an old node's HTTP/1.x responses from a byte stream, so our `GET /` probes on
//! one kept-alive connection can be matched with their responses, in order.
//!
//! What it needs to know is only where each response ends: the status line and headers
//! (at most [`MAX_HEAD`] bytes), then the body by `Content-Length`, by chunks
//! (`Transfer-Encoding: chunked`), none (`1xx`, `204`, `304`), or up to the end of the
//! connection. A response counts as the probe's reply once its head is complete, as
//! `fetch` resolved then. `1xx` heads are informational and do not count. Bodies are
//! skipped, never stored: memory is one head line at most.
//!
//! Pure, bounded, no panics on any input.

use std::fmt;

/// Most bytes of one response head (status line, headers, line ends).
pub const MAX_HEAD: usize = 8 * 1024;
/// Longest chunk-size line, in bytes.
pub const MAX_CHUNK_LINE: usize = 1024;

/// Why the stream is not HTTP/1.x responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A head over [`MAX_HEAD`] bytes, or a chunk-size line over [`MAX_CHUNK_LINE`].
    TooLarge,
    /// The first line is not `HTTP/1.x NNN ...`.
    StatusLine,
    /// A header is not `name: value`, or `Content-Length` is not a number (or two differ).
    Header,
    /// A chunk's size line or its end is malformed.
    Chunk,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::TooLarge => "HTTP response head too large",
            Error::StatusLine => "not an HTTP/1.x status line",
            Error::Header => "malformed HTTP response header",
            Error::Chunk => "malformed chunked HTTP body",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Status,
    Headers {
        status: u16,
        length: Option<u64>,
        chunked: bool,
    },
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    UntilClose,
}

/// The reader's state between reads.
#[derive(Debug, Clone)]
pub struct Reader {
    state: State,
    /// The line being read (without its `\n`).
    line: Vec<u8>,
    /// Bytes of the current head so far.
    head: usize,
    /// Whether the request was `HEAD` (no bodies follow). Our probes are `GET`.
    head_requests: bool,
}

impl Default for Reader {
    fn default() -> Reader {
        Reader::new()
    }
}

impl Reader {
    /// A reader at the start of a stream of responses to `GET` requests.
    pub fn new() -> Reader {
        Reader {
            state: State::Status,
            line: Vec::new(),
            head: 0,
            head_requests: false,
        }
    }

    /// Whether the last response's body runs to the end of the connection.
    pub fn until_close(&self) -> bool {
        self.state == State::UntilClose
    }

    /// Whether the reader is between responses (nothing of one read yet).
    pub fn idle(&self) -> bool {
        self.state == State::Status && self.line.is_empty()
    }

    /// Feeds `data`; returns how many responses' heads it completed (each a reply), and
    /// the error that stopped it, if one did: the responses completed before the error
    /// still count. After an error the stream is unusable (the caller closes it).
    pub fn feed(&mut self, data: &[u8]) -> (usize, Result<(), Error>) {
        let mut done = 0;
        let result = self.feed_counting(data, &mut done);
        (done, result)
    }

    fn feed_counting(&mut self, mut data: &[u8], done: &mut usize) -> Result<(), Error> {
        while !data.is_empty() {
            match self.state {
                State::UntilClose => return Ok(()),
                State::Body(left) | State::ChunkData(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
                    data = data.get(take..).unwrap_or_default();
                    let left = left.saturating_sub(take as u64);
                    self.state = match self.state {
                        State::Body(_) if left == 0 => State::Status,
                        State::Body(_) => State::Body(left),
                        _ if left == 0 => State::ChunkEnd,
                        _ => State::ChunkData(left),
                    };
                }
                _ => {
                    let end = data.iter().position(|&b| b == b'\n');
                    let (part, rest) = match end {
                        Some(i) => (data.get(..i).unwrap_or_default(), data.get(i + 1..)),
                        None => (data, None),
                    };
                    let limit = match self.state {
                        State::Status | State::Headers { .. } | State::Trailers => {
                            MAX_HEAD.saturating_sub(self.head)
                        }
                        _ => MAX_CHUNK_LINE,
                    };
                    if self.line.len() + part.len() + usize::from(end.is_some()) > limit {
                        return Err(Error::TooLarge);
                    }
                    self.line.extend_from_slice(part);
                    let Some(rest) = rest else {
                        return Ok(());
                    };
                    data = rest;
                    let mut line = std::mem::take(&mut self.line);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if matches!(self.state, State::Status | State::Headers { .. }) {
                        self.head += line.len() + 2;
                    }
                    *done += usize::from(self.on_line(&line)?);
                    line.clear();
                    self.line = line;
                }
            }
        }
        Ok(())
    }

    /// One whole line; returns whether it completed a (final) response head.
    fn on_line(&mut self, line: &[u8]) -> Result<bool, Error> {
        match self.state {
            State::Status => {
                self.state = State::Headers {
                    status: status_line(line)?,
                    length: None,
                    chunked: false,
                };
            }
            State::Headers {
                status,
                length,
                chunked,
            } => {
                if !line.is_empty() {
                    let (length, chunked) = header(line, length, chunked)?;
                    self.state = State::Headers {
                        status,
                        length,
                        chunked,
                    };
                    return Ok(false);
                }
                self.head = 0;
                if status < 200 {
                    self.state = State::Status;
                    return Ok(false);
                }
                self.state = if self.head_requests || status == 204 || status == 304 {
                    State::Status
                } else if chunked {
                    State::ChunkSize
                } else {
                    match length {
                        Some(0) => State::Status,
                        Some(n) => State::Body(n),
                        None => State::UntilClose,
                    }
                };
                return Ok(true);
            }
            State::ChunkSize => {
                let size = line.split(|&b| b == b';').next().unwrap_or_default();
                let size = size.trim_ascii();
                if size.is_empty() || size.len() > 15 {
                    return Err(Error::Chunk);
                }
                let size = size.iter().try_fold(0u64, |n, &b| {
                    let d = char::from(b).to_digit(16).ok_or(Error::Chunk)?;
                    Ok((n << 4) | u64::from(d))
                })?;
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData(size)
                };
            }
            State::ChunkEnd => {
                if !line.is_empty() {
                    return Err(Error::Chunk);
                }
                self.state = State::ChunkSize;
            }
            State::Trailers => {
                if line.is_empty() {
                    self.state = State::Status;
                    self.head = 0;
                }
            }
            State::Body(_) | State::ChunkData(_) | State::UntilClose => {}
        }
        Ok(false)
    }
}

/// `HTTP/1.x NNN[ reason]` -> NNN.
fn status_line(line: &[u8]) -> Result<u16, Error> {
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
        .ok_or(Error::StatusLine)?;
    let (code, reason) = rest.split_at_checked(3).ok_or(Error::StatusLine)?;
    if !(reason.is_empty() || reason.first() == Some(&b' ')) || !code.iter().all(u8::is_ascii_digit)
    {
        return Err(Error::StatusLine);
    }
    let code = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&code) {
        return Err(Error::StatusLine);
    }
    Ok(code)
}

/// One header: updates the body's length and whether it is chunked.
fn header(line: &[u8], length: Option<u64>, chunked: bool) -> Result<(Option<u64>, bool), Error> {
    let colon = line.iter().position(|&b| b == b':').ok_or(Error::Header)?;
    let (name, value) = line.split_at(colon);
    let value = value.get(1..).unwrap_or_default().trim_ascii();
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if name.is_empty() || !name.iter().all(token) {
        return Err(Error::Header);
    }
    if name.eq_ignore_ascii_case(b"content-length") {
        if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
            return Err(Error::Header);
        }
        let n = value
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        if length.is_some_and(|l| l != n) {
            return Err(Error::Header);
        }
        return Ok((Some(n), chunked));
    }
    if name.eq_ignore_ascii_case(b"transfer-encoding") {
        let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
        return Ok((
            length,
            chunked || last.trim_ascii().eq_ignore_ascii_case(b"chunked"),
        ));
    }
    Ok((length, chunked))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUN: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=utf-8\r\n\
        Date: Tue, 25 Nov 2026 20:00:00 GMT\r\nContent-Length: 12\r\n\r\nstill online";

    #[test]
    fn bun_responses_one_by_one_and_in_any_chunking() {
        let mut stream = Vec::new();
        for _ in 0..3 {
            stream.extend_from_slice(BUN);
        }
        for cut in 1..stream.len() {
            let mut r = Reader::new();
            let mut n = 0;
            for chunk in stream.chunks(cut) {
                let (k, result) = r.feed(chunk);
                result.unwrap();
                n += k;
            }
            assert_eq!(n, 3, "cut {cut}");
            assert!(r.idle());
        }
    }

    #[test]
    fn chunked_informational_and_bodiless() {
        let mut r = Reader::new();
        let s = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.0 204 No Content\r\nContent-Length: 9\r\n\r\n\
            HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nUnauthorized";
        assert_eq!(r.feed(s), (3, Ok(())));
        assert!(r.idle());
        let mut r = Reader::new();
        assert_eq!(r.feed(b"HTTP/1.0 200 OK\n\nanything at all"), (1, Ok(())));
        assert!(r.until_close());
        assert_eq!(r.feed(b"HTTP/1.1 200 OK\r\n\r\n"), (0, Ok(())));
    }

    #[test]
    fn errors() {
        for (s, e) in [
            (&b"HELLO 1 node2\n"[..], Error::StatusLine),
            (b"HTTP/1.1 20 OK\r\n", Error::StatusLine),
            (b"HTTP/1.1 2000\r\n", Error::StatusLine),
            (b"HTTP/1.1 099 x\r\n", Error::StatusLine),
            (b"HTTP/1.1 200 OK\r\nbad\r\n", Error::Header),
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n", Error::Header),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n",
                Error::Header,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                Error::Chunk,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
                Error::Chunk,
            ),
        ] {
            // A chunked body's trouble comes after its head, which counted.
            let heads = usize::from(e == Error::Chunk);
            assert_eq!(
                Reader::new().feed(s),
                (heads, Err(e)),
                "{}",
                String::from_utf8_lossy(s)
            );
        }
        let mut r = Reader::new();
        assert_eq!(r.feed(b"HTTP/1.1 200 OK\r\n"), (0, Ok(())));
        let big = vec![b'x'; MAX_HEAD];
        assert_eq!(r.feed(&big), (0, Err(Error::TooLarge)));
        // A response, then garbage in the same read: the response still counts.
        let mut r = Reader::new();
        assert_eq!(
            r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHELLO 1 x\n"),
            (1, Err(Error::StatusLine))
        );
    }
}
