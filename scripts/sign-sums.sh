#!/usr/bin/env bash
# Sums and signs a release folder (docs/install.md, Verifying a release):
#   DIR/SHA256SUMS          sha256sum of every other file in DIR (sorted, names only)
#   DIR/SHA256SUMS.minisig  with MINISIGN_SECRET_KEY=FILE: minisign (a password-protected
#                           key asks for its password); the public key is minisign.pub
#   DIR/SHA256SUMS.sig      with SSH_SIGNING_KEY=FILE: ssh-keygen -Y sign, namespace
#                           uptime-tracker-release
# Neither tool needs an online service. Then it verifies what it wrote the way a user does
# (with MINISIGN_PUBLIC_KEY=FILE, or SSH_ALLOWED_SIGNERS=FILE and SSH_SIGNER_IDENTITY) and
# `sha256sum -c`. Usage: scripts/sign-sums.sh DIR [--unsigned]   (--unsigned: sums only)
# Exit: 0 signed and verified (or summed with --unsigned), 1 a failure, 2 no key given.
set -euo pipefail
dir=${1:?usage: sign-sums.sh DIR [--unsigned]}
unsigned=${2:-}
# Key paths as given, from where the script was started (it works inside DIR).
abs() { case $1 in /* | "") echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
MINISIGN_SECRET_KEY=$(abs "${MINISIGN_SECRET_KEY:-}")
MINISIGN_PUBLIC_KEY=$(abs "${MINISIGN_PUBLIC_KEY:-}")
SSH_SIGNING_KEY=$(abs "${SSH_SIGNING_KEY:-}")
SSH_ALLOWED_SIGNERS=$(abs "${SSH_ALLOWED_SIGNERS:-}")
cd "$dir"
rm -f SHA256SUMS SHA256SUMS.minisig SHA256SUMS.sig
find . -maxdepth 1 -type f ! -name 'SHA256SUMS*' -printf '%f\n' | LC_ALL=C sort |
  xargs -d '\n' sha256sum >SHA256SUMS
sha256sum --quiet -c SHA256SUMS
signed=0
if [ -n "${MINISIGN_SECRET_KEY:-}" ]; then
  minisign -S -s "$MINISIGN_SECRET_KEY" -m SHA256SUMS -x SHA256SUMS.minisig \
    -t "uptime-tracker release: $(basename "$(pwd)")"
  if [ -n "${MINISIGN_PUBLIC_KEY:-}" ]; then
    minisign -V -p "$MINISIGN_PUBLIC_KEY" -m SHA256SUMS -x SHA256SUMS.minisig
  fi
  signed=1
fi
if [ -n "${SSH_SIGNING_KEY:-}" ]; then
  ssh-keygen -q -Y sign -f "$SSH_SIGNING_KEY" -n uptime-tracker-release SHA256SUMS
  if [ -n "${SSH_ALLOWED_SIGNERS:-}" ]; then
    ssh-keygen -Y verify -f "$SSH_ALLOWED_SIGNERS" -I "${SSH_SIGNER_IDENTITY:?}" \
      -n uptime-tracker-release -s SHA256SUMS.sig <SHA256SUMS
  fi
  signed=1
fi
if [ $signed -eq 0 ] && [ "$unsigned" != --unsigned ]; then
  echo "sign-sums.sh: no key: set MINISIGN_SECRET_KEY (or SSH_SIGNING_KEY), or pass --unsigned" >&2
  exit 2
fi
