#!/usr/bin/env python3
"""Prints the dependency list cargo-auditable embedded in a binary (its `.dep-v0` ELF
section: zlib-compressed JSON), for any CPU's ELF (32/64-bit, either byte order), where
`cargo audit bin` or syft are not at hand. Usage: dep-list.py BINARY [--json]
Prints one "name version kind" line per package (kind: runtime or build), or the JSON.
Exit 1 when the binary has no such section. scripts/release.sh checks every binary with it.
"""
import json
import struct
import sys
import zlib


def section(path, want=b".dep-v0"):
    d = open(path, "rb").read()
    if d[:4] != b"\x7fELF":
        sys.exit(f"{path}: not an ELF file")
    e = "<" if d[5] == 1 else ">"
    if d[4] == 2:  # 64-bit
        shoff, = struct.unpack_from(e + "Q", d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", d, 0x3A)
        fmt = e + "IIQQQQ"
    else:
        shoff, = struct.unpack_from(e + "I", d, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", d, 0x2E)
        fmt = e + "IIIIII"

    def header(i):
        name, _typ, _flags, _addr, off, size = struct.unpack_from(fmt, d, shoff + i * shentsize)
        return name, off, size

    _, stroff, _ = header(shstrndx)
    for i in range(shnum):
        name, off, size = header(i)
        if d[stroff + name:d.index(b"\0", stroff + name)] == want:
            return d[off:off + size]
    sys.exit(f"{path}: no {want.decode()} section (not built with cargo auditable)")


def main():
    data = json.loads(zlib.decompress(section(sys.argv[1])))
    if "--json" in sys.argv[2:]:
        print(json.dumps(data, indent=1))
        return
    for p in data["packages"]:
        print(p["name"], p["version"], p.get("kind", "runtime"))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # `dep-list.py FILE | head`
        sys.exit(0)
