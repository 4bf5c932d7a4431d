//! What the shell needs from the operating system: the two clocks, sockets set up the way
//! the mesh wants them, and the self-pipe that turns signals into poll events.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::IntoRawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream};
use mio::unix::pipe;
use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};

use crate::mesh::{CloseReason, IoOp};

/// Wall-clock milliseconds since the Unix epoch: only for log timestamps and file dates.
///
/// `UPTIME_TRACKER_WALL_OFFSET_MS`, read once, shifts this clock (and only this one): the
/// tests use it to run the daemon across a UTC midnight. Unset or invalid means 0.
pub(super) fn wall_ms() -> i64 {
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

pub(super) fn start_connect(
    addr: SocketAddr,
    bind: Option<IpAddr>,
    user_timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    // The engine abandons a link whose probe times out; this bounds what the kernel keeps
    // retrying meanwhile (and on links nobody writes to for a while).
    socket.set_tcp_user_timeout(Some(user_timeout))?;
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
}
