//! The status page (`GET /` on `metrics_listen`) in a real browser: Debian's headless
//! `chromium` against a 3-node mesh on loopback, one node named like an HTML tag.
//!
//! `--dump-dom` gives the DOM as rendered (one grid cell per pair, no script element
//! from the name, the refresh tag), `--screenshot` a picture (target/tmp/status-page.png;
//! docs/status-page.png is a copy). Then a browser kept open over the DevTools protocol
//! (`--remote-debugging-pipe`: JSON messages ending in NUL on descriptors 3 and 4) shows
//! the page reloading itself: a peer killed, nothing done by the test but waiting, the
//! page's "as of" changes and the killed peer's column turns red in this node's row.
//! (Other rows stay "unknown" until the nodes share their views.)
//!
//! Skipped (`SKIPPED: ...`, a failure under CI) without `chromium`. About 20 s, most of
//! it waiting for the page's own reload (10 s).

mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// A valid node name (printable ASCII without `|`, `!`, `:`, `/` or spaces) that is
/// also an HTML tag.
const TAG_NAME: &str = "<script>n2";

const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Three nodes, each with its own config file and `metrics_listen` on its own ip.
struct Setup {
    daemons: Vec<Daemon>,
    metrics: Vec<SocketAddr>,
    names: [&'static str; 3],
    _dir: TempDir,
}

impl Setup {
    fn start() -> Setup {
        let dir = TempDir::new("page");
        let names = ["node1", TAG_NAME, "node3"];
        let ips = [IP1, IP2, IP3];
        let ports: Vec<u16> = ips.iter().map(|&ip| free_port(ip)).collect();
        let metrics: Vec<SocketAddr> = ips
            .iter()
            .map(|&ip| SocketAddr::from((ip, free_port(ip))))
            .collect();
        let mut daemons = Vec::new();
        for i in 0..3 {
            let mut text = format!(
                "whoami = {}\ninterval = 200\ntimeout = 300\noffline_threshold = 3\n\
                 log_folder = \"logs{i}\"\nmetrics_listen = \"{}\"\n",
                toml_string(names[i]),
                metrics[i]
            );
            for (n, (ip, port)) in names.iter().zip(ips.iter().zip(&ports)) {
                text.push_str(&format!(
                    "\n[[nodes]]\nname = {}\nip = \"{ip}\"\nport = {port}\n",
                    toml_string(n)
                ));
            }
            let config = dir.path().join(format!("node{i}.toml"));
            fs::write(&config, text).unwrap();
            daemons.push(Daemon::spawn(
                &format!("node{}", i + 1),
                &["run", "--config", config.to_str().unwrap()],
                dir.path(),
                dir.path(),
            ));
        }
        Setup {
            daemons,
            metrics,
            names,
            _dir: dir,
        }
    }

    fn url(&self, i: usize) -> String {
        format!("http://{}/", self.metrics[i])
    }
}

/// `GET path` on a fresh connection: the body.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    Some(text.split_once("\r\n\r\n")?.1.to_string())
}

/// Waits until node `i`'s /status says each peer's `up` is as given.
fn wait_status(setup: &Setup, i: usize, want: &[(&str, bool)]) {
    wait_for(
        &format!("node{}'s /status: {want:?}", i + 1),
        DEADLINE,
        || {
            let body = get(setup.metrics[i], "/status")?;
            let v: Value = serde_json::from_str(&body).ok()?;
            let peers = v["peers"].as_array()?;
            want.iter()
                .all(|(name, up)| {
                    peers
                        .iter()
                        .any(|p| p["name"] == *name && p["up"].as_bool() == Some(*up))
                })
                .then_some(())
        },
    );
}

/// Runs chromium once with `args` + `url`; its stdout.
fn chromium_once(browser: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let out = Command::new(browser)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium {args:?} {url}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 DOM")
}

/// The grid's cells, row by row: (row header, classes of the `<td>`s).
fn grid(dom: &str) -> Vec<(String, Vec<String>)> {
    let start = dom.find("id=\"grid\"").expect("a grid");
    let end = start + dom[start..].find("</table>").expect("the grid's end");
    dom[start..end]
        .split("<tr>")
        .skip(2)
        .map(|row| {
            let head = row
                .split_once("<th>")
                .and_then(|(_, r)| r.split_once("</th>"))
                .map(|(h, _)| h.to_string())
                .unwrap_or_default();
            let cells = row
                .split("<td class=\"")
                .skip(1)
                .map(|c| c[..c.find('"').unwrap()].to_string())
                .collect();
            (head, cells)
        })
        .collect()
}

fn as_of(dom: &str) -> String {
    let start = dom.find("id=\"asof\"").expect("as of");
    dom[start..start + dom[start..].find("</p>").unwrap()].to_string()
}

