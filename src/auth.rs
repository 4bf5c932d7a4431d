//! The shared secret and the proofs of the authenticated handshake (cargo feature `auth`).
//!
//! A node proves it knows the mesh's secret with an HMAC-SHA256 (the `hmac-sha256` crate:
//! one dependency-free file; nothing here is hand-written cryptography) over:
//!
//! ```text
//! "uptime-tracker auth 1" 0x00 direction nonce_c nonce_l len(name_c) name_c len(name_l) name_l
//! ```
//!
//! where `direction` is one byte, `C` for the proof the connecting node sends (its
//! `PROOF`, sent first) and `L` for the listener's (its `PROOF`, sent only once the
//! connecting node's checked out), `nonce_c` and `nonce_l` are the 16-byte
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
/// Shortest secret taken, in bytes: anything shorter is refused. A recorded handshake
/// lets whoever recorded it test guesses offline, as fast as it can compute HMACs.
pub const MIN_SECRET_LEN: usize = 16;
/// Shortest secret taken without a warning, in bytes (32 random bytes, base64: 44).
pub const GOOD_SECRET_LEN: usize = 32;

/// Which side a proof comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The connecting node's proof (`PROOF`).
    Connector,
    /// The listener's proof (its `PROOF`, sent after the connecting node's checked out).
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
    /// A secret from bytes (tests, the simulator); empty is refused. (Files have
    /// stricter rules: [`Secret::load`].)
    pub fn new(bytes: &[u8]) -> Option<Secret> {
        (!bytes.is_empty()).then(|| Secret(bytes.to_vec()))
    }

    /// The secret's length in bytes.
    pub fn byte_len(&self) -> usize {
        self.0.len()
    }

    /// Reads `path` (symlinks followed, as in Kubernetes-style secret mounts): its
    /// content without one trailing newline (`\n` or `\r\n`). Refused, naming the file:
    /// not a regular file (a FIFO or a device is refused without waiting on it), owned by
    /// another user than the effective one or root, a mode other than 0600 or 0400,
    /// longer than [`MAX_SECRET_LEN`] or shorter than [`MIN_SECRET_LEN`] bytes. The
    /// secret is never shown.
    pub fn load(path: &Path) -> Result<Secret, String> {
        let shown = path.display();
        // Non-blocking: opening a FIFO for reading would otherwise wait for a writer
        // (start-up and check-config hung for ever); it is refused below.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("secret_file {shown}: {e}"))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("secret_file {shown}: {e}"))?;
        if !meta.is_file() {
            let kind = meta.file_type();
            use std::os::unix::fs::FileTypeExt as _;
            let what = if kind.is_dir() {
                "a folder"
            } else if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_socket() {
                "a socket"
            } else if kind.is_char_device() || kind.is_block_device() {
                "a device"
            } else {
                "not a regular file"
            };
            return Err(format!(
                "secret_file {shown}: {what}; it must be a regular file (a symlink to one is fine)"
            ));
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if meta.uid() != euid && meta.uid() != 0 {
            return Err(format!(
                "secret_file {shown}: owned by uid {}; it must belong to the user this runs as \
                 (uid {euid}) or to root, so no one else can change it (chown {euid} {shown})",
                meta.uid()
            ));
        }
        let mode = meta.mode() & 0o7777;
        if mode != 0o600 && mode != 0o400 {
            let why = if mode & 0o077 != 0 {
                "lets others than its owner read or change it"
            } else {
                "is not one of the two allowed"
            };
            return Err(format!(
                "secret_file {shown}: mode {mode:04o} {why}; make it 0600 or 0400 \
                 (chmod 600 {shown})"
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
        if body.is_empty() {
            return Err(format!("secret_file {shown}: the secret is empty"));
        }
        if body.len() < MIN_SECRET_LEN {
            return Err(format!(
                "secret_file {shown}: the secret is {} byte{}; at least {MIN_SECRET_LEN} are \
                 needed (a recorded handshake lets anyone test guesses offline): make a new \
                 one of {GOOD_SECRET_LEN} random bytes, e.g. head -c {GOOD_SECRET_LEN} \
                 /dev/urandom | base64 > {shown}, and copy it to every node",
                body.len(),
                if body.len() == 1 { "" } else { "s" }
            ));
        }
        Ok(Secret(body.to_vec()))
    }

    /// A warning when the secret is shorter than [`GOOD_SECRET_LEN`] bytes (`path`: its
    /// file, for the message).
    pub fn weakness(&self, path: &Path) -> Option<String> {
        let len = self.byte_len();
        (len < GOOD_SECRET_LEN).then(|| {
            format!(
                "secret_file {}: the secret is {len} bytes; {GOOD_SECRET_LEN} or more random \
                 bytes are recommended (a recorded handshake lets anyone test guesses offline), \
                 e.g. head -c {GOOD_SECRET_LEN} /dev/urandom | base64",
                path.display()
            )
        })
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
        let good = b"0123456789abcdef0123456789abcdef";
        let mut line = good.to_vec();
        line.push(b'\n');
        write(&line, 0o600);
        assert_eq!(Secret::load(&f).unwrap(), Secret::new(good).unwrap());
        line.insert(32, b'\r');
        write(&line, 0o400);
        assert_eq!(Secret::load(&f).unwrap(), Secret::new(good).unwrap());
        write(b"two lines of sixteen\nbytes\n\n", 0o600);
        assert_eq!(
            Secret::load(&f).unwrap(),
            Secret::new(b"two lines of sixteen\nbytes\n").unwrap()
        );
        // Lengths: under 16 refused with the length named; under 32 taken with a warning.
        write(b"fifteen bytes!!\n", 0o600);
        let e = Secret::load(&f).unwrap_err();
        assert!(
            e.contains("is 15 bytes") && e.contains("at least 16"),
            "{e}"
        );
        assert!(!e.contains("fifteen"), "{e}");
        write(b"sixteen bytes!!!\n", 0o600);
        let s16 = Secret::load(&f).unwrap();
        let w = s16.weakness(&f).unwrap();
        assert!(w.contains("is 16 bytes") && w.contains("32"), "{w}");
        assert!(Secret::new(good).unwrap().weakness(&f).is_none());
        // Modes: exactly 0600 or 0400.
        for mode in [0o640, 0o604, 0o700, 0o200, 0o4600] {
            write(good, mode);
            let e = Secret::load(&f).unwrap_err();
            assert!(
                e.contains(&format!("{mode:04o}")) && e.contains(&f.display().to_string()),
                "{e}"
            );
            assert!(!e.contains("0123456789"), "{e}");
        }
        write(b"\n", 0o600);
        assert!(Secret::load(&f).unwrap_err().contains("empty"));
        write(&vec![b'x'; MAX_SECRET_LEN as usize + 1], 0o600);
        assert!(Secret::load(&f).unwrap_err().contains("longer"));
        assert!(
            Secret::load(&dir.join("missing"))
                .unwrap_err()
                .contains("missing")
        );
        // A symlink to a good file is followed (Kubernetes-style mounts).
        write(good, 0o400);
        let link = dir.join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(Secret::load(&link).unwrap(), Secret::new(good).unwrap());
        // A folder and a FIFO are refused, the FIFO without waiting for a writer.
        assert!(Secret::load(&dir).unwrap_err().contains("a folder"));
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = Secret::load(&fifo).unwrap_err();
        assert!(e.contains("a FIFO"), "{e}");
        assert!(format!("{:?}", Secret::new(b"s3cret").unwrap()) == "Secret(6 bytes)");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
