//! Helpers shared by the integration tests: temp dirs, free loopback ports, a guard that
//! owns a running daemon, a mesh of daemons sharing one config file, and log-file readers
//! and validators.
//!
//! Every resource cleans up on `Drop` (processes are SIGKILLed and reaped, dirs removed),
//! so a failing assert never leaves a daemon behind. Set `UPTIME_TRACKER_KEEP_TEST_DIRS=1`
//! to keep the temp dirs for inspection.

#![allow(dead_code)]

pub mod netns;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The daemon binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_uptime-tracker");

/// Generous deadline for anything the daemon should do "soon" (a loaded 2-core CI box).
pub const DEADLINE: Duration = Duration::from_secs(15);

/// How often file/state polls look again.
pub const POLL: Duration = Duration::from_millis(20);

pub const IP1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
pub const IP2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
pub const IP3: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// A loopback address that is no configured node's ip.
pub const IP_STRANGER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);

// ---------------------------------------------------------------------------------------------
// Temp dirs

/// A fresh directory under `std::env::temp_dir()`, removed (recursively) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = std::env::temp_dir().join(format!(
                "uptime-tracker-it-{tag}-{}-{n}-{nanos}",
                std::process::id()
            ));
            match fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create temp dir {}: {e}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("UPTIME_TRACKER_KEEP_TEST_DIRS").is_some() {
            eprintln!("keeping test dir {}", self.path.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Skips

/// Whether this run is CI's: the environment variable `CI` set (CI services set `CI=true`),
/// unless it is empty, `0` or `false`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Skips (part of) the calling test because this machine lacks a tool or a capability it
/// needs, saying so; under CI ([`under_ci`]) a skip is a failure instead: this panics.
///
/// The line `SKIPPED: <test>: <reason>` goes straight to the process's stderr, past the
/// test harness's capture, so `cargo test` shows it among the results of a passing run; it
/// is also appended to `target/tmp/skipped-tests.txt` (`.ci/run` empties that file before
/// the tests and prints it after them, the list of skips at the end of the output).
/// The caller returns after it when the whole test is skipped.
#[track_caller]
pub fn skip_or_fail(reason: &str) {
    use std::io::Write as _;
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_string();
    let line = format!("SKIPPED: {test}: {reason}\n");
    let list = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.txt");
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(&list) {
        let _ = f.write_all(line.as_bytes());
    }
    if under_ci() {
        panic!(
            "{}a skip is a failure under CI (CI is set): install what the test needs \
             (.ci/run does), or run it where it can run",
            line
        );
    }
    let _ = std::io::stderr().write_all(format!("\n*** {line}").as_bytes());
}

// ---------------------------------------------------------------------------------------------
// Ports

/// A TCP port that is free right now on `ip` and on the wildcard address (the daemon listens
/// on all interfaces by default). Never hands out the same port twice in one test binary.
/// Drawn from 20000..32768, below Linux's ephemeral range: a port the kernel hands out for
/// `ip:0` may be held on another address by an outgoing connection or a `TIME_WAIT`, and
/// a machine that just made many connections has thousands of those.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
        ^ u64::from(std::process::id()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut x = seed | 1;
    for _ in 0..5000 {
        // xorshift: a different walk per process and run.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let port = 20000 + (x % 12768) as u16;
        // Binding only; no traffic.
        if TcpListener::bind((ip, port)).is_err()
            || TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_err()
        {
            continue;
        }
        let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no free port found on {ip}");
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Sends `sig` to `pid`; panics if the kernel refuses.
pub fn send_signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}) failed: {}",
        std::io::Error::last_os_error()
    );
}

/// Owns a running `uptime-tracker` process. On drop: SIGKILL and reap (a stopped process is
/// killed too). If the thread is panicking, the process's stderr is printed to help diagnose.
pub struct Daemon {
    child: Child,
    exited: Option<ExitStatus>,
    pub label: String,
    stderr_path: PathBuf,
}

