//! `GET /` on `metrics_listen`: one self-contained HTML page an operator reads in a
//! browser. No scripts, no external assets (styles inline, the timeline an inline SVG);
//! it reloads itself every [`REFRESH_S`] seconds with `<meta http-equiv="refresh">`.
//!
//! Pure: [`render`] turns a plain [`Page`] into HTML, escaping every name and line, and
//! [`fill`] builds a [`Page`] from a [`Snapshot`] (the engine's peers, and what the
//! shell's [`Local`] hands over: the clock, today's last log lines, the timeline). The
//! output is bounded whatever the mesh's size: the grid shows at most [`MAX_GRID`]
//! nodes, the peer table at most [`MAX_PEER_ROWS`] rows, the log tail at most
//! [`MAX_LOG_LINES`] lines of at most [`MAX_LOG_LINE`] bytes, and a timeline larger than
//! [`MAX_SVG`] is left out (saying so).

use std::fmt::Write as _;

use crate::logline::write_timestamp;
use crate::mesh::{self, PeerId, RowKind};
use crate::metrics::{Snapshot, VERSION};
use crate::wire::view::Seen;

#[cfg(test)]
mod tests;

/// The page's `Content-Type`.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";
/// Seconds between two reloads of the page by the browser.
pub const REFRESH_S: u32 = 10;
/// Most nodes the grid shows (rows and columns): beyond, those with a problem first.
pub const MAX_GRID: usize = 40;
/// Most rows of the peer table (the config allows 1024 nodes).
pub const MAX_PEER_ROWS: usize = 1024;
/// Most peers listed under "Problems".
pub const MAX_PROBLEMS: usize = 100;
/// Most log lines shown.
pub const MAX_LOG_LINES: usize = 40;
/// Longest log line shown, in bytes (longer ones are cut, saying so).
pub const MAX_LOG_LINE: usize = 200;
/// Bytes read from the end of today's log file for the tail.
pub const LOG_TAIL_BYTES: u64 = 16 * 1024;
/// Largest timeline SVG embedded.
pub const MAX_SVG: usize = 256 * 1024;

/// What one observer knows of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Reachable.
    Up,
    /// Declared offline.
    Down,
    /// Not known: no view from this observer (yet), or a node it does not track.
    Unknown,
}

/// A verdict's kind, for its colour; its words are in [`Verdict::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictKind {
    /// Nothing wrong.
    Up,
    /// No reachable observer reaches it.
    Down,
    /// Up for others; some links to it are broken.
    Link,
    /// This node is the one cut off.
    Isolated,
    /// Too few views to say.
    Unknown,
}

/// The verdict on one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Its kind.
    pub kind: VerdictKind,
    /// Its words ("down", "link to node3 broken from node1", ...).
    pub text: String,
    /// Whether every view it rests on has had time to arrive.
    pub settled: bool,
}

impl Verdict {
    /// "unknown", not settled: what a peer gets before the views say more.
    pub fn unknown() -> Verdict {
        Verdict {
            kind: VerdictKind::Unknown,
            text: "unknown".to_string(),
            settled: false,
        }
    }
}

/// One row of the peer table.
#[derive(Debug, Clone)]
pub struct PeerRow<'a> {
    /// Its name.
    pub name: &'a str,
    /// Online as this node sees it.
    pub up: bool,
    /// Consecutive timeouts.
    pub timeouts: u32,
    /// Last round trip, microseconds.
    pub rtt_us: Option<u64>,
    /// Share of probes lost recently (0..=1); `None` before any settled.
    pub loss: Option<f64>,
    /// Last change between online and offline (or this node's start), wall ms.
    pub since_wall: i64,
    /// Changes so far.
    pub transitions: u64,
    /// Its clock minus ours, ms; `None`: not measured.
    pub offset_ms: Option<i64>,
    /// The verdict on it.
    pub verdict: Verdict,
}

/// The timeline's place on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timeline {
    /// The build has no `report`.
    NotBuilt,
    /// Why there is none now.
    Missing(String),
    /// The SVG document (from `report`'s renderer, trusted: it escapes its names).
    Svg(String),
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct Page<'a> {
    /// This node.
    pub node: &'a str,
    /// This node's index in `nodes`.
    pub mine: usize,
    /// Now, wall ms.
    pub now_wall: i64,
    /// When this process started, wall ms.
    pub started_wall: i64,
    /// Every node, the grid's order: observers (rows) and observed (columns) alike.
    pub nodes: Vec<&'a str>,
    /// `rows[i]`: what `nodes[i]` sees of each node, in `nodes` order; `None` (or a
    /// short row) where that observer's view is not known.
    pub rows: Vec<Option<Vec<Cell>>>,
    /// Every peer, in config order.
    pub peers: Vec<PeerRow<'a>>,
    /// Today's last log lines, oldest first, or why they cannot be shown.
    pub log: Result<Vec<String>, String>,
    /// The last 24 h of this node's logs.
    pub timeline: Timeline,
}

