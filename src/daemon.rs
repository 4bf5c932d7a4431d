//! The I/O shell: one thread, one `mio::Poll`, the only code that touches sockets, signals
//! and the clock.
//!
//! Each peer has one outbound connection, used for this node's probes (`PING`, answered by
//! `PONG`). The listener accepts the peers' own outbound connections and answers their
//! probes. Every `interval` a round starts one probe per peer; each probe has a timer of
//! `timeout`. A peer that is not connected is reconnected in that round and its probe is
//! sent once the handshake completes; a connection that fails or closes fails every probe
//! in flight on it. The [`Tracker`] decides what each outcome means; the [`Journal`]
//! writes it.
//!
//! Limits: a line is at most [`MAX_LINE`] bytes, a connection's unsent output at most
//! [`MAX_OUTPUT`] bytes, at most [`MAX_PENDING`] accepted connections may be waiting for
//! their handshake, and a handshake must complete within [`HANDSHAKE_TIMEOUT_MS`]. One
//! readiness event reads at most [`MAX_READS_PER_EVENT`] times from a connection, so no
//! connection can keep the loop from its timers. Breaking a limit or the protocol closes that one connection with a reason on stderr;
//! the daemon goes on.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::IntoRawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream};
use mio::unix::pipe;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};

use crate::config::Config;
use crate::journal::Journal;
use crate::logline;
use crate::timer::{TimerId, Wheel};
use crate::tracker::{Change, ChangeKind, Tracker};
use crate::wire::framer::{Framer, MAX_LINE};
use crate::wire::message::{self, Message, PROTOCOL_VERSION};

/// Most unsent bytes queued on one connection; a peer that does not read is cut off.
pub const MAX_OUTPUT: usize = 16 * 1024;
/// Most accepted connections waiting for their `HELLO` at once.
pub const MAX_PENDING: usize = 16;
/// Most reads from one connection per readiness event (512 bytes each), so a peer that
/// floods cannot starve timers and other connections.
pub const MAX_READS_PER_EVENT: usize = 16;
/// Longest sleep between two checks of the wall clock's UTC day.
const MIDNIGHT_CHECK_MS: u64 = 60_000;
/// Time an accepted connection has to send a valid `HELLO`.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 5_000;

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
/// Outbound connection to node `i` has token `FIRST_LINK + i`; inbound connections follow.
const FIRST_LINK: usize = 2;

/// Why the daemon could not start or had to stop.
#[derive(Debug)]
pub struct DaemonError(String);

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DaemonError {}

fn startup(what: &str) -> impl FnOnce(io::Error) -> DaemonError + '_ {
    move |e| DaemonError(format!("{what}: {e}"))
}

/// Runs the daemon until SIGINT or SIGTERM. Returns an error if it cannot start (the
/// listener cannot bind, the log file cannot be opened) or if polling itself fails.
pub fn run(cfg: Config) -> Result<(), DaemonError> {
    let mut daemon = Daemon::new(cfg)?;
    daemon.run()
}

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Start the next probe round.
    Round,
    /// Switch the log to the new UTC day.
    Midnight,
    /// Probe `seq` of node `peer` has had no reply for `timeout`.
    Probe { peer: usize, seq: u64 },
    /// The outbound connection to `peer` has not completed its handshake within `timeout`.
    Connect { peer: usize },
    /// Inbound slot `slot` (connection number `id`) has not sent its `HELLO` in time.
    Handshake { slot: usize, id: u64 },
}

