//! `cargo bench --bench report`: a year of logs from a 50-node mesh, then `report` over
//! it, timed, with its peak memory.
//!
//! The generator writes, for 365 days and 50 observers, one file per observer and day
//! (`---` + header at midnight, continuing the day before) with realistic events: each
//! node goes down about every ten days for 1 to 60 minutes (it writes nothing meanwhile
//! and restarts with `---` + header; every other node logs `|1 |2 |3` and `|0`, each with
//! its own clock jitter), and each observer logs about 40 blips a day. Deterministic
//! (fixed seeds); about 76 MB in a temporary folder, removed at the end
//! (`UPTIME_TRACKER_KEEP_BENCH=1` keeps it).
//!
//! The report runs in a child process (this same program with `--report-only`), so the
//! peak resident memory it prints (`VmHWM` of `/proc/self/status`) is the report's own,
//! not the generator's. It runs over the first 30 days, over the whole year, and over a
//! second year with the same outages but four times the blips (about three times the
//! lines): the last two peaks are about equal, because memory grows with outages,
//! restarts and files, not with lines.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use uptime_tracker::logline;
use uptime_tracker::report::{self, DEFAULT_TOLERANCE_MS, Options, export, svg, text};

const NODES: usize = 50;
const DAYS: i64 = 365;
/// 2025-01-01 as a day number.
const FIRST_DAY: i64 = 20_089;
const DAY: i64 = 86_400_000;

/// xorshift64*: small, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn name(i: usize) -> String {
    format!("n{:02}", i + 1)
}

/// Writes the year into `dir`: the outages (and clock jitters) come from one random
/// stream, the `blips_per_day` blips from another, so two years with different numbers of
/// blips have the same outages.
fn generate(dir: &Path, blips_per_day: u64) -> (u64, u64) {
    let names: Vec<String> = (0..NODES).map(name).collect();
    let addrs: Vec<std::net::SocketAddr> = (0..NODES)
        .map(|i| {
            format!("10.0.{}.{}:47000", i / 200, i % 200 + 1)
                .parse()
                .unwrap()
        })
        .collect();
    let nodes: Vec<(&str, std::net::SocketAddr)> = names
        .iter()
        .map(String::as_str)
        .zip(addrs.iter().copied())
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut blip_rng = Rng(0xd1b5_4a32_d192_ed03);
    let (mut bytes, mut lines) = (0u64, 0u64);
    let mut buf = String::with_capacity(1 << 20);
    for d in 0..DAYS {
        let day = FIRST_DAY + d;
        let midnight = day * DAY;
        // Outages of the day: (node, start, end), within 01:00..23:30.
        let mut downs: Vec<(usize, i64, i64)> = Vec::new();
        for n in 0..NODES {
            if rng.below(10) == 0 {
                let start = midnight + 3_600_000 + rng.below(21 * 3_600_000) as i64;
                let len = 60_000 + rng.below(59 * 60_000) as i64;
                downs.push((n, start, start + len));
            }
        }
        let date = logline::day_string(midnight);
        for me in 0..NODES {
            // (time, kind): kind 0 = event (peer, count), 1 = restart header.
            let mut ev: Vec<(i64, u8, usize, u32)> = Vec::new();
            let my_downs: Vec<(i64, i64)> = downs
                .iter()
                .filter(|(n, _, _)| *n == me)
                .map(|&(_, s, e)| (s, e))
                .collect();
            let i_was_down = |t: i64| my_downs.iter().any(|&(s, e)| t >= s && t <= e);
            for &(n, s, e) in &downs {
                if n == me {
                    ev.push((e, 1, 0, 0));
                    continue;
                }
                let jitter = rng.below(900) as i64;
                for (k, t) in [(1, s), (2, s + 1000), (3, s + 2000), (0, e + 500)] {
                    let t = t + jitter;
                    if !i_was_down(t) {
                        ev.push((t, 0, n, k));
                    }
                }
            }
            for _ in 0..blips_per_day {
                let peer = (me + 1 + blip_rng.below(NODES as u64 - 1) as usize) % NODES;
                let t = midnight + 1000 + blip_rng.below((DAY - 10_000) as u64) as i64;
                let busy = downs
                    .iter()
                    .any(|&(n, s, e)| (n == peer || n == me) && t + 2000 >= s && t <= e + 2000);
                if !busy {
                    ev.push((t, 0, peer, 1));
                    ev.push((t + 1000, 0, peer, 0));
                }
            }
            ev.sort_unstable();
            buf.clear();
            buf.push_str("---\n");
            logline::write_header(&mut buf, midnight + 2, 3, &names[me], &nodes);
            buf.push('\n');
            lines += 2;
            for (t, kind, peer, count) in ev {
                if kind == 1 {
                    buf.push_str("---\n");
                    logline::write_header(&mut buf, t, 3, &names[me], &nodes);
                    lines += 1;
                } else {
                    logline::write_event(&mut buf, t, &names[peer], count);
                }
                buf.push('\n');
                lines += 1;
            }
            let path = dir.join(format!("{date}-{}.log", names[me]));
            fs::write(&path, &buf).unwrap();
            bytes += buf.len() as u64;
        }
    }
    (bytes, lines)
}

