//! What the shell needs from the operating system: the two clocks, sockets set up the way
//! the mesh wants them, and the self-pipe that turns signals into poll events.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::IntoRawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream};
use mio::unix::pipe;
use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};

use crate::mesh::{CloseReason, IoOp};

/// Wall-clock milliseconds since the Unix epoch: only for log timestamps and file dates.
///
/// Test hook: `UPTIME_TRACKER_WALL_OFFSET_MS`, read once, shifts this clock (and only this
/// one): `OFFSET` (ms, may be negative) from the start, then optionally `,OFFSET@AFTER`
/// entries, each in force from `AFTER` ms after the first reading of the clock (a step
/// during the run). The tests use it to run the daemon across a UTC midnight and to step
/// its clock. Unset or invalid means no shift.
pub(super) fn wall_ms() -> i64 {
    static SHIFT: OnceLock<(Instant, Vec<(u64, i64)>)> = OnceLock::new();
    let (start, offsets) = SHIFT.get_or_init(|| {
        let spec = std::env::var("UPTIME_TRACKER_WALL_OFFSET_MS").unwrap_or_default();
        (Instant::now(), parse_offsets(&spec).unwrap_or_default())
    });
    let offset = match offsets.as_slice() {
        [] => 0,
        [(_, only)] => *only,
        more => {
            let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
            more.iter()
                .rev()
                .find(|&&(after, _)| after <= elapsed)
                .map_or(0, |&(_, offset)| offset)
        }
    };
    let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    now.saturating_add(offset)
}

/// `OFFSET[,OFFSET@AFTER]...` as (from ms after start, offset), in order; `None` if any
/// part is not a number or the times do not rise.
fn parse_offsets(spec: &str) -> Option<Vec<(u64, i64)>> {
    let mut offsets = Vec::new();
    for (i, part) in spec.split(',').enumerate() {
        let (offset, after) = match part.split_once('@') {
            Some((o, a)) if i > 0 => (o, a.trim().parse().ok()?),
            Some(_) => return None,
            None if i == 0 => (part, 0),
            None => return None,
        };
        if offsets.last().is_some_and(|&(last, _)| last >= after) && i > 0 {
            return None;
        }
        offsets.push((after, offset.trim().parse().ok()?));
    }
    Some(offsets)
}

pub(super) fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // A restarted daemon must get its port back while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    // Room for a whole mesh dialling at once (the kernel caps it at somaxconn): while
    // the engine's handshake slots are full, connections wait here, not refused.
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Linux's `TCP_RTO_MIN_US` (6.15 and later; not in the `libc` crate yet).
const TCP_RTO_MIN_US: libc::c_int = 45;

/// How every mesh socket (ours and accepted ones) is set up for the timings in force.
#[derive(Debug, Clone, Copy)]
pub(super) struct LinkTuning {
    /// `TCP_USER_TIMEOUT` ([`crate::mesh::user_timeout_ms`]): how long the kernel may
    /// hold unacknowledged data. The engine abandons a stuck link itself; this bounds
    /// what the kernel keeps retrying meanwhile (and on links nobody writes to).
    user_timeout: Duration,
    /// `TCP_RTO_MIN_US` ([`crate::mesh::rto_min_ms`]), microseconds.
    rto_min_us: libc::c_int,
}

impl LinkTuning {
    pub(super) fn new(interval_ms: u64, timeout_ms: u64) -> LinkTuning {
        let rto_min_ms = crate::mesh::rto_min_ms(timeout_ms);
        LinkTuning {
            user_timeout: Duration::from_millis(crate::mesh::user_timeout_ms(
                interval_ms,
                timeout_ms,
            )),
            rto_min_us: libc::c_int::try_from(rto_min_ms * 1000).unwrap_or(200_000),
        }
    }

