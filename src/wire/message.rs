//! Protocol messages: parse one line (as returned by the framer) and encode canonically.
//!
//! The grammar is in the [parent module's documentation](super). [`parse`] borrows from
//! the line and never allocates; [`Message::encode`] appends to the caller's buffer.

use std::fmt;

use crate::name::{self, NameError};

/// The protocol version this code speaks, sent in `HELLO`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The authenticated handshake's version, sent in `CHALLENGE`. Version 1 (the previous
/// release) had the listener prove first, in `RESPONSE`, to anyone; version 2 has the
/// connecting node prove first, and is the only one spoken.
pub const AUTH_VERSION: u32 = 2;

/// Longest verb, in bytes.
pub const MAX_VERB_LEN: usize = 16;

/// One protocol line, decoded. Borrows from the line it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// Handshake, sent by both sides: the sender's protocol version and node name.
    Hello { version: u32, name: &'a str },
    /// Probe with a sequence number.
    Ping { seq: u64 },
    /// Reply echoing a probe's `seq`.
    Pong { seq: u64 },
    /// Authenticated handshake, sent by both sides (the connecting node first, the
    /// listener in reply): the handshake's version ([`AUTH_VERSION`]), the sender's name
    /// and a fresh random nonce.
    Challenge {
        version: u32,
        name: &'a str,
        nonce: [u8; NONCE_LEN],
    },
    /// The previous release's listener's answer to a `CHALLENGE` (handshake version 1):
    /// its version, name, nonce and proof. Parsed only to tell such a node apart; never
    /// sent by this release.
    Response {
        version: u32,
        name: &'a str,
        nonce: [u8; NONCE_LEN],
        mac: [u8; MAC_LEN],
    },
    /// Authenticated handshake: a side's proof (an HMAC over both nonces, both names and
    /// the direction), the connecting node's first, the listener's once that checked out.
    Proof { mac: [u8; MAC_LEN] },
    /// What the sender sees of the mesh (after the handshake, on its link to us): the
    /// digest of its node list ([`crate::wire::view::digest`]) and a state per node, in
    /// the agreed order, packed by [`crate::wire::view`] (checked there, not here: the
    /// parser only checks the alphabet).
    View {
        digest: [u8; DIGEST_LEN],
        states: &'a str,
    },
    /// The sender's wall clock (Unix ms) as it sends this, asking for the receiver's.
    Clock { t0: u64 },
    /// The answer to a `CLOCK`: its `t0` echoed, and the answerer's wall clock (Unix ms)
    /// when it answered.
    Clocked { t0: u64, t1: u64 },
    /// Sent once by the connecting node on its link after the handshake: it takes a
    /// `PING` on that link and answers it there, so the listener may write its own probe
    /// with its `PONG` (docs/protocol.md, "Duplex probes"). Earlier builds ignore it.
    Duplex,
    /// A verb this version does not know (a newer peer's message): ignored after the
    /// handshake, closes the connection before it.
    Unknown { verb: &'a str },
}

/// Bytes of a node list's digest in `VIEW` (sent as 16 lowercase hex digits).
pub const DIGEST_LEN: usize = 8;

/// Bytes of a handshake nonce (sent as 32 lowercase hex digits).
pub const NONCE_LEN: usize = 16;
/// Bytes of a handshake proof, an HMAC-SHA256 (sent as 64 lowercase hex digits).
pub const MAC_LEN: usize = 32;

/// Why a line is not a valid message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The line is empty.
    Empty,
    /// The line does not start with a verb (1 to 16 bytes of `[A-Z][A-Z0-9_]*`) followed by a
    /// space or the end of the line.
    BadVerb,
    /// A known message contains a byte outside ASCII.
    NotAscii,
    /// A known message has a trailing space or two spaces in a row.
    BadSpacing,
    /// A known message has fewer fields than its verb requires.
    MissingField,
    /// A known message has more fields than its verb allows.
    ExtraField,
    /// A number is not canonical decimal (digits only, no leading zero) or overflows.
    BadNumber,
    /// The `HELLO` version is 0.
    BadVersion,
    /// A nonce, proof or digest is not the right number of lowercase hex digits.
    BadHex,
    /// A `VIEW`'s states are not base64url (`A-Z a-z 0-9 - _`, no padding).
    BadBase64,
    /// The `HELLO` name breaks the node-name rule.
    BadName(NameError),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty line"),
            ParseError::BadVerb => write!(
                f,
                "malformed verb (want 1 to {MAX_VERB_LEN} of A-Z, 0-9, '_', starting with A-Z)"
            ),
            ParseError::NotAscii => f.write_str("non-ASCII byte in a message"),
            ParseError::BadSpacing => {
                f.write_str("fields must be separated by exactly one space, with none at the end")
            }
            ParseError::MissingField => f.write_str("missing field"),
            ParseError::ExtraField => f.write_str("extra field"),
            ParseError::BadNumber => f.write_str(
                "malformed number (want canonical decimal without sign, leading zeros or overflow)",
            ),
            ParseError::BadVersion => f.write_str("protocol version must be at least 1"),
            ParseError::BadHex => f.write_str(
                "malformed nonce or proof (want 32 or 64 lowercase hex digits, as the verb says)",
            ),
            ParseError::BadBase64 => f.write_str("malformed view (want base64url digits)"),
            ParseError::BadName(e) => write!(f, "bad node name: {e}"),
        }
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ParseError::BadName(e) => Some(e),
            _ => None,
        }
    }
}

