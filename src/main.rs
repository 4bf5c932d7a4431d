//! Command line: `run`, `check-config`, `status`, `simulate`, `--help`, `--version`.
//!
//! Arguments are parsed by hand: four options do not justify an argument-parsing crate
//! in a binary meant to stay a few hundred KiB.

use std::path::PathBuf;
use std::process::ExitCode;

use uptime_tracker::config::Config;
use uptime_tracker::daemon;
use uptime_tracker::status_client;

const USAGE: &str = "\
Usage:
  uptime-tracker run --config FILE [--whoami NAME]
  uptime-tracker check-config --config FILE [--whoami NAME]
  uptime-tracker status (--config FILE [--whoami NAME] | --metrics ADDR)
  uptime-tracker simulate [--config FILE | --nodes N] [--hours H] [--seed S]
                 [--loss PCT] [--latency MS[..MS]] [--faults KIND,...] [--fault-count N]
                 [--interval MS] [--timeout MS] [--threshold N]
                 [--out DIR] [--format text|json]
  uptime-tracker --help | --version

Commands:
  run            probe every other node of the mesh and log changes of their state;
                 runs in the foreground until SIGINT or SIGTERM
  check-config   validate the config file and make the checks `run` makes before it
                 serves (port free, log folder writable, own ip an address of this
                 machine); print errors and warnings, then a summary
  status         ask the running daemon (at the config's metrics_listen, or at
                 ADDR, e.g. 127.0.0.1:9464) for its peers and print a table: state,
                 timeouts, last round-trip time, since when (UTC). Exit status 0
                 when every peer is up, 1 when one is down, 3 when the daemon
                 cannot be asked: a health check
  simulate       run the mesh (the config's nodes and timings, or N nodes with the
                 example's timings) over a simulated network with injected faults and
                 print how soon outages and recoveries are logged and how many false
                 offlines occur; deterministic for a seed. KIND: crash, freeze,
                 partition, reset, cut, halfopen, clock, all (default), none.
                 Defaults: 1 hour, seed 1, latency 1..20 ms, loss 0, one fault per
                 node-hour. --out DIR writes every node's log files and faults.json.

Options:
  --config FILE  the TOML config file
  --whoami NAME  this node's name, overriding the file's `whoami`
                 (so one file can serve every node)
  --metrics ADDR where `status` finds the daemon's metrics responder (IP:PORT)
  -h, --help     print this help
  -V, --version  print the version

Exit status: 0 on success or after SIGINT/SIGTERM (warnings do not change it); 1 on
a config error, when run cannot start (port in use, log folder not writable) or
stops on an error, when check-config finds an error, or, for simulate, when a
checked property failed (a bug: report it with the command line, which reproduces
it); 2 on a usage error. status: 0 all peers up, 1 a peer down, 3 cannot ask
(config error included), 2 on a usage error.";

enum Command {
    Run,
    Check,
    Status,
}

struct Args {
    command: Command,
    config: Option<PathBuf>,
    whoami: Option<String>,
    metrics: Option<String>,
}

enum Parsed {
    Go(Args),
    #[cfg(feature = "simulate")]
    Simulate(sim_cli::SimArgs),
    Help,
    Version,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let command = match args.next().as_deref() {
        Some("run") => Command::Run,
        Some("check-config") => Command::Check,
        Some("status") => Command::Status,
        #[cfg(feature = "simulate")]
        Some("simulate") => return sim_cli::parse(args).map(Parsed::Simulate),
        Some("-h" | "--help" | "help") => return Ok(Parsed::Help),
        Some(flag @ ("-V" | "--version")) => {
            return match args.next() {
                None => Ok(Parsed::Version),
                Some(extra) => Err(format!("{flag} takes no argument, got {extra:?}")),
            };
        }
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("no command given".into()),
    };
    let mut config = None;
    let mut whoami = None;
    let mut metrics = None;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let slot = match flag.as_str() {
            "--config" => &mut config,
            "--whoami" => &mut whoami,
            "--metrics" if matches!(command, Command::Status) => &mut metrics,
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            _ => return Err(format!("unknown argument {flag:?}")),
        };
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        if slot.replace(value).is_some() {
            return Err(format!("{flag} given twice"));
        }
    }
    match (&command, &config, &metrics) {
        (Command::Status, Some(_), Some(_)) => {
            return Err("give --config or --metrics, not both".into());
        }
        (Command::Status, None, None) => {
            return Err("status needs --config FILE or --metrics ADDR".into());
        }
        (Command::Status, _, _) | (_, Some(_), _) => {}
        (_, None, _) => return Err("--config FILE is required".into()),
    }
    Ok(Parsed::Go(Args {
        command,
        config: config.map(PathBuf::from),
        whoami,
        metrics,
    }))
}