impl Daemon {
    /// Starts `uptime-tracker <args>` in `cwd`, stdout/stderr going to files in `out_dir`.
    pub fn spawn(label: &str, args: &[&str], cwd: &Path, out_dir: &Path) -> Daemon {
        Daemon::spawn_with_env(label, args, cwd, out_dir, &[])
    }

    /// Like [`Daemon::spawn`], with extra environment variables.
    pub fn spawn_with_env(
        label: &str,
        args: &[&str],
        cwd: &Path,
        out_dir: &Path,
        env: &[(&str, &str)],
    ) -> Daemon {
        let mut cmd = Command::new(BIN);
        cmd.args(args).envs(env.iter().copied());
        Daemon::spawn_command(label, cmd, cwd, out_dir)
    }

    /// Starts `program <args>` in `cwd`, for a wrapper that ends by exec'ing the daemon in
    /// place (`ip netns exec NS <BIN> run ...`): once the wrapper has exec'd, the child's
    /// pid is the daemon's, so signals and the SIGKILL on drop reach the daemon itself.
    pub fn spawn_wrapped(
        label: &str,
        program: &str,
        args: &[&str],
        cwd: &Path,
        out_dir: &Path,
    ) -> Daemon {
        let mut cmd = Command::new(program);
        cmd.args(args);
        Daemon::spawn_command(label, cmd, cwd, out_dir)
    }

    fn spawn_command(label: &str, mut cmd: Command, cwd: &Path, out_dir: &Path) -> Daemon {
        static SPAWNS: AtomicUsize = AtomicUsize::new(0);
        let n = SPAWNS.fetch_add(1, Ordering::Relaxed);
        let stderr_path = out_dir.join(format!("{label}-{n}.stderr"));
        let stdout_path = out_dir.join(format!("{label}-{n}.stdout"));
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout_path).expect("create stdout file"))
            .stderr(fs::File::create(&stderr_path).expect("create stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {program}: {e}"));
        Daemon {
            child,
            exited: None,
            label: label.to_string(),
            stderr_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal; only while the process has not been reaped (no pid-reuse accidents).
    pub fn signal(&mut self, sig: libc::c_int) {
        assert!(
            self.exited.is_none(),
            "{}: signal {sig} to a process that already exited ({:?})",
            self.label,
            self.exited
        );
        send_signal(self.pid(), sig);
    }

    /// `Some(status)` once the process has exited (reaps it).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("try_wait");
        }
        self.exited
    }

    pub fn is_running(&mut self) -> bool {
        self.try_exit().is_none()
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.try_exit() {
                return Some(st);
            }
            if start.elapsed() > limit {
                return None;
            }
            sleep(POLL);
        }
    }

    /// SIGTERM, then asserts a clean exit with status 0 within the deadline.
    pub fn terminate_ok(&mut self) {
        self.signal(libc::SIGTERM);
        let st = self.wait_exit(DEADLINE);
        assert!(
            st.is_some(),
            "{}: still running {DEADLINE:?} after SIGTERM; stderr:\n{}",
            self.label,
            self.stderr()
        );
        let st = st.unwrap();
        assert_eq!(
            st.code(),
            Some(0),
            "{}: SIGTERM must give exit 0, got {st:?}; stderr:\n{}",
            self.label,
            self.stderr()
        );
    }

    /// SIGKILL and reap.
    pub fn kill_hard(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = Some(self.child.wait().expect("wait"));
        }
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill_hard();
        if std::thread::panicking() {
            let err = self.stderr();
            let tail: Vec<&str> = err.lines().rev().take(40).collect();
            eprintln!(
                "---- stderr of {} (last {} lines) ----",
                self.label,
                tail.len()
            );
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// Output of a short-lived CLI invocation.
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary to completion (killed after the deadline) in a scratch dir.
pub fn run_cli(args: &[&str], cwd: &Path) -> CliOutput {
    let scratch = TempDir::new("cli-out");
    let mut d = Daemon::spawn("cli", args, cwd, scratch.path());
    let st = d.wait_exit(DEADLINE);
    assert!(
        st.is_some(),
        "`uptime-tracker {}` did not exit within {DEADLINE:?}",
        args.join(" ")
    );
    let stdout = fs::read_dir(scratch.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".stdout"))
        .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
        .unwrap_or_default();
    CliOutput {
        code: st.unwrap().code(),
        stdout,
        stderr: d.stderr(),
    }
}

