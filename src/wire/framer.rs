//! Line framer: cuts a byte stream into `\n`-terminated lines inside one fixed buffer.
//!
//! A [`Framer`] owns a [`MAX_LINE`]-byte array and never allocates. Bytes go in either
//! through [`Framer::spare`] + [`Framer::commit`] (read straight from a socket into the
//! buffer) or through [`Framer::push`] (copy from a slice). Complete lines come out of
//! [`Framer::next_line`], borrowed from the buffer, with the `"\n"` and one `"\r"` just
//! before it removed.
//!
//! Limits: a line may be at most [`MAX_LINE`] bytes, its `"\n"` included. Once [`MAX_LINE`]
//! bytes are buffered without a `"\n"`, the framer reports [`FrameError::LineTooLong`]
//! and keeps reporting it; the connection should then be closed.
//!
//! Cost: every byte is scanned for `"\n"` once and moved by compaction at most once, so
//! feeding a stream costs O(n) whatever the chunk sizes (a one-byte trickle included).
//!
//! Lines found do not depend on how the stream was chunked, provided the caller drains
//! [`Framer::next_line`] until it returns `Ok(None)` or an error before adding more bytes.

use std::fmt;

/// Longest line, in bytes, including its terminating `"\n"`.
pub const MAX_LINE: usize = 512;

/// Why the framer gave up on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// [`MAX_LINE`] bytes arrived without a `"\n"`.
    LineTooLong,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::LineTooLong => {
                write!(f, "line longer than {MAX_LINE} bytes (newline included)")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Splits a byte stream into lines, in a fixed [`MAX_LINE`]-byte buffer.
///
/// Typical use with a socket (here a byte slice stands in for it; with a non-blocking
/// socket, `WouldBlock` ends the loop as EOF does here):
///
/// ```
/// use std::io::Read;
/// use uptime_tracker::wire::{self, Framer, Message};
///
/// let mut socket: &[u8] = b"PING 1\r\nPING 2\nPI";
/// let mut framer = Framer::new();
/// let mut seqs = Vec::new();
/// loop {
///     while let Some(line) = framer.next_line()? {
///         if let Ok(Message::Ping { seq }) = wire::parse(line) {
///             seqs.push(seq);
///         }
///     }
///     match socket.read(framer.spare())? {
///         0 => break, // EOF; framer.buffered() > 0 means a cut-off line
///         n => framer.commit(n),
///     }
/// }
/// assert_eq!(seqs, [1, 2]);
/// assert_eq!(framer.buffered(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Framer {
    buf: [u8; MAX_LINE],
    /// First byte not yet returned as part of a line.
    start: usize,
    /// One past the last buffered byte.
    end: usize,
    /// `buf[start..scanned]` is known to hold no `"\n"`.
    scanned: usize,
    /// Sticky [`FrameError::LineTooLong`].
    failed: bool,
}

// Invariant, kept by every method: start <= scanned <= end <= MAX_LINE, and
// failed implies start == 0 && end == MAX_LINE && no "\n" in buf.

impl Framer {
    /// An empty framer.
    #[must_use]
    pub fn new() -> Self {
        Framer {
            buf: [0; MAX_LINE],
            start: 0,
            end: 0,
            scanned: 0,
            failed: false,
        }
    }

    /// Free space at the tail for a socket read (compacts first if needed). Empty only when the
    /// buffer holds [`MAX_LINE`] bytes without a newline (then `next_line` reports `LineTooLong`),
    /// or when the caller has not drained complete lines with [`Framer::next_line`] first.
    pub fn spare(&mut self) -> &mut [u8] {
        self.compact();
        self.buf.get_mut(self.end..).unwrap_or_default()
    }

    /// Marks `n` bytes of `spare()` as filled. `n` larger than the spare length does not panic in
    /// release builds (it is clamped); debug builds assert it.
    ///
    /// Call it right after [`Framer::spare`], with the number of bytes written there.
    pub fn commit(&mut self, n: usize) {
        let room = MAX_LINE.saturating_sub(self.end);
        debug_assert!(
            n <= room,
            "Framer::commit({n}) with only {room} spare bytes"
        );
        self.end = self.end.saturating_add(n.min(room));
        self.debug_check();
    }

    /// Copies as much of `data` as fits; returns how many bytes were taken.
    ///
    /// Returns 0 only when `data` is empty or [`Framer::spare`] is empty.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let spare = self.spare();
        let n = data.len().min(spare.len());
        if let (Some(dst), Some(src)) = (spare.get_mut(..n), data.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.commit(n);
        n
    }

