#!/usr/bin/env bash
# Runs again any figure of BENCHMARKS.md, each with the build it was measured with:
#
#   scripts/bench.sh syscalls   1000 nodes (the daemon against 999 simulated peers, load
#                               harness), interval 1 s: syscalls per peer-round, CPU, RSS
#   scripts/bench.sh latency    the same at 10 Hz: PONG latency seen by the peers
#   scripts/bench.sh rss        peak RSS: check-config on a 1000-node file, and the daemon
#                               at 1000 nodes (VmHWM)
#   scripts/bench.sh wakeups    wake-ups (sleeps that ended: voluntary context switches)
#                               per node per round: real meshes of 3, 10 and 50 daemons;
#                               the 1000-node harness (epoll waits: no linger there)
#   scripts/bench.sh cpu10      CPU of a 10-node mesh of real daemons at 1 s, 20 s, all
#                               threads summed (schedstat); with EARLIER=DIR BUN=PATH, each
#                               run is followed by the same mesh of the earlier Bun tool
#                               (DIR: a clone of github.com/okunamayanad/uptime-tracker
#                               with `npm i range_check` done in it; PATH: `npm i bun`
#                               gives node_modules/bun/bin/bun.exe)
#   scripts/bench.sh sim        simulate --nodes 50 --hours 24, user CPU and wall time
#   scripts/bench.sh instr      user-space instructions per node-round of one node (node5)
#                               of a 10-node mesh at 1 s, counted by valgrind's callgrind:
#                               a 50 s window less a 20 s one (start-up cancels out)
#   scripts/bench.sh sizes      the router and full static builds' sizes
#   scripts/bench.sh all        every one of them
#
# Builds: the daemon figures use the router build (x86_64 musl, static, the daemon with
# `auth`: what routers run); `sim` uses the full build (x86_64 musl, default features:
# what `simulate` users download). Both are built as scripts/build-static.sh and
# scripts/release.sh build them (the pinned nightly, std built from source, panics that
# abort), into T/router and T/full (T: $CARGO_TARGET_DIR or target/). BIN=PATH measures
# another binary instead (an older commit's build, to compare). RUNS=N repeats each
# measurement (default 3; sim 1). OPT=3 (or 2, s) builds this crate at that opt-level and
# the rest as released (the speed a larger binary would buy). SCHEDULE=even makes the harness's peers probe evenly over
# the interval (clocks that disagree) instead of on this version's slots. Every figure depends on the machine's load: each run
# prints the load average, and the machine should be as quiet as you can get it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/release-tools.sh
. scripts/release-tools.sh
T=$(rt_target_root "$(pwd)")
X86=x86_64-unknown-linux-musl
RUNS=${RUNS:-3}

say() { echo "bench: $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

build() { # router|full: prints the binary's path
  local kind=$1 dir=$T/$1 features=() opt=${OPT:-}
  [ "$kind" = router ] && features=(--no-default-features --features auth)
  if [ -n "$opt" ]; then
    case "$opt" in [0-9]) ;; *) opt="\"$opt\"" ;; esac
    features+=(--config "profile.release.package.uptime-tracker.opt-level=$opt")
    dir=$dir-opt
  fi
  if rustup run "$NIGHTLY" true 2>/dev/null &&
    rustup component add rust-src --toolchain "$NIGHTLY" >/dev/null 2>&1 &&
    rustup target add "$X86" --toolchain "$NIGHTLY" >/dev/null 2>&1; then
    RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Cforce-unwind-tables=no" \
      cargo +"$NIGHTLY" build --release "${features[@]}" --target "$X86" \
      -Z build-std=std,panic_abort --target-dir "$dir" >&2
  else
    say "$NIGHTLY with rust-src and the $X86 target is not available: building with stable's prebuilt std (larger; not the released build)"
    rustup target add "$X86" >/dev/null 2>&1 || true
    cargo build --release "${features[@]}" --target "$X86" --target-dir "$dir" >&2
  fi
  echo "$dir/$X86/release/uptime-tracker"
}

daemon_bin() { if [ -n "${BIN:-}" ]; then echo "$BIN"; else build router; fi; }

harness() { # harness arguments...
  cargo bench --bench load --quiet -- ${SCHEDULE:+--schedule "$SCHEDULE"} "$@"
}

# A 1000-node config as the harness writes it (node1 on 127.0.0.1), for check-config.
big_config() {
  python3 - "$1" <<'PY'
import sys
s = 'whoami = "node1"\ninterval = 1000\ntimeout = 1500\noffline_threshold = 3\nlog_folder = "logs"\n'
for k in range(1, 1001):
    m = k - 1
    s += f'\n[[nodes]]\nname = "node{k}"\nip = "127.0.{m // 254}.{m % 254 + 1}"\nport = {20000 if k == 1 else 20001}\n'
open(sys.argv[1], "w").write(s)
PY
}

run_syscalls() {
  local bin
  bin=$(daemon_bin)
  for i in $(seq "$RUNS"); do
    say "syscalls $i/$RUNS, load average $(load)"
    harness --peers 999 --interval 1000 --seconds 20 --bin "$bin" --label "syscalls-1hz"
  done
}

