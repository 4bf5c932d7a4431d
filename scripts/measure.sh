#!/usr/bin/env bash
# Measures what the README promises: static binary size, resident memory and idle CPU of
# one node in a 3-node mesh on 127.0.0.1-3 (interval 1000 ms), and syscalls per second.
# Usage: scripts/measure.sh [SECONDS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
# UPTIME_TRACKER_BIN=PATH measures that binary instead (e.g. the router build from
# scripts/build-static.sh: target/static/uptime-tracker-router-x86_64).
# UPTIME_TRACKER_METRICS=1: node1 also serves metrics (metrics_listen on a free port, in
# its own copy of the config) and is scraped (GET /metrics and /status) every second.
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
for ip in ("127.0.0.1","127.0.0.2","127.0.0.3","127.0.0.1"):
    s=socket.socket(); s.bind((ip,0)); print(s.getsockname()[1]); s.close()')
# shellcheck disable=SC2086 # one port per word
set -- $ports
cat > "$dir/head.toml" <<TOML
interval = 1000
timeout = 1500
offline_threshold = 3
log_folder = "logs"
TOML
cat > "$dir/nodes.toml" <<TOML
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
cat "$dir/head.toml" "$dir/nodes.toml" > "$dir/mesh.toml"
config1=$dir/mesh.toml
if [ -n "${UPTIME_TRACKER_METRICS:-}" ]; then
  config1=$dir/node1.toml
  { cat "$dir/head.toml"; echo "metrics_listen = \"127.0.0.1:$4\""; cat "$dir/nodes.toml"; } > "$config1"
fi
for n in 1 2 3; do
  config=$dir/mesh.toml
  [ "$n" = 1 ] && config=$config1
  "$bin" run --config "$config" --whoami node$n 2>"$dir/err$n" &
  pids+=($!)
done
sleep 3
pid=${pids[0]}
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks)
if [ -n "${UPTIME_TRACKER_METRICS:-}" ]; then
  python3 - "$4" "$secs" <<'PY'
import sys, time, urllib.request
port, secs = sys.argv[1], int(sys.argv[2])
for i in range(secs):
    for path in ("/metrics", "/status"):
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
    time.sleep(1)
print(f"scraped /metrics and /status {secs} times each; last /status: {len(body)} bytes")
PY
else
  sleep "$secs"
fi
t1=$(ticks)
hz=$(getconf CLK_TCK)
echo "node1 over ${secs}s idle: cpu $(( (t1 - t0) * 1000 / hz )) ms"
grep -E 'VmRSS|VmHWM' "/proc/$pid/status"
if command -v strace >/dev/null; then
  timeout 5 strace -c -p "$pid" -o "$dir/strace" 2>/dev/null || true
  echo "syscalls in 5 s:"; tail -n +3 "$dir/strace" | grep -v '^-' || true
fi
echo "log of node1:"; cat "$dir"/logs/*node1.log
