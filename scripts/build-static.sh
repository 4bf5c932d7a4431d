#!/usr/bin/env bash
# Builds the static (musl) binaries for routers and checks them against the size budgets:
#   router build (the daemon with auth: --no-default-features --features auth) <= 600 KiB, x86_64
#   full build (default features: simulate, ...)        <= 1 MiB,  x86_64
# Both release builds use nightly with the standard library built from source and panics
# that abort at once (no unwinding or panic-message machinery: a panic is a bug, and the
# daemon has none reachable from input), which halves their size. Where nightly or its
# rust-src is missing, they fall back to stable and say so. The full build with stable's
# prebuilt std (what a plain `cargo build --release --target x86_64-unknown-linux-musl`
# gives) is built too and its size printed, for comparison; the budget applies to the
# released binary.
# aarch64 links with rust-lld (shipped with rustup), so no cross C toolchain is needed;
# with qemu-user-static installed it is run once (--version) as a smoke test.
# Exit status: 0 when every budget holds, 1 when one is exceeded or a build fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUTER_BUDGET=$((600 * 1024))
FULL_BUDGET=$((1024 * 1024))
X86=x86_64-unknown-linux-musl
ARM=aarch64-unknown-linux-musl
OUT=target/static
mkdir -p "$OUT"
rustup target add "$X86" "$ARM" >/dev/null

build_small() { # target, target dir, cargo feature arguments...
  local target=$1 dir=$2
  shift 2
  if rustup run nightly true 2>/dev/null \
    && rustup component add rust-src --toolchain nightly >/dev/null 2>&1 \
    && rustup target add "$target" --toolchain nightly >/dev/null 2>&1; then
    RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
      cargo +nightly build --release "$@" --target "$target" \
      -Z build-std=std,panic_abort --target-dir "$dir" >&2
  else
    echo "$dir: nightly with rust-src is not available here; building with stable std (larger)" >&2
    cargo build --release "$@" --target "$target" --target-dir "$dir" >&2
  fi
  echo "$dir/$target/release/uptime-tracker"
}
build_router() { build_small "$1" target/router --no-default-features --features auth; }

status=0
check() { # label, file, budget
  local size
  size=$(stat -c %s "$2")
  if [ "$size" -le "$3" ]; then
    printf '%-28s %9d bytes (%4d KiB)  budget %4d KiB  ok\n' "$1" "$size" $((size / 1024)) $(($3 / 1024))
  else
    printf '%-28s %9d bytes (%4d KiB)  budget %4d KiB  EXCEEDED\n' "$1" "$size" $((size / 1024)) $(($3 / 1024))
    status=1
  fi
}

router_x86=$(build_router "$X86")
cp "$router_x86" "$OUT/uptime-tracker-router-x86_64"
router_arm=$(CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld build_router "$ARM")
cp "$router_arm" "$OUT/uptime-tracker-router-aarch64"
full_x86=$(build_small "$X86" target/full)
cp "$full_x86" "$OUT/uptime-tracker-x86_64"
cargo build --release --target "$X86" >&2
cp "target/$X86/release/uptime-tracker" "$OUT/uptime-tracker-x86_64-stable-std"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld cargo build --release --target "$ARM" >&2
cp "target/$ARM/release/uptime-tracker" "$OUT/uptime-tracker-aarch64"

check "router x86_64 (daemon+auth)" "$OUT/uptime-tracker-router-x86_64" "$ROUTER_BUDGET"
check "full x86_64 (default)" "$OUT/uptime-tracker-x86_64" "$FULL_BUDGET"
printf '%-28s %9d bytes (stable prebuilt std, for comparison)\n' "full x86_64, stable std" "$(stat -c %s "$OUT/uptime-tracker-x86_64-stable-std")"
printf '%-28s %9d bytes\n' "router aarch64" "$(stat -c %s "$OUT/uptime-tracker-router-aarch64")"
printf '%-28s %9d bytes\n' "full aarch64" "$(stat -c %s "$OUT/uptime-tracker-aarch64")"
echo "binaries in $OUT/"
if command -v qemu-aarch64-static >/dev/null; then
  qemu-aarch64-static "$OUT/uptime-tracker-router-aarch64" --version
fi
exit $status
