//! `uptime-tracker demo`: the whole product in about 15 seconds, for a newcomer.
//!
//! Starts three nodes of this very binary (`run`, found with `std::env::current_exe`) on
//! 127.0.0.1, .2 and .3 with free ports (the kernel picks them: bind port 0) in a
//! temporary folder, interval 200 ms, timeout 300 ms, threshold 3; prints the log lines
//! the nodes write as they come (by following the log files); kills one node for 5 s and
//! starts it again; stops the mesh with SIGTERM; then prints the report of the logs and
//! writes the timeline picture.
//!
//! No process is left behind: every child is owned by a guard that kills (SIGKILL) and
//! reaps it on every way out, including errors and panics; on Linux a child also gets
//! SIGTERM if the demo itself dies (`PR_SET_PDEATHSIG`); SIGINT and SIGTERM to the demo
//! stop it cleanly. The temporary folder is removed at the end unless `--keep DIR`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::logline::{self, Line};
use crate::report::cli::{self, Format, now_ms};
use crate::report::find::parse_file_name;
use crate::report::{self, DEFAULT_TOLERANCE_MS, Options, units};

const INTERVAL_MS: u32 = 200;
const TIMEOUT_MS: u32 = 300;
const THRESHOLD: u32 = 3;
/// The node that is stopped and started again.
const VICTIM: usize = 2;
const STEADY: Duration = Duration::from_secs(4);
const DOWN: Duration = Duration::from_secs(5);
const AFTER: Duration = Duration::from_secs(4);
/// How long a node may take to start, or to stop after SIGTERM.
const PATIENCE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM set [`INTERRUPTED`]; the demo then stops its nodes and exits.
fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only stores to an atomic,
        // which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// The demo's command line: `[--keep DIR] [--svg FILE]`.
