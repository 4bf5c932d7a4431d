//! docs/development.md's Dependencies section against `cargo tree`: the crates linked into
//! the binary (`-e normal,no-proc-macro`), with their versions and licences, for the default
//! build, the router build (`--no-default-features --features auth`) and the build without
//! `auth`. A crate added, removed or updated fails here until that section says so; the
//! count the section states and the project's ceiling (17 with uptime-tracker itself) too.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The most crates (uptime-tracker included) the default build may link: issue 20.
const MAX_CRATES: usize = 17;

/// The file whose "## Dependencies" section lists the linked crates.
const DOC: &str = "docs/development.md";

/// name -> (version, licence)
type Crates = BTreeMap<String, (String, String)>;

fn tree(features: &[&str]) -> Crates {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal,no-proc-macro",
        ])
        .args(["--prefix", "none", "--format", "{p}|{l}", "--manifest-path"])
        .arg(Path::new(root).join("Cargo.toml"))
        .args(features)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree {features:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut crates = Crates::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        // "toml v1.2.2+spec-1.1.0|MIT OR Apache-2.0"; the root has " (path)" after its
        // version, a repeated crate " (*)".
        let (pkg, licence) = line.split_once('|').unwrap();
        let mut words = pkg.split_whitespace();
        let name = words.next().unwrap().to_string();
        let version = words.next().unwrap().trim_start_matches('v').to_string();
        crates.insert(name, (version, licence.trim().to_string()));
    }
    crates
}

/// The two tables of [`DOC`]'s "## Dependencies" section, and the count its first
/// sentence states.
fn listed() -> (Crates, usize) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC)).unwrap();
    let start = text
        .find("\n## Dependencies\n")
        .unwrap_or_else(|| panic!("{DOC} has a '## Dependencies' section"));
    let section = &text[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut crates = Crates::new();
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | crate | version | licence | why-or-by |
        if cells.len() < 5 || cells[1] == "crate" {
            continue;
        }
        let old = crates.insert(
            cells[1].to_string(),
            (cells[2].to_string(), cells[3].to_string()),
        );
        assert!(old.is_none(), "{DOC} lists {} twice", cells[1]);
    }
    let stated = section
        .split("Everything linked into the binary: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{DOC}'s Dependencies section states 'Everything linked into the binary: N crates'"
            )
        });
    (crates, stated)
}

fn diff(label: &str, want: &Crates, got: &Crates) -> Vec<String> {
    let mut errors = Vec::new();
    for (name, (version, licence)) in got {
        match want.get(name) {
            None => errors.push(format!(
                "{label}: {name} {version} ({licence}) is linked but not in {DOC}"
            )),
            Some(w) if w != &(version.clone(), licence.clone()) => errors.push(format!(
                "{label}: {DOC} says {name} {} ({}), cargo tree {version} ({licence})",
                w.0, w.1
            )),
            Some(_) => {}
        }
    }
    for name in want.keys().filter(|n| !got.contains_key(*n)) {
        errors.push(format!("{label}: {DOC} lists {name}, which is not linked"));
    }
    errors
}

#[test]
fn dependency_tables_are_the_linked_crates() {
    let (listed, stated) = listed();
    let default = tree(&[]);
    let root = default
        .get("uptime-tracker")
        .expect("cargo tree lists the package itself")
        .clone();
    let mut want = listed.clone();
    want.insert("uptime-tracker".into(), root);

    let mut errors = diff("default build", &want, &default);
    let router = tree(&["--no-default-features", "--features", "auth"]);
    errors.extend(diff("router build", &want, &router));
    let mut without_auth = want.clone();
    without_auth.remove("hmac-sha256");
    errors.extend(diff(
        "build without auth",
        &without_auth,
        &tree(&["--no-default-features"]),
    ));
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    assert_eq!(
        stated,
        listed.len(),
        "{DOC} says {stated} crates besides uptime-tracker; its tables list {}",
        listed.len()
    );
    assert!(
        default.len() <= MAX_CRATES,
        "the default build links {} crates, more than {MAX_CRATES}: {:?}",
        default.len(),
        default.keys().collect::<Vec<_>>()
    );
}
