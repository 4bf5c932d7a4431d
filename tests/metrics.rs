//! The metrics responder and `status` against a real 3-node mesh on 127.0.0.1-3
//! (interval 200 ms, timeout 300 ms, threshold 3). node1 serves metrics; one peer's name
//! holds `"` and `\`, which label values and JSON must escape.
//!
//! `/metrics` is checked by `promtool check metrics` when promtool is installed (Debian's
//! `prometheus` package; `.ci/run` installs it) and always by this file's own reading of
//! the text format. The alert rules in packaging/prometheus/ are checked with
//! `promtool check rules` and their unit tests with `promtool test rules`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

const WEIRD: &str = "we\"ird\\node";

struct Node {
    name: String,
    ip: Ipv4Addr,
    port: u16,
}

/// Three nodes, each with its own config file (node1's with `metrics_listen`).
struct Setup {
    daemons: Vec<Option<Daemon>>,
    configs: Vec<PathBuf>,
    metrics: SocketAddr,
    dir: TempDir,
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let dir = TempDir::new(tag);
        let nodes = [("node1", IP1), (WEIRD, IP2), ("node3", IP3)].map(|(name, ip)| Node {
            name: name.to_string(),
            ip,
            port: free_port(ip),
        });
        let metrics = SocketAddr::from((IP1, free_port(IP1)));
        let mut configs = Vec::new();
        for (i, me) in nodes.iter().enumerate() {
            let mut text = format!(
                "whoami = {}\ninterval = 200\ntimeout = 300\noffline_threshold = 3\nlog_folder = \"logs\"\n",
                toml_string(&me.name)
            );
            if i == 0 {
                text.push_str(&format!("metrics_listen = \"{metrics}\"\n"));
            }
            for n in &nodes {
                text.push_str(&format!(
                    "\n[[nodes]]\nname = {}\nip = \"{}\"\nport = {}\n",
                    toml_string(&n.name),
                    n.ip,
                    n.port
                ));
            }
            let path = dir.path().join(format!("node{i}.toml"));
            fs::write(&path, text).unwrap();
            configs.push(path);
        }
        Setup {
            daemons: Vec::new(),
            configs,
            metrics,
            dir,
        }
    }

    fn start_all(&mut self) {
        for (i, config) in self.configs.iter().enumerate() {
            let config = config.to_str().unwrap();
            let label = format!("node{i}");
            let d = Daemon::spawn(
                &label,
                &["run", "--config", config],
                self.dir.path(),
                self.dir.path(),
            );
            self.daemons.push(Some(d));
        }
    }

    fn config(&self, i: usize) -> &str {
        self.configs[i].to_str().unwrap()
    }

    fn node1_stderr(&self) -> String {
        self.daemons[0]
            .as_ref()
            .map(Daemon::stderr)
            .unwrap_or_default()
    }
}

/// One HTTP exchange on a fresh connection: (status line, headers, body).
fn get(addr: SocketAddr, request: &str) -> (String, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .expect("read the response (the server closes after it)");
    split_response(&String::from_utf8(raw).expect("UTF-8 response"))
}

