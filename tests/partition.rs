//! A real silent partition between real daemons, in network namespaces the test makes.
//!
//! ```text
//!  netns ut-probers-<pid>        netns ut-router-<pid>            netns ut-island-<pid>
//!  node1 10.213.1.1:47101 ┐                                       ┌ node3 10.213.2.3:47103
//!  node2 10.213.1.2:47102 ┴ utp ═══ urp 10.213.1.254   10.213.2.254 uri ═══ uti
//! ```
//!
//! (`utp<pid>` … `uti<pid>`: two veth pairs.) Interval 200 ms, timeout 300 ms, threshold 3.
//! Once the mesh is healthy the router starts dropping everything between the two sides:
//! blackhole routes to node1, node2 and node3, added in one `ip -batch`. Packets vanish:
//! no RST, no FIN, no ICMP, and every interface and neighbour entry stays up, as when a
//! WAN link beyond the routers fails. After 30 s the routes are deleted (the heal). Both
//! sides must log the other side offline (`|1 |2 |3`) within 1,100 ms of the cut and back
//! (`|0`) within 2 s of the heal; node1 and node2, on the same side, never log each other;
//! every log file is valid 0.0.3. The measured times are printed (`--nocapture`). The test
//! watches for `|0` up to 12 s after the heal (so a late recovery is measured, not only
//! flagged); `UPTIME_TRACKER_PARTITION_WATCH_MS` sets another limit.
//!
//! Why not set a veth end down, the cut the issue describes: in namespaces with no other
//! route that is not a silent path for the kernel, and it hides the bug. Measured with
//! the daemon of a52bbfd: with the probers' end down their route to node3 is gone (local
//! ENETUNREACH), node3's end loses carrier and its neighbour entries go INCOMPLETE, and
//! TCP's retransmits do not back off as on a silent path (`ss` at the heal: RTO 3.3 s on
//! node3's side, the probers' sockets pushing 36-byte segments at a 68-byte path MTU);
//! both sides logged each other back 0.16 to 0.9 s after the heal. Setting the island's
//! end down instead: 0.17 s. A drop beyond the first hop, with every interface and ARP
//! entry intact, gives TCP's real backoff (`ss` at the heal: RTO 26 s, backoff 7, 1,229
//! bytes unsent on every outbound connection) and the issue's 23 s recovery. (The issue's
//! probers were presumably in the root namespace, whose default route carried their
//! packets off into a real network where they vanished.)
//!
//! Every address lives only inside the three namespaces, which have no other interface
//! than `lo` and no default route: no packet of this test can reach a real network. The
//! namespaces (and with them the veth pairs) are deleted on drop, after the daemons are
//! killed, whether the test passes or panics.
//!
//! Needs root and `ip` (iproute2) with network namespaces and veth; without them the test
//! prints `SKIPPED: <why>` and passes (fails under CI: see `common::skip_or_fail`).
//!
//! ```sh
//! cargo test --release --test partition -- --nocapture
//! ```

mod common;

use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::netns::*;
use common::*;

const INTERVAL: u64 = 200;
const TIMEOUT: u64 = 300;
const THRESHOLD: u32 = 3;

/// How long the partition lasts.
const CUT: Duration = Duration::from_secs(30);
/// From the cut to the `|<threshold>` line, per observer.
const DETECT_BOUND_MS: i64 = 1_100;
/// From the heal to the `|0` line, per observer.
const RECOVER_BOUND_MS: i64 = 2_000;
/// How long the test watches for `|0` after the heal. Longer than the bound, so a late
/// recovery is measured rather than only flagged; the test still ends in under 50 s.
/// `UPTIME_TRACKER_PARTITION_WATCH_MS` sets another (to measure a very late recovery).
const RECOVER_WATCH: Duration = Duration::from_secs(12);

fn recover_watch() -> Duration {
    match std::env::var("UPTIME_TRACKER_PARTITION_WATCH_MS") {
        Ok(v) => Duration::from_millis(
            v.parse()
                .unwrap_or_else(|_| panic!("UPTIME_TRACKER_PARTITION_WATCH_MS={v:?}: not ms")),
        ),
        Err(_) => RECOVER_WATCH,
    }
}
/// After every observer has logged its peers back: how long nothing more may be logged.
const SETTLE: Duration = Duration::from_secs(1);

