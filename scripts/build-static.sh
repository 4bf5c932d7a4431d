#!/usr/bin/env bash
# Builds the static (musl) binaries for routers and checks them against the size budgets:
#   router build (the daemon with auth: --no-default-features --features auth) <= 600 KiB, x86_64
#   full build (default features: simulate, ...)        <= 1 MiB,  x86_64
# Both release builds use the pinned nightly (scripts/release-tools.sh) with the standard library built from source and panics
# that abort at once (no unwinding or panic-message machinery: a panic is a bug, and the
# daemon has none reachable from input), which halves their size. Where nightly or its
# rust-src, or its prebuilt std for the target (whose musl start files and libc rust-lld
# links with), cannot be had, they fall back to stable and say why. The full build with stable's
# prebuilt std (what a plain `cargo build --release --target x86_64-unknown-linux-musl`
# gives) is built too and its size printed, for comparison; the budget applies to the
# released binary.
# aarch64 links with rust-lld (shipped with rustup), so no cross C toolchain is needed;
# with qemu-user-static installed it is run once (--version) as a smoke test.
# Builds go to $CARGO_TARGET_DIR when set, else target/ (T below): T/router, T/full, and
# the binaries to T/static/.
# Exit status: 0 when every budget holds, 1 when one is exceeded or a build fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/release-tools.sh
. scripts/release-tools.sh
T=$(rt_target_root "$(pwd)")
ROUTER_BUDGET=$((600 * 1024))
FULL_BUDGET=$((1024 * 1024))
X86=x86_64-unknown-linux-musl
ARM=aarch64-unknown-linux-musl
OUT=$T/static
mkdir -p "$OUT"
rustup target add "$X86" "$ARM" >/dev/null

build_small() { # target, target dir, cargo feature arguments...
  local target=$1 dir=$2 why="" err
  shift 2
  if ! rustup run "$NIGHTLY" true 2>/dev/null; then
    why="$NIGHTLY is not installed (rustup toolchain install $NIGHTLY --component rust-src)"
  elif ! rustup component add rust-src --toolchain "$NIGHTLY" >/dev/null 2>&1; then
    why="$NIGHTLY has no rust-src and rustup could not add it"
  elif ! err=$(rustup target add "$target" --toolchain "$NIGHTLY" 2>&1); then
    # -Z build-std builds std itself, but linking with rust-lld takes musl's start files
    # and libc from the target's prebuilt std component, which rustup must download.
    why="$NIGHTLY's prebuilt std for $target (it carries the musl start files and libc that rust-lld links with) cannot be downloaded here: $(echo "$err" | grep -m1 -iE 'error|status' | sed 's/^ *//'); scripts/cross.sh builds $target from source with zig instead"
  fi
  if [ -z "$why" ]; then
    # No unwind tables: a panic aborts at once, so nothing ever walks them; they were
    # 91 KB (.eh_frame and its index) of the router build.
    RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Cforce-unwind-tables=no" \
      cargo +"$NIGHTLY" build --release "$@" --target "$target" \
      -Z build-std=std,panic_abort --target-dir "$dir" >&2
  else
    echo "$dir: $why; building with stable's prebuilt std (larger)" >&2
    cargo build --release "$@" --target "$target" --target-dir "$dir" >&2
  fi
  echo "$dir/$target/release/uptime-tracker"
}
build_router() { build_small "$1" "$T/router" --no-default-features --features auth; }

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
full_x86=$(build_small "$X86" "$T/full")
cp "$full_x86" "$OUT/uptime-tracker-x86_64"
cargo build --release --target "$X86" --target-dir "$T" >&2
cp "$T/$X86/release/uptime-tracker" "$OUT/uptime-tracker-x86_64-stable-std"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld cargo build --release --target "$ARM" --target-dir "$T" >&2
cp "$T/$ARM/release/uptime-tracker" "$OUT/uptime-tracker-aarch64"

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
