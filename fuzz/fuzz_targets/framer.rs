//! The line framer: chunking does not matter, consumption and buffering are bounded.
//!
//! Input: `[n] [n chunk-control bytes] [stream...]` with `n = first byte % 32`. Each
//! control byte gives the size of one chunk and how it goes in (`push`, or `spare` +
//! `commit` as a socket read would); the controls are used round-robin. With `n == 0`
//! the stream is only fed whole.
//!
//! Checks:
//! - feeding the stream in those chunks yields exactly the lines and the error of
//!   feeding it whole, and both match a straightforward reference splitter;
//! - every step takes no more bytes than it is given, makes progress after a drain, and
//!   `buffered()` grows by exactly what was taken and never exceeds `MAX_LINE`; after a
//!   drain it is below `MAX_LINE`;
//! - lines hold no `\n` and are shorter than `MAX_LINE`;
//! - `LineTooLong` is sticky and then nothing more goes in;
//! - at the end of the stream, exactly the unterminated tail is left buffered.

#![no_main]

use libfuzzer_sys::fuzz_target;
use uptime_tracker::wire::{FrameError, Framer, MAX_LINE};

type Event = Result<Vec<u8>, FrameError>;

/// The framer's specification, written as plainly as possible: the lines (and the error)
/// of `stream`, and the number of bytes left buffered at its end.
fn reference(stream: &[u8]) -> (Vec<Event>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &stream[pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i < MAX_LINE => {
                let mut line = &rest[..i];
                if let [head @ .., b'\r'] = line {
                    line = head;
                }
                out.push(Ok(line.to_vec()));
                pos += i + 1;
            }
            None if rest.len() < MAX_LINE => return (out, rest.len()),
            _ => {
                out.push(Err(FrameError::LineTooLong));
                return (out, MAX_LINE);
            }
        }
    }
}

/// Feeds `stream` in chunks described by `control` (whole if empty), checking the
/// framer's invariants at every step. Returns the events and the bytes left buffered.
fn feed(stream: &[u8], control: &[u8]) -> (Vec<Event>, usize) {
    let mut f = Framer::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut step = 0;
    loop {
        // Drain every complete line before adding bytes (the framer's contract).
        loop {
            match f.next_line() {
                Ok(Some(line)) => {
                    assert!(!line.contains(&b'\n'), "line holds a newline");
                    assert!(line.len() < MAX_LINE, "line of {} bytes", line.len());
                    out.push(Ok(line.to_vec()));
                }
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    // Sticky, full, and nothing more goes in.
                    assert_eq!(f.next_line(), Err(e));
                    assert_eq!(f.buffered(), MAX_LINE);
                    assert_eq!(f.push(b"\n"), 0);
                    assert!(f.spare().is_empty());
                    assert_eq!(f.next_line(), Err(e));
                    return (out, f.buffered());
                }
            }
        }
        assert!(
            f.buffered() < MAX_LINE,
            "drained but {} buffered",
            f.buffered()
        );
        if pos == stream.len() {
            return (out, f.buffered());
        }
        let (size, via_spare) = match control.get(step % control.len().max(1)) {
            None => (stream.len(), false),
            // 1..=64 bytes, or 16..=1024 in steps of 16 (more than a line).
            Some(&c) if c & 0x80 == 0 => (usize::from(c & 0x3f) + 1, c & 0x40 != 0),
            Some(&c) => ((usize::from(c & 0x3f) + 1) * 16, c & 0x40 != 0),
        };
        step += 1;
        let chunk = &stream[pos..stream.len().min(pos + size)];
        let before = f.buffered();
        let taken = if via_spare {
            let spare = f.spare();
            let n = chunk.len().min(spare.len());
            spare[..n].copy_from_slice(&chunk[..n]);
            f.commit(n);
            n
        } else {
            f.push(chunk)
        };
        assert!(taken > 0, "no progress after draining");
        assert!(
            taken <= chunk.len(),
            "took {taken} of {} bytes",
            chunk.len()
        );
        assert_eq!(f.buffered(), before + taken);
        assert!(f.buffered() <= MAX_LINE);
        pos += taken;
        assert!(pos <= stream.len());
    }
}

fuzz_target!(|data: &[u8]| {
    let (control, stream) = match data.split_first() {
        Some((&n, rest)) => rest.split_at((usize::from(n) % 32).min(rest.len())),
        None => (&[][..], data),
    };
    let want = reference(stream);
    let whole = feed(stream, &[]);
    assert_eq!(whole, want, "fed whole");
    if !control.is_empty() {
        let chunked = feed(stream, control);
        assert_eq!(chunked, want, "fed in chunks {control:?}");
    }
});
