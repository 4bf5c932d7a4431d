//! Hostile or broken clients against a running 2-node mesh. node1 is at 127.0.0.2 and
//! node2 at 127.0.0.1, so the test's connections from 127.0.0.1 come from node2's
//! configured ip. Each bad connection must be closed by the daemon, and the mesh must keep
//! working: no peer is ever logged offline (no event line at all), both daemons keep
//! running, and node1's listener still answers a proper handshake afterwards.

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

/// "Within a few seconds" for the daemon to close a bad connection.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

fn mesh2(tag: &str) -> Mesh {
    let mut m = Mesh::new(tag, &[IP2, IP1], 200, 300, 3);
    m.start_all();
    m.wait_runs("node1", 1);
    m.wait_runs("node2", 1);
    sleep(Duration::from_millis(500));
    m
}

/// A connection to node1's listener from node2's ip.
fn connect_as_node2(m: &Mesh) -> TcpStream {
    let s = connect_from(IP1, m.node("node1").addr());
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Writes `bytes`, tolerating the daemon having closed the connection already.
fn send(s: &mut TcpStream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
    let _ = s.flush();
}

fn assert_closed(s: &mut TcpStream, what: &str, limit: Duration) -> Duration {
    match wait_closed(s, limit) {
        Some((t, how)) => {
            eprintln!(
                "{what}: closed by the daemon after {} ms ({how:?})",
                t.as_millis()
            );
            t
        }
        None => panic!("{what}: connection still open after {limit:?}"),
    }
}

/// Handshakes as node2 and checks PINGs are answered with PONGs carrying the same seqs.
fn assert_ping_pong(m: &Mesh, seqs: &[u64]) -> TcpStream {
    let mut s = connect_as_node2(m);
    let mut msg = String::from("HELLO 1 node2\n");
    for q in seqs {
        msg.push_str(&format!("PING {q}\n"));
    }
    send(&mut s, msg.as_bytes());
    let lines = read_lines_until(&mut s, DEADLINE, |l| {
        l.iter().filter(|x| x.starts_with("PONG ")).count() >= seqs.len()
    });
    let pongs: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("PONG "))
        .cloned()
        .collect();
    let want: Vec<String> = seqs.iter().map(|q| format!("PONG {q}")).collect();
    assert_eq!(pongs, want, "replies to HELLO+PINGs; all lines: {lines:?}");
    for l in &lines {
        assert!(
            l.starts_with("PONG ") || l.starts_with("HELLO 1 "),
            "unexpected line from the daemon: {l:?}"
        );
    }
    s
}

/// The mesh is intact: both daemons running, node1's listener serves a handshake, no event
/// logged anywhere; then clean SIGTERM exits and valid logs.
fn assert_mesh_survived(mut m: Mesh) {
    drop(assert_ping_pong(&m, &[99]));
    sleep(Duration::from_millis(1000));
    for n in ["node1", "node2"] {
        assert!(
            m.daemon(n).is_running(),
            "{n} died: {:?}\n{}",
            m.daemon(n).try_exit(),
            m.daemon(n).stderr()
        );
        let log = m.log(n);
        assert!(
            events(&log).is_empty(),
            "{n} logged events while being abused:\n{log}"
        );
        assert_eq!(count_runs(&log), 1, "{n} restarted?\n{log}");
    }
    m.stop_all_ok();
    m.validate_logs();
}