const PROBERS: [&str; 2] = ["node1", "node2"];
const ISLAND: &str = "node3";

const PROBER_IPS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 213, 1, 1), Ipv4Addr::new(10, 213, 1, 2)];
const ISLAND_IP: Ipv4Addr = Ipv4Addr::new(10, 213, 2, 3);
const PROBERS_NET: &str = "10.213.1.0/24";
const ISLAND_NET: &str = "10.213.2.0/24";
const ROUTER_PROBERS_SIDE: &str = "10.213.1.254";
const ROUTER_ISLAND_SIDE: &str = "10.213.2.254";

/// The probers' and the island's namespaces, joined through a router namespace by two veth
/// pairs, addressed, routed and up.
struct Net {
    probers: Netns,
    island: Netns,
    router: Netns,
}

impl Net {
    /// `Err(reason)` when this machine cannot run the test (the caller skips); panics when
    /// a later step fails (a real problem).
    fn build() -> Result<Net, String> {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(format!(
                "not root (euid {euid}); network namespaces and veth pairs need root"
            ));
        }
        match Command::new("ip")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err("`ip` (iproute2) is not installed or not in PATH".to_string());
            }
            Err(e) => return Err(format!("cannot run `ip -V`: {e}")),
        }
        let pid = std::process::id();
        let add = |role: &str| {
            Netns::add(format!("ut-{role}-{pid}"))
                .map_err(|e| format!("cannot add a network namespace: {e}"))
        };
        let net = Net {
            probers: add("probers")?,
            island: add("island")?,
            router: add("router")?,
        };
        let (p, r, i) = (
            net.probers.name.as_str(),
            net.router.name.as_str(),
            net.island.name.as_str(),
        );
        // At most 3 + 7 characters (pid_max is at most 2^22): within IFNAMSIZ - 1 = 15.
        let [utp, urp, uri, uti] = ["utp", "urp", "uri", "uti"].map(|s| format!("{s}{pid}"));
        // Made directly inside the namespaces: no interface of this test ever exists in
        // the namespace the test runs in.
        for (a, a_ns, b, b_ns) in [(&utp, p, &urp, r), (&uri, r, &uti, i)] {
            ip(&[
                "link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b, "netns", b_ns,
            ])
            .map_err(|e| format!("cannot create a veth pair: {e}"))?;
        }

        // A new namespace's loopback is down.
        for ns in [p, r, i] {
            ip_ok(&["-n", ns, "link", "set", "dev", "lo", "up"]);
        }
        let addr = |ns: &str, a: &str, dev: &str| {
            ip_ok(&["-n", ns, "addr", "add", &format!("{a}/24"), "dev", dev]);
            ip_ok(&["-n", ns, "link", "set", "dev", dev, "up"]);
        };
        for a in PROBER_IPS {
            addr(p, &a.to_string(), &utp);
        }
        addr(r, ROUTER_PROBERS_SIDE, &urp);
        addr(r, ROUTER_ISLAND_SIDE, &uri);
        addr(i, &ISLAND_IP.to_string(), &uti);
        ip_ok(&[
            "-n",
            p,
            "route",
            "add",
            ISLAND_NET,
            "via",
            ROUTER_PROBERS_SIDE,
        ]);
        ip_ok(&[
            "-n",
            i,
            "route",
            "add",
            PROBERS_NET,
            "via",
            ROUTER_ISLAND_SIDE,
        ]);
        // Forwarding in the router only (a sysctl under /proc/sys/net is the opener's
        // namespace's).
        ip_ok(&[
            "netns",
            "exec",
            r,
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/ip_forward",
        ]);
        Ok(net)
    }

    /// Adds (`"add"`) or deletes (`"del"`) the router's blackhole routes to every node, in
    /// one `ip` run.
    fn blackhole(&self, op: &str) {
        let mut batch = String::new();
        for a in PROBER_IPS.iter().chain([&ISLAND_IP]) {
            writeln!(batch, "route {op} blackhole {a}/32").unwrap();
        }
        if let Err(e) = run("ip", &["-n", &self.router.name, "-batch", "-"], &batch).map(drop) {
            panic!("{e}");
        }
    }
}

