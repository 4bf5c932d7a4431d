//! Random packet loss on one node of a real mesh (issue 15): lossy is not down.
//!
//! ```text
//!  netns los-n1-<pid> … los-n4-<pid>, each on a veth pair (lsv<i><pid> ═ lsb<i><pid>)
//!  to a bridge in netns los-br-<pid>; node<i> at 10.214.0.<i>:4720<i>
//! ```
//!
//! Interval 200 ms, timeout 300 ms, threshold 3. Once the mesh is healthy, node4's
//! interface drops IPv4 packets at random each way (nft, netdev ingress and egress hooks,
//! `numgen random`, ARP left alone): 10 % for 60 s, then 30 % for 60 s. node4 stays up and
//! reachable all along, so every offline line is a false alarm. At 10 % none may be
//! logged; at 30 % the test prints the rate per directed pair-minute (the six pairs with
//! node4 at one end) and requires at most 2 where the kernel takes `TCP_RTO_MIN_US`
//! (Linux 6.15+; measured 0.3 to 1.3), else at most 6 (the issue's goal; a link dropped at
//! its first timed-out probe logged about 18, two links with Linux's timer about 3.5). Both levels run one after the other in one
//! mesh: about 2.2 minutes.
//!
//! Every address lives only inside the namespaces, which have no other interface than
//! `lo` and no default route. The namespaces (and with them the veth pairs and the nft
//! table) are deleted on drop, after the daemons are killed.
//!
//! Needs root, `ip` (iproute2) with namespaces and veth, and `nft` (Debian's `nftables`;
//! `.ci/run` installs it). Without them the test prints `SKIPPED: <why>` and passes, or
//! fails when the environment variable `CI` is set.
//!
//! ```sh
//! cargo test --release --test lossy -- --nocapture
//! ```

mod common;

use std::fs;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

const NODES: u8 = 4;
/// The node whose interface loses packets.
const LOSSY: u8 = 4;
const PHASE: Duration = Duration::from_secs(60);

fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set, and this test cannot run here: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// Whether this kernel takes `TCP_RTO_MIN_US` (45, Linux 6.15+), as the daemon asks.
fn kernel_takes_rto_min() -> bool {
    use std::os::fd::AsRawFd;
    let Ok(socket) = std::net::TcpListener::bind("127.0.0.1:0") else {
        return false;
    };
    let val: libc::c_int = 50_000;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `val`.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            45,
            (&raw const val).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

fn wall_ms() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(d.as_millis()).unwrap()
}

/// Runs `prog args` with `stdin`; `Err` holds the command and its stderr.
fn run(prog: &str, args: &[&str], stdin: &str) -> Result<(), String> {
    let what = format!("`{prog} {}`", args.join(" "));
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args, "")
}

/// A network namespace this test added; deleted on drop.
struct Netns(String);

impl Netns {
    fn add(name: String) -> Result<Netns, String> {
        if PathBuf::from("/run/netns").join(&name).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
        ip(&["netns", "add", &name])?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok(Netns(name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.0]) {
            eprintln!("cleanup: {e}");
        }
    }
}

fn node_ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 214, 0, i)
}

/// The bridge and one namespace per node (the nodes' are dropped first).
struct Net {
    nodes: Vec<Netns>,
    _bridge: Netns,
}

impl Net {
    fn build() -> Result<Net, String> {
        let pid = std::process::id();
        let bridge = Netns::add(format!("los-br-{pid}"))?;
        let br = bridge.0.clone();
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        let mut nodes = Vec::new();
        for i in 1..=NODES {
            let ns = Netns::add(format!("los-n{i}-{pid}"))?;
            let (v, b) = (format!("lsv{i}{pid}"), format!("lsb{i}{pid}"));
            ip(&["link", "add", &v, "type", "veth", "peer", "name", &b])?;
            ip(&["link", "set", &v, "netns", &ns.0])?;
            ip(&["link", "set", &b, "netns", &br])?;
            ip(&["-n", &ns.0, "link", "set", &v, "name", "eth0"])?;
            let cidr = format!("{}/24", node_ip(i));
            ip(&["-n", &ns.0, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &ns.0, "link", "set", "eth0", "up"])?;
            ip(&["-n", &br, "link", "set", &b, "master", "br0"])?;
            ip(&["-n", &br, "link", "set", &b, "up"])?;
            nodes.push(ns);
        }
        Ok(Net {
            nodes,
            _bridge: bridge,
        })
    }

    fn ns(&self, i: u8) -> &str {
        &self.nodes[usize::from(i - 1)].0
    }

    /// Drops `pct` % of node `i`'s IPv4 packets each way (replacing any loss set before).
    fn loss(&self, i: u8, pct: u32) -> Result<(), String> {
        let ns = self.ns(i);
        let _ = run(
            "ip",
            &[
                "netns", "exec", ns, "nft", "delete", "table", "netdev", "lossy",
            ],
            "",
        );
        let rules = format!(
            "table netdev lossy {{\n\
             chain ig {{ type filter hook ingress device \"eth0\" priority 0; policy accept; meta protocol ip numgen random mod 100 < {pct} counter drop; }}\n\
             chain eg {{ type filter hook egress device \"eth0\" priority 0; policy accept; meta protocol ip numgen random mod 100 < {pct} counter drop; }}\n\
             }}\n"
        );
        run("ip", &["netns", "exec", ns, "nft", "-f", "-"], &rules)
    }
}

