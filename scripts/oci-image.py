#!/usr/bin/env python3
"""Writes uptime-tracker's container image as an OCI image layout, without a Docker daemon.

The image is what the Dockerfile builds (FROM scratch): the static binary at
/uptime-tracker as the entrypoint, `run --config /config/config.toml` as the command, user
10001:10001, an empty /logs owned by that user as a volume, port 7100/tcp, SIGTERM to stop.
One manifest per CPU under one index, so `podman pull`/`skopeo copy` pick the right one.

Usage: oci-image.py OUT_DIR VERSION ARCH=BINARY [ARCH=BINARY...]
  ARCH: amd64, arm64, arm (ARMv7), mipsle, mips, riscv64 (OCI's names)
Writes the layout into OUT_DIR (oci-layout, index.json, blobs/sha256/): the tag VERSION
is the index of every CPU's image, VERSION-ARCH each one (org.opencontainers.image.ref.name). Deterministic: file times and the image's creation
time are SOURCE_DATE_EPOCH, owners numeric, gzip without a name or time; so the same
binaries give the same digests. Read it with any OCI tool: `umoci unpack --image
OUT_DIR:VERSION-amd64 bundle`, `skopeo copy oci:OUT_DIR:VERSION docker-daemon:uptime-tracker:VERSION`,
or `podman load` of its tar (scripts/release.sh tars it).
"""

import datetime
import gzip
import hashlib
import io
import json
import os
import pathlib
import sys
import tarfile

UID = 10001


def blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    path = out / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def layer(binary, epoch):
    """(the gzipped layer, the uncompressed tar's digest)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = pathlib.Path(binary).read_bytes()
        info = tarfile.TarInfo("uptime-tracker")
        info.size, info.mode, info.mtime = len(data), 0o755, epoch
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(data))
        logs = tarfile.TarInfo("logs")
        logs.type, logs.mode, logs.mtime = tarfile.DIRTYPE, 0o750, epoch
        logs.uid = logs.gid = UID
        logs.uname = logs.gname = ""
        tar.addfile(logs)
    raw = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw)
    return packed.getvalue(), "sha256:" + hashlib.sha256(raw).hexdigest()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, version = pathlib.Path(sys.argv[1]), sys.argv[2]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    out.mkdir(parents=True, exist_ok=True)
    (out / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    manifests = []
    for spec in sys.argv[3:]:
        arch, binary = spec.split("=", 1)
        variant = "v7" if arch == "arm" else None
        gz, diff_id = layer(binary, epoch)
        layer_desc = blob(out, gz)
        layer_desc["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
        platform = {"architecture": arch, "os": "linux"}
        if variant:
            platform["variant"] = variant
        config = {
            "created": created,
            **platform,
            "config": {
                "User": f"{UID}:{UID}",
                "ExposedPorts": {"7100/tcp": {}},
                "Entrypoint": ["/uptime-tracker"],
                "Cmd": ["run", "--config", "/config/config.toml"],
                "Volumes": {"/logs": {}},
                "StopSignal": "SIGTERM",
                "Labels": {"org.opencontainers.image.version": version,
                           "org.opencontainers.image.licenses": "MIT",
                           "org.opencontainers.image.title": "uptime-tracker"},
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": created, "created_by": "scripts/oci-image.py"}],
        }
        config_desc = blob(out, json.dumps(config, sort_keys=True).encode())
        config_desc["mediaType"] = "application/vnd.oci.image.config.v1+json"
        manifest = {"schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": [layer_desc]}
        desc = blob(out, json.dumps(manifest, sort_keys=True).encode())
        desc["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
        desc["platform"] = platform
        manifests.append(desc)
    # The tag VERSION is an image index of every CPU (what `podman pull`, skopeo and
    # registries resolve by platform); each CPU's image is also tagged VERSION-ARCH, for
    # tools that take one image only (umoci).
    inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": manifests}
    top = blob(out, json.dumps(inner, sort_keys=True).encode())
    top["mediaType"] = "application/vnd.oci.image.index.v1+json"
    top["annotations"] = {"org.opencontainers.image.ref.name": version}
    tagged = []
    for m in manifests:
        name = f"{version}-{m['platform']['architecture']}"
        tagged.append({**m, "annotations": {"org.opencontainers.image.ref.name": name}})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [top] + tagged}
    (out / "index.json").write_text(json.dumps(index, sort_keys=True))


if __name__ == "__main__":
    main()