    /// Sets the options on `socket`. A kernel without `TCP_RTO_MIN_US` (before 6.15)
    /// keeps its 200 ms floor: not an error here (see [`LinkTuning::kernel_refuses`]).
    pub(super) fn apply(&self, socket: &socket2::SockRef<'_>) -> io::Result<()> {
        socket.set_tcp_user_timeout(Some(self.user_timeout))?;
        // A link's stream is thin (a probe or a reply in flight at a time): without
        // backoff for its first retransmissions, a segment lost twice or three times in
        // a row still arrives within the probe's timeout (docs/protocol.md, "Links under
        // loss"). Linux has had it since 2.6.34.
        socket.set_tcp_thin_linear_timeouts(true)?;
        // Linux counts a stream as thin only once it has left its initial slow start
        // (`tcp_stream_is_thin`), which a loss ends under Reno or CUBIC but never under
        // BBR (it keeps `ssthresh` infinite): on a host whose default is BBR the linear
        // timeouts would never apply. Reno is built into every kernel and allowed to
        // every user; for one probe in flight the congestion control is otherwise moot.
        let _ = socket.set_tcp_congestion(b"reno");
        let _ = set_tcp_int(socket, TCP_RTO_MIN_US, self.rto_min_us);
        Ok(())
    }

    /// Why this kernel will not shorten the retransmission timeout as asked, if it
    /// will not: checked once at start on a socket of its own.
    pub(super) fn kernel_refuses(&self) -> Option<io::Error> {
        if self.rto_min_us >= 200_000 {
            return None; // nothing asked beyond Linux's default
        }
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).ok()?;
        set_tcp_int(
            &socket2::SockRef::from(&socket),
            TCP_RTO_MIN_US,
            self.rto_min_us,
        )
        .err()
    }

    /// The floor asked for, ms.
    pub(super) fn rto_min_ms(&self) -> i32 {
        self.rto_min_us / 1000
    }
}

/// `setsockopt(IPPROTO_TCP, opt, val)` for an `int` option.
fn set_tcp_int(
    socket: &socket2::SockRef<'_>,
    opt: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `val`, which lives
    // through the call; the descriptor is the socket's own.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            opt,
            (&raw const val).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether every byte written on `stream` is acknowledged by the other side's kernel,
/// and the kernel's smoothed round trip of the connection (µs): `TCP_INFO`, nothing
/// unacknowledged and nothing unsent. `None` if the kernel will not say (the probes
/// riding there are then left to their hedge, `src/mesh/ack.rs`).
pub(super) fn acked(stream: &TcpStream) -> Option<(bool, u64)> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero `tcp_info` is valid (integers only).
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which lives through the
    // call, and stores how many in `len`; the descriptor is the socket's own.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    // `tcpi_notsent_bytes` came with Linux 4.6: an older kernel's shorter answer cannot
    // tell unsent bytes apart.
    let needed = std::mem::offset_of!(libc::tcp_info, tcpi_notsent_bytes) + 4;
    if r != 0 || (len as usize) < needed {
        return None;
    }
    Some((
        info.tcpi_unacked == 0 && info.tcpi_notsent_bytes == 0,
        u64::from(info.tcpi_rtt),
    ))
}

pub(super) fn start_connect(
    addr: SocketAddr,
    bind: Option<IpAddr>,
    tuning: LinkTuning,
) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    tuning.apply(&socket2::SockRef::from(&socket))?;
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

/// Descriptors the daemon needs beyond four per peer (two links and two accepted
/// connections, [`crate::mesh::LINKS_PER_PEER`]): stdio, the poller, the signal pipe, the listener, the log file, and room
/// for connections waiting for their handshake.
pub(super) const BASE_FDS: u64 = 16;

/// Descriptors per peer: our links to it and its links to us.
const FDS_PER_PEER: u64 = 2 * crate::mesh::LINKS_PER_PEER as u64;

