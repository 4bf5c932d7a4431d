//! Load harness: one real daemon against N−1 simulated peers, on loopback.
//!
//! ```text
//! cargo bench --bench load -- [--peers 999] [--interval 1000] [--timeout 1500]
//!     [--threshold 3] [--seconds 20] [--perf-seconds 5] [--no-perf] [--bin PATH]
//!     [--label TEXT] [--keep]
//! ```
//! (`scripts/load.sh ARGS` is the same.) `--bin` defaults to the release binary cargo
//! builds for this bench (`target/release/uptime-tracker`); point it at another build
//! (an older commit) to compare.
//!
//! Setup. The daemon is `node1` on 127.0.0.1; simulated peer `nodeK` (K = 2..=N) is on
//! 127.0.x.y, x.y counting up from 0.2 and skipping y = 0 and y = 255, so every source
//! address matches the config. All peers listen on one port (each bound to its own
//! address), the daemon on another; both below 32768 and free at start. The config (all
//! N nodes, `--interval`, `--timeout`, `--threshold`) and the log folder live in a temp
//! dir, removed on exit (`--keep` keeps it). The harness raises its `RLIMIT_NOFILE` to
//! the hard limit (it needs about 3 descriptors per peer; the daemon inherits it).
//!
//! Every peer behaves like a real node, with two links each way (`LINKS_PER_PEER`): two
//! threads, each one `mio` loop, serve all peers:
//! - the responder answers the daemon's links on each peer's listener (two kept per peer;
//!   a third replaces the one heard from least recently): `HELLO 1 nodeK` after the
//!   daemon's `HELLO`, then `PONG s` for each `PING s`, at once;
//! - the prober (main thread) keeps each peer's own two links to the daemon, connected
//!   from the peer's address: sends `HELLO 1 nodeK`, waits for the daemon's `HELLO`, then
//!   sends `PING seq` every interval on one link that is up (the first and the second in
//!   turn by `seq`: a clean peer of this version, hedged probes; loopback loses nothing,
//!   so no hedge is ever due), and times the `PONG` (the latency seen by peers). When:
//!   with `--schedule mesh` (the default) as a node of this version with an agreeing
//!   clock does (`src/mesh/probe.rs`): rounds on the wall clock's multiples of the
//!   interval, peer k's probe of the daemon in its slot (the daemon's place in k's
//!   rotation of the node list, `ceil((N-1)/16)` slots), so the peers' `PING`s arrive in
//!   the same slots as the daemon's own turns; with `--schedule even`, peer i of M at
//!   `i/M` of the interval (clocks that do not agree: one arrival every interval/M, the
//!   worst case for wake-ups). The first links all dial at once when the daemon starts (the worst case: a
//!   whole mesh (re)connecting), the second ones at each peer's first turn; a refused
//!   dial is retried after 10 ms (the daemon is not listening yet), any other failure at
//!   the peer's next turn (its phase in the next round, as a real node redials in its
//!   next round).
//!
//! Phases: start → full mesh (every peer's first link got the daemon's `HELLO` and the
//! daemon has completed its handshake with every peer's listener) → every link both ways
//! up → one more interval of warm-up → the measured window (`--seconds`) → the syscall
//! window (`--perf-seconds`,
//! with `perf stat` counting the daemon's syscall tracepoints, enabled only for that
//! window so its overhead stays out of the CPU figures; skipped with `--no-perf` or
//! when perf cannot attach, with the reason printed).
//!
//! Reports: the daemon's CPU (utime + stime of /proc/PID/stat over the window, and the
//! precise on-CPU time of /proc/PID/schedstat), RSS and peak (VmRSS, VmHWM), open
//! descriptors, context switches, syscalls per peer-round (one probe each way: the
//! harness's peers and the daemon each write theirs on one link while the peer is clean
//! (hedged probes, `src/mesh/probe.rs`), so the floor is 4: a read of each peer's `PING`
//! and a write of its `PONG`, a write of our `PING` and a read of its `PONG`), PONG
//! latency p50/p99/max seen by peers, PINGs without a PONG within `timeout`, the
//! daemon's probe rate as seen by the peers, time to full mesh, and every event line in
//! the daemon's log (a healthy run has none: each is a false event). The harness's own
//! CPU and loop lag (lateness of each scheduled PING) are reported too; above 80 % of a
//! core or 5 ms lag p99 it prints `HARNESS LIMITED`: the figures then describe the
//! harness, not the daemon. (Answering in a thread of its own keeps the daemon's bursts
//! of PINGs from delaying the prober's timing; both still share the machine's cores with
//! the daemon.) Last line: the summary as one JSON object. Progress goes to stderr.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};
use uptime_tracker::wire::{self, Framer, Message};

const DAEMON_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// Redial delay after a refused connect (the daemon's listener is not up yet).
const REFUSED_RETRY: Duration = Duration::from_millis(10);
/// Harness-limited thresholds.
const HARNESS_CPU_LIMIT: f64 = 80.0;
const HARNESS_LAG_LIMIT_MS: f64 = 5.0;
/// Links per peer each way: every node keeps two to each peer and, while the peer is clean,
/// writes each probe on one of them in turn (docs/protocol.md, "Links under loss"); the
/// simulated peers do the same.
const LINKS: usize = uptime_tracker::mesh::LINKS_PER_PEER;

const USAGE: &str = "\
usage: cargo bench --bench load -- [--peers N-1] [--interval MS] [--timeout MS]
           [--threshold N] [--seconds S] [--perf-seconds S] [--no-perf] [--bin PATH]
           [--label TEXT] [--keep] [--schedule mesh|even]
  --peers         simulated peers (the mesh has one more node: the daemon), 1..=1023; default 999
  --interval      probe interval, ms; default 1000
  --timeout       probe timeout, ms; default 1500
  --threshold     offline threshold; default 3
  --seconds       measured window, s; default 20
  --perf-seconds  syscall window with perf stat, s; default 5 (0 or --no-perf: skip)
  --bin           daemon binary; default the one cargo built for this bench
  --label         tag for the JSON summary (e.g. before / after)
  --keep          keep the temp dir (config, logs, daemon stderr)
  --schedule      when the peers probe: mesh (default: as nodes of this version with
                  agreeing clocks, on the wall clock's beat in slots) or even (peer i of M
                  at i/M of the interval: clocks that disagree, the worst case)";

// ---------------------------------------------------------------------------------------------
// Arguments

struct Args {
    peers: usize,
    interval: u64,
    timeout: u64,
    threshold: u32,
    seconds: u64,
    perf_seconds: u64,
    bin: PathBuf,
    label: String,
    keep: bool,
    /// The peers probe on this version's slots on the wall clock's beat (`true`), or
    /// evenly over the interval.
    mesh_schedule: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        peers: 999,
        interval: 1000,
        timeout: 1500,
        threshold: 3,
        seconds: 20,
        perf_seconds: 5,
        bin: PathBuf::from(env!("CARGO_BIN_EXE_uptime-tracker")),
        label: String::new(),
        keep: false,
        mesh_schedule: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: not a number: {v:?}"))
        }
        match arg.as_str() {
            "--peers" => a.peers = num("--peers", value("--peers")?)?,
            "--interval" => a.interval = num("--interval", value("--interval")?)?,
            "--timeout" => a.timeout = num("--timeout", value("--timeout")?)?,
            "--threshold" => a.threshold = num("--threshold", value("--threshold")?)?,
            "--seconds" => a.seconds = num("--seconds", value("--seconds")?)?,
            "--perf-seconds" => a.perf_seconds = num("--perf-seconds", value("--perf-seconds")?)?,
            "--no-perf" => a.perf_seconds = 0,
            "--bin" => a.bin = PathBuf::from(value("--bin")?),
            "--label" => a.label = value("--label")?,
            "--keep" => a.keep = true,
            "--schedule" => {
                a.mesh_schedule = match value("--schedule")?.as_str() {
                    "mesh" => true,
                    "even" => false,
                    v => return Err(format!("--schedule: mesh or even, not {v:?}")),
                }
            }
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if !(1..=1023).contains(&a.peers) {
        return Err("--peers must be in 1..=1023 (the config allows 1024 nodes)".into());
    }
    if a.interval == 0 || a.timeout == 0 || a.threshold == 0 || a.seconds == 0 {
        return Err("--interval, --timeout, --threshold and --seconds must be > 0".into());
    }
    Ok(a)
}

