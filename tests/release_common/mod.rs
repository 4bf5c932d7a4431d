//! What the release tests (tests/lxc.rs, tests/oci.rs) share: skipping where a tool is
//! missing (a failure under CI=true), and a static binary to put into a container.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Prints `SKIPPED: why`, or panics with it when CI is set (.ci/run installs the tools).
pub fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{why} (CI is set: .ci/run installs what this test needs)");
    }
    println!("SKIPPED: {why}");
}

/// Whether `program --version` (or `--help`) runs.
pub fn have(program: &str) -> bool {
    ["--version", "--help"]
        .iter()
        .any(|flag| Command::new(program).arg(flag).output().is_ok())
}

/// A static x86_64 (musl) router build for a container with no C library: the file in
/// $UPTIME_TRACKER_STATIC when set (.ci/run builds it once, with `cargo auditable`), else
/// built here with stable's prebuilt musl std (`cargo build --release --locked --target
/// x86_64-unknown-linux-musl --no-default-features --features auth`, through `cargo
/// auditable` where it is installed; about a minute the first time) into the target
/// folder's `static-test/`. Err with the reason when it cannot be had (the musl target not
/// installed: `rustup target add x86_64-unknown-linux-musl`).
pub fn static_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("UPTIME_TRACKER_STATIC") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("UPTIME_TRACKER_STATIC={} is no file", p.display()))
        };
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { repo.join(t) })
        .unwrap_or_else(|| repo.join("target"));
    let dir = target_root.join("static-test");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    // What `cargo test` set for this test (CARGO_PKG_*, CARGO_MANIFEST_DIR, ...) is not for
    // the build of another target.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" {
            cmd.env_remove(&key);
        }
    }
    if have("cargo-auditable") {
        cmd.arg("auditable");
    }
    let out = cmd
        .current_dir(repo)
        .args(["build", "--release", "--locked"])
        .args([
            "--target",
            "x86_64-unknown-linux-musl",
            "--no-default-features",
        ])
        .args(["--features", "auth", "--target-dir"])
        .arg(&dir)
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot build a static binary (rustup target add x86_64-unknown-linux-musl?): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| l.contains("error"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    Ok(dir.join("x86_64-unknown-linux-musl/release/uptime-tracker"))
}
