//! The bytes of a `VIEW`: a state per node in the agreed order, two bits each, packed
//! four to a byte (the first node in the high bits) and written as base64url without
//! padding; and the digest of the node list that says which order that is.
//!
//! The agreed order is the configured nodes' names sorted bytewise, so nodes whose configs
//! list the same nodes in another order still agree; the digest is FNV-1a (64 bits) over
//! those names, each followed by `\n`. It guards against honest mistakes (configs that
//! differ during a rollout), not against forgery: who may send a view at all is the
//! handshake's business.
//!
//! Size: 1,001 nodes take 251 bytes, 335 base64 digits; the whole line is then 358 bytes.
//! [`MAX_NODES`] is the most a 512-byte line holds.

use super::framer::MAX_LINE;
use super::message::DIGEST_LEN;

/// What a node sees of another, two bits on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// No opinion: the sender itself, a node it does not probe yet, or one it cannot
    /// count (its own machine's trouble).
    Unknown = 0,
    /// Online, its last probe answered.
    Up = 1,
    /// Online, but its last probes went unanswered (fewer than the threshold).
    Missing = 2,
    /// Offline: the threshold of timeouts in a row.
    Down = 3,
}

impl Seen {
    fn from_bits(b: u8) -> Seen {
        match b & 3 {
            1 => Seen::Up,
            2 => Seen::Missing,
            3 => Seen::Down,
            _ => Seen::Unknown,
        }
    }

    /// Whether the sender sees it online (up, or missing a few probes).
    pub fn is_up(self) -> bool {
        matches!(self, Seen::Up | Seen::Missing)
    }
}

/// `VIEW ` + 16 hex + ` ` + the states + `\n` fit in a line up to this many nodes.
pub const MAX_NODES: usize = (MAX_LINE - 4 - 1 - 2 * DIGEST_LEN - 1 - 1) * 6 / 8 * 4;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The digest of a node list (any order: it is sorted here).
pub fn digest<'a>(names: impl IntoIterator<Item = &'a str>) -> [u8; DIGEST_LEN] {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_unstable();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for name in names {
        for &b in name.as_bytes().iter().chain(b"\n") {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h.to_be_bytes()
}

/// Packs `states` (in the agreed order) as base64url.
pub fn encode(states: &[Seen]) -> String {
    let mut out = String::new();
    // Bits not yet written out (the low `bits` of `acc`).
    let (mut acc, mut bits) = (0u32, 0u32);
    for four in states.chunks(4) {
        let byte = (0..4).fold(0u8, |b, k| {
            b.wrapping_shl(2) | four.get(k).map_or(0, |&s| s as u8)
        });
        acc = acc.wrapping_shl(8) | u32::from(byte);
        bits = bits.wrapping_add(8);
        while bits >= 6 {
            bits = bits.wrapping_sub(6);
            out.push(digit(acc.wrapping_shr(bits)));
            acc &= low(bits);
        }
    }
    if bits > 0 {
        out.push(digit(acc.wrapping_shl(6u32.wrapping_sub(bits))));
    }
    out
}

/// The base64url digit of the low 6 bits of `v`.
fn digit(v: u32) -> char {
    let i = usize::try_from(v & 63).unwrap_or(0);
    char::from(ALPHABET.get(i).copied().unwrap_or(b'A'))
}

/// A mask of the low `bits` bits (`bits` < 32).
fn low(bits: u32) -> u32 {
    1u32.wrapping_shl(bits).wrapping_sub(1)
}

/// Unpacks `n` states from base64url `text`, or `None` when it is not exactly what
/// [`encode`] makes of `n` states (wrong length, a bad digit, bits set past the end).
pub fn decode(text: &str, n: usize) -> Option<Vec<Seen>> {
    let want_bytes = n.div_ceil(4);
    let want_digits = want_bytes.checked_mul(8)?.div_ceil(6);
    if n == 0 || text.len() != want_digits {
        return None;
    }
    let mut bytes = Vec::with_capacity(want_bytes);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text.as_bytes() {
        let v = u32::try_from(ALPHABET.iter().position(|&a| a == c)?).ok()?;
        acc = acc.wrapping_shl(6) | v;
        bits = bits.wrapping_add(6);
        if bits >= 8 {
            bits = bits.wrapping_sub(8);
            bytes.push((acc.wrapping_shr(bits) & 0xff) as u8);
            acc &= low(bits);
        }
    }
    // Bits past the last byte must be zero: one encoding per view.
    if acc != 0 || bytes.len() != want_bytes {
        return None;
    }
    let mut states = Vec::with_capacity(n);
    for b in bytes {
        for shift in [6u32, 4, 2, 0] {
            let s = Seen::from_bits(b.wrapping_shr(shift));
            if states.len() < n {
                states.push(s);
            } else if s != Seen::Unknown {
                return None;
            }
        }
    }
    Some(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_spellings() {
        let all = [Seen::Unknown, Seen::Up, Seen::Missing, Seen::Down];
        for n in 1..40 {
            let states: Vec<Seen> = (0..n).map(|i| all[(i * 7 + n) % 4]).collect();
            let text = encode(&states);
            assert_eq!(decode(&text, n), Some(states.clone()), "{n}");
            // The count comes from the node list, so only another byte count is refused
            // (trailing "no opinion" states are the padding of the last byte).
            if n % 4 == 0 {
                assert_eq!(decode(&text, n + 1), None);
            }
            let mut bad = text.clone().into_bytes();
            bad.push(b'A');
            assert_eq!(decode(std::str::from_utf8(&bad).unwrap(), n), None);
        }
        // 1 node: one byte, two digits; the second digit's low 4 bits must be zero.
        assert_eq!(encode(&[Seen::Down]), "wA");
        assert_eq!(decode("wA", 1), Some(vec![Seen::Down]));
        assert_eq!(decode("wB", 1), None);
        // A state past the end (node 2 of 1) is refused.
        assert_eq!(decode(&encode(&[Seen::Down, Seen::Up]), 1), None);
        assert_eq!(decode("w*", 1), None);
        assert_eq!(decode("", 0), None);
    }

    #[test]
    fn a_thousand_peers_fit_a_line() {
        let states = vec![Seen::Missing; 1001];
        let line = format!("VIEW {} {}\n", "0".repeat(16), encode(&states));
        assert_eq!(line.len(), 358);
        const { assert!(MAX_NODES >= 1001) };
        let most = format!(
            "VIEW {} {}\n",
            "0".repeat(16),
            encode(&vec![Seen::Up; MAX_NODES])
        );
        assert!(most.len() <= MAX_LINE, "{}", most.len());
        let one_more = encode(&vec![Seen::Up; MAX_NODES + 4]);
        assert!(5 + 16 + 1 + one_more.len() + 1 > MAX_LINE);
    }

    #[test]
    fn digest_ignores_order_only() {
        assert_eq!(digest(["a", "b"]), digest(["b", "a"]));
        assert_ne!(digest(["a", "b"]), digest(["a", "c"]));
        assert_ne!(digest(["ab"]), digest(["a", "b"]));
    }
}
