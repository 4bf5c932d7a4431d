//! The report as JSON (one document) and as CSV (one table, a `record` column telling
//! `pair`, `outage` and `incident` rows apart). Written by hand: names are escaped, times
//! are the logs' own `YYYY-MM-DDTHH:MM:SS.mmmZ`, durations integer milliseconds.

use std::io::{self, Write};

use crate::report::analyze::{End, Outage};
use crate::report::clocks::{Basis, Status};
use crate::report::units::{csv_field, json_str, timestamp};
use crate::report::verdict::{Incident, Verdict};
use crate::report::{ClockProblem, PairReport, Report, UntilRule};

fn end_code(end: End) -> &'static str {
    match end {
        End::Recovered => "recovered",
        End::WindowEnd => "window_end",
        End::ObserverStopped => "observer_stopped",
        End::ClockStep => "clock_step",
    }
}

fn isolated(i: &Incident) -> Option<&str> {
    match &i.verdict {
        Verdict::Isolated(o) => Some(o),
        _ => None,
    }
}

fn until_code(rule: UntilRule) -> &'static str {
    match rule {
        UntilRule::Given => "given",
        UntilRule::Now => "now",
        UntilRule::EndOfDay => "end_of_day",
    }
}

/// `skewed` (with a size) or `unsettled`, the size in ms (signed: ahead is positive),
/// whether it is only a bound, and the evidence: `matches`, `order`, `future`.
fn clock_fields(p: &ClockProblem) -> (&'static str, Option<i64>, bool, &'static str) {
    match &p.status {
        Status::Skewed {
            skew,
            at_least,
            basis,
        } => {
            let basis = match basis {
                Basis::Matches { .. } => "matches",
                Basis::Order => "order",
                Basis::Future => "future",
            };
            ("skewed", Some(*skew), *at_least, basis)
        }
        Status::Unsettled { back_ms } => ("unsettled", Some(-back_ms), true, "order"),
        Status::Agrees | Status::Unchecked => ("agrees", None, false, ""),
    }
}

fn opt(v: Option<i64>) -> String {
    v.map_or("null".into(), |v| v.to_string())
}

fn json_list(names: &[std::rc::Rc<str>]) -> String {
    let items: Vec<String> = names.iter().map(|n| json_str(n)).collect();
    format!("[{}]", items.join(", "))
}

/// Writes the JSON document (described in the README).
pub fn json(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let window = r.until - r.since;
    writeln!(out, "{{")?;
    writeln!(
        out,
        "  \"window\": {{\"since\": \"{}\", \"until\": \"{}\", \"ms\": {window}, \"until_rule\": \"{}\"}},",
        timestamp(r.since),
        timestamp(r.until),
        until_code(r.until_rule)
    )?;
    writeln!(
        out,
        "  \"tolerance_ms\": {}, \"files\": {}, \"lines\": {}, \"problems\": {},",
        r.tolerance_ms, r.files, r.lines, r.problems
    )?;
    let c = &r.clocks;
    writeln!(
        out,
        "  \"clocks\": {{\"agree\": {}, \"unchecked\": {}, \"ahead_of_now_ms\": {}, \"left_out\": [",
        c.agree,
        c.unchecked,
        opt(c.ahead_of_now)
    )?;
    for (n, p) in c.left_out.iter().enumerate() {
        let comma = if n + 1 < c.left_out.len() { "," } else { "" };
        let (kind, skew, at_least, basis) = clock_fields(p);
        writeln!(
            out,
            "    {{\"observer\": {}, \"lines\": {}, \"first\": \"{}\", \"last\": \"{}\", \"kind\": \"{kind}\", \"skew_ms\": {}, \"at_least\": {at_least}, \"basis\": \"{basis}\", \"reason\": {}}}{comma}",
            json_str(&p.observer),
            json_str(&p.lines()),
            timestamp(p.first),
            timestamp(p.last),
            opt(skew),
            json_str(&p.what()),
        )?;
    }
    writeln!(out, "  ]}},")?;
    writeln!(out, "  \"observers\": [")?;
    for (n, o) in r.observers.iter().enumerate() {
        let unknown: Vec<String> = o
            .unknown
            .iter()
            .map(|&(a, b)| {
                format!(
                    "{{\"from\": \"{}\", \"to\": \"{}\"}}",
                    timestamp(a),
                    timestamp(b)
                )
            })
            .collect();
        let comma = if n + 1 < r.observers.len() { "," } else { "" };
        writeln!(
            out,
            "    {{\"name\": {}, \"known_ms\": {}, \"unknown_ms\": {}, \"unknown\": [{}]}}{comma}",
            json_str(&o.name),
            o.known_ms,
            window - o.known_ms,
            unknown.join(", ")
        )?;
    }
    writeln!(out, "  ],")?;
    writeln!(out, "  \"pairs\": [")?;
    for (n, p) in r.pairs.iter().enumerate() {
        let comma = if n + 1 < r.pairs.len() { "," } else { "" };
        json_pair(p, window, comma, out)?;
    }
    writeln!(out, "  ],")?;
    writeln!(out, "  \"incidents\": [")?;
    for (n, i) in r.incidents.iter().enumerate() {
        let comma = if n + 1 < r.incidents.len() { "," } else { "" };
        writeln!(
            out,
            "    {{\"peer\": {}, \"start\": \"{}\", \"end\": \"{}\", \"duration_ms\": {}, \"down_ms\": {}, \"verdict\": \"{}\", \"isolated_observer\": {}, \"seen_by\": {}, \"not_seen_by\": {}}}{comma}",
            json_str(&i.peer),
            timestamp(i.start),
            timestamp(i.end),
            i.end - i.start,
            i.down_ms,
            i.verdict.code(),
            isolated(i).map_or("null".into(), json_str),
            json_list(&i.seen_by),
            json_list(&i.not_seen_by),
        )?;
    }
    writeln!(out, "  ]")?;
    writeln!(out, "}}")
}