fn split_response(text: &str) -> (String, String, String) {
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

fn scrape(addr: SocketAddr) -> String {
    let (status, headers, body) = get(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{headers}"
    );
    assert!(
        headers.contains(&format!("Content-Length: {}", body.len())),
        "{headers}"
    );
    body
}

// ---------------------------------------------------------------------------------------
// The text format, read back.

/// One sample: family name (the metric name with `_bucket`, `_sum`, `_count` of a
/// histogram stripped), the full name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    family: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses an exposition strictly: every sample after its family's `# HELP` and `# TYPE`,
/// families not interleaved, label values unescaped, values numbers.
fn parse_exposition(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    let mut current = String::new();
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty());
            assert!(
                !helped.contains(&name.to_string()),
                "{name} described twice"
            );
            helped.push(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert_eq!(
                helped.last().map(String::as_str),
                Some(name),
                "HELP then TYPE: {line}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "{line}"
            );
            current = name.to_string();
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("no value: {line}"),
        };
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(mut r) = rest.strip_prefix('{') {
            loop {
                let (label, after) = r.split_once("=\"").expect("label=\"");
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    let (i, c) = chars.next().expect("closing quote");
                    match c {
                        '"' => break i,
                        '\\' => match chars.next().unwrap().1 {
                            'n' => value.push('\n'),
                            c @ ('\\' | '"') => value.push(c),
                            c => panic!("bad escape \\{c} in {line}"),
                        },
                        c => value.push(c),
                    }
                };
                labels.insert(label.to_string(), value);
                r = &after[end + 1..];
                if let Some(more) = r.strip_prefix(',') {
                    r = more;
                } else {
                    rest = r.strip_prefix('}').expect("}");
                    break;
                }
            }
        }
        let value: f64 = rest
            .strip_prefix(' ')
            .expect("space")
            .parse()
            .unwrap_or_else(|_| {
                assert_eq!(rest, " +Inf", "{line}");
                f64::INFINITY
            });
        let family = if types.get(&current).map(String::as_str) == Some("histogram") {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name)
        } else {
            name
        };
        assert_eq!(family, current, "sample outside its family: {line}");
        samples.push(Sample {
            family: family.to_string(),
            name: name.to_string(),
            labels,
            value,
        });
    }
    (types, samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// Checks every histogram: buckets cumulative and ending with `+Inf` == `_count`.
fn check_histograms(types: &BTreeMap<String, String>, samples: &[Sample]) {
    for (family, _) in types.iter().filter(|(_, k)| *k == "histogram") {
        let peers: Vec<&String> = samples
            .iter()
            .filter(|s| &s.family == family)
            .filter_map(|s| s.labels.get("peer"))
            .collect();
        for peer in peers {
            let buckets: Vec<(f64, f64)> = samples
                .iter()
                .filter(|s| {
                    s.name == format!("{family}_bucket") && s.labels.get("peer") == Some(peer)
                })
                .map(|s| {
                    let le = &s.labels["le"];
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap()
                    };
                    (le, s.value)
                })
                .collect();
            assert_eq!(buckets.len(), 16, "{peer}: 15 bounds and +Inf");
            assert_eq!(buckets[0].0, 0.0005);
            assert_eq!(buckets[14].0, 30.0);
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{buckets:?}"
            );
            let count = value(samples, &format!("{family}_count"), &[("peer", peer)]).unwrap();
            assert_eq!(buckets[15], (f64::INFINITY, count));
            assert!(value(samples, &format!("{family}_sum"), &[("peer", peer)]).is_some());
        }
    }
}

/// `promtool`, if installed: `None` (said on stderr) when it is not.
fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        skip_or_fail(
            "the promtool checks: promtool is not installed (Debian: prometheus; .ci/run \
             installs it); the test's own checks still run",
        );
    }
    found.then_some("promtool")
}

fn promtool_check_metrics(text: &str) {
    let Some(tool) = promtool() else {
        return;
    };
    let mut child = Command::new(tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Lint findings (naming conventions) are printed, not fatal: there must be none.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.trim().is_empty(), "promtool: {said}");
}

fn status(args: &[&str], cwd: &Path) -> CliOutput {
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    run_cli(&all, cwd)
}

// ---------------------------------------------------------------------------------------