run_latency() {
  local bin
  bin=$(daemon_bin)
  for i in $(seq "$RUNS"); do
    say "latency $i/$RUNS, load average $(load)"
    harness --peers 999 --interval 100 --seconds 20 --bin "$bin" --label "latency-10hz"
  done
}

run_rss() {
  local bin dir
  bin=$(daemon_bin)
  dir=$(mktemp -d)
  big_config "$dir/mesh.toml"
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f "check-config, 1000 nodes: peak RSS %M KiB" \
      "$bin" check-config --config "$dir/mesh.toml" >/dev/null 2>"$dir/err" || true
    tail -n 1 "$dir/err"
  done
  rm -rf "$dir"
  for i in $(seq "$RUNS"); do
    say "rss $i/$RUNS, load average $(load)"
    harness --peers 999 --interval 1000 --seconds 20 --no-perf --bin "$bin" --label "rss" |
      grep -E 'RSS|^\{'
  done
}

run_wakeups() {
  local bin n
  bin=$(daemon_bin)
  for n in 3 10 50; do
    for i in $(seq "$RUNS"); do
      say "wakeups, $n nodes, $i/$RUNS, load average $(load)"
      python3 scripts/mesh-bench.py --nodes "$n" --seconds 20 --bin "$bin" --label "wakeups-$n"
    done
  done
  for i in $(seq "$RUNS"); do
    say "wakeups, 1000 nodes, $i/$RUNS, load average $(load)"
    harness --peers 999 --interval 1000 --seconds 20 --bin "$bin" --label "wakeups-1000" |
      grep -E 'wake-ups|syscalls per|^\{'
  done
}

run_cpu10() {
  local bin
  bin=$(daemon_bin)
  for i in $(seq "$RUNS"); do
    say "cpu10 $i/$RUNS, load average $(load)"
    python3 scripts/mesh-bench.py --nodes 10 --seconds 20 --perf-seconds 0 --bin "$bin" --label cpu10
    if [ -n "${EARLIER:-}" ]; then
      say "cpu10 $i/$RUNS, the earlier tool, load average $(load)"
      python3 scripts/mesh-bench.py --nodes 10 --seconds 20 --perf-seconds 0 \
        --earlier "$EARLIER" --bun "$BUN" --label cpu10-earlier
    fi
  done
}

run_sim() {
  local bin out
  bin=${BIN:-$(build full)}
  out=$(mktemp)
  for i in $(seq "${SIM_RUNS:-1}"); do
    say "sim $i, load average before $(load)"
    # simulate exits 1 when its checker found a property violation: the figures still
    # count, and the summary below says which.
    /usr/bin/time -f "simulate --nodes 50 --hours 24: %U s user, %S s system, %e s wall, peak %M KiB" \
      "$bin" simulate --nodes 50 --hours 24 >"$out" 2>"$out.time" ||
      say "simulate exited $? (1: property violations, listed in the summary)"
    tail -n 1 "$out.time"
    say "sim $i, load average after $(load); summary:"
    cat "$out"
  done
  rm -f "$out" "$out.time"
}

run_instr() {
  local bin dir a b
  bin=$(daemon_bin)
  command -v valgrind >/dev/null || {
    say "valgrind is needed (apt-get install valgrind)"
    exit 1
  }
  dir=$(mktemp -d)
  # node5 runs under callgrind, the other nine as they are.
  cat >"$dir/wrap" <<WRAP
#!/bin/sh
if [ "\$5" = node5 ]; then
  exec valgrind -q --tool=callgrind --callgrind-out-file="$dir/cg-\$CG_WINDOW" "$bin" "\$@"
fi
exec "$bin" "\$@"
WRAP
  chmod +x "$dir/wrap"
  for s in 20 50; do
    say "instr, a ${s} s window, load average $(load)"
    CG_WINDOW=$s python3 scripts/mesh-bench.py --nodes 10 --seconds "$s" --perf-seconds 0 \
      --bin "$dir/wrap" --label "instr-$s" | grep -E '^\{'
  done
  a=$(awk '/^summary:/ {print $2}' "$dir/cg-20")
  b=$(awk '/^summary:/ {print $2}' "$dir/cg-50")
  echo "user-space instructions per node-round (node5 of 10 under callgrind, 30 rounds; runs differ by about 5 %): $(((b - a) / 30))"
  rm -rf "$dir"
}

run_sizes() {
  local router full
  router=$(build router)
  full=$(build full)
  printf 'router x86_64: %d bytes (budget 614400)\nfull x86_64:   %d bytes (budget 1048576)\n' \
    "$(stat -c %s "$router")" "$(stat -c %s "$full")"
}

case "${1:-}" in
  syscalls) run_syscalls ;;
  latency) run_latency ;;
  rss) run_rss ;;
  wakeups) run_wakeups ;;
  cpu10) run_cpu10 ;;
  sim) run_sim ;;
  instr) run_instr ;;
  sizes) run_sizes ;;
  all)
    run_sizes
    run_syscalls
    run_latency
    run_rss
    run_wakeups
    run_cpu10
    run_sim
    ;;
  *)
    sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
