#!/usr/bin/env python3
"""Writes the hand-made seed corpus, fuzz/corpus/<target>/<name>.

Run from anywhere: python3 fuzz/seeds/make_seeds.py. Rewrites only the seed files it
names (files added by other means, e.g. minimized findings, are left alone).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(os.path.dirname(HERE), "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- framer: [n] [n control bytes] [stream]
stream = b"HELLO 1 node1\nPING 0\r\nPONG 0\nFOO bar\n\nPING 18446744073709551615\npartial"
write("framer", "lines-whole", bytes([0]) + stream)
write("framer", "lines-1byte", bytes([1, 0x00]) + stream)
write("framer", "lines-mixed", bytes([4, 0x02, 0x45, 0x81, 0xff]) + stream)
write("framer", "crlf-split", bytes([2, 0x00, 0x40]) + b"PING 1\r\n\r\n\r\r\n")
write("framer", "exactly-max", bytes([0]) + b"x" * 511 + b"\n" + b"y" * 10)
write("framer", "too-long", bytes([2, 0x9f, 0x05]) + b"z" * 512 + b"\nPING 1\n")
write("framer", "long-then-short", bytes([3, 0x7f, 0xbf, 0x01]) + b"a" * 300 + b"\n" + b"b" * 511 + b"\n")

# ---- message: one line
for name, line in [
    ("hello", b"HELLO 1 node1"),
    ("hello-max", b"HELLO 4294967295 " + b"n" * 64),
    ("hello-punct", b"HELLO 2 a_b~c.d@e#f$g%h^&*()=+[]{};'\"<>?,`\\"),
    ("ping", b"PING 0"),
    ("ping-max", b"PING 18446744073709551615"),
    ("pong", b"PONG 42"),
    ("unknown", b"NEWVERB some \xff stuff"),
    ("unknown-16", b"ABCDEFGHIJKLMNOP"),
    ("bad-leading-zero", b"PING 01"),
    ("bad-overflow", b"PONG 18446744073709551616"),
    ("bad-version", b"HELLO 0 a"),
    ("bad-name", b"HELLO 1 a|b"),
    ("bad-spacing", b"PING  1"),
    ("bad-cr", b"PING 1\r"),
    ("empty", b""),
    ("challenge", b"CHALLENGE 1 node1 00112233445566778899aabbccddeeff"),
    ("response", b"RESPONSE 1 node2 00112233445566778899aabbccddeeff " + b"0f" * 32),
    ("proof", b"PROOF " + b"ab" * 32),
    ("bad-proof-upper", b"PROOF " + b"AB" * 32),
]:
    write("message", name, line)

# ---- legacy: an old node's HTTP responses, chunk sizes in the first byte
bun = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=utf-8\r\n"
       b"Date: Tue, 25 Nov 2026 20:00:00 GMT\r\nContent-Length: 12\r\n\r\nstill online")
write("legacy", "bun-three", bytes([0]) + bun * 3)
write("legacy", "bun-split", bytes([7]) + bun * 2)
write("legacy", "chunked", bytes([3]) + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
      b"Transfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")
write("legacy", "until-close", bytes([0]) + b"HTTP/1.0 200 OK\n\nanything")
write("legacy", "request-head", bytes([1]) + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
write("legacy", "bad", bytes([0]) + b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
# The mesh port's request lines: a mesh line, then request lines the shared parser takes
# or refuses (another case, another target form, another version), then headers.
write("legacy", "mesh-port-lines", bytes([0]) + b"HELLO 1 node1\nget / HTTP/1.0\nGET * HTTP/1.1\n"
      b"GET http://a/ HTTP/1.1\nHEAD /x?y HTTP/2.0\nConnection: close, keep-alive\n"
      b"Content-Length: 00\nContent-Length:\n folded\nX: a\x7fb\n\n")

# ---- config: the example config and variants
example = open(os.path.join(HERE, "..", "..", "config.example.toml"), "rb").read()
write("config", "example", example)
write("config", "example-whoami", b"#!whoami node3\n" + example)
write("config", "metrics-listen", example.replace(b"log_folder = \"logs\"", b"log_folder = \"logs\"\nmetrics_listen = \"127.0.0.1:9464\"", 1))
write("config", "camel-v6-listen", """whoami = "b"
interval = 250
timeout = 62500
offlineThreshold = 1
logFolder = "/var/log/ut"
listen = "[::1]:9000"