/// Raises the soft `RLIMIT_NOFILE` toward the hard limit so `peers` fit, and returns the
/// soft limit now in force. Fails, saying the numbers, when even the hard limit is too
/// low: descriptors run out at run time would be this machine's trouble, logged for
/// nobody, and peers would stay unprobed.
#[allow(clippy::useless_conversion)] // rlim_t is u64 here, u32 on some 32-bit C libraries
pub(super) fn raise_nofile(peers: usize) -> Result<u64, String> {
    let need = FDS_PER_PEER * peers as u64 + BASE_FDS;
    // Headroom for every connection that may wait for its handshake (each peer's address
    // has its places, strangers theirs: see mesh::admission) and for redials.
    let waiting = crate::mesh::MAX_PENDING_PER_SOURCE * peers + crate::mesh::MAX_STRANGERS;
    let want = need + waiting as u64 + 32;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    let (soft, hard) = (u64::from(lim.rlim_cur), u64::from(lim.rlim_max));
    if soft < want {
        let raised = libc::rlimit {
            rlim_cur: libc::rlim_t::try_from(want.min(hard)).unwrap_or(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        }
    }
    let now = u64::from(lim.rlim_cur);
    if now < need {
        return Err(format!(
            "this mesh needs at least {need} open files ({FDS_PER_PEER} per peer + {BASE_FDS}), but the limit is {now} (hard limit {hard}): raise it (ulimit -n, systemd LimitNOFILE=)"
        ));
    }
    Ok(now.max(soft))
}

/// Whether an error is this machine's shortage (descriptors, memory, buffers): at
/// `accept`, the connections stay queued until there is room again.
pub(super) fn is_shortage(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Why a socket operation `op` failed with `e`, as the engine is told it: this machine's
/// own trouble (a shortage, or no local address to connect from), which says nothing
/// about the peer, or the peer's (or the path's). The one place errors are classified.
pub(super) fn close_reason(op: IoOp, e: &io::Error) -> CloseReason {
    let errno = e.raw_os_error().unwrap_or(0);
    if is_shortage(e) || errno == libc::EADDRNOTAVAIL {
        CloseReason::Local { op, errno }
    } else {
        CloseReason::Io { op, errno }
    }
}

/// Makes stderr non-blocking when it is a pipe or a socket (a log collector), so a
/// reader that stops reading cannot stop the daemon: a report that does not fit is
/// dropped instead. A terminal or a file is left as it is (they do not fill up like a
/// pipe, and a terminal's flags are shared with the shell).
pub(super) fn stderr_nonblocking() {
    // SAFETY: fstat and fcntl on fd 2 only read and set that descriptor's flags.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(2, &mut st) != 0 {
            return;
        }
        let kind = st.st_mode & libc::S_IFMT;
        if kind == libc::S_IFIFO || kind == libc::S_IFSOCK {
            let flags = libc::fcntl(2, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(2, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
    }
}

/// Whether a non-blocking connect has finished: `None` while in progress (any wake-up
/// before is spurious), else its outcome. It is done when the socket reports an error or
/// has a peer address (mio's `TcpStream::connect` documentation).
pub(super) fn connect_outcome(stream: &TcpStream) -> Option<io::Result<()>> {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => Some(Err(e)),
        Ok(None) => match stream.peer_addr() {
            Ok(_) => Some(Ok(())),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
            Err(e) => Some(Err(e)),
        },
    }
}

/// Whether `ip` is an address of this machine: binding to it succeeds.
pub(super) fn is_local(ip: IpAddr) -> bool {
    let addr = SocketAddr::new(ip, 0);
    Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .and_then(|s| s.bind(&addr.into()))
        .is_ok()
}

/// Write end of the signal pipe, for the signal handler.
static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = SIGNAL_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // The loop tells the signals apart by this byte (all handled ones are < 256).
        let byte = u8::try_from(signal).unwrap_or(0);
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

/// Fills `buf` with random bytes from the OS (`getrandom(2)`, retried on `EINTR` and
/// short reads; `/dev/urandom` where the kernel lacks the call).
#[cfg(feature = "auth")]
pub(crate) fn os_random(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        // SAFETY: writes at most `rest.len()` bytes into `rest`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ENOSYS) => {
                    use std::io::Read as _;
                    return std::fs::File::open("/dev/urandom")?.read_exact(rest);
                }
                _ => return Err(e),
            }
        }
        filled += n as usize;
    }
    Ok(())
}

/// The signals the daemon handles.
const HANDLED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGCHLD];

