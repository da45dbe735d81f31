#!/usr/bin/env bash
# Build the fuzz targets (fuzz/, cargo-fuzz layout) and run each for a while.
#
#   scripts/fuzz.sh                       every target, FUZZ_SECONDS (20) each
#   FUZZ_SECONDS=1800 scripts/fuzz.sh hyperliquid_action    one target, longer
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 20)
#   FUZZ_SANITIZER  cargo fuzz --sanitizer (default none: the targets are
#                   safe Rust, and without a sanitizer they build and run
#                   several times faster; use "address" for unsafe code)
#   FUZZ_JOBS       parallel fuzzing processes per target (default 1)
#
# Each target starts from the checked-in seeds (fuzz/seeds/TARGET) and the
# corpus earlier runs grew (fuzz/corpus/TARGET, git-ignored). A crash, panic,
# timeout or out-of-memory stops that target; its input is saved under
# fuzz/artifacts/TARGET/ and printed with the command that replays it. The
# script goes on with the other targets and exits non-zero if any failed.
# Needs a nightly toolchain (libFuzzer's instrumentation), which it asks
# rustup for when missing, and cargo-fuzz, which it installs from crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds=${FUZZ_SECONDS:-20}
sanitizer=${FUZZ_SANITIZER:-none}
jobs=${FUZZ_JOBS:-1}

command -v cargo >/dev/null 2>&1 || { echo "fuzz: missing the Rust toolchain (cargo)" >&2; exit 1; }
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "== installing a nightly toolchain (rustup toolchain install nightly --profile minimal)"
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: missing a nightly Rust toolchain, which cargo fuzz needs, and installing it failed (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install --quiet cargo-fuzz --locked || {
        echo "fuzz: missing cargo-fuzz, and installing it failed" >&2
        exit 1
    }
fi

flags=(--sanitizer "$sanitizer" --debug-assertions)
echo "== cargo +nightly fuzz build (sanitizer: $sanitizer, debug assertions on)"
nice cargo +nightly fuzz build "${flags[@]}"

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

failed=()
for t in "${targets[@]}"; do
    [ -d "fuzz/seeds/$t" ] || { echo "fuzz: no seeds for target $t (fuzz/seeds/$t)" >&2; exit 1; }
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t" fuzz/logs
    log="fuzz/logs/$t.log"
    before=$(find "fuzz/artifacts/$t" -type f ! -name '*.log' | sort)
    echo "== fuzz $t for ${seconds}s"
    extra=()
    # libFuzzer's -jobs runs children that log to fuzz-N.log in the current
    # folder; only ask for it when more than one process is wanted.
    if [ "$jobs" -gt 1 ]; then extra=(-jobs="$jobs" -workers="$jobs"); fi
    rc=0
    nice cargo +nightly fuzz run "${flags[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${extra[@]}" >"$log" 2>&1 || rc=$?
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    if [ "$rc" -ne 0 ]; then
        failed+=("$t")
        echo "FAILED: $t (exit $rc) after $execs executions; last lines of $log:" >&2
        grep -v "^\s*\[\?[0-9, ]*\]\?\s*$" "$log" | tail -n 40 | cut -c1-400 >&2
        after=$(find "fuzz/artifacts/$t" -type f ! -name '*.log' | sort)
        new=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
        for a in $new; do
            echo "fuzz: artefact $a" >&2
            echo "fuzz: replay with: cargo +nightly fuzz run ${flags[*]} $t $a" >&2
        done
    else
        echo "   ok: $execs executions, coverage ${cov:-?} edges, corpus $(find "fuzz/corpus/$t" -type f | wc -l) inputs"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED targets: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a crash"