#[test]
fn garbage_is_closed() {
    let m = mesh2("abuse-garbage");
    let mut s = connect_as_node2(&m);
    send(&mut s, b"\x00\xff\xfe\x13garbage \x7f\r\n");
    assert_closed(&mut s, "garbage line", CLOSE_LIMIT);

    let mut s = connect_as_node2(&m);
    send(&mut s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_closed(&mut s, "HTTP request", CLOSE_LIMIT);

    // A PING before any HELLO is not a handshake.
    let mut s = connect_as_node2(&m);
    send(&mut s, b"PING 1\n");
    assert_closed(&mut s, "PING without HELLO", CLOSE_LIMIT);

    // Garbage after a good handshake closes that connection too.
    let mut s = assert_ping_pong(&m, &[1]);
    send(&mut s, b"PONG banana\n");
    assert_closed(&mut s, "garbage after handshake", CLOSE_LIMIT);

    assert_mesh_survived(m);
}

#[test]
fn overlong_line_is_closed() {
    let m = mesh2("abuse-long");
    let mut s = connect_as_node2(&m);
    send(&mut s, &vec![b'A'; 10 * 1024]);
    assert_closed(&mut s, "10 KiB line without newline", CLOSE_LIMIT);

    // Just over the limit, with a newline, as a would-be handshake.
    let mut s = connect_as_node2(&m);
    let mut line = b"HELLO 1 node2".to_vec();
    line.resize(600, b'x');
    line.push(b'\n');
    send(&mut s, &line);
    assert_closed(&mut s, "600-byte HELLO line", CLOSE_LIMIT);

    assert_mesh_survived(m);
}

#[test]
fn hello_naming_another_node_is_closed() {
    let m = mesh2("abuse-hello");
    // node1 is configured at 127.0.0.2, not 127.0.0.1.
    let mut s = connect_as_node2(&m);
    send(&mut s, b"HELLO 1 node1\n");
    assert_closed(&mut s, "HELLO node1 from 127.0.0.1", CLOSE_LIMIT);

    let mut s = connect_as_node2(&m);
    send(&mut s, b"HELLO 1 ghost\n");
    assert_closed(&mut s, "HELLO of an unknown node", CLOSE_LIMIT);

    assert_mesh_survived(m);
}

#[test]
fn hello_then_pings_get_pongs() {
    let m = mesh2("abuse-ping");
    let s = assert_ping_pong(&m, &[1, 2, 42, 7, 123_456]);
    drop(s);
    assert_mesh_survived(m);
}

#[test]
fn idle_half_open_connections_are_closed() {
    let m = mesh2("abuse-idle");
    let opened = Instant::now();
    let mut idle: Vec<(String, TcpStream)> = Vec::new();
    // Half-closed: the client sends FIN at once; the daemon sees end-of-stream.
    let fin = connect_as_node2(&m);
    fin.shutdown(Shutdown::Write).unwrap();
    idle.push(("half-closed by the client (FIN)".into(), fin));
    for i in 0..3 {
        idle.push((format!("silent connection {i}"), connect_as_node2(&m)));
    }
    let mut partial = connect_as_node2(&m);
    send(&mut partial, b"HELLO 1 no");
    idle.push(("partial HELLO, no newline".into(), partial));
    for (what, s) in &mut idle {
        assert_closed(s, what, DEADLINE);
        eprintln!(
            "  ({what}: {} ms after it was opened)",
            opened.elapsed().as_millis()
        );
    }
    assert_mesh_survived(m);
}

#[test]
fn unconfigured_source_is_closed_at_once() {
    let m = mesh2("abuse-stranger");
    let dst = m.node("node1").addr();

    let mut s = connect_from(IP_STRANGER, dst);
    let t = assert_closed(&mut s, "silent connection from 127.0.0.9", CLOSE_LIMIT);
    assert!(t < Duration::from_secs(3), "not closed at once: {t:?}");

    let mut s = connect_from(IP_STRANGER, dst);
    send(&mut s, b"HELLO 1 node2\nPING 1\n");
    let t = match wait_closed(&mut s, CLOSE_LIMIT) {
        Some((t, how)) => {
            let got = match &how {
                Closed::Eof(b) | Closed::Error(_, b) => b.clone(),
            };
            assert!(
                !String::from_utf8_lossy(&got).contains("PONG"),
                "answered a PING from an unconfigured address: {how:?}"
            );
            t
        }
        None => panic!("HELLO from 127.0.0.9 still open after {CLOSE_LIMIT:?}"),
    };
    assert!(t < Duration::from_secs(3), "not closed at once: {t:?}");
    assert_mesh_survived(m);
}

#[test]
fn connection_flood_does_not_break_the_mesh() {
    let m = mesh2("abuse-flood");
    let mut conns: Vec<TcpStream> = (0..300).map(|_| connect_as_node2(&m)).collect();
    for s in conns.iter_mut().step_by(3) {
        send(s, b"HELLO 1 nope\n");
    }
    sleep(Duration::from_millis(1500));
    // While the flood is open, the mesh still works and a real handshake is still served.
    drop(assert_ping_pong(&m, &[5]));
    drop(conns);
    assert_mesh_survived(m);
}

/// An unknown verb before HELLO closes the connection at once; after HELLO, a flood of them (the
/// daemon reads a bounded amount per event) neither starves node1's probes and replies
/// (no peer is logged offline) nor delays its reaction to SIGTERM.
#[test]
fn a_flood_does_not_starve_the_daemon() {
    let mut m = mesh2("flood");
    let mut s = connect_as_node2(&m);
    send(&mut s, b"FUTURE_VERB 1\n");
    let t = assert_closed(&mut s, "unknown verb before HELLO", CLOSE_LIMIT);
    // At once, not at the 5 s handshake deadline: a chatty stranger holds no place.
    assert!(t < Duration::from_secs(3), "not closed at once: {t:?}");

    let mut flood = connect_as_node2(&m);
    send(&mut flood, b"HELLO 1 node2\n");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let chunk = b"FUTURE_VERB\n".repeat(8 * 1024);
            let mut bytes = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match flood.write(&chunk) {
                    Ok(n) => bytes += n,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
            bytes
        })
    };
    sleep(Duration::from_secs(3));
    for n in ["node1", "node2"] {
        let log = m.log(n);
        assert!(
            events(&log).is_empty(),
            "{n} logged events during the flood:\n{log}"
        );
    }
    let asked = Instant::now();
    m.daemon("node1").signal(libc::SIGTERM);
    let status = m.daemon("node1").wait_exit(Duration::from_secs(5));
    let waited = asked.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let bytes = flooder.join().unwrap();
    eprintln!(
        "flooded {} MiB; SIGTERM handled in {} ms",
        bytes >> 20,
        waited.as_millis()
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "node1 did not exit 0 under the flood: {status:?}"
    );
    assert!(
        bytes > 1 << 20,
        "the flood was too small to mean anything: {bytes} bytes"
    );
}

