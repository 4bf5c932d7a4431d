//! `uptime-tracker simulate`: runs the simulator on a user's mesh and says what its
//! `interval`, `timeout` and `offline_threshold` would give on a modelled network: how
//! soon outages are logged, how soon recoveries, and how many false alarms.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use super::check::{self, percentile};
use super::fault::{self, FaultKind};
use super::{Options, Outcome};
use crate::config::Config;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines for a person.
    Text,
    /// One JSON object.
    Json,
}

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Nodes simulated.
    pub nodes: usize,
    /// Simulated hours.
    pub hours: f64,
    /// Faults injected, per kind.
    pub faults: Vec<(FaultKind, usize)>,
    /// Detection bound, ms.
    pub detection_bound: u64,
    /// Recovery bound, ms.
    pub recovery_bound: u64,
    /// The checker's report.
    pub report: check::Report,
}

impl Summary {
    /// The figures of `out`, a run of `cfg` under `opts`.
    pub fn new(cfg: &Config, opts: &Options, out: &Outcome) -> Summary {
        let faults = FaultKind::ALL
            .iter()
            .map(|&k| (k, out.faults.iter().filter(|f| f.kind == k).count()))
            .filter(|&(_, n)| n > 0)
            .collect();
        Summary {
            nodes: cfg.nodes.len(),
            hours: opts.duration_ms as f64 / 3_600_000.0,
            faults,
            detection_bound: check::detection_bound(
                cfg.interval_ms,
                cfg.timeout_ms,
                cfg.offline_threshold,
                opts.latency.1,
            ),
            recovery_bound: check::recovery_bound(
                cfg.interval_ms,
                cfg.timeout_ms,
                cfg.online_threshold,
                opts.latency.1,
            ),
            report: out.report.clone(),
        }
    }

    /// `n` per node and simulated day.
    fn per_node_day(&self, n: usize) -> f64 {
        let node_days = self.nodes as f64 * self.hours / 24.0;
        if node_days > 0.0 {
            n as f64 / node_days
        } else {
            0.0
        }
    }

    /// False alarms (offline lines about a reachable peer) per node and simulated day.
    pub fn false_per_node_day(&self) -> f64 {
        self.per_node_day(self.report.false_alarms)
    }

    /// Offline lines per node and simulated day.
    pub fn offline_per_node_day(&self) -> f64 {
        self.per_node_day(self.report.offline_lines)
    }

    /// The summary in `format`.
    pub fn render(&self, cfg: &Config, opts: &Options, format: Format) -> String {
        match format {
            Format::Text => self.text(cfg, opts),
            Format::Json => self.json(cfg, opts),
        }
    }

