//! Command line: `run`, `check-config`, `status`, `simulate`, `report`, `demo`, `help`,
//! `--help`, `--version`. Each command's own help lives beside its code
//! (`<command> --help`); this file parses the command line and dispatches.
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
  uptime-tracker status (--config FILE [--whoami NAME] | --metrics ADDR) [--mesh]
  uptime-tracker simulate [--config FILE | --nodes N] [--hours H] [OPTION...]
  uptime-tracker report [OPTION...] PATH...
  uptime-tracker demo [--keep DIR] [--svg FILE]
  uptime-tracker --help | --version

Commands:
  run            probe every other node of the mesh and log changes of their state
  check-config   validate the config file and make the checks `run` makes before it
                 serves
  status         ask a running daemon for the state of its peers (a health check)
  simulate       run the mesh over a simulated network with injected faults
  report         read the log files back: uptime, outages, incidents, a timeline
  demo           a 3-node mesh on this machine for about 15 s, then its report

`uptime-tracker COMMAND --help` (or `uptime-tracker help COMMAND`) says what COMMAND
does, its options and its exit status.

Exit status: 0 on success or after SIGINT/SIGTERM (warnings do not change it); 1 on
a config error, when run cannot start (port in use, log folder not writable) or
stops on an error, when check-config finds an error, or, for simulate, when a
checked property failed (a bug: report it with the command line, which reproduces
it); 2 on a usage error. status: 0 all peers up, 1 a peer down, 3 cannot ask
(config error included), 2 on a usage error; status --mesh: 0 all up, 1 a node
down, 4 a broken link, 5 this node cut off, 3 cannot ask.";

/// Every command, for "did you mean".
const COMMANDS: [&str; 7] = [
    "run",
    "check-config",
    "status",
    "simulate",
    "report",
    "demo",
    "help",
];

/// The help of `command`, from the module that carries it out.
fn help_of(command: &str) -> Result<&'static str, String> {
    match command {
        "run" => Ok(daemon::RUN_USAGE),
        "check-config" => Ok(daemon::CHECK_CONFIG_USAGE),
        "status" => Ok(status_client::USAGE),
        #[cfg(feature = "simulate")]
        "simulate" => Ok(uptime_tracker::sim::cli::USAGE),
        #[cfg(feature = "report")]
        "report" => Ok(uptime_tracker::report::cli::REPORT_USAGE),
        #[cfg(feature = "report")]
        "demo" => Ok(uptime_tracker::report::cli::DEMO_USAGE),
        #[cfg(not(feature = "simulate"))]
        "simulate" => Err(not_built(command)),
        #[cfg(not(feature = "report"))]
        "report" | "demo" => Err(not_built(command)),
        "help" => Ok(USAGE),
        other => Err(match uptime_tracker::suggest::closest(other, &COMMANDS) {
            Some(meant) => format!("unknown command {other:?}: did you mean `{meant}`?"),
            None => format!("unknown command {other:?}"),
        }),
    }
}

/// Why `command` is missing from this build.
#[cfg(not(all(feature = "simulate", feature = "report")))]
fn not_built(command: &str) -> String {
    let feature = if command == "simulate" {
        "simulate"
    } else {
        "report"
    };
    format!(
        "`{command}` is not in this build (built without the cargo feature `{feature}`); \
         rebuild with default features: cargo build --release"
    )
}

enum Command {
    Run,
    Check,
    Status,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Check => "check-config",
            Command::Status => "status",
        }
    }
}

struct Args {
    command: Command,
    config: Option<PathBuf>,
    whoami: Option<String>,
    metrics: Option<String>,
    /// `status --mesh`.
    mesh: bool,
}

enum Parsed {
    Go(Args),
    #[cfg(feature = "simulate")]
    Simulate(Box<uptime_tracker::sim::cli::SimArgs>),
    /// Print this help.
    Help(&'static str),
    Version,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let command = match args.next().as_deref() {
        Some("run") => Command::Run,
        Some("check-config") => Command::Check,
        Some("status") => Command::Status,
        #[cfg(feature = "simulate")]
        Some("simulate") => {
            return Ok(match uptime_tracker::sim::cli::parse(args)? {
                Some(sim) => Parsed::Simulate(Box::new(sim)),
                None => Parsed::Help(uptime_tracker::sim::cli::USAGE),
            });
        }
        Some("-h" | "--help") => return Ok(Parsed::Help(USAGE)),
        Some("help") => {
            let command = args.next();
            if let Some(extra) = args.next() {
                return Err(format!("help takes one command, got {extra:?}"));
            }
            return match command.as_deref() {
                None | Some("-h" | "--help") => Ok(Parsed::Help(USAGE)),
                Some(command) => help_of(command).map(Parsed::Help),
            };
        }
        Some(flag @ ("-V" | "--version")) => {
            return match args.next() {
                None => Ok(Parsed::Version),
                Some(extra) => Err(format!("{flag} takes no argument, got {extra:?}")),
            };
        }
        Some(other) => return Err(help_of(other).err().unwrap_or_default()),
        None => return Err("no command given".into()),
    };
    let mut config = None;
    let mut whoami = None;
    let mut metrics = None;
    let mut mesh = false;
    while let Some(arg) = args.next() {
        if arg == "--mesh" && matches!(command, Command::Status) {
            mesh = true;
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let slot = match flag.as_str() {
            "--config" => &mut config,
            "--whoami" => &mut whoami,
            "--metrics" if matches!(command, Command::Status) => &mut metrics,
            "-h" | "--help" => return help_of(command.name()).map(Parsed::Help),
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
        mesh,
    }))
}

fn main() -> ExitCode {
    if let Some(code) = report_commands() {
        return code;
    }
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Go(args)) => args,
        #[cfg(feature = "simulate")]
        Ok(Parsed::Simulate(args)) => return uptime_tracker::sim::cli::run(*args),
        Ok(Parsed::Help(text)) => {
            uptime_tracker::outln!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            uptime_tracker::outln!("uptime-tracker {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let command = std::env::args().nth(1);
            let usage = command.and_then(|c| help_of(&c).ok()).unwrap_or(USAGE);
            uptime_tracker::errln!("uptime-tracker: {e}\n\n{usage}");
            return ExitCode::from(2);
        }
    };
    if let (Command::Status, Some(addr)) = (&args.command, &args.metrics) {
        let addr = status_client::resolve(addr);
        return ExitCode::from(status_client::run(addr, args.mesh));
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
            let addr = status_client::from_config(&cfg, path);
            ExitCode::from(status_client::run(addr, args.mesh))
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
        let own = if addr.ip() == cfg.own().addr.ip() {
            " (this node's ip)"
        } else {
            ""
        };
        uptime_tracker::outln!("metrics_listen:    {addr}{own}");
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
    uptime_tracker::errln!("uptime-tracker: {}", not_built(&command));
    Some(ExitCode::from(2))
}
