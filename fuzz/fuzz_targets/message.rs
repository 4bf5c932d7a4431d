//! The message codec: parsed lines re-encode canonically; `validate` is exactly the
//! condition for a message to survive encode + parse.
//!
//! Input: one line, without its `\n` (what the framer hands to `parse`).
//!
//! Checks, for a line that parses to `m`:
//! - `m.validate()` is Ok; its encoding is ASCII, ends with its only `\n`, fits in
//!   `MAX_LINE`, and goes through a `Framer` as exactly one line;
//! - that line parses to `m` again, and encoding that gives the same bytes (canonical);
//! - a known message (`HELLO`, `PING`, `PONG`, and the authenticated handshake's
//!   `CHALLENGE`, `RESPONSE`, `PROOF`, nonces and proofs in lowercase hex) is byte for
//!   byte its own encoding (the
//!   grammar admits one spelling per message); an `Unknown` message's verb is the line's
//!   first word, followed by a space or the end of the line.
//!
//! And for messages built from the input (a `HELLO` with the input as its name and the
//! version read from its first bytes, a `CHALLENGE` and a `RESPONSE` with the input as
//! their name and nonces and proofs from its bytes, an `Unknown` with the input as its
//! verb):
//! `validate()` is Ok exactly when the encoding parses back to the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use uptime_tracker::wire::{Framer, MAX_LINE, Message, parse};

fn encode(m: &Message<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode(&mut out);
    out
}

/// What `encode` writes, without its `\n`, for any message, valid or not (`encode`
/// itself debug-asserts validity).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn spelled(m: &Message<'_>) -> Vec<u8> {
    match *m {
        Message::Challenge {
            version,
            name,
            nonce,
        } => format!("CHALLENGE {version} {name} {}", hex(&nonce)).into_bytes(),
        Message::Response {
            version,
            name,
            nonce,
            mac,
        } => format!("RESPONSE {version} {name} {} {}", hex(&nonce), hex(&mac)).into_bytes(),
        Message::Proof { mac } => format!("PROOF {}", hex(&mac)).into_bytes(),
        Message::Hello { version, name } => format!("HELLO {version} {name}").into_bytes(),
        Message::Ping { seq } => format!("PING {seq}").into_bytes(),
        Message::Pong { seq } => format!("PONG {seq}").into_bytes(),
        Message::View { digest, states } => format!("VIEW {} {states}", hex(&digest)).into_bytes(),
        Message::Clock { t0 } => format!("CLOCK {t0}").into_bytes(),
        Message::Clocked { t0, t1 } => format!("CLOCKED {t0} {t1}").into_bytes(),
        Message::Duplex => b"DUPLEX".to_vec(),
        Message::Unknown { verb } => verb.as_bytes().to_vec(),
    }
}

fn check_parsed(line: &[u8], m: Message<'_>) {
    assert_eq!(m.validate(), Ok(()), "parsed but invalid: {m:?}");
    let e1 = encode(&m);
    assert!(e1.is_ascii(), "non-ASCII encoding {e1:?}");
    assert!(e1.len() <= MAX_LINE, "encoding of {} bytes", e1.len());
    assert_eq!(e1.iter().position(|&b| b == b'\n'), Some(e1.len() - 1));
    assert_eq!(&e1[..e1.len() - 1], &spelled(&m)[..]);

    // Through the framer, as a peer would receive it.
    let mut f = Framer::new();
    assert_eq!(f.push(&e1), e1.len());
    let framed = f
        .next_line()
        .expect("fits a line")
        .expect("one line")
        .to_vec();
    assert_eq!(f.next_line(), Ok(None));
    assert_eq!(f.buffered(), 0);
    assert_eq!(&framed[..], &e1[..e1.len() - 1]);

    let m2 = parse(&framed).expect("an encoding parses");
    assert_eq!(m2, m, "line {line:?}");
    assert_eq!(encode(&m2), e1, "encoding is not canonical");

    match m {
        Message::Unknown { verb } => {
            assert!(!matches!(
                verb,
                "HELLO"
                    | "PING"
                    | "PONG"
                    | "CHALLENGE"
                    | "RESPONSE"
                    | "PROOF"
                    | "VIEW"
                    | "CLOCK"
                    | "CLOCKED"
                    | "DUPLEX"
            ));
            let rest = line
                .strip_prefix(verb.as_bytes())
                .expect("verb starts the line");
            assert!(
                rest.is_empty() || rest[0] == b' ',
                "verb not followed by a space"
            );
        }
        _ => assert_eq!(&framed[..], line, "a known message has one spelling"),
    }
}

/// `validate` accepts `m` exactly when its encoding parses back to `m`.
fn check_validate(m: Message<'_>) {
    let line = spelled(&m);
    // A line longer than the framer takes never reaches `parse` (a `VIEW` with too many
    // states): validate refuses it, though `parse` alone would read it.
    let round_trips = line.len() < MAX_LINE && parse(&line) == Ok(m);
    match m.validate() {
        Ok(()) => {
            assert!(round_trips, "valid {m:?} does not round-trip");
            check_parsed(&line, m);
        }
        Err(e) => assert!(!round_trips, "{m:?} round-trips but validate says {e:?}"),
    }
}

fuzz_target!(|line: &[u8]| {
    if let Ok(m) = parse(line) {
        check_parsed(line, m);
    }
    if let Ok(text) = std::str::from_utf8(line) {
        let version = line
            .iter()
            .take(4)
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        for version in [1, version] {
            check_validate(Message::Hello {
                version,
                name: text,
            });
        }
        let nonce: [u8; 16] = std::array::from_fn(|i| line.get(i).copied().unwrap_or(0));
        let mac: [u8; 32] = std::array::from_fn(|i| line.get(i + 3).copied().unwrap_or(0xa5));
        check_validate(Message::Challenge {
            version: 1,
            name: text,
            nonce,
        });
        check_validate(Message::Response {
            version: 1,
            name: text,
            nonce,
            mac,
        });
        check_validate(Message::Proof { mac });
        check_validate(Message::Unknown { verb: text });
        let digest: [u8; 8] = std::array::from_fn(|i| line.get(i).copied().unwrap_or(0));
        check_validate(Message::View {
            digest,
            states: text,
        });
        // A view's states as the engine sends them: they decode back to the same states.
        let n = line.len().clamp(1, uptime_tracker::wire::view::MAX_NODES);
        let states: Vec<uptime_tracker::wire::view::Seen> = (0..n)
            .map(|i| match line.get(i).copied().unwrap_or(0) & 3 {
                0 => uptime_tracker::wire::view::Seen::Unknown,
                1 => uptime_tracker::wire::view::Seen::Up,
                2 => uptime_tracker::wire::view::Seen::Missing,
                _ => uptime_tracker::wire::view::Seen::Down,
            })
            .collect();
        let packed = uptime_tracker::wire::view::encode(&states);
        assert_eq!(uptime_tracker::wire::view::decode(&packed, n), Some(states));
        check_validate(Message::View {
            digest,
            states: &packed,
        });
        // Whatever the text, decoding it never panics, and what decodes re-encodes to it.
        if let Some(got) = uptime_tracker::wire::view::decode(text, n) {
            assert_eq!(uptime_tracker::wire::view::encode(&got), text);
        }
        let t0 = u64::from_le_bytes(std::array::from_fn(|i| line.get(i).copied().unwrap_or(0)));
        check_validate(Message::Clock { t0 });
        check_validate(Message::Clocked { t0, t1: !t0 });
    }
});
