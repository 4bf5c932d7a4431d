#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for SECONDS each (default 60).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Uses `cargo +nightly fuzz` when a nightly toolchain is installed, else the stable
# toolchain with RUSTC_BOOTSTRAP=1; installs cargo-fuzz when it is missing.
#
# Each target runs on a working corpus, $FUZZ_CORPUS_DIR/<target>/ (default
# fuzz/target/corpus/<target>/, ignored by git and kept between runs), into which its seed
# corpus fuzz/corpus/<target>/ is copied first: the fuzzer never writes into the repository.
# Findings are written to fuzz/artifacts/<target>/.
#
# Environment:
#   FUZZ_CORPUS_DIR  where the working corpora live (CI passes a temporary directory)
#   FUZZ_JOBS        how many targets run at once (default: the number of CPUs)
#   FUZZ_SANITIZER   cargo-fuzz sanitizer (default: address; `none` is about twice as fast)
#   FUZZ_ARGS        extra libFuzzer arguments, e.g. "-max_len=1024"
#   FUZZ_LOG_DIR     keep each target's full libFuzzer log there (default: a temporary
#                    directory, removed at exit; the last lines are shown on a finding)
#
# Exit status: 0 if no target found anything, 1 on a finding or a build failure, 3 when
# this machine cannot fuzz (no toolchain that can, no C++ compiler): the reason is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${1:-60}
[[ $# -gt 0 ]] && shift
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -eq 0 ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi
all_targets=(framer message config tracker logline wheel mesh http legacy)
targets=("${@:-${all_targets[@]}}")
for t in "${targets[@]}"; do
    if [[ ! -f fuzz/fuzz_targets/$t.rs ]]; then
        echo "fuzz.sh: no target $t (targets: ${all_targets[*]})" >&2
        exit 2
    fi
done

skip() {
    echo "fuzz.sh: cannot fuzz on this machine: $*" >&2
    exit 3
}

# libFuzzer and the sanitizers: Linux or macOS on x86-64 or ARM64.
case "$(uname -s)/$(uname -m)" in
    Linux/x86_64 | Linux/aarch64 | Darwin/x86_64 | Darwin/arm64) ;;
    *) skip "libFuzzer is not supported on $(uname -s)/$(uname -m)" ;;
esac
# libfuzzer-sys compiles libFuzzer from C++ source.
if [[ -z ${CXX:-} ]] && ! command -v c++ >/dev/null && ! command -v clang++ >/dev/null \
    && ! command -v g++ >/dev/null; then
    skip "no C++ compiler (c++, clang++ or g++; or set CXX)"
fi

# A toolchain that takes -Z flags: nightly, or stable told to act like one.
if cargo +nightly --version >/dev/null 2>&1; then
    cargo=(cargo +nightly)
    echo "fuzz.sh: toolchain: $(cargo +nightly --version)"
elif command -v cargo >/dev/null && RUSTC_BOOTSTRAP=1 rustc -Z help >/dev/null 2>&1; then
    export RUSTC_BOOTSTRAP=1
    cargo=(cargo)
    echo "fuzz.sh: no nightly toolchain; using $(cargo --version) with RUSTC_BOOTSTRAP=1"
else
    skip "no nightly toolchain, and the stable one does not accept RUSTC_BOOTSTRAP=1"
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

sanitizer=${FUZZ_SANITIZER:-address}
corpus_root=${FUZZ_CORPUS_DIR:-$root/fuzz/target/corpus}
jobs=${FUZZ_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || jobs=1
[[ $jobs -le ${#targets[@]} ]] || jobs=${#targets[@]}
if [[ -n ${FUZZ_LOG_DIR:-} ]]; then
    logs=$FUZZ_LOG_DIR
    mkdir -p "$logs"
    rm -f "$logs"/*.rc
else
    logs=$(mktemp -d)
    trap 'rm -rf "$logs"' EXIT
fi

echo "fuzz.sh: building ${targets[*]} (sanitizer: $sanitizer)"
# `cargo fuzz build` takes one target or all of them.
if [[ ${#targets[@]} -ne ${#all_targets[@]} ]]; then
    for t in "${targets[@]}"; do "${cargo[@]}" fuzz build -s "$sanitizer" "$t"; done
else
    "${cargo[@]}" fuzz build -s "$sanitizer"
fi

run_one() {
    local t=$1 work="$corpus_root/$1"
    mkdir -p "$work"
    cp -R "$root/fuzz/corpus/$t/." "$work/"
    # -timeout: an input that takes 10 s is a finding (a hang), not a slow test.
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of words.
    "${cargo[@]}" fuzz run -s "$sanitizer" "$t" "$work" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        ${FUZZ_ARGS:-} >"$logs/$t.log" 2>&1
}

echo "fuzz.sh: running ${targets[*]} for ${seconds}s each, $jobs at a time"
start=$SECONDS
pending=("${targets[@]}")
running=()
failed=()
report() {
    local t=$1 rc
    rc=$(cat "$logs/$t.rc")
    local stats
    stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$logs/$t.log" | tail -n 1 || true)
    if [[ $rc -eq 0 ]]; then
        echo "  $t: ok: ${stats:-no final stats}"
    else
        failed+=("$t")
        echo "  $t: FAILED (exit $rc); from its log:"
        {
            grep -E -m 1 -A 14 'panicked at|ERROR: libFuzzer|==[0-9]+== ?ERROR' "$logs/$t.log" || true
            echo "..."
            tail -n 30 "$logs/$t.log"
        } | sed 's/^/    | /'
    fi
}
while [[ ${#pending[@]} -gt 0 || ${#running[@]} -gt 0 ]]; do
    while [[ ${#pending[@]} -gt 0 && ${#running[@]} -lt $jobs ]]; do
        t=${pending[0]}
        pending=("${pending[@]:1}")
        (
            rc=0
            run_one "$t" || rc=$?
            echo "$rc" >"$logs/$t.rc"
        ) &
        running+=("$t")
    done
    wait -n || true
    still=()
    for t in "${running[@]}"; do
        if [[ -f $logs/$t.rc ]]; then report "$t"; else still+=("$t"); fi
    done
    running=("${still[@]}")
done
echo "fuzz.sh: done in $((SECONDS - start))s"

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: FINDINGS in: ${failed[*]} (inputs in fuzz/artifacts/<target>/;" \
        "reproduce with: cargo +nightly fuzz run <target> <artifact>)" >&2
    exit 1
fi
echo "fuzz.sh: no findings"
