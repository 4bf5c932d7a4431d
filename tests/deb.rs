//! The Debian package (scripts/build-deb.sh, packaging/debian/) installed for real with
//! `dpkg -i`, into a root of its own: `dpkg --root=DIR` with the admin folder and the log
//! inside DIR, and `--force-script-chrootless` so that the maintainer scripts run (with
//! DPKG_ROOT=DIR, which they honour) without a shell inside DIR. Nothing of the host's
//! dpkg database, log or users is touched, and no chroot is needed (a chroot would need a
//! whole Debian base system inside for the maintainer scripts' /bin/sh).
//!
//! Then `uptime-tracker check-config` from the installed files, the conffiles kept across
//! a reinstall and a remove, removed by a purge. Needs dpkg and dpkg-deb (Debian, or
//! `apt-get install dpkg`); without them it prints SKIPPED, and fails under CI=true.
//! Costs about 2 s (xz of the binary).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{why} (CI is set: .ci/run installs it)");
    }
    println!("SKIPPED: {why}");
}

fn have(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    println!(
        "$ {cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

struct Root(PathBuf);

impl Root {
    fn new() -> Root {
        let dir = std::env::temp_dir().join(format!("ut-deb-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        fs::write(dir.join("var/lib/dpkg/status"), "").unwrap();
        Root(dir)
    }

    fn dpkg(&self, args: &[&str]) -> Output {
        let r = &self.0;
        run(Command::new("dpkg")
            .arg(format!("--root={}", r.display()))
            .arg(format!("--admindir={}", r.join("var/lib/dpkg").display()))
            .arg(format!("--log={}", r.join("var/log/dpkg.log").display()))
            .arg("--force-script-chrootless")
            .args(args))
    }

    fn status(&self) -> String {
        let out = Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                self.0.join("var/lib/dpkg").display()
            ))
            .args(["-W", "-f", "${Status} ${Version}", "uptime-tracker"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn dpkg_installs_the_package_and_check_config_runs_from_it() {
    for tool in ["dpkg", "dpkg-deb", "dpkg-query"] {
        if !have(tool) {
            return skip(&format!("{tool} is not installed (apt-get install dpkg)"));
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = Root::new();
    let out_dir = root.path("out");
    let version = env!("CARGO_PKG_VERSION");
    let built = run(Command::new("bash")
        .arg(repo.join("scripts/build-deb.sh"))
        .arg(env!("CARGO_BIN_EXE_uptime-tracker"))
        .args(["amd64", version])
        .arg(&out_dir));
    assert!(built.status.success(), "build-deb.sh failed");
    let deb = String::from_utf8(built.stdout).unwrap().trim().to_string();
    assert!(
        deb.ends_with(&format!("uptime-tracker_{version}_amd64.deb")),
        "{deb}"
    );

    // dpkg -i
    let out = root.dpkg(&["-i", &deb]);
    assert!(out.status.success(), "dpkg -i failed");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("edit /etc/uptime-tracker/config.toml"),
        "the postinst's first-install hint is missing"
    );
    assert_eq!(root.status(), format!("install ok installed {version}"));
    let unit =
        fs::read_to_string(root.path("usr/lib/systemd/system/uptime-tracker.service")).unwrap();
    assert!(unit.contains(
        "\nExecStart=/usr/bin/uptime-tracker run --config /etc/uptime-tracker/config.toml\n"
    ));
    assert!(
        root.path("usr/lib/sysusers.d/uptime-tracker.conf")
            .is_file()
    );
    assert!(root.path("etc/logrotate.d/uptime-tracker").is_file());
    assert!(
        root.path("usr/share/doc/uptime-tracker/copyright")
            .is_file()
    );

    // check-config from the installed binary on the installed config (the sample: valid)
    let config = root.path("etc/uptime-tracker/config.toml");
    let out = run(Command::new(root.path("usr/bin/uptime-tracker"))
        .args(["check-config", "--config"])
        .arg(&config));
    assert!(out.status.success(), "check-config failed");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("config ok"));

    // A conffile the operator edited survives a reinstall and a remove; a purge removes it.
    let mut edited = fs::read_to_string(&config).unwrap();
    edited.push_str("# edited by the operator\n");
    fs::write(&config, &edited).unwrap();
    assert!(root.dpkg(&["--force-confold", "-i", &deb]).status.success());
    assert_eq!(fs::read_to_string(&config).unwrap(), edited);
    assert!(root.dpkg(&["--remove", "uptime-tracker"]).status.success());
    assert!(!root.path("usr/bin/uptime-tracker").exists());
    assert_eq!(fs::read_to_string(&config).unwrap(), edited);
    assert_eq!(
        root.status(),
        format!("deinstall ok config-files {version}")
    );
    assert!(root.dpkg(&["--purge", "uptime-tracker"]).status.success());
    assert!(!config.exists(), "purge left the conffile");
}
