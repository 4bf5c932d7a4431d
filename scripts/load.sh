#!/usr/bin/env bash
# Load harness (benches/load.rs): one real daemon (node1 on 127.0.0.1) against N-1
# simulated peers on 127.0.x.y in one harness process; prints a table and a one-line
# JSON summary (the figures of BENCHMARKS.md). Every argument goes to the harness:
#
#   scripts/load.sh [--peers N-1] [--interval MS] [--timeout MS] [--threshold N]
#                   [--seconds S] [--perf-seconds S] [--no-perf] [--bin PATH]
#                   [--label TEXT] [--keep]
#
# Defaults: 999 peers, interval 1000, timeout 1500, threshold 3, a 20 s window after full
# mesh + 1 interval, then a 5 s window with `perf stat` on the daemon's syscall
# tracepoints (needs root or perf_event_paranoid <= 1 and the perf tool: apt-get install
# linux-perf; without it the syscall figure is skipped, with the reason). --bin runs
# another build of the daemon (default: target/release/uptime-tracker, built by cargo).
#
# The figures of BENCHMARKS.md:
#   scripts/load.sh --peers 2   --interval 1000
#   scripts/load.sh --peers 99  --interval 1000
#   scripts/load.sh --peers 999 --interval 1000
#   scripts/load.sh --peers 999 --interval 100
# and the same with --bin <older build>/target/release/uptime-tracker for the before column.
# "HARNESS LIMITED" in the output means the harness, not the daemon, set the latency.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench load -- "$@"
