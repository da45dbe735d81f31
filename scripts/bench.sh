#!/usr/bin/env bash
# The performance benchmark (benches/agent): C_Sign in-process as the
# ceiling, the agent's `sign` and `hyperliquid.sign_l1_action` under 1 to 128
# clients, the Hyperliquid path with [cluster] on a local PostgreSQL next to
# local-only, OpenSSH's ssh-agent on the same key, memory, and journal replay
# at start. Installs nothing: it needs what scripts/test.sh needs (Rust,
# softhsm2) plus OpenSSH's ssh-agent and ssh-add.
#
#   scripts/bench.sh           full run (about 5 minutes on 2 cores); writes
#                              the results block of docs/benchmarks.md (raw
#                              numbers in target/bench/results.json)
#   scripts/bench.sh --quick   smoke run (about 1 minute); writes only
#                              target/bench-quick/benchmarks-quick.md
#   scripts/bench.sh --render-only
#                              measure nothing: rebuild the results block
#                              from the last full run's target/bench files
#
# The block between the BEGIN/END markers in docs/benchmarks.md is replaced;
# everything outside it (method, analysis) is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

quick=0
render_only=0
for a in "$@"; do
    case "$a" in
        --quick) quick=1 ;;
        --render-only) render_only=1 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "usage: scripts/bench.sh [--quick | --render-only]" >&2; exit 2 ;;
    esac
done
out=target/bench
[ "$quick" = 1 ] && out=target/bench-quick

if [ "$render_only" = 1 ]; then
    for f in results.json machine.md; do
        [ -f "$out/$f" ] || { echo "no $out/$f: run scripts/bench.sh first" >&2; exit 1; }
    done
    if grep -q '"mode": "quick"' "$out/results.json"; then
        echo "$out/results.json is from a quick run; docs/benchmarks.md takes full runs only" >&2
        exit 1
    fi
    echo "== cargo bench --bench agent -- --render $out/results.json"
    cargo bench --quiet --bench agent -- --render "$PWD/$out/results.json" --out "$PWD/$out"
else
    missing=()
    command -v cargo >/dev/null 2>&1 || missing+=("the Rust toolchain (cargo)")
    command -v ssh-agent >/dev/null 2>&1 || missing+=("ssh-agent (openssh-client)")
    command -v ssh-add >/dev/null 2>&1 || missing+=("ssh-add (openssh-client)")
    softhsm=""
    for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
             /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so \
             /usr/lib64/pkcs11/libsofthsm2.so; do
        [ -e "$m" ] && softhsm="$m" && break
    done
    [ -n "$softhsm" ] || missing+=("SoftHSM (softhsm2)")
    if [ ${#missing[@]} -gt 0 ]; then
        printf 'missing: %s\n' "${missing[@]}" >&2
        echo "scripts/bench.sh installs nothing; install these first (scripts/install-deps.sh covers SoftHSM)." >&2
        exit 1
    fi

    echo "== cargo build --release"
    cargo build --release --quiet --bin tradeward

    mkdir -p "$out"
    date=$(date -u '+%Y-%m-%d %H:%M UTC')
    args=(--bin "$PWD/target/release/tradeward" --out "$PWD/$out")
    [ "$quick" = 1 ] && args+=(--quick)
    # The [cluster] section needs a PostgreSQL: pg_virtualenv (Debian's
    # postgresql-common, installed with postgresql by scripts/test.sh's
    # package list) runs the benchmark with a throwaway local cluster and
    # the PG* variables set; without it that section says it was skipped.
    runner=()
    if command -v pg_virtualenv >/dev/null 2>&1; then
        runner=(pg_virtualenv)
    else
        echo "note: no pg_virtualenv (package postgresql); the [cluster] section is skipped"
    fi
    echo "== cargo bench --bench agent -- ${args[*]}"
    "${runner[@]}" cargo bench --quiet --bench agent -- "${args[@]}"

    # The machine, for the record.
    cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    [ -n "$cpu" ] || cpu=$(awk -F': ' '/^(Hardware|Model|cpu model)/ {print $2; exit}' /proc/cpuinfo)
    cores=$(nproc)
    kernel=$(uname -sr)
    mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
    softhsm_version=$(dpkg-query -W -f='${Version}' softhsm2 2>/dev/null || dpkg-query -W -f='${Version}' libsofthsm2 2>/dev/null || echo "unknown (not installed through dpkg)")
    openssh_version=$( (ssh -V 2>&1 || true) | head -1)
    rustc_version=$(rustc --version 2>/dev/null || echo unknown)
    os=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || echo unknown)
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git status --porcelain -- src Cargo.toml 2>/dev/null)" ]; then
        commit="$commit (with uncommitted changes under src/ or Cargo.toml)"
    fi
    mode=full
    [ "$quick" = 1 ] && mode="quick (smoke run: short windows, fewer levels, 100,000-record journal)"

    # Kept with the results, so --render-only can reuse it.
    {
        echo "## Results"
        echo
        echo "Run of $date, $mode, at commit $commit."
        echo
        echo "| Machine | |"
        echo "| --- | --- |"
        echo "| CPU | $cpu |"
        echo "| Cores | $cores |"
        echo "| Memory | $mem |"
        echo "| OS, kernel | $os, $kernel |"
        echo "| SoftHSM (dpkg) | $softhsm_version |"
        echo "| OpenSSH | $openssh_version |"
        echo "| Rust | $rustc_version |"
    } > "$out/machine.md"
fi

block=$(mktemp)
trap 'rm -f "$block"' EXIT
{
    cat "$out/machine.md"
    echo
    cat "$out/results.md"
} > "$block"

begin='<!-- BEGIN RESULTS: written by scripts/bench.sh; do not edit by hand -->'
end='<!-- END RESULTS -->'
doc=docs/benchmarks.md
if [ "$quick" = 1 ]; then
    target="$out/benchmarks-quick.md"
    { echo "$begin"; cat "$block"; echo "$end"; } > "$target"
    echo "== quick run: results in $target (docs/benchmarks.md is left alone)"
    exit 0
fi
if [ -f "$doc" ] && grep -qF "$begin" "$doc" && grep -qF "$end" "$doc"; then
    tmp=$(mktemp)
    awk -v b="$begin" -v e="$end" -v f="$block" '
        $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
        $0 == e { skip = 0 }
        !skip { print }
    ' "$doc" > "$tmp"
    cat "$tmp" > "$doc"
    rm -f "$tmp"
else
    {
        echo "# Benchmarks"
        echo
        echo "Written by scripts/bench.sh (benches/agent). The analysis of these numbers has not been written yet."
        echo
        echo "$begin"
        cat "$block"
        echo "$end"
    } > "$doc"
fi
echo "== wrote $doc"