/// Offline lines (the count reaching the threshold) an observer logged about `peer`
/// between `from` and `to` (Unix ms).
fn offlines(log: &str, peer: &str, from: i64, to: i64) -> usize {
    let mut prev = 0;
    let mut n = 0;
    for line in log.lines() {
        if let Ok(uptime_tracker::logline::Line::Event {
            time,
            node,
            timeouts,
        }) = uptime_tracker::logline::parse_line(line)
        {
            if node != peer {
                continue;
            }
            if timeouts == 3 && prev < 3 && time >= from && time < to {
                n += 1;
            }
            prev = timeouts;
        }
    }
    n
}

#[test]
fn random_loss_on_one_node_raises_few_false_alarms() {
    let net = match Net::build() {
        Ok(n) => n,
        Err(why) => return skip(&why),
    };
    if let Err(why) = net.loss(LOSSY, 0) {
        return skip(&format!("nft cannot drop packets here: {why}"));
    }
    let dir = TempDir::new("lossy");
    let nodes: Vec<NodeSpec> = (1..=NODES)
        .map(|i| NodeSpec {
            name: format!("node{i}"),
            ip: node_ip(i),
            port: 47200 + u16::from(i),
        })
        .collect();
    let config = dir.path().join("mesh.toml");
    fs::write(&config, config_text("node1", 200, 300, 3, &nodes)).unwrap();
    let log_dir = dir.path().join("logs");
    let config = config.to_str().unwrap().to_string();
    let mut daemons: Vec<Daemon> = Vec::new();
    for i in 1..=NODES {
        let name = format!("node{i}");
        daemons.push(Daemon::spawn_wrapped(
            &name,
            "ip",
            &[
                "netns",
                "exec",
                net.ns(i),
                BIN,
                "run",
                "--config",
                &config,
                "--whoami",
                &name,
            ],
            dir.path(),
            dir.path(),
        ));
    }
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let healthy = || {
        names.iter().all(|o| {
            let log = read_node_logs(&log_dir, o);
            count_headers(&log) >= 1
                && names
                    .iter()
                    .filter(|p| *p != o)
                    .all(|p| peer_counts(&log, p).last().is_none_or(|&c| c == 0))
        })
    };
    wait_for("the mesh to be healthy", DEADLINE, || {
        healthy().then_some(())
    });
    sleep(Duration::from_secs(2));

    let lossy = format!("node{LOSSY}");
    let mut rates = Vec::new();
    for pct in [10u32, 30] {
        net.loss(LOSSY, pct).unwrap();
        let from = wall_ms();
        sleep(PHASE);
        let to = wall_ms();
        let mut per_pair = Vec::new();
        for o in &names {
            let log = read_node_logs(&log_dir, o);
            for p in names.iter().filter(|p| *p != o) {
                let n = offlines(&log, p, from, to);
                let involved = *o == lossy || *p == lossy;
                assert!(
                    involved || n == 0,
                    "{o} logged {p} offline {n} times; neither loses packets:\n{log}"
                );
                if involved {
                    per_pair.push((format!("{o}->{p}"), n));
                }
            }
        }
        let minutes = (to - from) as f64 / 60_000.0;
        let total: usize = per_pair.iter().map(|x| x.1).sum();
        let rate = total as f64 / per_pair.len() as f64 / minutes;
        eprintln!(
            "lossy: {pct} % loss on {lossy} for {:.0} s: {total} offline events, {rate:.2} per directed pair-minute ({per_pair:?})",
            minutes * 60.0
        );
        rates.push((pct, total, rate));
    }
    let _ = net.loss(LOSSY, 0);
    for d in &mut daemons {
        d.signal(libc::SIGTERM);
    }
    for d in &mut daemons {
        assert!(d.wait_exit(DEADLINE).is_some(), "{} did not stop", d.label);
    }
    for n in &names {
        let log = read_node_logs(&log_dir, n);
        uptime_tracker::logline::check_file(&log).unwrap_or_else(|e| panic!("{n}: {e:?}"));
    }
    let (_, at10, _) = rates[0];
    assert_eq!(at10, 0, "offline lines at 10 % loss: node4 was reachable");
    let (_, _, at30) = rates[1];
    // With the kernel resending after timeout / 6 (TCP_RTO_MIN_US, Linux 6.15+) and
    // without backoff, 0.3 to 1.3 were measured (1.33 / 3.50 / 3.3 before it); an older
    // kernel gets only the linear timeouts, held to the issue's goal.
    let (bound, why) = if kernel_takes_rto_min() {
        (2.0, "the kernel takes TCP_RTO_MIN_US")
    } else {
        (6.0, "the kernel has no TCP_RTO_MIN_US: the issue's goal")
    };
    assert!(
        at30 <= bound,
        "{at30:.2} offline events per directed pair-minute at 30 % loss (at most {bound}: {why})"
    );
}
