//! What goes in and out of the engine besides bytes: the two clocks, the actions the
//! shell must carry out, the log records, and typed close reasons.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use super::conn::ConnId;
use crate::wire::message::ParseError;

/// Both clocks, read once by the shell per loop pass and passed in as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds (any origin): the clock of every timer.
    pub mono: u64,
    /// Wall-clock Unix milliseconds, UTC: only for log timestamps and the day's file.
    pub wall: i64,
    /// Microseconds past `mono` (0..1000), for round-trip times finer than a millisecond;
    /// 0 where there is no finer clock (the simulator).
    pub micros: u32,
}

impl Now {
    /// Both clocks at millisecond resolution (`micros` 0).
    pub fn ms(mono: u64, wall: i64) -> Now {
        Now {
            mono,
            wall,
            micros: 0,
        }
    }

    /// The monotonic clock in microseconds.
    pub fn mono_us(self) -> u64 {
        self.mono
            .saturating_mul(1000)
            .saturating_add(u64::from(self.micros))
    }
}

/// A peer's stable id: its slot in the engine's peer table. At start a node's slot is its
/// index in the config's `nodes`; across a config reload a peer keeps its slot (matched
/// by name), a new peer takes a free slot or a new one, and a removed peer's slot is freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub usize);

/// A hook run's id, unique for the engine's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HookId(pub u64);

/// A peer's state as a hook is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// It reached the offline threshold.
    Offline,
    /// It answered again (`online_threshold` replies in a row) after being offline.
    Online,
}

impl PeerState {
    /// `offline` or `online`.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerState::Offline => "offline",
            PeerState::Online => "online",
        }
    }
}

/// One run of the `on_change` program: what it is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    /// This run's id, for [`Engine::on_hook_exit`](super::Engine::on_hook_exit).
    pub id: HookId,
    /// The peer.
    pub peer: PeerId,
    /// Its name (kept here: the peer may be removed by a reload while its hook runs).
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
    /// Its new state.
    pub state: PeerState,
    /// The count the log line says: the offline threshold, or 0 when back online.
    pub timeouts: u32,
    /// Wall-clock time of the change (Unix ms).
    pub wall: i64,
    /// Earlier changes of this peer that waited behind a running hook and were replaced
    /// by this one (0: none).
    pub coalesced: u32,
    /// The peer's verdict when the run was asked for (`up`, `down`, `link`, `isolated`,
    /// `unknown`: see [`Verdict`](super::Verdict)), and whether it had settled.
    pub verdict: &'static str,
    pub settled: bool,
}

/// Something the shell must do, in the order the engine asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to `addr` for `conn`; report [`on_connected`] or
    /// [`on_closed`].
    ///
    /// [`on_connected`]: super::Engine::on_connected
    /// [`on_closed`]: super::Engine::on_closed
    Connect {
        /// The engine's id for the new connection.
        conn: ConnId,
        /// Where to connect.
        addr: SocketAddr,
    },
    /// `conn` has bytes to send: write [`Engine::output`] and report with
    /// [`Engine::wrote`]. Asked once when output appears; after a short write, the shell
    /// writes again when the socket is writable.
    ///
    /// [`Engine::output`]: super::Engine::output
    /// [`Engine::wrote`]: super::Engine::wrote
    Send {
        /// The connection with output.
        conn: ConnId,
    },
    /// Close `conn`'s socket. The engine has already forgotten it.
    Close {
        /// The connection to close.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// Append to the log.
    Log(LogRecord),
    /// A line for the operator (stderr); the shell stamps it with time and node.
    Say(String),
    /// Start the `on_change` program for this change; report its end with
    /// [`Engine::on_hook_exit`](super::Engine::on_hook_exit) (also when it cannot start).
    Hook(HookRun),
    /// The hook `id` ran past its deadline: kill it (it is still reported when reaped).
    KillHook {
        /// The run to kill.
        id: HookId,
    },
    /// Delete this node's day files of UTC days before `before_day` (a day number,
    /// [`crate::logline::day_number`]): `log_retention_days`.
    PruneLogs {
        /// The first day kept.
        before_day: i64,
    },
}

