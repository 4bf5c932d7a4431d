//! The simulator's properties (src/sim/check.rs) over many seeds, and determinism.
//!
//! `UPTIME_TRACKER_SIM_SEEDS=N` runs N seeds instead of the default; `UPTIME_TRACKER_SIM_LONG=1`
//! also runs 50 nodes for 24 simulated hours (about 2 minutes of CPU with
//! `cargo test --profile sim`, the build for speed; BENCHMARKS.md).

use uptime_tracker::sim::{self, Options};

fn seeds(default: u64) -> u64 {
    std::env::var("UPTIME_TRACKER_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn assert_clean(seed: u64, out: &sim::Outcome) {
    assert!(
        out.report.violations.is_empty(),
        "seed {seed}: {} violations, first: {:#?}\nfaults: {:#?}",
        out.report.violations.len(),
        out.report.violations.iter().take(5).collect::<Vec<_>>(),
        out.faults
    );
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let cfg = sim::mesh_config(5, 200, 300, 3);
    let a = sim::run(&cfg, &Options::quick(7));
    let b = sim::run(&cfg, &Options::quick(7));
    assert_eq!(a.logs, b.logs);
    assert_eq!(a.faults, b.faults);
    let c = sim::run(&cfg, &Options::quick(8));
    assert_ne!(a.logs, c.logs, "another seed, another history");
    // The run crossed a UTC midnight: every node has a file for each day.
    for node in 1..=5 {
        for day in ["2025-12-31", "2026-01-01"] {
            let name = format!("{day}-node{node}.log");
            assert!(a.logs.iter().any(|(n, _)| *n == name), "{name} missing");
        }
    }
}

#[test]
fn properties_hold_with_loss_and_jitter() {
    let n = seeds(100);
    let mut recoveries = 0;
    for seed in 0..n {
        let cfg = sim::mesh_config(4, 200, 300, 3);
        let mut opts = Options::quick(seed);
        opts.loss = 0.02;
        opts.latency = (1, 60);
        let out = sim::run(&cfg, &opts);
        assert_clean(seed, &out);
        recoveries += out.report.recoveries;
    }
    assert!(recoveries > 0);
}

/// Seed 1062 found it: after a heal, probes started during the outage expired one by one
/// on each fresh link, and each expiry abandoned that link, so the peer came back late.
/// A link is abandoned for a timed-out probe only once it has been ready a whole timeout.
#[test]
fn a_heal_under_jitter_is_not_a_redial_loop() {
    let cfg = sim::mesh_config(4, 200, 300, 3);
    let mut opts = Options::quick(1062);
    opts.loss = 0.02;
    opts.latency = (1, 60);
    assert_clean(1062, &sim::run(&cfg, &opts));
}

#[test]
fn properties_hold_with_an_online_threshold() {
    let n = seeds(60);
    let (mut recoveries, mut offline) = (0, 0);
    for seed in 0..n {
        let mut cfg = sim::mesh_config(4, 200, 300, 2);
        cfg.online_threshold = 3;
        let mut opts = Options::quick(seed);
        opts.loss = 0.02;
        opts.latency = (1, 60);
        let out = sim::run(&cfg, &opts);
        assert_clean(seed, &out);
        recoveries += out.report.recoveries;
        offline += out.report.offline_lines;
    }
    assert!(recoveries > 0 && offline > 0);
}

#[test]
fn timeouts_longer_than_the_interval_and_a_threshold_of_one() {
    for seed in 0..seeds(100) {
        let cfg = sim::mesh_config(3, 100, 450, 1 + (seed % 2) as u32 * 4);
        let out = sim::run(&cfg, &Options::quick(seed));
        assert_clean(seed, &out);
    }
}

#[test]
fn a_long_run_when_asked() {
    if std::env::var_os("UPTIME_TRACKER_SIM_LONG").is_none() {
        eprintln!("set UPTIME_TRACKER_SIM_LONG=1 for 50 nodes x 24 simulated hours");
        return;
    }
    let cfg = sim::mesh_config(50, 1000, 1500, 3);
    let mut opts = Options::quick(1);
    opts.duration_ms = 24 * 3_600_000;
    opts.faults = 200;
    let started = std::time::Instant::now();
    let out = sim::run(&cfg, &opts);
    eprintln!(
        "50 nodes x 24 h: {:?}, {} outages, {} detected, {} lines",
        started.elapsed(),
        out.report.outages,
        out.report.detected,
        out.report.lines
    );
    assert_clean(1, &out);
}

#[test]
fn properties_hold_over_many_seeds() {
    let n = seeds(300);
    let mut outages = 0;
    let mut detected = 0;
    let mut recoveries = 0;
    for seed in 0..n {
        let nodes = 3 + (seed % 4) as usize;
        let cfg = sim::mesh_config(nodes, 200, 300, 3);
        let out = sim::run(&cfg, &Options::quick(seed));
        assert_clean(seed, &out);
        outages += out.report.outages;
        detected += out.report.detected;
        recoveries += out.report.recoveries;
    }
    eprintln!("{n} seeds: {outages} outages, {detected} detected, {recoveries} recoveries checked");
    assert_eq!(outages, detected);
    assert!(
        outages > n as usize,
        "the faults must produce outages to check"
    );
    assert!(recoveries > n as usize);
}

/// `UPTIME_TRACKER_SIM_DUMP=SEED:NODES cargo test --test sim dump -- --nocapture` prints
/// one run's faults and logs, to study a failing seed.
#[test]
fn dump() {
    let Ok(spec) = std::env::var("UPTIME_TRACKER_SIM_DUMP") else {
        return;
    };
    let (seed, nodes) = spec.split_once(':').unwrap_or((&spec, "3"));
    let (seed, nodes): (u64, usize) = (seed.parse().unwrap(), nodes.parse().unwrap());
    let out = sim::run(&sim::mesh_config(nodes, 200, 300, 3), &Options::quick(seed));
    eprintln!("{:#?}", out.faults);
    for (name, text) in &out.logs {
        eprintln!("== {name}\n{text}");
    }
    eprintln!("{:#?}", out.report.violations);
}

/// The `simulate` command: the same seed writes byte-identical folders; the summary
/// counts what the checker found; bad arguments are usage errors.
#[test]
fn simulate_command_is_deterministic_and_reports() {
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_uptime-tracker");
    let base = std::env::temp_dir().join(format!("uptime-tracker-sim-{}", std::process::id()));
    let (a, b) = (base.join("A"), base.join("B"));
    let run = |dir: &std::path::Path| {
        Command::new(bin)
            .args([
                "simulate", "--seed", "7", "--nodes", "4", "--hours", "0.5", "--format", "json",
                "--out",
            ])
            .arg(dir)
            .output()
            .expect("run simulate")
    };
    let (ra, rb) = (run(&a), run(&b));
    assert!(
        ra.status.success(),
        "{}",
        String::from_utf8_lossy(&ra.stderr)
    );
    assert_eq!(ra.stdout, rb.stdout);
    let json = String::from_utf8_lossy(&ra.stdout);
    assert!(
        json.contains("\"nodes\": 4") && json.contains("\"violations\": []"),
        "{json}"
    );
    let list = |d: &std::path::Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let (fa, fb) = (list(&a), list(&b));
    assert_eq!(fa, fb, "same seed, same bytes");
    assert!(fa.iter().any(|(n, _)| n == "faults.json"));
    // 4 nodes, one file per UTC day each (the run starts at 23:30 and crosses midnight).
    assert!(fa.iter().filter(|(n, _)| n.ends_with(".log")).count() >= 8);
    for (name, text) in &fa {
        if name.ends_with(".log") {
            let text = String::from_utf8(text.clone()).unwrap();
            uptime_tracker::logline::check_file(&text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }
    for bad in [
        &["--nodes", "1"][..],
        &["--faults", "bogus"],
        &["--loss", "101"],
        &["--config", "x", "--nodes", "3"],
    ] {
        let out = Command::new(bin)
            .arg("simulate")
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// Random loss on every link (issue 15): 4 nodes, interval 200 ms, timeout 300 ms,
/// threshold 3, latency 1..20 ms, 10 simulated minutes per seed with a few faults. Every
/// property holds (outages still detected and healed within the bounds), and the false
/// alarms (offline lines about a reachable peer) stay within the goals per simulated hour:
/// 1 at 5 %, 20 at 10 %, and at 30 % 300, an eighth of what a detector that does not
/// amplify loss would log (about 2,300): links ask the kernel to resend a lost segment
/// after `timeout / 6` and without backoff (`TCP_RTO_MIN_US`, `TCP_THIN_LINEAR_TIMEOUTS`;
/// about 1 an hour on seeds 1 to 3, against 6,000 and more with Linux's 200 ms floor and
/// backoff). On a kernel before 6.15 only the linear timeouts apply: about 4,300 an hour
/// (docs/protocol.md, "Links under loss"), bounded here too so that the model of an
/// older kernel stays honest. Costs about 4 s of simulated work per run of the suite.
#[test]
fn lossy_links_raise_few_false_alarms() {
    let n = seeds(3);
    let cases = [
        (0.05, None, 1.0),
        (0.10, None, 20.0),
        (0.30, None, 300.0),
        (0.30, Some(sim::LINUX_RTO_MIN_MS), 6_000.0),
    ];
    for (loss, rto_min, per_hour) in cases {
        let (mut alarms, mut hours) = (0, 0.0);
        for seed in 0..n {
            let cfg = sim::mesh_config(4, 200, 300, 3);
            let mut opts = Options::quick(seed);
            opts.duration_ms = 600_000;
            opts.faults = 4;
            opts.loss = loss;
            opts.rto_min = rto_min;
            let out = sim::run(&cfg, &opts);
            assert_clean(seed, &out);
            alarms += out.report.false_alarms;
            hours += opts.duration_ms as f64 / 3_600_000.0;
        }
        let rate = alarms as f64 / hours;
        eprintln!(
            "loss {:.0} %, kernel RTO floor {}: {alarms} false alarms in {hours:.1} simulated hours ({rate:.1} an hour; at most {per_hour})",
            loss * 100.0,
            rto_min.map_or("as asked".to_string(), |ms| format!("{ms} ms"))
        );
        // At 5 % a single alarm in a short sweep is not yet a rate: allow one.
        assert!(
            rate <= per_hour || alarms <= 1,
            "loss {loss}, RTO floor {rto_min:?}: {rate:.1} false alarms an hour, more than {per_hour}"
        );
    }
}
