//! `simulate`'s command line, parsed by hand like `main.rs`; the simulation itself is
//! [`crate::sim::run`].

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::sim::fault::FaultKind;
use crate::sim::summary::{self, Format, Summary};
use crate::sim::{self, Options};

/// `simulate --help`.
pub const USAGE: &str = "\
Usage:
  uptime-tracker simulate [--config FILE | --nodes N] [--hours H] [--seed S]
                 [--loss PCT] [--latency MS[..MS]] [--faults KIND,...] [--fault-count N]
                 [--interval MS] [--timeout MS] [--threshold N] [--rto-min MS]
                 [--out DIR] [--format text|json]

Runs the mesh (the config's nodes and timings, or N nodes with the example's timings)
over a simulated network with injected faults, and prints how soon outages and
recoveries are logged and how many false offlines occur. Deterministic for a seed.

  --config FILE      the mesh to simulate
  --nodes N          or N nodes (2 to 1024), interval 1000, timeout 1500, threshold 3
  --hours H          simulated time (default 1, at most a year)
  --seed S           the seed the whole run follows from (default 1)
  --loss PCT         segments lost, 0 to 100 % (default 0; retransmitted, so late)
  --latency MS[..MS] one-way latency, fixed or a range (default 1..20)
  --faults KIND,...  crash, freeze, partition, reset, cut, halfopen, clock, all
                     (default), none
  --fault-count N    faults injected (default one per node-hour)
  --interval MS, --timeout MS, --threshold N
                     instead of the config's interval, timeout, offline_threshold
  --rto-min MS       the kernel's floor for resending a lost segment (default: what
                     the daemon asks for, timeout / 6 within 5..200 ms, as Linux 6.15+
                     grants; give 200 for an older kernel: docs/tuning.md)
  --out DIR          also write every node's log files and faults.json into DIR
  --format F         text (default) or json

Exit status: 0 when every checked property held; 1 on a config error, or when a
property failed (a bug: report it with the command line, which reproduces it); 2 on
a usage error.";

/// What `simulate`'s arguments ask for.
pub struct SimArgs {
    config: Option<PathBuf>,
    nodes: Option<usize>,
    hours: f64,
    opts: Options,
    fault_count: Option<usize>,
    interval: Option<u64>,
    timeout: Option<u64>,
    threshold: Option<u32>,
    out: Option<PathBuf>,
    format: Format,
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag} takes a number, not {v:?}"))
}