/// A peer whose kernel accepts the connection but whose daemon never answers HELLO (a
/// hung process): with timeout > interval, each probe is counted at its own deadline, not
/// all at once when the handshake gives up.
#[test]
fn a_silent_listener_is_counted_probe_by_probe() {
    let mut m = Mesh::new("silent", &[IP2, IP1], 200, 1000, 3);
    // node2's address is held by a listener that never accepts: connects complete in the
    // kernel's backlog, and nothing is ever said.
    let _silent = std::net::TcpListener::bind(m.node("node2").addr()).unwrap();
    m.start("node1");
    let times = wait_for("node1 to log node2 offline", DEADLINE, || {
        let log = m.log("node1");
        let ev = events(&log);
        let times: Vec<i64> = ev
            .iter()
            .filter(|e| e.node == "node2")
            .filter_map(|e| parse_iso_ms(&e.time))
            .collect();
        (times.len() >= 3).then_some(times)
    });
    let log = m.log("node1");
    assert_eq!(peer_counts(&log, "node2"), [1, 2, 3], "{log}");
    // Probes go out one interval (200 ms) apart, so their deadlines are too.
    assert!(
        times[2] - times[0] >= 200,
        "the three timeouts were counted together ({times:?}):\n{log}"
    );
    m.daemon("node1").terminate_ok();
}