const HELLO: &str = "HELLO";
const PING: &str = "PING";
const PONG: &str = "PONG";
const CHALLENGE: &str = "CHALLENGE";
const RESPONSE: &str = "RESPONSE";
const PROOF: &str = "PROOF";
const VIEW: &str = "VIEW";
const CLOCK: &str = "CLOCK";
const CLOCKED: &str = "CLOCKED";
const DUPLEX: &str = "DUPLEX";

/// Parses one line, without its line terminator (what [`Framer::next_line`] returns).
///
/// Never panics and never allocates, whatever the bytes.
///
/// [`Framer::next_line`]: super::Framer::next_line
pub fn parse(line: &[u8]) -> Result<Message<'_>, ParseError> {
    match parse_probe(line) {
        Some(probe) => Ok(probe),
        None => parse_any(line),
    }
}

/// [`parse`] for any line, field by field.
fn parse_any(line: &[u8]) -> Result<Message<'_>, ParseError> {
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    let verb_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let (verb, rest) = line.split_at_checked(verb_len).ok_or(ParseError::BadVerb)?;
    let verb = check_verb(verb)?;
    match verb {
        HELLO => {
            let [version, name] = fields(rest)?;
            let (version, name) = version_name(version, name)?;
            Ok(Message::Hello { version, name })
        }
        CHALLENGE => {
            let [version, name, nonce] = fields(rest)?;
            let (version, name) = version_name(version, name)?;
            Ok(Message::Challenge {
                version,
                name,
                nonce: parse_hex(nonce)?,
            })
        }
        RESPONSE => {
            let [version, name, nonce, mac] = fields(rest)?;
            let (version, name) = version_name(version, name)?;
            Ok(Message::Response {
                version,
                name,
                nonce: parse_hex(nonce)?,
                mac: parse_hex(mac)?,
            })
        }
        PROOF => {
            let [mac] = fields(rest)?;
            Ok(Message::Proof {
                mac: parse_hex(mac)?,
            })
        }
        PING => {
            let [seq] = fields(rest)?;
            Ok(Message::Ping {
                seq: parse_number(seq)?,
            })
        }
        PONG => {
            let [seq] = fields(rest)?;
            Ok(Message::Pong {
                seq: parse_number(seq)?,
            })
        }
        VIEW => {
            let [digest, states] = fields(rest)?;
            Ok(Message::View {
                digest: parse_hex(digest)?,
                states: parse_base64(states)?,
            })
        }
        CLOCK => {
            let [t0] = fields(rest)?;
            Ok(Message::Clock {
                t0: parse_number(t0)?,
            })
        }
        CLOCKED => {
            let [t0, t1] = fields(rest)?;
            Ok(Message::Clocked {
                t0: parse_number(t0)?,
                t1: parse_number(t1)?,
            })
        }
        DUPLEX => match rest {
            [] => Ok(Message::Duplex),
            _ => fields::<0>(rest).map(|[]| Message::Duplex),
        },
        // `rest` is empty or starts with a space: whatever follows is a newer version's business.
        _ => Ok(Message::Unknown { verb }),
    }
}

