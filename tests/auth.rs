//! Authenticated handshakes with the real binary: two nodes sharing a secret stay healthy
//! while a third with another secret is offline both ways; secret files that others may
//! read or change, that are too short, not regular files or owned by someone else are
//! refused, a FIFO at once; a symlink to a good file is taken. (Engine-level cases,
//! replays included, are in src/mesh/auth_tests.rs.)
#![cfg(feature = "auth")]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

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
    let s1 = secret_file(
        dir.path(),
        "s1",
        "correct horse battery staple, twice over\n",
        0o600,
    );
    // 20 bytes: taken, with a warning.
    let s2 = secret_file(dir.path(), "s2", "zebra-other-secret-2\n", 0o400);
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
    assert!(
        err3.contains("the secret is 20 bytes; 32 or more random bytes are recommended"),
        "{err3}"
    );
    assert!(!daemons[0].stderr().contains("recommended"));
    let err1 = daemons[0].stderr();
    assert!(err1.contains("authentication failed"), "{err1}");
    // Reported once per peer and kind, not every round: 10+ rounds went by.
    let reports = err1.matches("authentication failed").count();
    assert!(reports <= 3, "{reports} reports:\n{err1}");
    for text in [&err1, &err3] {
        assert!(!text.contains("correct horse") && !text.contains("zebra-other"));
    }
    // The listener never proved anything to the caller with the other secret: it says
    // so in words that blame neither side.
    assert!(
        err1.contains("(as peer node3) closed: authentication failed: its proof does not match"),
        "{err1}"
    );
    assert!(!err1.contains("refused our proof"), "{err1}");
    for d in &mut daemons {
        d.terminate_ok();
    }
}

const GOOD: &str = "0123456789abcdef0123456789abcdef\n";

/// `check-config` and `run` both refuse node1's config with `secret`, saying `expect` and
/// naming the file, never the secret; returns how long `check-config` took.
fn refused(dir: &Path, secret: &Path, expect: &str) -> Duration {
    let nodes = nodes();
    let text = format!(
        "secret_file = \"{}\"\n{}",
        secret.display(),
        config_text("node1", 200, 300, 3, &nodes)
    );
    let config = dir.join("mesh.toml");
    fs::write(&config, text).unwrap();
    let mut took = Duration::ZERO;
    for cmd in ["check-config", "run"] {
        let started = Instant::now();
        let out = run_cli(&[cmd, "--config", config.to_str().unwrap()], dir);
        if cmd == "check-config" {
            took = started.elapsed();
        }
        assert_eq!(out.code, Some(1), "{cmd}: {}", out.stderr);
        assert!(out.stderr.contains(expect), "{cmd}: {}", out.stderr);
        assert!(
            out.stderr.contains(&secret.display().to_string()),
            "{}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("s3cret") && !out.stderr.contains("0123456789"),
            "{}",
            out.stderr
        );
    }
    took
}

/// `check-config` takes node1's config with `secret`; returns its stdout and stderr.
fn taken(dir: &Path, secret: &Path) -> String {
    let nodes = nodes();
    let text = format!(
        "secret_file = \"{}\"\n{}",
        secret.display(),
        config_text("node1", 200, 300, 3, &nodes)
    );
    let config = dir.join("mesh.toml");
    fs::write(&config, text).unwrap();
    let out = run_cli(&["check-config", "--config", config.to_str().unwrap()], dir);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("(handshakes authenticated)"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("0123456789") && !out.stderr.contains("0123456789"));
    format!("{}{}", out.stdout, out.stderr)
}

#[test]
fn secret_files_others_may_read_or_that_are_empty_or_short_are_refused() {
    let dir = TempDir::new("auth-mode");
    for (content, mode, expect) in [
        ("s3cret-s3cret-s3cret\n", 0o644, "mode 0644"),
        ("s3cret-s3cret-s3cret\n", 0o660, "mode 0660"),
        ("s3cret-s3cret-s3cret\n", 0o700, "mode 0700"),
        ("\n", 0o600, "the secret is empty"),
        (
            "s3cret\n",
            0o600,
            "the secret is 6 bytes; at least 16 are needed",
        ),
        (
            "s3cret-s3cret-1\n",
            0o600,
            "the secret is 15 bytes; at least 16 are needed",
        ),
    ] {
        let s = secret_file(dir.path(), "secret", content, mode);
        refused(dir.path(), &s, expect);
        fs::remove_file(&s).unwrap();
    }
    // 16 bytes: taken, with a warning naming the length.
    let s = secret_file(dir.path(), "secret", "s3cret-s3cret-16\n", 0o600);
    let said = taken(dir.path(), &s);
    assert!(
        said.contains("the secret is 16 bytes; 32 or more"),
        "{said}"
    );
    fs::remove_file(&s).unwrap();
    // 32: taken without a word.
    let s = secret_file(dir.path(), "secret", GOOD, 0o600);
    let said = taken(dir.path(), &s);
    assert!(!said.contains("recommended"), "{said}");
}

#[test]
fn a_fifo_is_refused_at_once_a_symlink_to_a_good_file_is_taken_and_the_owner_is_checked() {
    let dir = TempDir::new("auth-kind");
    // A FIFO: opening it for reading used to wait for a writer, for ever.
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let took = refused(dir.path(), &fifo, "a FIFO; it must be a regular file");
    eprintln!("FIFO refused by check-config in {} ms", took.as_millis());
    assert!(took < Duration::from_secs(1), "{took:?}");
    // A Kubernetes-style mount: secret -> ..data/secret, ..data -> ..2026_01_01/.
    let real = dir.path().join("..2026_01_01");
    fs::create_dir(&real).unwrap();
    secret_file(&real, "secret", GOOD, 0o400);
    std::os::unix::fs::symlink("..2026_01_01", dir.path().join("..data")).unwrap();
    let link = dir.path().join("secret");
    std::os::unix::fs::symlink("..data/secret", &link).unwrap();
    taken(dir.path(), &link);
    // A symlink to a file others may read is refused as that file would be.
    fs::set_permissions(real.join("secret"), fs::Permissions::from_mode(0o644)).unwrap();
    refused(dir.path(), &link, "mode 0644");
    // Owned by another user (not root): anyone who is that user could change it.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let why = "the owner check needs root (to chown a file to another user)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED: {why}");
        return;
    }
    let other = secret_file(dir.path(), "other", GOOD, 0o600);
    std::os::unix::fs::chown(&other, Some(65534), Some(65534)).unwrap();
    refused(
        dir.path(),
        &other,
        "owned by uid 65534; it must belong to the user",
    );
    // Owned by root while running as root: taken (root-owned mounts are the usual case).
    std::os::unix::fs::chown(&other, Some(0), Some(0)).unwrap();
    taken(dir.path(), &other);
}
