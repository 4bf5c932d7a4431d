//! `GET /metrics`: the Prometheus text exposition format, version 0.0.4. Each family has
//! its `# HELP` and `# TYPE` lines and its samples together; label values are escaped
//! (`\`, `"`, newline); the round-trip-time histogram has cumulative `_bucket{le=...}`
//! samples ending with `+Inf`, then `_sum` and `_count`. Times are in seconds.

use std::fmt::{Display, Write as _};

use super::{Snapshot, VERSION, write_micro, write_milli};
use crate::mesh::{ConnCounts, Engine, PeerView, RTT_BUCKETS_US, RowKind, Verdict};

/// The `Content-Type` of this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Per-peer families: name, type, help, and the value of a peer (`None`: no sample).
type PeerValue = fn(&PeerView<'_>, &mut String) -> bool;

const PEER_FAMILIES: [(&str, &str, &str, PeerValue); 10] = [
    (
        "uptime_tracker_peer_up",
        "gauge",
        "Whether the peer is online (1) or declared offline after offline_threshold timeouts (0).",
        |p, o| num(o, u8::from(p.online)),
    ),
    (
        "uptime_tracker_peer_timeouts",
        "gauge",
        "The peer's consecutive timeouts now (at most offline_threshold).",
        |p, o| num(o, p.timeouts),
    ),
    (
        "uptime_tracker_peer_transitions_total",
        "counter",
        "Changes of the peer between online and offline.",
        |p, o| num(o, p.stats.transitions),
    ),
    (
        "uptime_tracker_peer_last_change_timestamp_seconds",
        "gauge",
        "When the peer last changed between online and offline, or when this node started (Unix time).",
        |p, o| {
            write_milli(o, p.stats.since_wall);
            true
        },
    ),
    (
        "uptime_tracker_peer_last_rtt_seconds",
        "gauge",
        "The round-trip time of the peer's last answered probe (absent before the first).",
        |p, o| match p.stats.last_rtt_us {
            Some(us) => {
                write_micro(o, us);
                true
            }
            None => false,
        },
    ),
    (
        "uptime_tracker_peer_probes_lost_ratio",
        "gauge",
        "Share of the peer's probes over the last 5 minutes with no reply within timeout (late, missing or failed), 0 to 1: a lossy path shows here before, or without, an offline (absent before the first).",
        |p, o| match p.stats.recent_loss() {
            Some(r) => {
                let _ = write!(o, "{:.4}", r);
                true
            }
            None => false,
        },
    ),
    (
        "uptime_tracker_probes_sent_total",
        "counter",
        "Probes started (sent at once, or once the link to the peer is up).",
        |p, o| num(o, p.stats.started),
    ),
    (
        "uptime_tracker_probes_replied_total",
        "counter",
        "Probes answered in time.",
        |p, o| num(o, p.stats.replied),
    ),
    (
        "uptime_tracker_probes_timed_out_total",
        "counter",
        "Probes counted as timeouts: no reply within timeout, or failed with their connection.",
        |p, o| num(o, p.stats.timed_out),
    ),
    (
        "uptime_tracker_probes_voided_total",
        "counter",
        "Probes not counted because of this machine's own trouble (descriptors, buffers).",
        |p, o| num(o, p.stats.voided),
    ),
];

/// Appends the whole exposition of `snap` to `out`.
pub fn render(snap: &Snapshot<'_>, out: &mut String) {
    peer_families(snap, out);
    verdicts(snap.engine, out);
    rtt_histogram(snap, out);
    connections(snap, out);
    journal(snap, out);
    process(snap, out);
}

/// The families of [`PEER_FAMILIES`], a sample per peer that has a value.
fn peer_families(snap: &Snapshot<'_>, out: &mut String) {
    for (name, kind, help, value) in PEER_FAMILIES {
        family(out, name, kind, help);
        for peer in snap.engine.peers() {
            let mark = out.len();
            sample_start(out, name, "", &[("peer", peer.name)]);
            if value(&peer, out) {
                out.push('\n');
            } else {
                out.truncate(mark);
            }
        }
    }
}

/// `uptime_tracker_rtt_seconds`: cumulative buckets, `_sum` and `_count` per peer.
fn rtt_histogram(snap: &Snapshot<'_>, out: &mut String) {
    let name = "uptime_tracker_rtt_seconds";
    family(
        out,
        name,
        "histogram",
        "Round-trip times of answered probes, from the monotonic clock.",
    );
    for peer in snap.engine.peers() {
        let h = &peer.stats.rtt;
        let mut cumulative = 0;
        let mut le = String::new();
        for (i, n) in h.counts.iter().enumerate() {
            cumulative += n;
            le.clear();
            match RTT_BUCKETS_US.get(i) {
                Some(&us) => seconds_label(&mut le, us),
                None => le.push_str("+Inf"),
            }
            sample_start(out, name, "_bucket", &[("peer", peer.name), ("le", &le)]);
            line_end(out, cumulative);
        }
        sample_start(out, name, "_sum", &[("peer", peer.name)]);
        write_micro(out, h.sum_us);
        out.push('\n');
        sample_start(out, name, "_count", &[("peer", peer.name)]);
        line_end(out, cumulative);
    }
}

/// Open mesh connections by direction and state, and those closed by reason.
fn connections(snap: &Snapshot<'_>, out: &mut String) {
    let engine = snap.engine;
    let name = "uptime_tracker_connections";
    family(
        out,
        name,
        "gauge",
        "Open mesh connections by direction and state.",
    );
    let counts = engine.conn_counts();
    for (state, n) in ConnCounts::OUT.iter().zip(counts.out) {
        sample_start(out, name, "", &[("direction", "out"), ("state", state)]);
        line_end(out, n);
    }
    for (state, n) in ConnCounts::IN.iter().zip(counts.inbound) {
        sample_start(out, name, "", &[("direction", "in"), ("state", state)]);
        line_end(out, n);
    }

    let name = "uptime_tracker_connections_closed_total";
    family(out, name, "counter", "Mesh connections closed, by reason.");
    for (reason, n) in engine.closes().iter() {
        sample_start(out, name, "", &[("reason", reason)]);
        line_end(out, n);
    }
}

/// The journal's line counts.
fn journal(snap: &Snapshot<'_>, out: &mut String) {
    let j = snap.journal;
    let journal: [(&str, &str, &str, u64); 4] = [
        (
            "uptime_tracker_log_lines_waiting",
            "gauge",
            "Log lines waiting in memory for the disk.",
            j.waiting,
        ),
        (
            "uptime_tracker_log_lines_written_total",
            "counter",
            "Log lines written.",
            j.written,
        ),
        (
            "uptime_tracker_log_lines_dropped_total",
            "counter",
            "Log lines given up: dropped from a full queue of lines waiting for the disk.",
            j.dropped,
        ),
        (
            "uptime_tracker_log_write_errors_total",
            "counter",
            "Appends to the log file that failed (each retry counts).",
            j.write_errors,
        ),
    ];
    for (name, kind, help, n) in journal {
        family(out, name, kind, help);
        sample_start(out, name, "", &[]);
        line_end(out, n);
    }
}

/// The version and the process's start time.
fn process(snap: &Snapshot<'_>, out: &mut String) {
    let name = "uptime_tracker_build_info";
    family(
        out,
        name,
        "gauge",
        "The version of uptime-tracker, as a label; always 1.",
    );
    sample_start(out, name, "", &[("version", VERSION)]);
    line_end(out, 1);

    let name = "process_start_time_seconds";
    family(out, name, "gauge", "When the process started (Unix time).");
    sample_start(out, name, "", &[]);
    write_milli(out, snap.start_wall);
    out.push('\n');
}

/// Each peer's verdict (one series per verdict, the current one 1), whether it settled,
/// and its clock offset; and how many peers' views count. The matrix itself is left
/// out: nodes² series would swamp a Prometheus at a few hundred nodes (`/status` has it).
fn verdicts(engine: &Engine, out: &mut String) {
    let view = engine.mesh_view();
    let peers = || {
        view.nodes
            .iter()
            .zip(&view.verdicts)
            .filter_map(|(n, v)| Some((n.as_str(), v.as_ref()?)))
    };
    let name = "uptime_tracker_peer_verdict";
    family(
        out,
        name,
        "gauge",
        "The mesh's verdict on the peer from the views its peers share (1 for the current one): up, down (no observer reaches it), link (up for others), isolated (an observer, probably this node, is cut off), unknown (too few views).",
    );
    for (peer, v) in peers() {
        for code in Verdict::CODES {
            sample_start(out, name, "", &[("peer", peer), ("verdict", code)]);
            line_end(out, u8::from(v.judged.verdict.code() == code));
        }
    }
    let name = "uptime_tracker_peer_verdict_settled";
    family(
        out,
        name,
        "gauge",
        "Whether the peer's verdict has held for 2 x interval + timeout (the other observers' views are in).",
    );
    for (peer, v) in peers() {
        sample_start(out, name, "", &[("peer", peer)]);
        line_end(out, u8::from(v.settled));
    }
    let name = "uptime_tracker_peer_clock_offset_seconds";
    family(
        out,
        name,
        "gauge",
        "How far the peer's wall clock is ahead of this node's (negative: behind), measured NTP-style over the mesh (absent before the first measurement).",
    );
    for (peer, v) in peers() {
        if let Some((offset, _)) = v.offset {
            sample_start(out, name, "", &[("peer", peer)]);
            write_milli(out, offset);
            out.push('\n');
        }
    }
    let name = "uptime_tracker_views_counted";
    family(
        out,
        name,
        "gauge",
        "Peers whose shared view counts now (fresh, from a peer this node reaches, same node list).",
    );
    let counted = view
        .rows
        .iter()
        .filter(|r| matches!(r.kind, RowKind::Fresh(_)))
        .count();
    sample_start(out, name, "", &[]);
    line_end(out, counted);
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// `name` `suffix` `{labels}` and the space before the value.
fn sample_start(out: &mut String, name: &str, suffix: &str, labels: &[(&str, &str)]) {
    out.push_str(name);
    out.push_str(suffix);
    for (i, (label, value)) in labels.iter().enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        out.push_str(label);
        out.push_str("=\"");
        escape_label(out, value);
        out.push('"');
    }
    if !labels.is_empty() {
        out.push('}');
    }
    out.push(' ');
}

fn line_end(out: &mut String, value: impl Display) {
    let _ = writeln!(out, "{value}");
}

fn num(out: &mut String, value: impl Display) -> bool {
    let _ = write!(out, "{value}");
    true
}

/// A label value: `\`, `"` and newline escaped, as the format requires.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A bucket bound in seconds without trailing zeros: 500 µs -> `0.0005`, 30 s -> `30`.
fn seconds_label(out: &mut String, us: u64) {
    let _ = write!(out, "{}", us / 1_000_000);
    let mut frac = us % 1_000_000;
    if frac > 0 {
        out.push('.');
        let mut digits = 6;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        let _ = write!(out, "{frac:0digits$}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample_start(&mut out, "m", "_x", &[("peer", "a\"b\\c\nd"), ("le", "1")]);
        assert_eq!(out, "m_x{peer=\"a\\\"b\\\\c\\nd\",le=\"1\"} ");
    }

    #[test]
    fn bucket_bounds_read_as_seconds() {
        let shown: Vec<String> = RTT_BUCKETS_US
            .iter()
            .map(|&us| {
                let mut s = String::new();
                seconds_label(&mut s, us);
                s
            })
            .collect();
        assert_eq!(
            shown.join(" "),
            "0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30"
        );
    }
}
