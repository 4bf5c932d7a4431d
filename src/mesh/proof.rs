//! The secret side of the authenticated handshake: fresh nonces, and proofs over both
//! nonces and both names, made and checked with [`crate::auth`]. Built without the `auth`
//! feature there is no secret: its twin [`Auth`] has no value at all, so the handshake's
//! code is the same in every build and its authenticated branches are never taken.

use std::io;

use crate::wire::message::{MAC_LEN, NONCE_LEN};

/// Where handshake nonces come from: fills the buffer with fresh random bytes (the OS's
/// in the daemon, a seeded generator in the simulator and tests), or fails (this
/// machine's trouble: the handshake is dropped and counts against no peer).
pub type NonceSource = Box<dyn FnMut(&mut [u8]) -> io::Result<()>>;

/// Which side's proof.
#[derive(Debug, Clone, Copy)]
pub(super) enum Direction {
    /// The connecting node's, sent first.
    Connector,
    /// The listener's, sent once the connecting node's checked out.
    Listener,
}

/// What a proof covers: both nonces and both names, the connecting node's first.
// Read by `auth` alone: the twin below never gets one.
#[cfg_attr(not(feature = "auth"), allow(dead_code))]
pub(super) struct Transcript<'a> {
    pub(super) nonce_c: &'a [u8; NONCE_LEN],
    pub(super) nonce_l: &'a [u8; NONCE_LEN],
    pub(super) name_c: &'a str,
    pub(super) name_l: &'a str,
}

#[cfg(feature = "auth")]
mod keys {
    use super::{Direction, MAC_LEN, NONCE_LEN, NonceSource, Transcript, io};
    use crate::auth;

    /// The mesh's shared secret.
    pub type Secret = auth::Secret;

    /// The authenticated handshake's secret and nonce source (see
    /// [`Engine::set_auth`](super::super::Engine::set_auth)).
    pub struct Auth {
        secret: Secret,
        nonces: NonceSource,
    }

    impl Auth {
        pub(in crate::mesh) fn new(secret: Secret, nonces: NonceSource) -> Option<Auth> {
            Some(Auth { secret, nonces })
        }

        /// A fresh nonce, or this machine's error getting random bytes.
        pub(in crate::mesh) fn nonce(&mut self) -> io::Result<[u8; NONCE_LEN]> {
            let mut nonce = [0u8; NONCE_LEN];
            (self.nonces)(&mut nonce).map(|()| nonce)
        }

        /// `dir`'s proof over `t`.
        pub(in crate::mesh) fn prove(&self, dir: Direction, t: &Transcript<'_>) -> [u8; MAC_LEN] {
            auth::prove(&self.secret, dir.into(), &t.into())
        }

        /// Whether `mac` is `dir`'s proof over `t` (compared in constant time).
        pub(in crate::mesh) fn verify(
            &self,
            dir: Direction,
            t: &Transcript<'_>,
            mac: &[u8; MAC_LEN],
        ) -> bool {
            auth::verify(&self.secret, dir.into(), &t.into(), mac)
        }
    }

    impl From<Direction> for auth::Direction {
        fn from(d: Direction) -> Self {
            match d {
                Direction::Connector => auth::Direction::Connector,
                Direction::Listener => auth::Direction::Listener,
            }
        }
    }

    impl<'a> From<&Transcript<'a>> for auth::Transcript<'a> {
        fn from(t: &Transcript<'a>) -> Self {
            auth::Transcript {
                nonce_c: t.nonce_c,
                nonce_l: t.nonce_l,
                name_c: t.name_c,
                name_l: t.name_l,
            }
        }
    }
}

#[cfg(not(feature = "auth"))]
mod keys {
    use super::{Direction, MAC_LEN, NONCE_LEN, NonceSource, Transcript, io};

    /// Without the `auth` feature there is no secret: no `Secret` can be made.
    pub enum Secret {}

    impl Secret {
        /// Never a secret in this build.
        pub fn new(_bytes: &[u8]) -> Option<Secret> {
            None
        }
    }

    /// Without the `auth` feature there is no secret: no `Auth` exists, and an
    /// `Option<Auth>` is always `None`.
    pub enum Auth {}

    impl Auth {
        pub(in crate::mesh) fn new(secret: Secret, _nonces: NonceSource) -> Option<Auth> {
            match secret {}
        }

        pub(in crate::mesh) fn nonce(&mut self) -> io::Result<[u8; NONCE_LEN]> {
            match *self {}
        }

        pub(in crate::mesh) fn prove(&self, _: Direction, _: &Transcript<'_>) -> [u8; MAC_LEN] {
            match *self {}
        }

        pub(in crate::mesh) fn verify(
            &self,
            _: Direction,
            _: &Transcript<'_>,
            _: &[u8; MAC_LEN],
        ) -> bool {
            match *self {}
        }
    }
}

pub use keys::{Auth, Secret};