/// Everything the test owns, dropped in field order: daemons killed first, then their
/// directory removed, then the namespaces deleted.
struct Lab {
    daemons: Vec<Daemon>,
    dir: TempDir,
    net: Net,
    nodes: Vec<NodeSpec>,
    config: String,
    log_dir: PathBuf,
    cwd: PathBuf,
}

impl Lab {
    fn new(net: Net) -> Lab {
        let dir = TempDir::new("partition");
        let nodes = vec![
            NodeSpec {
                name: "node1".into(),
                ip: PROBER_IPS[0],
                port: 47101,
            },
            NodeSpec {
                name: "node2".into(),
                ip: PROBER_IPS[1],
                port: 47102,
            },
            NodeSpec {
                name: ISLAND.into(),
                ip: ISLAND_IP,
                port: 47103,
            },
        ];
        let conf_dir = dir.path().join("conf");
        let cwd = dir.path().join("cwd");
        fs::create_dir(&conf_dir).unwrap();
        fs::create_dir(&cwd).unwrap();
        let config = conf_dir.join("mesh.toml");
        fs::write(
            &config,
            config_text("node1", INTERVAL, TIMEOUT, THRESHOLD, &nodes),
        )
        .unwrap();
        Lab {
            daemons: Vec::new(),
            log_dir: conf_dir.join("logs"),
            config: config.to_str().unwrap().to_string(),
            cwd,
            nodes,
            dir,
            net,
        }
    }

    /// `ip netns exec <ns> <BIN> run --config <file> --whoami <name>`.
    fn start(&mut self, name: &str) {
        let ns = if name == ISLAND {
            &self.net.island.name
        } else {
            &self.net.probers.name
        };
        let d = Daemon::spawn_wrapped(
            name,
            "ip",
            &[
                "netns",
                "exec",
                ns,
                BIN,
                "run",
                "--config",
                &self.config,
                "--whoami",
                name,
            ],
            &self.cwd,
            self.dir.path(),
        );
        self.daemons.push(d);
    }

    /// `ss -tnoi` in the probers' and the island's namespaces, or why not.
    fn sockets(&self) -> String {
        let mut s = String::new();
        for ns in [&self.net.probers.name, &self.net.island.name] {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "ss", "-tnoi"])
                .stdin(Stdio::null())
                .output();
            match out {
                Ok(o) => {
                    writeln!(s, "-- {ns}").unwrap();
                    for out in [&o.stdout, &o.stderr] {
                        for l in String::from_utf8_lossy(out).lines() {
                            writeln!(s, "{}", l.trim_end()).unwrap();
                        }
                    }
                }
                Err(e) => writeln!(s, "-- {ns}: cannot run ss: {e}").unwrap(),
            }
        }
        s
    }

    fn log(&self, name: &str) -> String {
        read_node_logs(&self.log_dir, name)
    }

    fn peers_of(&self, name: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.name != name)
            .map(|n| n.name.clone())
            .collect()
    }
}

