//! `uptime-tracker status`: asks a running daemon's metrics responder for `/metrics` and
//! prints a table of its peers (state, timeouts, last round-trip time, since when). The
//! exit status makes it a health check: 0 when every peer is up, 1 when one is down, 3
//! when the daemon cannot be asked (nothing listening, no answer in time, not an
//! uptime-tracker, no `metrics_listen` in the config).
//!
//! It reads the Prometheus text rather than `/status`'s JSON: that format is a line per
//! sample, parsed here in a few lines, where JSON would need a parser of its own.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::Config;
use crate::logline::write_timestamp;

/// Exit status when the daemon cannot be asked (or the config cannot be read).
pub const CANNOT_ASK: u8 = 3;

/// `status --help`.
pub const USAGE: &str = "\
Usage:
  uptime-tracker status (--config FILE [--whoami NAME] | --metrics ADDR) [--mesh]

Asks a running daemon's metrics responder for its peers and prints a table: state,
consecutive timeouts, last round-trip time, and since when (UTC). A health check.
With --mesh, it prints the mesh as the daemon sees it from the views its peers share: who sees
whom (observer rows, observed columns), each peer's verdict (up; down: no observer
reaches it; link: up for others, the broken pairs named; isolated: probably this
node is cut off; unknown: too few views), whether it settled, and clock offsets.

  --config FILE   ask at the file's metrics_listen (an unspecified address such as
                  0.0.0.0 is asked on loopback)
  --whoami NAME   as the node NAME sees the file, instead of its `whoami` (for a
                  metrics_listen such as \":9464\", which follows each node's ip)
  --metrics ADDR  or ask at ADDR: IP:PORT, [IPv6]:PORT or localhost:PORT

Exit status: 0 when every peer is up; 1 when one is down; 3 when the daemon cannot be
asked (nothing listening, no answer in time, not an uptime-tracker, config error); 2
on a usage error. With --mesh, 0 every peer up; 1 a node is down (no observer reaches
it, or this node sees it down and too few views are left to tell); 4 links are broken
but every node is up for someone; 5 this node is cut off (before anything else); 3
cannot ask.";

/// Runs `status` against `addr` (or the error finding it): prints the table on stdout,
/// or the error on stderr. Returns the exit status: 0 every peer up, 1 a peer down,
/// [`CANNOT_ASK`].
pub fn run(addr: Result<SocketAddr, String>, mesh: bool) -> u8 {
    if mesh {
        return run_mesh(addr);
    }
    match addr.and_then(fetch) {
        Ok(rows) => {
            crate::outln!("{}", table(&rows).trim_end());
            u8::from(!rows.iter().all(|r| r.up))
        }
        Err(e) => {
            crate::errln!("uptime-tracker: status: {e}");
            CANNOT_ASK
        }
    }
}

/// `status --mesh`: prints the daemon's `/mesh` page and exits with the status it says.
fn run_mesh(addr: Result<SocketAddr, String>) -> u8 {
    let page = addr.and_then(|a| {
        let body = get(a, "/mesh")?;
        let (first, rest) = body.split_once('\n').unwrap_or((&body, ""));
        let code = first
            .strip_prefix(crate::metrics::mesh::FIRST_LINE)
            .and_then(|c| c.trim().parse::<u8>().ok())
            .ok_or_else(|| {
                format!("{a} does not serve /mesh (an uptime-tracker older than this one?)")
            })?;
        Ok((code, rest.to_string()))
    });
    match page {
        Ok((code, text)) => {
            crate::outln!("{}", text.trim_end());
            code
        }
        Err(e) => {
            crate::errln!("uptime-tracker: status: {e}");
            CANNOT_ASK
        }
    }
}

/// The address to ask, from the config's `metrics_listen`.
pub fn from_config(cfg: &Config, path: &std::path::Path) -> Result<SocketAddr, String> {
    cfg.metrics_listen.map(local_addr).ok_or_else(|| {
        format!(
            "{}: metrics_listen is not set, so the daemon serves no status: add \
             metrics_listen = \"127.0.0.1:9464\" to the file and restart the daemon, or \
             pass --metrics ADDR",
            path.display()
        )
    })
}

/// How long to wait for the connection, and then for each read or write.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Largest response read (a mesh of the largest size fits many times).
const MAX_RESPONSE: u64 = 16 << 20;
/// The most the whole answer may take.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);

/// One peer's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The peer's name.
    pub name: String,
    /// Online (not declared offline).
    pub up: bool,
    /// Consecutive timeouts now.
    pub timeouts: u64,
    /// The last round-trip time, seconds.
    pub last_rtt: Option<f64>,
    /// The last change between online and offline (or the daemon's start), Unix seconds.
    pub since: Option<f64>,
    /// Share of its probes lost over the last minutes (0 to 1).
    pub lost: Option<f64>,
}