/// What the page needs from outside the engine: the shell's clock and files.
pub trait Local {
    /// Now, wall-clock Unix ms.
    fn now_wall(&self) -> i64;
    /// Today's last log lines (at most [`MAX_LOG_LINES`], read from at most
    /// [`LOG_TAIL_BYTES`]), oldest first; or why not.
    fn log_tail(&self) -> Result<Vec<String>, String>;
    /// The last 24 h of this node's logs as SVG.
    fn timeline(&self) -> Timeline;
}

/// The page for `snap`, rendered into `out`.
pub fn serve(snap: &Snapshot<'_>, out: &mut String) {
    let local = snap.local;
    let mut page = fill(snap, local.now_wall());
    page.log = local.log_tail();
    page.timeline = local.timeline();
    render(&page, out);
}

/// What this node knows today: its own row of the grid (from its peers' states), its
/// peers with their counters; other rows, verdicts and offsets unknown until
/// [`fill_mesh_view`] knows them. Log and timeline empty (the shell's).
pub fn fill<'a>(snap: &Snapshot<'a>, now_wall: i64) -> Page<'a> {
    let engine = snap.engine;
    let me = engine.whoami();
    let mut nodes = Vec::new();
    let mut own = Vec::new();
    let mut peers = Vec::new();
    let mut mine = None;
    // The engine's slot order (config order until a reload moves nodes), this node in
    // its own slot: the same grid on every node of a mesh.
    let mut slot = 0;
    for p in engine.peers() {
        if mine.is_none() && (slot..p.id.0).any(|s| engine.peer_name(PeerId(s)) == me) {
            mine = Some(nodes.len());
            nodes.push(me);
            own.push(Cell::Up);
        }
        slot = p.id.0 + 1;
        nodes.push(p.name);
        own.push(if p.online { Cell::Up } else { Cell::Down });
        peers.push(PeerRow {
            name: p.name,
            up: p.online,
            timeouts: p.timeouts,
            rtt_us: p.stats.last_rtt_us,
            loss: p.stats.recent_loss(),
            since_wall: p.stats.since_wall,
            transitions: p.stats.transitions,
            offset_ms: None,
            verdict: Verdict::unknown(),
        });
    }
    let mine = mine.unwrap_or_else(|| {
        nodes.push(me);
        own.push(Cell::Up);
        nodes.len() - 1
    });
    let mut rows = vec![None; nodes.len()];
    if let Some(row) = rows.get_mut(mine) {
        *row = Some(own);
    }
    let mut page = Page {
        node: me,
        mine,
        now_wall,
        started_wall: snap.start_wall,
        nodes,
        rows,
        peers,
        log: Ok(Vec::new()),
        timeline: Timeline::NotBuilt,
    };
    fill_mesh_view(&mut page, snap);
    page
}

/// The mesh's shared view: the other observers' rows of the grid, the verdict on each
/// peer, and each peer's clock offset, from the engine's [`MeshView`] (matched by name:
/// the grid is in slot order, the view in name order). Only rows that count now (fresh,
/// from a peer this node reaches, the same node list) are drawn; the rest stay unknown.
pub fn fill_mesh_view(page: &mut Page<'_>, snap: &Snapshot<'_>) {
    let view = snap.engine.mesh_view();
    let at = |name: &str| view.nodes.iter().position(|n| n == name);
    let columns: Vec<Option<usize>> = page.nodes.iter().map(|n| at(n)).collect();
    let cell = |s: Seen| match s {
        Seen::Up | Seen::Missing => Cell::Up,
        Seen::Down => Cell::Down,
        Seen::Unknown => Cell::Unknown,
    };
    for (i, name) in page.nodes.iter().enumerate() {
        if i == page.mine {
            continue;
        }
        let Some(row) = at(name).and_then(|k| view.rows.get(k)) else {
            continue;
        };
        if !matches!(row.kind, RowKind::Fresh(_)) {
            continue;
        }
        let cells = columns
            .iter()
            .map(|c| {
                c.and_then(|j| row.seen.get(j))
                    .map_or(Cell::Unknown, |&s| cell(s))
            })
            .collect();
        if let Some(r) = page.rows.get_mut(i) {
            *r = Some(cells);
        }
    }
    for peer in &mut page.peers {
        let Some(Some(v)) = at(peer.name).and_then(|k| view.verdicts.get(k)) else {
            continue;
        };
        peer.offset_ms = v.offset.map(|(ms, _)| ms);
        peer.verdict = Verdict {
            kind: match v.judged.verdict {
                mesh::Verdict::Up => VerdictKind::Up,
                mesh::Verdict::Down => VerdictKind::Down,
                mesh::Verdict::Link(_) | mesh::Verdict::Isolated(Some(_)) => VerdictKind::Link,
                mesh::Verdict::Isolated(None) => VerdictKind::Isolated,
                mesh::Verdict::Unknown => VerdictKind::Unknown,
            },
            text: crate::metrics::mesh::verdict_words(&view, &v.judged.verdict),
            settled: v.settled,
        };
    }
}

