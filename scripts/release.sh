#!/usr/bin/env bash
# Makes a release folder, everything a release holds (RELEASE.md; docs/install.md says how
# users verify and install each part), from the committed tree at HEAD:
#
#   uptime-tracker-<cpu>                  the router build (daemon + auth) per CPU: x86_64,
#                                         aarch64, armv7, mipsel, mips, riscv64 (cross.sh)
#   uptime-tracker-full-x86_64            the full build (simulate, report, demo)
#   uptime-tracker_<V>_<debarch>.deb      a Debian package per CPU (scripts/build-deb.sh)
#   uptime-tracker-<V>-oci.tar            the container image of every CPU, an OCI layout
#                                         (scripts/oci-image.py; podman load, skopeo)
#   uptime-tracker-<V>-packaging.tar.gz   packaging/ (systemd, sysusers, OpenWrt, logrotate,
#                                         Debian, LXC template), config.example.toml,
#                                         Dockerfile, LICENSE, README.md, RELEASE.md, docs/
#   uptime-tracker-<V>.cdx.json           the SBOM (CycloneDX: crates with versions, licences,
#                                         checksums from Cargo.lock; the standard library; musl)
#   THIRD-PARTY-NOTICES.txt               every linked part's licence text (scripts/sbom.py)
#   COPYRIGHT-library.html                the Rust standard library's notice (the toolchain's)
#   LICENSE, CHANGELOG.md                 this project's licence; its changes (this version's
#                                         entry must exist)
#   SHA256SUMS, SHA256SUMS.minisig        sums of all the above, signed (scripts/sign-sums.sh;
#                                         or SHA256SUMS.sig with SSH_SIGNING_KEY)
#
# Every binary carries its dependency list (cargo auditable: `cargo audit bin FILE`, syft, or
# scripts/dep-list.py FILE), checked here. Builds are reproducible (scripts/repro.sh checks).
#
# Usage: MINISIGN_SECRET_KEY=~/.minisign/uptime-tracker.key scripts/release.sh
#        scripts/release.sh --unsigned       (a dry run: no signature, dirty tree allowed)
# Output: T/dist/uptime-tracker-<V>/, T being $CARGO_TARGET_DIR or target/. About 20-30
# minutes on 2 cores (seven builds of std). Exit 0 when the folder is complete.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/release-tools.sh
. scripts/release-tools.sh
RT_NAME=release.sh
unsigned=""
[ "${1:-}" = --unsigned ] && unsigned=--unsigned

repo=$(pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
T=$(rt_target_root "$repo")
out="$T/dist/uptime-tracker-$version"
say() { echo "== release.sh: $*" >&2; }

# --- preconditions -------------------------------------------------------------------------
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  if [ -z "$unsigned" ]; then
    echo "release.sh: the tree has uncommitted changes; commit them (a release is HEAD)" >&2
    exit 1
  fi
  say "uncommitted changes (allowed with --unsigned: this is no release)"
fi
grep -q "^## \[$version\]" CHANGELOG.md || {
  echo "release.sh: CHANGELOG.md has no '## [$version]' entry" >&2
  exit 1
}
if [ "$(git tag --points-at HEAD)" != "v$version" ] && [ -z "$unsigned" ]; then
  say "HEAD is not tagged v$version yet (RELEASE.md: tag, then release, then push the tag)"
fi
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
export SOURCE_DATE_EPOCH
rt_need_all || {
  echo "release.sh: $RT_WHY" >&2
  exit 1
}
rt_need_deny || {
  echo "release.sh: $RT_WHY" >&2
  exit 1
}

say "policy: cargo deny check bans licenses sources (offline)"
cargo deny --offline check bans licenses sources
say "the README's dependency tables match cargo tree"
cargo test --release --locked --test dependencies -q

# --- binaries ------------------------------------------------------------------------------
say "building the binaries (scripts/cross.sh)"
scripts/cross.sh x86_64 aarch64 armv7 mipsel mips riscv64 full-x86_64
rm -rf "$out"
mkdir -p "$out"
for n in x86_64 aarch64 armv7 mipsel mips riscv64 full-x86_64; do
  cp "$T/cross/uptime-tracker-$n" "$out/uptime-tracker-$n"
  # The embedded dependency list names this version and the HMAC crate it links.
  deps=$(python3 scripts/dep-list.py "$out/uptime-tracker-$n") || exit 1
  grep -qx "uptime-tracker $version runtime" <<<"$deps" || {
    echo "release.sh: uptime-tracker-$n has no dependency list naming uptime-tracker $version" >&2
    exit 1
  }
done

# --- licences, SBOM ------------------------------------------------------------------------
sysroot=$(rustup run "$NIGHTLY" rustc --print sysroot)
rt_need_zig
python3 scripts/sbom.py "$repo" "$version" "$NIGHTLY" "$sysroot" "$MUSL_VERSION" \
  "$ZIG_DIR/lib/libc/musl/COPYRIGHT" "$ZIGLANG_VERSION" \
  "$out/uptime-tracker-$version.cdx.json" "$out/THIRD-PARTY-NOTICES.txt"
grep -q "^#define VERSION \"$MUSL_VERSION\"" "$ZIG_DIR/lib/libc/musl/src/internal/version.h" || {
  echo "release.sh: zig $ZIGLANG_VERSION does not ship musl $MUSL_VERSION: update MUSL_VERSION" >&2
  exit 1
}
cp "$sysroot/share/doc/rust/COPYRIGHT-library.html" "$out/COPYRIGHT-library.html"
cp LICENSE CHANGELOG.md "$out/"

# --- packages ------------------------------------------------------------------------------
declare -A debarch=([x86_64]=amd64 [aarch64]=arm64 [armv7]=armhf [mipsel]=mipsel [mips]=mips [riscv64]=riscv64)
declare -A ociarch=([x86_64]=amd64 [aarch64]=arm64 [armv7]=arm [mipsel]=mipsle [mips]=mips [riscv64]=riscv64)
for n in x86_64 aarch64 armv7 mipsel mips riscv64; do
  scripts/build-deb.sh "$out/uptime-tracker-$n" "${debarch[$n]}" "$version" "$out" \
    "$out/THIRD-PARTY-NOTICES.txt" >/dev/null
done
oci="$T/dist/oci-$version"
rm -rf "$oci"
args=()
for n in x86_64 aarch64 armv7 mipsel mips riscv64; do args+=("${ociarch[$n]}=$out/uptime-tracker-$n"); done
python3 scripts/oci-image.py "$oci" "$version" "${args[@]}"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  -C "$oci" -cf "$out/uptime-tracker-$version-oci.tar" oci-layout index.json blobs
git archive --format=tar --prefix="uptime-tracker-$version/" HEAD \
  packaging config.example.toml Dockerfile LICENSE README.md RELEASE.md CHANGELOG.md docs |
  gzip -n -9 >"$out/uptime-tracker-$version-packaging.tar.gz"

# --- sums and signature --------------------------------------------------------------------
scripts/sign-sums.sh "$out" $unsigned
say "done: $out"
ls -l "$out"
