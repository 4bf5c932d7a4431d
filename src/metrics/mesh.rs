//! The mesh as this node sees it, for `GET /mesh` (what `status --mesh` prints) and the
//! `mesh` object of `GET /status`: the matrix of shared views (observer rows, observed
//! columns), each peer's verdict, since when and whether it settled, and clock offsets.
//!
//! The verdict of the whole, [`summary`], is `status --mesh`'s exit status:
//! [`EXIT_UP`] every peer up; [`EXIT_ISOLATED`] this node is the one cut off (before
//! anything else: its other verdicts mean little); [`EXIT_DOWN`] a node is down (or this
//! node sees it down and too few views are left to tell); [`EXIT_LINK`] links are broken
//! (or another observer is cut off) while every node is up for someone.

use std::fmt::Write as _;

use crate::json;
use crate::logline::write_timestamp;
use crate::mesh::{MeshView, PeerVerdict, RowKind, Verdict, span_words};
use crate::wire::view::Seen;

/// Every peer up.
pub const EXIT_UP: u8 = 0;
/// A node is down.
pub const EXIT_DOWN: u8 = 1;
/// Links are broken, every node up for someone.
pub const EXIT_LINK: u8 = 4;
/// This node is cut off.
pub const EXIT_ISOLATED: u8 = 5;

/// The first line of `GET /mesh`: `uptime-tracker mesh <exit status>`.
pub const FIRST_LINE: &str = "uptime-tracker mesh ";

/// The exit status for `view` (see the module documentation) and a word for it.
pub fn summary(view: &MeshView) -> (u8, &'static str) {
    let mut worst = (EXIT_UP, "every peer up");
    for (k, v) in view.verdicts.iter().enumerate() {
        let Some(v) = v else {
            continue;
        };
        let own = view
            .rows
            .get(view.me)
            .and_then(|r| r.seen.get(k))
            .copied()
            .unwrap_or(Seen::Unknown);
        let this = match &v.judged.verdict {
            Verdict::Isolated(None) => (EXIT_ISOLATED, "this node is cut off"),
            Verdict::Down => (EXIT_DOWN, "a node is down"),
            Verdict::Unknown if own == Seen::Down => {
                (EXIT_DOWN, "a node is down (too few views to tell)")
            }
            Verdict::Link(_) | Verdict::Isolated(Some(_)) => (EXIT_LINK, "links are broken"),
            Verdict::Up | Verdict::Unknown => (EXIT_UP, "every peer up"),
        };
        let rank = |e: u8| match e {
            EXIT_ISOLATED => 3,
            EXIT_DOWN => 2,
            EXIT_LINK => 1,
            _ => 0,
        };
        if rank(this.0) > rank(worst.0) {
            worst = this;
        }
    }
    worst
}

fn seen_char(s: Seen) -> char {
    match s {
        Seen::Unknown => '.',
        Seen::Up => 'U',
        Seen::Missing => 'm',
        Seen::Down => 'D',
    }
}

fn row_words(kind: RowKind) -> String {
    match kind {
        RowKind::Own => "this node".into(),
        RowKind::Fresh(age) => format!("fresh, {}", span_words(age)),
        RowKind::Stale(age) => format!("stale, {}", span_words(age)),
        RowKind::ConfigDiffers => "its config lists other nodes".into(),
        RowKind::None => "no view".into(),
    }
}

/// What a verdict says, with the names it involves.
pub fn verdict_words(view: &MeshView, v: &Verdict) -> String {
    let name = |id: crate::mesh::PeerId| -> &str {
        view.nodes
            .iter()
            .zip(&view.ids)
            .find(|(_, i)| **i == id)
            .map_or("?", |(n, _)| n.as_str())
    };
    match v {
        Verdict::Up => "up".into(),
        Verdict::Down => "down (no observer reaches it)".into(),
        Verdict::Link(pairs) => {
            let pairs: Vec<String> = pairs
                .iter()
                .map(|&(a, b)| format!("{} -> {}", name(a), name(b)))
                .collect();
            format!("link (up for others; broken: {})", pairs.join(", "))
        }
        Verdict::Isolated(None) => "isolated (probably this node is cut off)".into(),
        Verdict::Isolated(Some(o)) => format!("isolated ({} is cut off)", name(*o)),
        Verdict::Unknown => "unknown (too few views)".into(),
    }
}