#[test]
fn metrics_status_and_the_status_command_follow_the_mesh() {
    let mut s = Setup::new("metrics-mesh");
    s.start_all();
    let addr = s.metrics;
    // Both peers answered a few probes each.
    let text = wait_for("both peers to answer probes", DEADLINE, || {
        let text = TcpStream::connect(addr).ok().map(|_| scrape(addr))?;
        let (_, samples) = parse_exposition(&text);
        let ok = ["node3", WEIRD].iter().all(|p| {
            value(&samples, "uptime_tracker_peer_up", &[("peer", p)]) == Some(1.0)
                && value(
                    &samples,
                    "uptime_tracker_probes_replied_total",
                    &[("peer", p)],
                )
                .unwrap_or(0.0)
                    >= 3.0
        });
        ok.then_some(text)
    });
    promtool_check_metrics(&text);
    let (types, samples) = parse_exposition(&text);
    let expected = [
        ("uptime_tracker_peer_up", "gauge"),
        ("uptime_tracker_peer_timeouts", "gauge"),
        ("uptime_tracker_peer_transitions_total", "counter"),
        ("uptime_tracker_peer_last_change_timestamp_seconds", "gauge"),
        ("uptime_tracker_peer_last_rtt_seconds", "gauge"),
        ("uptime_tracker_peer_probes_lost_ratio", "gauge"),
        ("uptime_tracker_probes_sent_total", "counter"),
        ("uptime_tracker_probes_replied_total", "counter"),
        ("uptime_tracker_probes_timed_out_total", "counter"),
        ("uptime_tracker_probes_voided_total", "counter"),
        ("uptime_tracker_peer_verdict", "gauge"),
        ("uptime_tracker_peer_verdict_settled", "gauge"),
        ("uptime_tracker_peer_clock_offset_seconds", "gauge"),
        ("uptime_tracker_views_counted", "gauge"),
        ("uptime_tracker_rtt_seconds", "histogram"),
        ("uptime_tracker_connections", "gauge"),
        ("uptime_tracker_connections_closed_total", "counter"),
        ("uptime_tracker_log_lines_waiting", "gauge"),
        ("uptime_tracker_log_lines_written_total", "counter"),
        ("uptime_tracker_log_lines_dropped_total", "counter"),
        ("uptime_tracker_log_write_errors_total", "counter"),
        ("uptime_tracker_build_info", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ];
    let got: Vec<(&str, &str)> = types
        .iter()
        .map(|(n, k)| (n.as_str(), k.as_str()))
        .collect();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(got, want);
    check_histograms(&types, &samples);
    let peers: Vec<&str> = samples
        .iter()
        .filter(|s| s.name == "uptime_tracker_peer_up")
        .map(|s| s.labels["peer"].as_str())
        .collect();
    assert_eq!(
        peers,
        [WEIRD, "node3"],
        "config order, this node left out, escapes undone"
    );
    for p in [WEIRD, "node3"] {
        let v = |name: &str| value(&samples, name, &[("peer", p)]).unwrap();
        assert_eq!(v("uptime_tracker_peer_timeouts"), 0.0);
        let rtt = v("uptime_tracker_peer_last_rtt_seconds");
        assert!(rtt > 0.0 && rtt < 0.3, "{p}: last rtt {rtt} s");
        assert!(v("uptime_tracker_rtt_seconds_count") >= 3.0);
        assert!(v("uptime_tracker_probes_sent_total") >= v("uptime_tracker_probes_replied_total"));
    }
    let conns = |dir: &str, state: &str| {
        value(
            &samples,
            "uptime_tracker_connections",
            &[("direction", dir), ("state", state)],
        )
        .unwrap()
    };
    // Two links to each of the two peers, and theirs to us.
    assert_eq!(conns("out", "ready"), 4.0);
    assert_eq!(conns("in", "ready"), 4.0);
    let version = samples
        .iter()
        .find(|s| s.name == "uptime_tracker_build_info")
        .unwrap();
    assert_eq!(version.labels["version"], env!("CARGO_PKG_VERSION"));
    let started = value(&samples, "process_start_time_seconds", &[]).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(started <= now && started > now - 60.0, "{started} vs {now}");

    // /status: the same state as JSON.
    let (st, headers, body) = get(addr, "GET /status HTTP/1.0\r\n\r\n");
    assert_eq!(st, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("Content-Type: application/json"),
        "{headers}"
    );
    assert!(
        headers.contains("Connection: close"),
        "HTTP/1.0 closes: {headers}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(doc["node"], "node1");
    assert_eq!(doc["offline_threshold"], 3);
    assert_eq!(doc["peers"][0]["name"], WEIRD);
    assert_eq!(doc["peers"][1]["name"], "node3");
    for p in doc["peers"].as_array().unwrap() {
        assert_eq!(p["up"], true);
        assert_eq!(p["timeouts"], 0);
        assert!(p["last_rtt_ms"].as_f64().unwrap() >= 0.0, "{p}");
        assert!(p["probes"]["replied"].as_u64().unwrap() >= 3, "{p}");
        assert_eq!(p["lost_pct_5min"].as_f64(), Some(0.0), "{p}");
    }
    assert_eq!(doc["connections"]["out"]["ready"], 4);
    assert!(doc["closed"]["probe_timeout"].is_u64());

    // The mesh's views: every peer up on every row, clocks measured (one machine: near 0).
    let doc = wait_for("node1 to count both peers' views", DEADLINE, || {
        let (_, _, body) = get(addr, "GET /status HTTP/1.0\r\n\r\n");
        let doc: serde_json::Value = serde_json::from_str(&body).ok()?;
        let m = &doc["mesh"];
        let fresh = m["rows"]
            .as_array()?
            .iter()
            .filter(|r| r["view"] == "fresh")
            .count();
        let settled = m["verdicts"]
            .as_array()?
            .iter()
            .all(|v| v["settled"] == true);
        (fresh == 2 && settled).then_some(doc)
    });
    let m = &doc["mesh"];
    assert_eq!(m["exit_status"], 0, "{m}");
    for v in m["verdicts"].as_array().unwrap() {
        assert_eq!(v["verdict"], "up", "{v}");
        assert!(v["clock_offset_ms"].as_i64().unwrap().abs() <= 5, "{v}");
    }
    for r in m["rows"].as_array().unwrap() {
        assert_eq!(r["seen"].as_str().unwrap().matches('U').count(), 2, "{r}");
    }
    let out = status(&["--config", s.config(0), "--mesh"], s.dir.path());
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("node1: every peer up"),
        "{}",
        out.stdout
    );
    let (_, samples) = parse_exposition(&scrape(addr));
    assert_eq!(
        value(
            &samples,
            "uptime_tracker_peer_verdict",
            &[("peer", "node3"), ("verdict", "up")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "uptime_tracker_views_counted", &[]),
        Some(2.0)
    );

    // The status command: a table, exit 0 while every peer is up.
    let out = status(&["--config", s.config(0)], s.dir.path());
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(
        lines[0].starts_with("PEER") && lines[0].contains("SINCE (UTC)"),
        "{}",
        out.stdout
    );
    assert!(
        lines[1].starts_with(WEIRD) && lines[1].contains(" up "),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with("node3") && lines[2].contains(" up "),
        "{}",
        out.stdout
    );
    assert!(lines[2].contains(" ms "), "a last RTT: {}", out.stdout);

    // node3 dies: node1 declares it offline; status exits 1 and says so.
    s.daemons[2].as_mut().unwrap().kill_hard();
    let text = wait_for("node1 to declare node3 offline", DEADLINE, || {
        let text = scrape(addr);
        let (_, samples) = parse_exposition(&text);
        (value(&samples, "uptime_tracker_peer_up", &[("peer", "node3")]) == Some(0.0))
            .then_some(text)
    });
    promtool_check_metrics(&text);
    let (_, samples) = parse_exposition(&text);
    let v = |name: &str, p: &str| value(&samples, name, &[("peer", p)]).unwrap();
    assert_eq!(v("uptime_tracker_peer_timeouts", "node3"), 3.0);
    assert_eq!(v("uptime_tracker_peer_transitions_total", "node3"), 1.0);
    assert!(v("uptime_tracker_probes_timed_out_total", "node3") >= 3.0);
    assert!(v("uptime_tracker_peer_last_change_timestamp_seconds", "node3") > started);
    assert_eq!(v("uptime_tracker_peer_up", WEIRD), 1.0);
    let closed: f64 = samples
        .iter()
        .filter(|s| s.name == "uptime_tracker_connections_closed_total")
        .map(|s| s.value)
        .sum();
    assert!(closed >= 1.0, "node3's connections were closed");
    // Its event lines reached the log: 3 misses of node3 (1, 2, 3).
    let written = value(&samples, "uptime_tracker_log_lines_written_total", &[]).unwrap();
    assert!(written >= 3.0, "{written}");
    assert_eq!(
        value(&samples, "uptime_tracker_log_lines_waiting", &[]),
        Some(0.0)
    );

    let out = status(&["--metrics", &addr.to_string()], s.dir.path());
    assert_eq!(
        out.code,
        Some(1),
        "a peer is down: {}{}",
        out.stdout,
        out.stderr
    );
    let row = out.stdout.lines().find(|l| l.starts_with("node3")).unwrap();
    assert!(row.contains(" down ") && row.contains(" 3 "), "{row}");

    // The mesh agrees: node2 sees node3 down too, so node3 is down, not a broken link.
    let out = wait_for("status --mesh to say node3 is down", DEADLINE, || {
        let out = status(&["--config", s.config(0), "--mesh"], s.dir.path());
        (out.code == Some(1) && out.stdout.contains("yes       down")).then_some(out)
    });
    let row = out
        .stdout
        .lines()
        .rfind(|l| l.starts_with("node3"))
        .unwrap();
    assert!(
        row.contains("down (no observer reaches it)"),
        "{}",
        out.stdout
    );
    let (_, samples) = parse_exposition(&scrape(addr));
    assert_eq!(
        value(
            &samples,
            "uptime_tracker_peer_verdict",
            &[("peer", "node3"), ("verdict", "down")]
        ),
        Some(1.0)
    );

    // Nothing answers: exit 3 with a clear error, within the client's timeouts.
    let closed_port = SocketAddr::from((IP1, free_port(IP1)));
    let begun = Instant::now();
    let out = status(&["--metrics", &closed_port.to_string()], s.dir.path());
    assert_eq!(out.code, Some(3));
    assert!(
        out.stderr.contains("no answer from an uptime-tracker"),
        "{}",
        out.stderr
    );
    assert!(begun.elapsed() < Duration::from_secs(10));
    // A config without metrics_listen says how to set it.
    let out = status(&["--config", s.config(1)], s.dir.path());
    assert_eq!(out.code, Some(3));
    assert!(
        out.stderr.contains("metrics_listen = \"127.0.0.1:9464\""),
        "{}",
        out.stderr
    );

    assert!(
        s.daemons[0].as_mut().unwrap().is_running(),
        "{}",
        s.node1_stderr()
    );
    for d in s.daemons.iter_mut().flatten() {
        if d.is_running() {
            d.terminate_ok();
        }
    }
}

#[test]
fn other_paths_methods_and_malformed_requests() {
    let mut s = Setup::new("metrics-http");
    s.start_all();
    let addr = s.metrics;
    wait_for("the responder", DEADLINE, || TcpStream::connect(addr).ok());

    let (st, _, body) = get(addr, "GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(st, "HTTP/1.1 404 Not Found");
    assert!(body.contains("/metrics"));
    let (st, headers, _) = get(addr, "POST /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(st, "HTTP/1.1 405 Method Not Allowed");
    assert!(headers.contains("Allow: GET, HEAD"), "{headers}");
    // Malformed: 400, and the server closes (get reads to the end).
    let (st, headers, _) = get(addr, "GET /metrics\r\n\r\n");
    assert_eq!(st, "HTTP/1.1 400 Bad Request");
    assert!(headers.contains("Connection: close"));
    let (st, _, _) = get(addr, "GET /metrics HTTP/1.1\r\nBad header\r\n\r\n");
    assert_eq!(st, "HTTP/1.1 400 Bad Request");
    // Too large a head: 431 once 8 KiB arrived without its end.
    let big = format!("GET /metrics HTTP/1.1\r\nX: {}", "a".repeat(9000));
    let (st, _, _) = get(addr, &big);
    assert_eq!(st, "HTTP/1.1 431 Request Header Fields Too Large");
    // HEAD: the headers of GET, no body.
    let (st, headers, body) = get(addr, "HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(st, "HTTP/1.1 200 OK");
    assert!(headers.contains("Content-Length: ") && !headers.contains("Content-Length: 0"));
    assert!(body.is_empty());

    // Keep-alive: two requests, pipelined in one write, answered in order on one connection.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /status HTTP/1.1\r\nHost: t\r\n\r\nGET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    let first_end = raw.find("\r\n\r\n").unwrap();
    assert!(
        raw.starts_with("HTTP/1.1 200 OK") && raw[..first_end].contains("Connection: keep-alive")
    );
    let len: usize = raw[..first_end]
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    let second = &raw[first_end + 4 + len..];
    let (st, headers, body) = split_response(second);
    assert_eq!(st, "HTTP/1.1 200 OK");
    assert!(headers.contains("Connection: close"));
    assert!(body.contains("uptime_tracker_peer_up"));

    // More idle connections than allowed: the oldest are evicted, a scrape still works,
    // and an idle one is closed by the server within its deadline (5 s).
    let idle: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
    sleep(Duration::from_millis(200));
    let body = scrape(addr);
    assert!(body.contains("uptime_tracker_build_info"));
    let begun = Instant::now();
    let mut last = idle.into_iter().last().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 16];
    let n = last.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without a response");
    let waited = begun.elapsed();
    // Its deadline, not an eviction, closed it: 5 s after it was accepted.
    assert!(
        waited > Duration::from_secs(3) && waited < Duration::from_secs(10),
        "closed after {waited:?}"
    );

    // The mesh went on undisturbed: node1 logged no event.
    let log = read_node_logs(&s.dir.path().join("logs"), "node1");
    assert!(events(&log).is_empty(), "{log}");
    for d in s.daemons.iter_mut().flatten() {
        d.terminate_ok();
    }
}

#[test]
fn check_config_reports_a_taken_metrics_port() {
    let s = Setup::new("metrics-taken");
    let _holder = TcpListener::bind(s.metrics).unwrap();
    let out = run_cli(&["check-config", "--config", s.config(0)], s.dir.path());
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "cannot listen on {} (`metrics_listen`)",
            s.metrics
        )),
        "{}",
        out.stderr
    );
    drop(_holder);
    let out = run_cli(&["check-config", "--config", s.config(0)], s.dir.path());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("metrics_listen:    {}", s.metrics)),
        "{}",
        out.stdout
    );
}