/// A connection's socket and buffers.
struct Conn {
    stream: TcpStream,
    input: Framer,
    output: Vec<u8>,
    /// How much of `output` is already written.
    written: usize,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            input: Framer::new(),
            output: Vec::new(),
            written: 0,
        }
    }

    /// Queues a message; fails if the peer is not reading its output.
    fn send(&mut self, msg: Message<'_>) -> Result<(), String> {
        queue(&mut self.output, &mut self.written, msg)
    }

    /// Writes queued output until done or the socket would block.
    fn flush(&mut self) -> Result<(), String> {
        while self.written < self.output.len() {
            let pending = self.output.get(self.written..).unwrap_or_default();
            match self.stream.write(pending) {
                Ok(0) => return Err("write returned 0".into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        self.output.clear();
        self.written = 0;
        Ok(())
    }

    /// Reads until the socket would block, handing each complete line to `on_line` with
    /// the output buffer for replies, and writing replies as it goes. Any error closes the
    /// connection. Returns `Ok(true)` when it stopped after [`MAX_READS_PER_EVENT`] reads
    /// with data still coming: the caller must come back to it, as no new edge-triggered
    /// event will arrive for data already waiting.
    fn pump(
        &mut self,
        mut on_line: impl FnMut(Message<'_>, &mut Outbox<'_>) -> Result<(), String>,
    ) -> Result<bool, String> {
        for _ in 0..MAX_READS_PER_EVENT {
            let spare = self.input.spare();
            if spare.is_empty() {
                return Err(format!("line longer than {MAX_LINE} bytes"));
            }
            match self.stream.read(spare) {
                Ok(0) => return Err(CLOSED_BY_PEER.into()),
                Ok(n) => self.input.commit(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            }
            let mut outbox = Outbox {
                output: &mut self.output,
                written: &mut self.written,
            };
            loop {
                let line = match self.input.next_line() {
                    Ok(Some(line)) => line,
                    Ok(None) => break,
                    Err(e) => return Err(e.to_string()),
                };
                let msg = message::parse(line).map_err(|e| format!("malformed line: {e}"))?;
                on_line(msg, &mut outbox)?;
            }
            // Write replies now, so the output limit applies to what the other side has
            // really left unread, not to a backlog of requests read in one go.
            if !self.output.is_empty() {
                self.flush()?;
            }
        }
        Ok(true)
    }
}

/// A connection's output buffer, lent to line handlers so they can reply.
struct Outbox<'a> {
    output: &'a mut Vec<u8>,
    written: &'a mut usize,
}

impl Outbox<'_> {
    fn send(&mut self, msg: Message<'_>) -> Result<(), String> {
        queue(self.output, self.written, msg)
    }
}

fn queue(output: &mut Vec<u8>, written: &mut usize, msg: Message<'_>) -> Result<(), String> {
    if *written > 0 {
        output.drain(..*written);
        *written = 0;
    }
    msg.encode(output);
    if output.len() > MAX_OUTPUT {
        return Err(format!(
            "more than {MAX_OUTPUT} bytes unsent: the other side is not reading"
        ));
    }
    Ok(())
}

/// The state of this node's outbound connection to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    /// No connection; the next round connects.
    Idle,
    /// Non-blocking connect in progress.
    Connecting,
    /// Connected, our `HELLO` sent, waiting for the peer's.
    Handshaking,
    /// Handshake done: probes flow.
    Ready,
}

struct Link {
    state: LinkState,
    conn: Option<Conn>,
    /// Deadline of the connect + handshake.
    timer: Option<TimerId>,
    /// Last error reported on stderr, so a peer that stays down is reported once.
    last_error: Option<String>,
}

/// An accepted connection.
struct Inbound {
    conn: Conn,
    from: SocketAddr,
    /// The node it authenticated as, once its `HELLO` checked out.
    peer: Option<usize>,
    /// Distinguishes successive connections in the same slot, for stale timers.
    id: u64,
    timer: Option<TimerId>,
}

struct Daemon {
    cfg: Config,
    poll: Poll,
    listener: TcpListener,
    signals: pipe::Receiver,
    wheel: Wheel<Timer>,
    tracker: Tracker<TimerId>,
    journal: Journal,
    /// Outbound links, indexed like `cfg.nodes` (this node's own entry stays idle).
    links: Vec<Link>,
    inbound: Vec<Option<Inbound>>,
    next_inbound_id: u64,
    /// Source address for outbound sockets: this node's ip, when it is an address here.
    bind_ip: Option<IpAddr>,
    start: Instant,
    /// Deadline of the round in progress, so rounds keep their cadence.
    round_at: u64,
    /// Rate limit for reports about strangers' connections.
    quiet_until: u64,
    stop: bool,
    /// Connections that stopped reading at [`MAX_READS_PER_EVENT`] with data left.
    unfinished: Vec<Token>,
}

