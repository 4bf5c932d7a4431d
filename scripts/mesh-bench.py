#!/usr/bin/env python3
"""A whole mesh of real daemons on loopback: what each node costs (BENCHMARKS.md).

usage: scripts/mesh-bench.py --nodes N [--interval MS] [--timeout MS] [--seconds S]
                             [--perf-seconds S] [--bin PATH] [--label TEXT] [--keep]

N daemons (node1..nodeN on 127.0.0.1..N, one port each, chosen free at run time) run one
config. Once every node has logged `connected` for every peer, two more intervals pass
(each node's second link to each peer is dialled at that peer's first turn), then:

- the CPU window (--seconds, default 20): CPU time of every thread of every daemon,
  summed, from /proc/PID/task/TID/schedstat (on-CPU ns) before and after; voluntary
  context switches; peak RSS (VmHWM);
- the syscall window (--perf-seconds, default 5; 0 skips it): `perf stat` on every
  daemon counting all syscalls and epoll waits. A wake-up is one return of
  epoll_wait/epoll_pwait/epoll_pwait2 (musl calls epoll_pwait, glibc epoll_wait); per
  node per round = count / N / (window / interval). Needs root or
  perf_event_paranoid <= 1 and perf (apt-get install linux-perf); kept apart from the
  CPU window so its overhead is not counted there.

Then every daemon's log must hold no event line (each would be a false one). Prints a
table and one JSON line. --bin defaults to target/release/uptime-tracker.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_ports(ips):
    """One port free on each ip (bound and released; below the ephemeral range)."""
    ports = []
    for ip in ips:
        for _ in range(200):
            s = socket.socket()
            try:
                port = 20000 + int.from_bytes(os.urandom(2), "little") % 12000
                s.bind((ip, port))
                ports.append(port)
                break
            except OSError:
                continue
            finally:
                s.close()
        else:
            sys.exit(f"mesh-bench: no free port on {ip}")
    return ports


def sched_ns(pid):
    """On-CPU ns of every thread of `pid`, summed (0 once it is gone)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        pass
    return total