/// `VmHWM` (peak resident memory) of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Child mode: report over `dir` (up to `until` if given), print figures.
fn report_only(dir: PathBuf, until: Option<i64>) {
    let start = Instant::now();
    let opts = Options {
        paths: vec![dir.clone()],
        since: None,
        until,
        tolerance_ms: DEFAULT_TOLERANCE_MS,
        now: Some(uptime_tracker::report::cli::now_ms()),
    };
    let mut problems = std::io::stderr();
    let r = report::build(&opts, &mut problems).expect("logs");
    let read = start.elapsed();
    let out = dir.join("out");
    let _ = fs::create_dir(&out);
    let write = |name: &str, f: &dyn Fn(&mut dyn Write) -> std::io::Result<()>| {
        let mut w = BufWriter::new(File::create(out.join(name)).unwrap());
        f(&mut w).unwrap();
        w.flush().unwrap();
        fs::metadata(out.join(name)).map(|m| m.len()).unwrap_or(0)
    };
    let sizes = [
        write("report.txt", &|w| text::write(&r, w)),
        write("report.json", &|w| export::json(&r, w)),
        write("report.csv", &|w| export::csv(&r, w)),
        write("report.svg", &|w| svg::write(&r, w)),
    ];
    let total = start.elapsed();
    let outages: usize = r.pairs.iter().map(|p| p.outages.len()).sum();
    println!(
        "  {} files, {} lines, {} problems; {} pairs, {} outages, {} incidents",
        r.files,
        r.lines,
        r.problems,
        r.pairs.len(),
        outages,
        r.incidents.len()
    );
    println!(
        "  read + analyse: {:.2} s ({:.0} k lines/s); with text, json, csv, svg outputs: {:.2} s",
        read.as_secs_f64(),
        r.lines as f64 / read.as_secs_f64() / 1000.0,
        total.as_secs_f64()
    );
    println!(
        "  outputs: text {} KB, json {} KB, csv {} KB, svg {} KB",
        sizes[0] / 1000,
        sizes[1] / 1000,
        sizes[2] / 1000,
        sizes[3] / 1000
    );
    println!("  peak resident memory (VmHWM): {} KiB", peak_rss_kib());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--report-only") {
        let dir = PathBuf::from(&args[i + 1]);
        let until = args.get(i + 2).and_then(|s| s.parse().ok());
        return report_only(dir, until);
    }
    let base = std::env::temp_dir().join(format!(
        "uptime-tracker-bench-report-{}",
        std::process::id()
    ));
    let exe = std::env::current_exe().unwrap();
    /// A report to run: what it covers, and the window's end (`None`: all).
    type Window = (&'static str, Option<i64>);
    let runs: [(u64, &[Window]); 2] = [
        (
            40,
            &[
                ("first 30 days", Some((FIRST_DAY + 30) * DAY)),
                ("whole year", None),
            ],
        ),
        (160, &[("whole year, 4x the blips, same outages", None)]),
    ];
    for (blips, reports) in runs {
        let dir = base.join(format!("blips-{blips}"));
        fs::create_dir_all(&dir).unwrap();
        let start = Instant::now();
        let (bytes, lines) = generate(&dir, blips);
        println!(
            "generated {NODES} nodes x {DAYS} days, {blips} blips per node and day: {} files, {lines} lines, {:.1} MB in {:.1} s ({})",
            NODES as i64 * DAYS,
            bytes as f64 / 1e6,
            start.elapsed().as_secs_f64(),
            dir.display()
        );
        for &(what, until) in reports {
            println!("report over the {what}:");
            let mut cmd = Command::new(&exe);
            cmd.arg("--report-only").arg(&dir);
            if let Some(u) = until {
                cmd.arg(u.to_string());
            }
            let st = cmd.status().unwrap();
            assert!(st.success(), "report child failed: {st}");
        }
        if std::env::var_os("UPTIME_TRACKER_KEEP_BENCH").is_none() {
            let _ = fs::remove_dir_all(&dir);
        } else {
            println!("kept {}", dir.display());
        }
    }
    let _ = fs::remove_dir(&base);
}