impl Message<'_> {
    /// Appends the canonical encoding, terminating `"\n"` included.
    ///
    /// The message must pass [`Message::validate`] (every parsed message does); otherwise the
    /// output may not parse back. Debug builds assert it.
    pub fn encode(&self, out: &mut Vec<u8>) {
        debug_assert!(
            self.validate().is_ok(),
            "encoding an invalid message: {self:?}: {:?}",
            self.validate()
        );
        match *self {
            Message::Hello { version, name } => {
                out.extend_from_slice(HELLO.as_bytes());
                out.push(b' ');
                push_decimal(out, u64::from(version));
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
            }
            Message::Ping { seq } => {
                out.extend_from_slice(PING.as_bytes());
                out.push(b' ');
                push_decimal(out, seq);
            }
            Message::Pong { seq } => {
                out.extend_from_slice(PONG.as_bytes());
                out.push(b' ');
                push_decimal(out, seq);
            }
            Message::Challenge {
                version,
                name,
                nonce,
            } => {
                out.extend_from_slice(CHALLENGE.as_bytes());
                out.push(b' ');
                push_decimal(out, u64::from(version));
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                push_hex(out, &nonce);
            }
            Message::Response {
                version,
                name,
                nonce,
                mac,
            } => {
                out.extend_from_slice(RESPONSE.as_bytes());
                out.push(b' ');
                push_decimal(out, u64::from(version));
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                push_hex(out, &nonce);
                push_hex(out, &mac);
            }
            Message::Proof { mac } => {
                out.extend_from_slice(PROOF.as_bytes());
                push_hex(out, &mac);
            }
            Message::View { digest, states } => {
                out.extend_from_slice(VIEW.as_bytes());
                push_hex(out, &digest);
                out.push(b' ');
                out.extend_from_slice(states.as_bytes());
            }
            Message::Clock { t0 } => {
                out.extend_from_slice(CLOCK.as_bytes());
                out.push(b' ');
                push_decimal(out, t0);
            }
            Message::Clocked { t0, t1 } => {
                out.extend_from_slice(CLOCKED.as_bytes());
                out.push(b' ');
                push_decimal(out, t0);
                out.push(b' ');
                push_decimal(out, t1);
            }
            Message::Duplex => out.extend_from_slice(DUPLEX.as_bytes()),
            Message::Unknown { verb } => out.extend_from_slice(verb.as_bytes()),
        }
        out.push(b'\n');
    }

    /// Checks that the encoding of this message parses back to it: `HELLO` with a version of
    /// at least 1 and an ASCII name valid per [`crate::name::check`]; `Unknown` with a
    /// well-formed verb that is not one of the known ones. `Ping` and `Pong` are always valid.
    ///
    /// Use it to check this node's own name before sending `HELLO`.
    pub fn validate(&self) -> Result<(), ParseError> {
        match *self {
            Message::Hello { version, name }
            | Message::Challenge { version, name, .. }
            | Message::Response { version, name, .. } => {
                if version == 0 {
                    return Err(ParseError::BadVersion);
                }
                if !name.is_ascii() {
                    return Err(ParseError::NotAscii);
                }
                name::check(name).map_err(ParseError::BadName)
            }
            Message::Ping { .. }
            | Message::Pong { .. }
            | Message::Proof { .. }
            | Message::Clock { .. }
            | Message::Clocked { .. }
            | Message::Duplex => Ok(()),
            Message::View { states, .. } => {
                // `VIEW ` + digest + ` ` + states + `\n` must fit a line.
                if states.len() > super::MAX_LINE - 7 - 2 * DIGEST_LEN {
                    return Err(ParseError::BadBase64);
                }
                parse_base64(states.as_bytes()).map(|_| ())
            }
            Message::Unknown { verb } => match check_verb(verb.as_bytes())? {
                HELLO | PING | PONG | CHALLENGE | RESPONSE | PROOF | VIEW | CLOCK | CLOCKED
                | DUPLEX => Err(ParseError::BadVerb),
                _ => Ok(()),
            },
        }
    }

    /// The message's verb, e.g. `"PING"`.
    #[must_use]
    pub fn verb(&self) -> &str {
        match *self {
            Message::Hello { .. } => HELLO,
            Message::Ping { .. } => PING,
            Message::Pong { .. } => PONG,
            Message::Challenge { .. } => CHALLENGE,
            Message::Response { .. } => RESPONSE,
            Message::Proof { .. } => PROOF,
            Message::View { .. } => VIEW,
            Message::Clock { .. } => CLOCK,
            Message::Clocked { .. } => CLOCKED,
            Message::Duplex => DUPLEX,
            Message::Unknown { verb } => verb,
        }
    }
}

/// `[A-Z][A-Z0-9_]*`, at most [`MAX_VERB_LEN`] bytes.
fn check_verb(verb: &[u8]) -> Result<&str, ParseError> {
    let Some((first, tail)) = verb.split_first() else {
        return Err(ParseError::BadVerb);
    };
    if verb.len() > MAX_VERB_LEN
        || !first.is_ascii_uppercase()
        || !tail
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ParseError::BadVerb);
    }
    std::str::from_utf8(verb).map_err(|_| ParseError::BadVerb)
}

