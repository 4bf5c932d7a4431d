//! The shared secret and the proofs of the authenticated handshake (cargo feature `auth`).
//!
//! A node proves it knows the mesh's secret with an HMAC-SHA256 (the `hmac-sha256` crate:
//! one dependency-free file; nothing here is hand-written cryptography) over:
//!
//! ```text
//! "uptime-tracker auth 1" 0x00 direction nonce_c nonce_l len(name_c) name_c len(name_l) name_l
//! ```
//!
//! where `direction` is one byte, `C` for the proof the connecting node sends (`PROOF`)
//! and `L` for the listener's (`RESPONSE`), `nonce_c` and `nonce_l` are the 16-byte
//! nonces of the connecting node and of the listener, and the names are prefixed by their
//! length as one byte (names are at most 64 bytes). Binding the direction means a proof
//! cannot be reflected back at its sender; binding both nonces, a proof is good for one
//! connection only; binding both names, it cannot be passed off under another node's name.
//! Proofs are compared in constant time (`HMAC::finalize_verify`).

use std::fmt;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use hmac_sha256::HMAC;

use crate::wire::message::{MAC_LEN, NONCE_LEN};

/// The tag at the start of every MAC input: the protocol and the handshake's version.
pub const TAG: &[u8] = b"uptime-tracker auth 1\0";

/// Longest secret file read, in bytes.
pub const MAX_SECRET_LEN: u64 = 4096;

/// Which side a proof comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The connecting node's proof (`PROOF`).
    Connector,
    /// The listener's proof (`RESPONSE`).
    Listener,
}

/// The mesh's shared secret. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Secret {
    /// A secret from bytes (tests, the simulator); empty is refused.
    pub fn new(bytes: &[u8]) -> Option<Secret> {
        (!bytes.is_empty()).then(|| Secret(bytes.to_vec()))
    }

    /// Reads `path`: its content without one trailing newline (`\n` or `\r\n`). Refused,
    /// naming the file: a file readable or writable by group or others (mode & 0o077), not
    /// a regular file, longer than [`MAX_SECRET_LEN`], or empty. The secret is never shown.
    pub fn load(path: &Path) -> Result<Secret, String> {
        let shown = path.display();
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("secret_file {shown}: {e}"))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("secret_file {shown}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("secret_file {shown}: not a regular file"));
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "secret_file {shown}: mode {mode:04o} lets others than its owner read or \
                 change it; make it 0600 or 0400 (chmod 600 {shown})"
            ));
        }
        let mut bytes = Vec::new();
        file.by_ref()
            .take(MAX_SECRET_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("secret_file {shown}: {e}"))?;
        if bytes.len() as u64 > MAX_SECRET_LEN {
            return Err(format!(
                "secret_file {shown}: longer than {MAX_SECRET_LEN} bytes"
            ));
        }
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        Secret::new(body).ok_or_else(|| format!("secret_file {shown}: the secret is empty"))
    }
}

/// The inputs of one proof.
#[derive(Debug, Clone, Copy)]
pub struct Transcript<'a> {
    /// The connecting node's nonce.
    pub nonce_c: &'a [u8; NONCE_LEN],
    /// The listener's nonce.
    pub nonce_l: &'a [u8; NONCE_LEN],
    /// The connecting node's name.
    pub name_c: &'a str,
    /// The listener's name.
    pub name_l: &'a str,
}

fn keyed(secret: &Secret, dir: Direction, t: &Transcript<'_>) -> HMAC {
    // HMAC takes keys of any length (a key longer than SHA-256's block is hashed first).
    let mut mac = HMAC::new(&secret.0);
    mac.update(TAG);
    mac.update(match dir {
        Direction::Connector => b"C",
        Direction::Listener => b"L",
    });
    mac.update(t.nonce_c);
    mac.update(t.nonce_l);
    for name in [t.name_c, t.name_l] {
        let len = u8::try_from(name.len()).unwrap_or(u8::MAX);
        mac.update([len]);
        mac.update(name.as_bytes());
    }
    mac
}