const STYLE: &str = "body{font:14px/1.4 sans-serif;margin:1em;color:#222;background:#fff}\
h1{font-size:20px;margin:0 0 .2em}h2{font-size:16px;margin:1.2em 0 .4em}\
table{border-collapse:collapse}td,th{padding:2px 6px;border:1px solid #ccc;text-align:left}\
td.n,th.n{text-align:right}\
table.grid td{width:1.6em;height:1.6em;padding:0;text-align:center;font-weight:bold}\
table.grid th.col{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;padding:4px 2px}\
.up{background:#43a047;color:#fff}.down{background:#e53935;color:#fff}\
.unknown{background:#cfd8dc;color:#455a64}.self{background:#fff;color:#999}\
.link{background:#fb8c00;color:#fff}.isolated{background:#8e24aa;color:#fff}\
.note{color:#555}pre{background:#f5f5f5;padding:.5em;overflow-x:auto;font-size:12px}\
.timeline svg{max-width:100%;height:auto}";

/// The page as HTML into `out`.
pub fn render(page: &Page<'_>, out: &mut String) {
    let me = esc(page.node);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{me}: uptime-tracker</title><style>{STYLE}</style></head><body>\n\
         <h1>{me}</h1><p class=\"note\" id=\"asof\">uptime-tracker {VERSION}; as of "
    );
    write_timestamp(out, page.now_wall);
    out.push_str(" UTC, started ");
    write_timestamp(out, page.started_wall);
    let _ = writeln!(out, " UTC; this page reloads every {REFRESH_S} s.</p>");
    summary(page, out);
    grid(page, out);
    problems(page, out);
    peer_table(page, out);
    log_tail(page, out);
    timeline(page, out);
    out.push_str("</body></html>\n");
}

/// One line on how many peers are in which state, as this node sees them.
fn summary(page: &Page<'_>, out: &mut String) {
    let up = page.peers.iter().filter(|p| p.up).count();
    let down = page.peers.len() - up;
    let class = if down == 0 { "up" } else { "down" };
    let _ = writeln!(
        out,
        "<p id=\"summary\" class=\"{class}\" style=\"padding:4px 8px\">{} peer(s): {up} up, {down} down, as this node sees them.</p>",
        page.peers.len()
    );
}

fn cell_at(page: &Page<'_>, row: usize, col: usize) -> Cell {
    page.rows
        .get(row)
        .and_then(Option::as_ref)
        .and_then(|r| r.get(col))
        .copied()
        .unwrap_or(Cell::Unknown)
}

/// The nodes the grid shows, by index into `page.nodes`: all up to [`MAX_GRID`];
/// beyond, this node and then those with the most down cells in their row
/// and column, then the most unknown ones, in the grid's order.
fn grid_nodes(page: &Page<'_>) -> Vec<usize> {
    let n = page.nodes.len();
    if n <= MAX_GRID {
        return (0..n).collect();
    }
    let mut score = vec![(0usize, 0usize); n];
    for (r, row) in page.rows.iter().enumerate() {
        let Some(row) = row else { continue };
        for (c, cell) in row.iter().enumerate().take(n) {
            if r == c {
                continue;
            }
            let bump = |s: &mut (usize, usize)| match cell {
                Cell::Down => s.0 += 1,
                Cell::Unknown => s.1 += 1,
                Cell::Up => {}
            };
            if let Some(s) = score.get_mut(r) {
                bump(s);
            }
            if let Some(s) = score.get_mut(c) {
                bump(s);
            }
        }
    }
    let mut order: Vec<usize> = (0..n).filter(|&i| i != page.mine).collect();
    order.sort_by_key(|&i| {
        let (d, u) = score.get(i).copied().unwrap_or_default();
        (std::cmp::Reverse(d), std::cmp::Reverse(u), i)
    });
    order.truncate(MAX_GRID - 1);
    order.push(page.mine);
    order.sort_unstable();
    order
}

