//! The report for people: per observed node and observer, uptime over known time, outages
//! with start, end and duration, longest, MTTR, blips; then the incidents with their
//! verdicts, the who-saw-whom-down matrix and each observer's unknown time.

use std::io::{self, Write};

use crate::report::analyze::End;
use crate::report::units::{duration, timestamp};
use crate::report::verdict::Verdict;
use crate::report::{PairReport, Report, UntilRule};

/// Unknown stretches listed per observer before the rest are only counted.
const UNKNOWN_LISTED: usize = 5;

/// Writes the text report.
pub fn write(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "uptime-tracker report (log format 0.0.3, times UTC)")?;
    let rule = match r.until_rule {
        UntilRule::Given => "",
        UntilRule::Now => ", to now: the newest file is of today",
        UntilRule::EndOfDay => ", to the end of the newest file's day; --until ends it sooner",
    };
    writeln!(
        out,
        "window     {} .. {}  ({}{rule})",
        timestamp(r.since),
        timestamp(r.until),
        duration(r.until - r.since)
    )?;
    let problems = match r.problems {
        0 => "no problems".to_string(),
        n => format!("{n} problem(s) in the input, skipped (listed on stderr)"),
    };
    writeln!(
        out,
        "read       {} file(s) from {} observer(s), {} line(s); {problems}",
        r.files,
        r.observers.len(),
        r.lines
    )?;
    writeln!(
        out,
        "tolerance  {} ms between observers' clocks",
        r.tolerance_ms
    )?;
    clocks(r, out)?;

    let width = r.observers.iter().map(|o| o.name.len()).max().unwrap_or(0);
    for peer in &r.peers {
        writeln!(out, "\n{peer}")?;
        for p in r.pairs.iter().filter(|p| &p.peer == peer) {
            pair(p, width, r.until - r.since, out)?;
        }
    }

    writeln!(out)?;
    if r.incidents.is_empty() {
        writeln!(out, "incidents: none")?;
    } else {
        writeln!(
            out,
            "incidents (a node's outages seen by several observers, overlapping within the tolerance): span, and down: the time some observer had it down"
        )?;
        let w = r.peers.iter().map(String::len).max().unwrap_or(0);
        for i in &r.incidents {
            let what = match &i.verdict {
                Verdict::NodeDown => format!("node down: seen by {}", i.seen_by.join(", ")),
                Verdict::Partial => format!(
                    "partial: seen by {}; not by {}",
                    i.seen_by.join(", "),
                    i.not_seen_by.join(", ")
                ),
                Verdict::Isolated(o) => format!(
                    "observer {o} isolated (it saw every peer down at once); seen by {}",
                    i.seen_by.join(", ")
                ),
            };
            writeln!(
                out,
                "  {:<w$}  {} .. {}  {:>12}  down {:>10}  {what}",
                i.peer,
                timestamp(i.start),
                timestamp(i.end),
                duration(i.end - i.start),
                duration(i.down_ms),
            )?;
        }
    }

    matrix(r, out)?;

    writeln!(
        out,
        "\nunknown time per observer (not running, restarted, or no file for the day)"
    )?;
    for o in &r.observers {
        let unknown: i64 = o.unknown.iter().map(|(a, b)| b - a).sum();
        write!(out, "  {:<width$}  {}", o.name, duration(unknown))?;
        for (n, (a, b)) in o.unknown.iter().enumerate() {
            if n == UNKNOWN_LISTED {
                write!(out, "; and {} more", o.unknown.len() - n)?;
                break;
            }
            let sep = if n == 0 { ": " } else { ", " };
            write!(out, "{sep}{} .. {}", timestamp(*a), timestamp(*b))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The clock check: counts, and each stretch left out.
fn clocks(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let c = &r.clocks;
    let mut line = format!(
        "clocks     {} run(s) agree with the other observers', {} without evidence either way",
        c.agree, c.unchecked
    );
    if let Some(ahead) = c.ahead_of_now {
        line += &format!(
            "; the logs run up to {} ahead of this machine's clock",
            duration(ahead)
        );
    }
    if c.left_out.is_empty() {
        return writeln!(out, "{line}");
    }
    writeln!(
        out,
        "{line}; {} left out (also on stderr):",
        c.left_out.len()
    )?;
    for p in &c.left_out {
        writeln!(
            out,
            "             {} {}: {}; {} .. {} by its clock",
            p.observer,
            p.lines(),
            p.what(),
            timestamp(p.first),
            timestamp(p.last)
        )?;
    }
    Ok(())
}

fn pair(p: &PairReport, width: usize, window: i64, out: &mut dyn Write) -> io::Result<()> {
    let uptime = match p.uptime() {
        Some(u) => format!("up {u}% of {} known", duration(p.known_ms)),
        None => "no known time".to_string(),
    };
    let outages = match p.outages.len() {
        0 => "no outage".to_string(),
        n => format!(
            "{n} outage(s), longest {}, MTTR {}",
            p.longest_ms().map_or("-".into(), duration),
            p.mttr_ms().map_or("-".into(), duration)
        ),
    };
    writeln!(
        out,
        "  by {:<width$}  {uptime} (unknown {}); {outages}; {} blip(s)",
        p.observer,
        duration(window - p.known_ms),
        p.blips
    )?;
    for o in &p.outages {
        let mut notes = Vec::new();
        if o.from_before {
            notes.push("began before the window");
        }
        match o.end_kind {
            End::Recovered => {}
            End::WindowEnd => notes.push("still down at the window's end"),
            End::ObserverStopped => notes.push("cut: the observer stopped knowing"),
            End::ClockStep => notes.push("cut: the observer's clock stepped back"),
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  ({})", notes.join("; "))
        };
        writeln!(
            out,
            "      down  {} .. {}  {:>12}{notes}",
            timestamp(o.start),
            timestamp(o.end),
            duration(o.duration())
        )?;
    }
    Ok(())
}

/// Rows: observers; columns: observed nodes; cells: outages seen (`.` none, `-` itself,
/// blank: not one of its peers).
fn matrix(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "\nwho saw whom down (outages; row: observer, column: observed node; . none, - itself)"
    )?;
    let first = r.observers.iter().map(|o| o.name.len()).max().unwrap_or(0);
    write!(out, "  {:first$}", "")?;
    for peer in &r.peers {
        write!(out, "  {peer:>5}")?;
    }
    writeln!(out)?;
    for o in &r.observers {
        write!(out, "  {:<first$}", o.name)?;
        for peer in &r.peers {
            let w = peer.len().max(5);
            let cell = if *peer == o.name {
                "-".to_string()
            } else {
                match r
                    .pairs
                    .iter()
                    .find(|p| p.observer == o.name && &p.peer == peer)
                {
                    Some(p) if p.outages.is_empty() => ".".to_string(),
                    Some(p) => p.outages.len().to_string(),
                    None => String::new(),
                }
            };
            write!(out, "  {cell:>w$}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}
