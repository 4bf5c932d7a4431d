//! Wire protocol: a line framer and the message parser/encoder. Pure: no I/O, no clock.
//!
//! # Guarantees
//!
//! - **No panics on any input.** No byte sequence, chunked in any way, makes [`Framer`] or
//!   [`parse`] panic: the code has no `unwrap`/`expect`, no unchecked indexing and no
//!   unchecked arithmetic reachable from input bytes (enforced by the clippy lints denied
//!   below). The only assertions are `debug_assert!`s on caller mistakes that input cannot
//!   cause: [`Framer::commit`] of more bytes than [`Framer::spare`] offered (clamped in
//!   release builds) and [`Message::encode`] of a message that [`Message::validate`]
//!   rejects.
//! - **Bounded.** The framer holds at most [`MAX_LINE`] bytes in a fixed array and never
//!   allocates; [`parse`] borrows from the line and never allocates; [`Message::encode`]
//!   only appends to the caller's buffer.
//! - **Chunking does not matter.** Feeding a stream in any chunks yields the same lines and
//!   the same error as feeding it whole, provided lines are drained with
//!   [`Framer::next_line`] before more bytes are added.
//! - **Canonical round trip.** For every line that parses, its encoding parses to the same
//!   message, and encoding that again gives identical bytes. Every encoding fits in
//!   [`MAX_LINE`].
//!
//! # Protocol, version 1
//!
//! A connection carries lines of ASCII text. Both sides send `HELLO` first; then the
//! prober sends `PING`s and the other side answers each with a `PONG` carrying the same
//! sequence number.
//!
//! ```text
//! HELLO <version> <name>    handshake, sent by both sides: protocol version and sender's node name
//! PING <seq>                probe with a sequence number
//! PONG <seq>                reply echoing a probe's seq
//! ```
//!
//! Grammar (ABNF, RFC 5234; strings are case-sensitive):
//!
//! ```text
//! line      = message [CR] LF             ; at most 512 bytes, LF included
//! message   = hello / ping / pong / unknown
//! hello     = "HELLO" SP version SP name
//! ping      = "PING" SP seq
//! pong      = "PONG" SP seq
//! unknown   = verb [SP *rest-char]        ; verb other than HELLO, PING, PONG
//!
//! verb      = UPPER *15(UPPER / DIGIT / "_")
//! version   = number                      ; 1 to 4294967295 (u32)
//! seq       = number                      ; 0 to 18446744073709551615 (u64)
//! number    = "0" / %x31-39 *DIGIT        ; no sign, no leading zero
//! name      = 1*64name-char               ; the node-name rule (crate::name), ASCII only
//! name-char = %x21-7E except "!" / "/" / ":" / "|"
//! rest-char = %x00-09 / %x0B-FF           ; any byte but LF
//! UPPER     = %x41-5A                     ; A-Z
//! DIGIT     = %x30-39                     ; 0-9
//! SP        = %x20
//! ```
//!
//! Rules in words:
//!
//! - Lines end with LF; a CR just before the LF is dropped, a CR anywhere else is data.
//!   Senders use LF alone. A line longer than 512 bytes (LF included) is a framing error:
//!   close the connection.
//! - Fields are separated by exactly one space. In a known message (`HELLO`, `PING`,
//!   `PONG`) a trailing space, a double space, a tab, any other control byte, any
//!   non-ASCII byte, a missing or an extra field is malformed.
//! - Numbers are canonical decimal: digits only, no leading zeros except `0` itself,
//!   and within range.
//! - `HELLO` accepts any version from 1 up: a newer peer announces its own version and
//!   both sides speak the lower one. Version 0 is malformed.
//! - A well-formed verb that is not known is a message from a newer version: it parses
//!   as [`Message::Unknown`] whatever follows the space, and receivers ignore it. Its
//!   canonical encoding is the verb alone.
//! - Anything else (an empty line, a lowercase or over-long verb, a verb followed by
//!   anything but a space) is malformed.

// Mechanical backing for the panic guarantee (test code may index and unwrap freely).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::arithmetic_side_effects
    )
)]

pub mod framer;
pub mod message;
pub mod view;

