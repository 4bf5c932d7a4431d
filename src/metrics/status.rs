//! `GET /status`: the state `/metrics` shows, as one JSON object:
//!
//! ```json
//! {"node":"node1","version":"0.1.0","started":"2026-11-23T20:09:18.938Z",
//!  "offline_threshold":3,
//!  "peers":[{"name":"node2","up":true,"timeouts":0,"since":"2026-11-23T20:09:18.938Z",
//!            "transitions":0,"last_rtt_ms":0.214,
//!            "probes":{"sent":12,"replied":12,"timed_out":0,"voided":0}}],
//!  "connections":{"out":{"connecting":0,"handshaking":0,"ready":1},
//!                 "in":{"awaiting_hello":0,"ready":1}},
//!  "closed":{"closed_by_peer":0,...},
//!  "log":{"waiting":0,"written":0,"dropped":0,"write_errors":0}}
//! ```
//!
//! Times are UTC ISO 8601 with milliseconds; `since` is the peer's last change between
//! online and offline, or this node's start; `last_rtt_ms` is `null` before the first
//! answered probe.

use std::fmt::Write as _;

use super::{Snapshot, VERSION, write_milli};
use crate::json;
use crate::logline::write_timestamp;
use crate::mesh::ConnCounts;

/// Appends the JSON document for `snap` to `out` (one line, ending with `\n`).
pub fn render(snap: &Snapshot<'_>, out: &mut String) {
    let engine = snap.engine;
    out.push_str("{\"node\":");
    out.push_str(&json::string(engine.whoami()));
    let _ = write!(out, ",\"version\":\"{VERSION}\",\"started\":\"");
    write_timestamp(out, snap.start_wall);
    let _ = write!(
        out,
        "\",\"offline_threshold\":{},\"peers\":[",
        engine.threshold()
    );
    for (i, p) in engine.peers().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let s = p.stats;
        out.push_str("{\"name\":");
        out.push_str(&json::string(p.name));
        let _ = write!(
            out,
            ",\"up\":{},\"timeouts\":{},\"since\":\"",
            p.online, p.timeouts
        );
        write_timestamp(out, s.since_wall);
        let _ = write!(out, "\",\"transitions\":{},\"last_rtt_ms\":", s.transitions);
        match s.last_rtt_us {
            // Microseconds are thousandths of a millisecond.
            Some(us) => write_milli(out, i64::try_from(us).unwrap_or(i64::MAX)),
            None => out.push_str("null"),
        }
        out.push_str(",\"lost_pct_5min\":");
        match s.recent_loss() {
            Some(r) => {
                let _ = write!(out, "{:.1}", r * 100.0);
            }
            None => out.push_str("null"),
        }
        let _ = write!(
            out,
            ",\"probes\":{{\"sent\":{},\"replied\":{},\"timed_out\":{},\"voided\":{}}}}}",
            s.started, s.replied, s.timed_out, s.voided
        );
    }
    let c = engine.conn_counts();
    out.push_str("],\"connections\":{\"out\":");
    object(out, ConnCounts::OUT.iter().copied().zip(c.out));
    out.push_str(",\"in\":");
    object(out, ConnCounts::IN.iter().copied().zip(c.inbound));
    out.push_str("},\"closed\":");
    object(out, engine.closes().iter());
    let j = snap.journal;
    out.push_str(",\"log\":");
    object(
        out,
        [
            ("waiting", j.waiting),
            ("written", j.written),
            ("dropped", j.dropped),
            ("write_errors", j.write_errors),
        ],
    );
    out.push_str(",\"mesh\":");
    super::mesh::render_json(&engine.mesh_view(), out);
    out.push_str("}\n");
}

/// `{"key":n,...}` for keys that need no escaping.
fn object<N: std::fmt::Display>(
    out: &mut String,
    fields: impl IntoIterator<Item = (&'static str, N)>,
) {
    out.push('{');
    for (i, (key, n)) in fields.into_iter().enumerate() {
        let comma = if i > 0 { "," } else { "" };
        let _ = write!(out, "{comma}\"{key}\":{n}");
    }
    out.push('}');
}
