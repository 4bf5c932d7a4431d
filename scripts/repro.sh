#!/usr/bin/env bash
# Checks that a release binary is reproducible: builds it twice, from two copies of the
# source in two different folders (different depths and names), with two different target
# folders and cargo homes at different paths, and compares the two byte for byte. The
# recipe and the pinned toolchain are scripts/release-tools.sh's (as scripts/cross.sh
# builds releases): SOURCE_DATE_EPOCH, --remap-path-prefix of the source, cargo's home,
# the target folder and the toolchain.
#
# Usage: scripts/repro.sh [NAME]   (default: x86_64, the x86_64 router build; cross.sh's names)
# The source is the working tree's tracked files (uncommitted changes included:
# `git stash create`), copied with `git archive`. Prints both SHA-256 sums, then
# "REPRODUCIBLE" (exit 0) or "DIFFERENT" with the first differing bytes (exit 1); exit 3
# with SKIPPED when a tool cannot be had. 4 to 8 minutes on 2 cores (two builds of std);
# not part of .ci/run (RELEASE.md's checklist runs it). The build folders are removed at
# exit unless REPRO_KEEP=1.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=scripts/release-tools.sh
. scripts/release-tools.sh
RT_NAME=repro.sh
name=${1:-x86_64}
rt_rust_target "$name" >/dev/null || {
  echo "unknown name $name" >&2
  exit 2
}

if ! rt_need_all; then
  echo "SKIPPED: $RT_WHY"
  exit 3
fi

work=$(mktemp -d /tmp/ut-repro.XXXXXX)
# shellcheck disable=SC2317,SC2329 # run by the EXIT trap
cleanup() { [ "${REPRO_KEEP:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT

rev=$(git stash create 2>/dev/null)
rev=${rev:-HEAD}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
export SOURCE_DATE_EPOCH
home=${CARGO_HOME:-$HOME/.cargo}

# Build A: the usual cargo home. Build B: another path to the same crates (symlinks), so
# the crates' sources are compiled from a different folder without downloading them again.
src_a="$work/a/uptime-tracker"
src_b="$work/second/build/tree-b"
mkdir -p "$src_a" "$src_b" "$work/cargo-b"
git archive "$rev" | tar -x -C "$src_a"
git archive "$rev" | tar -x -C "$src_b"
for d in registry git; do [ -e "$home/$d" ] && ln -s "$home/$d" "$work/cargo-b/$d"; done
[ -e "$home/config.toml" ] && cp "$home/config.toml" "$work/cargo-b/"

rc=0
bin_a=$(rt_build "$name" "$src_a" "$work/target-a" "$work/a.log") || {
  tail -20 "$work/a.log"
  echo "FAILED: build A"
  exit 1
}
bin_b=$(CARGO_HOME="$work/cargo-b" rt_build "$name" "$src_b" "$work/t/target-b" "$work/b.log") || {
  tail -20 "$work/b.log"
  echo "FAILED: build B"
  exit 1
}
sum_a=$(sha256sum "$bin_a" | cut -d' ' -f1)
sum_b=$(sha256sum "$bin_b" | cut -d' ' -f1)
echo "A $sum_a $(stat -c %s "$bin_a") B  $src_a"
echo "B $sum_b $(stat -c %s "$bin_b") B  $src_b (CARGO_HOME $work/cargo-b)"
if [ "$sum_a" = "$sum_b" ]; then
  echo "REPRODUCIBLE: $name ($(rt_rust_target "$name")), $NIGHTLY, zig $ZIGLANG_VERSION, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
else
  echo "DIFFERENT: the first differing bytes (offset, octal A, octal B):"
  cmp -l "$bin_a" "$bin_b" | head -5
  rc=1
fi
exit $rc