/// One append to the log, in format 0.0.3 terms, with every name and the header it
/// needs: whoever writes it (the shell's journal, the simulator's) asks the engine nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRecord {
    /// The UTC day changed: switch to the new day's file, start it with `---` and the
    /// header, then one line per peer whose count is not 0 (`carried`), all at `wall`.
    /// The engine alone decides when a day ends: the journal follows.
    NewDay {
        /// Wall-clock time of the switch.
        wall: i64,
        /// Peers (by name) with a non-zero count and that count (at most the threshold).
        carried: Vec<(String, u32)>,
    },
    /// The config was reloaded: `---` and the new header (`threshold` and `nodes`), then
    /// one line per peer whose count is not 0, all at `wall`.
    Reconfigured {
        /// Wall-clock time of the reload.
        wall: i64,
        /// The new offline threshold.
        threshold: u32,
        /// Every node, this one included, in config order, with its address.
        nodes: Vec<(String, SocketAddr)>,
        /// Peers (by name) with a non-zero count and that count (at most the new
        /// threshold).
        carried: Vec<(String, u32)>,
    },
    /// `<wall>|<name>|<timeouts>`.
    Event {
        /// Wall-clock time of the change.
        wall: i64,
        /// The peer.
        peer: PeerId,
        /// Its name.
        name: String,
        /// Its new count: 0 on recovery.
        timeouts: u32,
    },
}

/// Which socket operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoOp {
    /// Connecting.
    Connect,
    /// Reading.
    Read,
    /// Writing.
    Write,
}

/// Why a connection was closed. `Copy` and free of strings: it is compared, counted and
/// turned into metric labels ([`CloseReason::kind`]); details go to the operator separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The other side closed it (end of stream).
    ClosedByPeer,
    /// A socket operation failed with OS error `errno` (0: none given, e.g. a write of 0).
    Io {
        /// What failed.
        op: IoOp,
        /// The OS error number.
        errno: i32,
    },
    /// A socket operation failed for this machine's own trouble (out of descriptors,
    /// memory or buffers, no local address), as the shell judged OS error `errno`: it
    /// says nothing about the peer. Counted as [`CloseReason::Io`] is.
    Local {
        /// What failed.
        op: IoOp,
        /// The OS error number.
        errno: i32,
    },
    /// Our link did not complete its handshake within `timeout`.
    HandshakeTimeout,
    /// A probe on our link had no reply within `timeout`: the link is abandoned and
    /// redialled rather than left to TCP's backed-off retransmits.
    ProbeTimeout,
    /// An accepted connection sent no `HELLO` in time.
    NoHello,
    /// A line longer than the framer allows.
    LineTooLong,
    /// A line that is not a protocol message.
    Malformed(ParseError),
    /// A message not allowed in the connection's state (a `PING` before `HELLO`, ...).
    Unexpected,
    /// A `HELLO` from the wrong node: an unknown name, this node's, another node's address,
    /// or not the node we dialled.
    WrongNode,
    /// The other side leaves too much of our output unread.
    NotReading,
    /// The same peer connected again: this older connection is dead from its side.
    Replaced,
    /// Too many connections from one address were waiting for their `HELLO`; this one was
    /// the oldest.
    Evicted,
    /// A config reload removed the peer or changed its address.
    Reconfigured,
    /// The other side's handshake proof does not match this node's secret.
    AuthFailed,
    /// This node has a `secret_file`; the other side sent a plain `HELLO`.
    AuthRequired,
    /// The other side asked for an authenticated handshake; this node has no secret.
    NoSecret,
    /// This machine could not get random bytes for a handshake nonce.
    NoRandom,
    /// Done with as planned: an HTTP answer given with `Connection: close`, an idle HTTP
    /// connection, an old node's link whose response ran to the end of the connection.
    Done,
    /// An old node's HTTP response is malformed or too large.
    BadResponse(crate::legacy::response::Error),
    /// The other side speaks the previous release's authenticated handshake (version 1).
    OldVersion,
}

impl CloseReason {
    /// Every [`CloseReason::kind`], in [`CloseReason::index`] order.
    pub const KINDS: [&'static str; 22] = [
        "closed_by_peer",
        "connect_error",
        "read_error",
        "write_error",
        "handshake_timeout",
        "probe_timeout",
        "no_hello",
        "line_too_long",
        "malformed",
        "unexpected",
        "wrong_node",
        "not_reading",
        "replaced",
        "evicted",
        "reconfigured",
        "auth_failed",
        "auth_required",
        "no_secret",
        "no_random",
        "done",
        "bad_response",
        "old_version",
    ];

