//! The OCI image (scripts/oci-image.py: the Dockerfile's image, written without a Docker
//! daemon) read back by a packaged OCI tool, umoci (Debian): it checks every blob's digest
//! as it unpacks the image into a runtime bundle; the bundle's config must run the binary
//! as the Dockerfile does, and the binary must run alone in that root file system
//! (`chroot --userspec=10001:10001 ROOTFS /uptime-tracker check-config`: nothing else is
//! in the image). Two writes of the same binaries give the same digests (reproducible).
//!
//! Needs python3, umoci (apt-get install umoci) and root (chroot); without them SKIPPED,
//! a failure under CI=true. Costs about 2 s, plus the static binary's build when .ci/run
//! has not made it.

mod common;
mod release_common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{IP1, IP2, NodeSpec, TempDir, config_text};
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

fn write_image(dir: &Path, binary: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/oci-image.py");
    let out = run(Command::new("python3")
        .arg(script)
        .arg(dir)
        .arg("9.9.9")
        .arg(format!("amd64={}", binary.display()))
        .arg(format!("arm64={}", binary.display()))
        .env("SOURCE_DATE_EPOCH", "1700000000"));
    assert!(out.status.success(), "oci-image.py failed");
}

#[test]
fn oci_image_unpacks_with_umoci_and_its_binary_runs_alone() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("the chroot needs root");
    }
    for tool in ["python3", "umoci", "chroot"] {
        if !have(tool) {
            return skip(&format!("{tool} is not installed (apt-get install umoci)"));
        }
    }
    let binary = match static_binary() {
        Ok(b) => b,
        Err(why) => return skip(&why),
    };
    let tmp = TempDir::new("oci");
    let (image, again) = (tmp.path().join("image"), tmp.path().join("again"));
    write_image(&image, &binary);
    write_image(&again, &binary);
    assert_eq!(
        fs::read(image.join("index.json")).unwrap(),
        fs::read(again.join("index.json")).unwrap(),
        "two writes of the same binaries differ"
    );

    let out = run(Command::new("umoci").args(["ls", "--layout"]).arg(&image));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "9.9.9\n9.9.9-amd64\n9.9.9-arm64\n"
    );
    let bundle = tmp.path().join("bundle");
    let out = run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:9.9.9-amd64", image.display()))
        .arg(&bundle));
    assert!(out.status.success(), "umoci unpack failed");

    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let process = &config["process"];
    assert_eq!(
        process["args"],
        serde_json::json!(["/uptime-tracker", "run", "--config", "/config/config.toml"])
    );
    assert_eq!(process["user"]["uid"], 10001);
    assert_eq!(process["user"]["gid"], 10001);

    let rootfs = bundle.join("rootfs");
    let mut entries: Vec<String> = fs::read_dir(&rootfs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        ["logs", "uptime-tracker"],
        "the image holds more than the binary"
    );
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(fs::metadata(rootfs.join("logs")).unwrap().uid(), 10001);

    // The binary alone in the image's file system, as the image's user: a config mounted
    // at /config (here: written there) with log_folder "/logs", as the Dockerfile says.
    fs::create_dir_all(rootfs.join("config")).unwrap();
    let nodes = [
        NodeSpec {
            name: "a".into(),
            ip: IP1,
            port: 7100,
        },
        NodeSpec {
            name: "b".into(),
            ip: IP2,
            port: 7100,
        },
    ];
    let text = config_text("a", 1000, 1500, 3, &nodes)
        .replace("log_folder = \"logs\"", "log_folder = \"/logs\"");
    fs::write(rootfs.join("config/config.toml"), text).unwrap();
    let out = run(Command::new("chroot")
        .arg("--userspec=10001:10001")
        .arg(&rootfs)
        .args([
            "/uptime-tracker",
            "check-config",
            "--config",
            "/config/config.toml",
        ]));
    assert!(
        out.status.success(),
        "check-config in the image's root failed"
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("config ok"));
}