/// A well-formed `PING seq` or `PONG seq`, nearly every line of a mesh, in one pass over
/// its bytes; `None` for anything else, which [`parse`] then reads the general way (and
/// reads these two alike: a test compares them).
fn parse_probe(line: &[u8]) -> Option<Message<'static>> {
    let (verb, digits) = line.split_first_chunk::<5>()?;
    let first = *digits.first()?;
    if digits.len() > 20 || (first == b'0' && digits.len() > 1) {
        return None;
    }
    let mut seq: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        seq = seq
            .checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))?;
    }
    match verb {
        b"PING " => Some(Message::Ping { seq }),
        b"PONG " => Some(Message::Pong { seq }),
        _ => None,
    }
}

/// Splits what follows a known verb into exactly `N` fields, each preceded by one space.
fn fields<const N: usize>(rest: &[u8]) -> Result<[&[u8]; N], ParseError> {
    if !rest.is_ascii() {
        return Err(ParseError::NotAscii);
    }
    let Some(rest) = rest.strip_prefix(b" ") else {
        // `rest` is empty: the verb ended the line.
        return Err(ParseError::MissingField);
    };
    let mut fields = rest.split(|&b| b == b' ');
    let mut out: [&[u8]; N] = [&[]; N];
    for slot in &mut out {
        match fields.next() {
            Some([]) => return Err(ParseError::BadSpacing),
            Some(field) => *slot = field,
            None => return Err(ParseError::MissingField),
        }
    }
    match fields.next() {
        None => {}
        Some([]) => return Err(ParseError::BadSpacing),
        Some(_) => return Err(ParseError::ExtraField),
    }
    Ok(out)
}

/// Canonical decimal: `0` or a nonzero digit followed by digits, within `u64`.
fn parse_number(field: &[u8]) -> Result<u64, ParseError> {
    match field {
        [] => Err(ParseError::BadNumber),
        [b'0'] => Ok(0),
        [b'0', ..] => Err(ParseError::BadNumber),
        _ => field.iter().try_fold(0u64, |n, &b| {
            let digit = char::from(b).to_digit(10).ok_or(ParseError::BadNumber)?;
            n.checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit)))
                .ok_or(ParseError::BadNumber)
        }),
    }
}

/// Appends `n` in decimal, without allocating beyond `out`'s growth.
/// A version field (canonical decimal, at least 1) and a name field.
fn version_name<'a>(version: &[u8], name: &'a [u8]) -> Result<(u32, &'a str), ParseError> {
    let version = u32::try_from(parse_number(version)?).map_err(|_| ParseError::BadNumber)?;
    if version == 0 {
        return Err(ParseError::BadVersion);
    }
    let name = std::str::from_utf8(name).map_err(|_| ParseError::NotAscii)?;
    name::check(name).map_err(ParseError::BadName)?;
    Ok((version, name))
}

/// Exactly `2 * N` lowercase hex digits (the canonical form: upper case is refused, so a
/// message has one encoding).
fn parse_hex<const N: usize>(field: &[u8]) -> Result<[u8; N], ParseError> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Ok(b.wrapping_sub(b'0')),
        b'a'..=b'f' => Ok(b.wrapping_sub(b'a').wrapping_add(10)),
        _ => Err(ParseError::BadHex),
    };
    let mut out = [0u8; N];
    let mut pairs = field.chunks(2);
    for byte in out.iter_mut() {
        let Some(&[hi, lo]) = pairs.next() else {
            return Err(ParseError::BadHex);
        };
        *byte = (digit(hi)? << 4) | digit(lo)?;
    }
    if pairs.next().is_some() {
        return Err(ParseError::BadHex);
    }
    Ok(out)
}

/// One or more characters of base64url without padding (`A-Z a-z 0-9 - _`); what they
/// decode to is for [`crate::wire::view`] to check.
fn parse_base64(field: &[u8]) -> Result<&str, ParseError> {
    if field.is_empty()
        || !field
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ParseError::BadBase64);
    }
    std::str::from_utf8(field).map_err(|_| ParseError::BadBase64)
}

/// A space, then `bytes` as lowercase hex.
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(b' ');
    for &b in bytes {
        for nibble in [b >> 4, b & 15] {
            out.push(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'));
        }
    }
}

fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let (digits, start) = decimal(n);
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// The decimal digits of `n`, as `digits[start..]` of the array returned (a u64 has at
/// most 20), written once without leading zeros: every probe and reply carries one.
pub(crate) fn decimal(mut n: u64) -> ([u8; 20], usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        // n % 10 < 10: the sum is an ASCII digit and cannot wrap.
        *slot = b'0'.wrapping_add((n % 10) as u8);
        start = start.saturating_sub(1);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    (digits, start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::MAX_NAME_LEN;

    #[test]
    fn decimal_writes_what_to_string_writes() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            12345,
            9_999_999_999_999_999_999,
            10_000_000_000_000_000_000,
            u64::MAX,
        ] {
            let (digits, start) = decimal(n);
            assert_eq!(digits.get(start..), Some(n.to_string().as_bytes()), "{n}");
        }
    }

    fn p(line: &str) -> Result<Message<'_>, ParseError> {
        parse(line.as_bytes())
    }

    fn enc(m: &Message<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        m.encode(&mut out);
        out
    }

    /// parse -> encode -> parse gives the same message; encode twice gives the same bytes.
    fn assert_canonical(line: &[u8]) {
        let m = parse(line).unwrap();
        let e1 = enc(&m);
        assert_eq!(e1.last(), Some(&b'\n'));
        assert!(e1.len() <= super::super::MAX_LINE);
        let m2 = parse(&e1[..e1.len() - 1]).unwrap();
        assert_eq!(m, m2, "{:?}", String::from_utf8_lossy(line));
        assert_eq!(enc(&m2), e1);
        assert_eq!(m.validate(), Ok(()));
    }

    #[test]
    fn valid_hello() {
        let long = "n".repeat(MAX_NAME_LEN);
        let cases: Vec<(String, Message<'_>)> = vec![
            (
                "HELLO 1 node1".into(),
                Message::Hello {
                    version: 1,
                    name: "node1",
                },
            ),
            (
                "HELLO 2 a".into(),
                Message::Hello {
                    version: 2,
                    name: "a",
                },
            ),
            (
                "HELLO 4294967295 router-3.lan".into(),
                Message::Hello {
                    version: u32::MAX,
                    name: "router-3.lan",
                },
            ),
            (
                "HELLO 1 a_b~c.d@e#f$g%h^&*()=+[]{};'\"<>?,`\\".into(),
                Message::Hello {
                    version: 1,
                    name: "a_b~c.d@e#f$g%h^&*()=+[]{};'\"<>?,`\\",
                },
            ),
            (
                format!("HELLO 1 {long}"),
                Message::Hello {
                    version: 1,
                    name: &long,
                },
            ),
        ];
        for (line, want) in &cases {
            assert_eq!(p(line), Ok(*want), "{line}");
            assert_eq!(enc(want), format!("{line}\n").into_bytes());
            assert_canonical(line.as_bytes());
        }
    }

    #[test]
    fn probes_read_in_one_pass_read_as_any_line() {
        let alphabet = b"PINGO 0123456789x\xff";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut fast = 0;
        let mut lines: Vec<Vec<u8>> = [
            "PING 0",
            "PONG 00",
            "PING 18446744073709551615",
            "PING 18446744073709551616",
            "PONG 99999999999999999999",
            "PING 012",
            "PING 1 ",
            "PING  1",
            "PING",
            "PING ",
            "PONGS 1",
            "PONG 1x",
            "pong 1",
            "PONG 123456789",
        ]
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
        for _ in 0..200_000 {
            let verb: &[u8] = if next().is_multiple_of(2) {
                b"PING "
            } else {
                b"PONG "
            };
            let mut line = verb.to_vec();
            for _ in 0..next() % 24 {
                let pick = next() as usize;
                // Mostly digits, so that many lines are probes.
                let b = if pick.is_multiple_of(4) {
                    alphabet[(pick / 4) % alphabet.len()]
                } else {
                    b'0' + (pick / 4 % 10) as u8
                };
                line.push(b);
            }
            lines.push(line);
        }
        for line in &lines {
            let any = parse_any(line);
            if let Some(probe) = parse_probe(line) {
                fast += 1;
                assert_eq!(Ok(probe), any, "{:?}", String::from_utf8_lossy(line));
            }
            assert_eq!(parse(line), any, "{:?}", String::from_utf8_lossy(line));
        }
        assert!(fast > 10_000, "{fast} probes read in one pass");
    }

    #[test]
    fn valid_ping_pong() {
        for (line, want) in [
            ("PING 0", Message::Ping { seq: 0 }),
            ("PING 1", Message::Ping { seq: 1 }),
            ("PING 10", Message::Ping { seq: 10 }),
            ("PING 18446744073709551615", Message::Ping { seq: u64::MAX }),
            ("PONG 0", Message::Pong { seq: 0 }),
            ("PONG 42", Message::Pong { seq: 42 }),
            ("PONG 18446744073709551615", Message::Pong { seq: u64::MAX }),
        ] {
            assert_eq!(p(line), Ok(want), "{line}");
            assert_eq!(enc(&want), format!("{line}\n").into_bytes());
            assert_canonical(line.as_bytes());
        }
    }

    #[test]
    fn unknown_verbs() {
        for (line, verb) in [
            ("FOO", "FOO"),
            ("FOO bar", "FOO"),
            ("FOO bar  baz ", "FOO"),
            ("FOO ", "FOO"),
            ("FOO  ", "FOO"),
            ("FOO \t\r\x7f", "FOO"),
            ("X", "X"),
            ("A_1", "A_1"),
            ("A9", "A9"),
            ("PINGS 1", "PINGS"),
            ("HELLO_V2 1 2 3", "HELLO_V2"),
            ("ABCDEFGHIJKLMNOP x", "ABCDEFGHIJKLMNOP"),
        ] {
            assert_eq!(p(line), Ok(Message::Unknown { verb }), "{line:?}");
            assert_canonical(line.as_bytes());
            assert_eq!(
                enc(&Message::Unknown { verb }),
                format!("{verb}\n").into_bytes()
            );
        }
        // Anything at all after the space, non-ASCII and NUL included.
        assert_eq!(
            parse(b"FOO \xff\x00\xc3"),
            Ok(Message::Unknown { verb: "FOO" })
        );
        assert_canonical(b"FOO \xff\x00\xc3");
    }

    #[test]
    fn malformed_verbs() {
        for line in [
            " PING 1",
            " ",
            "ping 1",
            "Ping 1",
            "1PING",
            "_FOO",
            "FOO-BAR",
            "FOO\tbar",
            "PING\t1",
            "PING\r",
            "FOO\r",
            "FOO.",
            "ABCDEFGHIJKLMNOPQ",
            "ABCDEFGHIJKLMNOPQ x",
            "\u{c9}T\u{c9}",
        ] {
            assert_eq!(p(line), Err(ParseError::BadVerb), "{line:?}");
        }
        assert_eq!(parse(b"\xffFOO"), Err(ParseError::BadVerb));
        assert_eq!(parse(b"FOO\x00"), Err(ParseError::BadVerb));
        assert_eq!(p(""), Err(ParseError::Empty));
    }

    #[test]
    fn duplex() {
        assert_eq!(p("DUPLEX"), Ok(Message::Duplex));
        assert_eq!(enc(&Message::Duplex), b"DUPLEX\n");
        assert_canonical(b"DUPLEX");
        assert_eq!(Message::Duplex.verb(), "DUPLEX");
        assert_eq!(Message::Duplex.validate(), Ok(()));
        assert_eq!(
            Message::Unknown { verb: "DUPLEX" }.validate(),
            Err(ParseError::BadVerb)
        );
        // No fields: a later version would add its own verb.
        assert_eq!(p("DUPLEX 1"), Err(ParseError::ExtraField));
        assert_eq!(p("DUPLEX "), Err(ParseError::BadSpacing));
        assert_eq!(p("DUPLEX \u{e9}"), Err(ParseError::NotAscii));
        assert_eq!(p("DUPLEXES"), Ok(Message::Unknown { verb: "DUPLEXES" }));
    }

    #[test]
    fn malformed_known_messages() {
        use ParseError::*;
        let long = format!("HELLO 1 {}", "n".repeat(MAX_NAME_LEN + 1));
        let cases: &[(&str, ParseError)] = &[
            // field count
            ("PING", MissingField),
            ("PONG", MissingField),
            ("HELLO", MissingField),
            ("HELLO 1", MissingField),
            ("PING 1 2", ExtraField),
            ("PONG 1 x", ExtraField),
            ("HELLO 1 a b", ExtraField),
            // spacing
            ("PING ", BadSpacing),
            ("PING 1 ", BadSpacing),
            ("PING  1", BadSpacing),
            ("HELLO 1  a", BadSpacing),
            ("HELLO  1 a", BadSpacing),
            ("HELLO 1 a ", BadSpacing),
            ("HELLO 1 ", BadSpacing),
            // tabs and other controls
            ("PING 1\t", BadNumber),
            ("PING \t1", BadNumber),
            ("PING 1\r", BadNumber),
            ("HELLO 1\ta", MissingField),
            ("HELLO 1 a\tb", BadName(NameError::Forbidden('\t'))),
            ("HELLO 1 a\r", BadName(NameError::Forbidden('\r'))),
            ("HELLO 1 a\x7f", BadName(NameError::Forbidden('\x7f'))),
            ("HELLO 1 \x00", BadName(NameError::Forbidden('\0'))),
            // numbers
            ("PING -1", BadNumber),
            ("PING +1", BadNumber),
            ("PING 01", BadNumber),
            ("PING 00", BadNumber),
            ("PING 1a", BadNumber),
            ("PING 0x10", BadNumber),
            ("PING 1.0", BadNumber),
            ("PING 1_000", BadNumber),
            ("PING 18446744073709551616", BadNumber),
            ("PONG 18446744073709551616", BadNumber),
            ("PING 99999999999999999999", BadNumber),
            ("PING 184467440737095516150", BadNumber),
            ("PING 000000000000000000000000000001", BadNumber),
            // version
            ("HELLO 0 a", BadVersion),
            ("HELLO 00 a", BadNumber),
            ("HELLO 01 a", BadNumber),
            ("HELLO -1 a", BadNumber),
            ("HELLO 4294967296 a", BadNumber),
            ("HELLO 18446744073709551615 a", BadNumber),
            ("HELLO 18446744073709551616 a", BadNumber),
            ("HELLO x a", BadNumber),
            // names
            ("HELLO 1 a|b", BadName(NameError::Forbidden('|'))),
            ("HELLO 1 a!b", BadName(NameError::Forbidden('!'))),
            ("HELLO 1 a:b", BadName(NameError::Forbidden(':'))),
            ("HELLO 1 a/b", BadName(NameError::Forbidden('/'))),
            (&long, BadName(NameError::TooLong)),
            // non-ASCII anywhere in a known message
            ("HELLO 1 ノード", NotAscii),
            ("HELLO 1 caf\u{e9}", NotAscii),
            ("PING 1\u{a0}", NotAscii),
            ("PING \u{661}", NotAscii),
        ];
        for (line, want) in cases {
            assert_eq!(p(line), Err(*want), "{line:?}");
        }
        assert_eq!(parse(b"PING 1\xff"), Err(NotAscii));
        assert_eq!(parse(b"HELLO 1 \xff"), Err(NotAscii));
        assert_eq!(parse(b"PONG \x80"), Err(NotAscii));
    }

    #[test]
    fn overflow_edges() {
        assert_eq!(parse_number(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_number(b"18446744073709551616"),
            Err(ParseError::BadNumber)
        );
        assert_eq!(
            parse_number(b"18446744073709551620"),
            Err(ParseError::BadNumber)
        );
        assert_eq!(
            parse_number(b"28446744073709551615"),
            Err(ParseError::BadNumber)
        );
        assert_eq!(parse_number(b"4294967295"), Ok(u64::from(u32::MAX)));
        assert_eq!(
            p("HELLO 4294967295 a"),
            Ok(Message::Hello {
                version: u32::MAX,
                name: "a"
            })
        );
        assert_eq!(p("HELLO 4294967296 a"), Err(ParseError::BadNumber));
        let mut out = Vec::new();
        push_decimal(&mut out, u64::MAX);
        assert_eq!(out, b"18446744073709551615");
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            12345,
            u64::from(u32::MAX),
            u64::MAX - 1,
        ] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
            assert_eq!(parse_number(&out), Ok(n));
        }
    }

    #[test]
    fn handshake_messages() {
        let nonce: [u8; NONCE_LEN] = core::array::from_fn(|i| i as u8 * 17);
        let mac: [u8; MAC_LEN] = core::array::from_fn(|i| 255 - i as u8);
        let lines = [
            Message::Challenge {
                version: 1,
                name: "node1",
                nonce,
            },
            Message::Response {
                version: 1,
                name: "n2",
                nonce,
                mac,
            },
            Message::Proof { mac },
        ];
        for m in lines {
            let e = enc(&m);
            assert!(e.len() <= super::super::MAX_LINE);
            assert_eq!(parse(&e[..e.len() - 1]), Ok(m));
        }
        assert_eq!(
            enc(&Message::Challenge {
                version: 1,
                name: "a",
                nonce
            }),
            b"CHALLENGE 1 a 00112233445566778899aabbccddeeff\n"
        );
        let hex32 = "00112233445566778899aabbccddeeff";
        let hex64 = hex32.repeat(2);
        use ParseError::*;
        for (line, err) in [
            (format!("CHALLENGE 1 a {}", &hex32[1..]), BadHex),
            (format!("CHALLENGE 1 a {}", hex32.to_uppercase()), BadHex),
            (format!("CHALLENGE 1 a {hex32}0"), BadHex),
            (format!("CHALLENGE 1 a {hex32} x"), ExtraField),
            ("CHALLENGE 1 a".to_string(), MissingField),
            (format!("CHALLENGE 0 a {hex32}"), BadVersion),
            (format!("RESPONSE 1 a {hex32} {hex32}"), BadHex),
            (format!("RESPONSE 1 a {hex64} {hex64}"), BadHex),
            (format!("PROOF {hex32}"), BadHex),
            (format!("PROOF {hex64} "), BadSpacing),
            (format!("PROOF {}g", &hex64[1..]), BadHex),
        ] {
            assert_eq!(p(&line), Err(err), "{line}");
        }
        assert!(p(&format!("RESPONSE 1 a {hex32} {hex64}")).is_ok());
        assert!(p(&format!("PROOF {hex64}")).is_ok());
    }

    #[test]
    fn encode_appends() {
        let mut out = b"x".to_vec();
        Message::Ping { seq: 7 }.encode(&mut out);
        Message::Pong { seq: 8 }.encode(&mut out);
        Message::Hello {
            version: PROTOCOL_VERSION,
            name: "n1",
        }
        .encode(&mut out);
        Message::Unknown { verb: "NEWS" }.encode(&mut out);
        assert_eq!(out, b"xPING 7\nPONG 8\nHELLO 1 n1\nNEWS\n");
    }

    #[test]
    fn longest_encoding_fits_a_line() {
        let name = "n".repeat(MAX_NAME_LEN);
        let hello = Message::Hello {
            version: u32::MAX,
            name: &name,
        };
        let len = enc(&hello).len();
        assert_eq!(len, "HELLO ".len() + 10 + 1 + MAX_NAME_LEN + 1);
        assert!(len <= super::super::MAX_LINE);
        assert_eq!(enc(&Message::Ping { seq: u64::MAX }).len(), 5 + 20 + 1);
    }

    #[test]
    fn validate() {
        use ParseError::*;
        assert_eq!(
            Message::Hello {
                version: 1,
                name: "a"
            }
            .validate(),
            Ok(())
        );
        assert_eq!(
            Message::Hello {
                version: 0,
                name: "a"
            }
            .validate(),
            Err(BadVersion)
        );
        assert_eq!(
            Message::Hello {
                version: 1,
                name: "ノード"
            }
            .validate(),
            Err(NotAscii)
        );
        assert_eq!(
            Message::Hello {
                version: 1,
                name: "a b"
            }
            .validate(),
            Err(BadName(NameError::Forbidden(' ')))
        );
        assert_eq!(
            Message::Hello {
                version: 1,
                name: "a\n"
            }
            .validate(),
            Err(BadName(NameError::Forbidden('\n')))
        );
        assert_eq!(
            Message::Hello {
                version: 1,
                name: ""
            }
            .validate(),
            Err(BadName(NameError::Empty))
        );
        assert_eq!(Message::Ping { seq: u64::MAX }.validate(), Ok(()));
        assert_eq!(Message::Unknown { verb: "NEW_2" }.validate(), Ok(()));
        for verb in [
            "PING",
            "PONG",
            "HELLO",
            "",
            "new",
            "A B",
            "ABCDEFGHIJKLMNOPQ",
            "A\n",
        ] {
            assert_eq!(
                Message::Unknown { verb }.validate(),
                Err(BadVerb),
                "{verb:?}"
            );
        }
    }

    #[test]
    fn verb() {
        assert_eq!(
            Message::Hello {
                version: 1,
                name: "a"
            }
            .verb(),
            "HELLO"
        );
        assert_eq!(Message::Ping { seq: 1 }.verb(), "PING");
        assert_eq!(Message::Pong { seq: 1 }.verb(), "PONG");
        assert_eq!(Message::Unknown { verb: "NEWS" }.verb(), "NEWS");
    }

    #[test]
    fn error_display_and_source() {
        use std::error::Error;
        let all = [
            ParseError::Empty,
            ParseError::BadVerb,
            ParseError::NotAscii,
            ParseError::BadSpacing,
            ParseError::MissingField,
            ParseError::ExtraField,
            ParseError::BadNumber,
            ParseError::BadVersion,
            ParseError::BadName(NameError::Empty),
        ];
        for e in all {
            assert!(!e.to_string().is_empty());
        }
        let e = ParseError::BadName(NameError::Forbidden('|'));
        assert!(e.to_string().starts_with("bad node name: "));
        assert!(e.source().is_some());
        assert!(ParseError::Empty.source().is_none());
    }
}