fn main() -> ExitCode {
    if let Some(code) = report_commands() {
        return code;
    }
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Go(args)) => args,
        #[cfg(feature = "simulate")]
        Ok(Parsed::Simulate(args)) => return sim_cli::run(args),
        Ok(Parsed::Help) => {
            uptime_tracker::outln!("{USAGE}");
            print_report_usage();
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            uptime_tracker::outln!("uptime-tracker {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            uptime_tracker::errln!("uptime-tracker: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let (Command::Status, Some(addr)) = (&args.command, &args.metrics) {
        return ExitCode::from(status_client::run(status_client::resolve(addr)));
    }
    let Some(path) = &args.config else {
        return ExitCode::from(2); // parse_args requires it
    };
    if matches!(args.command, Command::Run) {
        daemon::hold_signals();
    }
    let cfg = match Config::load(path, args.whoami.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => {
            uptime_tracker::errln!("uptime-tracker: config error: {e}");
            return match args.command {
                Command::Status => ExitCode::from(status_client::CANNOT_ASK),
                _ => ExitCode::FAILURE,
            };
        }
    };
    match args.command {
        Command::Status => {
            ExitCode::from(status_client::run(status_client::from_config(&cfg, path)))
        }
        Command::Check => {
            let pre = daemon::preflight(&cfg);
            for finding in &pre.findings {
                uptime_tracker::errln!("uptime-tracker: {finding}");
            }
            if pre.has_errors() {
                return ExitCode::FAILURE;
            }
            print_summary(&cfg, &pre);
            ExitCode::SUCCESS
        }
        Command::Run => match daemon::run(
            cfg,
            daemon::ConfigSource {
                path: path.clone(),
                whoami: args.whoami.clone(),
            },
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                uptime_tracker::errln!("uptime-tracker: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn print_summary(cfg: &Config, pre: &daemon::Preflight) {
    match pre.warnings().count() {
        0 => uptime_tracker::outln!("config ok"),
        1 => uptime_tracker::outln!("config ok, 1 warning (on stderr)"),
        n => uptime_tracker::outln!("config ok, {n} warnings (on stderr)"),
    }
    uptime_tracker::outln!("whoami:            {}", cfg.whoami);
    uptime_tracker::outln!("listen:            {}", pre.listen);
    if let Some(addr) = cfg.metrics_listen {
        uptime_tracker::outln!("metrics_listen:    {addr}");
    }
    uptime_tracker::outln!("interval:          {} ms", cfg.interval_ms);
    uptime_tracker::outln!("timeout:           {} ms", cfg.timeout_ms);
    uptime_tracker::outln!("offline_threshold: {}", cfg.offline_threshold);
    uptime_tracker::outln!("online_threshold:  {}", cfg.online_threshold);
    uptime_tracker::outln!("log_folder:        {}", cfg.log_folder.display());
    match cfg.log_retention_days {
        Some(days) => uptime_tracker::outln!("log_retention:     {days} days"),
        None => uptime_tracker::outln!("log_retention:     keep every file"),
    }
    match &cfg.on_change {
        Some(hook) => uptime_tracker::outln!(
            "on_change:         {} (killed after {} ms)",
            hook.program.display(),
            hook.timeout_ms
        ),
        None => uptime_tracker::outln!("on_change:         none"),
    }
    if let Some(file) = &cfg.secret_file {
        uptime_tracker::outln!(
            "secret_file:       {} (handshakes authenticated)",
            file.display()
        );
    }
    uptime_tracker::outln!("nodes:");
    for (i, n) in cfg.nodes.iter().enumerate() {
        let me = match (i == cfg.me, n.legacy_http) {
            (true, _) => "  (this node)",
            (false, true) => "  (earlier tool: probed with HTTP GET /)",
            (false, false) => "",
        };
        uptime_tracker::outln!("  {:<16} {}{me}", n.name, n.addr);
    }
}

// ---------------------------------------------------------------------------------------
// `report` and `demo` (cargo feature `report`, on by default): src/report/cli.rs.

/// Runs `report` or `demo` if that is the command; `None` for the other commands.
#[cfg(feature = "report")]
fn report_commands() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    uptime_tracker::report::cli::dispatch(&args)
}

/// Without the feature, `report` and `demo` say how to get them.
#[cfg(not(feature = "report"))]
fn report_commands() -> Option<ExitCode> {
    let command = std::env::args().nth(1)?;
    if command != "report" && command != "demo" {
        return None;
    }
    uptime_tracker::errln!(
        "uptime-tracker: `{command}` is not in this build (built without the cargo feature \
         `report`); rebuild with default features: cargo build --release"
    );
    Some(ExitCode::from(2))
}

fn print_report_usage() {
    #[cfg(feature = "report")]
    uptime_tracker::outln!(
        "\nReading the logs back:\n{}",
        uptime_tracker::report::cli::USAGE
    );
}

/// `simulate`'s arguments; the simulation itself is `uptime_tracker::sim`.
#[cfg(feature = "simulate")]
mod sim_cli {
    use std::path::PathBuf;
    use std::process::ExitCode;

    use uptime_tracker::config::Config;
    use uptime_tracker::sim::fault::FaultKind;
    use uptime_tracker::sim::summary::{self, Format, Summary};
    use uptime_tracker::sim::{self, Options};

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

    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<SimArgs, String> {
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
                    if !(2..=uptime_tracker::config::MAX_NODES).contains(&n) {
                        return Err(format!("--nodes takes 2 to {}", uptime_tracker::config::MAX_NODES));
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
        Ok(a)
    }

    pub fn run(a: SimArgs) -> ExitCode {
        let mut cfg = match &a.config {
            Some(path) => match Config::load(path, None) {
                Ok(cfg) => cfg,
                Err(e) => {
                    uptime_tracker::errln!("uptime-tracker: config error: {e}");
                    return ExitCode::FAILURE;
                }
            },
            None => sim::mesh_config(a.nodes.unwrap_or(3), 1000, 1500, 3),
        };
        cfg.interval_ms = a.interval.unwrap_or(cfg.interval_ms);
        cfg.timeout_ms = a.timeout.unwrap_or(cfg.timeout_ms);
        cfg.offline_threshold = a.threshold.unwrap_or(cfg.offline_threshold);
        if cfg.interval_ms == 0 || cfg.timeout_ms == 0 || cfg.offline_threshold == 0 {
            uptime_tracker::errln!(
                "uptime-tracker: --interval, --timeout and --threshold must be at least 1"
            );
            return ExitCode::from(2);
        }
        let mut opts = a.opts;
        opts.duration_ms = (a.hours * 3_600_000.0) as u64;
        opts.faults = a
            .fault_count
            .unwrap_or(((cfg.nodes.len() as f64 * a.hours).round() as usize).max(1));
        if let Some(warning) = summary::timeout_warning(&cfg, &opts) {
            uptime_tracker::errln!("uptime-tracker: warning: {warning}");
        }
        let out = sim::run(&cfg, &opts);
        let summary = Summary::new(&cfg, &opts, &out);
        let text = summary.render(&cfg, &opts, a.format);
        let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
        if let Some(dir) = &a.out
            && let Err(e) = summary::write_out(dir, &cfg, &opts, &out)
        {
            uptime_tracker::errln!("uptime-tracker: cannot write the simulated logs: {e}");
            return ExitCode::FAILURE;
        }
        if out.report.violations.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
