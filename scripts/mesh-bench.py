#!/usr/bin/env python3
"""A whole mesh of real daemons on loopback: what each node costs (BENCHMARKS.md).

usage: scripts/mesh-bench.py --nodes N [--interval MS] [--timeout MS] [--seconds S]
                             [--perf-seconds S] [--bin PATH] [--label TEXT] [--keep]
                             [--earlier DIR --bun PATH]

N daemons (node1..nodeN on 127.0.0.1..N, one port each, chosen free at run time) run one
config. Once every node has logged `connected` for every peer, two more intervals pass
(each node's second link to each peer is dialled at that peer's first turn), then:

- the CPU window (--seconds, default 20): CPU time of every thread of every daemon,
  summed, from /proc/PID/task/TID/schedstat (on-CPU ns) before and after; voluntary
  context switches; peak RSS (VmHWM);
- the syscall window (--perf-seconds, default 5; 0 skips it): `perf stat` on every
  daemon counting all syscalls, epoll waits (epoll_wait/epoll_pwait/epoll_pwait2: musl
  calls epoll_pwait, glibc epoll_wait) and lingers (nanosleep/clock_nanosleep: the sleep
  after a turn, see src/mesh/probe.rs); per node per round = count / N / (window /
  interval). A wake-up is a sleep that ended: the voluntary context switches of the CPU
  window (an epoll wait right after a linger finds its events ready and does not sleep). Needs root or
  perf_event_paranoid <= 1 and perf (apt-get install linux-perf); kept apart from the
  CPU window so its overhead is not counted there.

Then every daemon's log must hold no event line (each would be a false one) but the
startup's: a node's first turn comes within one interval of its start, so a peer started
a moment later may be counted once (connection refused) and back at the next round; such
a run, begun before the full mesh, is counted apart. Prints a table and one JSON line. --bin defaults to target/release/uptime-tracker.

--earlier DIR --bun PATH runs the same mesh of the earlier TypeScript/Bun tool instead
(DIR: its source, github.com/okunamayanad/uptime-tracker, with `range_check` installed in
DIR/node_modules; PATH: a bun binary, e.g. from `npm i bun`): each node runs
`bun run index.ts` in a folder of its own (index.ts, package.json, node_modules and its
config.ts, timeout and threshold as ours), stdout to /dev/null. That tool says nothing
when a node answers, so "full mesh" is every node's port accepting; the windows start
three intervals later, and its logs are not checked for events.
"""

import argparse
import datetime
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


def start_earlier(a, tmp, k, ips, ports, bun, err):
    """Node k of the earlier tool, in a folder of its own (its config is a module)."""
    d = os.path.join(tmp, f"node{k}")
    os.mkdir(d)
    for name in ("index.ts", "package.json"):
        shutil.copy(os.path.join(a.earlier, name), d)
    os.symlink(os.path.abspath(os.path.join(a.earlier, "node_modules")),
               os.path.join(d, "node_modules"))
    nodes = ",\n".join(f'    {{ name: "node{j}", ip: "{ip}", port: {port} }}'
                       for j, (ip, port) in enumerate(zip(ips, ports), 1))
    with open(os.path.join(d, "config.ts"), "w") as f:
        f.write(f'export default {{\n  whoami: "node{k}",\n  interval: {a.interval},\n'
                f'  timeout: {a.timeout},\n  offlineThreshold: 3,\n  nodes: [\n{nodes}\n  ],\n'
                f'  logFolder: "logs",\n}};\n')
    return subprocess.Popen([bun, "run", "index.ts"], cwd=d, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err)


