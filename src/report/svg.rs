//! The timeline picture: one row per observed node, hand-written SVG.
//!
//! A row shows, over the window, what the observers together knew about the node: up
//! (some observer knew about it, no incident), an incident coloured by its verdict (node
//! down, partial, observer isolated), or unknown (no observer running). The row is drawn
//! one pixel column at a time: a column takes the most serious state found in it
//! (incidents first, so a 5 s outage stays visible at 90 days), and up or unknown by which
//! covers more of it. Runs of equal columns become one rectangle, so the file stays small
//! whatever the window. Incidents are labelled with their duration, longest first, only
//! where the label does not overlap another. The axis ticks at a round step (seconds to
//! months) with UTC times and dates.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::report::units::{duration, timestamp, xml};
use crate::report::verdict::Verdict;
use crate::report::{Incident, Report, units};

const PLOT_W: i64 = 960;
const RIGHT: i64 = 190;
const TOP: i64 = 64;
const ROW_H: i64 = 34;
const AXIS_H: i64 = 48;
/// Least room between two axis ticks, in pixels.
const TICK_MIN_PX: i64 = 110;
/// Labels per row at most.
const MAX_LABELS: usize = 200;

/// What a pixel column shows, in increasing order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Paint {
    Up,
    Unknown,
    Isolated,
    Partial,
    Down,
}

impl Paint {
    fn colour(self) -> &'static str {
        match self {
            Paint::Up => "#43a047",
            Paint::Unknown => "#cfd8dc",
            Paint::Isolated => "#8e24aa",
            Paint::Partial => "#fb8c00",
            Paint::Down => "#e53935",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Paint::Up => "up",
            Paint::Unknown => "unknown (no observer running)",
            Paint::Isolated => "observer isolated",
            Paint::Partial => "partial (some observers)",
            Paint::Down => "node down",
        }
    }
}

/// Writes the SVG document.
pub fn write(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(render(r).as_bytes())
}

/// The SVG document as a string.
pub fn render(r: &Report) -> String {
    let left = (r.peers.iter().map(String::len).max().unwrap_or(0) as i64 * 7 + 24).clamp(80, 480);
    let width = left + PLOT_W + RIGHT;
    let axis_y = TOP + ROW_H * r.peers.len() as i64 + 6;
    let height = axis_y + AXIS_H;
    let t0 = r.since;
    let span = (r.until - r.since).max(1);
    let mut s = String::with_capacity(16 * 1024);
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n\
         <rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n"
    );
    let date = |t: i64| timestamp(t).get(..10).unwrap_or_default().to_string();
    let clock = |t: i64| timestamp(t).get(11..19).unwrap_or_default().to_string();
    let _ = writeln!(
        s,
        "<text x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"bold\">uptime-tracker: {} {} .. {} {} UTC ({}), {} observer(s)</text>",
        date(r.since),
        clock(r.since),
        date(r.until),
        clock(r.until),
        xml(&duration(r.until - r.since)),
        r.observers.len()
    );
    let mut x = 12;
    for paint in [
        Paint::Up,
        Paint::Down,
        Paint::Partial,
        Paint::Isolated,
        Paint::Unknown,
    ] {
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"34\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"45\">{}</text>",
            paint.colour(),
            x + 16,
            paint.label()
        );
        x += 16 + paint.label().len() as i64 * 13 / 2 + 22;
    }

    // Grid and axis first, so the rows cover the grid lines.
    let step = tick_step(span);
    let mut tick = t0.div_euclid(step) * step;
    if tick < t0 {
        tick += step;
    }
    let mut last_date = String::new();
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" y1=\"{axis_y}\" x2=\"{}\" y2=\"{axis_y}\" stroke=\"#555\"/>",
        left + PLOT_W
    );
    while tick <= r.until {
        let px = left + (tick - t0) as i128 as i64 * PLOT_W / span;
        let _ = writeln!(
            s,
            "<line x1=\"{px}\" y1=\"{TOP}\" x2=\"{px}\" y2=\"{}\" stroke=\"#e0e0e0\"/>\
             <line x1=\"{px}\" y1=\"{axis_y}\" x2=\"{px}\" y2=\"{}\" stroke=\"#555\"/>",
            axis_y,
            axis_y + 5
        );
        let d = date(tick);
        let text = if step >= 86_400_000 {
            d.clone()
        } else if step < 60_000 {
            clock(tick)
        } else {
            clock(tick).get(..5).unwrap_or_default().to_string()
        };
        let _ = writeln!(
            s,
            "<text x=\"{px}\" y=\"{}\" text-anchor=\"middle\" fill=\"#333\">{text}</text>",
            axis_y + 18
        );
        if step < 86_400_000 && d != last_date {
            let _ = writeln!(
                s,
                "<text x=\"{px}\" y=\"{}\" text-anchor=\"middle\" fill=\"#777\" font-size=\"11\">{d}</text>",
                axis_y + 33
            );
        }
        last_date = d;
        match tick.checked_add(step) {
            Some(next) => tick = next,
            None => break,
        }
    }

    for (n, peer) in r.peers.iter().enumerate() {
        let y = TOP + ROW_H * n as i64;
        row(&mut s, r, peer, left, y);
    }
    s.push_str("</svg>\n");
    s
}

