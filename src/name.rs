//! Node names: the one rule shared by the config, the wire protocol and the log format.
//!
//! A name is written into `|`-, `!`- and `:`-separated log lines, into a file name
//! (`<date>-<name>.log`) and into space-separated ASCII protocol lines, so it must not
//! contain any of those separators, and it is printable ASCII (which also keeps file names
//! portable across the filesystems of small devices).

use std::fmt;

/// Longest node name, in bytes. Keeps a handshake line far below the framer's line limit.
pub const MAX_NAME_LEN: usize = 64;

/// Why a string is not a valid node name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong,
    /// The name contains this forbidden character.
    Forbidden(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("a node name must not be empty"),
            NameError::TooLong => write!(f, "a node name must be at most {MAX_NAME_LEN} bytes"),
            NameError::Forbidden(c) => write!(
                f,
                "a node name must not contain {c:?} (printable ASCII only, without '|', '!', ':', '/' or spaces)"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks `name` against the naming rule of log format 0.0.3.
pub fn check(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    match name
        .chars()
        .find(|&c| matches!(c, '|' | '!' | ':' | '/') || !c.is_ascii_graphic())
    {
        Some(c) => Err(NameError::Forbidden(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for n in [
            "node1",
            "router-3.lan",
            "a_b",
            "~x",
            &"x".repeat(MAX_NAME_LEN),
        ] {
            assert_eq!(check(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn rejects_separators_whitespace_and_controls() {
        assert_eq!(check(""), Err(NameError::Empty));
        assert_eq!(
            check(&"x".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong)
        );
        for (n, c) in [
            ("a|b", '|'),
            ("a!b", '!'),
            ("a:b", ':'),
            ("a/b", '/'),
            ("a b", ' '),
            ("a\tb", '\t'),
            ("a\u{7f}", '\u{7f}'),
            ("a\u{a0}b", '\u{a0}'),
            ("a\0", '\0'),
            ("ノード", 'ノ'),
            ("café", 'é'),
        ] {
            assert_eq!(check(n), Err(NameError::Forbidden(c)), "{n:?}");
        }
    }
}