/// The proof `dir`'s side sends for `t`.
pub fn prove(secret: &Secret, dir: Direction, t: &Transcript<'_>) -> [u8; MAC_LEN] {
    keyed(secret, dir, t).finalize()
}

/// Whether `mac` is `dir`'s proof for `t`, compared in constant time.
pub fn verify(secret: &Secret, dir: Direction, t: &Transcript<'_>, mac: &[u8; MAC_LEN]) -> bool {
    keyed(secret, dir, t).finalize_verify(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn t<'a>(c: &'a [u8; 16], l: &'a [u8; 16]) -> Transcript<'a> {
        Transcript {
            nonce_c: c,
            nonce_l: l,
            name_c: "node1",
            name_l: "node2",
        }
    }

    #[test]
    fn proofs_bind_secret_direction_nonces_and_names() {
        let s = Secret::new(b"hunter2").unwrap();
        let other = Secret::new(b"hunter3").unwrap();
        let (a, b) = ([1u8; 16], [2u8; 16]);
        let base = t(&a, &b);
        let mac = prove(&s, Direction::Connector, &base);
        assert!(verify(&s, Direction::Connector, &base, &mac));
        assert!(!verify(&other, Direction::Connector, &base, &mac));
        assert!(!verify(&s, Direction::Listener, &base, &mac));
        assert!(!verify(&s, Direction::Connector, &t(&b, &a), &mac));
        let mut swapped = base;
        swapped.name_c = "node2";
        swapped.name_l = "node1";
        assert!(!verify(&s, Direction::Connector, &swapped, &mac));
        // The length prefixes keep "node1"+"node2" apart from "node1n"+"ode2".
        let mut shifted = base;
        shifted.name_c = "node1n";
        shifted.name_l = "ode2";
        assert_ne!(prove(&s, Direction::Connector, &shifted), mac);
        let mut bad = mac;
        bad[31] ^= 1;
        assert!(!verify(&s, Direction::Connector, &base, &bad));
    }

    #[test]
    fn known_answer() {
        // HMAC-SHA256 with key "key" over the message below, as computed by Python's
        // hmac module: guards against a change of the MAC input's layout.
        let s = Secret::new(b"key").unwrap();
        let mac = prove(
            &s,
            Direction::Listener,
            &Transcript {
                nonce_c: &[0; 16],
                nonce_l: &[0xff; 16],
                name_c: "a",
                name_l: "bc",
            },
        );
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, include_str!("auth_kat.txt").trim());
    }

    #[test]
    fn load_rules() {
        let dir = std::env::temp_dir().join(format!("ut-auth-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("secret");
        let write = |content: &[u8], mode: u32| {
            let _ = std::fs::remove_file(&f);
            std::fs::write(&f, content).unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(b"s3cret\n", 0o600);
        assert_eq!(Secret::load(&f).unwrap(), Secret::new(b"s3cret").unwrap());
        write(b"s3cret\r\n", 0o400);
        assert_eq!(Secret::load(&f).unwrap(), Secret::new(b"s3cret").unwrap());
        write(b"two\nlines\n\n", 0o600);
        assert_eq!(
            Secret::load(&f).unwrap(),
            Secret::new(b"two\nlines\n").unwrap()
        );
        write(b"s3cret\n", 0o640);
        let e = Secret::load(&f).unwrap_err();
        assert!(
            e.contains("0640") && e.contains(&f.display().to_string()),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
        write(b"s3cret", 0o604);
        assert!(Secret::load(&f).unwrap_err().contains("0604"));
        write(b"\n", 0o600);
        assert!(Secret::load(&f).unwrap_err().contains("empty"));
        write(&vec![b'x'; MAX_SECRET_LEN as usize + 1], 0o600);
        assert!(Secret::load(&f).unwrap_err().contains("longer"));
        assert!(
            Secret::load(&dir.join("missing"))
                .unwrap_err()
                .contains("missing")
        );
        assert!(format!("{:?}", Secret::new(b"s3cret").unwrap()) == "Secret(6 bytes)");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