#[test]
fn alert_rules_pass_promtool() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus");
    let rules = dir.join("alerts.yml");
    let text = fs::read_to_string(&rules).unwrap();
    for alert in ["UptimeTrackerPeerDown", "UptimeTrackerPeerFlapping"] {
        assert!(text.contains(&format!("alert: {alert}")), "{alert} missing");
    }
    let Some(tool) = promtool() else {
        return;
    };
    for args in [["check", "rules"], ["test", "rules"]] {
        let file = if args[0] == "check" {
            "alerts.yml"
        } else {
            "alerts.test.yml"
        };
        let out = Command::new(tool)
            .args(args)
            .arg(file)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {} {file}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_scraper_that_does_not_read_is_dropped_and_holds_nothing_up() {
    // One node with metrics and 150 peers that refuse connections: each scrape is a few
    // hundred KiB, so a client that does not read fills the kernel's buffers.
    let dir = TempDir::new("metrics-slow");
    let metrics = SocketAddr::from((IP1, free_port(IP1)));
    let mut text = format!(
        "whoami = \"node1\"\ninterval = 1000\ntimeout = 500\noffline_threshold = 3\n\
         log_folder = \"logs\"\nmetrics_listen = \"{metrics}\"\n"
    );
    for i in 1..=151 {
        let port = free_port(IP1);
        text.push_str(&format!(
            "\n[[nodes]]\nname = \"node{i}\"\nip = \"127.0.0.1\"\nport = {port}\n"
        ));
    }
    let config = dir.path().join("mesh.toml");
    fs::write(&config, text).unwrap();
    let mut d = Daemon::spawn(
        "node1",
        &["run", "--config", config.to_str().unwrap()],
        dir.path(),
        dir.path(),
    );
    wait_for("the responder", DEADLINE, || {
        TcpStream::connect(metrics).ok()
    });
    let one = scrape(metrics).len();
    assert!(one > 200_000, "{one} bytes");

    // A client with a tiny receive window asks for many scrapes and reads nothing.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&metrics.into()).unwrap();
    let mut slow: TcpStream = sock.into();
    let asks = 60;
    slow.write_all(
        "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"
            .repeat(asks)
            .as_bytes(),
    )
    .unwrap();
    let begun = Instant::now();

    // Meanwhile others are served at once.
    for _ in 0..5 {
        let t = Instant::now();
        assert!(scrape(metrics).contains("uptime_tracker_peer_up"));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a scrape took {:?}",
            t.elapsed()
        );
        sleep(Duration::from_millis(300));
    }

    // Its deadline passes: the server drops it before it got what it asked for.
    sleep(Duration::from_secs(6).saturating_sub(begun.elapsed()));
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = 0;
    let mut buf = [0u8; 65536];
    loop {
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(
        got < asks * one / 2,
        "{got} bytes: the slow reader was not dropped"
    );
    assert!(begun.elapsed() < Duration::from_secs(20));
    assert!(d.is_running(), "{}", d.stderr());
    d.terminate_ok();
}

/// The README's mesh on one machine: config.example.toml itself (its ports swapped for
/// free ones), one file for three nodes started with `--whoami`, each serving metrics on
/// its own ip (`metrics_listen = ":PORT"`), each found by `status --config --whoami`.
/// About 2 s.
#[test]
fn the_example_mesh_from_one_file_serves_metrics_on_every_node() {
    let dir = TempDir::new("metrics-example");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = fs::read_to_string(root.join("config.example.toml")).unwrap();
    assert!(
        example.contains("\nmetrics_listen = \":9464\"\n"),
        "{example}"
    );
    let ips = [IP1, IP2, IP3];
    // One metrics port free on all three ips.
    let metrics_port = loop {
        let port = free_port(IP1);
        if ips.iter().all(|ip| TcpListener::bind((*ip, port)).is_ok()) {
            break port;
        }
    };
    let mut text = example.replace(":9464\"", &format!(":{metrics_port}\""));
    for (i, ip) in ips.iter().enumerate() {
        let port = 7101 + i;
        assert!(
            text.contains(&format!("ip = \"{ip}\"\nport = {port}\n")),
            "{text}"
        );
        text = text.replace(
            &format!("port = {port}\n"),
            &format!("port = {}\n", free_port(*ip)),
        );
    }
    let config = dir.path().join("mesh.toml");
    fs::write(&config, &text).unwrap();
    let config = config.to_str().unwrap();
    let names = ["node1", "node2", "node3"];
    let mut daemons: Vec<Daemon> = names
        .iter()
        .map(|name| {
            Daemon::spawn(
                name,
                &["run", "--config", config, "--whoami", name],
                dir.path(),
                dir.path(),
            )
        })
        .collect();
    for (name, ip) in names.iter().zip(ips) {
        let addr = SocketAddr::from((ip, metrics_port));
        let peers: Vec<&str> = names.iter().copied().filter(|n| n != name).collect();
        let text = wait_for(
            &format!("{name}'s /metrics at {addr}: both peers up"),
            DEADLINE,
            || {
                let text = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                    .is_ok()
                    .then(|| scrape(addr))?;
                let (_, samples) = parse_exposition(&text);
                peers
                    .iter()
                    .all(|p| value(&samples, "uptime_tracker_peer_up", &[("peer", p)]) == Some(1.0))
                    .then_some(text)
            },
        );
        assert!(text.contains("uptime_tracker_build_info"), "{text}");
        let out = status(&["--config", config, "--whoami", name], dir.path());
        assert_eq!(out.code, Some(0), "{name}: {}", out.stderr);
        let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
        assert_eq!(rows.len(), 2, "{}", out.stdout);
        for (row, peer) in rows.iter().zip(&peers) {
            assert!(
                row.starts_with(&format!("{peer} ")) && row.contains(" up "),
                "{row}"
            );
        }
    }
    for d in &mut daemons {
        let err = d.stderr();
        assert!(err.contains("serving metrics on http://"), "{err}");
        d.terminate_ok();
    }
}
