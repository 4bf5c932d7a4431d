//! The LXC template (packaging/lxc/lxc-uptime-tracker) with the real LXC tools (Debian's
//! `lxc` package): `lxc-create` makes a container from a static binary, `lxc-start` runs
//! its init (LXC's init.lxc.static, which starts the daemon), the daemon reads its config
//! from the bind-mounted config folder, probes a peer on the host and writes its log into
//! the bind-mounted log folder, and `lxc-stop` stops it. The container shares the host's
//! network (lxc.net.0.type = none), so its node is on 127.0.0.1 and its peer, a daemon
//! started here, on 127.0.0.2. Everything lives in a temporary lxcpath (`lxc-create -P`),
//! not /var/lib/lxc, and is destroyed at the end.
//!
//! Needs root and lxc (apt-get install lxc); without them SKIPPED, a failure under CI=true.
//! Costs about 5 s, plus the static binary's build when .ci/run has not made it.

mod common;
mod release_common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use release_common::{have, skip, static_binary};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    println!(
        "$ {cmd:?}\nexit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The container, destroyed (stopped first) on drop.
struct Container {
    lxcpath: PathBuf,
    name: String,
}

impl Container {
    fn lxc(&self, tool: &str, extra: &[&str]) -> Output {
        run(Command::new(tool)
            .arg("-P")
            .arg(&self.lxcpath)
            .args(["-n", &self.name])
            .args(extra))
    }

    fn state(&self) -> String {
        let out = Command::new("lxc-info")
            .arg("-P")
            .arg(&self.lxcpath)
            .args(["-n", &self.name, "-s", "-H"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("lxc-stop")
            .arg("-P")
            .arg(&self.lxcpath)
            .args(["-n", &self.name, "-k"])
            .output();
        let _ = Command::new("lxc-destroy")
            .arg("-P")
            .arg(&self.lxcpath)
            .args(["-n", &self.name])
            .output();
    }
}

fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        if entry.file_type().unwrap().is_dir() {
            out.push(format!("{rel}/"));
            files_under(root, &path, out);
        } else {
            out.push(rel);
        }
    }
}

#[test]
fn lxc_template_starts_the_daemon_with_mounted_config_and_logs() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("lxc needs root here");
    }
    for tool in [
        "lxc-create",
        "lxc-start",
        "lxc-stop",
        "lxc-info",
        "lxc-destroy",
    ] {
        if !have(tool) {
            return skip(&format!("{tool} is not installed (apt-get install lxc)"));
        }
    }
    let binary = match static_binary() {
        Ok(b) => b,
        Err(why) => return skip(&why),
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = TempDir::new("lxc");
    let (conf, logs, host_logs) = (
        tmp.path().join("conf"),
        tmp.path().join("logs"),
        tmp.path().join("host-logs"),
    );
    for d in [&conf, &logs, &host_logs] {
        fs::create_dir_all(d).unwrap();
    }
    let nodes = [
        NodeSpec {
            name: "boxed".into(),
            ip: IP1,
            port: free_port(IP1),
        },
        NodeSpec {
            name: "host".into(),
            ip: IP2,
            port: free_port(IP2),
        },
    ];
    let text = config_text("boxed", 200, 300, 3, &nodes);
    fs::write(
        conf.join("config.toml"),
        text.replace(
            "log_folder = \"logs\"",
            "log_folder = \"/var/log/uptime-tracker\"",
        ),
    )
    .unwrap();
    // The host's node: the same mesh, its own log folder.
    let host_config = tmp.path().join("host.toml");
    fs::write(
        &host_config,
        text.replace(
            "log_folder = \"logs\"",
            &format!("log_folder = \"{}\"", host_logs.display()),
        ),
    )
    .unwrap();
    fs::write(tmp.path().join("base.conf"), "lxc.net.0.type = none\n").unwrap();

    let c = Container {
        lxcpath: tmp.path().join("lxc"),
        name: format!("ut-lxc-{}", std::process::id()),
    };
    fs::create_dir_all(&c.lxcpath).unwrap();
    let out = c.lxc(
        "lxc-create",
        &[
            "-f",
            &tmp.path().join("base.conf").display().to_string(),
            "-t",
            &repo
                .join("packaging/lxc/lxc-uptime-tracker")
                .display()
                .to_string(),
            "--",
            "--binary",
            &binary.display().to_string(),
            "--config-dir",
            &conf.display().to_string(),
            "--log-dir",
            &logs.display().to_string(),
        ],
    );
    assert!(out.status.success(), "lxc-create failed");

    // The rootfs: the binary, the init, the mount points and what LXC needs, nothing else.
    let rootfs = c.lxcpath.join(&c.name).join("rootfs");
    let mut files = Vec::new();
    files_under(&rootfs, &rootfs, &mut files);
    files.sort();
    println!("rootfs: {files:?}");
    let regular: Vec<&String> = files.iter().filter(|f| !f.ends_with('/')).collect();
    assert_eq!(
        regular,
        ["sbin/init", "usr/bin/uptime-tracker"],
        "{files:?}"
    );
    for dir in [
        "etc/uptime-tracker/",
        "var/log/uptime-tracker/",
        "dev/",
        "proc/",
        "sys/",
        "tmp/",
    ] {
        assert!(files.iter().any(|f| f == dir), "no {dir} in the rootfs");
    }

    let out = c.lxc("lxc-start", &["-d"]);
    assert!(out.status.success(), "lxc-start failed");
    wait_for("the container RUNNING", DEADLINE, || {
        (c.state() == "RUNNING").then_some(())
    });

    // The boxed node writes its header into the mounted log folder, then logs the host's
    // node offline (it is not started yet), then back when it starts.
    let log = || {
        fs::read_dir(&logs)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with("-boxed.log"))
            .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    };
    wait_for(
        "the boxed node's header in the mounted log folder",
        DEADLINE,
        || log().lines().any(|l| l.starts_with("0.0.3|")).then_some(()),
    );
    wait_for(
        "the boxed node logging the host node offline",
        DEADLINE,
        || log().contains("|host|3\n").then_some(()),
    );
    let mut host = Daemon::spawn(
        "host",
        &[
            "run",
            "--config",
            &host_config.display().to_string(),
            "--whoami",
            "host",
        ],
        tmp.path(),
        tmp.path(),
    );
    wait_for(
        "the boxed node logging the host node back",
        DEADLINE,
        || log().contains("|host|0\n").then_some(()),
    );
    println!("the boxed node's log:\n{}", log());

    // lxc-stop: SIGTERM through the init (lxc.signal.halt), the daemon exits, the
    // container stops well before lxc-stop's own 60 s would kill it.
    let started = std::time::Instant::now();
    let out = c.lxc("lxc-stop", &["-t", "20"]);
    assert!(out.status.success(), "lxc-stop failed");
    assert_eq!(c.state(), "STOPPED");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stop took {:?}",
        started.elapsed()
    );
    host.terminate_ok();
}