/// Pixel column of time `t` (may be outside 0..PLOT_W).
fn column(t: i64, t0: i64, span: i64) -> i64 {
    ((i128::from(t) - i128::from(t0)) * i128::from(PLOT_W) / i128::from(span)) as i64
}

/// Start time of pixel column `c`.
fn column_start(c: i64, t0: i64, span: i64) -> i64 {
    t0 + (i128::from(c) * i128::from(span) / i128::from(PLOT_W)) as i64
}

/// One peer's row: its name, its bar painted column by column, its incidents' durations
/// where they fit, and a summary.
fn row(s: &mut String, r: &Report, peer: &str, left: i64, y: i64) {
    let incidents: Vec<&Incident> = r.incidents.iter().filter(|i| &*i.peer == peer).collect();
    let paint = paint_row(r, peer, &incidents);
    let _ = writeln!(s, "<g class=\"row\" data-node=\"{}\">", xml(peer));
    let bar_y = y + 14;
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-weight=\"bold\">{}</text>",
        left - 8,
        bar_y + 11,
        xml(peer)
    );
    let mut start = 0usize;
    while let Some(&p) = paint.get(start) {
        let mut end = start + 1;
        while paint.get(end) == Some(&p) {
            end += 1;
        }
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{bar_y}\" width=\"{}\" height=\"14\" fill=\"{}\"/>",
            left + start as i64,
            end - start,
            p.colour()
        );
        start = end;
    }
    duration_labels(s, r, peer, &incidents, left, bar_y);
    let total: i64 = incidents.iter().map(|i| i.end - i.start).sum();
    let summary = match incidents.len() {
        0 => "no incident".to_string(),
        1 => format!("1 incident, {}", duration(total)),
        n => format!("{n} incidents, {}", duration(total)),
    };
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" fill=\"#333\">{}</text>\n</g>",
        left + PLOT_W + 10,
        bar_y + 11,
        xml(&summary)
    );
}

/// Each pixel column of `peer`'s bar: up where the observers together knew it for at
/// least half the column, unknown elsewhere, then its `incidents` painted over.
fn paint_row(r: &Report, peer: &str, incidents: &[&Incident]) -> Vec<Paint> {
    let t0 = r.since;
    let span = (r.until - r.since).max(1);
    // What the observers together knew about this peer.
    let mut known: Vec<(i64, i64)> = r
        .pairs
        .iter()
        .filter(|p| p.peer == peer)
        .flat_map(|p| p.known.iter().copied())
        .collect();
    known.sort_unstable();
    let mut covered = vec![0i64; PLOT_W as usize];
    let mut union_end = i64::MIN;
    for (a, b) in known {
        let a = a.max(union_end);
        if b <= a {
            continue;
        }
        union_end = b;
        let (ca, cb) = (
            column(a, t0, span).max(0),
            column(b, t0, span).min(PLOT_W - 1),
        );
        for c in ca..=cb {
            let (cs, ce) = (column_start(c, t0, span), column_start(c + 1, t0, span));
            let ce = ce.max(cs + 1);
            if let Some(slot) = covered.get_mut(c as usize) {
                *slot += (b.min(ce) - a.max(cs)).max(0);
            }
        }
    }
    let mut paint: Vec<Paint> = (0..PLOT_W)
        .map(|c| {
            let (cs, ce) = (column_start(c, t0, span), column_start(c + 1, t0, span));
            let len = (ce - cs).max(1);
            match covered.get(c as usize) {
                Some(&k) if k > 0 && 2 * k >= len => Paint::Up,
                _ => Paint::Unknown,
            }
        })
        .collect();
    for i in incidents {
        let p = match i.verdict {
            Verdict::NodeDown => Paint::Down,
            Verdict::Partial => Paint::Partial,
            Verdict::Isolated(_) => Paint::Isolated,
        };
        let c0 = column(i.start, t0, span).clamp(0, PLOT_W - 1);
        let c1 = column(i.end, t0, span).clamp(c0, PLOT_W - 1);
        for slot in paint
            .iter_mut()
            .skip(c0 as usize)
            .take((c1 - c0 + 1) as usize)
        {
            *slot = (*slot).max(p);
        }
    }
    paint
}

