//! scripts/sign-sums.sh with throwaway keys, and the verification commands
//! docs/install.md gives users: minisign (`minisign -Vm SHA256SUMS -p minisign.pub`) and
//! `ssh-keygen -Y verify`, then `sha256sum -c SHA256SUMS`. A changed file or a changed
//! SHA256SUMS must fail. Needs minisign (apt-get install minisign) and ssh-keygen; without
//! them SKIPPED, a failure under CI=true. Costs well under a second.

mod common;
mod release_common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::TempDir;
use release_common::{have, skip};

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

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sign-sums.sh")
}

fn release_dir(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("uptime-tracker-9.9.9");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("uptime-tracker-x86_64"), b"\x7fELF pretend binary").unwrap();
    fs::write(dir.join("uptime-tracker-9.9.9.cdx.json"), b"{}").unwrap();
    dir
}

fn sums_ok(dir: &Path) -> bool {
    run(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir))
    .status
    .success()
}

#[test]
fn minisign_signature_verifies_and_catches_changes() {
    if !have("minisign") {
        return skip("minisign is not installed (apt-get install minisign)");
    }
    let tmp = TempDir::new("sign-minisign");
    let (public, secret) = (
        tmp.path().join("minisign.pub"),
        tmp.path().join("minisign.key"),
    );
    // -W: a key without a password, for this test only.
    assert!(
        run(Command::new("minisign")
            .arg("-GW")
            .arg("-p")
            .arg(&public)
            .arg("-s")
            .arg(&secret))
        .status
        .success()
    );
    let dir = release_dir(tmp.path());
    // Keys named relative to where the script starts (it works inside the folder).
    let out = run(Command::new("bash")
        .arg(script())
        .arg(&dir)
        .current_dir(tmp.path())
        .env("MINISIGN_SECRET_KEY", "minisign.key")
        .env("MINISIGN_PUBLIC_KEY", "minisign.pub"));
    assert!(out.status.success(), "sign-sums.sh failed");
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 2, "{sums}");

    let verify = |dir: &Path| {
        run(Command::new("minisign")
            .args(["-Vm", "SHA256SUMS", "-p"])
            .arg(&public)
            .current_dir(dir))
        .status
        .success()
    };
    assert!(verify(&dir) && sums_ok(&dir));
    // A binary replaced: the signature still holds, the sums do not.
    fs::write(dir.join("uptime-tracker-x86_64"), b"\x7fELF another").unwrap();
    assert!(verify(&dir) && !sums_ok(&dir));
    // SHA256SUMS rewritten to match it: the signature fails.
    let forged = run(Command::new("sha256sum")
        .args(["uptime-tracker-9.9.9.cdx.json", "uptime-tracker-x86_64"])
        .current_dir(&dir))
    .stdout;
    fs::write(dir.join("SHA256SUMS"), forged).unwrap();
    assert!(sums_ok(&dir) && !verify(&dir));
}

#[test]
fn ssh_signature_verifies_and_catches_changes() {
    if !have("ssh-keygen") {
        return skip("ssh-keygen is not installed (apt-get install openssh-client)");
    }
    let tmp = TempDir::new("sign-ssh");
    let key = tmp.path().join("release_ed25519");
    assert!(
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "release", "-f"])
            .arg(&key))
        .status
        .success()
    );
    let public = fs::read_to_string(key.with_extension("pub")).unwrap();
    let signers = tmp.path().join("allowed_signers");
    fs::write(&signers, format!("release@uptime-tracker {public}")).unwrap();
    let dir = release_dir(tmp.path());
    let out = run(Command::new("bash")
        .arg(script())
        .arg(&dir)
        .env("SSH_SIGNING_KEY", &key)
        .env("SSH_ALLOWED_SIGNERS", &signers)
        .env("SSH_SIGNER_IDENTITY", "release@uptime-tracker"));
    assert!(out.status.success(), "sign-sums.sh failed");
    let verify = |dir: &Path| {
        let sums = fs::File::open(dir.join("SHA256SUMS")).unwrap();
        run(Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&signers)
            .args([
                "-I",
                "release@uptime-tracker",
                "-n",
                "uptime-tracker-release",
            ])
            .args(["-s", "SHA256SUMS.sig"])
            .stdin(sums)
            .current_dir(dir))
        .status
        .success()
    };
    assert!(verify(&dir) && sums_ok(&dir));
    let mut sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    sums.push_str("0000000000000000000000000000000000000000000000000000000000000000  extra\n");
    fs::write(dir.join("SHA256SUMS"), sums).unwrap();
    assert!(!verify(&dir));
}

#[test]
fn no_key_is_refused_unless_unsigned() {
    let tmp = TempDir::new("sign-none");
    let dir = release_dir(tmp.path());
    let out = run(Command::new("bash")
        .arg(script())
        .arg(&dir)
        .env_remove("MINISIGN_SECRET_KEY")
        .env_remove("SSH_SIGNING_KEY"));
    assert_eq!(out.status.code(), Some(2));
    let out = run(Command::new("bash")
        .arg(script())
        .arg(&dir)
        .arg("--unsigned"));
    assert!(out.status.success() && sums_ok(&dir));
    assert!(!dir.join("SHA256SUMS.minisig").exists());
}