pub use framer::{FrameError, Framer, MAX_LINE};
pub use message::{MAX_VERB_LEN, Message, PROTOCOL_VERSION, ParseError, parse};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::MAX_NAME_LEN;

    /// SplitMix64: small, deterministic, good enough to shuffle test streams.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform-ish in `0..n` (n > 0).
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    type Event = Result<Vec<u8>, FrameError>;

    /// A random stream mixing valid lines, near-valid lines, long lines and garbage.
    fn random_stream(rng: &mut Rng) -> Vec<u8> {
        const SNIPPETS: &[&[u8]] = &[
            b"PING 1\n",
            b"PONG 18446744073709551615\n",
            b"PING 18446744073709551616\n",
            b"HELLO 1 node1\r\n",
            b"HELLO 0 a\n",
            b"HELLO 2 x y\n",
            b"FOO bar\n",
            b"NEWVERB\n",
            b"PING  1\n",
            b"PING 1 \n",
            b"ping 1\n",
            b"\n",
            b"\r\n",
            b"\r",
            b" ",
            b"PING 01\n",
            b"HELLO 1 \xc3\xa9\n",
        ];
        let mut out = Vec::new();
        let parts = 1 + rng.below(40);
        for _ in 0..parts {
            match rng.below(10) {
                0..=4 => out.extend_from_slice(rng.pick::<&[u8]>(SNIPPETS)),
                5 => {
                    // A valid message with random fields.
                    let mut name = String::new();
                    let m = random_message(rng, &mut name);
                    let mut buf = Vec::new();
                    m.encode(&mut buf);
                    out.extend_from_slice(&buf);
                }
                6 => {
                    // A line near or over the limit.
                    let len = MAX_LINE - 3 + rng.below(6);
                    out.extend(std::iter::repeat_n(b'x', len));
                    if rng.below(3) > 0 {
                        out.push(b'\n');
                    }
                }
                7 => {
                    // A long run without newline, possibly huge.
                    let len = rng.below(3 * MAX_LINE);
                    out.extend((0..len).map(|_| b'a' + (rng.below(26) as u8)));
                }
                _ => {
                    // Garbage bytes, newlines and CRs included.
                    let len = rng.below(64);
                    for _ in 0..len {
                        let b = match rng.below(8) {
                            0 => b'\n',
                            1 => b'\r',
                            2 => b' ',
                            _ => rng.next() as u8,
                        };
                        out.push(b);
                    }
                }
            }
        }
        out
    }

    fn random_message<'a>(rng: &mut Rng, name: &'a mut String) -> Message<'a> {
        const NAME_CHARS: &[u8] = b"abcXYZ019-._~@#$%^&*()=+[]{};'\"<>?,`\\";
        const VERBS: &[&str] = &["FOO", "X", "NEW_VERB_2", "ABCDEFGHIJKLMNOP", "PINGS"];
        let num = |rng: &mut Rng| match rng.below(4) {
            0 => 0,
            1 => u64::MAX,
            2 => rng.next() % 1000,
            _ => rng.next(),
        };
        match rng.below(4) {
            0 => {
                let len = 1 + rng.below(MAX_NAME_LEN);
                name.clear();
                for _ in 0..len {
                    name.push(char::from(*rng.pick(NAME_CHARS)));
                }
                let version = match rng.below(3) {
                    0 => 1,
                    1 => u32::MAX,
                    _ => 1 + (rng.next() as u32 >> 1),
                };
                Message::Hello { version, name }
            }
            1 => Message::Ping { seq: num(rng) },
            2 => Message::Pong { seq: num(rng) },
            _ => Message::Unknown {
                verb: rng.pick::<&str>(VERBS),
            },
        }
    }

    /// The specification of the framer, written as simply as possible.
    fn reference_frames(stream: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let rest = &stream[pos..];
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) if i < MAX_LINE => {
                    let mut line = &rest[..i];
                    if line.last() == Some(&b'\r') {
                        line = &line[..line.len() - 1];
                    }
                    out.push(Ok(line.to_vec()));
                    pos += i + 1;
                }
                None if rest.len() < MAX_LINE => return out,
                _ => {
                    out.push(Err(FrameError::LineTooLong));
                    return out;
                }
            }
        }
    }

    /// Feeds `stream` in random chunks, through `push` or `spare`/`commit` at random, and
    /// checks the framer's invariants at every step.
    fn chunked_frames(stream: &[u8], rng: &mut Rng, max_chunk: usize) -> Vec<Event> {
        let mut f = Framer::new();
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            loop {
                match f.next_line() {
                    Ok(Some(line)) => out.push(Ok(line.to_vec())),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e));
                        // Sticky, and nothing more goes in.
                        assert_eq!(f.next_line(), Err(e));
                        assert_eq!(f.push(b"\n"), 0);
                        assert!(f.spare().is_empty());
                        assert_eq!(f.buffered(), MAX_LINE);
                        return out;
                    }
                }
            }
            assert!(f.buffered() < MAX_LINE);
            if pos == stream.len() {
                return out;
            }
            let want = 1 + rng.below(max_chunk);
            let chunk = &stream[pos..(pos + want).min(stream.len())];
            let before = f.buffered();
            let taken = if rng.below(2) == 0 {
                f.push(chunk)
            } else {
                let spare = f.spare();
                let n = chunk.len().min(spare.len());
                spare[..n].copy_from_slice(&chunk[..n]);
                f.commit(n);
                n
            };
            assert!(taken > 0, "no progress after draining");
            assert!(taken <= chunk.len());
            assert_eq!(f.buffered(), before + taken);
            assert!(f.buffered() <= MAX_LINE);
            pos += taken;
        }
    }

    #[test]
    fn chunking_equivalence_on_random_streams() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let mut lines_seen = 0;
        let mut errors_seen = 0;
        let mut parsed_ok = 0;
        for _ in 0..400 {
            let stream = random_stream(&mut rng);
            let want = reference_frames(&stream);
            let whole = chunked_frames(&stream, &mut rng, stream.len().max(1));
            assert_eq!(whole, want, "whole: {:?}", String::from_utf8_lossy(&stream));
            for max_chunk in [1, 2, 3, 7, 64, MAX_LINE, MAX_LINE + 1] {
                let chunked = chunked_frames(&stream, &mut rng, max_chunk);
                assert_eq!(chunked, want, "max_chunk {max_chunk}");
            }
            // Parsing each line gives the same answers however it was framed, and every
            // parsed line is canonical.
            for event in &want {
                match event {
                    Ok(line) => {
                        lines_seen += 1;
                        if parse(line).is_ok() {
                            parsed_ok += 1;
                            assert_round_trip(line);
                        }
                    }
                    Err(_) => errors_seen += 1,
                }
            }
        }
        // The generator exercises every path.
        assert!(lines_seen > 1000, "{lines_seen}");
        assert!(errors_seen > 50, "{errors_seen}");
        assert!(parsed_ok > 300, "{parsed_ok}");
    }

    /// parse -> encode -> frame -> parse gives the same message; encoding is a fixed point.
    fn assert_round_trip(line: &[u8]) {
        let m = parse(line).unwrap();
        let mut e1 = Vec::new();
        m.encode(&mut e1);
        assert!(e1.len() <= MAX_LINE);
        let mut f = Framer::new();
        assert_eq!(f.push(&e1), e1.len());
        let framed = f.next_line().unwrap().unwrap().to_vec();
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!(f.buffered(), 0);
        let m2 = parse(&framed).unwrap();
        assert_eq!(m2, m);
        let mut e2 = Vec::new();
        m2.encode(&mut e2);
        assert_eq!(e2, e1);
    }

    #[test]
    fn random_messages_round_trip() {
        let mut rng = Rng(42);
        let mut name = String::new();
        for _ in 0..2000 {
            let m = random_message(&mut rng, &mut name);
            assert_eq!(m.validate(), Ok(()), "{m:?}");
            let mut e = Vec::new();
            m.encode(&mut e);
            assert_eq!(parse(&e[..e.len() - 1]), Ok(m));
            assert_round_trip(&e[..e.len() - 1]);
        }
    }

    #[test]
    fn random_bytes_never_panic_and_parsed_lines_are_canonical() {
        let mut rng = Rng(7);
        let alphabet: &[u8] = b"HELOPINGF 0123456789\t\r\x80\xffa_|!:/";
        for _ in 0..20_000 {
            let len = rng.below(24);
            let line: Vec<u8> = (0..len).map(|_| *rng.pick(alphabet)).collect();
            if parse(&line).is_ok() {
                assert_round_trip(&line);
            }
        }
        // And prefixes of well-formed lines.
        for line in [
            &b"HELLO 4294967295 node-1"[..],
            b"PING 18446744073709551615",
        ] {
            for i in 0..=line.len() {
                if parse(&line[..i]).is_ok() {
                    assert_round_trip(&line[..i]);
                }
            }
        }
    }

    #[test]
    fn framer_feeds_parser() {
        let mut f = Framer::new();
        let mut out = Vec::new();
        for m in [
            Message::Hello {
                version: PROTOCOL_VERSION,
                name: "node1",
            },
            Message::Ping { seq: 1 },
            Message::Pong { seq: 1 },
            Message::Unknown { verb: "LATER" },
        ] {
            m.encode(&mut out);
        }
        out.extend_from_slice(b"garbage\r\n");
        assert_eq!(f.push(&out), out.len());
        let want = [
            Ok(Message::Hello {
                version: 1,
                name: "node1",
            }),
            Ok(Message::Ping { seq: 1 }),
            Ok(Message::Pong { seq: 1 }),
            Ok(Message::Unknown { verb: "LATER" }),
            Err(ParseError::BadVerb),
        ];
        for w in want {
            assert_eq!(parse(f.next_line().unwrap().unwrap()), w);
        }
        assert_eq!(f.next_line(), Ok(None));
    }
}
