#!/usr/bin/env bash
# Builds the router binary (the daemon with auth: --no-default-features --features auth) as a static musl
# executable for the CPUs routers have, as small as it gets, and prints a table of sizes:
#
#   name     Rust target                       notes
#   x86_64   x86_64-unknown-linux-musl         PCs, APUs, most VPSs
#   aarch64  aarch64-unknown-linux-musl        newer routers, Raspberry Pi 3/4/5 (64-bit)
#   armv7    armv7-unknown-linux-musleabihf    hard-float ARMv7: many older routers, Pi 2
#   mipsel   mipsel-unknown-linux-musl         little-endian MIPS (MT7621, MT76x8, ...)
#   mips     mips-unknown-linux-musl           big-endian MIPS (Atheros/QCA ath79, ...)
#   riscv64  riscv64gc-unknown-linux-musl      RISC-V 64 boards (VisionFive 2, ...)
#
#   full-x86_64  x86_64-unknown-linux-musl   the full build (default features), on request
#
# Usage: scripts/cross.sh [NAME...]   (default: the six router builds)
# Output: T/cross/uptime-tracker-<name>, T/cross/SHA256SUMS, and the table (also in
# T/cross/SIZES.txt), where T is $CARGO_TARGET_DIR or target/. Then scripts/qemu-mesh.sh
# runs each one.
#
# How (facts in the project's notes on cross builds): one recipe for every target:
# nightly, the standard library built from source (-Z build-std) with panics that abort at
# once (-C panic=immediate-abort: no unwinding or panic-message machinery; a panic is a
# bug) and no unwind tables (-C force-unwind-tables=no: nothing walks them), zig as the C library (musl) and linker through cargo-zigbuild, so no C cross
# toolchain and no prebuilt std of the target is needed. `-C link-self-contained=no`
# lets zig supply crt1.o and libc (rustc's own self-contained objects are not there when
# std is built from source). mips and mipsel are built non-PIE
# (`-C relocation-model=static`): their default static-pie build starts but crashes
# (SIGSEGV) in `run` and `check-config`; the non-PIE build works and is smaller.
# Reproducible: the toolchain's versions are pinned in scripts/release-tools.sh (nightly,
# zig, cargo-zigbuild, cargo-auditable), paths are remapped and SOURCE_DATE_EPOCH set
# (scripts/repro.sh checks two builds are byte-identical). `cargo auditable` embeds the
# dependency list (section .dep-v0) that `cargo audit bin` and syft read.
#
# What it installs when missing (each said on stderr), at the versions pinned in
# scripts/release-tools.sh: the nightly with rust-src (rustup), zig (`pip install
# ziglang`), cargo-zigbuild (`pip install cargo-zigbuild`, else `cargo install`) and
# cargo-auditable (`cargo install`).
# A target whose build fails is FAILED in the table; one that cannot be tried (a tool
# missing and not installable) is SKIPPED with the reason.
# Exit status: 0 when every requested target was built, 1 when one FAILED, 3 when none
# failed but one was SKIPPED.
# About 1-3 minutes per target (each builds std); the six are NOT part of .ci/run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
# shellcheck source=scripts/release-tools.sh
. scripts/release-tools.sh
RT_NAME=cross.sh

ALL=(x86_64 aarch64 armv7 mipsel mips riscv64)
REPO=$(pwd)
TARGET_ROOT=$(rt_target_root "$REPO")
OUT=$TARGET_ROOT/cross
BUILD_DIR=$TARGET_ROOT/cross-build
mkdir -p "$OUT"

names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${ALL[@]}")
for n in "${names[@]}"; do
  if ! rt_rust_target "$n" >/dev/null; then
    echo "unknown target name $n; known: ${ALL[*]} full-x86_64" >&2
    exit 2
  fi
done

say() { echo "cross.sh: $*" >&2; }

# --- tools -----------------------------------------------------------------------------
missing="" # why every build must be skipped, if a tool cannot be had
rt_need_all || missing=$RT_WHY
[ -n "$missing" ] && say "every build is skipped: $missing"

# --- builds ----------------------------------------------------------------------------
declare -A status size
build() { # name
  local name=$1 log bin
  log="$OUT/build-$name.log"
  say "building $name ($(rt_rust_target "$name")); log: $log"
  rm -f "$OUT/uptime-tracker-$name"
  local start=$SECONDS
  if bin=$(rt_build "$name" "$REPO" "$BUILD_DIR" "$log"); then
    cp "$bin" "$OUT/uptime-tracker-$name"
    size[$name]=$(stat -c %s "$OUT/uptime-tracker-$name")
    status[$name]="built in $((SECONDS - start)) s"
  else
    status[$name]="FAILED (last lines of $log below)"
    tail -15 "$log" >&2
  fi
}

for n in "${names[@]}"; do
  if [ -n "$missing" ]; then
    status[$n]="SKIPPED ($missing)"
  else
    build "$n"
  fi
done

# --- table and checksums ---------------------------------------------------------------
{
  printf '%-12s %-32s %10s %8s  %s\n' name "Rust target" bytes KiB status
  for n in "${names[@]}"; do
    if [ -n "${size[$n]:-}" ]; then
      printf '%-12s %-32s %10d %8d  %s\n' "$n" "$(rt_rust_target "$n")" "${size[$n]}" $((size[$n] / 1024)) "${status[$n]}"
    else
      printf '%-12s %-32s %10s %8s  %s\n' "$n" "$(rt_rust_target "$n")" - - "${status[$n]}"
    fi
  done
} | tee "$OUT/SIZES.txt"

built=()
for n in "${names[@]}"; do [ -n "${size[$n]:-}" ] && built+=("uptime-tracker-$n"); done
if [ ${#built[@]} -gt 0 ]; then
  (cd "$OUT" && sha256sum "${built[@]}" >SHA256SUMS)
  echo "binaries and SHA256SUMS in $OUT/; run them: scripts/qemu-mesh.sh"
fi

rc=0
for n in "${names[@]}"; do
  case ${status[$n]} in
    FAILED*) rc=1 ;;
    SKIPPED*) [ $rc -eq 0 ] && rc=3 ;;
  esac
done
exit $rc