    fn text(&self, cfg: &Config, opts: &Options) -> String {
        let r = &self.report;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "simulated {} nodes for {} h (seed {}): interval {} ms, timeout {} ms, offline after {} timeouts",
            self.nodes,
            trim(self.hours),
            opts.seed,
            cfg.interval_ms,
            cfg.timeout_ms,
            cfg.offline_threshold
        );
        let _ = writeln!(
            s,
            "network: one-way latency {}..{} ms, loss {}% per transmission; kernel RTO floor {} ms",
            opts.latency.0,
            opts.latency.1,
            trim(opts.loss * 100.0),
            opts.kernel_rto_min(cfg.timeout_ms)
        );
        let kinds: Vec<String> = self
            .faults
            .iter()
            .map(|(k, n)| format!("{} {n}", k.name()))
            .collect();
        let total: usize = self.faults.iter().map(|(_, n)| n).sum();
        let _ = writeln!(s, "faults injected: {total} ({})", kinds.join(", "));
        let missed = r.outages - r.detected;
        let _ = writeln!(
            s,
            "outages seen by an observer: {} longer than the detection bound ({} ms): {} logged offline in time, {missed} missed; {} shorter (not expected to be logged)",
            r.outages, self.detection_bound, r.detected, r.short
        );
        let _ = writeln!(
            s,
            "offline lines: {} in all ({:.2} per node-day), {} of them false alarms about a reachable peer ({:.2} per node-day)",
            r.offline_lines,
            self.offline_per_node_day(),
            r.false_alarms,
            self.false_per_node_day()
        );
        let _ = writeln!(
            s,
            "detection latency (outage start, or observer back, to offline line): {}",
            spread(&r.detection_ms)
        );
        let _ = writeln!(
            s,
            "recovery latency (heal to back online, bound {} ms): {}",
            self.recovery_bound,
            spread(&r.recovery_ms)
        );
        let _ = writeln!(
            s,
            "offline lines without any fault or delayed segment to explain them (property 2): {}",
            r.false_offlines
        );
        let _ = writeln!(s, "property violations: {}", r.violations.len());
        for v in r.violations.iter().take(20) {
            let _ = writeln!(s, "  {v}");
        }
        s
    }

    fn json(&self, cfg: &Config, opts: &Options) -> String {
        let r = &self.report;
        let stats = |v: &[u64]| {
            format!(
                "{{\"count\": {}, \"p50_ms\": {}, \"p99_ms\": {}, \"max_ms\": {}}}",
                v.len(),
                opt(percentile(v, 50)),
                opt(percentile(v, 99)),
                opt(v.iter().max().copied())
            )
        };
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(k, n)| format!("\"{}\": {n}", k.name()))
            .collect();
        let violations: Vec<String> = r
            .violations
            .iter()
            .map(|v| crate::json::string(v))
            .collect();
        format!(
            "{{\"nodes\": {}, \"hours\": {}, \"seed\": {}, \"interval_ms\": {}, \"timeout_ms\": {}, \"offline_threshold\": {}, \
\"latency_ms\": [{}, {}], \"loss\": {}, \"rto_min_ms\": {}, \"faults\": {{{}}}, \"detection_bound_ms\": {}, \"recovery_bound_ms\": {}, \
\"outages\": {}, \"detected\": {}, \"missed\": {}, \"short\": {}, \"false_alarms\": {}, \"false_alarms_per_node_day\": {:.4}, \
\"unexplained_offlines\": {}, \"offline_lines\": {}, \"detection\": {}, \"recovery\": {}, \"violations\": [{}]}}\n",
            self.nodes,
            trim(self.hours),
            opts.seed,
            cfg.interval_ms,
            cfg.timeout_ms,
            cfg.offline_threshold,
            opts.latency.0,
            opts.latency.1,
            opts.loss,
            opts.kernel_rto_min(cfg.timeout_ms),
            faults.join(", "),
            self.detection_bound,
            self.recovery_bound,
            r.outages,
            r.detected,
            r.outages - r.detected,
            r.short,
            r.false_alarms,
            self.false_per_node_day(),
            r.false_offlines,
            r.offline_lines,
            stats(&r.detection_ms),
            stats(&r.recovery_ms),
            violations.join(", ")
        )
    }
}

/// A warning when `timeout` leaves no room for TCP to repair one lost segment on the
/// modelled network: the round trip at the largest latency plus one retransmission
/// timeout ([`super::data_rto_ms`]). Below that, every single loss costs a timeout, and a
/// lossy link flaps.
pub fn timeout_warning(cfg: &Config, opts: &Options) -> Option<String> {
    let need =
        super::data_rto_ms(opts.latency, opts.kernel_rto_min(cfg.timeout_ms)) + 2 * opts.latency.1;
    (cfg.timeout_ms < need).then(|| {
        format!(
            "timeout {} ms is below the modelled round trip plus one retransmission ({need} ms at one-way latency up to {} ms): each lost segment will cost a timeout; expect false alarms under loss",
            cfg.timeout_ms, opts.latency.1
        )
    })
}

/// Writes every node's log files and `faults.json` (the ground truth) into `dir`,
/// creating it. Files of the same names are replaced, so a seed run twice into the same
/// folder leaves identical bytes.
pub fn write_out(dir: &Path, cfg: &Config, opts: &Options, out: &Outcome) -> io::Result<()> {
    let named = |e: io::Error, p: &Path| io::Error::new(e.kind(), format!("{}: {e}", p.display()));
    fs::create_dir_all(dir).map_err(|e| named(e, dir))?;
    for (name, text) in &out.logs {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|e| named(e, &path))?;
    }
    let names: Vec<String> = cfg.nodes.iter().map(|n| n.name.clone()).collect();
    let path = dir.join("faults.json");
    fs::write(&path, fault::to_json(&out.faults, &names, opts.start_wall))
        .map_err(|e| named(e, &path))
}

fn spread(v: &[u64]) -> String {
    match (percentile(v, 50), percentile(v, 99), v.iter().max()) {
        (Some(a), Some(b), Some(c)) => {
            format!("p50 {a} ms, p99 {b} ms, max {c} ms (n = {})", v.len())
        }
        _ => "none measured".into(),
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "null".into(), |v| v.to_string())
}

/// A number without a trailing `.0`.
fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
