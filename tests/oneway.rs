//! A one-way link between two real daemons: duplex probes must not hide it.
//!
//! ```text
//!  netns ow-n1-<pid>  node1 10.215.0.1:47301 owv1<pid> ═ owb1<pid> ┐
//!  netns ow-n2-<pid>  node2 10.215.0.2:47302 owv2<pid> ═ owb2<pid> ┼ br0 in netns ow-br-<pid>
//!  netns ow-n3-<pid>  node3 10.215.0.3:47303 owv3<pid> ═ owb3<pid> ┘
//! ```
//!
//! Interval 200 ms, timeout 300 ms, threshold 3, as `tests/partition.rs`. Of the pair
//! node1 / node2, node2 is the later in the node list: it answers node1's `PING` with a
//! `PONG` and counts its own probe of node1 as answered when node1's kernel acknowledges
//! that `PONG` (docs/protocol.md, "Duplex probes"). Once the mesh is healthy, node1's
//! namespace drops every IPv4 packet from node2's address (nft, `input` hook, `ip saddr
//! 10.215.0.2 drop`): node1's segments still reach node2, node2's never reach node1, its
//! acknowledgements of node1's segments included. A drop on input is silent for both
//! stacks (a drop on node2's `output` hook would hand node2's own sockets `EPERM`, which
//! is no wire's behaviour). The cut lasts a few seconds longer than the detection bound,
//! then the rule is flushed (the heal). node2 must log node1 offline (`|1 |2 |3`) within
//! 1,100 ms of the cut although node1's `PING`s keep arriving (its `PONG`s are never
//! acknowledged, its hedged `PING`s never answered), node1 must log node2 offline within
//! the same bound, both must log the other back (`|0`) within 2 s of the heal, and node3,
//! whose links to both are untouched, logs neither (nor do they log node3); every log file
//! is valid 0.0.3. The measured times are printed (`--nocapture`), with the packets the
//! rule dropped and the daemons' stderr.
//!
//! Every node has a namespace of its own (node1 and node2 in one namespace, as
//! partition.rs's probers, would reach each other through `lo`, not over a link), each
//! new and empty, so the fixed ports are free there. Every address lives only inside the
//! namespaces, which have no other interface than `lo` and no default route: no packet of
//! this test can reach a real network. The namespaces (and with them the veth pairs, the
//! bridge and the nft table) are deleted on drop, after the daemons are killed, whether
//! the test passes or panics.
//!
//! Needs root, `ip` (iproute2) with network namespaces, veth and bridges, and `nft`
//! (Debian's `nftables`); without them the test prints `SKIPPED: <why>` and passes (fails
//! under CI: see `common::skip_or_fail`).
//!
//! ```sh
//! cargo test --release --test oneway -- --nocapture
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

/// From the cut to the `|<threshold>` line, per observer (partition.rs's bound).
const DETECT_BOUND_MS: i64 = 1_100;
/// From the heal to the `|0` line, per observer (partition.rs's bound).
const RECOVER_BOUND_MS: i64 = 2_000;
/// How long the one-way cut lasts: a few seconds longer than the detection bound.
const CUT: Duration = Duration::from_millis(DETECT_BOUND_MS.unsigned_abs() + 4_000);
/// How long the test watches for `|0` after the heal. Longer than the bound, so a late
/// recovery is measured rather than only flagged.
const RECOVER_WATCH: Duration = Duration::from_secs(12);
/// After both ends have logged each other back: how long nothing more may be logged.
const SETTLE: Duration = Duration::from_secs(1);

/// The earlier node of the cut pair: the prober, whose packets get through.
const EARLY: &str = "node1";
/// The later node of the cut pair: its probe of `EARLY` rides on its `PONG`s; its packets
/// to `EARLY` are dropped.
const LATE: &str = "node2";
/// Linked to both untouched.
const WITNESS: &str = "node3";

const NAMES: [&str; 3] = [EARLY, LATE, WITNESS];
const PORTS: [u16; 3] = [47301, 47302, 47303];

fn node_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 215, 0, u8::try_from(i + 1).unwrap())
}

/// Whether `prog` can be run at all (`prog <version_arg>`); `Err` says why not.
fn installed(prog: &str, version_arg: &str, what: &str) -> Result<(), String> {
    match Command::new(prog)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Err(format!("`{prog}` ({what}) is not installed or not in PATH"))
        }
        Err(e) => Err(format!("cannot run `{prog} {version_arg}`: {e}")),
    }
}

const NFT_TABLE: &str = "oneway";