fn grid(page: &Page<'_>, out: &mut String) {
    out.push_str("<h2>Who sees whom</h2>\n");
    let shown = grid_nodes(page);
    if shown.len() < page.nodes.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} of {} nodes shown: this node and those with the most down, then unknown, cells. Every peer is in the table below.</p>",
            shown.len(),
            page.nodes.len()
        );
    }
    out.push_str(
        "<p class=\"note\">Rows: the observer; columns: the node observed. \
         \u{2713} up, \u{2717} down, ? unknown (no view from that observer).</p>\n\
         <table class=\"grid\" id=\"grid\"><tr><th>observer \\ observed</th>",
    );
    for &c in &shown {
        let name = esc(page.nodes.get(c).copied().unwrap_or_default());
        let _ = write!(out, "<th class=\"col\">{name}</th>");
    }
    out.push_str("</tr>\n");
    for &r in &shown {
        let name = esc(page.nodes.get(r).copied().unwrap_or_default());
        let _ = write!(out, "<tr><th>{name}</th>");
        for &c in &shown {
            let (class, glyph) = if r == c {
                ("self", "\u{2014}")
            } else {
                match cell_at(page, r, c) {
                    Cell::Up => ("up", "\u{2713}"),
                    Cell::Down => ("down", "\u{2717}"),
                    Cell::Unknown => ("unknown", "?"),
                }
            };
            let _ = write!(out, "<td class=\"{class}\">{glyph}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn verdict_class(kind: VerdictKind) -> &'static str {
    match kind {
        VerdictKind::Up => "up",
        VerdictKind::Down => "down",
        VerdictKind::Link => "link",
        VerdictKind::Isolated => "isolated",
        VerdictKind::Unknown => "unknown",
    }
}

/// Peers whose verdict is not "up", or that this node sees down.
fn problems(page: &Page<'_>, out: &mut String) {
    out.push_str("<h2>Verdicts</h2>\n");
    let bad: Vec<&PeerRow<'_>> = page
        .peers
        .iter()
        .filter(|p| {
            !p.up
                || matches!(
                    p.verdict.kind,
                    VerdictKind::Down | VerdictKind::Link | VerdictKind::Isolated
                )
        })
        .collect();
    if bad.is_empty() {
        out.push_str("<p>Every peer is up from here, and no verdict says otherwise.</p>\n");
        return;
    }
    out.push_str("<ul id=\"verdicts\">\n");
    for p in bad.iter().take(MAX_PROBLEMS) {
        let seen = if p.up { "up" } else { "down" };
        let _ = writeln!(
            out,
            "<li><b>{}</b>: {seen} from here; verdict <span class=\"{}\">{}</span>{}</li>",
            esc(p.name),
            verdict_class(p.verdict.kind),
            esc(&p.verdict.text),
            not_settled(p.verdict.settled)
        );
    }
    out.push_str("</ul>\n");
    if bad.len() > MAX_PROBLEMS {
        let _ = writeln!(
            out,
            "<p class=\"note\">and {} more: see the table.</p>",
            bad.len() - MAX_PROBLEMS
        );
    }
}

/// What follows a verdict that may still change.
fn not_settled(settled: bool) -> &'static str {
    if settled { "" } else { " (not settled)" }
}

fn peer_table(page: &Page<'_>, out: &mut String) {
    out.push_str(
        "<h2>Peers</h2>\n<table id=\"peers\"><tr><th>peer</th><th>state</th>\
         <th>verdict</th><th class=\"n\">last RTT</th><th class=\"n\">lost (5 min)</th>\
         <th>last change</th><th class=\"n\">changes</th><th class=\"n\">clock offset</th></tr>\n",
    );
    for p in page.peers.iter().take(MAX_PEER_ROWS) {
        let (class, state) = if p.up {
            ("up", "up".to_string())
        } else {
            ("down", format!("down ({} timeouts)", p.timeouts))
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{class}\">{state}</td><td class=\"{}\">{}{}</td><td class=\"n\">",
            esc(p.name),
            verdict_class(p.verdict.kind),
            esc(&p.verdict.text),
            not_settled(p.verdict.settled)
        );
        match p.rtt_us {
            Some(us) => {
                let _ = write!(out, "{}.{:03} ms", us / 1000, us % 1000);
            }
            None => out.push('\u{2014}'),
        }
        out.push_str("</td><td class=\"n\">");
        match p.loss {
            Some(r) => {
                let _ = write!(out, "{:.1} %", r * 100.0);
            }
            None => out.push('\u{2014}'),
        }
        out.push_str("</td><td>");
        write_timestamp(out, p.since_wall);
        let _ = write!(
            out,
            " ({} ago)</td><td class=\"n\">{}</td><td class=\"n\">",
            ago(page.now_wall.saturating_sub(p.since_wall)),
            p.transitions
        );
        match p.offset_ms {
            Some(ms) => {
                let _ = write!(out, "{ms:+} ms");
            }
            None => out.push_str("unknown"),
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
    if page.peers.len() > MAX_PEER_ROWS {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more peers not shown.</p>",
            page.peers.len() - MAX_PEER_ROWS
        );
    }
}

/// `ms` as a rough age: seconds, minutes, hours or days.
fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..120 => format!("{s} s"),
        120..7_200 => format!("{} min", s / 60),
        7_200..172_800 => format!("{} h", s / 3_600),
        _ => format!("{} d", s / 86_400),
    }
}