def status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--interval", type=int, default=1000)
    ap.add_argument("--timeout", type=int, default=1500)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--perf-seconds", type=float, default=5)
    ap.add_argument("--bin", default="target/release/uptime-tracker")
    ap.add_argument("--label", default="")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not 2 <= a.nodes <= 250:
        sys.exit("mesh-bench: --nodes must be in 2..=250 (127.0.0.1..250)")
    binary = os.path.abspath(a.bin)
    if not os.path.isfile(binary):
        sys.exit(f"mesh-bench: {binary} not found")

    tmp = tempfile.mkdtemp(prefix="uptime-tracker-mesh-bench-")
    ips = [f"127.0.0.{k}" for k in range(1, a.nodes + 1)]
    ports = free_ports(ips)
    with open(os.path.join(tmp, "mesh.toml"), "w") as f:
        f.write(f"interval = {a.interval}\ntimeout = {a.timeout}\n"
                f"offline_threshold = 3\nlog_folder = \"logs\"\n")
        for k, (ip, port) in enumerate(zip(ips, ports), 1):
            f.write(f"\n[[nodes]]\nname = \"node{k}\"\nip = \"{ip}\"\nport = {port}\n")
    procs = []
    errs = []

    def stop():
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        for e in errs:
            e.close()
        if a.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    try:
        t0 = time.monotonic()
        for k in range(1, a.nodes + 1):
            err = open(os.path.join(tmp, f"node{k}.stderr"), "w+")
            errs.append(err)
            procs.append(subprocess.Popen(
                [binary, "run", "--config", "mesh.toml", "--whoami", f"node{k}"],
                cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err))
        pids = [p.pid for p in procs]
        # Full mesh: every node said `connected` for every peer.
        deadline = t0 + max(60, a.interval * 20 / 1000)
        while True:
            up = 0
            for k in range(1, a.nodes + 1):
                with open(os.path.join(tmp, f"node{k}.stderr")) as f:
                    up += f.read().count(": connected\n")
            if up >= a.nodes * (a.nodes - 1):
                break
            if any(p.poll() is not None for p in procs):
                sys.exit("mesh-bench: a daemon exited; see its stderr with --keep")
            if time.monotonic() > deadline:
                sys.exit(f"mesh-bench: no full mesh in {deadline - t0:.0f} s ({up} links)")
            time.sleep(0.05)
        mesh_s = time.monotonic() - t0
        time.sleep(2 * a.interval / 1000 + 0.5)

        c0 = [sched_ns(p) for p in pids]
        v0 = [status(p, "voluntary_ctxt_switches:") for p in pids]
        w0 = time.monotonic()
        time.sleep(a.seconds)
        w1 = time.monotonic()
        c1 = [sched_ns(p) for p in pids]
        v1 = [status(p, "voluntary_ctxt_switches:") for p in pids]
        window = w1 - w0
        cpu_s = sum(c1) / 1e9 - sum(c0) / 1e9
        rounds = window * 1000 / a.interval
        hwm = max(status(p, "VmHWM:") for p in pids)

        wakeups = syscalls = None
        perf_note = ""
        if a.perf_seconds > 0:
            if not shutil.which("perf"):
                perf_note = "perf not found (apt-get install linux-perf)"
            else:
                events = "raw_syscalls:sys_enter," + ",".join(
                    f"syscalls:sys_enter_{s}"
                    for s in ("epoll_wait", "epoll_pwait", "epoll_pwait2"))
                out = os.path.join(tmp, "perf.csv")
                r = subprocess.run(
                    ["perf", "stat", "-x,", "-o", out, "-e", events,
                     "-p", ",".join(map(str, pids)), "--", "sleep", str(a.perf_seconds)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                counts = {}
                if os.path.exists(out):
                    for line in open(out):
                        f = line.split(",")
                        if len(f) > 2 and f[0].strip().isdigit():
                            counts[f[2]] = int(f[0])
                if "raw_syscalls:sys_enter" in counts:
                    perf_rounds = a.perf_seconds * 1000 / a.interval
                    waits = sum(v for k, v in counts.items() if "epoll" in k)
                    wakeups = waits / a.nodes / perf_rounds
                    syscalls = counts["raw_syscalls:sys_enter"] / a.nodes / perf_rounds
                else:
                    perf_note = f"perf counted nothing: {r.stderr.strip()[:200]}"

        events = []
        logs = os.path.join(tmp, "logs")
        for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
            for line in open(os.path.join(logs, name)):
                line = line.rstrip("\n")
                if line and line != "---" and not line.startswith("0.0.3|"):
                    events.append(f"{name}: {line}")
    finally:
        stop()

    peers = a.nodes - 1
    print(f"\nmesh of {a.nodes} real daemons ({os.path.basename(binary)}, "
          f"{os.path.getsize(binary)} bytes): interval {a.interval} ms; window "
          f"{window:.1f} s{'; label ' + a.label if a.label else ''}")
    rows = [
        ("full mesh after start", f"{mesh_s:.2f} s"),
        ("CPU of the whole mesh in the window",
         f"{cpu_s:.3f} s (all threads of all {a.nodes} daemons, schedstat)"),
        ("CPU per node", f"{cpu_s / window / a.nodes * 100:.3f} % of a core"),
        ("voluntary context switches per node per round",
         f"{(sum(v1) - sum(v0)) / a.nodes / rounds:.2f}"),
        ("wake-ups per node per round",
         f"{wakeups:.2f} (epoll waits; {wakeups / peers:.3f} per peer)"
         if wakeups is not None else f"not measured: {perf_note}"),
        ("syscalls per node per round",
         f"{syscalls:.2f} ({syscalls / peers:.2f} per peer-round)"
         if syscalls is not None else f"not measured: {perf_note}"),
        ("peak RSS of a node (VmHWM, max)", f"{hwm} KiB"),
        ("events in the logs", f"{len(events)}{' (none: good)' if not events else ' FALSE EVENTS'}"),
    ]
    for k, v in rows:
        print(f"  {k:<48} {v}")
    for e in events[:20]:
        print(f"  event: {e}")
    print(json.dumps({
        "bench": "mesh", "label": a.label, "bin": binary, "bytes": os.path.getsize(binary),
        "nodes": a.nodes, "interval_ms": a.interval, "window_s": round(window, 2),
        "full_mesh_s": round(mesh_s, 2), "mesh_cpu_s": round(cpu_s, 4),
        "cpu_pct_per_node": round(cpu_s / window / a.nodes * 100, 4),
        "wakeups_per_node_round": None if wakeups is None else round(wakeups, 3),
        "syscalls_per_node_round": None if syscalls is None else round(syscalls, 3),
        "hwm_kib_max": hwm, "events": len(events),
        "load_average": os.getloadavg()[0],
    }))
    return 1 if events else 0


if __name__ == "__main__":
    sys.exit(main())