/// Where the daemon's metrics responder is, from a config's `metrics_listen`: an
/// unspecified address (`0.0.0.0`, `::`) is asked on loopback.
pub fn local_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// `ADDR` as given to `--metrics`: `IP:PORT`, or `localhost:PORT`. Host names are not
/// resolved: the resolver would add tens of KiB to a binary meant for routers.
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    let local = addr
        .strip_prefix("localhost:")
        .map(|port| format!("127.0.0.1:{port}"));
    local
        .as_deref()
        .unwrap_or(addr)
        .parse()
        .map_err(|_| format!("--metrics {addr:?} is not IP:PORT (IPv6 as [addr]:port)"))
}

/// Fetches `/metrics` from `addr` and returns its peers' rows, in the daemon's order.
pub fn fetch(addr: SocketAddr) -> Result<Vec<Row>, String> {
    let body = get(addr, "/metrics")?;
    if !body.contains("uptime_tracker_build_info") {
        return Err(format!("{addr} is not an uptime-tracker metrics responder"));
    }
    Ok(parse_metrics(&body))
}

/// The body of `GET path` at `addr`, answered `200`.
fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let fail = |what: &str, e: std::io::Error| {
        format!(
            "no answer from an uptime-tracker at {addr} ({what}: {e}): is the daemon running with metrics_listen = \"{addr}\"?"
        )
    };
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| fail("connect", e))?;
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: uptime-tracker\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .map_err(|e| fail("write", e))?;
    // One deadline for the whole answer: a server trickling a byte a second must not
    // hold a health check for ever.
    let deadline = std::time::Instant::now() + TOTAL_TIMEOUT;
    let mut response = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "{addr} did not finish its answer within {} s",
                TOTAL_TIMEOUT.as_secs()
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(buf.get(..n).unwrap_or_default());
                if response.len() as u64 > MAX_RESPONSE {
                    return Err(format!(
                        "{addr} answered more than {} MiB",
                        MAX_RESPONSE >> 20
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail("read", e)),
        }
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr} did not answer with HTTP"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") {
        return Err(format!("{addr} answered {status:?} to GET {path}"));
    }
    Ok(body.to_string())
}

/// The peer rows in a `/metrics` exposition.
pub fn parse_metrics(text: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix("uptime_tracker_peer_") else {
            continue;
        };
        let Some((family, rest)) = rest.split_once("{peer=\"") else {
            continue;
        };
        let Some((name, value)) = label_value(rest) else {
            continue;
        };
        let Some(value) = value
            .strip_prefix("} ")
            .and_then(|v| v.trim().parse::<f64>().ok())
        else {
            continue;
        };
        let i = match rows.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                rows.push(Row {
                    name,
                    up: true,
                    timeouts: 0,
                    last_rtt: None,
                    since: None,
                    lost: None,
                });
                rows.len() - 1
            }
        };
        let Some(row) = rows.get_mut(i) else {
            continue;
        };
        match family {
            "up" => row.up = value != 0.0,
            "timeouts" => row.timeouts = value as u64,
            "last_rtt_seconds" => row.last_rtt = Some(value),
            "last_change_timestamp_seconds" => row.since = Some(value),
            "probes_lost_ratio" => row.lost = Some(value),
            _ => {}
        }
    }
    rows
}

