//! A real 3-node mesh on 127.0.0.1 / 127.0.0.2 / 127.0.0.3 (interval 200 ms, timeout 300 ms,
//! threshold 3), one config file, `--whoami` per node. Every test ends by checking every log
//! file it produced (`check_file` + this suite's own reading of format 0.0.3).

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

const INTERVAL: u64 = 200;
const TIMEOUT: u64 = 300;
const THRESHOLD: u32 = 3;

fn mesh3(tag: &str) -> Mesh {
    Mesh::new(tag, &[IP1, IP2, IP3], INTERVAL, TIMEOUT, THRESHOLD)
}

/// Starts all nodes and waits until each has written its first header.
fn start_healthy(m: &mut Mesh) {
    m.start_all();
    for n in ["node1", "node2", "node3"] {
        m.wait_runs(n, 1);
    }
}

fn assert_no_events(m: &Mesh, name: &str) {
    let log = m.log(name);
    assert!(
        events(&log).is_empty(),
        "{name} logged events in a healthy mesh:\n{log}"
    );
}

/// Waits until `watcher`'s log holds `want` as the last values for `peer`; returns when.
fn wait_counts(m: &Mesh, watcher: &str, peer: &str, want: &[u32]) -> Instant {
    wait_for(
        &format!("{watcher} to log {peer} {want:?}"),
        DEADLINE,
        || {
            peer_counts(&m.log(watcher), peer)
                .ends_with(want)
                .then(Instant::now)
        },
    )
}

#[test]
fn healthy_mesh_logs_only_headers() {
    let mut m = mesh3("healthy");
    start_healthy(&mut m);
    sleep(Duration::from_secs(2));

    for n in ["node1", "node2", "node3"] {
        let log = m.log(n);
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "{n}: want exactly `---` + header, got:\n{log}"
        );
        assert_eq!(lines[0], "---", "{n}:\n{log}");
        let f: Vec<&str> = lines[1].split('|').collect();
        assert_eq!(f[0], "0.0.3", "{n}:\n{log}");
        assert!(parse_iso_ms(f[1]).is_some(), "{n}: bad time {:?}", f[1]);
        assert_eq!(
            f[2..].join("|"),
            format!(
                "3|{n}|node1:127.0.0.1:{}!node2:127.0.0.2:{}!node3:127.0.0.3:{}",
                m.nodes[0].port, m.nodes[1].port, m.nodes[2].port
            ),
            "{n}: header"
        );
        // Exactly one file for this node, in the config's dir (not the working dir).
        assert_eq!(
            node_log_files(&m.log_dir, n).len(),
            1,
            "{n}: one log file expected"
        );
    }
    m.stop_all_ok();
    m.validate_logs();
}

#[test]
fn killed_node_goes_offline_then_comes_back() {
    let mut m = mesh3("sigkill");
    start_healthy(&mut m);
    sleep(Duration::from_millis(1000));
    for n in ["node1", "node2", "node3"] {
        assert_no_events(&m, n);
    }

    let killed_at = Instant::now();
    m.daemon("node3").kill_hard();

    // Both survivors count 1, 2, 3 for node3; measure when `|node3|3` appears in each.
    let mut seen: [Option<Duration>; 2] = [None, None];
    wait_for("node1 and node2 to log node3|3", DEADLINE, || {
        for (i, w) in ["node1", "node2"].iter().enumerate() {
            if seen[i].is_none() && peer_counts(&m.log(w), "node3").contains(&THRESHOLD) {
                seen[i] = Some(killed_at.elapsed());
            }
        }
        seen.iter().all(Option::is_some).then_some(())
    });
    let bound = u64::from(THRESHOLD) * INTERVAL + TIMEOUT + INTERVAL;
    for (i, w) in ["node1", "node2"].iter().enumerate() {
        let t = seen[i].unwrap();
        eprintln!(
            "SIGKILL -> `|node3|3` in {w}'s log: {} ms (threshold*interval + timeout + interval = {bound} ms)",
            t.as_millis()
        );
        assert!(
            t < Duration::from_secs(5),
            "{w} took {t:?} to declare node3 offline"
        );
    }

    // Stays down: nothing more for node3, and nothing at all for the other peers.
    sleep(Duration::from_millis(2500));
    for w in ["node1", "node2"] {
        let log = m.log(w);
        assert_eq!(
            peer_counts(&log, "node3"),
            vec![1, 2, 3],
            "{w}: node3 while down:\n{log}"
        );
        let others: Vec<Event> = events(&log)
            .into_iter()
            .filter(|e| e.node != "node3")
            .collect();
        assert!(others.is_empty(), "{w}: events for live peers: {others:?}");
    }

    // Back up: each survivor logs `|node3|0` exactly once.
    m.start("node3");
    m.wait_runs("node3", 2);
    for w in ["node1", "node2"] {
        wait_counts(&m, w, "node3", &[0]);
    }
    sleep(Duration::from_millis(1500));
    for w in ["node1", "node2"] {
        let log = m.log(w);
        assert_eq!(
            peer_counts(&log, "node3"),
            vec![1, 2, 3, 0],
            "{w}: node3 after its return:\n{log}"
        );
        assert_eq!(count_runs(&log), 1, "{w} restarted?\n{log}");
    }
    let own = m.log("node3");
    assert_eq!(count_runs(&own), 2, "node3's log:\n{own}");
    assert_eq!(count_headers(&own), 2, "node3's log:\n{own}");
    assert!(
        events(&own).is_empty(),
        "node3 logged events though its peers were up:\n{own}"
    );

    m.stop_all_ok();
    m.validate_logs();
}