    /// A short, stable label (for metrics and for reporting a peer's trouble once).
    pub fn kind(self) -> &'static str {
        CloseReason::KINDS.get(self.index()).copied().unwrap_or("?")
    }

    /// The position of [`CloseReason::kind`] in [`CloseReason::KINDS`].
    pub fn index(self) -> usize {
        match self {
            CloseReason::ClosedByPeer => 0,
            CloseReason::Io { op, .. } | CloseReason::Local { op, .. } => match op {
                IoOp::Connect => 1,
                IoOp::Read => 2,
                IoOp::Write => 3,
            },
            CloseReason::HandshakeTimeout => 4,
            CloseReason::ProbeTimeout => 5,
            CloseReason::NoHello => 6,
            CloseReason::LineTooLong => 7,
            CloseReason::Malformed(_) => 8,
            CloseReason::Unexpected => 9,
            CloseReason::WrongNode => 10,
            CloseReason::NotReading => 11,
            CloseReason::Replaced => 12,
            CloseReason::Evicted => 13,
            CloseReason::Reconfigured => 14,
            CloseReason::AuthFailed => 15,
            CloseReason::AuthRequired => 16,
            CloseReason::NoSecret => 17,
            CloseReason::NoRandom => 18,
            CloseReason::Done => 19,
            CloseReason::BadResponse(_) => 20,
            CloseReason::OldVersion => 21,
        }
    }

    /// The class of trouble, for reporting a peer's trouble once however its errors
    /// alternate (refused, reset, closed: all "unreachable").
    pub fn class(self) -> &'static str {
        match self {
            CloseReason::ClosedByPeer | CloseReason::Io { .. } => "unreachable",
            CloseReason::HandshakeTimeout | CloseReason::ProbeTimeout => "silent",
            CloseReason::NoHello | CloseReason::NotReading => "stalled",
            CloseReason::LineTooLong
            | CloseReason::Malformed(_)
            | CloseReason::Unexpected
            | CloseReason::WrongNode => "protocol",
            CloseReason::Replaced | CloseReason::Evicted => "replaced",
            CloseReason::Reconfigured => "reconfigured",
            CloseReason::AuthFailed | CloseReason::AuthRequired | CloseReason::NoSecret => "auth",
            CloseReason::NoRandom | CloseReason::Local { .. } => "local",
            CloseReason::Done => "done",
            CloseReason::BadResponse(_) => "protocol",
            CloseReason::OldVersion => "version",
        }
    }

    /// Whether the failure is this machine's own trouble (no random bytes, or what the
    /// shell judged [`CloseReason::Local`]), which says nothing about the peer.
    pub fn is_local(self) -> bool {
        matches!(self, CloseReason::NoRandom | CloseReason::Local { .. })
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::ClosedByPeer => f.write_str("closed by the other side"),
            CloseReason::Io { op, errno } | CloseReason::Local { op, errno } => {
                let op = match op {
                    IoOp::Connect => "connect",
                    IoOp::Read => "read",
                    IoOp::Write => "write",
                };
                if *errno == 0 {
                    write!(f, "{op} failed")
                } else {
                    write!(f, "{op}: {}", io::Error::from_raw_os_error(*errno))
                }
            }
            CloseReason::HandshakeTimeout => f.write_str("no handshake within the timeout"),
            CloseReason::ProbeTimeout => f.write_str(
                "a probe unanswered on it too long; reconnecting instead of waiting on TCP",
            ),
            CloseReason::NoHello => f.write_str("no HELLO in time"),
            CloseReason::LineTooLong => f.write_str("line too long"),
            CloseReason::Malformed(e) => write!(f, "malformed line: {e}"),
            CloseReason::Unexpected => f.write_str("unexpected message"),
            CloseReason::WrongNode => f.write_str("HELLO from the wrong node"),
            CloseReason::NotReading => f.write_str("the other side is not reading"),
            CloseReason::Replaced => f.write_str("replaced by a newer connection"),
            CloseReason::Evicted => {
                f.write_str("evicted: too many connections from this address without HELLO")
            }
            CloseReason::Reconfigured => f.write_str("the config changed"),
            CloseReason::AuthFailed => f.write_str(
                "authentication failed: the other side's proof does not match this node's secret \
                 (another secret_file?)",
            ),
            CloseReason::AuthRequired => f.write_str(
                "authentication required: this node has a secret_file, the other side sent a \
                 plain HELLO (no secret_file there?)",
            ),
            CloseReason::NoSecret => f.write_str(
                "the other side wants an authenticated handshake, but this node has no secret_file",
            ),
            CloseReason::NoRandom => f.write_str("no random bytes for a handshake nonce"),
            CloseReason::Done => f.write_str("done"),
            CloseReason::BadResponse(e) => write!(f, "bad HTTP response: {e}"),
            CloseReason::OldVersion => f.write_str(
                "the other side speaks the previous release's authenticated handshake (version \
                 1), this release only version 2: upgrade it",
            ),
        }
    }
}
