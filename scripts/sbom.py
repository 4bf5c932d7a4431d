#!/usr/bin/env python3
"""The release's bill of materials and third-party notice (issue 20), from the sources.

Writes, for what the static binaries link:
  * a CycloneDX 1.5 JSON SBOM: uptime-tracker, every crate `cargo tree -e
    normal,no-proc-macro` lists for the router and the full build (name, version, licence
    expression, purl, and the SHA-256 of the .crate file from Cargo.lock), the Rust standard
    library built from source by -Z build-std (its crates.io crates as cargo resolves std's
    workspace for the x86_64 target, with the checksums of rust-src's vendored copies), and
    musl, the C library zig links (version and licence);
  * THIRD-PARTY-NOTICES.txt: the same list, then every licence file each crate ships, and
    musl's COPYRIGHT. The standard library's own notice (COPYRIGHT-library.html of the
    toolchain) is copied beside it by scripts/release.sh.

Usage: sbom.py REPO VERSION NIGHTLY SYSROOT MUSL_VERSION MUSL_COPYRIGHT ZIG_VERSION SBOM NOTICES
Reads nothing from the network (cargo runs --offline --locked). Deterministic: the
timestamp is SOURCE_DATE_EPOCH and every list is sorted.
"""

import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import uuid

BUILDS = {
    "router": ["--no-default-features", "--features", "auth"],
    "full": [],
}


def cargo(args, cwd, toolchain=None):
    cmd = ["cargo"] + ([f"+{toolchain}"] if toolchain else []) + args
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def linked(repo):
    """name -> {version, licence, builds} for the crates each build links."""
    crates = {}
    for build, features in BUILDS.items():
        out = cargo(["tree", "--locked", "--offline", "-e", "normal,no-proc-macro",
                     "--target", "x86_64-unknown-linux-musl",
                     "--prefix", "none", "--format", "{p}|{l}"] + features, repo)
        for line in out.splitlines():
            pkg, lic = line.split("|", 1)
            words = pkg.split()
            name, version = words[0], words[1].lstrip("v")
            if name == "uptime-tracker":
                continue
            c = crates.setdefault(name, {"version": version,
                                         "licence": lic.replace(" (*)", "").strip(),
                                         "builds": set()})
            c["builds"].add(build)
    return crates


def lock_checksums(lockfile):
    """(name, version) -> sha256 of the .crate, from a Cargo.lock."""
    sums, name, version, in_package = {}, None, None, False
    for line in pathlib.Path(lockfile).read_text().splitlines():
        if line.startswith("["):
            in_package = line == "[[package]]"
            name = version = None
        elif not in_package:
            continue
        elif line.startswith("name = "):
            name = line.split('"')[1]
        elif line.startswith("version = "):
            version = line.split('"')[1]
        elif line.startswith("checksum = "):
            sums[(name, version)] = line.split('"')[1]
    return sums


def manifest_dirs(repo):
    """(name, version) -> the crate's source folder, from cargo metadata."""
    meta = json.loads(cargo(["metadata", "--locked", "--offline", "--format-version", "1",
                             "--all-features"], repo))
    return {(p["name"], p["version"]): pathlib.Path(p["manifest_path"]).parent
            for p in meta["packages"]}


def std_crates(nightly, sysroot):
    """The standard library's crates.io crates for x86_64 musl (rust-src's vendored copies)."""
    library = pathlib.Path(sysroot) / "lib/rustlib/src/rust/library"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = pathlib.Path(tmp) / "vendored.toml"
        cfg.write_text('[source.crates-io]\nreplace-with = "vendored"\n'
                       f'[source.vendored]\ndirectory = "{library / "vendor"}"\n')
        env = dict(os.environ, __CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS="nightly")
        out = subprocess.run(
            ["cargo", f"+{nightly}", "tree", "--config", str(cfg), "--manifest-path",
             str(library / "Cargo.toml"), "-p", "std", "-e", "normal,no-proc-macro",
             "--target", "x86_64-unknown-linux-musl", "--offline", "--prefix", "none",
             "--format", "{p}|{l}"],
            check=True, capture_output=True, text=True, env=env).stdout
    crates = {}
    for line in out.splitlines():
        pkg, lic = line.split("|", 1)
        words = pkg.split()
        if len(words) > 2 and words[2].startswith("("):
            continue  # a crate of the standard library itself (core, alloc, std, ...)
        name, version = words[0], words[1].lstrip("v")
        vdir = library / "vendor" / f"{name}-{version}"
        checksum = json.loads((vdir / ".cargo-checksum.json").read_text()).get("package")
        crates[name] = {"version": version, "licence": lic.replace(" (*)", "").strip(),
                        "checksum": checksum, "dir": vdir}
    return crates


def licence_files(folder):
    names = sorted(p for p in pathlib.Path(folder).iterdir()
                   if p.is_file() and p.name.upper().startswith(("LICENSE", "LICENCE", "COPYING", "COPYRIGHT", "NOTICE")))
    return names


