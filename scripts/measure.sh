#!/usr/bin/env bash
# Measures what the README promises: static binary size, resident memory and idle CPU of
# one node in a 3-node mesh on 127.0.0.1-3 (interval 1000 ms), and syscalls per second.
# Usage: scripts/measure.sh [SECONDS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
# UPTIME_TRACKER_BIN=PATH measures that binary instead (e.g. the router build from
# scripts/build-static.sh: target/static/uptime-tracker-router-x86_64).
target=x86_64-unknown-linux-musl
rustup target add "$target" >/dev/null 2>&1 || true
if [ -n "${UPTIME_TRACKER_BIN:-}" ]; then
  bin=$UPTIME_TRACKER_BIN
elif cargo build --release --target "$target" >/dev/null 2>&1; then
  bin=target/$target/release/uptime-tracker
else
  echo "musl target unavailable; measuring the glibc build"
  cargo build --release >/dev/null
  bin=target/release/uptime-tracker
fi
echo "binary: $bin, $(stat -c %s "$bin") bytes"

dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

# Free ports, chosen at run time.
ports=$(python3 -c 'import socket
for ip in ("127.0.0.1","127.0.0.2","127.0.0.3"):
    s=socket.socket(); s.bind((ip,0)); print(s.getsockname()[1]); s.close()')
set -- $ports
cat > "$dir/mesh.toml" <<TOML
interval = 1000
timeout = 1500
offline_threshold = 3
log_folder = "logs"
[[nodes]]
name = "node1"
ip = "127.0.0.1"
port = $1
[[nodes]]
name = "node2"
ip = "127.0.0.2"
port = $2
[[nodes]]
name = "node3"
ip = "127.0.0.3"
port = $3
TOML
for n in 1 2 3; do
  "$bin" run --config "$dir/mesh.toml" --whoami node$n 2>"$dir/err$n" &
  pids+=($!)
done
sleep 3
pid=${pids[0]}
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks)
sleep "$secs"
t1=$(ticks)
hz=$(getconf CLK_TCK)
echo "node1 over ${secs}s idle: cpu $(( (t1 - t0) * 1000 / hz )) ms"
grep -E 'VmRSS|VmHWM' "/proc/$pid/status"
if command -v strace >/dev/null; then
  timeout 5 strace -c -p "$pid" -o "$dir/strace" 2>/dev/null || true
  echo "syscalls in 5 s:"; tail -n +3 "$dir/strace" | grep -v '^-' || true
fi
echo "log of node1:"; cat "$dir"/logs/*node1.log