#[test]
fn stopped_node_goes_offline_then_comes_back() {
    let mut m = mesh3("sigstop");
    start_healthy(&mut m);
    sleep(Duration::from_millis(1000));
    for n in ["node1", "node2", "node3"] {
        assert_no_events(&m, n);
    }

    m.daemon("node2").signal(libc::SIGSTOP);
    let stopped_at = Instant::now();
    let r1 = wait_counts(&m, "node1", "node2", &[1, 2, 3]);
    let r3 = wait_counts(&m, "node3", "node2", &[1, 2, 3]);
    eprintln!(
        "SIGSTOP -> offline: node1 {} ms, node3 {} ms (bound {} ms)",
        (r1 - stopped_at).as_millis(),
        (r3 - stopped_at).as_millis(),
        u64::from(THRESHOLD) * INTERVAL + TIMEOUT + INTERVAL
    );
    sleep(Duration::from_millis(1500));
    for w in ["node1", "node3"] {
        let log = m.log(w);
        assert_eq!(
            peer_counts(&log, "node2"),
            vec![1, 2, 3],
            "{w}: node2 while stopped:\n{log}"
        );
    }

    m.daemon("node2").signal(libc::SIGCONT);
    for w in ["node1", "node3"] {
        wait_counts(&m, w, "node2", &[0]);
    }
    sleep(Duration::from_millis(1500));
    for w in ["node1", "node3"] {
        let log = m.log(w);
        assert_eq!(
            peer_counts(&log, "node2"),
            vec![1, 2, 3, 0],
            "{w}: node2 after SIGCONT:\n{log}"
        );
        let other = if w == "node1" { "node3" } else { "node1" };
        assert!(
            peer_counts(&log, other).is_empty(),
            "{w}: events for {other}, which never stopped:\n{log}"
        );
    }
    // What the stopped node itself logged on waking is its own business (its clock jumped);
    // it must still be a valid log, and the node must keep running.
    eprintln!("node2's own log after SIGCONT:\n{}", m.log("node2"));

    m.stop_all_ok();
    m.validate_logs();
}

#[test]
fn restarts_append_to_the_same_file() {
    // node2 stays up; node1 is started three times with SIGTERM in between.
    let mut m = Mesh::new("restarts", &[IP1, IP2], INTERVAL, TIMEOUT, THRESHOLD);
    m.start("node2");
    m.wait_runs("node2", 1);

    let mut before = String::new();
    for run in 1..=3 {
        m.start("node1");
        m.wait_runs("node1", run);
        sleep(Duration::from_millis(700));
        let now = m.log("node1");
        assert!(
            now.starts_with(&before),
            "run {run}: earlier bytes changed.\nbefore:\n{before}\nnow:\n{now}"
        );
        assert!(now.len() > before.len(), "run {run}: nothing appended");
        let appended = &now[before.len()..];
        assert!(
            appended.starts_with("---\n0.0.3|"),
            "run {run}: appended part does not start with `---` + header:\n{appended}"
        );
        assert_eq!(count_runs(&now), run, "node1 after start {run}:\n{now}");
        assert_eq!(count_headers(&now), run, "node1 after start {run}:\n{now}");
        for h in header_lines(&now) {
            assert!(
                h.ends_with(&format!("|{}", header_tail(THRESHOLD, "node1", &m.nodes))),
                "header: {h}"
            );
        }
        m.daemon("node1").terminate_ok();
        let after = m.log("node1");
        assert!(after.starts_with(&now), "run {run}: bytes changed at exit");
        before = after;
    }
    // All runs went to the same day's file unless a UTC midnight passed meanwhile.
    let files = node_log_files(&m.log_dir, "node1");
    assert!(
        !files.is_empty() && files.len() <= 2,
        "node1's files: {files:?}"
    );
    assert!(
        events(&before).is_empty(),
        "node1 logged events though node2 was up:\n{before}"
    );
    // node2 saw node1 come and go; it must still be up and exit cleanly.
    m.daemon("node2").terminate_ok();
    m.validate_logs();
}