/// One namespace per node, each on a veth pair to a bridge in a namespace of its own; an
/// nft table with an empty `input` chain in `EARLY`'s namespace. Field order: the nodes'
/// namespaces are deleted before the bridge's.
struct Net {
    nodes: Vec<Netns>,
    bridge: Netns,
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
        installed("ip", "-V", "iproute2")?;
        installed("nft", "--version", "nftables")?;
        let pid = std::process::id();
        let bridge = Netns::add(format!("ow-br-{pid}"))
            .map_err(|e| format!("cannot add a network namespace: {e}"))?;
        let br = bridge.name.clone();
        let mut nodes = Vec::new();
        for i in 1..=NAMES.len() {
            nodes.push(
                Netns::add(format!("ow-n{i}-{pid}"))
                    .map_err(|e| format!("cannot add a network namespace: {e}"))?,
            );
        }
        let net = Net { nodes, bridge };
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])
            .map_err(|e| format!("cannot create a bridge: {e}"))?;
        // A new namespace's loopback is down.
        for ns in net.nodes.iter().chain([&net.bridge]) {
            ip_ok(&["-n", &ns.name, "link", "set", "dev", "lo", "up"]);
        }
        ip_ok(&["-n", &br, "link", "set", "dev", "br0", "up"]);
        for (i, ns) in net.nodes.iter().enumerate() {
            // At most 4 + 1 + 7 characters (pid_max is at most 2^22): within IFNAMSIZ - 1.
            let (v, b) = (format!("owv{}{pid}", i + 1), format!("owb{}{pid}", i + 1));
            // Made directly inside the namespaces: no interface of this test ever exists
            // in the namespace the test runs in.
            ip(&[
                "link", "add", &v, "netns", &ns.name, "type", "veth", "peer", "name", &b, "netns",
                &br,
            ])
            .map_err(|e| format!("cannot create a veth pair: {e}"))?;
            let cidr = format!("{}/24", node_ip(i));
            ip_ok(&["-n", &ns.name, "addr", "add", &cidr, "dev", &v]);
            ip_ok(&["-n", &ns.name, "link", "set", "dev", &v, "up"]);
            ip_ok(&["-n", &br, "link", "set", "dev", &b, "master", "br0"]);
            ip_ok(&["-n", &br, "link", "set", "dev", &b, "up"]);
        }
        let rules = format!(
            "table ip {NFT_TABLE} {{\n\
             chain input {{ type filter hook input priority 0; policy accept; }}\n\
             }}\n"
        );
        net.nft(&["-f", "-"], &rules)
            .map_err(|e| format!("nft cannot filter packets here: {e}"))?;
        Ok(net)
    }

    fn ns(&self, name: &str) -> &str {
        let i = NAMES.iter().position(|n| *n == name).unwrap();
        &self.nodes[i].name
    }

    /// `nft <args>` in `EARLY`'s namespace.
    fn nft(&self, args: &[&str], stdin: &str) -> Result<String, String> {
        let mut all = vec!["netns", "exec", self.ns(EARLY), "nft"];
        all.extend_from_slice(args);
        run("ip", &all, stdin)
    }

    /// The cut: `EARLY` drops every IPv4 packet from `LATE`'s address.
    fn cut(&self) {
        let late = node_ip(NAMES.iter().position(|n| *n == LATE).unwrap()).to_string();
        let r = self.nft(
            &[
                "add", "rule", "ip", NFT_TABLE, "input", "ip", "saddr", &late, "counter", "drop",
            ],
            "",
        );
        if let Err(e) = r {
            panic!("{e}");
        }
    }

    /// The heal: the `input` chain emptied.
    fn heal(&self) {
        if let Err(e) = self.nft(&["flush", "chain", "ip", NFT_TABLE, "input"], "") {
            panic!("{e}");
        }
    }

    /// The `input` chain as nft lists it (the rule's counter), or why not.
    fn rules(&self) -> String {
        self.nft(&["list", "chain", "ip", NFT_TABLE, "input"], "")
            .unwrap_or_else(|e| e)
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
        let dir = TempDir::new("oneway");
        let nodes: Vec<NodeSpec> = NAMES
            .iter()
            .zip(PORTS)
            .enumerate()
            .map(|(i, (name, port))| NodeSpec {
                name: (*name).into(),
                ip: node_ip(i),
                port,
            })
            .collect();
        let conf_dir = dir.path().join("conf");
        let cwd = dir.path().join("cwd");
        fs::create_dir(&conf_dir).unwrap();
        fs::create_dir(&cwd).unwrap();
        let config = conf_dir.join("mesh.toml");
        fs::write(
            &config,
            config_text(EARLY, INTERVAL, TIMEOUT, THRESHOLD, &nodes),
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
        let d = Daemon::spawn_wrapped(
            name,
            "ip",
            &[
                "netns",
                "exec",
                self.net.ns(name),
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

    /// `ss -tnoi` in every node's namespace, or why not.
    fn sockets(&self) -> String {
        let mut s = String::new();
        for name in NAMES {
            let ns = self.net.ns(name);
            match run("ip", &["netns", "exec", ns, "ss", "-tnoi"], "") {
                Ok(out) => {
                    writeln!(s, "-- {name} ({ns})").unwrap();
                    for l in out.lines() {
                        writeln!(s, "{}", l.trim_end()).unwrap();
                    }
                }
                Err(e) => writeln!(s, "-- {name} ({ns}): {e}").unwrap(),
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
fn one_way_link_is_detected_by_both_ends_and_healed() {
    let net = match Net::build() {
        Ok(n) => n,
        Err(why) => {
            skip_or_fail(&why);
            return;
        }
    };
    let mut lab = Lab::new(net);
    for n in NAMES {
        lab.start(n);
    }
    for n in NAMES {
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
        NAMES.iter().all(|o| {
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
        NAMES
            .iter()
            .map(|n| format!("== {n}\n{}", lab.log(n)))
            .collect::<String>()
    );
    let stderr_before: Vec<usize> = lab.daemons.iter().map(|d| d.stderr().len()).collect();

    // The cut: LATE's packets to EARLY are lost, EARLY's to LATE still arrive.
    let cut_ms = wall_ms();
    lab.net.cut();
    sleep(CUT);
    // What the kernels hold on the daemons' connections at the heal, and what the rule
    // dropped (for the report).
    let sockets = lab.sockets();
    let rules = lab.net.rules();
    let heal_ms = wall_ms();
    lab.net.heal();
    let healed_at = Instant::now();

    // The cut pair, both directions.
    let pairs: [(&str, &str); 2] = [(LATE, EARLY), (EARLY, LATE)];
    let back = |lab: &Lab, o: &str, p: &str| {
        timed_counts(&lab.log(o), p)
            .iter()
            .any(|&(t, c)| t >= heal_ms && c == 0)
    };
    while healed_at.elapsed() < RECOVER_WATCH && !pairs.iter().all(|&(o, p)| back(&lab, o, p)) {
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

    // Measure both ends; collect every violation before failing, so one run shows all
    // the numbers.
    let mut violations: Vec<String> = Vec::new();
    eprintln!(
        "oneway: {LATE} -> {EARLY} dropped for {} ms ({EARLY} -> {LATE} untouched), interval \
         {INTERVAL} / timeout {TIMEOUT} / threshold {THRESHOLD}; bounds: offline within \
         {DETECT_BOUND_MS} ms of the cut, back within {RECOVER_BOUND_MS} ms of the heal",
        heal_ms - cut_ms
    );
    let cut = Cut {
        label: "oneway",
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
    // The witness's links are untouched: nothing logged about it or by it after the cut.
    for (o, p) in [
        (WITNESS, EARLY),
        (WITNESS, LATE),
        (EARLY, WITNESS),
        (LATE, WITNESS),
    ] {
        let after_cut: Vec<(i64, u32)> = timed_counts(&lab.log(o), p)
            .into_iter()
            .filter(|&(t, _)| t >= cut_ms)
            .collect();
        if !after_cut.is_empty() {
            violations.push(format!(
                "{o} -> {p} (untouched link): logged {} (relative to the cut), want nothing",
                fmt_counts(&after_cut, cut_ms)
            ));
        }
    }
    eprintln!("oneway: the rule at the heal:\n{}", rules.trim_end());
    for (d, &from) in lab.daemons.iter().zip(&stderr_before) {
        let err = d.stderr();
        let since: Vec<&str> = err.get(from..).unwrap_or_default().lines().collect();
        eprintln!(
            "oneway: {}'s stderr from the cut on ({} lines):",
            d.label,
            since.len()
        );
        for l in since.iter().take(60) {
            eprintln!("  {l}");
        }
        if since.len() > 60 {
            eprintln!("  ... ({} more)", since.len() - 60);
        }
    }

    // Every log file is valid 0.0.3 (nothing else in the folder), at least one per node.
    validate_log_dir(&lab.log_dir, &lab.nodes);
    for n in NAMES {
        assert!(
            !node_log_files(&lab.log_dir, n).is_empty(),
            "{n}: no log file in {}",
            lab.log_dir.display()
        );
    }

    if !violations.is_empty() {
        let mut msg = format!(
            "{} violation(s) in a {} ms one-way cut ({LATE} -> {EARLY} dropped):\n",
            violations.len(),
            heal_ms - cut_ms
        );
        for v in &violations {
            writeln!(msg, "  - {v}").unwrap();
        }
        for n in NAMES {
            writeln!(msg, "== {n}'s log\n{}", lab.log(n)).unwrap();
        }
        writeln!(msg, "== {EARLY}'s nft rule just before the heal\n{rules}").unwrap();
        write!(
            msg,
            "== TCP sockets just before the heal (`ss -tnoi`)\n{sockets}"
        )
        .unwrap();
        panic!("{msg}");
    }
}
