//! Descriptors are this machine's business: a flood from a peer's own address with the
//! node held to 32 open files locks nobody out, costs little CPU, and logs no one
//! offline; a mesh that cannot fit the limit is refused at start, with the numbers.

mod common;

use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

/// A non-blocking connection from `src` to `dst`, or `None` if it does not come up
/// within 50 ms (the listener's queue is full).
fn dial(src: std::net::Ipv4Addr, dst: std::net::SocketAddr) -> Option<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    s.bind(&std::net::SocketAddr::new(src.into(), 0).into())
        .ok()?;
    s.connect_timeout(&dst.into(), Duration::from_millis(50))
        .ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s.into())
}

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
    let _flood: Vec<TcpStream> = (0..100).map(|_| connect_from(IP2, node1)).collect();
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
        err.contains("needs at least 44 open files (4 per peer + 16)")
            && err.contains("limit is 14"),
        "{err}"
    );
}

/// At the lowest limit `run` accepts (4 per peer + 16), floods from two peers' own
/// addresses take every spare descriptor; the listener then evicts the oldest connection
/// still without HELLO, so a restarting peer still gets in and nobody is logged offline.
#[test]
fn at_the_minimum_descriptor_limit_a_flood_still_lets_a_restarting_peer_in() {
    let mut m = Mesh::new("fds-min", &[IP1, IP2, IP3], 200, 300, 3);
    m.start_limited("node1", 24);
    m.start("node2");
    m.start("node3");
    for n in ["node1", "node2", "node3"] {
        m.wait_runs(n, 1);
    }
    sleep(Duration::from_millis(800));
    let node1 = m.node("node1").addr();
    // From node2's and node3's own addresses, 150 connections each kept open, and each
    // one the daemon closes opened again at once: bounded to 5 s.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = [IP2, IP3]
        .into_iter()
        .map(|ip| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut held: Vec<TcpStream> = (0..150).filter_map(|_| dial(ip, node1)).collect();
                let until = Instant::now() + Duration::from_secs(5);
                let mut buf = [0u8; 64];
                while Instant::now() < until && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for s in held.iter_mut() {
                        let closed = match s.read(&mut buf) {
                            Ok(0) => true,
                            Ok(_) => false,
                            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                        };
                        if closed && let Some(new) = dial(ip, node1) {
                            *s = new;
                        }
                    }
                    sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    sleep(Duration::from_millis(300));
    m.daemon("node2").signal(libc::SIGTERM);
    assert!(m.daemon("node2").wait_exit(DEADLINE).is_some());
    m.start("node2");
    m.wait_runs("node2", 2);
    sleep(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    assert!(m.daemon("node1").is_running());
    for n in ["node1", "node2", "node3"] {
        let log = m.log(n);
        assert!(
            !events(&log).iter().any(|e| e.timeouts == 3),
            "{n} logged someone offline:\n{log}"
        );
    }
    m.stop_all_ok();
    m.validate_logs();
}
