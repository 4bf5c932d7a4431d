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
# Usage: scripts/cross.sh [NAME...]   (default: all six)
# Output: target/cross/uptime-tracker-<name>, target/cross/SHA256SUMS, and the table
# (also in target/cross/SIZES.txt). Then scripts/qemu-mesh.sh runs each one.
#
# How (facts in the project's notes on cross builds): one recipe for every target:
# nightly, the standard library built from source (-Z build-std) with panics that abort at
# once (-C panic=immediate-abort: no unwinding or panic-message machinery; a panic is a
# bug), zig as the C library (musl) and linker through cargo-zigbuild, so no C cross
# toolchain and no prebuilt std of the target is needed. `-C link-self-contained=no`
# lets zig supply crt1.o and libc (rustc's own self-contained objects are not there when
# std is built from source). mips and mipsel are built non-PIE
# (`-C relocation-model=static`): their default static-pie build starts but crashes
# (SIGSEGV) in `run` and `check-config`; the non-PIE build works and is smaller.
#
# What it installs when missing (each said on stderr): the nightly toolchain with
# rust-src (rustup), zig (`pip install ziglang`), cargo-zigbuild (`pip install
# cargo-zigbuild`, a wheel with the binary; else `cargo install cargo-zigbuild --locked`).
# A target whose build fails is FAILED in the table; one that cannot be tried (a tool
# missing and not installable) is SKIPPED with the reason.
# Exit status: 0 when every requested target was built, 1 when one FAILED, 3 when none
# failed but one was SKIPPED.
# About 1-3 minutes per target (each builds std); the six are NOT part of .ci/run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

ALL=(x86_64 aarch64 armv7 mipsel mips riscv64)
OUT=target/cross
BUILD_DIR=target/cross-build
mkdir -p "$OUT"

rust_target() {
  case $1 in
    x86_64) echo x86_64-unknown-linux-musl ;;
    aarch64) echo aarch64-unknown-linux-musl ;;
    armv7) echo armv7-unknown-linux-musleabihf ;;
    mipsel) echo mipsel-unknown-linux-musl ;;
    mips) echo mips-unknown-linux-musl ;;
    riscv64) echo riscv64gc-unknown-linux-musl ;;
    *) return 1 ;;
  esac
}

names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${ALL[@]}")
for n in "${names[@]}"; do
  if ! rust_target "$n" >/dev/null; then
    echo "unknown target name $n; known: ${ALL[*]}" >&2
    exit 2
  fi
done

say() { echo "cross.sh: $*" >&2; }

# --- tools -----------------------------------------------------------------------------
missing="" # why every build must be skipped, if a tool cannot be had

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  say "installing the nightly toolchain (rustup toolchain install nightly --profile minimal)"
  rustup toolchain install nightly --profile minimal >&2 || missing="no nightly toolchain (rustup toolchain install nightly failed)"
fi
if [ -z "$missing" ]; then
  sysroot=$(rustup run nightly rustc --print sysroot)
  if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
    say "installing rust-src for nightly (rustup component add rust-src --toolchain nightly)"
    rustup component add rust-src --toolchain nightly >&2 || missing="no rust-src for nightly (needed by -Z build-std)"
  fi
fi

have_zig() { command -v zig >/dev/null 2>&1 || python3 -m ziglang version >/dev/null 2>&1; }
if [ -z "$missing" ] && ! have_zig; then
  say "installing zig (pip install ziglang)"
  python3 -m pip install --quiet ziglang >&2 || true
  have_zig || missing="no zig (pip install ziglang failed)"
fi
if [ -z "$missing" ] && ! command -v cargo-zigbuild >/dev/null 2>&1; then
  say "installing cargo-zigbuild (pip install cargo-zigbuild)"
  python3 -m pip install --quiet cargo-zigbuild >&2 || true
  hash -r
  if ! command -v cargo-zigbuild >/dev/null 2>&1; then
    say "pip gave no cargo-zigbuild; cargo install cargo-zigbuild --locked"
    cargo install cargo-zigbuild --locked >&2 || true
    hash -r
  fi
  command -v cargo-zigbuild >/dev/null 2>&1 || missing="no cargo-zigbuild (pip and cargo install failed)"
fi
[ -n "$missing" ] && say "every build is skipped: $missing"

# --- builds ----------------------------------------------------------------------------
declare -A status size
build() { # name
  local name=$1 target flags log
  target=$(rust_target "$name")
  flags="-Zunstable-options -Cpanic=immediate-abort -Clink-self-contained=no"
  case $name in mips | mipsel) flags="$flags -Crelocation-model=static" ;; esac
  log="$OUT/build-$name.log"
  say "building $name ($target); log: $log"
  rm -f "$OUT/uptime-tracker-$name"
  local start=$SECONDS
  if RUSTFLAGS="$flags" cargo +nightly zigbuild --release --no-default-features --features auth \
    --target "$target" -Z build-std=std,panic_abort --target-dir "$BUILD_DIR" \
    >"$log" 2>&1; then
    cp "$BUILD_DIR/$target/release/uptime-tracker" "$OUT/uptime-tracker-$name"
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
  printf '%-8s %-32s %10s %8s  %s\n' name "Rust target" bytes KiB status
  for n in "${names[@]}"; do
    if [ -n "${size[$n]:-}" ]; then
      printf '%-8s %-32s %10d %8d  %s\n' "$n" "$(rust_target "$n")" "${size[$n]}" $((size[$n] / 1024)) "${status[$n]}"
    else
      printf '%-8s %-32s %10s %8s  %s\n' "$n" "$(rust_target "$n")" - - "${status[$n]}"
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