/// Blocks (`SIG_BLOCK`) or unblocks (`SIG_UNBLOCK`) the signals the daemon handles.
fn mask_handled(how: libc::c_int) {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; the calls
    // touch only it and this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in HANDLED {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// Holds SIGINT, SIGTERM, SIGHUP and SIGCHLD pending from the very start of `run` until
/// [`install_signal_pipe`] has their handlers: before that, their default action would
/// kill the daemon (a `systemctl reload` right after a start) mid-start-up.
pub(super) fn hold_signals() {
    mask_handled(libc::SIG_BLOCK);
}

/// Routes SIGINT, SIGTERM (stop), SIGHUP (reload) and SIGCHLD (a hook ended) into a pipe
/// the poll loop watches (the self-pipe trick), one byte per signal, its number: each
/// wakes the loop and is handled between events, never mid-write.
pub(super) fn install_signal_pipe() -> io::Result<pipe::Receiver> {
    let (sender, receiver) = pipe::new()?;
    // The write end lives as long as the process: the handler may run at any time.
    SIGNAL_FD.store(sender.into_raw_fd(), Ordering::Relaxed);
    for signal in HANDLED {
        // SAFETY: a zeroed sigaction is a valid starting point; the handler only calls
        // async-signal-safe functions.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            // A stopped or continued hook is no news: only its end is.
            action.sa_flags = libc::SA_RESTART | libc::SA_NOCLDSTOP;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    // What came while they were held is delivered now, to the handlers.
    mask_handled(libc::SIG_UNBLOCK);
    Ok(receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a link's socket is set to: linear timeouts with Reno (so the stream counts
    /// as thin under a BBR default), the user timeout, and the asked retransmission floor
    /// where the kernel takes it (Linux 6.15+; it reads back rounded up to a jiffy).
    #[test]
    fn link_sockets_resend_soon_and_without_backoff() {
        let tuning = LinkTuning::new(200, 300);
        assert_eq!(tuning.rto_min_ms(), 50);
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        let sock = socket2::SockRef::from(&socket);
        assert!(!sock.tcp_thin_linear_timeouts().unwrap());
        tuning.apply(&sock).unwrap();
        assert!(sock.tcp_thin_linear_timeouts().unwrap());
        let congestion = sock.tcp_congestion().unwrap();
        assert!(congestion.starts_with(b"reno\0"), "{congestion:?}");
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_millis(crate::mesh::user_timeout_ms(
                200, 300
            )))
        );
        let mut val: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        use std::os::fd::AsRawFd;
        // SAFETY: getsockopt writes at most `len` bytes into `val`.
        let r = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                TCP_RTO_MIN_US,
                (&raw mut val).cast(),
                &mut len,
            )
        };
        match tuning.kernel_refuses() {
            None => {
                assert_eq!(r, 0);
                assert!((50_000..60_000).contains(&val), "TCP_RTO_MIN_US {val}");
            }
            Some(e) => eprintln!("this kernel has no TCP_RTO_MIN_US ({e}): not checked"),
        }
        // A timeout that asks for Linux's default floor asks nothing of the kernel.
        assert!(LinkTuning::new(1000, 1500).kernel_refuses().is_none());
    }

    #[test]
    fn only_this_machines_trouble_is_local() {
        let reason = |errno| close_reason(IoOp::Connect, &io::Error::from_raw_os_error(errno));
        for errno in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::EADDRNOTAVAIL,
        ] {
            assert_eq!(
                reason(errno),
                CloseReason::Local {
                    op: IoOp::Connect,
                    errno
                }
            );
            assert!(reason(errno).is_local());
        }
        for errno in [libc::ECONNREFUSED, libc::ECONNRESET, libc::ETIMEDOUT] {
            assert!(!reason(errno).is_local(), "{errno}");
        }
        let closed = close_reason(IoOp::Write, &io::Error::other("no errno"));
        assert_eq!(
            closed,
            CloseReason::Io {
                op: IoOp::Write,
                errno: 0
            }
        );
    }

    #[test]
    fn the_wall_clock_hook_reads_an_offset_or_a_schedule_of_steps() {
        assert_eq!(parse_offsets("-7000"), Some(vec![(0, -7000)]));
        assert_eq!(
            parse_offsets("5, 7200000@2500,5@5000"),
            Some(vec![(0, 5), (2500, 7_200_000), (5000, 5)])
        );
        for bad in ["", "x", "1@5", "0,1", "0,1@5,2@5", "0,1@x"] {
            assert_eq!(parse_offsets(bad), None, "{bad:?}");
        }
    }
}