/// The durations of `peer`'s incidents above its bar, longest first, where they fit.
fn duration_labels(
    s: &mut String,
    r: &Report,
    peer: &str,
    incidents: &[&Incident],
    left: i64,
    bar_y: i64,
) {
    let t0 = r.since;
    let span = (r.until - r.since).max(1);
    let mut order = incidents.to_vec();
    order.sort_by_key(|i| std::cmp::Reverse(i.end - i.start));
    let mut placed: Vec<(i64, i64)> = Vec::new();
    for i in order {
        if placed.len() >= MAX_LABELS {
            break;
        }
        let text = duration(i.end - i.start);
        let half = (text.len() as i64 * 6 + 4) / 2;
        let c0 = column(i.start, t0, span).clamp(0, PLOT_W - 1);
        let c1 = column(i.end, t0, span).clamp(c0, PLOT_W - 1);
        let mid = ((c0 + c1) / 2).clamp(half, (PLOT_W - half).max(half));
        let (a, b) = (mid - half, mid + half);
        if placed.iter().any(|&(pa, pb)| a < pb + 4 && b + 4 > pa) {
            continue;
        }
        placed.push((a, b));
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#333\">{}<title>{} {} .. {}: {}</title></text>",
            left + mid,
            bar_y - 3,
            xml(&text),
            xml(peer),
            timestamp(i.start),
            timestamp(i.end),
            i.verdict.code()
        );
    }
}

/// A round tick step giving at least [`TICK_MIN_PX`] between ticks.
fn tick_step(span: i64) -> i64 {
    const S: i64 = 1000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;
    let steps = [
        S,
        2 * S,
        5 * S,
        10 * S,
        15 * S,
        30 * S,
        M,
        2 * M,
        5 * M,
        10 * M,
        15 * M,
        30 * M,
        H,
        2 * H,
        3 * H,
        6 * H,
        12 * H,
        D,
        2 * D,
        7 * D,
        14 * D,
        28 * D,
        91 * D,
        182 * D,
        364 * D,
    ];
    let fits = |step: i64| {
        i128::from(step) * i128::from(PLOT_W) >= i128::from(span) * i128::from(TICK_MIN_PX)
    };
    steps
        .iter()
        .copied()
        .find(|&st| fits(st))
        .unwrap_or_else(|| {
            (span / units::day_start(364))
                .saturating_add(1)
                .saturating_mul(units::day_start(364))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_steps_are_round_and_roomy() {
        assert_eq!(tick_step(20_000), 5_000);
        assert_eq!(tick_step(86_400_000), 3 * 3_600_000);
        assert_eq!(tick_step(90 * 86_400_000), 14 * 86_400_000);
        assert!(tick_step(i64::MAX) > 0);
    }

    #[test]
    fn columns_cover_the_plot() {
        assert_eq!(column(0, 0, 1000), 0);
        assert_eq!(column(999, 0, 1000), 959);
        assert_eq!(column(1000, 0, 1000), PLOT_W);
        assert_eq!(column_start(PLOT_W, 5, 1000), 1005);
        assert!(column(i64::MAX, i64::MIN, i64::MAX) > PLOT_W);
    }
}