/// `(unix ms, timeouts)` of every event `observer` logged for `peer`.
#[test]
fn silent_partition_is_detected_and_healed_on_both_sides() {
    let net = match Net::build() {
        Ok(n) => n,
        Err(why) => {
            skip_or_fail(&why);
            return;
        }
    };
    let mut lab = Lab::new(net);
    let names: Vec<String> = lab.nodes.iter().map(|n| n.name.clone()).collect();
    for n in &names {
        lab.start(n);
    }
    for n in &names {
        wait_for(&format!("{n} to write its header"), DEADLINE, || {
            (count_headers(&lab.log(n)) >= 1).then_some(())
        });
    }
    // The pid must be the daemon's own (`ip netns exec` exec'd it in place), or the
    // SIGTERM below and the SIGKILL on drop would miss it.
    let bin = fs::canonicalize(BIN).unwrap();
    for d in &lab.daemons {
        let exe = fs::read_link(format!("/proc/{}/exe", d.pid())).unwrap_or_default();
        assert_eq!(
            exe,
            bin,
            "{}: pid {} is not the daemon; `ip netns exec` did not exec it in place",
            d.label,
            d.pid()
        );
    }

    // Healthy: every observer's last word on every peer is "online" (a peer started a
    // moment later may have been counted once), and it stays so for a second.
    let healthy = |lab: &Lab| {
        names.iter().all(|o| {
            let log = lab.log(o);
            lab.peers_of(o)
                .iter()
                .all(|p| peer_counts(&log, p).last().is_none_or(|&c| c == 0))
        })
    };
    wait_for("the mesh to be healthy", DEADLINE, || {
        healthy(&lab).then_some(())
    });
    sleep(Duration::from_secs(1));
    assert!(
        healthy(&lab),
        "the mesh was not healthy before the cut:\n{}",
        names
            .iter()
            .map(|n| format!("== {n}\n{}", lab.log(n)))
            .collect::<String>()
    );

    // The cut.
    let cut_ms = wall_ms();
    lab.net.blackhole("add");
    sleep(CUT);
    // What the kernel holds on the daemons' connections at the heal (for a failure report).
    let sockets = lab.sockets();
    let heal_ms = wall_ms();
    lab.net.blackhole("del");
    let healed_at = Instant::now();
    let watch = recover_watch();

    // Cross pairs: (observer, peer) across the cut, both directions.
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for p in PROBERS {
        pairs.push((p, ISLAND));
    }
    for p in PROBERS {
        pairs.push((ISLAND, p));
    }
    let back = |lab: &Lab, o: &str, p: &str| {
        timed_counts(&lab.log(o), p)
            .iter()
            .any(|&(t, c)| t >= heal_ms && c == 0)
    };
    while healed_at.elapsed() < watch && !pairs.iter().all(|&(o, p)| back(&lab, o, p)) {
        sleep(POLL);
    }
    if pairs.iter().all(|&(o, p)| back(&lab, o, p)) {
        sleep(SETTLE);
    }
    let watched_ms = i64::try_from(healed_at.elapsed().as_millis()).unwrap();

    for d in &mut lab.daemons {
        if let Some(st) = d.try_exit() {
            panic!(
                "{} exited during the test: {st:?}; stderr:\n{}",
                d.label,
                d.stderr()
            );
        }
    }
    for d in &mut lab.daemons {
        d.terminate_ok();
    }

    // Measure every cross pair; collect every violation before failing, so one run shows
    // all the numbers.
    let mut violations: Vec<String> = Vec::new();
    eprintln!(
        "partition: silent cut {} ms, interval {INTERVAL} / timeout {TIMEOUT} / threshold \
         {THRESHOLD}; bounds: offline within {DETECT_BOUND_MS} ms of the cut, back within \
         {RECOVER_BOUND_MS} ms of the heal",
        heal_ms - cut_ms
    );
    let cut = Cut {
        label: "partition",
        cut_ms,
        heal_ms,
        watched_ms,
        threshold: THRESHOLD,
        detect_bound_ms: DETECT_BOUND_MS,
        recover_bound_ms: RECOVER_BOUND_MS,
    };
    for &(o, p) in &pairs {
        cut.judge(&lab.log(o), o, p, &mut violations);
    }
    // Same side of the cut: node1 and node2 reach each other throughout.
    for (o, p) in [(PROBERS[0], PROBERS[1]), (PROBERS[1], PROBERS[0])] {
        let after_cut: Vec<(i64, u32)> = timed_counts(&lab.log(o), p)
            .into_iter()
            .filter(|&(t, _)| t >= cut_ms)
            .collect();
        if !after_cut.is_empty() {
            violations.push(format!(
                "{o} -> {p} (same side of the cut): logged {} (relative to the cut), want nothing",
                fmt_counts(&after_cut, cut_ms)
            ));
        }
    }

    // Every log file is valid 0.0.3 (nothing else in the folder), at least one per node.
    validate_log_dir(&lab.log_dir, &lab.nodes);
    for n in &names {
        assert!(
            !node_log_files(&lab.log_dir, n).is_empty(),
            "{n}: no log file in {}",
            lab.log_dir.display()
        );
    }

    if !violations.is_empty() {
        let mut msg = format!(
            "{} violation(s) in a {} ms silent partition:\n",
            violations.len(),
            heal_ms - cut_ms
        );
        for v in &violations {
            writeln!(msg, "  - {v}").unwrap();
        }
        for n in &names {
            writeln!(msg, "== {n}'s log\n{}", lab.log(n)).unwrap();
        }
        write!(
            msg,
            "== TCP sockets just before the heal (`ss -tnoi`)\n{sockets}"
        )
        .unwrap();
        panic!("{msg}");
    }
}
