//! The command line of `report` and `demo`, parsed by hand like `main.rs`.
//!
//! Exit status of `report`: 0 when the input had no problem; 1 when it had some (each on
//! stderr as `file:line: reason`, a stretch of a log left out for its clock included;
//! the report is still produced from the rest); 2 on a usage error; 3 when no log file
//! was found or an output could not be written.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::report::{self, DEFAULT_TOLERANCE_MS, Options, Report, demo, export, svg, text, units};

/// `report --help`.
pub const REPORT_USAGE: &str = "\
Usage:
  uptime-tracker report [--since T] [--until T] [--format text|json|csv] [--svg FILE]
                        [--tolerance MS] PATH...

Reads log files (files, or folders searched for YYYY-MM-DD-<whoami>.log) and prints
uptime, outages and blips per observer and observed node, incidents with verdicts,
and who saw whom down.

  --since T, --until T   the window (default: the earliest line read, to now when the
                 newest file is of today, else to the end of its day);
                 T is now, YYYY-MM-DD (its 00:00) or YYYY-MM-DDTHH:MM[:SS[.mmm]][Z], UTC
  --format F     text (default), json or csv
  --svg FILE     also write a timeline picture, one row per observed node
  --tolerance MS clock difference between observers still counted as the same
                 incident (default 5000)

The observers' clocks are checked against each other: a stretch of a log whose clock
was off is left out and listed as a problem.

Exit status: 0 when the input had no problem; 1 when it had some (listed on stderr as
file:line: reason; the rest is still reported); 2 on a usage error; 3 when no log file
was found or an output could not be written.";

/// `demo --help`.
pub const DEMO_USAGE: &str = "\
Usage:
  uptime-tracker demo [--keep DIR] [--svg FILE]

Runs a 3-node mesh of this binary on 127.0.0.1-3 for about 15 s, stops one node for
5 s, then prints the report of their logs and writes the timeline picture. Nothing is
left behind unless --keep is given.

  --keep DIR     keep the config, logs and outputs in DIR (new or empty)
  --svg FILE     where the picture goes (default DIR/report.svg with --keep, else
                 uptime-tracker-demo.svg in the temporary folder of the system)

Exit status: 0 when the demo ran to its end; 1 when it could not (a node that did not
start or exited, a --keep folder not new or empty, interrupted); 2 on a usage error.";

/// Runs `report` or `demo` if `args` (without the program name) starts with one; `None`
/// for any other command.
pub fn dispatch(args: &[String]) -> Option<ExitCode> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("report") => Some(report_main(rest)),
        Some("demo") => Some(demo::main(rest)),
        _ => None,
    }
}

/// Output format of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document.
    Json,
    /// One CSV table.
    Csv,
}

/// What `report`'s arguments ask for.
#[derive(Debug)]
pub struct ReportArgs {
    /// Input and window.
    pub options: Options,
    /// Output format.
    pub format: Format,
    /// Where the picture goes, if anywhere.
    pub svg: Option<PathBuf>,
}