#[test]
fn the_page_shows_the_mesh_in_a_browser_and_reloads_itself() {
    let Some(browser) = chromium() else {
        skip_or_fail("no chromium on PATH (Debian: apt-get install chromium)");
        return;
    };
    let mut setup = Setup::start();
    let [n1, n2, n3] = setup.names;
    wait_status(&setup, 0, &[(n2, true), (n3, true)]);
    wait_status(&setup, 1, &[(n1, true), (n3, true)]);
    // Both peers' views in on node1 and node2 (they go out as each link comes up).
    for i in [0, 1] {
        wait_for("the peers' views", DEADLINE, || {
            let body = get(setup.metrics[i], "/status")?;
            (body.matches("\"view\":\"fresh\"").count() == 2).then_some(())
        });
    }
    let profile = TempDir::new("page-chromium");

    // The rendered DOM: a 3x3 grid, node1's row from its peers' states, the tag-like
    // name as text (no script element), the refresh tag, no external asset.
    let started = Instant::now();
    let dom = chromium_once(&browser, profile.path(), &["--dump-dom"], &setup.url(0));
    eprintln!("chromium --dump-dom: {:?}", started.elapsed());
    let rows = grid(&dom);
    assert_eq!(rows.len(), 3, "{dom}");
    assert!(rows.iter().all(|(_, c)| c.len() == 3), "{rows:?}");
    assert_eq!(
        rows[0],
        (
            n1.to_string(),
            vec!["self".into(), "up".into(), "up".into()]
        )
    );
    assert_eq!(rows[1].0, "&lt;script&gt;n2");
    assert_eq!(rows[1].1, ["up", "self", "up"], "node2's view, shared");
    assert!(!dom.contains("<script"), "{dom}");
    assert!(dom.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
    assert!(!dom.contains("src=") && !dom.contains("href="), "{dom}");
    assert!(dom.contains("id=\"log\""), "today's log lines: {dom}");
    if cfg!(feature = "report") {
        assert!(dom.contains("id=\"timeline\"><svg"), "{dom}");
    }
    // node2's own page: its own row known.
    let dom2 = chromium_once(&browser, profile.path(), &["--dump-dom"], &setup.url(1));
    assert_eq!(grid(&dom2)[1].1, ["up", "self", "up"], "{dom2}");
    assert_eq!(
        grid(&dom2)[0].1,
        ["self", "up", "up"],
        "node1's view: {dom2}"
    );

    // A browser left on node1's page; node3 killed; the page reloads by itself.
    let mut cdp = Cdp::open(&browser, &profile.path().join("cdp"));
    let session = cdp.open_page(&setup.url(0));
    let before = wait_for("the page in the kept browser", DEADLINE, || {
        let dom = cdp.dom(&session)?;
        dom.contains("id=\"grid\"").then_some(dom)
    });
    assert_eq!(grid(&before)[0].1, ["self", "up", "up"]);
    setup.daemons[2].kill_hard();
    let killed = Instant::now();
    wait_status(&setup, 0, &[(n3, false)]);
    let after = wait_for(
        "the kept page reloaded, node3's column red",
        Duration::from_secs(30),
        || {
            let dom = cdp.dom(&session)?;
            (dom.contains("id=\"grid\"") && as_of(&dom) != as_of(&before)).then_some(dom)
        },
    );
    eprintln!("reloaded {:?} after the kill", killed.elapsed());
    let rows = grid(&after);
    assert_eq!(rows[0].1, ["self", "up", "down"], "{after}");
    assert_eq!(rows[2].1[2], "self");
    assert!(after.contains("1 up, 1 down"), "{after}");
    assert!(after.contains("<b>node3</b>: down from here"), "{after}");
    drop(cdp);

    // The picture, node3 down.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = fs::remove_file(&shot);
    chromium_once(
        &browser,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1100",
            "--hide-scrollbars",
        ],
        &setup.url(0),
    );
    let png = fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    eprintln!("screenshot: {} ({} bytes)", shot.display(), png.len());
}

/// A headless chromium driven over `--remote-debugging-pipe`.
struct Cdp {
    child: Child,
    to: File,
    from: mpsc::Receiver<Value>,
    next: u64,
}

impl Cdp {
    fn open(browser: &Path, profile: &Path) -> Cdp {
        let (to_read, to_write) = pipe();
        let (from_read, from_write) = pipe();
        let (r3, w4) = (to_read.into_raw_fd(), from_write.into_raw_fd());
        let mut cmd = Command::new(browser);
        cmd.args(CHROMIUM_FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--remote-debugging-pipe")
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec only async-signal-safe calls (dup2).
        unsafe {
            cmd.pre_exec(move || {
                // Above 4 first, so neither lands on the other's target.
                let (a, b) = (
                    libc::fcntl(r3, libc::F_DUPFD, 10),
                    libc::fcntl(w4, libc::F_DUPFD, 10),
                );
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start chromium");
        // SAFETY: our copies of the child's ends, owned here only, closed once.
        unsafe {
            drop(OwnedFd::from_raw_fd(r3));
            drop(OwnedFd::from_raw_fd(w4));
        }
        let (tx, rx) = mpsc::channel();
        let mut reader = BufReader::new(File::from(from_read));
        std::thread::spawn(move || {
            loop {
                let mut msg = Vec::new();
                match reader.read_until(0, &mut msg) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                msg.pop();
                if let Ok(v) = serde_json::from_slice::<Value>(&msg)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        Cdp {
            child,
            to: File::from(to_write),
            from: rx,
            next: 1,
        }
    }

    /// One command; its result, or `None` on a protocol error.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Option<Value> {
        let id = self.next;
        self.next += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("chromium, {method}: {e}"));
            if v["id"] == id {
                return v.get("result").cloned();
            }
        }
    }

    /// A new tab on `url`; its session.
    fn open_page(&mut self, url: &str) -> String {
        let target = self
            .call(None, "Target.createTarget", json!({"url": url}))
            .expect("a tab");
        let id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": id, "flatten": true}),
            )
            .expect("attached");
        attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string()
    }

    /// The tab's DOM now, as HTML.
    fn dom(&mut self, session: &str) -> Option<String> {
        let r = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({"expression": "document.documentElement.outerHTML", "returnByValue": true}),
        )?;
        r["result"]["value"].as_str().map(str::to_string)
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        let _ = self
            .to
            .write_all(b"{\"id\":0,\"method\":\"Browser.close\"}\0");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: fresh descriptors, owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}