[[nodes]]
name = "a"
ip = "::1"
port = 1

[[nodes]]
name = "b"
ip = "::ffff:10.0.0.1"
port = 65535
""")
write("config", "edge-values", """whoami = "x~y.z"
interval = 86400000
timeout = 86400000
offline_threshold = 4294967295
log_folder = "rel/\\u00e9t\\u00e9 dir"
nodes = [ { name = "x~y.z", ip = "10.1.2.3", port = 7 }, { name = "q", ip = "10.1.2.3", port = 8 } ]
""")
write("config", "bad-port", example.replace(b"port = 47002", b"port = 0"))
write("config", "bad-timeout", example.replace(b"timeout = 1500", b"timeout = 250001"))
write("config", "bad-dup-name", example.replace(b'name = "node3"', b'name = "node1"'))
write("config", "bad-unknown-key", example.replace(b"timeout = 1500", b"timeout = 1500\ncolour = 1"))
write("config", "bad-syntax", b"whoami = \"node1\nnodes = [\n")
write("config", "empty", b"")

# ---- logline: log files (the DESIGN.md example and variants)
design = (
    "---\n"
    "0.0.3|2026-11-23T20:09:18.938Z|3|node2|node1:127.0.0.1:47001!node2:127.0.0.1:47002!node3:127.0.0.1:47003\n"
    "2026-11-23T20:09:25.940Z|node1|1\n"
    "2026-11-23T20:09:26.940Z|node1|2\n"
    "2026-11-23T20:09:27.940Z|node1|3\n"
)
write("logline", "design-example", design)
write("logline", "two-runs-v6", design + (
    "---\n"
    "0.0.3|2026-11-24T00:00:00.000Z|1|a|a:[::1]:1!b:[fe80::1]:65535\n"
    "2026-11-24T00:00:00.001Z|b|1\n"
    "2026-11-23T23:59:59.999Z|b|0\n"
))
write("logline", "extremes", (
    "---\n"
    "0.0.3|0000-01-01T00:00:00.000Z|4294967295|n|n:0.0.0.0:0\n"
    "9999-12-31T23:59:59.999Z|n|0\n"
))
write("logline", "leap-day", "2024-02-29T12:34:56.789Z|peer|7\n")
write("logline", "bad-date", "2023-02-29T12:34:56.789Z|peer|7\n")
write("logline", "bad-cut-line", design + "2026-11-23T20:09:2")
write("logline", "bad-own-node", design + "2026-11-23T20:09:28.940Z|node2|1\n")
write("logline", "bad-stray-header", design.split("\n", 1)[1])
write("logline", "timestamps-raw", struct.pack("<qq", 1_795_000_000_000, -1) + b"|x|1\n")

# ---- tracker: [threshold, peers, timeout, start] then ops (see tracker.rs)
START, ROUND, REPLY, STALE, MISS_ALL, ADD, ADV, TO_DEADLINE, ADV16 = 0, 2, 3, 5, 6, 7, 8, 10, 11


def adv(step, mode):  # mode 0: step ms, 1: step*64, 2: one timeout, 3: step*100000
    return bytes([ADV, (mode << 6) | step])


t = bytearray([3, 2, 25, 0])  # threshold 3, 2 peers, timeout 101 ms, start 0
for _ in range(4):  # rounds with no reply: peers go offline
    t += bytes([ROUND]) + adv(0, 2)
t += bytes([ROUND, REPLY, 0, 0, REPLY, 1, 0])  # both recover
t += bytes([ROUND, ROUND, ROUND, MISS_ALL, 1, REPLY, 0, 1, STALE, 0, 0, STALE, 1, 3])
t += bytes([ADD, START, 2, TO_DEADLINE, 1, TO_DEADLINE, 0, ADV16, 0x10, 0x27])
write("tracker", "rounds", bytes(t))
write("tracker", "threshold1", bytes([1, 1, 0, 1, START, 0, ADV, 0x81, START, 0, REPLY, 0, 0, ADV, 0xff]))
write("tracker", "end-of-time", bytes([2, 3, 255, 3, ROUND, ROUND, ADV, 0xff, ROUND, MISS_ALL, 2, ADV, 0xff]))
write("tracker", "cap", bytes([5, 1, 250, 2]) + bytes([START, 0]) * 300 + bytes([REPLY, 0, 7, MISS_ALL, 0]))
write("tracker", "unknown-peer", bytes([0, 0, 1, 0, START, 0, REPLY, 0, 0, STALE, 0, 9, MISS_ALL, 0, ADD, START, 0]))

# ---- wheel: [start kind (+args)] then ops (see wheel.rs)
SCHED, CANCEL, STALE_W, POP, BURST = 0, 3, 4, 5, 7
w = bytearray([0])
for kind, b in [(1, 5), (1, 5), (2, 0), (9, 0x42), (9, 0x45), (6, 0), (5, 1), (11, 200), (0, 0)]:
    w += bytes([SCHED, kind, b])
    if kind in (0, 2):
        w += b"\x10\x00"
w += bytes([POP, 5, 0, CANCEL, 1, 0, STALE_W, 0, BURST, 1, 64, 1, POP | 8, 3, 0, 0, 0, 0, 1, 0, POP, 7, 0])
write("wheel", "mixed", bytes(w))
write("wheel", "near-horizon", bytes([1, 200, SCHED, 5, 0, SCHED, 5, 2, SCHED, 4, 0, 0, 0, 0, 1, 0, POP, 8, 20, POP, 8, 255]))
write("wheel", "end-of-u64", bytes([3, 5, 0, SCHED, 6, 0, SCHED, 6, 2, SCHED, 8, 0, POP, 7, 1, POP, 4, 0, 0x10, 0x00, POP, 7, 0]))
write("wheel", "overdue", bytes([4, SCHED, 1, 60, POP, 1, 100, SCHED, 0, 0, 0x20, 0, SCHED, 0, 0, 0x10, 0, SCHED, 8, 0, POP | 8, 0, 0, 0, SCHED, 8, 0]))

# ---- mesh: setup, then ops (see mesh.rs)
# Setup: [nodes-2 + 5*layout, me, interval-1 u16, timeout-1 u32, threshold-1, clocks, ...]
# clocks: bits 0-1 mono (0: 0, 1: +u32, 2: near the wheel's horizon, 3: 2^40), bits 2-3
# wall (0: 2026-01-01 minus 60 s + u16, 1: minus u32, 2: before 1970 by u16, 3: year
# 9999's end minus u16).
(M_ADV, M_ADV16, M_DEADLINE, M_TIMEOUT, M_WALL, M_CONNECTED, M_ACCEPT, M_LINES, M_RAW,
 M_CLOSED, M_WROTE, M_STALE, M_FLUSH, M_COOP, M_ROUNDS, M_ADV_S, M_BLIND, M_STORM,
 M_ACCEPT_ERR, M_STRANGERS) = range(20)
# M_LINES kinds (+0x40: CRLF, +0x80: HELLO version / u64 PING byte(s) follow)
L_HELLO, L_HELLO_NODE, L_HELLO_ME, L_HELLO_STRANGER, L_PING, L_PONG, L_GARBAGE, L_UNKNOWN, L_BURST, L_OPENING = range(10)


def mesh_setup(nodes, layout, me, interval, timeout, threshold, clocks=0, extra=b"\x00\x00"):
    return (bytes([nodes - 2 + 5 * layout, me]) + struct.pack("<HI", interval - 1, timeout - 1)
            + bytes([threshold - 1, clocks]) + extra)


def rounds(k):  # k rounds of (advance one interval, handle_timeout)
    return bytes([M_ROUNDS, k - 1])


healthy = mesh_setup(3, 0, 0, 200, 300, 3) + bytes([M_COOP])
for _ in range(12):
    healthy += rounds(1) + bytes([M_COOP])
write("mesh", "healthy", healthy)

silent = mesh_setup(2, 0, 1, 100, 250, 3) + bytes([M_COOP])
for _ in range(8):
    silent += rounds(1) + bytes([M_FLUSH])
for _ in range(4):
    silent += bytes([M_COOP]) + rounds(1)
write("mesh", "silent-peer", silent)

refused = mesh_setup(2, 0, 0, 1000, 1500, 3, clocks=0, extra=struct.pack("<H", 57000))
for _ in range(2):
    refused += bytes([M_CLOSED, 0, 1]) + rounds(1)
refused += bytes([M_WALL, 1 | (5 << 2), M_CLOSED, 0, 1, M_WALL, 2, M_TIMEOUT, M_ADV16, 0x60, 0xea])
refused += rounds(1) + bytes([M_COOP, M_WALL, 0, M_DEADLINE, 0, M_DEADLINE, 1])
write("mesh", "refusals-midnight", refused)

# node1 (me) listens; node2 calls (a = 1 << 3: node index 1), proves itself, is probed.
listener = mesh_setup(4, 0, 0, 500, 1000, 2) + bytes([M_COOP])
listener += bytes([M_ACCEPT, 1 << 3, 7, M_LINES, 3, L_HELLO, M_LINES, 3, L_PING, 9, M_FLUSH])
listener += bytes([M_ACCEPT, 1 << 3, 8, M_LINES, 4, L_HELLO])  # replaces the first
listener += bytes([M_ACCEPT, 6, 1, M_ACCEPT, (2 << 3) | 5, 2, M_LINES, 4, L_HELLO_ME])
listener += bytes([M_ACCEPT, 3 << 3, 3, M_LINES, 4, L_GARBAGE, 3, M_ACCEPT, 3 << 3, 4, M_LINES, 4, L_UNKNOWN, 1])
for p in range(6):  # a flood from node3's address: evictions
    listener += bytes([M_ACCEPT, 2 << 3, 20 + p])
listener += bytes([M_STALE, 0, 0, M_STALE, 9, 2, M_STALE, 18, 0x41, M_STALE, 27, 1, M_STALE, 36, 5])
listener += bytes([M_ADV16, 0x88, 0x13, M_TIMEOUT, M_COOP]) + rounds(2)
write("mesh", "listener", listener)

# Both nodes on 127.0.0.1; the peer (conn 1, after our link) proves itself, then sends
# PINGs faster than it reads the PONGs: cut off.
flood = mesh_setup(2, 1, 0, 10, 20, 1) + bytes([M_ACCEPT, 0, 1, M_LINES, 1, L_HELLO, M_WROTE, 1, 1])
flood += bytes([M_LINES, 1, L_BURST, 0x7f, M_LINES, 1, L_BURST, 0xff, M_LINES, 1, L_BURST, 0xff, M_COOP]) + rounds(2)
write("mesh", "ping-flood", flood)

# Five nodes on one IPv4, this one the third: any of them may call from it.
shared = mesh_setup(5, 1, 2, 50, 12500, 10, clocks=1 | (1 << 2), extra=struct.pack("<II", 123456, 86_400_000 * 3))
shared += bytes([M_CONNECTED, 0, M_CONNECTED, 1, M_ACCEPT, 0, 9, M_LINES, 4, L_HELLO_NODE, 2])
shared += bytes([M_ACCEPT, 0, 10, M_LINES, 5, L_OPENING, 4, M_WROTE, 5, 2, M_WROTE, 5, 7])
shared += bytes([M_LINES, 0, L_HELLO, M_LINES, 0, L_HELLO_STRANGER, 1, M_FLUSH, M_LINES, 1, L_PONG, 0])
shared += rounds(4) + bytes([M_COOP, M_ADV, 0x85, M_LINES, 0, L_PONG, 0]) + rounds(1)
write("mesh", "shared-ip", shared)

# IPv4-mapped IPv6 in the config; calls from the plain IPv4 (twin) and the mapped form.
mapped = mesh_setup(3, 2, 1, 300, 299, 2, clocks=2 | (3 << 2), extra=struct.pack("<H", 100))
mapped += bytes([M_COOP, M_ACCEPT, 5, 1, M_LINES, 3, L_HELLO, M_ACCEPT, (2 << 3) | 5, 2, M_LINES, 4, L_HELLO])
mapped += bytes([M_ACCEPT, 2 << 3, 3, M_LINES, 5, L_HELLO | 0xc0, 7]) + rounds(3)
mapped += bytes([M_CLOSED, 1, 0, M_CLOSED, 1, 2, M_CLOSED, 0, 6, M_WALL, 3, 0, 0]) + rounds(1) + bytes([M_COOP])
write("mesh", "mapped-v6", mapped)

raw = mesh_setup(3, 3, 0, 1, 250, 4, clocks=3 | (2 << 2), extra=struct.pack("<H", 5))
raw += bytes([M_CONNECTED, 0, M_RAW, 0, 9]) + b"HELLO 1 n"
raw += bytes([M_RAW, 0, 7]) + b"ode2\nPI" + bytes([M_RAW, 0, 4]) + b"NG 1"
raw += bytes([M_LINES, 0, L_PONG, 1, M_ACCEPT, 1 << 3, 0, M_RAW, 2, 20]) + b"\xffHELLO 1 node2\r\n\n\x00x"
raw += bytes([M_RAW, 1, 255]) + b"A" * 255 + bytes([M_RAW, 1, 255]) + b"B" * 255
raw += bytes([M_ADV_S, 6, M_TIMEOUT, M_DEADLINE, 0, M_COOP])
write("mesh", "raw-bytes", raw)

# Lines at the limit: an ignored unknown verb of exactly MAX_LINE bytes, then one byte
# more (closed), on connections proved and not.
limits = mesh_setup(3, 0, 0, 20, 40, 2) + bytes([M_COOP, M_ACCEPT, 1 << 3, 0, M_LINES, 3, L_HELLO])
limits += bytes([M_LINES, 3, L_UNKNOWN, 0x82, M_LINES, 3, L_UNKNOWN, 0x83, M_ACCEPT, 2 << 3, 1])
limits += bytes([M_LINES, 3, L_UNKNOWN | 0x40, 0x82, M_LINES, 3, L_UNKNOWN | 0x40, 0x83]) + rounds(3)
write("mesh", "line-limits", limits)

# Peers reconnecting 64 times over, while rounds go on.
storm = mesh_setup(4, 0, 3, 100, 5000, 5) + bytes([M_COOP, M_STORM, 63]) + rounds(2)
storm += bytes([M_STORM, 200, M_COOP, M_DEADLINE, 0, M_FLUSH]) + rounds(4)
write("mesh", "storm", storm)

# Up to 2048 rounds answered by peers that never read: the links' output fills up with PINGs
# until a round's PING closes them (not reading), failing their probes.
write("mesh", "never-written", mesh_setup(3, 0, 1, 10, 1000, 3) + bytes([M_BLIND, 31, M_COOP]) + rounds(2))

# This machine's trouble: a link closed for EMFILE (reason byte 15) voids its peer's probes;
# accept fails (ECONNABORTED, then ENFILE with a shortage: the oldest connection without
# HELLO of a flood from node2's address is evicted, then nothing is left to evict).
local = mesh_setup(3, 0, 0, 100, 1000, 3) + bytes([M_COOP]) + rounds(1) + bytes([M_FLUSH])
local += bytes([M_CLOSED, 0, 15, M_CLOSED, 0, 32 + 51 * 2]) + rounds(1)
for p in range(3):
    local += bytes([M_ACCEPT, 1 << 3, 50 + p, M_ADV, 1])
local += bytes([M_ACCEPT_ERR, 0, M_ACCEPT_ERR, 3, M_ACCEPT_ERR, 3, M_ACCEPT_ERR, 3, M_ACCEPT_ERR, 3])
local += bytes([M_COOP]) + rounds(2) + bytes([M_COOP])
write("mesh", "local-trouble", local)

# A partition heal: the link becomes ready in the millisecond its probe was missed (stale),
# so the peer's next handshake redials it; a fresh link is left alone.
heal = mesh_setup(2, 0, 0, 100, 150, 3) + bytes([M_ADV, 0x80 | 100, M_ADV16, 150, 0, M_TIMEOUT, M_COOP])
heal += bytes([M_STORM, 1, M_COOP, M_STORM, 1]) + rounds(2) + bytes([M_COOP, M_STORM, 1])
write("mesh", "partition-heal", heal)

# Strangers flood the port (from 8, then 64 addresses, past the strangers' places) while
# node2 and node3 connect and prove themselves, and rounds go on: a stranger never takes a
# configured node's place.
strangers = mesh_setup(3, 0, 0, 100, 1000, 3) + bytes([M_COOP, M_STRANGERS, 8 * 8 + 7])
strangers += bytes([M_ACCEPT, 1 << 3, 7, M_ACCEPT, 2 << 3, 8, M_STRANGERS, 63 * 4, M_STORM, 3])
strangers += bytes([M_ACCEPT_ERR, 3, M_STRANGERS, 255]) + rounds(2) + bytes([M_COOP])
write("mesh", "stranger-flood", strangers)

# ---- http: the bytes a client sent
write("http", "scrape", "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nUser-Agent: Prometheus/2.42.0\r\n"
      "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
      "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n")
write("http", "pipelined", "GET /status HTTP/1.1\r\nConnection: keep-alive\r\n\r\nHEAD /metrics?x=1 HTTP/1.0\n\n")
write("http", "http10-keepalive", "\r\nGET / HTTP/1.0\r\nConnection: Keep-Alive, TE\r\nContent-Length: 0\r\n\r\n")
write("http", "body", "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
write("http", "chunked", "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
write("http", "folded", "GET / HTTP/1.1\r\nA: b\r\n  c\r\n\r\n")
write("http", "version", "GET / HTTP/2.0\r\n\r\n")
write("http", "partial", "GET /metrics HTTP/1.1\r\nHost: a")
write("http", "mesh-line", "HELLO 1 node1\nPING 0\n")
# The limits, exactly and one over (the fuzzer mutates around them).
write("http", "max-headers", "GET / HTTP/1.1\r\n" + "A: b\r\n" * 64 + "\r\n")
write("http", "max-headers-plus-one", "GET / HTTP/1.1\r\n" + "A: b\r\n" * 65 + "\r\n")
write("http", "max-head", "GET / HTTP/1.1\r\nX: " + "a" * (8192 - 23) + "\r\n\r\n")
# An error that a line reader keeps to the head's end, with more headers after it.
write("http", "error-then-more", "GET / HTTP/1.0\nBad header\nContent-Length: 5\n"
      "Connection: close, keep-alive\n\nGET /status HTTP/1.1\n\n")
write("http", "content-length-zeros", "HEAD /status HTTP/1.1\r\nContent-Length: 000\r\n\r\n")
