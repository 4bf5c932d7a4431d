//! A mixed mesh: our daemon next to a test double of the earlier TypeScript/Bun tool,
//! speaking exactly its HTTP (DESIGN.md §2): its listener answers `200 still online` to
//! configured nodes' addresses, `200 hello world` to private ones and `401 Unauthorized`
//! to others; its prober sends `GET /` each interval and counts any response within the
//! timeout. Both directions: the double counts ours online, ours logs the double offline
//! when it stops. Also the HTTP answers of our mesh port by source address.

mod common;

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle, sleep};
use std::time::{Duration, Instant};

use common::*;

/// One response read from a stream: status code and body (by `Content-Length`).
fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<(u16, String, bool)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let code: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let mut length = 0usize;
    let mut close = false;
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v
                .trim()
                .parse()
                .map_err(|_| std::io::ErrorKind::InvalidData)?;
        }
        if lower == "connection: close" {
            close = true;
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    Ok((code, String::from_utf8_lossy(&body).into_owned(), close))
}

/// The earlier tool's listener: Bun.serve answering by source address, keep-alive.
struct OldListener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OldListener {
    fn start(addr: SocketAddr, configured: Vec<IpAddr>) -> OldListener {
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut conns: Vec<JoinHandle<()>> = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, from)) => {
                        let configured = configured.clone();
                        let flag = flag.clone();
                        conns.push(thread::spawn(move || serve(s, from, &configured, &flag)));
                    }
                    Err(_) => sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        OldListener {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops it as a crash would: the listener and every connection closed.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for OldListener {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(s: TcpStream, from: SocketAddr, configured: &[IpAddr], stop: &AtomicBool) {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) {
        match r.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) if line.ends_with('\n') => {}
            Ok(_) => continue,
            Err(_) => continue, // read timeout: look at the stop flag
        }
        let l = std::mem::take(&mut line);
        if !l.trim_end().is_empty() {
            continue; // request line and headers
        }
        let (status, body) = if configured.contains(&from.ip()) {
            ("200 OK", "still online")
        } else if from.ip().is_loopback() {
            ("200 OK", "hello world")
        } else {
            ("401 Unauthorized", "Unauthorized")
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain;charset=utf-8\r\nDate: Tue, 25 Nov 2026 20:00:00 GMT\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A connection from `src` to `dst`; a refusal is an error (a failed probe), not a panic.
fn try_connect_from(src: Ipv4Addr, dst: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.bind(&SocketAddr::new(IpAddr::V4(src), 0).into())?;
    s.connect_timeout(&dst.into(), Duration::from_secs(2))?;
    Ok(s.into())
}

/// The earlier tool's prober: `GET /` every interval on a kept-alive connection from
/// `src`, any response within the timeout a success.
struct OldProber {
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    bodies: Arc<std::sync::Mutex<Vec<(u16, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OldProber {
    fn start(src: Ipv4Addr, dst: SocketAddr, interval: Duration, timeout: Duration) -> OldProber {
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (o, f, b, st) = (ok.clone(), failed.clone(), bodies.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
            while !st.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = (|| -> std::io::Result<(u16, String, bool)> {
                    if conn.is_none() {
                        let s = try_connect_from(src, dst)?;
                        s.set_read_timeout(Some(timeout))?;
                        conn = Some((s.try_clone()?, BufReader::new(s)));
                    }
                    let (w, r) = conn.as_mut().ok_or(std::io::ErrorKind::NotConnected)?;
                    write!(
                        w,
                        "GET / HTTP/1.1\r\nHost: {dst}\r\nConnection: keep-alive\r\nUser-Agent: Bun/1.1.34\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n"
                    )?;
                    read_response(r)
                })();
                match result {
                    Ok((code, body, close)) => {
                        o.fetch_add(1, Ordering::Relaxed);
                        b.lock().unwrap().push((code, body));
                        if close {
                            conn = None;
                        }
                    }
                    Err(_) => {
                        f.fetch_add(1, Ordering::Relaxed);
                        conn = None;
                    }
                }
                sleep(interval.saturating_sub(started.elapsed()));
            }
        });
        OldProber {
            ok,
            failed,
            bodies,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for OldProber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_mixed_mesh_with_the_earlier_tool_both_ways() {
    let dir = TempDir::new("legacy-mesh");
    let ours = NodeSpec {
        name: "node1".into(),
        ip: IP1,
        port: free_port(IP1),
    };
    let old = NodeSpec {
        name: "old".into(),
        ip: IP2,
        port: free_port(IP2),
    };
    // A timeout well above a loaded CI box's hiccups: this test is about who answers.
    let text = config_text("node1", 200, 1000, 3, &[ours.clone(), old.clone()]).replace(
        &format!("port = {}\n", old.port),
        &format!("port = {}\nlegacy_http = true\n", old.port),
    );
    let config = dir.path().join("mesh.toml");
    fs::write(&config, text).unwrap();

    let mut listener = OldListener::start(old.addr(), vec![IpAddr::V4(IP1), IpAddr::V4(IP2)]);
    let mut daemon = Daemon::spawn(
        "node1",
        &["run", "--config", config.to_str().unwrap()],
        dir.path(),
        dir.path(),
    );
    wait_for("node1 to listen", DEADLINE, || {
        daemon.stderr().contains("listening on").then_some(())
    });
    let prober = OldProber::start(
        IP2,
        ours.addr(),
        Duration::from_millis(200),
        Duration::from_millis(2000),
    );
    // The old node counts ours online: twenty answers in a row, each "still online".
    wait_for("the old node to get 20 answers", DEADLINE, || {
        (prober.ok.load(Ordering::Relaxed) >= 20).then_some(())
    });
    let bodies = prober.bodies.lock().unwrap().clone();
    assert!(
        bodies
            .iter()
            .all(|b| *b == (200, "still online".to_string())),
        "{bodies:?}"
    );
    // Ours counts the old node online: nothing logged about it while it answers.
    let logs = dir.path().join("logs");
    assert_eq!(
        peer_counts(&read_node_logs(&logs, "node1"), "old"),
        Vec::<u32>::new(),
        "{}",
        daemon.stderr()
    );
    // Stop the old node: ours logs it offline, and no other way.
    listener.stop();
    wait_for("ours to log the old node offline", DEADLINE, || {
        let counts = peer_counts(&read_node_logs(&logs, "node1"), "old");
        counts.contains(&3).then_some(counts)
    });
    assert_eq!(
        peer_counts(&read_node_logs(&logs, "node1"), "old"),
        [1, 2, 3]
    );
    // The double's probes of ours never failed (its connection is a kept-alive one).
    assert_eq!(prober.failed.load(Ordering::Relaxed), 0);
    drop(prober);
    daemon.terminate_ok();
}

#[test]
fn the_mesh_port_answers_http_by_source_address() {
    let dir = TempDir::new("legacy-answers");
    let nodes = [
        NodeSpec {
            name: "node1".into(),
            ip: IP1,
            port: free_port(IP1),
        },
        NodeSpec {
            name: "node2".into(),
            ip: IP2,
            port: free_port(IP2),
        },
    ];
    let config = dir.path().join("mesh.toml");
    fs::write(&config, config_text("node1", 1000, 1000, 3, &nodes)).unwrap();
    let mut daemon = Daemon::spawn(
        "node1",
        &["run", "--config", config.to_str().unwrap()],
        dir.path(),
        dir.path(),
    );
    let dst = nodes[0].addr();
    wait_for("node1 to listen", DEADLINE, || {
        TcpStream::connect(dst).ok().map(|_| ())
    });
    let ask = |src: Ipv4Addr, req: &str| {
        let s = connect_from(src, dst);
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        w.write_all(req.as_bytes()).unwrap();
        let first = read_response(&mut r).unwrap();
        (first, r, w)
    };
    let get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    // A configured node's address: still online, kept alive for a second request.
    let ((code, body, close), mut r, mut w) = ask(IP2, get);
    assert_eq!((code, body.as_str(), close), (200, "still online", false));
    w.write_all(get.as_bytes()).unwrap();
    assert_eq!(
        read_response(&mut r).unwrap(),
        (200, "still online".to_string(), false)
    );
    // A private address that is no node: hello world; closed as asked.
    let ((code, body, close), mut r, _w) =
        ask(IP_STRANGER, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!((code, body.as_str(), close), (200, "hello world", true));
    let mut rest = Vec::new();
    assert_eq!(
        r.read_to_end(&mut rest).unwrap(),
        0,
        "closed after the answer"
    );
    // (A public address gets 401 Unauthorized: loopback has none, so that case is an
    // engine test with an injected source, mesh::tests::http_requests_get_the_earlier_
    // tools_answer_by_source.)
    assert!(daemon.is_running(), "{}", daemon.stderr());
    daemon.terminate_ok();
}
