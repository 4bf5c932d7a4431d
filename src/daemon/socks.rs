//! The shell's table of sockets, indexed like the engine's connection slab
//! ([`ConnId::index`]) and checked against the full id, so a late event for a closed
//! connection never reaches the socket that reused its slot.

use std::io;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::mesh::ConnId;

/// Connection slot `i` has token `FIRST_CONN + i` (after the hooks' pipes).
pub(super) const FIRST_CONN: usize = super::hookproc::FIRST_HOOK + 2 * super::hookproc::SLOTS;

/// A socket the engine knows as `id`.
pub(super) struct Sock {
    pub(super) id: ConnId,
    pub(super) stream: TcpStream,
    /// A non-blocking connect not yet confirmed.
    pub(super) connecting: bool,
}

/// Sockets by [`ConnId::index`].
#[derive(Default)]
pub(super) struct Socks(Vec<Option<Sock>>);

impl Socks {
    /// The socket in slot `index`, whatever its id (for readiness events).
    pub(super) fn at(&mut self, index: usize) -> Option<&mut Sock> {
        self.0.get_mut(index).and_then(Option::as_mut)
    }

    /// The socket of `id`, if it is still that connection's.
    pub(super) fn get(&mut self, id: ConnId) -> Option<&mut Sock> {
        self.at(id.index()).filter(|s| s.id == id)
    }

    /// Removes and returns the socket of `id`.
    pub(super) fn take(&mut self, id: ConnId) -> Option<Sock> {
        let slot = self.0.get_mut(id.index())?;
        if slot.as_ref().is_some_and(|s| s.id == id) {
            slot.take()
        } else {
            None
        }
    }

    /// Registers `stream` for both directions and keeps it as the socket of `id`. An
    /// older socket in that slot (its Close may still be queued) is deregistered and
    /// dropped, which closes its descriptor.
    pub(super) fn insert(
        &mut self,
        registry: &Registry,
        id: ConnId,
        mut stream: TcpStream,
        connecting: bool,
    ) -> io::Result<()> {
        registry.register(
            &mut stream,
            Token(FIRST_CONN + id.index()),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        if self.0.len() <= id.index() {
            self.0.resize_with(id.index() + 1, || None);
        }
        let sock = Sock {
            id,
            stream,
            connecting,
        };
        if let Some(mut old) = self
            .0
            .get_mut(id.index())
            .and_then(|slot| slot.replace(sock))
        {
            let _ = registry.deregister(&mut old.stream);
        }
        Ok(())
    }
}