/// Milliseconds since the Unix epoch now (for `now`).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses `report`'s arguments; `Ok(None)` for `--help`.
pub fn parse_report_args(args: &[String], now: i64) -> Result<Option<ReportArgs>, String> {
    let mut options = Options {
        paths: Vec::new(),
        since: None,
        until: None,
        tolerance_ms: DEFAULT_TOLERANCE_MS,
        now: Some(now),
    };
    let (mut format, mut svg, mut format_seen) = (Format::Text, None, false);
    let mut it = args.iter();
    let mut only_paths = false;
    while let Some(arg) = it.next() {
        if only_paths || !arg.starts_with('-') || arg == "-" {
            options.paths.push(PathBuf::from(arg));
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if flag == "--" {
            only_paths = true;
            continue;
        }
        if matches!(flag, "-h" | "--help") {
            return Ok(None);
        }
        if !matches!(
            flag,
            "--since" | "--until" | "--format" | "--svg" | "--tolerance"
        ) {
            return Err(format!("unknown argument {flag:?}"));
        }
        let value = inline
            .or_else(|| it.next().cloned())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let twice = || format!("{flag} given twice");
        match flag {
            "--since" | "--until" => {
                let t = units::parse_cli_time(&value, now)?;
                let slot = if flag == "--since" {
                    &mut options.since
                } else {
                    &mut options.until
                };
                if slot.replace(t).is_some() {
                    return Err(twice());
                }
            }
            "--format" => {
                if std::mem::replace(&mut format_seen, true) {
                    return Err(twice());
                }
                format = match value.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    other => return Err(format!("unknown format {other:?}: text, json or csv")),
                };
            }
            "--svg" => {
                if svg.replace(PathBuf::from(value)).is_some() {
                    return Err(twice());
                }
            }
            _ => {
                options.tolerance_ms = value.parse::<u32>().map(i64::from).map_err(|_| {
                    format!("--tolerance {value:?}: expected milliseconds, 0..=4294967295")
                })?;
            }
        }
    }
    if options.paths.is_empty() {
        return Err("no PATH given (log files or folders)".into());
    }
    if let (Some(since), Some(until)) = (options.since, options.until)
        && since >= until
    {
        return Err("--since must be before --until".into());
    }
    Ok(Some(ReportArgs {
        options,
        format,
        svg,
    }))
}

fn report_main(args: &[String]) -> ExitCode {
    let parsed = match parse_report_args(args, now_ms()) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            crate::outln!("{REPORT_USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            crate::errln!("uptime-tracker report: {e}\n\n{REPORT_USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut stderr = io::stderr();
    let Some(report) = report::build(&parsed.options, &mut stderr) else {
        crate::errln!(
            "uptime-tracker report: no log file (YYYY-MM-DD-<whoami>.log) found in the given paths"
        );
        return ExitCode::from(3);
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let written = write_format(&report, parsed.format, &mut out).and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        // `report ... | head`: the reader left; not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            crate::errln!("uptime-tracker report: cannot write the report: {e}");
            return ExitCode::from(3);
        }
    }
    if let Some(path) = &parsed.svg
        && let Err(e) = write_svg(&report, path)
    {
        crate::errln!("uptime-tracker report: {e}");
        return ExitCode::from(3);
    }
    if report.problems > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes `report` in `format`.
pub fn write_format(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Text => text::write(report, out),
        Format::Json => export::json(report, out),
        Format::Csv => export::csv(report, out),
    }
}

/// Writes the picture to `path`; the error names the file.
pub fn write_svg(report: &Report, path: &std::path::Path) -> Result<(), String> {
    let written = File::create(path).and_then(|f| {
        let mut w = BufWriter::new(f);
        svg::write(report, &mut w)?;
        w.flush()
    });
    written.map_err(|e| format!("{}: cannot write the picture: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn report_arguments() {
        let p = parse_report_args(
            &args("--since 2026-11-23 --until=now --format csv --svg t.svg --tolerance 250 a b"),
            1_900_000_000_000,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.options.since, Some(1_795_392_000_000));
        assert_eq!(p.options.until, Some(1_900_000_000_000));
        assert_eq!(p.options.tolerance_ms, 250);
        assert_eq!(p.format, Format::Csv);
        assert_eq!(p.svg, Some(PathBuf::from("t.svg")));
        assert_eq!(p.options.paths, [PathBuf::from("a"), PathBuf::from("b")]);
        let p = parse_report_args(&args("-- --since"), 0).unwrap().unwrap();
        assert_eq!(p.options.paths, [PathBuf::from("--since")]);
        assert!(parse_report_args(&args("--help x"), 0).unwrap().is_none());
    }

    #[test]
    fn report_argument_errors() {
        for bad in [
            "",
            "--since 2026-11-23",
            "--format xml a",
            "--format text --format csv a",
            "--since 2026-11-24 --until 2026-11-23 a",
            "--since yesterday a",
            "--tolerance -1 a",
            "--svg",
            "--verbose a",
        ] {
            assert!(parse_report_args(&args(bad), 0).is_err(), "{bad:?}");
        }
    }
}