fn log_tail(page: &Page<'_>, out: &mut String) {
    out.push_str("<h2>Today's log</h2>\n");
    match &page.log {
        Err(why) => {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(why));
        }
        Ok(lines) if lines.is_empty() => out.push_str("<p class=\"note\">No lines yet.</p>\n"),
        Ok(lines) => {
            out.push_str("<pre id=\"log\">");
            let skip = lines.len().saturating_sub(MAX_LOG_LINES);
            for line in lines.iter().skip(skip) {
                match cut(line, MAX_LOG_LINE) {
                    Some(head) => {
                        let _ = writeln!(
                            out,
                            "{} [\u{2026} cut: the line is longer than {MAX_LOG_LINE} bytes]",
                            esc(head)
                        );
                    }
                    None => {
                        let _ = writeln!(out, "{}", esc(line));
                    }
                }
            }
            out.push_str("</pre>\n");
        }
    }
}

/// `s` cut to at most `max` bytes at a character boundary, if longer.
fn cut(s: &str, max: usize) -> Option<&str> {
    if s.len() <= max {
        return None;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end)
}

fn timeline(page: &Page<'_>, out: &mut String) {
    match &page.timeline {
        Timeline::NotBuilt => {}
        Timeline::Missing(why) => {
            let _ = writeln!(
                out,
                "<h2>Last 24 hours</h2>\n<p class=\"note\">{}</p>",
                esc(why)
            );
        }
        Timeline::Svg(svg) if svg.len() > MAX_SVG => {
            let _ = writeln!(
                out,
                "<h2>Last 24 hours</h2>\n<p class=\"note\">The timeline is {} KiB, more than this page embeds ({} KiB): run <code>uptime-tracker report --svg FILE</code> on this node's log files.</p>",
                svg.len() / 1024,
                MAX_SVG / 1024
            );
        }
        Timeline::Svg(svg) => {
            out.push_str(
                "<h2>Last 24 hours</h2>\n<p class=\"note\">This node's logs, as <code>report</code> draws them, as of the time in its title.</p>\n<div class=\"timeline\" id=\"timeline\">",
            );
            // An SVG document may open with an XML declaration; inline it may not.
            let body = svg.find("<svg").and_then(|i| svg.get(i..)).unwrap_or("");
            out.push_str(body);
            out.push_str("</div>\n");
        }
    }
}

/// `s` escaped for HTML text and attribute values, written without an allocation.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl std::fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(|c: char| {
            matches!(c, '&' | '<' | '>' | '"' | '\'') || (c.is_control() && c != '\t')
        }) {
            let (plain, tail) = rest.split_at(i);
            f.write_str(plain)?;
            let mut chars = tail.chars();
            let c = chars.next().unwrap_or_default();
            f.write_str(match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => "\u{fffd}",
            })?;
            rest = chars.as_str();
        }
        f.write_str(rest)
    }
}

/// `s` escaped for HTML text and attribute values.
pub fn esc(s: &str) -> Esc<'_> {
    Esc(s)
}