    /// The next complete line without its `"\n"` (and without a `"\r"` just before it), or `None`
    /// if no complete line is buffered. `Err(LineTooLong)` once [`MAX_LINE`] bytes are buffered
    /// with no `"\n"`; the error is sticky (every later call returns it too).
    ///
    /// The slice is valid until the framer is used again.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if self.failed {
            return Err(FrameError::LineTooLong);
        }
        let unscanned = self.buf.get(self.scanned..self.end).unwrap_or_default();
        let Some(offset) = unscanned.iter().position(|&b| b == b'\n') else {
            self.scanned = self.end;
            if self.buffered() >= MAX_LINE {
                self.failed = true;
                return Err(FrameError::LineTooLong);
            }
            return Ok(None);
        };
        // newline < end <= MAX_LINE, so newline + 1 cannot overflow.
        let newline = self.scanned.saturating_add(offset);
        let line_start = self.start;
        let mut line_end = newline;
        if line_end > line_start && self.buf.get(line_end.saturating_sub(1)) == Some(&b'\r') {
            line_end = line_end.saturating_sub(1);
        }
        self.start = newline.saturating_add(1);
        self.scanned = self.start;
        if self.start == self.end {
            // Nothing left: rewind for free instead of compacting later.
            self.start = 0;
            self.scanned = 0;
            self.end = 0;
        }
        self.debug_check();
        // The line's bytes stay where they are until the next `&mut self` call.
        Ok(Some(self.buf.get(line_start..line_end).unwrap_or_default()))
    }

    /// Bytes buffered and not yet returned as lines.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Moves the buffered bytes to the front of the buffer.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        if self.start < self.end && self.end <= MAX_LINE {
            self.buf.copy_within(self.start..self.end, 0);
        }
        self.end = self.end.saturating_sub(self.start);
        self.scanned = self.scanned.saturating_sub(self.start);
        self.start = 0;
        self.debug_check();
    }

    fn debug_check(&self) {
        debug_assert!(
            self.start <= self.scanned && self.scanned <= self.end && self.end <= MAX_LINE,
            "framer invariant broken: {self:?}"
        );
    }
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl fmt::Debug for Framer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framer")
            .field("start", &self.start)
            .field("end", &self.end)
            .field("scanned", &self.scanned)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drains every complete line; `Err` is recorded as the last element.
    fn drain(f: &mut Framer, out: &mut Vec<Result<Vec<u8>, FrameError>>) -> bool {
        loop {
            match f.next_line() {
                Ok(Some(line)) => out.push(Ok(line.to_vec())),
                Ok(None) => return true,
                Err(e) => {
                    out.push(Err(e));
                    return false;
                }
            }
        }
    }

    /// Feeds `chunks` one after the other through `push`, draining after each push.
    fn feed(chunks: &[&[u8]]) -> (Vec<Result<Vec<u8>, FrameError>>, Framer) {
        let mut f = Framer::new();
        let mut out = Vec::new();
        for chunk in chunks {
            let mut rest = *chunk;
            loop {
                if !drain(&mut f, &mut out) {
                    return (out, f);
                }
                if rest.is_empty() {
                    break;
                }
                let n = f.push(rest);
                assert!(n > 0, "no progress");
                assert!(n <= rest.len());
                assert!(f.buffered() <= MAX_LINE);
                rest = &rest[n..];
            }
        }
        (out, f)
    }

    fn lines(v: &[&[u8]]) -> Vec<Result<Vec<u8>, FrameError>> {
        v.iter().map(|l| Ok(l.to_vec())).collect()
    }

    const STREAM: &[u8] = b"PING 1\nPONG 2\r\nHELLO 1 a\n\n\r\nFOO a\rb\r\n\r\r\nx";

    fn stream_lines() -> Vec<Result<Vec<u8>, FrameError>> {
        lines(&[
            b"PING 1",
            b"PONG 2",
            b"HELLO 1 a",
            b"",
            b"",
            b"FOO a\rb",
            b"\r",
        ])
    }

    #[test]
    fn whole_stream() {
        let (out, f) = feed(&[STREAM]);
        assert_eq!(out, stream_lines());
        assert_eq!(f.buffered(), 1); // the unterminated "x"
    }

    #[test]
    fn split_at_every_boundary() {
        for i in 0..=STREAM.len() {
            let (out, f) = feed(&[&STREAM[..i], &STREAM[i..]]);
            assert_eq!(out, stream_lines(), "split at {i}");
            assert_eq!(f.buffered(), 1);
        }
        for i in 0..=STREAM.len() {
            for j in i..=STREAM.len() {
                let (out, _) = feed(&[&STREAM[..i], &STREAM[i..j], &STREAM[j..]]);
                assert_eq!(out, stream_lines(), "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let chunks: Vec<&[u8]> = STREAM.chunks(1).collect();
        let (out, _) = feed(&chunks);
        assert_eq!(out, stream_lines());
    }

    #[test]
    fn crlf_and_lone_cr() {
        assert_eq!(feed(&[b"a\r\n"]).0, lines(&[b"a"]));
        assert_eq!(feed(&[b"a\rb\n"]).0, lines(&[b"a\rb"]));
        assert_eq!(feed(&[b"\r\n"]).0, lines(&[b""]));
        assert_eq!(feed(&[b"\r\r\n"]).0, lines(&[b"\r"]));
        assert_eq!(feed(&[b"a\r\r\n"]).0, lines(&[b"a\r"]));
        assert_eq!(feed(&[b"\ra\n"]).0, lines(&[b"\ra"]));
        // A CR at the end of the buffered bytes waits for what follows.
        let (out, f) = feed(&[b"a\r"]);
        assert!(out.is_empty());
        assert_eq!(f.buffered(), 2);
        assert_eq!(feed(&[b"a\r", b"\n"]).0, lines(&[b"a"]));
        assert_eq!(feed(&[b"a\r", b"b\n"]).0, lines(&[b"a\rb"]));
    }

    #[test]
    fn empty_lines() {
        assert_eq!(feed(&[b"\n\n\n"]).0, lines(&[b"", b"", b""]));
        let mut f = Framer::new();
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!(f.push(b""), 0);
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn exact_limit_line_is_accepted() {
        let mut line = vec![b'x'; MAX_LINE - 1];
        line.push(b'\n');
        assert_eq!(line.len(), MAX_LINE);
        let mut f = Framer::new();
        assert_eq!(f.push(&line), MAX_LINE);
        assert_eq!(f.next_line(), Ok(Some(&line[..MAX_LINE - 1])));
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!(f.buffered(), 0);
        assert_eq!(f.spare().len(), MAX_LINE);

        // Same with CRLF: the CR counts toward the limit and is stripped.
        let mut line = vec![b'y'; MAX_LINE - 2];
        line.extend_from_slice(b"\r\n");
        assert_eq!(feed(&[&line]).0, lines(&[&line[..MAX_LINE - 2]]));

        // After a few short lines, a full-size line still fits (compaction).
        let mut stream = b"a\nbb\n".to_vec();
        let mut big = vec![b'z'; MAX_LINE - 1];
        big.push(b'\n');
        stream.extend_from_slice(&big);
        stream.extend_from_slice(&big);
        assert_eq!(
            feed(&[&stream]).0,
            lines(&[b"a", b"bb", &big[..MAX_LINE - 1], &big[..MAX_LINE - 1]])
        );
    }

    #[test]
    fn limit_plus_one_is_rejected() {
        let mut line = vec![b'x'; MAX_LINE];
        line.push(b'\n');
        let (out, mut f) = feed(&[&line]);
        assert_eq!(out, vec![Err(FrameError::LineTooLong)]);
        assert_eq!(f.buffered(), MAX_LINE);
        // The newline never got in.
        assert_eq!(f.push(b"\n"), 0);

        // Also when the CR is the 512th byte: the line would be 513 bytes long.
        let mut line = vec![b'x'; MAX_LINE - 1];
        line.extend_from_slice(b"\r\n");
        assert_eq!(feed(&[&line]).0, vec![Err(FrameError::LineTooLong)]);
    }

    #[test]
    fn error_is_reported_at_the_limit_byte_not_before() {
        let mut f = Framer::new();
        for i in 0..MAX_LINE - 1 {
            assert_eq!(f.push(b"x"), 1);
            assert_eq!(f.next_line(), Ok(None), "after {} bytes", i + 1);
            // Trickle: the scan position follows the end, nothing is rescanned.
            assert_eq!(f.scanned, f.end);
        }
        assert_eq!(f.push(b"x"), 1);
        assert_eq!(f.next_line(), Err(FrameError::LineTooLong));
    }

    #[test]
    fn error_is_sticky() {
        let (_, mut f) = feed(&[&[b'x'; MAX_LINE]]);
        for _ in 0..3 {
            assert_eq!(f.next_line(), Err(FrameError::LineTooLong));
            assert!(f.spare().is_empty());
            assert_eq!(f.push(b"\nPING 1\n"), 0);
            assert_eq!(f.buffered(), MAX_LINE);
        }
        f.commit(0);
        assert_eq!(f.next_line(), Err(FrameError::LineTooLong));
    }

    #[test]
    fn long_line_after_good_lines() {
        let mut stream = b"PING 1\n".to_vec();
        stream.extend_from_slice(&[b'x'; MAX_LINE]);
        stream.extend_from_slice(b"\nPING 2\n");
        let (out, _) = feed(&[&stream]);
        assert_eq!(
            out,
            vec![Ok(b"PING 1".to_vec()), Err(FrameError::LineTooLong)]
        );
    }

    #[test]
    fn spare_commit_path() {
        let mut f = Framer::new();
        let spare = f.spare();
        assert_eq!(spare.len(), MAX_LINE);
        spare[..9].copy_from_slice(b"PING 1\nPO");
        f.commit(9);
        assert_eq!(f.buffered(), 9);
        assert_eq!(f.next_line(), Ok(Some(&b"PING 1"[..])));
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!(f.buffered(), 2);
        // Compaction: "PO" moves to the front, the whole rest is free.
        let spare = f.spare();
        assert_eq!(spare.len(), MAX_LINE - 2);
        spare[..5].copy_from_slice(b"NG 2\n");
        f.commit(5);
        assert_eq!(f.next_line(), Ok(Some(&b"PONG 2"[..])));
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!(f.buffered(), 0);
        f.commit(0);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "spare bytes")]
    fn commit_too_much_is_caught_in_debug_builds() {
        let mut f = Framer::new();
        f.commit(MAX_LINE + 1);
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn commit_too_much_is_clamped_in_release_builds() {
        let mut f = Framer::new();
        f.commit(MAX_LINE + 1);
        assert_eq!(f.buffered(), MAX_LINE);
        f.commit(usize::MAX);
        assert_eq!(f.buffered(), MAX_LINE);
        assert_eq!(f.next_line(), Err(FrameError::LineTooLong));
    }

    #[test]
    fn push_partial() {
        let mut f = Framer::new();
        let mut data = b"a\n".to_vec();
        data.extend_from_slice(&[b'b'; MAX_LINE]);
        assert_eq!(f.push(&data), MAX_LINE);
        // The buffer is full of undrained data: nothing more fits.
        assert_eq!(f.push(&data[MAX_LINE..]), 0);
        assert_eq!(f.next_line(), Ok(Some(&b"a"[..])));
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!(f.buffered(), MAX_LINE - 2);
        // After draining, room for the rest.
        assert_eq!(f.push(&data[MAX_LINE..]), 2);
        assert_eq!(f.next_line(), Err(FrameError::LineTooLong));
    }

    #[test]
    fn many_lines_in_one_push() {
        let mut data = Vec::new();
        let mut expected = Vec::new();
        for i in 0..100 {
            let line = format!("PING {i}");
            data.extend_from_slice(line.as_bytes());
            data.push(b'\n');
            expected.push(Ok(line.into_bytes()));
        }
        assert!(data.len() > MAX_LINE);
        let mut f = Framer::new();
        let taken = f.push(&data);
        assert_eq!(taken, MAX_LINE);
        let mut out = Vec::new();
        drain(&mut f, &mut out);
        // Only whole lines came out; the cut-off one stays buffered.
        assert!(out.len() > 50 && out.len() < 100);
        assert_eq!(out, expected[..out.len()]);
        assert_eq!(feed(&[&data]).0, expected);
    }

    #[test]
    fn compaction_keeps_partial_line_and_scan_position() {
        let mut f = Framer::new();
        assert_eq!(f.push(b"abc\ndefg"), 8);
        assert_eq!(f.next_line(), Ok(Some(&b"abc"[..])));
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!((f.start, f.scanned, f.end), (4, 8, 8));
        assert_eq!(f.spare().len(), MAX_LINE - 4);
        assert_eq!((f.start, f.scanned, f.end), (0, 4, 4));
        assert_eq!(f.push(b"h\n"), 2);
        assert_eq!(f.next_line(), Ok(Some(&b"defgh"[..])));
        // Fully drained: indices rewind without a copy.
        assert_eq!((f.start, f.scanned, f.end), (0, 0, 0));
    }

    #[test]
    fn error_display() {
        assert_eq!(
            FrameError::LineTooLong.to_string(),
            "line longer than 512 bytes (newline included)"
        );
        let _: &dyn std::error::Error = &FrameError::LineTooLong;
        let f = Framer::default();
        assert!(format!("{f:?}").contains("start: 0"));
    }
}