/// Parses `simulate`'s arguments (after the command); `Ok(None)` for `--help`.
pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<SimArgs>, String> {
    let mut a = SimArgs {
        config: None,
        nodes: None,
        hours: 1.0,
        opts: Options::quick(1),
        fault_count: None,
        interval: None,
        timeout: None,
        threshold: None,
        out: None,
        format: Format::Text,
    };
    a.opts.start_wall = 1_767_225_600_000 - 1_800_000; // 2025-12-31T23:30:00Z
    let mut seen: Vec<String> = Vec::new();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        if matches!(flag.as_str(), "-h" | "--help") {
            return Ok(None);
        }
        if seen.contains(&flag) {
            return Err(format!("{flag} given twice"));
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let v = value.as_str();
        match flag.as_str() {
            "--config" => a.config = Some(PathBuf::from(v)),
            "--nodes" => {
                let n: usize = number(&flag, v)?;
                if !(2..=crate::config::MAX_NODES).contains(&n) {
                    return Err(format!("--nodes takes 2 to {}", crate::config::MAX_NODES));
                }
                a.nodes = Some(n);
            }
            "--hours" => {
                a.hours = number(&flag, v)?;
                if !(a.hours > 0.0 && a.hours <= 24.0 * 366.0) {
                    return Err("--hours takes more than 0, up to a year".into());
                }
            }
            "--seed" => a.opts.seed = number(&flag, v)?,
            "--loss" => {
                let pct: f64 = number(&flag, v)?;
                if !(0.0..=100.0).contains(&pct) {
                    return Err("--loss takes a percentage from 0 to 100".into());
                }
                a.opts.loss = pct / 100.0;
            }
            "--latency" => {
                let (lo, hi) = v.split_once("..").unwrap_or((v, v));
                let (lo, hi): (u64, u64) = (number(&flag, lo)?, number(&flag, hi)?);
                if lo > hi || hi > 60_000 {
                    return Err("--latency takes MS or MIN..MAX, at most 60000 ms".into());
                }
                a.opts.latency = (lo, hi);
            }
            "--faults" => {
                a.opts.kinds = match v {
                    "all" => FaultKind::ALL.to_vec(),
                    "none" => Vec::new(),
                    _ => v
                        .split(',')
                        .map(|k| {
                            FaultKind::parse(k.trim()).ok_or_else(|| {
                                format!("unknown fault {k:?}: crash, freeze, partition, reset, cut, halfopen, clock, all, none")
                            })
                        })
                        .collect::<Result<_, _>>()?,
                }
            }
            "--fault-count" => a.fault_count = Some(number(&flag, v)?),
            "--interval" => a.interval = Some(number(&flag, v)?),
            "--timeout" => a.timeout = Some(number(&flag, v)?),
            "--threshold" => a.threshold = Some(number(&flag, v)?),
            "--rto-min" => {
                let ms: u64 = number(&flag, v)?;
                if !(1..=sim::LINUX_RTO_MIN_MS).contains(&ms) {
                    return Err("--rto-min takes 1 to 200 ms (Linux's default floor)".into());
                }
                a.opts.rto_min = Some(ms);
            }
            "--out" => a.out = Some(PathBuf::from(v)),
            "--format" => {
                a.format = match v {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    _ => return Err(format!("--format takes text or json, not {v:?}")),
                }
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
        seen.push(flag);
    }
    if a.config.is_some() && a.nodes.is_some() {
        return Err("give --config or --nodes, not both".into());
    }
    Ok(Some(a))
}

/// Runs the simulation `a` asks for and prints its summary; the exit status of `simulate`.
pub fn run(a: SimArgs) -> ExitCode {
    let mut cfg = match &a.config {
        Some(path) => match Config::load(path, None) {
            Ok(cfg) => cfg,
            Err(e) => {
                crate::errln!("uptime-tracker: config error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => sim::mesh_config(a.nodes.unwrap_or(3), 1000, 1500, 3),
    };
    cfg.interval_ms = a.interval.unwrap_or(cfg.interval_ms);
    cfg.timeout_ms = a.timeout.unwrap_or(cfg.timeout_ms);
    cfg.offline_threshold = a.threshold.unwrap_or(cfg.offline_threshold);
    if cfg.interval_ms == 0 || cfg.timeout_ms == 0 || cfg.offline_threshold == 0 {
        crate::errln!("uptime-tracker: --interval, --timeout and --threshold must be at least 1");
        return ExitCode::from(2);
    }
    let mut opts = a.opts;
    opts.duration_ms = (a.hours * 3_600_000.0) as u64;
    opts.faults = a
        .fault_count
        .unwrap_or(((cfg.nodes.len() as f64 * a.hours).round() as usize).max(1));
    if let Some(warning) = summary::timeout_warning(&cfg, &opts) {
        crate::errln!("uptime-tracker: warning: {warning}");
    }
    let out = sim::run(&cfg, &opts);
    let summary = Summary::new(&cfg, &opts, &out);
    let text = summary.render(&cfg, &opts, a.format);
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    if let Some(dir) = &a.out
        && let Err(e) = summary::write_out(dir, &cfg, &opts, &out)
    {
        crate::errln!("uptime-tracker: cannot write the simulated logs: {e}");
        return ExitCode::FAILURE;
    }
    if out.report.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> impl Iterator<Item = String> {
        line.split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn help_is_asked_for_anywhere_and_states_the_limits_in_force() {
        for line in ["--help", "-h", "--nodes 3 --help"] {
            assert!(matches!(parse(args(line)), Ok(None)), "{line}");
        }
        assert!(USAGE.contains(&format!("(2 to {})", crate::config::MAX_NODES)));
        assert!(parse(args("--nodes 1")).is_err());
    }
}
