#!/usr/bin/env bash
# Runs each router binary built by scripts/cross.sh (T/cross/uptime-tracker-<name>, T being
# $CARGO_TARGET_DIR when set, else target/)
# as one node of a 3-node loopback mesh whose two other nodes are native builds of this
# machine, the foreign CPUs under qemu-user (qemu-<cpu>-static), and checks, per target:
#   1. `check-config` under qemu accepts the mesh's config (exit 0, "config ok"),
#   2. `--version` prints the native build's version,
#   3. `--help | head -1` prints "Usage:" and exits 0 with nothing on stderr, and so does
#      `--help` into a pipe closed at once (output to a closed pipe must not abort),
#   4. in the mesh: while every node is up, nothing is logged; a native node killed
#      (SIGKILL) is logged by the foreign node as `|1`, `|2`, `|3` (offline) and, when it
#      is started again, `|0`; the native nodes never log the foreign one (it answered
#      every probe),
#   5. SIGTERM stops the foreign node with exit status 0.
# One line per target: PASS, SKIPPED (reason) or FAIL (reason, then the node's stderr).
# x86_64 is this machine's CPU: its static binary runs without qemu.
#
# Usage: scripts/qemu-mesh.sh [NAME...]   (default: x86_64 aarch64 armv7 mipsel mips riscv64)
# Installs qemu-user-static (apt-get) when a qemu is missing. The native nodes run
# T/release/uptime-tracker (built with `cargo build --release` when missing;
# UPTIME_TRACKER_NATIVE=PATH picks another binary). Nodes listen on 127.0.0.1-3 on ports
# chosen free at run time; everything started is killed and removed at exit.
# Exit status: 0 when every target passed, 1 when one FAILED, 3 when none failed but one
# was SKIPPED.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

ALL=(x86_64 aarch64 armv7 mipsel mips riscv64)
T=${CARGO_TARGET_DIR:-target}
CROSS_DIR=${CROSS_DIR:-$T/cross}
DEADLINE=${QEMU_MESH_DEADLINE:-30} # seconds for anything that should happen "soon"

qemu_of() {
  case $1 in
    x86_64 | full-x86_64) echo "" ;; # this machine's CPU
    aarch64) echo qemu-aarch64-static ;;
    armv7) echo qemu-arm-static ;;
    mipsel) echo qemu-mipsel-static ;;
    mips) echo qemu-mips-static ;;
    riscv64) echo qemu-riscv64-static ;;
    *) return 1 ;;
  esac
}

names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${ALL[@]}")
for n in "${names[@]}"; do
  qemu_of "$n" >/dev/null || {
    echo "unknown target name $n; known: ${ALL[*]}" >&2
    exit 2
  }
done

say() { echo "qemu-mesh.sh: $*" >&2; }

# --- tools -----------------------------------------------------------------------------
need_qemu=0
for n in "${names[@]}"; do
  q=$(qemu_of "$n")
  [ -n "$q" ] && ! command -v "$q" >/dev/null 2>&1 && need_qemu=1
done
if [ $need_qemu -eq 1 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing qemu-user-static (apt-get)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static; } >&2 ||
    say "apt-get install qemu-user-static failed; the targets that need it are skipped"
fi

native=${UPTIME_TRACKER_NATIVE:-$T/release/uptime-tracker}
if [ -z "${UPTIME_TRACKER_NATIVE:-}" ] && [ ! -x "$native" ]; then
  say "building the native nodes' binary (cargo build --release)"
  cargo build --release >&2 || {
    echo "FAIL: cannot build the native binary" >&2
    exit 1
  }
fi
native_version=$("$native" --version)

# --- helpers ---------------------------------------------------------------------------
work=$(mktemp -d)
pids=()
# shellcheck disable=SC2317,SC2329 # run by the EXIT trap
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# A port free on IP and on every address (the tests' rule), chosen now.
free_port() {
  python3 - "$1" <<'PY'
import socket, sys
for _ in range(1000):
    s = socket.socket(); s.bind((sys.argv[1], 0)); port = s.getsockname()[1]; s.close()
    t = socket.socket()
    try:
        t.bind(("0.0.0.0", port))
    except OSError:
        continue
    finally:
        t.close()
    print(port); break
PY
}

