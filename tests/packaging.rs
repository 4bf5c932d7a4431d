//! The packaging files (packaging/, Dockerfile) against the binary they start: each one's
//! command line is run the way the service manager would run it, against a loopback
//! config; the sample configs must be valid; the unit and the init script are checked by
//! the tools that read them where this machine has them (systemd-analyze, sh, busybox
//! sh, logrotate; a missing tool is said on stderr). And output into a closed pipe
//! (`uptime-tracker --help | head -1`) is not an error.

mod common;

use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::*;
use uptime_tracker::config::Config;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Whether `program` can be started here (`program --version` or `program --help` runs).
fn have(program: &str) -> bool {
    ["--version", "--help"].iter().any(|flag| {
        Command::new(program)
            .arg(flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

/// A two-node loopback config (ports free now) in `dir` whose log folder is `log_dir`
/// (absolute, not created), with `log_folder` spelled `key`.
fn loopback_config(dir: &Path, log_dir: &Path, key: &str) -> PathBuf {
    let nodes = vec![
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
    let text = config_text("node1", 200, 300, 3, &nodes).replace(
        "log_folder = \"logs\"",
        &format!("{key} = \"{}\"", log_dir.display()),
    );
    let path = dir.join("config.toml");
    fs::write(&path, text).unwrap();
    path
}

/// `args` with `from` replaced by `to` (each occurrence), as owned strings.
fn substitute(args: &[&str], from: &str, to: &str) -> Vec<String> {
    args.iter()
        .map(|a| {
            if *a == from {
                to.to_string()
            } else {
                a.to_string()
            }
        })
        .collect()
}

/// Runs `args` (the daemon's command line from a packaging file, `run` as its command)
/// as `check-config`, then as itself until it listens, then stops it with SIGTERM:
/// exit 0 each time.
fn check_then_run(args: &[String], dir: &Path, what: &str) {
    assert_eq!(
        args.first().map(String::as_str),
        Some("run"),
        "{what}: {args:?}"
    );
    let mut check: Vec<&str> = args.iter().map(String::as_str).collect();
    check[0] = "check-config";
    let out = run_cli(&check, dir);
    assert_eq!(
        out.code,
        Some(0),
        "{what}: `{}`: {}",
        check.join(" "),
        out.stderr
    );
    assert!(
        out.stdout.starts_with("config ok"),
        "{what}: {}",
        out.stdout
    );

    let run: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut d = Daemon::spawn("packaged", &run, dir, dir);
    wait_for(&format!("{what}: the daemon listens"), DEADLINE, || {
        d.stderr().contains("listening on").then_some(())
    });
    d.terminate_ok();
}

// ---------------------------------------------------------------------------------------
// systemd

/// The `Key=Value` lines of a unit file (comments and sections left out), in order.
fn unit_keys(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .collect()
}

fn unit_value<'a>(keys: &[(&str, &'a str)], key: &str) -> &'a str {
    let found: Vec<&str> = keys
        .iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(found.len(), 1, "{key}= in the unit: {found:?}");
    found[0]
}

#[test]
fn systemd_unit_runs_the_command_line_it_names() {
    let unit = read("packaging/systemd/uptime-tracker.service");
    let keys = unit_keys(&unit);
    for (key, want) in [
        ("User", "uptime-tracker"),
        ("Group", "uptime-tracker"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("LogsDirectory", "uptime-tracker"),
    ] {
        assert_eq!(unit_value(&keys, key), want, "{key}=");
    }
    // The sysusers file creates the unit's user.
    let sysusers = read("packaging/systemd/uptime-tracker.sysusers");
    assert!(
        sysusers
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["u", "uptime-tracker"])),
        "{sysusers}"
    );

    // The sample config is valid, and its log folder is the one the unit may write.
    let sample_path = repo("packaging/systemd/config.toml");
    let sample = Config::load(&sample_path, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        Path::new(unit_value(&keys, "ReadWritePaths")),
        sample.log_folder
    );
    assert_eq!(
        Path::new("/var/log").join(unit_value(&keys, "LogsDirectory")),
        sample.log_folder
    );

    // ExecStart: the installed binary and config paths the unit's comments name.
    let exec: Vec<&str> = unit_value(&keys, "ExecStart").split_whitespace().collect();
    assert_eq!(exec[0], "/usr/local/bin/uptime-tracker");
    assert!(unit.contains("install -m 0755 uptime-tracker /usr/local/bin/uptime-tracker"));
    let conf = "/etc/uptime-tracker/config.toml";
    assert!(exec.contains(&conf), "{exec:?}");

    let dir = TempDir::new("pack-systemd");
    let log_dir = dir.path().join("var-log");
    let config = loopback_config(dir.path(), &log_dir, "log_folder");
    let args = substitute(&exec[1..], conf, config.to_str().unwrap());
    check_then_run(&args, dir.path(), "ExecStart");
    assert!(read_node_logs(&log_dir, "node1").starts_with("---\n0.0.3|"));

    // systemd's own reading of the unit (with the binary at hand): no warning at all.
    if !have("systemd-analyze") {
        skip_or_fail("systemd-analyze verify: systemd-analyze is not installed (Debian: systemd)");
        return;
    }
    let copy = dir.path().join("uptime-tracker.service");
    fs::write(&copy, unit.replace("/usr/local/bin/uptime-tracker", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {:?}\n{stderr}",
        out.status
    );
}

// ---------------------------------------------------------------------------------------
// OpenWrt

/// Runs the init script's `start_service` and `reload_service` under `shell`, with procd's
/// functions replaced by ones that print their arguments, and PROG and CONF pointing at
/// `bin` and `conf`. Returns what they printed.
fn procd_calls(shell: &[&str], script: &str, bin: &str, conf: &Path, dir: &Path) -> String {
    let script = script
        .replace("PROG=/usr/bin/uptime-tracker", &format!("PROG='{bin}'"))
        .replace(
            "CONF=/etc/uptime-tracker/config.toml",
            &format!("CONF='{}'", conf.display()),
        );
    assert!(script.contains(&format!("PROG='{bin}'")) && script.contains("CONF='"));
    let harness = format!(
        r#"show() {{ printf '%s' "$1"; shift; for a in "$@"; do printf ' [%s]' "$a"; done; echo; }}
procd_open_instance() {{ show open "$@"; }}
procd_set_param() {{ show param "$@"; }}
procd_close_instance() {{ show close "$@"; }}
procd_send_signal() {{ show signal "$@"; }}
{script}
start_service || echo "start_service failed: $?"
reload_service
"#
    );
    let path = dir.join("harness.sh");
    fs::write(&path, harness).unwrap();
    let out = Command::new(shell[0])
        .args(&shell[1..])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{shell:?}: {:?}\n{stderr}",
        out.status
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn openwrt_init_script_starts_the_command_line_it_names() {
    let rel = "packaging/openwrt/uptime-tracker.init";
    let script = read(rel);
    assert!(script.starts_with("#!/bin/sh /etc/rc.common\n"));
    assert!(script.contains("\nUSE_PROCD=1\n"));
    let mut shells: Vec<Vec<&str>> = vec![vec!["sh"]];
    if have("busybox") {
        shells.push(vec!["busybox", "sh"]); // OpenWrt's shell is busybox ash
    } else {
        skip_or_fail(
            "the init script under busybox sh: busybox is not installed (Debian: busybox)",
        );
    }
    for shell in &shells {
        let mut syntax = Command::new(shell[0]);
        syntax.args(&shell[1..]).arg("-n").arg(repo(rel));
        let out = syntax.output().unwrap();
        assert!(
            out.status.success(),
            "{shell:?} -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The sample config is valid.
    Config::load(&repo("packaging/openwrt/config.toml"), None).unwrap_or_else(|e| panic!("{e}"));

    for shell in &shells {
        // Both spellings of the log folder are found, and the folder is created.
        for key in ["log_folder", "logFolder"] {
            let dir = TempDir::new("pack-openwrt");
            let log_dir = dir.path().join("tmp-uptime-tracker");
            let conf = loopback_config(dir.path(), &log_dir, key);
            let calls = procd_calls(shell, &script, BIN, &conf, dir.path());
            let conf_s = conf.to_str().unwrap();
            let lines: Vec<&str> = calls.lines().collect();
            let want_command = format!("param [command] [{BIN}] [run] [--config] [{conf_s}]");
            for want in [
                "open",
                want_command.as_str(),
                "param [respawn] [3600] [5] [5]",
                "param [stdout] [1]",
                "param [stderr] [1]",
                "param [no_new_privs] [1]",
                "close",
                "signal [uptime-tracker] [*] [HUP]",
            ] {
                assert!(
                    lines.contains(&want),
                    "{shell:?} {key}: no {want:?} in\n{calls}"
                );
            }
            assert!(
                log_dir.is_dir(),
                "{shell:?} {key}: start_service did not create the log folder\n{calls}"
            );
            // The command procd would run, as check-config and as itself.
            let command = lines
                .iter()
                .find_map(|l| l.strip_prefix("param [command] "))
                .unwrap();
            let args: Vec<String> = command
                .split(' ')
                .skip(1)
                .map(|a| a.trim_start_matches('[').trim_end_matches(']').to_string())
                .collect();
            check_then_run(&args, dir.path(), "procd command");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Docker

/// The strings of a JSON-array instruction (`ENTRYPOINT ["a", "b"]`), the Dockerfile's
/// only such instruction with that name.
fn exec_form(dockerfile: &str, instruction: &str) -> Vec<String> {
    let lines: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix(instruction)?.strip_prefix(' '))
        .collect();
    assert_eq!(lines.len(), 1, "{instruction}: {lines:?}");
    let inner = lines[0]
        .trim()
        .strip_prefix('[')
        .unwrap()
        .strip_suffix(']')
        .unwrap();
    inner
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect()
}

#[test]
fn dockerfile_runs_the_command_line_it_names() {
    let text = read("Dockerfile");
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.last(), Some(&"FROM scratch"), "{froms:?}");
    let entry = exec_form(&text, "ENTRYPOINT");
    assert_eq!(entry, ["/uptime-tracker"]);
    assert!(
        text.lines()
            .any(|l| l.starts_with("COPY --from=build ") && l.ends_with(" /uptime-tracker")),
        "the binary is not copied to the ENTRYPOINT's path"
    );
    let user = text
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("numeric USER");
    assert_ne!(uid, 0, "runs as root");
    assert_eq!(exec_form(&text, "VOLUME"), ["/logs"]);
    assert!(text.contains(&format!("--chown={user} /out/logs /logs")));

    // CMD against a config whose log folder is the volume's (here a temp dir).
    let cmd = exec_form(&text, "CMD");
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let dir = TempDir::new("pack-docker");
    let log_dir = dir.path().join("logs");
    let conf = loopback_config(dir.path(), &log_dir, "log_folder");
    let args = substitute(&cmd, "/config/config.toml", conf.to_str().unwrap());
    assert_ne!(args, cmd, "CMD does not name /config/config.toml");
    check_then_run(&args, dir.path(), "CMD");

    // The build context keeps what the manifest needs and leaves out the build output.
    let ignore = read(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in ["src", "Cargo.toml", "Cargo.lock", "benches", "tests"] {
        assert!(!ignored.contains(&needed), "{needed} is ignored");
    }
    for left_out in ["target", ".git"] {
        assert!(ignored.contains(&left_out), "{left_out} is not ignored");
    }
}

// ---------------------------------------------------------------------------------------
// logrotate

#[test]
fn logrotate_snippet_compresses_past_days_only() {
    if !have("logrotate") {
        skip_or_fail("the logrotate snippet: logrotate is not installed (Debian: logrotate)");
        return;
    }
    let snippet = read("packaging/logrotate/uptime-tracker");
    let folder = "/var/log/uptime-tracker";
    assert!(snippet.contains(&format!("{folder}/*.log {{")));
    let reload = "systemctl reload uptime-tracker.service";
    assert!(snippet.contains(reload));

    let dir = TempDir::new("pack-logrotate");
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let write = |name: &str, age: Duration| {
        let p = logs.join(name);
        fs::write(&p, "---\n0.0.3|header\n").unwrap();
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(now - age)
            .unwrap();
        p
    };
    let past = write("2026-11-20-gw.log", 3 * day);
    let yesterday = write("2026-11-24-gw.log", Duration::from_secs(7200));
    let today = write("2026-11-25-gw.log", Duration::ZERO);
    let ancient = write("2020-01-01-gw.log.1.gz", 500 * day);
    let reloaded = dir.path().join("reloaded");
    let conf = dir.path().join("logrotate.conf");
    fs::write(
        &conf,
        snippet
            .replace(folder, logs.to_str().unwrap())
            .replace(reload, &format!("touch {}", reloaded.display())),
    )
    .unwrap();
    // A state file in which every log was last rotated long ago, so `daily` is due.
    // logrotate ignores a config file, and refuses a log folder, that others may write:
    // whatever the umask, they are 0644 and 0755.
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    let mut s = String::from("logrotate state -- version 2\n");
    for p in [&past, &yesterday, &today] {
        s += &format!("\"{}\" 2000-1-1-0:0:0\n", p.display());
    }
    fs::write(&state, s).unwrap();

    let out = Command::new("logrotate")
        .arg("-s")
        .arg(&state)
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "logrotate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "2026-11-20-gw.log.1.gz",
            "2026-11-24-gw.log",
            "2026-11-25-gw.log"
        ],
        "the day written in the last 24 h and today's must stay, a past day compressed, \
         a compressed day older than 400 days deleted"
    );
    assert!(!ancient.exists());
    assert!(reloaded.exists(), "postrotate did not run");
}

// ---------------------------------------------------------------------------------------
// Closed pipes

/// A pipe whose read end is already closed: its write end, for a child's stdout.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) writes two descriptors into the array it is given.
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "pipe: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created by pipe(2) and are owned here alone.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

/// `uptime-tracker --help | head -1` and the like: stdout is a pipe nobody reads any more.
/// Writing fails (EPIPE); that is not the program's failure: exit 0, nothing on stderr.
#[test]
fn output_into_a_closed_pipe_is_not_an_error() {
    let dir = TempDir::new("pack-pipe");
    let conf = loopback_config(dir.path(), &dir.path().join("logs"), "log_folder");
    let conf = conf.to_str().unwrap();
    for args in [
        &["--help"][..],
        &["--version"],
        &["check-config", "--config", conf],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{args:?}: {:?}, stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
