//! The config parser: any text gives a validated config or a clean error.
//!
//! Input: the config file's bytes (invalid UTF-8 is replaced, as the file loader would
//! reject it before parsing). If the first line is a TOML comment `#!whoami NAME`, NAME
//! is passed as the `--whoami` override. Nothing touches the filesystem: this calls
//! `Config::parse` with a made-up path.
//!
//! Checks, for a config that validates:
//! - `whoami` (the override, if given) is the node at index `me`; `own()` is that node
//!   and `peers()` is every other node, in order;
//! - 1 to `MAX_NODES` nodes; every name passes `name::check`; no two nodes share a name
//!   or an address; no port 0, no unspecified or multicast ip; the `listen` and
//!   `metrics_listen` ports are not 0;
//! - `interval` and `timeout` in `1..=MAX_PERIOD_MS`, `timeout <= 250 * interval`,
//!   `offline_threshold >= 1`, `online_threshold >= 1`; `log_folder` and `on_change` are
//!   absolute (a relative one is resolved against the config file's folder), the hook's
//!   timeout a period like `interval`, `log_retention_days` in `1..=MAX_RETENTION_DAYS`;
//! - round trip: the config written back as TOML (by a small serializer here; the crate
//!   has none) parses to the very same `Config`.
//!
//! For an error: a non-empty message, the given path, and a position (if any) whose line
//! is within the text's lines and whose column is within that line (one past its end at
//! most).

#![no_main]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use uptime_tracker::config::{
    Config, ConfigError, MAX_NODES, MAX_PERIOD_MS, MAX_RETENTION_DAYS, MAX_TIMEOUT_PER_INTERVAL,
};
use uptime_tracker::name;

const PATH: &str = "/fuzz/mesh.toml";

/// A TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() && c != '\t' => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The config as a TOML file that should parse back to it.
fn serialize(c: &Config) -> String {
    let mut out = String::new();
    let folder = c
        .log_folder
        .to_str()
        .expect("log_folder came from a TOML string");
    let _ = writeln!(out, "whoami = {}", quoted(&c.whoami));
    let _ = writeln!(out, "interval = {}", c.interval_ms);
    let _ = writeln!(out, "timeout = {}", c.timeout_ms);
    let _ = writeln!(out, "offline_threshold = {}", c.offline_threshold);
    let _ = writeln!(out, "log_folder = {}", quoted(folder));
    if let Some(listen) = c.listen {
        let _ = writeln!(out, "listen = {}", quoted(&listen.to_string()));
    }
    if let Some(metrics) = c.metrics_listen {
        let _ = writeln!(out, "metrics_listen = {}", quoted(&metrics.to_string()));
    }
    let _ = writeln!(out, "online_threshold = {}", c.online_threshold);
    if let Some(hook) = &c.on_change {
        let program = hook
            .program
            .to_str()
            .expect("on_change came from a TOML string");
        let _ = writeln!(out, "on_change = {}", quoted(program));
        let _ = writeln!(out, "on_change_timeout_ms = {}", hook.timeout_ms);
    }
    if let Some(days) = c.log_retention_days {
        let _ = writeln!(out, "log_retention_days = {days}");
    }
    for n in &c.nodes {
        let _ = writeln!(out, "\n[[nodes]]");
        let _ = writeln!(out, "name = {}", quoted(&n.name));
        let _ = writeln!(out, "ip = {}", quoted(&n.addr.ip().to_string()));
        let _ = writeln!(out, "port = {}", n.addr.port());
    }
    out
}

fn check_config(c: &Config, whoami: Option<&str>) {
    assert!(
        (1..=MAX_NODES).contains(&c.nodes.len()),
        "{} nodes",
        c.nodes.len()
    );
    assert!(c.me < c.nodes.len());
    assert_eq!(c.nodes[c.me].name, c.whoami);
    if let Some(w) = whoami {
        assert_eq!(c.whoami, w, "the override wins");
    }
    assert_eq!(c.own(), &c.nodes[c.me]);
    let peers: Vec<usize> = c
        .peers()
        .map(|(i, n)| {
            assert_eq!(n, &c.nodes[i]);
            i
        })
        .collect();
    let expected: Vec<usize> = (0..c.nodes.len()).filter(|&i| i != c.me).collect();
    assert_eq!(peers, expected);

    let mut names = HashSet::new();
    let mut addrs = HashSet::new();
    for n in &c.nodes {
        assert_eq!(name::check(&n.name), Ok(()), "bad name {:?}", n.name);
        assert!(names.insert(n.name.as_str()), "duplicate name {:?}", n.name);
        assert!(addrs.insert(n.addr), "duplicate address {}", n.addr);
        assert_ne!(n.addr.port(), 0);
        assert!(!n.addr.ip().is_unspecified() && !n.addr.ip().is_multicast());
    }
    assert!(c.listen.is_none_or(|l| l.port() != 0));
    assert!(c.metrics_listen.is_none_or(|l| l.port() != 0));
    assert_ne!(c.listen_addr(false).port(), 0);
    assert_eq!(c.listen_addr(true), c.listen.unwrap_or(c.own().addr));

    assert!(
        (1..=MAX_PERIOD_MS).contains(&c.interval_ms),
        "interval {}",
        c.interval_ms
    );
    assert!(
        (1..=MAX_PERIOD_MS).contains(&c.timeout_ms),
        "timeout {}",
        c.timeout_ms
    );
    assert!(c.timeout_ms <= MAX_TIMEOUT_PER_INTERVAL * c.interval_ms);
    assert!(c.offline_threshold >= 1);
    assert!(c.online_threshold >= 1);
    if let Some(hook) = &c.on_change {
        assert!(hook.program.is_absolute(), "on_change {:?}", hook.program);
        assert!((1..=MAX_PERIOD_MS).contains(&hook.timeout_ms));
    }
    assert!(
        c.log_retention_days
            .is_none_or(|d| (1..=MAX_RETENTION_DAYS).contains(&d))
    );
    assert!(c.log_folder.is_absolute(), "log_folder {:?}", c.log_folder);
    assert!(!c.log_folder.as_os_str().is_empty());

    let text = serialize(c);
    match Config::parse(&text, Path::new(PATH), None) {
        Ok(again) => assert_eq!(&again, c, "round trip changed the config:\n{text}"),
        Err(e) => panic!("serialized config does not parse: {e}\n{text}"),
    }
}

fn check_error(e: &ConfigError, text: &str) {
    assert!(!e.message.is_empty());
    assert_eq!(e.path, Path::new(PATH));
    if let Some((line, col)) = e.position {
        let lines: Vec<&str> = text.split('\n').collect();
        assert!(
            (1..=lines.len()).contains(&line),
            "line {line} of {} lines: {e}",
            lines.len()
        );
        let width = lines[line - 1].chars().count();
        assert!(
            (1..=width + 1).contains(&col),
            "column {col} of {width}: {e}"
        );
    }
    let shown = e.to_string();
    assert!(shown.starts_with(PATH), "{shown}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let whoami = text.strip_prefix("#!whoami ").map(|rest| {
        rest.split('\n')
            .next()
            .unwrap_or(rest)
            .trim_end_matches('\r')
    });
    match Config::parse(&text, Path::new(PATH), whoami) {
        Ok(c) => check_config(&c, whoami),
        Err(e) => check_error(&e, &text),
    }
});