# Waits until FILE contains a line matching the extended regex RE; 1 after DEADLINE.
wait_for() { # file, regex
  local end=$((SECONDS + DEADLINE))
  while [ $SECONDS -lt $end ]; do
    grep -Eq -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# The counts NODE logged about PEER, oldest first, space-separated ("1 2 3 0").
counts() { # node, peer, logdir
  cat "$3"/*-"$1".log 2>/dev/null | grep -E "^[^|]+\|$2\|[0-9]+$" | cut -d'|' -f3 | tr '\n' ' ' | sed 's/ $//'
}

now_ms() { date +%s%3N; }

# --- one target --------------------------------------------------------------------------
declare -A result
fail_tail="" # stderr files to show after a FAIL line

run_target() { # name; sets result[name]
  local name=$1 bin="$CROSS_DIR/uptime-tracker-$1" q run d p1 p2 p3 out rc
  q=$(qemu_of "$name")
  if [ ! -f "$bin" ]; then
    result[$name]="SKIPPED (no $bin: build it with scripts/cross.sh $name)"
    return
  fi
  if [ -n "$q" ]; then
    if ! command -v "$q" >/dev/null 2>&1; then
      result[$name]="SKIPPED (no $q: apt-get install qemu-user-static)"
      return
    fi
    run=("$q" "$bin")
  else
    run=("$bin")
  fi
  d="$work/$name"
  mkdir -p "$d"
  p1=$(free_port 127.0.0.1) p2=$(free_port 127.0.0.2) p3=$(free_port 127.0.0.3)
  cat >"$d/mesh.toml" <<TOML
interval = 250
timeout = 2000
offline_threshold = 3
log_folder = "logs"

[[nodes]]
name = "$name"
ip = "127.0.0.1"
port = $p1

[[nodes]]
name = "native1"
ip = "127.0.0.2"
port = $p2

[[nodes]]
name = "native2"
ip = "127.0.0.3"
port = $p3
TOML

  # 1. check-config, as a service manager would run it before `run`.
  out=$("${run[@]}" check-config --config "$d/mesh.toml" --whoami "$name" 2>"$d/check.err")
  rc=$?
  if [ $rc -ne 0 ] || [ "${out%%$'\n'*}" != "config ok" ]; then
    result[$name]="FAIL (check-config exit $rc, first line '${out%%$'\n'*}')"
    fail_tail="$d/check.err"
    return
  fi
  if [ -e "$d/logs" ]; then
    result[$name]="FAIL (check-config left the log folder behind)"
    return
  fi

  # 2. --version
  out=$("${run[@]}" --version 2>&1)
  if [ "$out" != "$native_version" ]; then
    result[$name]="FAIL (--version printed '$out', the native build '$native_version')"
    return
  fi

  # 3. closed pipes
  "${run[@]}" --help 2>"$d/help.err" | head -1 >"$d/help.out"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ] || [ "$(cat "$d/help.out")" != "Usage:" ] || [ -s "$d/help.err" ]; then
    result[$name]="FAIL (--help | head -1: exit $rc, printed '$(cat "$d/help.out")', stderr '$(head -c 200 "$d/help.err")')"
    return
  fi
  "${run[@]}" --help 2>"$d/help.err" | true
  rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ] || [ -s "$d/help.err" ]; then
    result[$name]="FAIL (--help | true: exit $rc, stderr '$(head -c 200 "$d/help.err")')"
    return
  fi

  # 4. the mesh: the foreign node first, then the natives once it listens.
  "${run[@]}" run --config "$d/mesh.toml" --whoami "$name" 2>"$d/$name.err" &
  local fpid=$!
  pids+=("$fpid")
  if ! wait_for "$d/$name.err" "listening on"; then
    result[$name]="FAIL (the $name node did not say 'listening' within $DEADLINE s)"
    fail_tail="$d/$name.err"
    return
  fi
  "$native" run --config "$d/mesh.toml" --whoami native1 2>"$d/native1.err" &
  pids+=($!)
  "$native" run --config "$d/mesh.toml" --whoami native2 2>"$d/native2.err" &
  local n2pid=$!
  pids+=("$n2pid")
  if ! wait_for "$d/native1.err" "listening on" || ! wait_for "$d/native2.err" "listening on"; then
    result[$name]="FAIL (a native node did not start)"
    fail_tail="$d/native1.err $d/native2.err"
    return
  fi
  sleep 2 # a few rounds with every node up
  out=$(counts "$name" native2 "$d/logs")
  if [ -n "$out" ]; then
    result[$name]="FAIL (the $name node logged native2 '$out' while it was up)"
    fail_tail="$d/$name.err"
    return
  fi
  local t0
  t0=$(now_ms)
  kill -KILL "$n2pid"
  wait "$n2pid" 2>/dev/null
  local end=$((SECONDS + DEADLINE))
  while [ $SECONDS -lt $end ] && [ "$(counts "$name" native2 "$d/logs")" != "1 2 3" ]; do sleep 0.1; done
  out=$(counts "$name" native2 "$d/logs")
  if [ "$out" != "1 2 3" ]; then
    result[$name]="FAIL (after native2 was killed, the $name node logged '$out', not '1 2 3')"
    fail_tail="$d/$name.err"
    return
  fi
  local t_off=$(($(now_ms) - t0))
  "$native" run --config "$d/mesh.toml" --whoami native2 2>"$d/native2b.err" &
  pids+=($!)
  t0=$(now_ms)
  end=$((SECONDS + DEADLINE))
  while [ $SECONDS -lt $end ] && [ "$(counts "$name" native2 "$d/logs")" != "1 2 3 0" ]; do sleep 0.1; done
  out=$(counts "$name" native2 "$d/logs")
  if [ "$out" != "1 2 3 0" ]; then
    result[$name]="FAIL (after native2 came back, the $name node logged '$out', not '1 2 3 0')"
    fail_tail="$d/$name.err"
    return
  fi
  local t_back=$(($(now_ms) - t0))
  for nat in native1 native2; do
    out=$(counts "$nat" "$name" "$d/logs")
    if [ -n "$out" ]; then
      result[$name]="FAIL ($nat logged the $name node '$out': it missed probes)"
      fail_tail="$d/$name.err"
      return
    fi
  done

  # 5. SIGTERM: a clean stop.
  if ! kill -0 "$fpid" 2>/dev/null; then
    result[$name]="FAIL (the $name node died)"
    fail_tail="$d/$name.err"
    return
  fi
  kill -TERM "$fpid"
  wait "$fpid"
  rc=$?
  if [ $rc -ne 0 ]; then
    result[$name]="FAIL (the $name node exited $rc on SIGTERM)"
    fail_tail="$d/$name.err"
    return
  fi
  local how=${q:-native}
  result[$name]="PASS ($how, $(stat -c %s "$bin") B: check-config, --version, --help | head -1, mesh: killed peer |1 |2 |3 within ${t_off} ms, |0 within ${t_back} ms of its restart, SIGTERM exit 0)"
}

stop_all() { # SIGTERM (the daemons exit 0, quietly), SIGKILL for what is left after 5 s
  local p end=$((SECONDS + 5))
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
  pids=()
}

rc=0
for n in "${names[@]}"; do
  fail_tail=""
  run_target "$n"
  stop_all
  line=$(printf '%-8s %s' "$n" "${result[$n]}")
  case ${result[$n]} in
    PASS*) echo "$line" ;;
    SKIPPED*)
      echo "$line"
      [ $rc -eq 0 ] && rc=3
      ;;
    *)
      echo "$line"
      rc=1
      for f in $fail_tail; do
        echo "  --- last lines of $(basename "$f"):"
        tail -10 "$f" | sed 's/^/  /'
      done
      ;;
  esac
done
exit $rc