// ---------------------------------------------------------------------------------------------
// Polling

/// Polls `f` until it returns `Some`, panicking with `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        sleep(POLL);
    }
}

// ---------------------------------------------------------------------------------------------
// Configs and meshes

#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub ip: Ipv4Addr,
    pub port: u16,
}

impl NodeSpec {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.ip, self.port))
    }
}

/// A config file text with snake_case keys and a relative `log_folder = "logs"`.
pub fn config_text(
    whoami: &str,
    interval: u64,
    timeout: u64,
    threshold: u32,
    nodes: &[NodeSpec],
) -> String {
    let mut s = format!(
        "whoami = \"{whoami}\"\ninterval = {interval}\ntimeout = {timeout}\n\
         offline_threshold = {threshold}\nlog_folder = \"logs\"\n"
    );
    for n in nodes {
        write!(
            s,
            "\n[[nodes]]\nname = \"{}\"\nip = \"{}\"\nport = {}\n",
            n.name, n.ip, n.port
        )
        .unwrap();
    }
    s
}

/// Several daemons sharing one config file (`--whoami` selects the node). The daemons run
/// with a working directory different from the config's directory, so the relative
/// `log_folder` must be resolved against the config file's directory.
pub struct Mesh {
    // Field order matters: daemons are killed before the directory is removed.
    daemons: Vec<(String, Daemon)>,
    pub nodes: Vec<NodeSpec>,
    pub threshold: u32,
    pub interval: u64,
    pub timeout: u64,
    pub config: PathBuf,
    pub log_dir: PathBuf,
    cwd: PathBuf,
    pub dir: TempDir,
}

impl Mesh {
    /// Nodes `node1..` on the given loopback ips, each with a fresh port.
    pub fn new(tag: &str, ips: &[Ipv4Addr], interval: u64, timeout: u64, threshold: u32) -> Mesh {
        let dir = TempDir::new(tag);
        let nodes: Vec<NodeSpec> = ips
            .iter()
            .enumerate()
            .map(|(i, &ip)| NodeSpec {
                name: format!("node{}", i + 1),
                ip,
                port: free_port(ip),
            })
            .collect();
        let conf_dir = dir.path().join("conf");
        let cwd = dir.path().join("cwd");
        fs::create_dir(&conf_dir).unwrap();
        fs::create_dir(&cwd).unwrap();
        let config = conf_dir.join("mesh.toml");
        fs::write(
            &config,
            config_text(&nodes[0].name, interval, timeout, threshold, &nodes),
        )
        .unwrap();
        Mesh {
            daemons: Vec::new(),
            nodes,
            threshold,
            interval,
            timeout,
            log_dir: conf_dir.join("logs"),
            config,
            cwd,
            dir,
        }
    }

    pub fn node(&self, name: &str) -> &NodeSpec {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// Starts `name` (replacing a previous, exited daemon of that name).
    pub fn start(&mut self, name: &str) {
        self.start_with_env(name, &[]);
    }

    /// Like [`Mesh::start`], with extra environment variables.
    pub fn start_with_env(&mut self, name: &str, env: &[(&str, &str)]) {
        if let Some(i) = self.daemons.iter().position(|(n, _)| n == name) {
            let (_, mut old) = self.daemons.remove(i);
            assert!(
                !old.is_running(),
                "{name} is still running; stop it before starting it again"
            );
        }
        let config = self.config.to_str().unwrap().to_string();
        let d = Daemon::spawn_with_env(
            name,
            &["run", "--config", &config, "--whoami", name],
            &self.cwd,
            self.dir.path(),
            env,
        );
        self.daemons.push((name.to_string(), d));
    }

    /// Starts `name` with its open-files limit set to `nofile` (`ulimit -n`, then exec,
    /// so the pid is the daemon's).
    pub fn start_limited(&mut self, name: &str, nofile: u32) {
        let config = self.config.to_str().unwrap().to_string();
        let script = format!("ulimit -n {nofile} && exec \"$0\" \"$@\"");
        let d = Daemon::spawn_wrapped(
            name,
            "sh",
            &[
                "-c", &script, BIN, "run", "--config", &config, "--whoami", name,
            ],
            &self.cwd,
            self.dir.path(),
        );
        self.daemons.push((name.to_string(), d));
    }

    /// Starts every node, back to back.
    pub fn start_all(&mut self) {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for n in &names {
            self.start(n);
        }
    }

    pub fn daemon(&mut self, name: &str) -> &mut Daemon {
        &mut self
            .daemons
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} was never started"))
            .1
    }

