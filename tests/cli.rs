//! The command line: --version, --help, usage errors, check-config on valid and invalid
//! configs, and `run` failing cleanly on a bad start.

mod common;

use std::collections::HashSet;
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use common::*;

/// A config with two nodes; line numbers are referred to by the error cases below.
///
/// ```text
///  1 whoami = "node1"
///  2 interval = 200
///  3 timeout = 300
///  4 offline_threshold = 3
///  5 log_folder = "logs"
///  6
///  7 [[nodes]]
///  8 name = "node1"
///  9 ip = "127.0.0.1"
/// 10 port = 47001
/// 11
/// 12 [[nodes]]
/// 13 name = "node2"
/// 14 ip = "127.0.0.2"
/// 15 port = 47002
/// ```
/// (check-config binds node1's address for a moment, like `run` before it serves: a
/// valid BASE needs 127.0.0.1:47001 free.)
const BASE: &str = r#"whoami = "node1"
interval = 200
timeout = 300
offline_threshold = 3
log_folder = "logs"

[[nodes]]
name = "node1"
ip = "127.0.0.1"
port = 47001

[[nodes]]
name = "node2"
ip = "127.0.0.2"
port = 47002
"#;

/// `BASE` with 1-based line `line` replaced by `with` (which may span several lines).
fn edit(line: usize, with: &str) -> String {
    let mut v: Vec<&str> = BASE.lines().collect();
    v[line - 1] = with;
    v.join("\n") + "\n"
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

/// The line number in the first `FILE:LINE:` of `stderr`, if any.
fn reported_line(stderr: &str, file: &str) -> Option<usize> {
    let i = stderr.find(&format!("{file}:"))?;
    let rest = &stderr[i + file.len() + 1..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || !rest[digits.len()..].starts_with(':') {
        return None;
    }
    digits.parse().ok()
}

fn check_config(path: &Path, extra: &[&str]) -> CliOutput {
    let mut args = vec!["check-config", "--config", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_cli(&args, path.parent().unwrap())
}

#[test]
fn version_and_help() {
    let dir = TempDir::new("cli-version");
    let out = run_cli(&["--version"], dir.path());
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout.trim_end(),
        format!("uptime-tracker {}", env!("CARGO_PKG_VERSION"))
    );

    let out = run_cli(&["--help"], dir.path());
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    for word in ["run", "check-config", "--config", "--whoami"] {
        assert!(
            out.stdout.contains(word),
            "--help does not mention {word}:\n{}",
            out.stdout
        );
    }
}

/// Each command's `--help` (and `-h`, and `help COMMAND`) prints that command's own help on
/// stdout and exits 0; every option it names is one the command accepts.
#[test]
fn every_command_has_its_own_help() {
    let dir = TempDir::new("cli-help");
    let commands = [
        "run",
        "check-config",
        "status",
        "simulate",
        "report",
        "demo",
    ];
    let top = run_cli(&["--help"], dir.path());
    assert_eq!(top.code, Some(0), "{}", top.stderr);
    for command in commands {
        let out = run_cli(&[command, "--help"], dir.path());
        assert_eq!(out.code, Some(0), "{command} --help: {}", out.stderr);
        assert!(out.stderr.is_empty(), "{command} --help: {}", out.stderr);
        let help = out.stdout;
        assert!(
            help.starts_with(&format!("Usage:\n  uptime-tracker {command} ")),
            "{command} --help:\n{help}"
        );
        assert!(
            help.contains("\nExit status: 0 "),
            "{command} --help:\n{help}"
        );
        assert_ne!(help, top.stdout, "{command} --help is the general help");
        for other in commands.iter().filter(|c| **c != command) {
            assert!(
                !help.contains(&format!("uptime-tracker {other} ")),
                "{command} --help shows {other}'s usage:\n{help}"
            );
        }
        assert!(
            top.stdout.contains(&format!("\n  {command} ")),
            "--help does not list {command}"
        );
        for same in [&[command, "-h"][..], &["help", command]] {
            let again = run_cli(same, dir.path());
            assert_eq!(
                (again.code, again.stdout.as_str()),
                (Some(0), help.as_str()),
                "{same:?}"
            );
        }
        let flags: HashSet<&str> = help
            .split_whitespace()
            .map(|w| w.trim_start_matches(['[', '(']))
            .map(|w| w.trim_end_matches([',', ']', ')', ';']))
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .collect();
        assert!(!flags.is_empty(), "{command} --help names no option");
        for flag in flags {
            // Without its value: a usage error, but not an unknown argument.
            let out = run_cli(&[command, flag], dir.path());
            assert!(
                !out.stderr.contains("unknown argument"),
                "{command} --help names {flag}, which {command} refuses: {}",
                out.stderr
            );
        }
    }
    let out = run_cli(&["help", "frobnicate"], dir.path());
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let out = run_cli(&["check", "--config", "x.toml"], dir.path());
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("uptime-tracker: unknown command \"check\": did you mean `check-config`?"),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new("cli-usage");
    let conf = write_config(dir.path(), "ok.toml", BASE);
    let conf = conf.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["--bogus"],
        &["run"],
        &["run", "--config"],
        &["check-config"],
        &["check-config", "--config", conf, "--bogus"],
        &["check-config", "--config", conf, "--whoami"],
        &["run", "--config", conf, "extra-argument"],
        &["--version", "extra"],
        &["-V", "extra"],
    ];
    for args in cases {
        let out = run_cli(args, dir.path());
        assert_eq!(
            out.code,
            Some(2),
            "`uptime-tracker {}` must be a usage error (exit 2); stdout: {} stderr: {}",
            args.join(" "),
            out.stdout,
            out.stderr
        );
        assert!(
            !out.stderr.trim().is_empty(),
            "`uptime-tracker {}`: no message on stderr",
            args.join(" ")
        );
    }
}

#[test]
fn check_config_accepts_valid_configs() {
    let dir = TempDir::new("cli-valid");
    let p = write_config(dir.path(), "ok.toml", BASE);
    let out = check_config(&p, &[]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    for word in ["node1", "node2", "47001", "47002"] {
        assert!(
            out.stdout.contains(word),
            "summary does not mention {word}:\n{}",
            out.stdout
        );
    }

    // --whoami selects another configured node.
    let out = check_config(&p, &["--whoami", "node2"]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);

    // Other valid shapes.
    let abs_logs = dir.path().join("absolute-logs");
    let valid = [
        (
            "camel",
            BASE.replace("offline_threshold", "offlineThreshold")
                .replace("log_folder", "logFolder"),
        ),
        ("max-interval", edit(2, "interval = 86400000")),
        ("timeout>interval", edit(3, "timeout = 5000")),
        (
            "listen",
            edit(5, "log_folder = \"logs\"\nlisten = \"127.0.0.1:47001\""),
        ),
        (
            "abs-log-folder",
            edit(5, &format!("log_folder = {:?}", abs_logs.to_str().unwrap())),
        ),
        ("punctuated-name", BASE.replace("node2", "router-2.lan_b")),
    ];
    for (tag, text) in valid {
        let p = write_config(dir.path(), &format!("{tag}.toml"), &text);
        let out = check_config(&p, &[]);
        assert_eq!(
            out.code,
            Some(0),
            "{tag}: valid config rejected:\n{text}\nstderr: {}",
            out.stderr
        );
        assert!(out.stdout.contains("node1"), "{tag}: {}", out.stdout);
    }
    // check-config never creates the log folder.
    assert!(!dir.path().join("logs").exists());
    assert!(!abs_logs.exists());
}

/// One invalid config: its text, words the message must contain, and the lines the error
/// may be reported on (a location is required when the TOML parser itself finds the error;
/// for a semantic error, a location is optional but must be right if given).
struct Bad {
    tag: &'static str,
    text: String,
    words: &'static [&'static str],
    lines: RangeInclusive<usize>,
    line_required: bool,
}

fn bad(
    tag: &'static str,
    text: String,
    words: &'static [&'static str],
    lines: RangeInclusive<usize>,
) -> Bad {
    Bad {
        tag,
        text,
        words,
        lines,
        line_required: false,
    }
}