/// Address of node `k` (1-based): node1 is 127.0.0.1, then 127.0.0.2 ..= 127.0.0.254,
/// 127.0.1.1, ...
fn node_ip(k: usize) -> Ipv4Addr {
    let m = k - 1;
    Ipv4Addr::new(127, 0, (m / 254) as u8, (m % 254 + 1) as u8)
}

// ---------------------------------------------------------------------------------------------
// Resources cleaned up on exit

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

fn raise_nofile() -> u64 {
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            let _ = libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
        r.rlim_cur
    }
}

struct TempDir(PathBuf, bool);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "uptime-tracker-load-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir(&p)?;
        Ok(TempDir(p, false))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.1 {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process killed (`sig`, then SIGKILL) and reaped on drop.
struct ChildGuard {
    child: Child,
    sig: libc::c_int,
}

impl ChildGuard {
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: kill(2) on our own, not yet reaped, child.
        unsafe { libc::kill(self.pid(), self.sig) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawns with PR_SET_PDEATHSIG = SIGKILL, so the child dies with the harness even if
/// the harness itself is killed.
fn spawn_guarded(mut cmd: Command, sig: libc::c_int) -> io::Result<ChildGuard> {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    Ok(ChildGuard {
        child: cmd.spawn()?,
        sig,
    })
}

// ---------------------------------------------------------------------------------------------
// /proc and rusage

#[derive(Clone, Copy, Default)]
struct ProcSnap {
    at: Option<Instant>,
    utime: u64,
    stime: u64,
    sched_ns: u64,
    vol: u64,
    invol: u64,
    /// On-CPU ns of the harness's two threads.
    prober_ns: u64,
    responder_ns: u64,
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn status_field(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l[key.len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// On-CPU time of a thread (or process), ns, from its schedstat.
fn sched_ns(path: &str) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn snap(pid: i32, responder_tid: i32) -> ProcSnap {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest: Vec<&str> = stat
        .rfind(')')
        .map(|i| stat[i + 1..].split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0);
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    ProcSnap {
        at: Some(Instant::now()),
        utime: field(14),
        stime: field(15),
        sched_ns: sched_ns(&format!("/proc/{pid}/schedstat")),
        vol: status_field(&status, "voluntary_ctxt_switches:"),
        invol: status_field(&status, "nonvoluntary_ctxt_switches:"),
        prober_ns: sched_ns("/proc/thread-self/schedstat"),
        responder_ns: sched_ns(&format!("/proc/self/task/{responder_tid}/schedstat")),
    }
}

struct Usage {
    secs: f64,
    cpu_pct: f64,
    user_pct: f64,
    sys_pct: f64,
    sched_pct: f64,
    vol: u64,
    invol: u64,
    prober_pct: f64,
    responder_pct: f64,
}

fn usage(a: &ProcSnap, b: &ProcSnap) -> Usage {
    let secs = match (a.at, b.at) {
        (Some(x), Some(y)) => (y - x).as_secs_f64().max(1e-9),
        _ => 1e-9,
    };
    let tck = clk_tck();
    let pct = |ticks: u64| ticks as f64 / tck / secs * 100.0;
    let user = b.utime.saturating_sub(a.utime);
    let sys = b.stime.saturating_sub(a.stime);
    Usage {
        secs,
        cpu_pct: pct(user + sys),
        user_pct: pct(user),
        sys_pct: pct(sys),
        sched_pct: b.sched_ns.saturating_sub(a.sched_ns) as f64 / 1e9 / secs * 100.0,
        vol: b.vol.saturating_sub(a.vol),
        invol: b.invol.saturating_sub(a.invol),
        prober_pct: b.prober_ns.saturating_sub(a.prober_ns) as f64 / 1e9 / secs * 100.0,
        responder_pct: b.responder_ns.saturating_sub(a.responder_ns) as f64 / 1e9 / secs * 100.0,
    }
}

// ---------------------------------------------------------------------------------------------
// perf stat, enabled for the syscall window only

struct Perf {
    guard: ChildGuard,
    ctl: fs::File,
    ack: fs::File,
    out: PathBuf,
    err: PathBuf,
    acks: usize,
    acks_wanted: usize,
}

fn mkfifo(p: &Path) -> io::Result<()> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
    // SAFETY: a valid C string.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Syscalls counted one by one (the rest only in the `raw_syscalls` total). Not every
/// `syscalls:sys_enter_*` tracepoint: perf attaches and detaches each one separately, and
/// with all ~350 of them its exit takes 10-15 s (an RCU grace period per event).
const SYSCALLS: &[&str] = &[
    "read",
    "write",
    "readv",
    "writev",
    "recvfrom",
    "sendto",
    "recvmsg",
    "sendmsg",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_ctl",
    "accept",
    "accept4",
    "connect",
    "socket",
    "bind",
    "close",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "getsockname",
    "getpeername",
    "fcntl",
    "ioctl",
    "openat",
    "statx",
    "newfstatat",
    "futex",
    "clock_nanosleep",
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "madvise",
    "rt_sigreturn",
];

/// The `-e` list for perf: the raw_syscalls total and those of [`SYSCALLS`] this kernel
/// has. Err(reason) when perf or the tracepoints are missing.
fn perf_events() -> Result<Vec<String>, String> {
    let out = Command::new("perf")
        .args(["list", "syscalls:sys_enter_*", "raw_syscalls:*"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("perf: {e} (install linux-perf)"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let words: std::collections::HashSet<&str> = text.split_whitespace().collect();
    if !words.contains("raw_syscalls:sys_enter") {
        return Err("perf has no raw_syscalls:sys_enter tracepoint here".into());
    }
    let mut v = vec!["raw_syscalls:sys_enter".to_string()];
    for s in SYSCALLS {
        let e = format!("syscalls:sys_enter_{s}");
        if words.contains(e.as_str()) {
            v.push(e);
        }
    }
    Ok(v)
}

impl Perf {
    /// Starts `perf stat` attached to `pid`, counting disabled until [`Perf::send`]
    /// `enable`. It acknowledges each command on the ack fifo.
    fn start(pid: i32, dir: &Path, events: &[String]) -> io::Result<Perf> {
        use std::os::unix::fs::OpenOptionsExt;
        let ctl_p = dir.join("perf-ctl");
        let ack_p = dir.join("perf-ack");
        mkfifo(&ctl_p)?;
        mkfifo(&ack_p)?;
        // O_RDWR: opening never blocks, and the fifo stays open whatever perf does.
        let open = |p: &Path| {
            fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(p)
        };
        let ctl = open(&ctl_p)?;
        let ack = open(&ack_p)?;
        let out = dir.join("perf.csv");
        let err = dir.join("perf.err");
        let mut cmd = Command::new("perf");
        cmd.arg("stat")
            .arg("-x,")
            .arg("-o")
            .arg(&out)
            .args(["-D", "-1", "--control"])
            .arg(format!("fifo:{},{}", ctl_p.display(), ack_p.display()))
            .arg("-e")
            .arg(events.join(","))
            .arg("-p")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&err)?);
        let guard = spawn_guarded(cmd, libc::SIGINT)?;
        let mut p = Perf {
            guard,
            ctl,
            ack,
            out,
            err,
            acks: 0,
            acks_wanted: 0,
        };
        // A first `disable` (already disabled): its ack says perf is attached and ready.
        p.send("disable")?;
        Ok(p)
    }

    fn send(&mut self, cmd: &str) -> io::Result<()> {
        self.ctl.write_all(format!("{cmd}\n").as_bytes())?;
        self.acks_wanted += 1;
        Ok(())
    }

    /// True once every command sent so far is acknowledged. Err if perf died.
    fn settled(&mut self) -> Result<bool, String> {
        let mut buf = [0u8; 256];
        loop {
            match self.ack.read(&mut buf) {
                Ok(n) if n > 0 => {
                    self.acks += buf[..n].windows(3).filter(|w| w == b"ack").count();
                }
                _ => break,
            }
        }
        if self.acks >= self.acks_wanted {
            return Ok(true);
        }
        if let Ok(Some(st)) = self.guard.child.try_wait() {
            let err = fs::read_to_string(&self.err).unwrap_or_default();
            let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(format!("perf exited ({st}): {first}"));
        }
        Ok(false)
    }

    /// Asks perf to stop and write its counts (it exits on SIGINT).
    fn interrupt(&mut self) {
        // SAFETY: kill(2) on our own, not yet reaped, child.
        unsafe { libc::kill(self.guard.pid(), libc::SIGINT) };
    }

    fn exited(&mut self) -> bool {
        matches!(self.guard.child.try_wait(), Ok(Some(_)))
    }

    /// Stops perf (if it still runs) and reads its counts: (event, count), with the
    /// `syscalls:sys_enter_` prefix stripped; the raw_syscalls total is `sys_enter`.
    fn finish(mut self) -> Vec<(String, u64)> {
        self.guard.stop();
        let text = fs::read_to_string(&self.out).unwrap_or_default();
        let mut v = Vec::new();
        for l in text.lines() {
            let f: Vec<&str> = l.split(',').collect();
            if f.len() < 3 {
                continue;
            }
            let Ok(n) = f[0].parse::<u64>() else { continue };
            let name = f[2]
                .trim_start_matches("syscalls:sys_enter_")
                .trim_start_matches("raw_syscalls:");
            v.push((name.to_string(), n));
        }
        v
    }
}

// ---------------------------------------------------------------------------------------------
// Simulated peers

struct Conn {
    stream: TcpStream,
    framer: Framer,
    out: Vec<u8>,
    hello: bool,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            framer: Framer::new(),
            out: Vec::new(),
            hello: false,
        }
    }

    /// Queues `bytes` and writes as much as the socket takes.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(bytes);
        self.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what is there and hands each message to `f`. A read shorter than the room
    /// offered means the socket is drained (edge-triggered: new data brings a new event),
    /// unless the event said the peer closed: then read on to the EOF. Ok(false) on EOF.
    fn pump(&mut self, read_closed: bool, mut f: impl FnMut(Message<'_>)) -> io::Result<bool> {
        loop {
            let spare = self.framer.spare();
            let room = spare.len();
            if room == 0 {
                return Err(io::Error::other("line too long"));
            }
            match self.stream.read(spare) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.framer.commit(n);
                    while let Some(line) = self.framer.next_line().map_err(io::Error::other)? {
                        match wire::parse(line) {
                            Ok(m) => f(m),
                            Err(e) => return Err(io::Error::other(format!("bad line: {e:?}"))),
                        }
                    }
                    if n < room && !read_closed {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Out {
    Down,
    Connecting,
    HelloSent,
    Up,
}

/// Connection errors, grouped by their text without the peer's name: (kind, count,
/// first instance).
#[derive(Default)]
struct Errors(Vec<(String, u64, String)>);

impl Errors {
    fn note(&mut self, e: String) {
        let kind = e
            .split_once(": ")
            .map_or(e.as_str(), |(_, k)| k)
            .to_string();
        match self.0.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, n, _)) => *n += 1,
            None => self.0.push((kind, 1, e)),
        }
    }
}

/// State shared by the two harness threads.
struct Shared {
    t_spawn: Instant,
    /// Set by the prober for the measured window; the responder counts while it is set.
    measuring: AtomicBool,
    stop: AtomicBool,
    /// Peers whose listener has completed a handshake with the daemon at least once, and
    /// the time of the last such first handshake (ns after the daemon's start).
    in_up: AtomicUsize,
    in_last_up_ns: AtomicU64,
    /// The same for all [`LINKS`] of the daemon's links to a peer (handshakes on that
    /// many connections).
    in_all_up: AtomicUsize,
    in_all_last_ns: AtomicU64,
    /// The responder thread's id, for its CPU time in /proc/self/task.
    responder_tid: AtomicI32,
}

// ---------------------------------------------------------------------------------------------
// The responder thread: every peer's listener, answering the daemon's links.

struct RPeer {
    name: String,
    listener: TcpListener,
    /// The daemon's links to this peer (it keeps [`LINKS`]), each with when it was last
    /// heard from: a third connection replaces the one heard from least recently, as a
    /// real node's listener does.
    inbound: [Option<(Conn, Instant)>; LINKS],
    up: bool,
    /// Handshakes completed with the daemon (whole run).
    handshakes: usize,
}

#[derive(Default)]
struct ResponderReport {
    /// In the measured window.
    daemon_pings: u64,
    closed: u64,
    replaced: u64,
    /// Whole run.
    strangers: u64,
    bad_hello: u64,
    errors: Errors,
}

struct Responder {
    poll: Poll,
    peers: Vec<RPeer>,
    shared: Arc<Shared>,
    report: ResponderReport,
    reply: Vec<u8>,
}

/// Responder tokens: `R_TOKENS * peer + R_LISTEN` for a peer's listener, `+ R_IN + slot`
/// for the daemon's links to it.
const R_TOKENS: usize = 1 + LINKS;
const R_LISTEN: usize = 0;
const R_IN: usize = 1;

impl Responder {
    fn run(mut self) -> ResponderReport {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        self.shared.responder_tid.store(tid, Ordering::SeqCst);
        let mut events = Events::with_capacity(1024);
        while !self.shared.stop.load(Ordering::Relaxed) {
            match self.poll.poll(&mut events, Some(Duration::from_millis(50))) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.report.errors.note(format!("responder: poll: {e}"));
                    break;
                }
            }
            for ev in events.iter() {
                let (i, kind) = (ev.token().0 / R_TOKENS, ev.token().0 % R_TOKENS);
                if i >= self.peers.len() {
                    continue;
                }
                if kind == R_LISTEN {
                    self.accept(i);
                } else {
                    self.inbound(i, kind - R_IN, ev);
                }
            }
        }
        self.report
    }

    fn accept(&mut self, i: usize) {
        loop {
            match self.peers[i].listener.accept() {
                Ok((mut stream, from)) => {
                    if from.ip() != DAEMON_IP {
                        self.report.strangers += 1;
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let p = &mut self.peers[i];
                    // A free slot, else the one heard from least recently.
                    let slot = p
                        .inbound
                        .iter()
                        .position(Option::is_none)
                        .unwrap_or_else(|| {
                            (0..LINKS)
                                .min_by_key(|&s| p.inbound[s].as_ref().map(|(_, t)| *t))
                                .unwrap_or(0)
                        });
                    if let Some((mut old, _)) = p.inbound[slot].take() {
                        let _ = self.poll.registry().deregister(&mut old.stream);
                        if self.shared.measuring.load(Ordering::Relaxed) {
                            self.report.replaced += 1;
                        }
                    }
                    let token = Token(R_TOKENS * i + R_IN + slot);
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, token, Interest::READABLE)
                        .is_err()
                    {
                        continue;
                    }
                    p.inbound[slot] = Some((Conn::new(stream), Instant::now()));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    let msg = format!("{}: accept: {e}", self.peers[i].name);
                    self.report.errors.note(msg);
                    return;
                }
            }
        }
    }

    /// A daemon's link to peer `i` (in `slot`): answer its HELLO, then each PING, at once.
    fn inbound(&mut self, i: usize, slot: usize, ev: &Event) {
        let p = &mut self.peers[i];
        let Some((c, heard)) = p.inbound.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        *heard = Instant::now();
        let reply = &mut self.reply;
        reply.clear();
        let mut pings = 0u64;
        let mut hello: Option<bool> = None;
        let r = c.pump(ev.is_read_closed() || ev.is_error(), |m| match m {
            Message::Hello { name, .. } => hello = Some(name == "node1"),
            Message::Ping { seq } => {
                pings += 1;
                Message::Pong { seq }.encode(reply);
            }
            _ => {}
        });
        let mut open = matches!(r, Ok(true));
        if let Some(good) = hello {
            if !good {
                self.report.bad_hello += 1;
            }
            if !c.hello {
                c.hello = true;
                // Our HELLO goes before the PONGs of PINGs that came with theirs.
                let mut h = Vec::new();
                Message::Hello {
                    version: 1,
                    name: &p.name,
                }
                .encode(&mut h);
                h.extend_from_slice(reply);
                *reply = h;
                let ns = self.shared.t_spawn.elapsed().as_nanos() as u64;
                if !p.up {
                    p.up = true;
                    self.shared.in_last_up_ns.fetch_max(ns, Ordering::SeqCst);
                    self.shared.in_up.fetch_add(1, Ordering::SeqCst);
                }
                p.handshakes += 1;
                if p.handshakes == LINKS {
                    self.shared.in_all_last_ns.fetch_max(ns, Ordering::SeqCst);
                    self.shared.in_all_up.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        if !reply.is_empty() && open && c.send(reply).is_err() {
            open = false;
        }
        let measuring = self.shared.measuring.load(Ordering::Relaxed);
        if measuring {
            self.report.daemon_pings += pings;
        }
        if !open {
            if let Some((mut c, _)) = p.inbound[slot].take() {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
            if measuring {
                self.report.closed += 1;
            }
            let why = match r {
                Err(e) => e.to_string(),
                Ok(_) => "closed".into(),
            };
            let msg = format!("{}: daemon's link to us: {why}", self.peers[i].name);
            self.report.errors.note(msg);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The prober (main thread): every peer's own link to the daemon, PINGs on schedule.

/// One of a peer's own links to the daemon.
struct Link {
    conn: Option<Conn>,
    state: Out,
    /// Dial at the peer's next turn (after a failure, and the second link at the first).
    redial: bool,
}

struct Peer {
    name: String,
    ip: Ipv4Addr,
    /// Its own links to the daemon (token `LINKS * peer + link`); each PING goes out on
    /// every one that is up, and the first PONG counts.
    links: [Link; LINKS],
    /// When the daemon's HELLO first arrived on one of our links.
    up_at: Option<Instant>,
    /// When it first arrived on all of them.
    all_up_at: Option<Instant>,
    seq: u64,
    inflight: VecDeque<(u64, Instant)>,
    ever_up: bool,
}

impl Peer {
    fn any_up(&self) -> bool {
        self.links.iter().any(|l| l.state == Out::Up)
    }
}

/// Figures collected in the measured window.
#[derive(Default)]
struct Stats {
    rtt_us: Vec<u32>,
    lag_us: Vec<u32>,
    pings: u64,
    missing: u64,
    out_failures: u64,
}

#[derive(Default)]
struct Counters {
    refused: u64,
    closed_before_hello: u64,
    closed_after_up: u64,
    bad_hello: u64,
    errors: Errors,
}

struct Sim {
    poll: Poll,
    peers: Vec<Peer>,
    daemon_addr: SocketAddr,
    timeout: Duration,
    retries: BinaryHeap<Reverse<(Instant, usize, usize)>>,
    stats: Stats,
    counters: Counters,
    measuring: bool,
    /// Peers with one link up / with every link up (at least once).
    out_up: usize,
    out_all_up: usize,
    scratch: Vec<u8>,
}

impl Sim {
    fn dial(&mut self, i: usize, l: usize) {
        let p = &mut self.peers[i];
        let r = (|| -> io::Result<TcpStream> {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            s.set_nonblocking(true)?;
            s.set_tcp_nodelay(true)?;
            s.bind(&SocketAddr::V4(SocketAddrV4::new(p.ip, 0)).into())?;
            match s.connect(&self.daemon_addr.into()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) => return Err(e),
            }
            Ok(TcpStream::from_std(s.into()))
        })()
        .and_then(|mut stream| {
            self.poll.registry().register(
                &mut stream,
                Token(LINKS * i + l),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        let link = &mut p.links[l];
        match r {
            Ok(stream) => {
                link.conn = Some(Conn::new(stream));
                link.state = Out::Connecting;
            }
            Err(e) => {
                let msg = format!("{}: connect: {e}", p.name);
                self.counters.errors.note(msg);
                link.redial = true;
            }
        }
    }

    fn out_failed(&mut self, i: usize, l: usize, why: io::Error, now: Instant) {
        let p = &mut self.peers[i];
        let link = &mut p.links[l];
        if let Some(mut c) = link.conn.take() {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
        let state = link.state;
        link.state = Out::Down;
        if self.measuring {
            self.stats.out_failures += 1;
        }
        // The probes in flight fail only if no other link carries them.
        if !p.any_up() {
            if self.measuring {
                self.stats.missing += p.inflight.len() as u64;
            }
            p.inflight.clear();
        }
        let refused = why.kind() == ErrorKind::ConnectionRefused;
        // Refused before the first handshake: the daemon is not listening yet, retry
        // soon. Otherwise redial at this peer's next turn, as a real node's next round.
        let soon = refused && !p.ever_up;
        let link = &mut p.links[l];
        link.redial = !soon;
        match (refused, state) {
            (true, _) => self.counters.refused += 1,
            (false, Out::Up) => self.counters.closed_after_up += 1,
            _ => self.counters.closed_before_hello += 1,
        }
        if !refused {
            let msg = format!("{}: our link to the daemon: {why}", p.name);
            self.counters.errors.note(msg);
        }
        if soon {
            self.retries.push(Reverse((now + REFUSED_RETRY, i, l)));
        }
    }

    /// One of peer `i`'s own links to the daemon.
    fn on_event(&mut self, ev: &Event) {
        let (i, l) = (ev.token().0 / LINKS, ev.token().0 % LINKS);
        let now = Instant::now();
        let Some(p) = self.peers.get_mut(i) else {
            return;
        };
        let link = &mut p.links[l];
        let Some(c) = link.conn.as_mut() else { return };
        if link.state == Out::Connecting {
            if let Ok(Some(e)) | Err(e) = c.stream.take_error() {
                return self.out_failed(i, l, e, now);
            }
            match c.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(e) => return self.out_failed(i, l, e, now),
            }
            let mut h = Vec::new();
            Message::Hello {
                version: 1,
                name: &p.name,
            }
            .encode(&mut h);
            if let Err(e) = c.send(&h) {
                return self.out_failed(i, l, e, now);
            }
            link.state = Out::HelloSent;
        } else if ev.is_writable()
            && !c.out.is_empty()
            && let Err(e) = c.flush()
        {
            return self.out_failed(i, l, e, now);
        }
        if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
            return;
        }
        let mut hello: Option<bool> = None;
        let mut pongs: Vec<u64> = Vec::new();
        let r = c.pump(ev.is_read_closed() || ev.is_error(), |m| match m {
            Message::Hello { name, .. } => hello = Some(name == "node1"),
            Message::Pong { seq } => pongs.push(seq),
            _ => {}
        });
        if let Some(good) = hello {
            if !good {
                self.counters.bad_hello += 1;
            }
            if link.state == Out::HelloSent {
                link.state = Out::Up;
                p.ever_up = true;
                if p.up_at.is_none() {
                    p.up_at = Some(now);
                    self.out_up += 1;
                }
                if p.all_up_at.is_none() && p.links.iter().all(|l| l.state == Out::Up) {
                    p.all_up_at = Some(now);
                    self.out_all_up += 1;
                }
            }
        }
        // The first PONG of a probe counts; its copy on the other link finds it gone.
        for seq in pongs {
            let Some(k) = p.inflight.iter().position(|&(s, _)| s == seq) else {
                continue;
            };
            let Some((_, sent)) = p.inflight.remove(k) else {
                continue;
            };
            if self.measuring {
                let us = (now - sent).as_micros().min(u32::MAX as u128) as u32;
                self.stats.rtt_us.push(us);
            }
        }
        match r {
            Ok(true) => {}
            Ok(false) => self.out_failed(i, l, ErrorKind::UnexpectedEof.into(), now),
            Err(e) => self.out_failed(i, l, e, now),
        }
    }

    /// Peer `i`'s turn in the round: count PINGs unanswered within `timeout`, redial
    /// links that are down, send one PING on every link that is up.
    fn ping(&mut self, i: usize, now: Instant) {
        let timeout = self.timeout;
        let p = &mut self.peers[i];
        while let Some(&(_, sent)) = p.inflight.front() {
            if now - sent < timeout {
                break;
            }
            p.inflight.pop_front();
            if self.measuring {
                self.stats.missing += 1;
            }
        }
        for l in 0..LINKS {
            let link = &mut self.peers[i].links[l];
            if link.conn.is_none() && link.redial {
                link.redial = false;
                self.dial(i, l);
            }
        }
        let p = &mut self.peers[i];
        if !p.any_up() {
            return;
        }
        p.seq += 1;
        let mut b = std::mem::take(&mut self.scratch);
        b.clear();
        Message::Ping { seq: p.seq }.encode(&mut b);
        p.inflight.push_back((p.seq, Instant::now()));
        if self.measuring {
            self.stats.pings += 1;
        }
        // One link, the first and the second in turn (a clean peer's hedged probe).
        // (`any_up` above: at least one is.)
        let up = |l: usize| p.links[l].state == Out::Up;
        let l = match (up(0), up(1)) {
            (true, true) => (p.seq % 2) as usize,
            (first, _) => usize::from(!first),
        };
        let sent = p.links[l].conn.as_mut().map(|c| c.send(&b));
        self.scratch = b;
        if let Some(Err(e)) = sent {
            self.out_failed(i, l, e, now);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Setup

/// When the peers' rounds start and each peer's phase within a round: with `--schedule
/// mesh` as `src/mesh/probe.rs` places a node's turns (the first multiple of the interval
/// on the wall clock, then peer k's slot for the daemon: the daemon's rank in k's rotation
/// of the node list, counted from the node after k), else peer i at i/M of the interval.
fn schedule(a: &Args, t_spawn: Instant) -> (Instant, Vec<Duration>) {
    let interval_ns = u128::from(a.interval) * 1_000_000;
    let m = a.peers as u128;
    if !a.mesh_schedule {
        let phases = (0..a.peers)
            .map(|i| Duration::from_nanos((i as u128 * interval_ns / m) as u64))
            .collect();
        return (t_spawn, phases);
    }
    let n = m + 1; // nodes: the daemon is node1 (index 0), peer i is node i + 2
    let slots = m.div_ceil(uptime_tracker::mesh::BURST as u128).clamp(1, 64);
    let phases = (0..a.peers)
        .map(|i| {
            let k = i as u128 + 1; // peer i's index in the node list
            let rank = (n - k) % n - 1; // the daemon's rank in k's rotation
            let slot = (rank * slots / m).min(slots - 1);
            Duration::from_nanos((interval_ns * slot / slots) as u64)
        })
        .collect();
    let wall_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let to_beat = (interval_ns - wall_ns % interval_ns) % interval_ns;
    (t_spawn + Duration::from_nanos(to_beat as u64), phases)
}

/// A small PRNG for port choice.
fn rand_port(state: &mut u64) -> u16 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (10_000 + *state % 22_000) as u16
}

fn bind_listener(ip: Ipv4Addr, port: u16) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(ip, port)).into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(TcpListener::from_std(s.into()))
}

/// Binds every peer's listener on one port, free on all their addresses; and picks a
/// different port free on the wildcard address for the daemon.
fn choose_ports(peers: usize) -> io::Result<(u16, u16, Vec<TcpListener>)> {
    let mut seed = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id()))
        | 1;
    for _ in 0..200 {
        let daemon = rand_port(&mut seed);
        let peer = rand_port(&mut seed);
        if daemon == peer || std::net::TcpListener::bind(("0.0.0.0", daemon)).is_err() {
            continue;
        }
        let ls: io::Result<Vec<TcpListener>> = (2..=peers + 1)
            .map(|k| bind_listener(node_ip(k), peer))
            .collect();
        if let Ok(ls) = ls {
            return Ok((daemon, peer, ls));
        }
    }
    Err(io::Error::other("no free ports found below 32768"))
}

fn write_config(path: &Path, a: &Args, daemon_port: u16, peer_port: u16) -> io::Result<()> {
    let mut s = format!(
        "whoami = \"node1\"\ninterval = {}\ntimeout = {}\noffline_threshold = {}\n\
         log_folder = \"logs\"\n",
        a.interval, a.timeout, a.threshold
    );
    for k in 1..=a.peers + 1 {
        let port = if k == 1 { daemon_port } else { peer_port };
        let _ = write!(
            s,
            "\n[[nodes]]\nname = \"node{k}\"\nip = \"{}\"\nport = {port}\n",
            node_ip(k)
        );
    }
    fs::write(path, s)
}

// ---------------------------------------------------------------------------------------------
// Report helpers

fn pct_ms(sorted: &[u32], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(f64::from(sorted[idx]) / 1000.0)
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.prec$}"))
}

fn json_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("null".into(), |x| format!("{x:.prec$}"))
}

fn json_str(s: &str) -> String {
    uptime_tracker::json::string(s)
}

fn log_events(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut v = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).unwrap_or_default();
        v.extend(
            text.lines()
                .filter(|l| *l != "---" && !l.starts_with("0.0.3|") && !l.is_empty())
                .map(str::to_string),
        );
    }
    v
}

fn proc_mem(pid: i32) -> (u64, u64, usize) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |rd| rd.count());
    (
        status_field(&status, "VmRSS:"),
        status_field(&status, "VmHWM:"),
        fds,
    )
}

// ---------------------------------------------------------------------------------------------
// Main

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Phase {
    Mesh,
    Warmup,
    Window,
    PerfStart,
    PerfWindow,
    PerfStop,
    PerfExit,
    Done,
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    install_signal_handlers();
    match run(&args) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(1);
        }
    }
}

fn run(a: &Args) -> Result<(), String> {
    let nofile = raise_nofile();
    let need = 3 * a.peers as u64 + 64;
    if nofile < need {
        return Err(format!(
            "RLIMIT_NOFILE hard limit {nofile} < {need} needed for {} peers",
            a.peers
        ));
    }
    if !a.bin.is_file() {
        return Err(format!("daemon binary {} not found", a.bin.display()));
    }
    let perf_ev = if a.perf_seconds > 0 {
        perf_events()
    } else {
        Err("--no-perf".to_string())
    };
    let mut perf_note = perf_ev.as_ref().err().cloned().unwrap_or_default();
    let mut tmp = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    tmp.1 = a.keep;
    let (daemon_port, peer_port, listeners) =
        choose_ports(a.peers).map_err(|e| format!("ports: {e}"))?;
    let cfg = tmp.0.join("mesh.toml");
    write_config(&cfg, a, daemon_port, peer_port).map_err(|e| format!("config: {e}"))?;

    // The responder thread owns the listeners; the prober (this thread) the peers' links.
    let rpoll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut rpeers = Vec::with_capacity(a.peers);
    for (i, mut l) in listeners.into_iter().enumerate() {
        rpoll
            .registry()
            .register(&mut l, Token(R_TOKENS * i + R_LISTEN), Interest::READABLE)
            .map_err(|e| format!("register: {e}"))?;
        rpeers.push(RPeer {
            name: format!("node{}", i + 2),
            listener: l,
            inbound: [const { None }; LINKS],
            up: false,
            handshakes: 0,
        });
    }
    let peers = (0..a.peers)
        .map(|i| Peer {
            name: format!("node{}", i + 2),
            ip: node_ip(i + 2),
            // The first link dials at once, the others at the peer's first turn, as a
            // node's engine does.
            links: std::array::from_fn(|l| Link {
                conn: None,
                state: Out::Down,
                redial: l > 0,
            }),
            up_at: None,
            all_up_at: None,
            seq: 0,
            inflight: VecDeque::new(),
            ever_up: false,
        })
        .collect();
    let interval = Duration::from_millis(a.interval);
    let mut sim = Sim {
        poll: Poll::new().map_err(|e| format!("poll: {e}"))?,
        peers,
        daemon_addr: SocketAddr::V4(SocketAddrV4::new(DAEMON_IP, daemon_port)),
        timeout: Duration::from_millis(a.timeout),
        retries: BinaryHeap::new(),
        stats: Stats::default(),
        counters: Counters::default(),
        measuring: false,
        out_up: 0,
        out_all_up: 0,
        scratch: Vec::new(),
    };

    // The daemon.
    let stderr_path = tmp.0.join("daemon.stderr");
    let mut cmd = Command::new(&a.bin);
    cmd.arg("run")
        .arg("--config")
        .arg(&cfg)
        .current_dir(&tmp.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).map_err(|e| e.to_string())?);
    let t_spawn = Instant::now();
    let shared = Arc::new(Shared {
        t_spawn,
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        in_up: AtomicUsize::new(0),
        in_last_up_ns: AtomicU64::new(0),
        in_all_up: AtomicUsize::new(0),
        in_all_last_ns: AtomicU64::new(0),
        responder_tid: AtomicI32::new(0),
    });
    let responder = Responder {
        poll: rpoll,
        peers: rpeers,
        shared: Arc::clone(&shared),
        report: ResponderReport::default(),
        reply: Vec::new(),
    };
    let responder = StopOnDrop {
        shared: Arc::clone(&shared),
        handle: Some(
            std::thread::Builder::new()
                .name("responder".into())
                .spawn(move || responder.run())
                .map_err(|e| format!("thread: {e}"))?,
        ),
    };
    while shared.responder_tid.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    let rtid = shared.responder_tid.load(Ordering::SeqCst);
    let daemon =
        spawn_guarded(cmd, libc::SIGKILL).map_err(|e| format!("{}: {e}", a.bin.display()))?;
    let pid = daemon.pid();
    for i in 0..a.peers {
        sim.dial(i, 0);
    }

    let (base, phases) = schedule(a, t_spawn);
    let mut order: Vec<usize> = (0..a.peers).collect();
    order.sort_by_key(|&i| (phases[i], i));
    let n_peers = a.peers as u64;
    let slot_due = |slot: u64| {
        let i = order[(slot % n_peers) as usize];
        base + interval * (slot / n_peers) as u32 + phases[i]
    };
    let mut slot: u64 = 0;
    let mut events = Events::with_capacity(1024);
    let mut phase = Phase::Mesh;
    let mesh_deadline = t_spawn + Duration::from_secs(30).max(interval * 10);
    let mut phase_end = mesh_deadline;
    let mut mesh_ms: Option<f64> = None;
    // (peers' links, daemon's links): when the last of each got its handshake.
    let mut mesh_split = (0.0, 0.0);
    // When every link, both ways, had its handshake (the second links are dialled at
    // each peer's first turn): the warm-up starts then.
    let mut all_links_ms: Option<f64> = None;
    let mut perf: Option<Perf> = None;
    let mut perf_counts: Vec<(String, u64)> = Vec::new();
    let (mut s0, mut s1, mut p0, mut p1) = Default::default();
    let window = Duration::from_secs(a.seconds);
    let perf_window = Duration::from_secs(a.perf_seconds);
    let perf_wait = Duration::from_secs(15);
    let mut last_alive_check = Instant::now();
    let mut last_phase = Phase::Mesh;

    println!(
        "load: daemon {} (pid {pid}) as node1 on {DAEMON_IP}:{daemon_port}, {} simulated peers \
         on {}..{} port {peer_port}",
        a.bin.display(),
        a.peers,
        node_ip(2),
        node_ip(a.peers + 1)
    );

    while phase != Phase::Done {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err("interrupted".into());
        }
        let now = Instant::now();
        // Scheduled PINGs, each peer at its phase.
        while slot_due(slot) <= now {
            let i = order[(slot % n_peers) as usize];
            if sim.measuring {
                let lag = (now - slot_due(slot)).as_micros().min(u32::MAX as u128) as u32;
                sim.stats.lag_us.push(lag);
            }
            sim.ping(i, now);
            slot += 1;
        }
        while let Some(&Reverse((at, i, l))) = sim.retries.peek() {
            if at > now {
                break;
            }
            sim.retries.pop();
            if sim.peers[i].links[l].conn.is_none() {
                sim.dial(i, l);
            }
        }
        // Phases.
        match phase {
            Phase::Mesh => {
                if mesh_ms.is_none()
                    && sim.out_up == a.peers
                    && shared.in_up.load(Ordering::SeqCst) == a.peers
                {
                    let out_last = sim
                        .peers
                        .iter()
                        .filter_map(|p| p.up_at)
                        .max()
                        .unwrap_or(now);
                    let in_last = Duration::from_nanos(shared.in_last_up_ns.load(Ordering::SeqCst));
                    let last = (out_last - t_spawn).max(in_last);
                    mesh_ms = Some(last.as_secs_f64() * 1000.0);
                    mesh_split = (
                        (out_last - t_spawn).as_secs_f64() * 1000.0,
                        in_last.as_secs_f64() * 1000.0,
                    );
                }
                if sim.out_all_up == a.peers && shared.in_all_up.load(Ordering::SeqCst) == a.peers {
                    let out_last = sim
                        .peers
                        .iter()
                        .filter_map(|p| p.all_up_at)
                        .max()
                        .unwrap_or(now);
                    let in_last =
                        Duration::from_nanos(shared.in_all_last_ns.load(Ordering::SeqCst));
                    all_links_ms = Some((out_last - t_spawn).max(in_last).as_secs_f64() * 1000.0);
                }
                if all_links_ms.is_some() || now >= mesh_deadline {
                    if let Ok(ev) = &perf_ev {
                        match Perf::start(pid, &tmp.0, ev) {
                            Ok(p) => perf = Some(p),
                            Err(e) => perf_note = format!("perf not started: {e}"),
                        }
                    }
                    phase = Phase::Warmup;
                    phase_end = now + interval;
                }
            }
            Phase::Warmup => {
                let perf_ready = match perf.as_mut().map(Perf::settled) {
                    None | Some(Ok(true)) => true,
                    Some(Ok(false)) => now >= phase_end + perf_wait,
                    Some(Err(e)) => {
                        perf_note = e;
                        perf = None;
                        true
                    }
                };
                if now >= phase_end && perf_ready {
                    if perf.as_mut().is_some_and(|p| p.settled() != Ok(true)) {
                        perf_note = "perf did not attach within 15 s".into();
                        perf = None;
                    }
                    phase = Phase::Window;
                    phase_end = now + window;
                    sim.stats = Stats::default();
                    sim.measuring = true;
                    s0 = snap(pid, rtid);
                    shared.measuring.store(true, Ordering::SeqCst);
                }
            }
            Phase::Window => {
                if now >= phase_end {
                    s1 = snap(pid, rtid);
                    shared.measuring.store(false, Ordering::SeqCst);
                    sim.measuring = false;
                    phase = match perf.as_mut().map(|p| p.send("enable")) {
                        Some(Ok(())) => Phase::PerfStart,
                        Some(Err(e)) => {
                            perf_note = format!("perf control: {e}");
                            Phase::Done
                        }
                        None => Phase::Done,
                    };
                    phase_end = now + perf_wait;
                }
            }
            Phase::PerfStart | Phase::PerfStop => {
                let p = perf.as_mut().expect("perf");
                match p.settled() {
                    Ok(true) if phase == Phase::PerfStart => {
                        p0 = snap(pid, rtid);
                        phase = Phase::PerfWindow;
                        phase_end = now + perf_window;
                    }
                    Ok(true) => {
                        p1 = snap(pid, rtid);
                        p.interrupt();
                        phase = Phase::PerfExit;
                        phase_end = now + Duration::from_secs(60);
                    }
                    Ok(false) if now < phase_end => {}
                    Ok(false) => {
                        perf_note = "perf did not acknowledge".into();
                        perf = None;
                        phase = Phase::Done;
                    }
                    Err(e) => {
                        perf_note = e;
                        perf = None;
                        phase = Phase::Done;
                    }
                }
            }
            Phase::PerfWindow => {
                if now >= phase_end {
                    let p = perf.as_mut().expect("perf");
                    match p.send("disable") {
                        Ok(()) => {
                            phase = Phase::PerfStop;
                            phase_end = now + perf_wait;
                        }
                        Err(e) => {
                            perf_note = format!("perf control: {e}");
                            perf = None;
                            phase = Phase::Done;
                        }
                    }
                }
            }
            Phase::PerfExit => {
                // The loop keeps answering while perf writes its counts and exits.
                let p = perf.as_mut().expect("perf");
                if p.exited() || now >= phase_end {
                    perf_counts = perf.take().expect("perf").finish();
                    if perf_counts.is_empty() {
                        perf_note = "perf wrote no counts".into();
                    }
                    phase = Phase::Done;
                }
            }
            Phase::Done => {}
        }
        if phase != last_phase {
            eprintln!("[{:8.3} s] {phase:?}", t_spawn.elapsed().as_secs_f64());
            last_phase = phase;
        }
        if phase == Phase::Done {
            break;
        }
        // Sleep until the next due thing.
        let mut wake = slot_due(slot).min(phase_end);
        if let Some(&Reverse((at, _, _))) = sim.retries.peek() {
            wake = wake.min(at);
        }
        if matches!(
            phase,
            Phase::Warmup | Phase::PerfStart | Phase::PerfStop | Phase::PerfExit
        ) && perf.is_some()
        {
            wake = wake.min(now + Duration::from_millis(2));
        }
        let now = Instant::now();
        let wait = wake.saturating_duration_since(now);
        match sim.poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        if last_alive_check.elapsed() > Duration::from_millis(500) {
            last_alive_check = Instant::now();
            if daemon_exited(pid) {
                let err = fs::read_to_string(&stderr_path).unwrap_or_default();
                return Err(format!("the daemon exited; its stderr:\n{err}"));
            }
        }
        for ev in events.iter() {
            sim.on_event(ev);
        }
    }

    // Figures.
    // While the responder still answers the daemon: its log, its memory.
    let events_in_log = log_events(&tmp.0.join("logs"));
    let (rss, hwm, fds) = proc_mem(pid);
    let daemon_err = fs::read_to_string(&stderr_path).unwrap_or_default();
    let rr = responder.join();
    let u = usage(&s0, &s1);
    let peer_rounds = a.peers as f64 * u.secs * 1000.0 / a.interval as f64;
    let cpu_us_per_round = u.sched_pct / 100.0 * u.secs * 1e6 / peer_rounds;
    let mut rtt = std::mem::take(&mut sim.stats.rtt_us);
    rtt.sort_unstable();
    let mut lag = std::mem::take(&mut sim.stats.lag_us);
    lag.sort_unstable();
    let st = &sim.stats;
    let (p50, p99, pmax) = (
        pct_ms(&rtt, 0.50),
        pct_ms(&rtt, 0.99),
        rtt.last().map(|&v| f64::from(v) / 1000.0),
    );
    let lag99 = pct_ms(&lag, 0.99);
    let lagmax = lag.last().map(|&v| f64::from(v) / 1000.0);
    let harness_max = u.prober_pct.max(u.responder_pct);
    let limited = harness_max > HARNESS_CPU_LIMIT || lag99.unwrap_or(0.0) > HARNESS_LAG_LIMIT_MS;
    // Each of the daemon's probes goes out on one link (a clean peer: hedged probes).
    let expected_daemon_pings = peer_rounds;

    let sys_total = perf_counts
        .iter()
        .find(|(n, _)| n == "sys_enter")
        .map(|&(_, c)| c);
    let pu = usage(&p0, &p1);
    let perf_rounds = a.peers as f64 * pu.secs * 1000.0 / a.interval as f64;
    let mut per_call: Vec<(String, u64)> = perf_counts
        .iter()
        .filter(|(n, c)| n != "sys_enter" && *c > 0)
        .cloned()
        .collect();
    per_call.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let per_round = sys_total.map(|t| t as f64 / perf_rounds);
    // Wake-ups: returns of the epoll wait (glibc calls epoll_wait, musl epoll_pwait), per
    // round of the daemon (one node).
    let rounds = pu.secs * 1000.0 / a.interval as f64;
    let wakeups = sys_total.map(|_| {
        perf_counts
            .iter()
            .filter(|(n, _)| n.starts_with("epoll_wait") || n.starts_with("epoll_pwait"))
            .map(|&(_, c)| c as f64)
            .sum::<f64>()
            / rounds
    });

    let daemon_lines = group_daemon_lines(&daemon_err);

    // Human table.
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nmesh of {} nodes: interval {} ms, timeout {} ms, threshold {}; window {:.1} s \
         (after full mesh + 1 interval){}",
        a.peers + 1,
        a.interval,
        a.timeout,
        a.threshold,
        u.secs,
        if a.label.is_empty() {
            String::new()
        } else {
            format!("; label {}", a.label)
        }
    );
    let row = |o: &mut String, k: &str, v: String| {
        let _ = writeln!(o, "  {k:<34} {v}");
    };
    row(
        &mut o,
        "full mesh after start",
        match mesh_ms {
            Some(ms) => format!(
                "{ms:.0} ms (peers' links to the daemon all up at {:.0} ms, the daemon's \
                 links to the peers at {:.0} ms)",
                mesh_split.0, mesh_split.1
            ),
            None => format!(
                "NOT REACHED in {} s: peers' links up {}/{}, daemon's links up {}/{}",
                (mesh_deadline - t_spawn).as_secs(),
                sim.out_up,
                a.peers,
                shared.in_up.load(Ordering::SeqCst),
                a.peers
            ),
        },
    );
    row(
        &mut o,
        &format!("all {LINKS} links each way up"),
        match all_links_ms {
            Some(ms) => {
                format!("{ms:.0} ms (the later ones are dialled at each peer's first turn)")
            }
            None => format!(
                "NOT REACHED in {} s: peers {}/{}, daemon {}/{}",
                (mesh_deadline - t_spawn).as_secs(),
                sim.out_all_up,
                a.peers,
                shared.in_all_up.load(Ordering::SeqCst),
                a.peers
            ),
        },
    );
    row(
        &mut o,
        "daemon CPU",
        format!(
            "{:.2} % of a core (user {:.2} %, sys {:.2} %; schedstat {:.2} %)",
            u.cpu_pct, u.user_pct, u.sys_pct, u.sched_pct
        ),
    );
    row(
        &mut o,
        "daemon CPU per peer-round",
        format!("{cpu_us_per_round:.1} µs ({peer_rounds:.0} peer-rounds)"),
    );
    row(
        &mut o,
        "daemon RSS / peak",
        format!("{rss} KiB / {hwm} KiB (VmRSS / VmHWM)"),
    );
    row(&mut o, "daemon open descriptors", fds.to_string());
    row(
        &mut o,
        "daemon context switches",
        format!(
            "{:.1}/s voluntary, {:.1}/s involuntary",
            u.vol as f64 / u.secs,
            u.invol as f64 / u.secs
        ),
    );
    match per_round {
        Some(pr) => {
            let top: Vec<String> = per_call
                .iter()
                .take(6)
                .map(|(n, c)| format!("{n} {:.2}", *c as f64 / perf_rounds))
                .collect();
            row(
                &mut o,
                "daemon syscalls per peer-round",
                format!(
                    "{pr:.2} (floor {}; {} in {:.1} s: {})",
                    // One probe each way, each on one link (hedged probes).
                    4,
                    sys_total.unwrap_or(0),
                    pu.secs,
                    top.join(", ")
                ),
            );
            row(
                &mut o,
                "daemon wake-ups per round",
                format!(
                    "{:.1} (epoll waits; {:.3} per peer)",
                    wakeups.unwrap_or(0.0),
                    wakeups.unwrap_or(0.0) / a.peers as f64
                ),
            );
            row(
                &mut o,
                "  daemon CPU with perf attached",
                format!("{:.2} % (schedstat)", pu.sched_pct),
            );
        }
        None => row(
            &mut o,
            "daemon syscalls per peer-round",
            format!("not measured: {perf_note}"),
        ),
    }
    row(
        &mut o,
        "PONG latency seen by peers",
        format!(
            "p50 {} ms, p99 {} ms, max {} ms ({} PONGs)",
            fmt_opt(p50, 3),
            fmt_opt(p99, 3),
            fmt_opt(pmax, 3),
            rtt.len()
        ),
    );
    row(
        &mut o,
        "peers' PINGs unanswered in timeout",
        format!("{} of {}", st.missing, st.pings),
    );
    row(
        &mut o,
        "daemon PINGs received by peers",
        format!(
            "{} ({:.1} % of one per peer-round: clean peers, hedged probes)",
            rr.daemon_pings,
            rr.daemon_pings as f64 / expected_daemon_pings * 100.0
        ),
    );
    row(
        &mut o,
        "links lost in the window",
        format!(
            "peers' links {}, daemon's links closed {} / replaced {}",
            st.out_failures, rr.closed, rr.replaced
        ),
    );
    row(
        &mut o,
        "peers' dials (whole run)",
        format!(
            "refused {}, closed before HELLO {}, closed after up {}",
            sim.counters.refused, sim.counters.closed_before_hello, sim.counters.closed_after_up
        ),
    );
    row(
        &mut o,
        "events in the daemon's log",
        format!(
            "{}{}",
            events_in_log.len(),
            if events_in_log.is_empty() {
                " (none: good)"
            } else {
                " FALSE EVENTS (listed below)"
            }
        ),
    );
    row(
        &mut o,
        "harness CPU / prober loop lag",
        format!(
            "prober {:.1} %, responder {:.1} % of a core; lag p50 {} ms, p99 {} ms, max {} ms",
            u.prober_pct,
            u.responder_pct,
            fmt_opt(pct_ms(&lag, 0.5), 2),
            fmt_opt(lag99, 2),
            fmt_opt(lagmax, 2)
        ),
    );
    if limited {
        let _ = writeln!(
            o,
            "  HARNESS LIMITED: a harness thread used {:.0} % of a core (limit \
             {HARNESS_CPU_LIMIT:.0}) or its PINGs ran {} ms late (p99; limit \
             {HARNESS_LAG_LIMIT_MS}): latency figures describe the harness, not the daemon",
            harness_max,
            fmt_opt(lag99, 2)
        );
    }
    for e in events_in_log.iter().take(50) {
        let _ = writeln!(o, "  event: {e}");
    }
    if events_in_log.len() > 50 {
        let _ = writeln!(o, "  ... {} more events", events_in_log.len() - 50);
    }
    let bad_hello = sim.counters.bad_hello + rr.bad_hello;
    if rr.strangers + bad_hello > 0 {
        let _ = writeln!(
            o,
            "  odd: {} connections from other addresses, {bad_hello} HELLOs not from node1",
            rr.strangers
        );
    }
    for (_, n, first) in sim.counters.errors.0.iter().chain(&rr.errors.0) {
        let _ = writeln!(o, "  harness saw {n}x: {first}");
    }
    for (line, n) in daemon_lines.iter().take(10) {
        let _ = writeln!(o, "  daemon stderr {n}x: {line}");
    }
    print!("{o}");

    // JSON summary, one line.
    let mut top = String::new();
    for (n, c) in per_call.iter().take(8) {
        if !top.is_empty() {
            top.push(',');
        }
        let _ = write!(top, "{}:{:.3}", json_str(n), *c as f64 / perf_rounds);
    }
    println!(
        "{{\"bench\":\"load\",\"label\":{},\"bin\":{},\"nodes\":{},\"interval_ms\":{},\
         \"timeout_ms\":{},\"threshold\":{},\"window_s\":{:.1},\"full_mesh_ms\":{},\"mesh_peer_links_ms\":{:.0},\"mesh_daemon_links_ms\":{:.0},\"all_links_ms\":{},\
         \"cpu_pct\":{:.3},\"cpu_user_pct\":{:.3},\"cpu_sys_pct\":{:.3},\"cpu_sched_pct\":{:.3},\
         \"cpu_us_per_peer_round\":{:.2},\"rss_kib\":{rss},\"hwm_kib\":{hwm},\"fds\":{fds},\
         \"vol_cs_per_s\":{:.1},\"invol_cs_per_s\":{:.1},\"syscalls_per_peer_round\":{},\"wakeups_per_round\":{},\
         \"syscalls\":{{{top}}},\"pong_p50_ms\":{},\"pong_p99_ms\":{},\"pong_max_ms\":{},\
         \"pongs\":{},\"pings_unanswered\":{},\"daemon_pings_pct\":{:.1},\"events\":{},\
         \"harness_prober_cpu_pct\":{:.1},\"harness_responder_cpu_pct\":{:.1},\"harness_lag_p99_ms\":{},\"harness_limited\":{limited}}}",
        json_str(&a.label),
        json_str(&a.bin.display().to_string()),
        a.peers + 1,
        a.interval,
        a.timeout,
        a.threshold,
        u.secs,
        json_opt(mesh_ms, 0),
        mesh_split.0,
        mesh_split.1,
        json_opt(all_links_ms, 0),
        u.cpu_pct,
        u.user_pct,
        u.sys_pct,
        u.sched_pct,
        cpu_us_per_round,
        u.vol as f64 / u.secs,
        u.invol as f64 / u.secs,
        json_opt(per_round, 3),
        json_opt(wakeups, 1),
        json_opt(p50, 3),
        json_opt(p99, 3),
        json_opt(pmax, 3),
        rtt.len(),
        st.missing,
        rr.daemon_pings as f64 / expected_daemon_pings * 100.0,
        events_in_log.len(),
        u.prober_pct,
        u.responder_pct,
        json_opt(lag99, 3),
    );
    drop(daemon);
    Ok(())
}

/// The daemon's stderr without its start line and per-peer `connected` lines, grouped
/// by text with timestamps and numbers blanked: (line, count), most frequent first.
fn group_daemon_lines(text: &str) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = Vec::new();
    for l in text.lines() {
        let l = l.split_once(' ').map_or(l, |(_, rest)| rest);
        if l.contains(": listening on ") || l.ends_with(": connected") {
            continue;
        }
        let mut g = String::new();
        for c in l.chars() {
            if !c.is_ascii_digit() {
                g.push(c);
            } else if !g.ends_with('N') {
                g.push('N');
            }
        }
        match v.iter_mut().find(|(k, _)| *k == g) {
            Some((_, n)) => *n += 1,
            None => v.push((g, 1)),
        }
    }
    v.sort_by_key(|x| Reverse(x.1));
    v
}

/// Stops the responder thread on drop (an early return) or at [`StopOnDrop::join`].
struct StopOnDrop {
    shared: Arc<Shared>,
    handle: Option<std::thread::JoinHandle<ResponderReport>>,
}

impl StopOnDrop {
    fn join(mut self) -> ResponderReport {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// True once the process `pid` is a zombie or gone (our child: not reaped yet).
fn daemon_exited(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    matches!(state, Some("Z" | "X") | None)
}