    /// All of `name`'s log files, concatenated in name (= date) order.
    pub fn log(&self, name: &str) -> String {
        read_node_logs(&self.log_dir, name)
    }

    /// Waits until `name`'s logs hold `runs` start markers followed by their header.
    pub fn wait_runs(&self, name: &str, runs: usize) {
        wait_for(
            &format!("{name} to write its header #{runs}"),
            DEADLINE,
            || {
                let log = self.log(name);
                (count_headers(&log) >= runs).then_some(())
            },
        );
    }

    /// Asserts every daemon still running, then SIGTERMs each and asserts exit 0.
    pub fn stop_all_ok(&mut self) {
        for (name, d) in &mut self.daemons {
            assert!(
                d.is_running(),
                "{name} exited unexpectedly: {:?}; stderr:\n{}",
                d.try_exit(),
                d.stderr()
            );
        }
        for (_, d) in &mut self.daemons {
            d.terminate_ok();
        }
    }

    /// Runs [`validate_log_dir`] on this mesh's log folder and checks that nothing was
    /// written relative to the daemons' working directory.
    pub fn validate_logs(&self) {
        assert!(
            !self.cwd.join("logs").exists(),
            "a relative log_folder was resolved against the working directory, not the config's"
        );
        let files = validate_log_dir(&self.log_dir, &self.nodes);
        assert!(files > 0, "no log file in {}", self.log_dir.display());
    }
}

// ---------------------------------------------------------------------------------------------
// Log files

/// `Some((date, whoami))` if `file_name` is `YYYY-MM-DD-<whoami>.log`.
pub fn split_log_name(file_name: &str) -> Option<(&str, &str)> {
    let stem = file_name.strip_suffix(".log")?;
    if stem.len() < 12 || !stem.is_char_boundary(10) || stem.as_bytes()[10] != b'-' {
        return None;
    }
    let date = &stem[..10];
    let ok = date.bytes().enumerate().all(|(i, b)| {
        if i == 4 || i == 7 {
            b == b'-'
        } else {
            b.is_ascii_digit()
        }
    });
    ok.then(|| (date, &stem[11..]))
}

/// Paths of `whoami`'s log files in `dir`, sorted by name.
pub fn node_log_files(dir: &Path, whoami: &str) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| {
            split_log_name(&e.file_name().to_string_lossy()).is_some_and(|(_, w)| w == whoami)
        })
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// Every log file of `whoami` in `dir`, concatenated in name order (a UTC midnight during
/// a test splits a node's log over two files).
pub fn read_node_logs(dir: &Path, whoami: &str) -> String {
    node_log_files(dir, whoami)
        .iter()
        .map(|p| fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// Number of `---` start markers.
pub fn count_runs(log: &str) -> usize {
    log.lines().filter(|l| *l == "---").count()
}

/// Number of header lines that directly follow a `---`.
pub fn count_headers(log: &str) -> usize {
    let lines: Vec<&str> = log.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "---" && w[1].starts_with("0.0.3|"))
        .count()
}

pub fn header_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.starts_with("0.0.3|")).collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub time: String,
    pub node: String,
    pub timeouts: u32,
}