def component(name, version, licence, checksum, purl, description=None):
    licence = licence.replace("/", " OR ")  # the old "MIT/Apache-2.0" form is no SPDX expression
    c = {"type": "library", "bom-ref": purl, "name": name, "version": version,
         "licenses": [{"expression": licence}], "purl": purl}
    if checksum:
        c["hashes"] = [{"alg": "SHA-256", "content": checksum}]
    if description:
        c["description"] = description
    return c


def main():
    (repo, version, nightly, sysroot, musl_version, musl_copyright, zig_version,
     sbom_path, notices_path) = sys.argv[1:10]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    crates = linked(repo)
    sums = lock_checksums(pathlib.Path(repo) / "Cargo.lock")
    dirs = manifest_dirs(repo)
    std = std_crates(nightly, sysroot)
    rustc = subprocess.run(["rustc", f"+{nightly}", "--version"], check=True,
                           capture_output=True, text=True).stdout.strip()

    components = []
    for name in sorted(crates):
        c = crates[name]
        builds = " and ".join(sorted(c["builds"]))
        components.append(component(name, c["version"], c["licence"],
                                    sums.get((name, c["version"])),
                                    f"pkg:cargo/{name}@{c['version']}",
                                    f"linked into the {builds} build"))
    components.append(component("rust-std", nightly, "MIT OR Apache-2.0", None,
                                f"pkg:generic/rust-std@{nightly}",
                                f"the Rust standard library (core, alloc, std, panic_abort, "
                                f"compiler_builtins), built from source by {rustc}"))
    for name in sorted(std):
        c = std[name]
        components.append(component(name, c["version"], c["licence"], c["checksum"],
                                    f"pkg:cargo/{name}@{c['version']}",
                                    "linked as part of the Rust standard library"))
    components.append(component("musl", musl_version, "MIT", None,
                                f"pkg:generic/musl@{musl_version}",
                                f"the C library, statically linked; from zig {zig_version} "
                                "(PyPI ziglang), lib/libc/musl"))

    root_ref = f"pkg:cargo/uptime-tracker@{version}"
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        # Derived from the content, so two runs over the same sources give the same file.
        "serialNumber": "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, root_ref + "|" + json.dumps(components, sort_keys=True))),
        "version": 1,
        "metadata": {
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "scripts/sbom.py"}]},
            "component": {"type": "application", "bom-ref": root_ref, "name": "uptime-tracker",
                          "version": version, "licenses": [{"expression": "MIT"}],
                          "purl": root_ref},
        },
        "components": components,
        "dependencies": [{"ref": root_ref, "dependsOn": [c["bom-ref"] for c in components]}],
    }
    pathlib.Path(sbom_path).write_text(json.dumps(bom, indent=2) + "\n")

    out = [f"uptime-tracker {version}: third-party notices",
           "",
           "uptime-tracker is MIT-licensed (LICENSE). Its static binaries also contain the",
           "software below; each part's licence follows. The Rust standard library's full",
           "notice is COPYRIGHT-library.html beside this file (from the toolchain, " + rustc + ").",
           "",
           "Linked crates (cargo tree -e normal,no-proc-macro; router and full builds):"]
    for name in sorted(crates):
        c = crates[name]
        out.append(f"  {name} {c['version']}  ({c['licence']})  [{', '.join(sorted(c['builds']))}]")
    out.append("Crates.io crates inside the Rust standard library as built here:")
    for name in sorted(std):
        out.append(f"  {name} {std[name]['version']}  ({std[name]['licence']})")
    out.append(f"musl {musl_version}  (MIT), the C library, through zig {zig_version}")
    seen = {}
    for name in sorted(crates):
        c = crates[name]
        folder = dirs.get((name, c["version"]))
        out += ["", "=" * 78, f"{name} {c['version']} ({c['licence']})", "=" * 78]
        files = licence_files(folder) if folder else []
        if not files:
            sys.exit(f"sbom.py: {name} {c['version']} ships no licence file in {folder}")
        for f in files:
            text = f.read_text(errors="replace").rstrip()
            # Apache-2.0's text is the same in most crates: print it once.
            key = text if "Apache License" in text[:200] else None
            if key and key in seen:
                out += ["", f"--- {f.name}: the same text as {seen[key]}'s above"]
                continue
            if key:
                seen[key] = f"{name} {f.name}"
            out += ["", f"--- {f.name}", "", text]
    for name in sorted(std):
        c = std[name]
        out += ["", "=" * 78, f"{name} {c['version']} ({c['licence']}), in the Rust standard library", "=" * 78]
        for f in licence_files(c["dir"]):
            text = f.read_text(errors="replace").rstrip()
            key = text if "Apache License" in text[:200] else None
            if key and key in seen:
                out += ["", f"--- {f.name}: the same text as {seen[key]}'s above"]
                continue
            if key:
                seen[key] = f"{name} {f.name}"
            out += ["", f"--- {f.name}", "", text]
    out += ["", "=" * 78, f"musl {musl_version} (MIT)", "=" * 78, "",
            pathlib.Path(musl_copyright).read_text(errors="replace").rstrip(), ""]
    pathlib.Path(notices_path).write_text("\n".join(out))


if __name__ == "__main__":
    main()