fn json_pair(p: &PairReport, window: i64, comma: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "    {{\"observer\": {}, \"peer\": {}, \"known_ms\": {}, \"unknown_ms\": {}, \"up_ms\": {}, \"down_ms\": {}, \"uptime_pct\": {}, \"outage_count\": {}, \"longest_ms\": {}, \"mttr_ms\": {}, \"blips\": {}, \"outages\": [",
        json_str(&p.observer),
        json_str(&p.peer),
        p.known_ms,
        window - p.known_ms,
        p.up_ms(),
        p.down_ms,
        p.uptime().unwrap_or_else(|| "null".into()),
        p.outages.len(),
        opt(p.longest_ms()),
        opt(p.mttr_ms()),
        p.blips,
    )?;
    for (n, o) in p.outages.iter().enumerate() {
        let sep = if n + 1 < p.outages.len() { "," } else { "" };
        writeln!(out, "      {}{sep}", json_outage(o))?;
    }
    writeln!(out, "    ]}}{comma}")
}

fn json_outage(o: &Outage) -> String {
    format!(
        "{{\"start\": \"{}\", \"end\": \"{}\", \"duration_ms\": {}, \"end_kind\": \"{}\", \"from_before\": {}}}",
        timestamp(o.start),
        timestamp(o.end),
        o.duration(),
        end_code(o.end_kind),
        o.from_before
    )
}

/// The CSV header line.
pub const CSV_HEADER: &str = "record,observer,peer,start,end,duration_ms,known_ms,unknown_ms,down_ms,uptime_pct,outages,longest_ms,mttr_ms,blips,end_kind,verdict,isolated_observer,seen_by,not_seen_by";

/// Writes the CSV table: a `pair` row per observer × peer (start and end: the window),
/// an `outage` row per outage, an `incident` row per incident (`duration_ms` its span,
/// `down_ms` its down time; `seen_by`, `not_seen_by`: names separated by spaces), a
/// `clock` row per stretch of a log left out for its observer's clock (`start`, `end`:
/// its first and last stamps by that clock; `duration_ms`: the skew, positive ahead;
/// `end_kind`: `skewed` or `unsettled`, or `skewed_at_least` for a bound). Cells that do
/// not apply are empty.
pub fn csv(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    let window = r.until - r.since;
    let none = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
    for p in &r.pairs {
        let (obs, peer) = (csv_field(&p.observer), csv_field(&p.peer));
        writeln!(
            out,
            "pair,{obs},{peer},{},{},{window},{},{},{},{},{},{},{},{},,,,,",
            timestamp(r.since),
            timestamp(r.until),
            p.known_ms,
            window - p.known_ms,
            p.down_ms,
            p.uptime().unwrap_or_default(),
            p.outages.len(),
            none(p.longest_ms()),
            none(p.mttr_ms()),
            p.blips,
        )?;
        for o in &p.outages {
            writeln!(
                out,
                "outage,{obs},{peer},{},{},{},,,,,,,,,{},,,,",
                timestamp(o.start),
                timestamp(o.end),
                o.duration(),
                end_code(o.end_kind),
            )?;
        }
    }
    for i in &r.incidents {
        writeln!(
            out,
            "incident,,{},{},{},{},,,{},,,,,,,{},{},{},{}",
            csv_field(&i.peer),
            timestamp(i.start),
            timestamp(i.end),
            i.end - i.start,
            i.down_ms,
            i.verdict.code(),
            isolated(i).map(csv_field).unwrap_or_default(),
            csv_field(&i.seen_by.join(" ")),
            csv_field(&i.not_seen_by.join(" ")),
        )?;
    }
    for p in &r.clocks.left_out {
        let (kind, skew, at_least, _) = clock_fields(p);
        let kind = if at_least && kind == "skewed" {
            "skewed_at_least"
        } else {
            kind
        };
        writeln!(
            out,
            "clock,{},,{},{},{},,,,,,,,,{kind},,,,",
            csv_field(&p.observer),
            timestamp(p.first),
            timestamp(p.last),
            skew.map(|s| s.to_string()).unwrap_or_default(),
        )?;
    }
    Ok(())
}
