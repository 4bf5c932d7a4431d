//! Descriptors are this machine's business: a flood from a peer's own address with the
//! node held to 32 open files locks nobody out, costs little CPU, and logs no one
//! offline; a mesh that cannot fit the limit is refused at start, with the numbers.

mod common;

use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

/// utime + stime of `pid`, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn a_flood_from_a_peers_address_with_32_descriptors_locks_nobody_out() {
    let mut m = Mesh::new("fds", &[IP1, IP2, IP3], 200, 300, 3);
    m.start_limited("node1", 32);
    m.start("node2");
    m.start("node3");
    for n in ["node1", "node2", "node3"] {
        m.wait_runs(n, 1);
    }
    sleep(Duration::from_millis(800));
    let node1 = m.node("node1").addr();
    let pid = m.daemon("node1").pid();
    let before = cpu_ticks(pid);
    let started = Instant::now();
    // 100 idle connections from node2's own address, held open...
    let flood: Vec<TcpStream> = (0..100).map(|_| connect_from(IP2, node1)).collect();
    // ...while node2 restarts and must get back in.
    m.daemon("node2").signal(libc::SIGTERM);
    assert!(m.daemon("node2").wait_exit(DEADLINE).is_some());
    m.start("node2");
    m.wait_runs("node2", 2);
    sleep(Duration::from_secs(3));
    let ticks = cpu_ticks(pid) - before;
    let secs = started.elapsed().as_secs_f64();
    let cpu = ticks as f64 / 100.0 / secs * 100.0;
    eprintln!(
        "node1 with 32 descriptors under a 100-connection flood: {cpu:.1} % CPU over {secs:.1} s"
    );
    assert!(cpu < 10.0, "node1 used {cpu:.1} % CPU");
    assert!(m.daemon("node1").is_running());
    for n in ["node1", "node2", "node3"] {
        let log = m.log(n);
        assert!(
            !events(&log).iter().any(|e| e.timeouts == 3),
            "{n} logged someone offline:\n{log}"
        );
    }
    // node2 is really back in: node1 answers its probes (node2 logs nothing about node1
    // after its restart, checked above) and node1 probes node2 without misses now.
    let quiet_since = m.log("node1").len();
    sleep(Duration::from_secs(1));
    assert_eq!(
        m.log("node1").len(),
        quiet_since,
        "node1 still logging:\n{}",
        m.log("node1")
    );
    drop(flood);
    m.stop_all_ok();
    m.validate_logs();
}

#[test]
fn a_mesh_that_cannot_fit_the_descriptor_limit_is_refused_at_start() {
    let ips: Vec<_> = (1..=8)
        .map(|i| std::net::Ipv4Addr::new(127, 0, 0, i))
        .collect();
    let mut m = Mesh::new("fds-refuse", &ips, 200, 300, 3);
    m.start_limited("node1", 14);
    let status = m.daemon("node1").wait_exit(DEADLINE).expect("exits");
    assert_eq!(status.code(), Some(1));
    let err = m.daemon("node1").stderr();
    assert!(
        err.contains("needs at least 30 open files") && err.contains("limit is 14"),
        "{err}"
    );
}