fn bad_parse(tag: &'static str, text: String, words: &'static [&'static str], line: usize) -> Bad {
    Bad {
        line_required: true,
        ..bad(tag, text, words, line..=line)
    }
}

#[test]
fn check_config_rejects_each_class_of_error() {
    let dir = TempDir::new("cli-invalid");
    let mut cases = vec![
        // Found by the TOML parser / deserializer: a location is required.
        bad_parse("syntax", edit(2, "interval = "), &[], 2),
        bad_parse("unknown-key", edit(6, "colour = \"blue\""), &["colour"], 6),
        bad_parse(
            "unknown-node-key",
            edit(10, "port = 47001\nweight = 5"),
            &["weight"],
            11,
        ),
        bad_parse("wrong-type", edit(2, "interval = \"fast\""), &[], 2),
        // Semantic errors (a location is optional).
        bad("port-too-big", edit(10, "port = 70000"), &[], 7..=10),
        bad("negative-interval", edit(2, "interval = -5"), &[], 2..=2),
        bad(
            "duplicate-name",
            edit(13, "name = \"node1\""),
            &["node1"],
            12..=13,
        ),
        bad(
            "duplicate-addr",
            edit(14, "ip = \"127.0.0.1\"").replace("47002", "47001"),
            &["47001"],
            12..=15,
        ),
        bad(
            "whoami-unknown",
            edit(1, "whoami = \"node9\""),
            &["node9"],
            1..=1,
        ),
        bad("whoami-absent", edit(1, ""), &["whoami"], 1..=15),
        bad(
            "no-nodes",
            BASE.lines().take(5).collect::<Vec<_>>().join("\n"),
            &[],
            1..=5,
        ),
        bad("port-0", edit(15, "port = 0"), &["port"], 12..=15),
        bad("interval-0", edit(2, "interval = 0"), &["interval"], 2..=2),
        bad(
            "interval-too-big",
            edit(2, "interval = 86400001"),
            &["interval"],
            2..=2,
        ),
        bad("timeout-0", edit(3, "timeout = 0"), &["timeout"], 3..=3),
        bad(
            "timeout-too-big",
            edit(3, "timeout = 86400001"),
            &["timeout"],
            3..=3,
        ),
        bad("threshold-0", edit(4, "offline_threshold = 0"), &[], 4..=4),
        bad(
            "bad-ip",
            edit(14, "ip = \"localhost\""),
            &["localhost"],
            12..=14,
        ),
        bad(
            "bad-listen",
            edit(5, "log_folder = \"logs\"\nlisten = \"nope\""),
            &["nope"],
            6..=6,
        ),
        bad("empty-name", edit(13, "name = \"\""), &[], 12..=13),
        bad(
            "ipv4-mapped-duplicate",
            edit(14, "ip = \"::ffff:127.0.0.1\"").replace("47002", "47001"),
            &["duplicate", "\"node1\"", "\"node2\"", "127.0.0.1:47001"],
            12..=15,
        ),
        bad(
            "bracketed-ip",
            edit(14, "ip = \"[::1]\""),
            &["without brackets", "ip = \"::1\""],
            12..=14,
        ),
    ];
    for (i, bad_name) in [
        "no|de",
        "no!de",
        "no:de",
        "no/de",
        "no de",
        "no\\tde",
        "no\\u0001de",
        "no\\nde",
    ]
    .iter()
    .enumerate()
    {
        let tag: &'static str = Box::leak(format!("forbidden-char-{i}").into_boxed_str());
        // node2 gets the bad name (whoami stays node1, so only the name is wrong).
        cases.push(bad(
            tag,
            edit(13, &format!("name = \"{bad_name}\"")),
            &[],
            12..=13,
        ));
    }

    let mut failures = Vec::new();
    for c in &cases {
        let p = write_config(dir.path(), &format!("{}.toml", c.tag), &c.text);
        let file = p.to_str().unwrap();
        let out = check_config(&p, &[]);
        let mut problems = Vec::new();
        if out.code != Some(1) {
            problems.push(format!("exit {:?}, want 1", out.code));
        }
        if !out.stderr.contains(file) {
            problems.push("stderr does not name the file".to_string());
        }
        for w in c.words {
            if !out.stderr.contains(w) {
                problems.push(format!("stderr does not mention {w:?}"));
            }
        }
        match reported_line(&out.stderr, file) {
            Some(l) if !c.lines.contains(&l) => {
                problems.push(format!("reports line {l}, want {:?}", c.lines))
            }
            None if c.line_required => {
                problems.push(format!("no `FILE:{}:` location", c.lines.start()))
            }
            _ => {}
        }
        eprintln!("[{}] exit {:?}: {}", c.tag, out.code, out.stderr.trim_end());
        if !problems.is_empty() {
            failures.push(format!(
                "[{}] {}\n--- config ---\n{}--- stdout ---\n{}--- stderr ---\n{}",
                c.tag,
                problems.join("; "),
                c.text,
                out.stdout,
                out.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} invalid configs mishandled:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn whoami_override_must_name_a_node() {
    let dir = TempDir::new("cli-whoami");
    let p = write_config(dir.path(), "ok.toml", BASE);
    let out = check_config(&p, &["--whoami", "node9"]);
    assert_eq!(out.code, Some(1), "stdout: {}", out.stdout);
    assert!(out.stderr.contains("node9"), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("node1, node2"),
        "the valid names are not listed: {}",
        out.stderr
    );
    let out = check_config(&p, &["--whoami", "no|de"]);
    assert_eq!(out.code, Some(1), "stdout: {}", out.stdout);
}

#[test]
fn run_fails_cleanly_without_a_usable_config() {
    let dir = TempDir::new("cli-run-bad");

    // Missing file.
    let missing = dir.path().join("does-not-exist.toml");
    let out = run_cli(&["run", "--config", missing.to_str().unwrap()], dir.path());
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains(missing.to_str().unwrap()),
        "stderr does not name the file: {}",
        out.stderr
    );
    let out = check_config(&missing, &[]);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(out.stderr.contains(missing.to_str().unwrap()));

    // Invalid config: exit 1 before any file is created.
    let p = write_config(dir.path(), "bad.toml", &edit(2, "interval = 0"));
    let out = run_cli(&["run", "--config", p.to_str().unwrap()], dir.path());
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains(p.to_str().unwrap()),
        "stderr: {}",
        out.stderr
    );
    assert!(
        !dir.path().join("logs").exists(),
        "a rejected config still created the log folder"
    );

    // --whoami naming no node.
    let p = write_config(dir.path(), "ok.toml", BASE);
    let out = run_cli(
        &["run", "--config", p.to_str().unwrap(), "--whoami", "node9"],
        dir.path(),
    );
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(!dir.path().join("logs").exists());
}

#[test]
fn run_fails_when_its_port_is_taken() {
    let dir = TempDir::new("cli-port-taken");
    let port = free_port(IP1);
    // Held for the whole test: the daemon cannot listen on this port.
    let _holder = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    let nodes = [
        NodeSpec {
            name: "node1".into(),
            ip: IP1,
            port,
        },
        NodeSpec {
            name: "node2".into(),
            ip: IP2,
            port: free_port(IP2),
        },
    ];
    let p = write_config(
        dir.path(),
        "taken.toml",
        &config_text("node1", 200, 300, 3, &nodes),
    );
    let out = run_cli(&["run", "--config", p.to_str().unwrap()], dir.path());
    assert_eq!(
        out.code,
        Some(1),
        "a taken port must be a startup error; stderr: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&port.to_string()),
        "stderr does not name the address: {}",
        out.stderr
    );
}

#[test]
fn camel_case_aliases_take_effect() {
    // offlineThreshold = 7 and logFolder = "camel-logs": node1 runs alone (node2 is never
    // started), so it must count node2's timeouts 1..7 into camel-logs and then stop.
    let dir = TempDir::new("cli-camel");
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
    let text = config_text("node1", 200, 300, 7, &nodes)
        .replace("offline_threshold", "offlineThreshold")
        .replace("log_folder = \"logs\"", "logFolder = \"camel-logs\"");
    let conf_dir = dir.path().join("conf");
    fs::create_dir(&conf_dir).unwrap();
    let p = write_config(&conf_dir, "camel.toml", &text);

    let out = check_config(&p, &[]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);

    let mut d = Daemon::spawn(
        "camel-node1",
        &["run", "--config", p.to_str().unwrap()],
        dir.path(),
        dir.path(),
    );
    let log_dir = conf_dir.join("camel-logs");
    wait_for("node1 to count node2 up to 7", DEADLINE, || {
        (peer_counts(&read_node_logs(&log_dir, "node1"), "node2") == [1, 2, 3, 4, 5, 6, 7])
            .then_some(())
    });
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let log = read_node_logs(&log_dir, "node1");
    assert_eq!(peer_counts(&log, "node2"), [1, 2, 3, 4, 5, 6, 7], "{log}");
    let h = header_lines(&log);
    assert_eq!(h.len(), 1, "{log}");
    assert!(
        h[0].ends_with(&format!("|{}", header_tail(7, "node1", &nodes))),
        "header: {}",
        h[0]
    );
    d.terminate_ok();
    assert!(!dir.path().join("camel-logs").exists());
    assert_eq!(validate_log_dir(&log_dir, &nodes), 1);
}

/// `uptime-tracker --help | head -1`: stdout closed early must not abort the program.
#[test]
fn a_closed_stdout_does_not_abort() {
    use std::process::{Command, Stdio};
    for args in [
        &["--help"][..],
        &["simulate", "--hours", "0.05", "--nodes", "2"],
    ] {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take()); // the reader is gone before anything is written
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{args:?}: {:?}, stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `node1` at `ip1:port1` and `node2` at `ip2:port2`.
fn two_nodes(ip1: Ipv4Addr, port1: u16, ip2: Ipv4Addr, port2: u16) -> Vec<NodeSpec> {
    vec![
        NodeSpec {
            name: "node1".into(),
            ip: ip1,
            port: port1,
        },
        NodeSpec {
            name: "node2".into(),
            ip: ip2,
            port: port2,
        },
    ]
}

/// An address of TEST-NET-1 (RFC 5737): never an address of this machine, never routed.
/// The daemon only binds with it in the config; it never sends there.
const NOT_LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// With no `listen`, a node whose ip is local listens on that ip only: two nodes of one
/// host share one port (127.0.0.1:P and 127.0.0.2:P), run side by side and see each other.
#[test]
fn nodes_on_one_host_share_a_port_without_listen() {
    let dir = TempDir::new("cli-shared-port");
    let port = loop {
        let p = free_port(IP1);
        if TcpListener::bind((IP2, p)).is_ok() {
            break p;
        }
    };
    let nodes = two_nodes(IP1, port, IP2, port);
    let p = write_config(
        dir.path(),
        "shared.toml",
        &config_text("node1", 200, 300, 3, &nodes),
    );
    let conf = p.to_str().unwrap();
    let out = check_config(&p, &[]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("listen:            127.0.0.1:{port}")),
        "{}",
        out.stdout
    );
    let mut a = Daemon::spawn(
        "node1",
        &["run", "--config", conf, "--whoami", "node1"],
        dir.path(),
        dir.path(),
    );
    let mut b = Daemon::spawn(
        "node2",
        &["run", "--config", conf, "--whoami", "node2"],
        dir.path(),
        dir.path(),
    );
    for (d, peer) in [(&mut a, "node2"), (&mut b, "node1")] {
        wait_for(
            &format!("{} to say `peer {peer}: connected`", d.label),
            DEADLINE,
            || {
                assert!(d.is_running(), "{} exited: {}", d.label, d.stderr());
                d.stderr()
                    .contains(&format!("peer {peer}: connected"))
                    .then_some(())
            },
        );
    }
    let (err_a, err_b) = (a.stderr(), b.stderr());
    assert!(
        err_a.contains(&format!("listening on 127.0.0.1:{port}")),
        "{err_a}"
    );
    assert!(
        err_b.contains(&format!("listening on 127.0.0.2:{port}")),
        "{err_b}"
    );
    std::thread::sleep(std::time::Duration::from_millis(800));
    let logs = dir.path().join("logs");
    for n in ["node1", "node2"] {
        let log = read_node_logs(&logs, n);
        assert_eq!(count_headers(&log), 1, "{n}:\n{log}");
        assert!(events(&log).is_empty(), "{n} logged events:\n{log}");
    }
    a.terminate_ok();
    b.terminate_ok();
    assert_eq!(validate_log_dir(&logs, &nodes), 2);
}

/// A node whose configured ip is not an address of this machine listens on all
/// interfaces and says why that may be wrong (NAT, or a wrong ip), naming the address.
#[test]
fn a_node_whose_ip_is_not_local_warns() {
    let dir = TempDir::new("cli-not-local");
    let nodes = two_nodes(NOT_LOCAL, free_port(IP1), IP2, free_port(IP2));
    let p = write_config(
        dir.path(),
        "nat.toml",
        &config_text("node1", 200, 300, 3, &nodes),
    );
    let mut d = Daemon::spawn(
        "node1",
        &["run", "--config", p.to_str().unwrap()],
        dir.path(),
        dir.path(),
    );
    let err = wait_for("the not-local warning", DEADLINE, || {
        let err = d.stderr();
        assert!(d.is_running(), "exited: {err}");
        err.contains("listening on").then_some(err)
    });
    d.kill_hard();
    let warning = err
        .lines()
        .find(|l| l.contains("warning"))
        .unwrap_or_else(|| panic!("no warning on stderr:\n{err}"));
    for word in ["192.0.2.1", "not an address of this machine", "NAT"] {
        assert!(warning.contains(word), "warning lacks {word:?}: {warning}");
    }
    assert!(
        err.contains(&format!(
            "listening on 0.0.0.0:{}, probing 1 peer every",
            nodes[0].port
        )),
        "{err}"
    );
}

/// `check-config` makes the checks `run` makes before serving: a taken port and an
/// unwritable or impossible log folder are errors (exit 1), a not-local ip a warning
/// (exit 0).
#[test]
fn check_config_makes_the_startup_checks() {
    let dir = TempDir::new("cli-preflight");

    // Port in use.
    let port = free_port(IP1);
    let holder = TcpListener::bind((IP1, port)).unwrap();
    let nodes = two_nodes(IP1, port, IP2, free_port(IP2));
    let p = write_config(
        dir.path(),
        "taken.toml",
        &config_text("node1", 200, 300, 3, &nodes),
    );
    let out = check_config(&p, &[]);
    assert_eq!(out.code, Some(1), "port in use: stdout {}", out.stdout);
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}")) && out.stderr.contains("error"),
        "stderr does not name the port: {}",
        out.stderr
    );
    drop(holder);
    let out = check_config(&p, &[]);
    assert_eq!(out.code, Some(0), "port free again: {}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);

    // Log folders that cannot be written. /proc takes no new file, even from root.
    let text = config_text("node1", 200, 300, 3, &nodes);
    let mut folders = vec![
        ("/dev/null", "not a folder"),
        ("/dev/null/logs", "not a folder"),
    ];
    if Path::new("/proc/self").exists() {
        folders.push(("/proc", "not writable"));
        folders.push(("/proc/uptime-tracker-logs", "cannot be created"));
    }
    for (folder, words) in folders {
        let t = text.replace("log_folder = \"logs\"", &format!("log_folder = {folder:?}"));
        let p = write_config(dir.path(), "folder.toml", &t);
        for command in ["check-config", "run"] {
            let out = run_cli(&[command, "--config", p.to_str().unwrap()], dir.path());
            assert_eq!(out.code, Some(1), "{command} {folder}: {}", out.stderr);
            assert!(
                out.stderr.contains(folder) && out.stderr.contains(words),
                "{command} {folder}: want {words:?}: {}",
                out.stderr
            );
            assert!(!out.stderr.contains("File exists"), "{}", out.stderr);
        }
    }

    // This node's ip is not an address of this machine: a warning, exit 0.
    let nodes = two_nodes(NOT_LOCAL, free_port(IP1), IP2, free_port(IP2));
    let p = write_config(
        dir.path(),
        "nat.toml",
        &config_text("node1", 200, 300, 3, &nodes),
    );
    let out = check_config(&p, &[]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("warning") && out.stderr.contains("192.0.2.1"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("config ok, 1 warning"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("listen:            0.0.0.0:{}", nodes[0].port)),
        "{}",
        out.stdout
    );
    // An explicit `listen` is kept as is.
    let t = config_text("node1", 200, 300, 3, &nodes).replace(
        "log_folder = \"logs\"",
        &format!(
            "log_folder = \"logs\"\nlisten = \"127.0.0.1:{}\"",
            nodes[0].port
        ),
    );
    let p = write_config(dir.path(), "listen.toml", &t);
    let out = check_config(&p, &[]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("listen:            127.0.0.1:{}", nodes[0].port)),
        "{}",
        out.stdout
    );
    assert!(
        !dir.path().join("logs").exists(),
        "check-config created logs/"
    );
    let junk: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".toml"))
        .collect();
    assert!(junk.is_empty(), "left behind: {junk:?}");
}

