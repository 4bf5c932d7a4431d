//! Command line: `run`, `check-config`, `--help`, `--version`.
//!
//! Arguments are parsed by hand: four options do not justify an argument-parsing crate
//! in a binary meant to stay a few hundred KiB.

use std::path::PathBuf;
use std::process::ExitCode;

use uptime_tracker::config::Config;
use uptime_tracker::daemon;

const USAGE: &str = "\
Usage:
  uptime-tracker run --config FILE [--whoami NAME]
  uptime-tracker check-config --config FILE [--whoami NAME]
  uptime-tracker --help | --version

Commands:
  run            probe every other node of the mesh and log changes of their state;
                 runs in the foreground until SIGINT or SIGTERM
  check-config   validate the config file and print a summary

Options:
  --config FILE  the TOML config file
  --whoami NAME  this node's name, overriding the file's `whoami`
                 (so one file can serve every node)
  -h, --help     print this help
  -V, --version  print the version

Exit status: 0 on success or after SIGINT/SIGTERM, 1 on a config or runtime error,
2 on a usage error.";

enum Command {
    Run,
    Check,
}

struct Args {
    command: Command,
    config: PathBuf,
    whoami: Option<String>,
}

enum Parsed {
    Go(Args),
    Help,
    Version,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let command = match args.next().as_deref() {
        Some("run") => Command::Run,
        Some("check-config") => Command::Check,
        Some("-h" | "--help" | "help") => return Ok(Parsed::Help),
        Some("-V" | "--version") => return Ok(Parsed::Version),
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("no command given".into()),
    };
    let mut config = None;
    let mut whoami = None;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let slot = match flag.as_str() {
            "--config" => &mut config,
            "--whoami" => &mut whoami,
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
    let config = config.ok_or("--config FILE is required")?;
    Ok(Parsed::Go(Args {
        command,
        config: PathBuf::from(config),
        whoami,
    }))
}

fn main() -> ExitCode {
    if let Some(code) = report_commands() {
        return code;
    }
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Go(args)) => args,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            print_report_usage();
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("uptime-tracker {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("uptime-tracker: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cfg = match Config::load(&args.config, args.whoami.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("uptime-tracker: config error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args.command {
        Command::Check => {
            print_summary(&cfg);
            ExitCode::SUCCESS
        }
        Command::Run => match daemon::run(cfg) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("uptime-tracker: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn print_summary(cfg: &Config) {
    println!("config ok");
    println!("whoami:            {}", cfg.whoami);
    println!("listen:            {}", cfg.listen);
    println!("interval:          {} ms", cfg.interval_ms);
    println!("timeout:           {} ms", cfg.timeout_ms);
    println!("offline_threshold: {}", cfg.offline_threshold);
    println!("log_folder:        {}", cfg.log_folder.display());
    println!("nodes:");
    for (i, n) in cfg.nodes.iter().enumerate() {
        let me = if i == cfg.me { "  (this node)" } else { "" };
        println!("  {:<16} {}{me}", n.name, n.addr);
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
    eprintln!(
        "uptime-tracker: `{command}` is not in this build (built without the cargo feature \
         `report`); rebuild with default features: cargo build --release"
    );
    Some(ExitCode::from(2))
}

fn print_report_usage() {
    #[cfg(feature = "report")]
    println!(
        "\nReading the logs back:\n{}",
        uptime_tracker::report::cli::USAGE
    );
}
