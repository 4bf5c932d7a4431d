//! The command line: --version, --help, usage errors, check-config on valid and invalid
//! configs, and `run` failing cleanly on a bad start.

mod common;

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
/// (check-config opens no socket, so these ports are only numbers.)
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