/// The event lines (`<time>|<peer>|<timeouts>`), in file order. Only complete lines.
pub fn events(log: &str) -> Vec<Event> {
    let complete = match log.rfind('\n') {
        Some(i) => &log[..=i],
        None => "",
    };
    complete
        .lines()
        .filter(|l| *l != "---" && !l.starts_with("0.0.3|"))
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f.len(), 3, "not an event line: {l:?}");
            Event {
                time: f[0].to_string(),
                node: f[1].to_string(),
                timeouts: f[2]
                    .parse()
                    .unwrap_or_else(|_| panic!("bad timeouts in {l:?}")),
            }
        })
        .collect()
}

/// The timeouts values logged for `peer`, in order.
pub fn peer_counts(log: &str, peer: &str) -> Vec<u32> {
    events(log)
        .into_iter()
        .filter(|e| e.node == peer)
        .map(|e| e.timeouts)
        .collect()
}

/// The expected header after the time field: `<threshold>|<whoami>|<nodes>`.
pub fn header_tail(threshold: u32, whoami: &str, nodes: &[NodeSpec]) -> String {
    let list: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}:{}:{}", n.name, n.ip, n.port))
        .collect();
    format!("{threshold}|{whoami}|{}", list.join("!"))
}

/// Unix milliseconds of a `YYYY-MM-DDTHH:MM:SS.mmmZ` timestamp, or `None` if malformed.
pub fn parse_iso_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 24 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let want = match i {
            4 | 7 => Some(b'-'),
            10 => Some(b'T'),
            13 | 16 => Some(b':'),
            19 => Some(b'.'),
            23 => Some(b'Z'),
            _ => None,
        };
        match want {
            Some(w) if c != w => return None,
            None if !c.is_ascii_digit() => return None,
            _ => {}
        }
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        month,
        u8::try_from(num(8..10)?).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms_milli(
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
        u16::try_from(num(20..23)?).ok()?,
    )
    .ok()?;
    let dt = time::PrimitiveDateTime::new(date, t).assume_utc();
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok()
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Checks one log file of format 0.0.3 with the library's strict checker and with this
/// test suite's own reading of the format. `nodes` is the mesh's config (for the header).
pub fn validate_log_file(path: &Path, nodes: &[NodeSpec]) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let (date, whoami) =
        split_log_name(&name).unwrap_or_else(|| panic!("bad log file name {name:?}"));
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: not UTF-8 or unreadable: {e}", path.display()));

    // The library's strict grammar check.
    let runs = uptime_tracker::logline::check_file(&text).unwrap_or_else(|(line, err)| {
        panic!(
            "{}: check_file rejects line {line}: {err:?}\n{text}",
            path.display()
        )
    });
    assert_eq!(
        runs.len(),
        count_runs(&text),
        "{}: check_file run count differs from the number of `---`",
        path.display()
    );
    for r in &runs {
        assert_eq!(r.whoami, whoami, "{name}: run at line {}", r.line);
    }
    assert_eq!(
        runs.iter().map(|r| r.events).sum::<usize>(),
        events(&text).len(),
        "{name}: check_file event count differs from this suite's"
    );

    // This suite's own reading.
    assert!(text.ends_with('\n'), "{name}: does not end with a newline");
    assert!(
        text.starts_with("---\n"),
        "{name}: does not start with `---`"
    );
    let lines: Vec<&str> = text.lines().collect();
    let now = now_ms();
    let mut threshold = None;
    for (i, &line) in lines.iter().enumerate() {
        let ctx = || format!("{name} line {}: {line:?}\n{text}", i + 1);
        let parsed = uptime_tracker::logline::parse_line(line)
            .unwrap_or_else(|e| panic!("parse_line rejects ({e:?}) {}", ctx()));
        let parsed_time = match parsed {
            uptime_tracker::logline::Line::Restart => None,
            uptime_tracker::logline::Line::Header { time, .. }
            | uptime_tracker::logline::Line::Event { time, .. } => Some(time),
        };
        if line == "---" {
            let next = lines.get(i + 1).copied().unwrap_or("");
            assert!(
                next.starts_with("0.0.3|"),
                "`---` not followed by a header: {}",
                ctx()
            );
            continue;
        }
        let f: Vec<&str> = line.split('|').collect();
        let time = if line.starts_with("0.0.3|") {
            assert!(
                i > 0 && lines[i - 1] == "---",
                "header not preceded by `---`: {}",
                ctx()
            );
            assert_eq!(f.len(), 5, "header field count: {}", ctx());
            assert_eq!(f[3], whoami, "header whoami vs file name: {}", ctx());
            let th: u32 = f[2].parse().unwrap_or_else(|_| panic!("{}", ctx()));
            threshold = Some(th);
            let expect = header_tail(th, whoami, nodes);
            assert_eq!(f[2..].join("|"), expect, "header nodes: {}", ctx());
            f[1]
        } else {
            assert_eq!(f.len(), 3, "event field count: {}", ctx());
            assert!(
                nodes.iter().any(|n| n.name == f[1]),
                "event for an unknown node: {}",
                ctx()
            );
            assert_ne!(f[1], whoami, "a node logged itself: {}", ctx());
            let t: u32 = f[2].parse().unwrap_or_else(|_| panic!("{}", ctx()));
            let th = threshold.unwrap_or_else(|| panic!("event before a header: {}", ctx()));
            assert!(t <= th, "timeouts above the threshold: {}", ctx());
            f[0]
        };
        let ms = parse_iso_ms(time).unwrap_or_else(|| panic!("bad timestamp: {}", ctx()));
        assert_eq!(
            parsed_time,
            Some(ms),
            "parse_line's time (unix ms) differs: {}",
            ctx()
        );
        assert!(
            time.starts_with(date),
            "timestamp not in the file's UTC day {date}: {}",
            ctx()
        );
        assert!(
            (ms - now).abs() < 600_000,
            "timestamp more than 10 min from now (not UTC?): {}",
            ctx()
        );
    }
}