/// Two nodes on ::1 (different ports): the IPv6 path end to end, headers in brackets.
#[test]
fn ipv6_mesh_detects_a_killed_peer() {
    use std::net::{Ipv6Addr, SocketAddr, TcpListener};
    let probe = match TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) {
        Ok(probe) => probe,
        Err(e) => {
            skip_or_fail(&format!(
                "no IPv6 loopback on this machine (bind [::1]:0: {e})"
            ));
            return;
        }
    };
    drop(probe);
    // A port free on [::] (where the daemon listens) is free on ::1 too.
    let port = || -> u16 {
        let l = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).unwrap();
        l.local_addr().map(|a: SocketAddr| a.port()).unwrap()
    };
    let (pa, pb) = loop {
        let (a, b) = (port(), port());
        if a != b {
            break (a, b);
        }
    };
    let dir = TempDir::new("ipv6");
    let config = dir.path().join("v6.toml");
    std::fs::write(
        &config,
        format!(
            "interval = {INTERVAL}\ntimeout = {TIMEOUT}\noffline_threshold = {THRESHOLD}\n\
             log_folder = \"logs\"\n\
             [[nodes]]\nname = \"a\"\nip = \"::1\"\nport = {pa}\n\
             [[nodes]]\nname = \"b\"\nip = \"::1\"\nport = {pb}\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let logs = dir.path().join("logs");
    let mut a = Daemon::spawn(
        "a",
        &["run", "--config", config, "--whoami", "a"],
        dir.path(),
        dir.path(),
    );
    let mut b = Daemon::spawn(
        "b",
        &["run", "--config", config, "--whoami", "b"],
        dir.path(),
        dir.path(),
    );
    wait_for("a's header", DEADLINE, || {
        let log = read_node_logs(&logs, "a");
        log.contains(&format!("|3|a|a:[::1]:{pa}!b:[::1]:{pb}\n"))
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        events(&read_node_logs(&logs, "a")).is_empty(),
        "healthy IPv6 pair logged events"
    );
    b.kill_hard();
    wait_for("a to log b offline", DEADLINE, || {
        (peer_counts(&read_node_logs(&logs, "a"), "b") == [1, 2, 3]).then_some(())
    });
    a.terminate_ok();
    let text = read_node_logs(&logs, "a");
    assert!(uptime_tracker::logline::check_file(&text).is_ok(), "{text}");
}

/// A daemon whose stderr reader is gone (a dead log collector) keeps running and logging.
#[test]
fn a_closed_stderr_pipe_does_not_stop_the_daemon() {
    use std::process::{Command, Stdio};
    let m = Mesh::new("stderr-pipe", &[IP1, IP2], INTERVAL, TIMEOUT, THRESHOLD);
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--config",
            m.config.to_str().unwrap(),
            "--whoami",
            "node1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once: every later report hits EPIPE.
    drop(child.stderr.take());
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reap(child);
    // node2 is never started: node1 reports it on stderr and logs it offline.
    wait_for("node1 to log node2 offline", DEADLINE, || {
        (peer_counts(&m.log("node1"), "node2") == [1, 2, 3]).then_some(())
    });
    assert!(child.0.try_wait().unwrap().is_none(), "the daemon died");
    send_signal(child.0.id(), libc::SIGTERM);
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// A node whose `ip` is written as an IPv4-mapped IPv6 address dials from that IPv4
/// address, so its peers know it: nobody logs anybody.
#[test]
fn an_ipv4_mapped_ip_is_the_ipv4_address() {
    let mut m = mesh3("mapped");
    let text = std::fs::read_to_string(&m.config).unwrap();
    let mapped = text.replace("ip = \"127.0.0.2\"", "ip = \"::ffff:127.0.0.2\"");
    assert_ne!(text, mapped);
    std::fs::write(&m.config, mapped).unwrap();
    start_healthy(&mut m);
    sleep(Duration::from_secs(2));
    for n in ["node1", "node2", "node3"] {
        assert_no_events(&m, n);
    }
    m.stop_all_ok();
}
