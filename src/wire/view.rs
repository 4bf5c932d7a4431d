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
    let bytes: Vec<u8> = states
        .chunks(4)
        .map(|four| {
            four.iter()
                .enumerate()
                .fold(0u8, |b, (i, &s)| b | ((s as u8) << (6 - 2 * i)))
        })
        .collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        let digits = chunk.len() + 1;
        for k in 0..digits {
            let six = (n >> (18 - 6 * k)) & 63;
            out.push(char::from(
                ALPHABET.get(six as usize).copied().unwrap_or(b'A'),
            ));
        }
    }
    out
}

/// Unpacks `n` states from base64url `text`, or `None` when it is not exactly what
/// [`encode`] makes of `n` states (wrong length, a bad digit, bits set past the end).
pub fn decode(text: &str, n: usize) -> Option<Vec<Seen>> {
    let bytes_len = n.div_ceil(4);
    let want = (bytes_len / 3) * 4
        + match bytes_len % 3 {
            0 => 0,
            r => r + 1,
        };
    if n == 0 || text.len() != want {
        return None;
    }
    let mut bytes = Vec::with_capacity(bytes_len);
    for chunk in text.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (k, &c) in chunk.iter().enumerate() {
            let v = ALPHABET.iter().position(|&a| a == c)? as u32;
            acc |= v << (18 - 6 * k);
        }
        let got = chunk.len().saturating_sub(1);
        for i in 0..got {
            bytes.push((acc >> (16 - 8 * i)) as u8);
        }
        // Bits past the last byte must be zero: one encoding per view.
        let used = got * 8;
        let spare = chunk.len() * 6 - used;
        if spare > 0 && (acc >> (24 - used - spare)) & ((1 << spare) - 1) != 0 {
            return None;
        }
    }
    let mut states = Vec::with_capacity(n);
    for (i, b) in bytes.iter().enumerate() {
        for k in 0..4 {
            let s = Seen::from_bits(b >> (6 - 2 * k));
            if i * 4 + k < n {
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
        assert!(MAX_NODES >= 1001);
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