fn offset_words(v: &PeerVerdict) -> String {
    match v.offset {
        None => "-".into(),
        Some((ms, _)) if ms.unsigned_abs() < 1000 => format!("{ms:+} ms"),
        Some((ms, _)) => {
            let way = if ms > 0 { "ahead" } else { "behind" };
            format!("{} {way}", span_words(ms.unsigned_abs()))
        }
    }
}

/// `GET /mesh`: the first line [`FIRST_LINE`] and the exit status, then the text
/// `status --mesh` prints.
pub fn render_text(view: &MeshView, out: &mut String) {
    let (exit, words) = summary(view);
    let _ = writeln!(out, "{FIRST_LINE}{exit}");
    let me = view.nodes.get(view.me).map_or("?", String::as_str);
    if view.too_large {
        let _ = writeln!(
            out,
            "The mesh has more nodes ({}) than a VIEW line holds: no views are shared.",
            view.nodes.len()
        );
    }
    let _ = writeln!(
        out,
        "Views (rows: observer; columns: observed, numbered as the rows; U up, m missing probes, D down, . no opinion):"
    );
    let width = view.nodes.iter().map(String::len).max().unwrap_or(0).max(8);
    let num = view.nodes.len().to_string().len();
    let _ = write!(
        out,
        "{:>num$}  {:<width$}  {:<28}  ",
        "#", "OBSERVER", "VIEW"
    );
    for k in 1..=view.nodes.len() {
        // The last digit of each column's number keeps wide meshes readable.
        let _ = write!(out, "{}", k % 10);
    }
    out.push('\n');
    for (k, (name, row)) in view.nodes.iter().zip(&view.rows).enumerate() {
        let _ = write!(
            out,
            "{:>num$}  {name:<width$}  {:<28}  ",
            k + 1,
            row_words(row.kind)
        );
        out.extend(row.seen.iter().map(|&s| seen_char(s)));
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n{:<width$}  {:<7}  {:<24}  {:<8}  VERDICT",
        "PEER", "CLOCK", "SINCE (UTC)", "SETTLED"
    );
    for (name, v) in view.nodes.iter().zip(&view.verdicts) {
        let Some(v) = v else {
            continue;
        };
        let _ = write!(out, "{name:<width$}  {:<7}  ", offset_words(v));
        write_timestamp(out, v.judged.since_wall);
        let _ = writeln!(
            out,
            "  {:<8}  {}",
            if v.settled { "yes" } else { "not yet" },
            verdict_words(view, &v.judged.verdict)
        );
    }
    let _ = writeln!(
        out,
        "\n{me}: {words} (a verdict settles once it has held {} ms)",
        view.settle_ms
    );
}

/// The `mesh` object of `/status`.
pub fn render_json(view: &MeshView, out: &mut String) {
    out.push_str("{\"nodes\":[");
    for (i, n) in view.nodes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json::string(n));
    }
    let (exit, words) = summary(view);
    let _ = write!(
        out,
        "],\"me\":{},\"settle_ms\":{},\"exit_status\":{exit},\"summary\":{},\"rows\":[",
        view.me,
        view.settle_ms,
        json::string(words)
    );
    for (i, row) in view.rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let (kind, age) = match row.kind {
            RowKind::Own => ("own", None),
            RowKind::Fresh(a) => ("fresh", Some(a)),
            RowKind::Stale(a) => ("stale", Some(a)),
            RowKind::ConfigDiffers => ("config_differs", None),
            RowKind::None => ("none", None),
        };
        let _ = write!(out, "{{\"view\":\"{kind}\",\"age_ms\":");
        match age {
            Some(a) => {
                let _ = write!(out, "{a}");
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"seen\":\"");
        out.extend(row.seen.iter().map(|&s| seen_char(s)));
        out.push_str("\"}");
    }
    out.push_str("],\"verdicts\":[");
    let mut first = true;
    for (name, v) in view.nodes.iter().zip(&view.verdicts) {
        let Some(v) = v else {
            continue;
        };
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(
            out,
            "{{\"peer\":{},\"verdict\":\"{}\",\"text\":{},\"since\":\"",
            json::string(name),
            v.judged.verdict.code(),
            json::string(&verdict_words(view, &v.judged.verdict))
        );
        write_timestamp(out, v.judged.since_wall);
        let _ = write!(out, "\",\"settled\":{},\"clock_offset_ms\":", v.settled);
        match v.offset {
            Some((ms, rtt)) => {
                let _ = write!(out, "{ms},\"clock_rtt_us\":{rtt}");
            }
            None => out.push_str("null,\"clock_rtt_us\":null"),
        }
        out.push('}');
    }
    out.push_str("]}");
}
