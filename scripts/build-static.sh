#!/usr/bin/env bash
# Builds the static (musl) binaries for x86_64 and aarch64 routers and prints their sizes.
# aarch64 links with rust-lld (shipped with rustup), so no cross C toolchain is needed.
# With qemu-user-static installed (Debian: apt-get install qemu-user-static), the aarch64
# binary is also run once (--version) as a smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  rustup target add "$target" >/dev/null
done
cargo build --release --target x86_64-unknown-linux-musl
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
  cargo build --release --target aarch64-unknown-linux-musl
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  bin=target/$target/release/uptime-tracker
  echo "$bin: $(stat -c %s "$bin") bytes"
done
if command -v qemu-aarch64-static >/dev/null; then
  qemu-aarch64-static target/aarch64-unknown-linux-musl/release/uptime-tracker --version
fi
