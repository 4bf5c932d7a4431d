#!/usr/bin/env bash
# Builds the Debian package of one binary (docs/install.md, Debian package):
#   /usr/bin/uptime-tracker                          the binary given
#   /usr/lib/systemd/system/uptime-tracker.service   packaging/systemd's unit, ExecStart /usr/bin
#   /usr/lib/sysusers.d/uptime-tracker.conf          the system user (postinst: systemd-sysusers)
#   /etc/uptime-tracker/config.toml                  conffile: packaging/systemd/config.toml
#   /etc/logrotate.d/uptime-tracker                  conffile: packaging/logrotate's snippet
#   /usr/share/doc/uptime-tracker/                   copyright (LICENSE), THIRD-PARTY-NOTICES.txt
#                                                    when given, README.md
# Maintainer scripts: packaging/debian/ (DPKG_ROOT-aware; the service is not started: its
# config must be edited first).
#
# Usage: scripts/build-deb.sh BINARY DEB_ARCH VERSION OUT_DIR [NOTICES_FILE]
#   DEB_ARCH: amd64, arm64, armhf, mipsel, mips, riscv64 (what the binary is built for)
# Prints the .deb's path. Reproducible: every file's time is SOURCE_DATE_EPOCH (the last
# commit's time when unset), owners root:root (dpkg-deb --root-owner-group).
set -euo pipefail
[ $# -ge 4 ] || {
  sed -n '2,16p' "$0" >&2
  exit 2
}
bin=$1 arch=$2 version=$3 out=$4 notices=${5:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
command -v dpkg-deb >/dev/null || {
  echo "build-deb.sh: dpkg-deb missing (apt-get install dpkg)" >&2
  exit 3
}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH

root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT
umask 022
install -D -m 0755 "$bin" "$root/usr/bin/uptime-tracker"
install -d "$root/usr/lib/systemd/system" "$root/usr/lib/sysusers.d" "$root/etc/uptime-tracker" \
  "$root/etc/logrotate.d" "$root/usr/share/doc/uptime-tracker" "$root/DEBIAN"
sed 's|^ExecStart=/usr/local/bin/uptime-tracker |ExecStart=/usr/bin/uptime-tracker |' \
  "$repo/packaging/systemd/uptime-tracker.service" >"$root/usr/lib/systemd/system/uptime-tracker.service"
grep -q '^ExecStart=/usr/bin/uptime-tracker ' "$root/usr/lib/systemd/system/uptime-tracker.service" || {
  echo "build-deb.sh: the unit's ExecStart is not /usr/local/bin/uptime-tracker any more: update this script" >&2
  exit 1
}
install -m 0644 "$repo/packaging/systemd/uptime-tracker.sysusers" "$root/usr/lib/sysusers.d/uptime-tracker.conf"
install -m 0644 "$repo/packaging/systemd/config.toml" "$root/etc/uptime-tracker/config.toml"
install -m 0644 "$repo/packaging/logrotate/uptime-tracker" "$root/etc/logrotate.d/uptime-tracker"
install -m 0644 "$repo/LICENSE" "$root/usr/share/doc/uptime-tracker/copyright"
install -m 0644 "$repo/README.md" "$root/usr/share/doc/uptime-tracker/README.md"
[ -n "$notices" ] && install -m 0644 "$notices" "$root/usr/share/doc/uptime-tracker/THIRD-PARTY-NOTICES.txt"
for f in postinst prerm postrm; do install -m 0755 "$repo/packaging/debian/$f" "$root/DEBIAN/$f"; done
printf '/etc/uptime-tracker/config.toml\n/etc/logrotate.d/uptime-tracker\n' >"$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  "$repo/packaging/debian/control.in" >"$root/DEBIAN/control"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb="$out/uptime-tracker_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