def wait_listening(a, ips, ports, procs, t0):
    """Every node of the earlier tool accepts on its port."""
    deadline = t0 + 60
    for ip, port in zip(ips, ports):
        while True:
            try:
                socket.create_connection((ip, port), timeout=1).close()
                break
            except OSError:
                if any(p.poll() is not None for p in procs):
                    sys.exit("mesh-bench: a node exited; see its stderr with --keep")
                if time.monotonic() > deadline:
                    sys.exit(f"mesh-bench: {ip}:{port} not listening in 60 s")
                time.sleep(0.05)


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
    ap.add_argument("--earlier", help="source folder of the earlier TypeScript/Bun tool")
    ap.add_argument("--bun", help="bun binary to run --earlier with")
    a = ap.parse_args()
    if bool(a.earlier) != bool(a.bun):
        sys.exit("mesh-bench: --earlier and --bun go together")
    if not 2 <= a.nodes <= 250:
        sys.exit("mesh-bench: --nodes must be in 2..=250 (127.0.0.1..250)")
    binary = os.path.abspath(a.bun or a.bin)
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
            if a.earlier:
                procs.append(start_earlier(a, tmp, k, ips, ports, binary, err))
                continue
            procs.append(subprocess.Popen(
                [binary, "run", "--config", "mesh.toml", "--whoami", f"node{k}"],
                cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err))
        pids = [p.pid for p in procs]
        if a.earlier:
            wait_listening(a, ips, ports, procs, t0)
        # Full mesh: every node said `connected` for every peer.
        deadline = t0 + max(60, a.interval * 20 / 1000)
        while not a.earlier:
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
        mesh_wall = time.time()
        time.sleep((3 if a.earlier else 2) * a.interval / 1000 + 0.5)

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

        waits = lingers = syscalls = None
        perf_note = ""
        if a.perf_seconds > 0:
            if not shutil.which("perf"):
                perf_note = "perf not found (apt-get install linux-perf)"
            else:
                events = "raw_syscalls:sys_enter," + ",".join(
                    f"syscalls:sys_enter_{s}"
                    for s in ("epoll_wait", "epoll_pwait", "epoll_pwait2",
                              "nanosleep", "clock_nanosleep"))
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
                    per = a.nodes * perf_rounds
                    waits = sum(v for k, v in counts.items() if "epoll" in k) / per
                    lingers = sum(v for k, v in counts.items() if "sleep" in k) / per
                    syscalls = counts["raw_syscalls:sys_enter"] / a.nodes / perf_rounds
                else:
                    perf_note = f"perf counted nothing: {r.stderr.strip()[:200]}"

        # A node's first turn comes within one interval of its start, so a mesh started
        # together may count a peer not started yet (connection refused): a run of
        # timeouts begun before the full mesh, up to its `|0`, is the startup's. Any
        # other event line is a false one.
        events, startup = [], 0
        logs = os.path.join(tmp, "logs")
        for name in sorted(os.listdir(logs)) if os.path.isdir(logs) and not a.earlier else []:
            early = set()
            for line in open(os.path.join(logs, name)):
                line = line.rstrip("\n")
                if not line or line == "---" or line.startswith("0.0.3|"):
                    continue
                stamp, _, rest = line.partition("|")
                peer, _, count = rest.partition("|")
                when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                if peer in early or when.timestamp() < mesh_wall:
                    startup += 1
                    if count == "0":
                        early.discard(peer)
                    else:
                        early.add(peer)
                else:
                    events.append(f"{name}: {line}")
    finally:
        stop()

    peers = a.nodes - 1
    wakeups = (sum(v1) - sum(v0)) / a.nodes / rounds
    what = "the earlier tool (bun run index.ts)" if a.earlier else "real daemons"
    print(f"\nmesh of {a.nodes} {what} ({os.path.basename(binary)}, "
          f"{os.path.getsize(binary)} bytes): interval {a.interval} ms; window "
          f"{window:.1f} s{'; label ' + a.label if a.label else ''}")
    rows = [
        ("full mesh after start", f"{mesh_s:.2f} s"),
        ("CPU of the whole mesh in the window",
         f"{cpu_s:.3f} s (all threads of all {a.nodes} daemons, schedstat)"),
        ("CPU per node", f"{cpu_s / window / a.nodes * 100:.3f} % of a core"),
        ("wake-ups per node per round",
         f"{wakeups:.2f} (voluntary context switches; {wakeups / peers:.3f} per peer)"),
        ("epoll waits, lingers per node per round",
         f"{waits:.2f}, {lingers:.2f}"
         if waits is not None else f"not measured: {perf_note}"),
        ("syscalls per node per round",
         f"{syscalls:.2f} ({syscalls / peers:.2f} per peer-round)"
         if syscalls is not None else f"not measured: {perf_note}"),
        ("peak RSS of a node (VmHWM, max)", f"{hwm} KiB"),
        ("events in the logs", "not checked (the earlier tool)" if a.earlier else
         f"{len(events)}{' (none: good)' if not events else ' FALSE EVENTS'}"
         f"{f'; {startup} of the startup (peers not started yet)' if startup else ''}"),
    ]
    for k, v in rows:
        print(f"  {k:<48} {v}")
    for e in events[:20]:
        print(f"  event: {e}")
    print(json.dumps({
        "bench": "mesh", "earlier_tool": bool(a.earlier), "label": a.label, "bin": binary, "bytes": os.path.getsize(binary),
        "nodes": a.nodes, "interval_ms": a.interval, "window_s": round(window, 2),
        "full_mesh_s": round(mesh_s, 2), "mesh_cpu_s": round(cpu_s, 4),
        "cpu_pct_per_node": round(cpu_s / window / a.nodes * 100, 4),
        "wakeups_per_node_round": round(wakeups, 3),
        "epoll_waits_per_node_round": None if waits is None else round(waits, 3),
        "lingers_per_node_round": None if lingers is None else round(lingers, 3),
        "syscalls_per_node_round": None if syscalls is None else round(syscalls, 3),
        "hwm_kib_max": hwm, "events": len(events), "startup_events": startup,
        "load_average": os.getloadavg()[0],
    }))
    return 1 if events else 0


if __name__ == "__main__":
    sys.exit(main())