impl Daemon {
    fn new(cfg: Config) -> Result<Daemon, DaemonError> {
        let poll = Poll::new().map_err(startup("cannot create the poller"))?;
        let listen = cfg.listen;
        let mut listener = bind_listener(listen)
            .map_err(|e| DaemonError(format!("cannot listen on {listen}: {e}")))?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(startup("cannot register the listener"))?;
        let mut signals =
            install_signal_pipe().map_err(startup("cannot install signal handlers"))?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(startup("cannot register the signal pipe"))?;

        let nodes: Vec<(&str, SocketAddr)> = cfg
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.addr))
            .collect();
        let wall = wall_ms();
        let journal = Journal::open(
            &cfg.log_folder,
            &cfg.whoami,
            cfg.offline_threshold,
            &nodes,
            wall,
        )
        .map_err(|e| DaemonError(format!("cannot open the log: {e}")))?;

        let own_ip = cfg.own().addr.ip();
        let bind_ip = is_local(own_ip).then_some(own_ip);
        let links = cfg
            .nodes
            .iter()
            .map(|_| Link {
                state: LinkState::Idle,
                conn: None,
                timer: None,
                last_error: None,
            })
            .collect();
        let tracker = Tracker::new(cfg.nodes.len(), cfg.offline_threshold);
        let daemon = Daemon {
            poll,
            listener,
            signals,
            wheel: Wheel::new(0),
            tracker,
            journal,
            links,
            inbound: Vec::new(),
            next_inbound_id: 0,
            bind_ip,
            start: Instant::now(),
            round_at: 0,
            quiet_until: 0,
            stop: false,
            unfinished: Vec::new(),
            cfg,
        };
        daemon.say(format_args!(
            "listening on {listen}, probing {} peers every {} ms (timeout {} ms, offline after {}), logging to {}",
            daemon.cfg.nodes.len() - 1,
            daemon.cfg.interval_ms,
            daemon.cfg.timeout_ms,
            daemon.cfg.offline_threshold,
            daemon.journal.path().display()
        ));
        Ok(daemon)
    }

    /// The poll loop: sleep until the next timer or I/O event; handle I/O, then timers.
    fn run(&mut self) -> Result<(), DaemonError> {
        let mut events = Events::with_capacity(256);
        let now = self.now();
        // Connect at once, so the first round (one interval from now) finds the links up.
        for peer in self.peer_indices() {
            self.connect(peer, now);
        }
        self.round_at = now + self.cfg.interval_ms;
        self.wheel.schedule(self.round_at, Timer::Round);
        self.schedule_midnight(now);

        while !self.stop {
            let timeout = if self.unfinished.is_empty() {
                self.wheel
                    .next_deadline()
                    .map(|at| Duration::from_millis(at.saturating_sub(self.now())))
            } else {
                // Connections with data left: just collect new events, then go on reading.
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(DaemonError(format!("poll: {e}")));
            }
            // One reading of the clock for the whole pass: a reply read in this pass was
            // there before any deadline this pass treats as expired, however long the
            // I/O below takes. Timers that fall due meanwhile wait for the next pass.
            let now = self.now();
            for token in std::mem::take(&mut self.unfinished) {
                self.on_event(token, now);
            }
            for event in events.iter() {
                self.on_event(event.token(), now);
            }
            while let Some((_, timer)) = self.wheel.pop_expired(now) {
                self.on_timer(timer, now);
            }
        }
        self.say(format_args!("stopping"));
        if let Err(e) = self.journal.sync() {
            self.say(format_args!("log: {e}"));
        }
        Ok(())
    }

    fn on_event(&mut self, token: Token, now: u64) {
        match token {
            LISTENER => self.accept(now),
            SIGNALS => self.on_signal(),
            Token(t) => match t.checked_sub(FIRST_LINK) {
                Some(i) if i < self.links.len() => self.on_link_event(i, now),
                Some(i) => self.on_inbound_event(i - self.links.len(), now),
                None => {}
            },
        }
    }

    /// Monotonic milliseconds since start: the clock of timers and the tracker.
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn peer_indices(&self) -> impl Iterator<Item = usize> + use<> {
        let me = self.cfg.me;
        (0..self.cfg.nodes.len()).filter(move |&i| i != me)
    }

    fn node_name(&self, i: usize) -> &str {
        self.cfg.nodes.get(i).map_or("?", |n| n.name.as_str())
    }

    /// A human-readable line on stderr, stamped with UTC time and this node's name.
    fn say(&self, msg: fmt::Arguments<'_>) {
        let mut stamp = String::with_capacity(24);
        logline::write_timestamp(&mut stamp, wall_ms());
        // Not eprintln!: it panics when stderr is a closed pipe (a dead log collector),
        // and a lost report must not stop the daemon.
        let _ = writeln!(io::stderr().lock(), "{stamp} {}: {msg}", self.cfg.whoami);
    }

    fn on_signal(&mut self) {
        let mut buf = [0u8; 16];
        loop {
            match self.signals.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => self.stop = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    fn on_timer(&mut self, timer: Timer, now: u64) {
        match timer {
            Timer::Round => self.round(now),
            Timer::Midnight => {
                self.roll_journal(wall_ms(), None);
                self.schedule_midnight(now);
            }
            Timer::Probe { peer, seq } => {
                if let Some((_, Some(change))) = self.tracker.miss(peer, seq, now) {
                    self.log_change(change);
                }
            }
            Timer::Connect { peer } => {
                if let Some(link) = self.links.get_mut(peer) {
                    link.timer = None;
                    if link.state != LinkState::Ready {
                        // The connection never came up, but nothing failed: each probe
                        // waiting for it still has its own deadline (DESIGN.md §2).
                        let ms = self.cfg.timeout_ms;
                        self.drop_link(peer, format!("no handshake within {ms} ms"));
                    }
                }
            }
            Timer::Handshake { slot, id } => {
                let waiting = self.inbound.get(slot).and_then(Option::as_ref);
                if waiting.is_some_and(|c| c.id == id && c.peer.is_none()) {
                    self.close_inbound(slot, "no HELLO in time", now);
                }
            }
        }
    }

    /// One probe round: a probe per peer, sent now if its link is ready, else once the
    /// (re)connection completes.
    fn round(&mut self, now: u64) {
        let interval = self.cfg.interval_ms;
        // Keep the cadence, but after a stall (SIGSTOP, suspend) start afresh from now.
        self.round_at = match self.round_at + interval {
            next if next > now => next,
            _ => now + interval,
        };
        self.wheel.schedule(self.round_at, Timer::Round);

        let deadline = now + self.cfg.timeout_ms;
        for peer in self.peer_indices() {
            let wheel = &mut self.wheel;
            let started = self.tracker.start_probe(peer, |seq| {
                wheel.schedule(deadline, Timer::Probe { peer, seq })
            });
            let Some(seq) = started else {
                self.say(format_args!(
                    "peer {}: too many probes in flight; round skipped",
                    self.node_name(peer)
                ));
                continue;
            };
            let Some(link) = self.links.get_mut(peer) else {
                continue;
            };
            match link.state {
                LinkState::Ready => {
                    let sent = match link.conn.as_mut() {
                        Some(conn) => conn.send(Message::Ping { seq }).and_then(|()| conn.flush()),
                        None => Err("no connection".into()),
                    };
                    if let Err(e) = sent {
                        self.fail_link(peer, e, now);
                    }
                }
                LinkState::Idle => self.connect(peer, now),
                LinkState::Connecting | LinkState::Handshaking => {}
            }
        }
    }

    /// Starts a non-blocking connect to `peer`. A connect that fails at once fails the
    /// link (and so the probes waiting for it).
    fn connect(&mut self, peer: usize, now: u64) {
        let Some(addr) = self.cfg.nodes.get(peer).map(|n| n.addr) else {
            return;
        };
        let bind = self.bind_ip.filter(|ip| ip.is_ipv4() == addr.is_ipv4());
        let result = start_connect(addr, bind).and_then(|mut stream| {
            self.poll
                .registry()
                .register(
                    &mut stream,
                    Token(FIRST_LINK + peer),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map(|()| stream)
        });
        match result {
            Ok(stream) => {
                let timer = self
                    .wheel
                    .schedule(now + self.cfg.timeout_ms, Timer::Connect { peer });
                if let Some(link) = self.links.get_mut(peer) {
                    link.state = LinkState::Connecting;
                    link.conn = Some(Conn::new(stream));
                    link.timer = Some(timer);
                }
            }
            Err(e) => self.fail_link(peer, format!("connect to {addr}: {e}"), now),
        }
    }

    fn on_link_event(&mut self, peer: usize, now: u64) {
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        let Some(conn) = link.conn.as_mut() else {
            return;
        };
        if link.state == LinkState::Connecting {
            // A non-blocking connect is done when the socket reports an error or has a peer
            // address; any other wake-up is spurious.
            match conn.stream.take_error() {
                Ok(Some(e)) | Err(e) => {
                    let reason = format!("connect: {e}");
                    return self.fail_link(peer, reason, now);
                }
                Ok(None) => {}
            }
            match conn.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    let reason = format!("connect: {e}");
                    return self.fail_link(peer, reason, now);
                }
            }
            let _ = conn.stream.set_nodelay(true);
            link.state = LinkState::Handshaking;
            let hello = Message::Hello {
                version: PROTOCOL_VERSION,
                name: &self.cfg.whoami,
            };
            if let Err(e) = conn.send(hello) {
                return self.fail_link(peer, e, now);
            }
        }

        let expected = self.cfg.nodes.get(peer).map_or("", |n| n.name.as_str());
        let tracker = &mut self.tracker;
        let wheel = &mut self.wheel;
        let state = &mut link.state;
        let mut settled: Vec<Change> = Vec::new();
        let mut handshake_done = false;
        let result = conn
            .pump(|msg, _out| match (msg, *state) {
                (Message::Hello { name, .. }, LinkState::Handshaking) => {
                    if name != expected {
                        return Err(format!(
                            "the node at this address says it is {name:?}, not {expected:?}"
                        ));
                    }
                    *state = LinkState::Ready;
                    handshake_done = true;
                    Ok(())
                }
                (Message::Pong { seq }, LinkState::Ready) => {
                    if let Some((timer, change)) = tracker.reply(peer, seq, now) {
                        wheel.cancel(timer);
                        settled.extend(change);
                    }
                    Ok(())
                }
                (Message::Unknown { .. }, _) => Ok(()),
                (msg, state) => Err(format!("unexpected {} while {state:?}", msg.verb())),
            })
            .and_then(|more| {
                if handshake_done {
                    // Probes started while the link was down go out now.
                    for seq in tracker.outstanding(peer) {
                        conn.send(Message::Ping { seq })?;
                    }
                }
                conn.flush().map(|()| more)
            });
        if handshake_done {
            if let Some(t) = link.timer.take() {
                self.wheel.cancel(t);
            }
            if link.last_error.take().is_some() {
                self.say(format_args!("peer {expected}: connected"));
            }
        }
        for change in settled {
            self.log_change(change);
        }
        match result {
            Ok(true) => self.unfinished.push(Token(FIRST_LINK + peer)),
            Ok(false) => {}
            Err(reason) => self.fail_link(peer, reason, now),
        }
    }

    /// Drops the outbound connection to `peer`: every probe in flight on it is a miss. The
    /// next round reconnects.
    fn fail_link(&mut self, peer: usize, reason: String, now: u64) {
        self.drop_link(peer, reason);
        let mut changes = Vec::new();
        let wheel = &mut self.wheel;
        self.tracker.miss_all(peer, now, |timer, change| {
            wheel.cancel(timer);
            changes.extend(change);
        });
        for change in changes {
            self.log_change(change);
        }
    }

    /// Closes the outbound connection to `peer` (reporting `reason` once) and leaves the
    /// probes in flight to their own timers. The next round reconnects.
    fn drop_link(&mut self, peer: usize, reason: String) {
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        if let Some(mut conn) = link.conn.take() {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
        if let Some(t) = link.timer.take() {
            self.wheel.cancel(t);
        }
        link.state = LinkState::Idle;
        let report = link.last_error.as_deref() != Some(reason.as_str());
        if report {
            link.last_error = Some(reason.clone());
            self.say(format_args!("peer {}: {reason}", self.node_name(peer)));
        }
    }

    fn accept(&mut self, now: u64) {
        loop {
            let (mut stream, from) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: not fatal.
                    self.say_quietly(now, format_args!("accept: {e}"));
                    return;
                }
            };
            let ip = from.ip().to_canonical();
            if !self.cfg.nodes.iter().any(|n| n.addr.ip() == ip) {
                self.say_quietly(
                    now,
                    format_args!("refused a connection from {from}: not a configured node"),
                );
                continue;
            }
            let pending = self
                .inbound
                .iter()
                .flatten()
                .filter(|c| c.peer.is_none())
                .count();
            if pending >= MAX_PENDING {
                self.say_quietly(
                    now,
                    format_args!(
                        "refused a connection from {from}: {MAX_PENDING} handshakes pending"
                    ),
                );
                continue;
            }
            let slot = match self.inbound.iter().position(Option::is_none) {
                Some(slot) => slot,
                None => {
                    self.inbound.push(None);
                    self.inbound.len() - 1
                }
            };
            let token = Token(FIRST_LINK + self.links.len() + slot);
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                self.say_quietly(now, format_args!("connection from {from}: {e}"));
                continue;
            }
            let _ = stream.set_nodelay(true);
            let id = self.next_inbound_id;
            self.next_inbound_id += 1;
            let timer = self
                .wheel
                .schedule(now + HANDSHAKE_TIMEOUT_MS, Timer::Handshake { slot, id });
            if let Some(entry) = self.inbound.get_mut(slot) {
                *entry = Some(Inbound {
                    conn: Conn::new(stream),
                    from,
                    peer: None,
                    id,
                    timer: Some(timer),
                });
            }
        }
    }

    fn on_inbound_event(&mut self, slot: usize, now: u64) {
        let Some(Some(inbound)) = self.inbound.get_mut(slot) else {
            return;
        };
        let nodes = &self.cfg.nodes;
        let me = self.cfg.me;
        let whoami = self.cfg.whoami.as_str();
        let from_ip = inbound.from.ip().to_canonical();
        let peer = &mut inbound.peer;
        let mut authenticated = None;
        let result = inbound
            .conn
            .pump(|msg, out| match (msg, *peer) {
                (Message::Hello { name, .. }, None) => {
                    let i = match nodes.iter().position(|n| n.name == name) {
                        None => return Err(format!("HELLO names {name:?}, not a configured node")),
                        Some(i) if i == me => return Err(format!("HELLO names this node, {name:?}")),
                        Some(i) => i,
                    };
                    let configured = nodes.get(i).map(|n| n.addr.ip());
                    if configured != Some(from_ip) {
                        let ip = configured.map_or_else(String::new, |ip| ip.to_string());
                        return Err(format!(
                            "HELLO names {name:?}, whose configured ip is {ip}, but comes from {from_ip}"
                        ));
                    }
                    *peer = Some(i);
                    authenticated = Some(i);
                    out.send(Message::Hello {
                        version: PROTOCOL_VERSION,
                        name: whoami,
                    })
                }
                (Message::Ping { seq }, Some(_)) => out.send(Message::Pong { seq }),
                // Before HELLO nothing else is accepted, not even an unknown verb: an
                // unauthenticated connection gets no way to keep the daemon busy.
                (Message::Unknown { .. }, Some(_)) => Ok(()),
                (msg, None) => Err(format!("{} before HELLO", msg.verb())),
                (msg, Some(_)) => Err(format!("unexpected {}", msg.verb())),
            })
            .and_then(|more| inbound.conn.flush().map(|()| more));
        match result {
            Ok(true) => self
                .unfinished
                .push(Token(FIRST_LINK + self.links.len() + slot)),
            Ok(false) => {}
            Err(reason) => return self.close_inbound(slot, &reason, now),
        }
        if let Some(peer) = authenticated {
            if let Some(t) = inbound.timer.take() {
                self.wheel.cancel(t);
            }
            // The peer reconnected: its older connections are dead from its side.
            let stale: Vec<usize> = self
                .inbound
                .iter()
                .enumerate()
                .filter(|(i, c)| *i != slot && c.as_ref().is_some_and(|c| c.peer == Some(peer)))
                .map(|(i, _)| i)
                .collect();
            for i in stale {
                self.close_inbound(i, "replaced by a newer connection", now);
            }
        }
    }

    /// Closes an inbound connection. Reported on stderr unless it is a peer closing its
    /// own connection, which is routine (it restarted or reconnected).
    fn close_inbound(&mut self, slot: usize, reason: &str, now: u64) {
        let Some(mut inbound) = self.inbound.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut inbound.conn.stream);
        if let Some(t) = inbound.timer {
            self.wheel.cancel(t);
        }
        match inbound.peer {
            None => self.say_quietly(
                now,
                format_args!("connection from {} closed: {reason}", inbound.from),
            ),
            Some(_) if reason == CLOSED_BY_PEER => {}
            Some(p) => self.say(format_args!(
                "connection from peer {} closed: {reason}",
                self.node_name(p)
            )),
        }
    }

    /// Reports on stderr at most once a second: strangers cannot flood the log.
    fn say_quietly(&mut self, now: u64, msg: fmt::Arguments<'_>) {
        if now >= self.quiet_until {
            self.quiet_until = now + 1000;
            self.say(msg);
        }
    }

    /// Arms the day-switch check for the next UTC midnight, or in a minute if that is
    /// sooner: timers run on the monotonic clock, so a step of the wall clock (NTP on a
    /// router without a real-time clock) is noticed within a minute.
    fn schedule_midnight(&mut self, now: u64) {
        let wait = logline::ms_until_next_midnight(wall_ms()).min(MIDNIGHT_CHECK_MS);
        self.wheel.schedule(now + wait.max(1), Timer::Midnight);
    }

    /// Moves the journal to the new UTC day's file, carrying over non-zero counts, except
    /// `skip`'s: a change about to be logged for it has already updated its count, and its
    /// own line follows.
    fn roll_journal(&mut self, wall: i64, skip: Option<usize>) {
        if !self.journal.needs_roll(wall) {
            return;
        }
        let threshold = self.cfg.offline_threshold;
        let tracker = &self.tracker;
        let carried: Vec<(&str, u32)> = self
            .cfg
            .peers()
            .filter(|&(p, _)| Some(p) != skip)
            .filter_map(|(p, node)| {
                let n = tracker.timeouts(p).min(threshold);
                (n != 0).then_some((node.name.as_str(), n))
            })
            .collect();
        if let Err(e) = self.journal.roll(wall, &carried) {
            self.say(format_args!("log: {e}"));
        }
    }

    fn log_change(&mut self, change: Change) {
        let wall = wall_ms();
        self.roll_journal(wall, Some(change.peer));
        let name = self.node_name(change.peer).to_string();
        if let Err(e) = self.journal.record(wall, &name, change.timeouts) {
            self.say(format_args!("log: {e}"));
        }
        match change.kind {
            ChangeKind::Missed => {}
            ChangeKind::WentOffline => self.say(format_args!(
                "peer {name} offline after {} timeouts",
                change.timeouts
            )),
            ChangeKind::Recovered { was_offline: true } => {
                self.say(format_args!("peer {name} back online"))
            }
            ChangeKind::Recovered { was_offline: false } => {}
        }
    }
}