/// What a new user reads: the README, the example config, `--help` and `.gitignore` agree
/// with the program.
#[test]
fn docs_tell_a_new_user_the_truth() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |f: &str| fs::read_to_string(root.join(f)).unwrap();
    let (readme, example, gitignore) = (
        read("README.md"),
        read("config.example.toml"),
        read(".gitignore"),
    );
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");

    // `--help` and the README say the same about exit statuses.
    let dir = TempDir::new("cli-docs");
    let help = run_cli(&["--help"], dir.path()).stdout;
    let exit = help
        .split("\n\n")
        .find(|p| p.starts_with("Exit status:"))
        .expect("--help has an Exit status paragraph");
    assert!(
        words(&readme).contains(&words(exit)),
        "README does not say what --help says:\n{exit}"
    );

    // The example's ports are outside Linux's ephemeral range (32768-60999), and it
    // passes validation.
    let cfg = uptime_tracker::config::Config::load(&root.join("config.example.toml"), None)
        .expect("the example config is valid");
    for n in &cfg.nodes {
        assert!(n.addr.port() < 32768, "example port {}", n.addr);
        assert!(
            readme.contains(&n.addr.to_string()),
            "README does not show the example's {}",
            n.addr
        );
    }
    assert!(!readme.contains("4700"), "README still uses 4700x ports");

    // The name rule says whitespace is forbidden.
    assert!(example.contains("whitespace"), "config.example.toml");
    let rule = readme
        .lines()
        .find(|l| l.starts_with("| `[[nodes]]`"))
        .expect("README's nodes row");
    assert!(rule.contains("whitespace"), "{rule}");

    // The Quick start: `.ci/run` fuzzes; `cargo install --path .` installs.
    let quick = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("README has a Quick start");
    assert!(
        quick.contains(".ci/run") && quick.contains("fuzzing"),
        "{quick}"
    );
    assert!(quick.contains("cargo install --path ."), "{quick}");
    assert!(!readme.contains("existing viewer"));

    // The quick start's logs/ stays out of git.
    assert!(
        gitignore
            .lines()
            .any(|l| l.trim() == "logs/" || l.trim() == "/logs/"),
        ".gitignore: {gitignore}"
    );
}