/// An escaped label value up to its closing quote: the value and what follows the quote.
fn label_value(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, s.get(i + 1..)?)),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// Share of probes lost over the last minutes from which an online peer is shown as
/// `lossy` (its exit status stays 0: it is up).
pub const LOSSY: f64 = 0.05;

/// The table `status` prints.
pub fn table(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  STATE  TIMEOUTS  LOST 5 MIN  LAST RTT     SINCE (UTC)",
        "PEER"
    );
    for r in rows {
        let rtt = r
            .last_rtt
            .map_or_else(|| "-".to_string(), |s| format!("{:.3} ms", s * 1000.0));
        // "lossy": up, but losing probes; whole percent, "<1 %" for a trace.
        let lost = match r.lost {
            None => "-".to_string(),
            Some(0.0) => "0 %".to_string(),
            Some(x) if x < 0.01 => "<1 %".to_string(),
            Some(x) => format!("{:.0} %", x * 100.0),
        };
        let state = match (r.up, r.lost) {
            (false, _) => "down",
            (true, Some(x)) if x >= LOSSY => "lossy",
            (true, _) => "up",
        };
        let _ = write!(
            out,
            "{:<width$}  {state:<5}  {:>8}  {lost:>10}  {rtt:<11}  ",
            r.name, r.timeouts
        );
        match r.since {
            Some(s) => write_timestamp(&mut out, (s * 1000.0).round() as i64),
            None => out.push('-'),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_answer_is_cut_off() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
            let chunk = [b'#'; 64 * 1024];
            // Until the client hangs up.
            while s.write_all(&chunk).is_ok() {}
        });
        let e = fetch(addr).unwrap_err();
        assert!(e.contains("more than 16 MiB"), "{e}");
        server.join().unwrap();
    }

    #[test]
    fn rows_come_from_the_exposition() {
        let text = "# HELP x\n\
            uptime_tracker_peer_up{peer=\"a\\\"b\\\\c\"} 0\n\
            uptime_tracker_peer_up{peer=\"d\"} 1\n\
            uptime_tracker_peer_timeouts{peer=\"a\\\"b\\\\c\"} 3\n\
            uptime_tracker_peer_last_rtt_seconds{peer=\"d\"} 0.000250\n\
            uptime_tracker_peer_last_change_timestamp_seconds{peer=\"d\"} 1795647051.153\n\
            uptime_tracker_peer_probes_lost_ratio{peer=\"d\"} 0.2800\n\
            uptime_tracker_peer_up{peer=\"e\"} 1\n\
            uptime_tracker_peer_probes_lost_ratio{peer=\"e\"} 0.0040\n\
            uptime_tracker_rtt_seconds_bucket{peer=\"d\",le=\"0.0005\"} 1\n";
        let rows = parse_metrics(text);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].name.as_str(), rows[0].up, rows[0].timeouts),
            ("a\"b\\c", false, 3)
        );
        assert_eq!((rows[1].up, rows[1].last_rtt), (true, Some(0.00025)));
        let t = table(&rows);
        assert!(
            t.contains("a\"b\\c  down          3           -  -            -\n"),
            "{t}"
        );
        // Up, but losing 28 % of its probes: lossy, not down.
        assert!(
            t.contains(
                "d      lossy         0        28 %  0.250 ms     2026-11-25T22:50:51.153Z\n"
            ),
            "{t}"
        );
        assert!(t.contains("e      up            0        <1 %  -"), "{t}");
    }

    #[test]
    fn metrics_addresses() {
        assert_eq!(
            resolve("localhost:9464"),
            Ok("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(resolve("[::1]:9464"), Ok("[::1]:9464".parse().unwrap()));
        assert!(
            resolve("example.org:9464")
                .unwrap_err()
                .contains("is not IP:PORT")
        );
    }

    #[test]
    fn unspecified_addresses_are_asked_on_loopback() {
        let a = local_addr("0.0.0.0:9464".parse().unwrap());
        assert_eq!(a, "127.0.0.1:9464".parse().unwrap());
        let a = local_addr("[::]:9464".parse().unwrap());
        assert_eq!(a, "[::1]:9464".parse().unwrap());
    }
}