const CLOSED_BY_PEER: &str = "closed by the other side";

/// Wall-clock milliseconds since the Unix epoch: only for log timestamps and file dates.
///
/// `UPTIME_TRACKER_WALL_OFFSET_MS`, read once, shifts this clock (and only this one): the
/// tests use it to run the daemon across a UTC midnight. Unset or invalid means 0.
fn wall_ms() -> i64 {
    static OFFSET: OnceLock<i64> = OnceLock::new();
    let offset = *OFFSET.get_or_init(|| {
        std::env::var("UPTIME_TRACKER_WALL_OFFSET_MS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    });
    let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    now.saturating_add(offset)
}

fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // A restarted daemon must get its port back while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

fn start_connect(addr: SocketAddr, bind: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    // Probes already detect a dead peer; keepalive only reaps connections to peers that
    // vanished while this node sent nothing (e.g. a very long interval).
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10));
    socket.set_tcp_keepalive(&keepalive)?;
    if let Some(ip) = bind {
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Whether `ip` is an address of this machine: binding to it succeeds.
fn is_local(ip: IpAddr) -> bool {
    let addr = SocketAddr::new(ip, 0);
    Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .and_then(|s| s.bind(&addr.into()))
        .is_ok()
}

/// Write end of the signal pipe, for the signal handler.
static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_stop_signal(_: libc::c_int) {
    let fd = SIGNAL_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the fd stays open for the process's life.
        // errno is saved and restored so the interrupted code sees its own.
        unsafe {
            let errno = errno_location();
            let saved = if errno.is_null() { 0 } else { *errno };
            libc::write(fd, (&raw const byte).cast(), 1);
            if !errno.is_null() {
                *errno = saved;
            }
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn errno_location() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno_location() }
}

#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
unsafe fn errno_location() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__error() }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd"
)))]
unsafe fn errno_location() -> *mut libc::c_int {
    std::ptr::null_mut()
}

/// Routes SIGINT and SIGTERM into a pipe the poll loop watches (the self-pipe trick), so a
/// stop request wakes the loop and is handled between events, never mid-write.
fn install_signal_pipe() -> io::Result<pipe::Receiver> {
    let (sender, receiver) = pipe::new()?;
    // The write end lives as long as the process: the handler may run at any time.
    SIGNAL_FD.store(sender.into_raw_fd(), Ordering::Relaxed);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid starting point; the handler only calls
        // async-signal-safe functions.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(receiver)
}
