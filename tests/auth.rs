//! Authenticated handshakes with the real binary: two nodes sharing a secret stay healthy
//! while a third with another secret is offline both ways; secret files readable by
//! others are refused. (Engine-level cases, replays included, are in src/mesh/auth_tests.rs.)
#![cfg(feature = "auth")]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use common::*;

fn secret_file(dir: &Path, name: &str, content: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn nodes() -> Vec<NodeSpec> {
    [IP1, IP2, IP3]
        .iter()
        .enumerate()
        .map(|(i, &ip)| NodeSpec {
            name: format!("node{}", i + 1),
            ip,
            port: free_port(ip),
        })
        .collect()
}

#[test]
fn a_shared_secret_keeps_two_nodes_healthy_and_a_third_with_another_is_offline_both_ways() {
    let dir = TempDir::new("auth-mesh");
    let nodes = nodes();
    let s1 = secret_file(dir.path(), "s1", "correct horse battery staple\n", 0o600);
    let s2 = secret_file(dir.path(), "s2", "zebra-other\n", 0o400);
    let mut daemons = Vec::new();
    for (i, secret) in [&s1, &s1, &s2].into_iter().enumerate() {
        let name = format!("node{}", i + 1);
        let text = format!(
            "secret_file = \"{}\"\n{}",
            secret.display(),
            config_text(&name, 200, 300, 3, &nodes)
        );
        let config = dir.path().join(format!("{name}.toml"));
        fs::write(&config, text).unwrap();
        daemons.push(Daemon::spawn(
            &name,
            &["run", "--config", config.to_str().unwrap()],
            dir.path(),
            dir.path(),
        ));
    }
    let logs = dir.path().join("logs");
    let counts = |whoami: &str, peer: &str| peer_counts(&read_node_logs(&logs, whoami), peer);
    wait_for(
        "every node to log its other-secret peers offline",
        DEADLINE,
        || {
            let done = counts("node1", "node3").contains(&3)
                && counts("node2", "node3").contains(&3)
                && counts("node3", "node1").contains(&3)
                && counts("node3", "node2").contains(&3);
            done.then_some(())
        },
    );
    // Ten more rounds: node1 and node2 still see each other.
    sleep(Duration::from_millis(2000));
    assert_eq!(counts("node1", "node2"), Vec::<u32>::new());
    assert_eq!(counts("node2", "node1"), Vec::<u32>::new());
    for d in &mut daemons {
        assert!(d.is_running(), "{} exited: {}", d.label, d.stderr());
    }
    let err3 = daemons[2].stderr();
    assert!(err3.contains("authentication failed"), "{err3}");
    assert!(
        err3.contains("handshakes authenticated with the secret in"),
        "{err3}"
    );
    let err1 = daemons[0].stderr();
    assert!(err1.contains("authentication failed"), "{err1}");
    // Reported once per peer and kind, not every round: 10+ rounds went by.
    let reports = err1.matches("authentication failed").count();
    assert!(reports <= 3, "{reports} reports:\n{err1}");
    for text in [&err1, &err3] {
        assert!(!text.contains("correct horse") && !text.contains("zebra-other"));
    }
    for d in &mut daemons {
        d.terminate_ok();
    }
}

#[test]
fn a_secret_file_readable_by_others_or_empty_is_refused() {
    let dir = TempDir::new("auth-mode");
    let nodes = nodes();
    for (content, mode, expect) in [
        ("s3cret\n", 0o644, "mode 0644"),
        ("s3cret\n", 0o660, "mode 0660"),
        ("\n", 0o600, "the secret is empty"),
    ] {
        let s = secret_file(dir.path(), "secret", content, mode);
        let text = format!(
            "secret_file = \"secret\"\n{}",
            config_text("node1", 200, 300, 3, &nodes)
        );
        let config = dir.path().join("mesh.toml");
        fs::write(&config, text).unwrap();
        for cmd in ["check-config", "run"] {
            let out = run_cli(&[cmd, "--config", config.to_str().unwrap()], dir.path());
            assert_eq!(out.code, Some(1), "{cmd}: {}", out.stderr);
            assert!(out.stderr.contains(expect), "{cmd}: {}", out.stderr);
            assert!(
                out.stderr.contains(&s.display().to_string()),
                "{}",
                out.stderr
            );
            assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
        }
        fs::remove_file(&s).unwrap();
    }
    // A good one: check-config says handshakes are authenticated, and never the secret.
    secret_file(dir.path(), "secret", "s3cret\n", 0o600);
    let config = dir.path().join("mesh.toml");
    let out = run_cli(
        &["check-config", "--config", config.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("(handshakes authenticated)"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"));
}