/// Validates every file in a log folder (all must be log files of configured nodes).
/// Returns how many files were checked.
pub fn validate_log_dir(dir: &Path, nodes: &[NodeSpec]) -> usize {
    let mut n = 0;
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let (_, whoami) = split_log_name(&name)
            .unwrap_or_else(|| panic!("unexpected file {name:?} in the log folder"));
        assert!(
            nodes.iter().any(|n| n.name == whoami),
            "log file of an unknown node: {name}"
        );
        validate_log_file(&e.path(), nodes);
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Raw connections

/// A TCP connection to `dst` whose source address is bound to `src` (port chosen by the kernel).
pub fn connect_from(src: Ipv4Addr, dst: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())
        .expect("bind client socket");
    s.connect_timeout(&dst.into(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {src} -> {dst}: {e}"));
    s.into()
}

/// How a peer's read side ended.
#[derive(Debug)]
pub enum Closed {
    /// Orderly close (read returned 0), with the bytes received before it.
    Eof(Vec<u8>),
    /// Reset or other error.
    Error(std::io::ErrorKind, Vec<u8>),
}

/// Reads until the daemon closes the connection; `Some((elapsed, how))`, or `None` if it is
/// still open after `limit`.
pub fn wait_closed(stream: &mut TcpStream, limit: Duration) -> Option<(Duration, Closed)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some((start.elapsed(), Closed::Eof(got))),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Some((start.elapsed(), Closed::Error(e.kind(), got))),
        }
        if start.elapsed() > limit {
            return None;
        }
    }
}

/// Reads complete lines until `done(lines)` or `limit`; returns all lines read (without "\n").
pub fn read_lines_until(
    stream: &mut TcpStream,
    limit: Duration,
    mut done: impl FnMut(&[String]) -> bool,
) -> Vec<String> {
    let start = Instant::now();
    let mut pending = Vec::new();
    let mut lines = Vec::new();
    let mut buf = [0u8; 1024];
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while !done(&lines) && start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                    let l: Vec<u8> = pending.drain(..=i).collect();
                    lines.push(String::from_utf8_lossy(&l[..l.len() - 1]).into_owned());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    lines
}
