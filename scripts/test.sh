#!/usr/bin/env bash
# The whole test suite: formatting and lints, Rust unit and integration tests
# (real agent binary, real Unix socket, real SoftHSM token), and the Python
# client's tests against the real agent. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/install-deps.sh
command -v cargo >/dev/null 2>&1 || { echo "missing: the Rust toolchain (cargo)" >&2; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT

if cargo fmt --version >/dev/null 2>&1; then
    echo "== cargo fmt --check"
    cargo fmt --check
else
    echo "== SKIPPED cargo fmt --check: rustfmt is not installed (rustup component add rustfmt)"
fi
if cargo clippy --version >/dev/null 2>&1; then
    echo "== cargo clippy --all-targets -- -D warnings"
    cargo clippy --quiet --all-targets -- -D warnings
else
    echo "== SKIPPED cargo clippy: clippy is not installed (rustup component add clippy)"
fi
echo "== cargo build"
cargo build --quiet
echo "== cargo test"
cargo test --all-targets 2>&1 | tee -a "$log"
echo "== python client tests"
TRADEWARD_BIN="$PWD/target/debug/tradeward" python3 -m unittest discover -s clients/python/tests -v 2>&1 | tee -a "$log"

# One closing line over both runners.
rust_passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
py_ran=$(grep -Eo '^Ran [0-9]+ test' "$log" | awk '{s+=$2} END {print s+0}')
echo "summary: $((rust_passed + py_ran)) passed, 0 failed"