pub fn main(args: &[String]) -> ExitCode {
    let mut keep = None;
    let mut svg = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let slot = match arg.as_str() {
            "--keep" => &mut keep,
            "--svg" => &mut svg,
            "-h" | "--help" => {
                crate::outln!("{}", cli::DEMO_USAGE);
                return ExitCode::SUCCESS;
            }
            other => {
                crate::errln!(
                    "uptime-tracker demo: unknown argument {other:?}\n\n{}",
                    cli::DEMO_USAGE
                );
                return ExitCode::from(2);
            }
        };
        match it.next() {
            Some(v) if slot.is_none() => *slot = Some(PathBuf::from(v)),
            _ => {
                crate::errln!("uptime-tracker demo: {arg} needs one value");
                return ExitCode::from(2);
            }
        }
    }
    catch_signals();
    match run(keep, svg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::errln!("uptime-tracker demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The demo's folder: removed on drop unless kept.
struct Folder {
    path: PathBuf,
    keep: bool,
}

impl Drop for Folder {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// One node of the mesh and its process, killed and reaped on drop.
struct Node {
    name: String,
    ip: Ipv4Addr,
    port: u16,
    config: PathBuf,
    stderr: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self, exe: &Path) -> Result<(), String> {
        let err = File::create(&self.stderr)
            .map_err(|e| format!("{}: cannot create: {e}", self.stderr.display()))?;
        let mut cmd = Command::new(exe);
        cmd.arg("run")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {} ({}): {e}", self.name, exe.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Whether its process is still running (reaps it if not).
    fn running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn signal(&mut self, sig: libc::c_int) {
        if let Some(c) = &mut self.child
            && let Ok(None) = c.try_wait()
            && let Ok(pid) = libc::pid_t::try_from(c.id())
        {
            // SAFETY: kill(2) has no memory-safety preconditions; the child is
            // not reaped yet, so the pid is still ours.
            unsafe { libc::kill(pid, sig) };
        }
    }

    /// Waits for it to exit after a SIGTERM, then SIGKILLs it if it is still running
    /// after [`PATIENCE`]; reaps it. Returns whether it stopped on its own.
    fn wait_stopped(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if !self.running() {
                self.child = None;
                return true;
            }
            sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    /// SIGKILL and reap.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn stderr_tail(&self) -> String {
        let text = fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(10);
        lines.get(from..).unwrap_or_default().join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Follows the log folder: prints each new complete line as an event.
struct Tail {
    folder: PathBuf,
    offsets: BTreeMap<PathBuf, (u64, Vec<u8>)>,
    counts: BTreeMap<(String, String), u32>,
    /// Observers that wrote a header, and how many times.
    pub headers: BTreeMap<String, usize>,
    /// `(observer, peer)` pairs that logged a `|0` after an offline line.
    pub recovered: Vec<(String, String)>,
    start_ms: i64,
}

impl Tail {
    fn poll(&mut self, out: &mut dyn Write) {
        let Ok(entries) = fs::read_dir(&self.folder) else {
            return;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(whoami) = name
                .as_deref()
                .and_then(parse_file_name)
                .map(|(_, w)| w.to_string())
            else {
                continue;
            };
            let (offset, pending) = self.offsets.entry(path.clone()).or_default();
            let Ok(mut f) = File::open(&path) else {
                continue;
            };
            let mut fresh = Vec::new();
            if f.seek(SeekFrom::Start(*offset)).is_err() || f.read_to_end(&mut fresh).is_err() {
                continue;
            }
            *offset += fresh.len() as u64;
            pending.extend_from_slice(&fresh);
            let Some(cut) = pending.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            let complete: Vec<u8> = pending.drain(..=cut).collect();
            for line in String::from_utf8_lossy(&complete).lines() {
                self.show(&whoami, line, out);
            }
        }
    }

    fn show(&mut self, whoami: &str, line: &str, out: &mut dyn Write) {
        let (time, what) = match logline::parse_line(line) {
            Ok(Line::Restart) | Err(_) => return,
            Ok(Line::Header { time, nodes, .. }) => {
                let n = self.headers.entry(whoami.to_string()).or_insert(0);
                *n += 1;
                let peers: Vec<&str> = nodes
                    .iter()
                    .map(|n| n.name)
                    .filter(|&n| n != whoami)
                    .collect();
                let verb = if *n == 1 { "started" } else { "started again" };
                (time, format!("{verb}, watching {}", peers.join(", ")))
            }
            Ok(Line::Event {
                time,
                node,
                timeouts,
            }) => {
                let key = (whoami.to_string(), node.to_string());
                let before = self.counts.insert(key.clone(), timeouts).unwrap_or(0);
                let what = match timeouts {
                    0 if before >= THRESHOLD => {
                        self.recovered.push(key);
                        format!("{node} is back online")
                    }
                    0 => format!("{node} answered again (a blip)"),
                    n if n >= THRESHOLD => format!("{node} is OFFLINE ({n} timeouts in a row)"),
                    1 => format!("{node}: 1 timeout"),
                    n => format!("{node}: {n} timeouts"),
                };
                (time, what)
            }
        };
        let _ = writeln!(out, "{}  {whoami:<6} {what}", stamp(time - self.start_ms));
    }
}

/// `+12.34 s` for a time relative to the demo's start.
fn stamp(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{:>4}.{:02} s", ms / 1000, ms % 1000 / 10)
}

/// Follows the logs for `wait`, or until `done`, or until interrupted.
fn follow(
    tail: &mut Tail,
    nodes: &mut [Node],
    wait: Duration,
    out: &mut dyn Write,
    mut done: impl FnMut(&Tail) -> bool,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        tail.poll(out);
        let _ = out.flush();
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err("interrupted; the nodes are stopped".into());
        }
        for node in nodes.iter_mut() {
            if node.child.is_some() && !node.running() {
                return Err(format!(
                    "{} exited unexpectedly; its stderr ends with:\n{}",
                    node.name,
                    node.stderr_tail()
                ));
            }
        }
        if done(tail) || start.elapsed() >= wait {
            return Ok(());
        }
        sleep(POLL);
    }
}

fn free_port(ip: Ipv4Addr) -> Result<u16, String> {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| {
            format!(
                "cannot bind {ip}:0 ({e}); the demo needs 127.0.0.1-3 on loopback (Linux has them)"
            )
        })
}

fn config_text(me: &Node, nodes: &[Node]) -> String {
    let mut s = format!(
        "# written by `uptime-tracker demo`\nwhoami = \"{}\"\ninterval = {INTERVAL_MS}\ntimeout = {TIMEOUT_MS}\n\
         offline_threshold = {THRESHOLD}\nlog_folder = \"logs\"\nlisten = \"{}:{}\"\n",
        me.name, me.ip, me.port
    );
    for n in nodes {
        s.push_str(&format!(
            "\n[[nodes]]\nname = \"{}\"\nip = \"{}\"\nport = {}\n",
            n.name, n.ip, n.port
        ));
    }
    s
}

fn make_folder(keep: Option<PathBuf>) -> Result<Folder, String> {
    if let Some(dir) = keep {
        fs::create_dir_all(&dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
        let empty = fs::read_dir(&dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(format!(
                "{}: --keep needs a new or empty folder",
                dir.display()
            ));
        }
        return Ok(Folder {
            path: dir,
            keep: true,
        });
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = std::env::temp_dir().join(format!(
        "uptime-tracker-demo-{}-{nanos}",
        std::process::id()
    ));
    fs::create_dir(&path).map_err(|e| format!("{}: cannot create: {e}", path.display()))?;
    Ok(Folder { path, keep: false })
}

fn run(keep: Option<PathBuf>, svg: Option<PathBuf>) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let folder = make_folder(keep)?;
    let svg_path = svg.unwrap_or_else(|| {
        if folder.keep {
            folder.path.join("report.svg")
        } else {
            std::env::temp_dir().join("uptime-tracker-demo.svg")
        }
    });
    let logs = folder.path.join("logs");
    let mut nodes = mesh_nodes(&folder.path)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let start_ms = now_ms();
    let mut tail = Tail {
        folder: logs.clone(),
        offsets: BTreeMap::new(),
        counts: BTreeMap::new(),
        headers: BTreeMap::new(),
        recovered: Vec::new(),
        start_ms,
    };
    let _ = writeln!(
        out,
        "uptime-tracker demo: 3 nodes of this program on loopback, probing each other every \
         {INTERVAL_MS} ms (timeout {TIMEOUT_MS} ms, offline after {THRESHOLD} timeouts)\n\
         folder: {}{}\n\
         Below, each node's log lines as they are written (node: what it saw).\n",
        folder.path.display(),
        if folder.keep {
            ""
        } else {
            " (removed at the end; --keep DIR keeps everything)"
        }
    );
    let until = play(&exe, &mut nodes, &mut tail, &mut out)?;
    drop(nodes);
    let incidents = report_logs(logs, until, &folder, &svg_path, &mut out)?;
    let _ = writeln!(
        out,
        "\nTimeline picture: {}\nDemo done in {}; {incidents} incident(s) found; every node \
         stopped.",
        svg_path.display(),
        units::duration(now_ms() - start_ms),
    );
    Ok(())
}

/// The demo's three nodes on 127.0.0.1-3, each with a free port and its config written
/// into `folder`.
fn mesh_nodes(folder: &Path) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    for i in 0..3u8 {
        let ip = Ipv4Addr::new(127, 0, 0, i + 1);
        let name = format!("node{}", i + 1);
        nodes.push(Node {
            config: folder.join(format!("{name}.toml")),
            stderr: folder.join(format!("{name}.stderr")),
            port: free_port(ip)?,
            name,
            ip,
            child: None,
        });
    }
    for n in &nodes {
        fs::write(&n.config, config_text(n, &nodes))
            .map_err(|e| format!("{}: cannot write: {e}", n.config.display()))?;
    }
    Ok(nodes)
}

/// A line of the demo's own, stamped with the time since it started.
fn say(out: &mut dyn Write, start_ms: i64, what: &str) {
    let _ = writeln!(out, "{}  == {what}", stamp(now_ms() - start_ms));
    let _ = out.flush();
}

/// The story: the mesh starts, runs, loses a node to SIGKILL, gets it back, and stops;
/// every log line is shown as it is written. Returns when it stopped (wall-clock ms).
fn play(
    exe: &Path,
    nodes: &mut [Node],
    tail: &mut Tail,
    out: &mut dyn Write,
) -> Result<i64, String> {
    let start_ms = tail.start_ms;
    let list: Vec<String> = nodes
        .iter()
        .map(|n| format!("{} on {}:{}", n.name, n.ip, n.port))
        .collect();
    say(out, start_ms, &format!("starting {}", list.join(", ")));
    for n in nodes.iter_mut() {
        n.start(exe)?;
    }
    follow(tail, nodes, PATIENCE, out, |t| t.headers.len() == 3)?;
    if tail.headers.len() < 3 {
        return Err(format!(
            "the nodes did not all start logging within {PATIENCE:?}"
        ));
    }
    follow(tail, nodes, STEADY, out, |_| false)?;

    let victim = nodes
        .get(VICTIM)
        .map(|n| n.name.clone())
        .unwrap_or_default();
    let killing = format!(
        "killing {victim} (SIGKILL, as in a crash); it comes back in {} s",
        DOWN.as_secs()
    );
    say(out, start_ms, &killing);
    if let Some(n) = nodes.get_mut(VICTIM) {
        n.kill();
    }
    follow(tail, nodes, DOWN, out, |_| false)?;
    say(out, start_ms, &format!("starting {victim} again"));
    if let Some(n) = nodes.get_mut(VICTIM) {
        n.start(exe)?;
    }
    let back = |t: &Tail| t.recovered.iter().filter(|(_, p)| *p == victim).count() >= 2;
    follow(tail, nodes, PATIENCE, out, back)?;
    follow(tail, nodes, AFTER, out, |_| false)?;

    let until = now_ms();
    say(out, start_ms, "stopping the mesh (SIGTERM)");
    // All at once, so that the nodes hardly see each other go.
    for n in nodes.iter_mut() {
        n.signal(libc::SIGTERM);
    }
    let mut clean = true;
    for n in nodes.iter_mut() {
        clean &= n.wait_stopped();
    }
    tail.poll(out);
    if !clean {
        let message = "a node did not stop within 5 s of SIGTERM and was killed";
        say(out, start_ms, message);
    }
    Ok(until)
}

/// The report of the demo's `logs` up to `until`, printed, kept in the folder if it is
/// kept, and drawn into `svg_path`. Returns the number of incidents.
fn report_logs(
    logs: PathBuf,
    until: i64,
    folder: &Folder,
    svg_path: &Path,
    out: &mut dyn Write,
) -> Result<usize, String> {
    let _ = writeln!(
        out,
        "\nThe report of these logs (`uptime-tracker report --until {} {}`):\n",
        units::timestamp(until),
        logs.display()
    );
    let options = Options {
        paths: vec![logs],
        since: None,
        until: Some(until),
        tolerance_ms: DEFAULT_TOLERANCE_MS,
        now: Some(now_ms()),
    };
    let mut problems = io::stderr();
    let report = report::build(&options, &mut problems).ok_or("no log file was written")?;
    cli::write_format(&report, Format::Text, out)
        .map_err(|e| format!("cannot print the report: {e}"))?;
    if folder.keep {
        let path = folder.path.join("report.txt");
        let written = File::create(&path).and_then(|f| {
            let mut w = BufWriter::new(f);
            cli::write_format(&report, Format::Text, &mut w)?;
            w.flush()
        });
        written.map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    cli::write_svg(&report, svg_path)?;
    Ok(report.incidents.len())
}
