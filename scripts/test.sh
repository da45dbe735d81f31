#!/usr/bin/env bash
# The whole test suite: formatting and lints, Rust unit and integration tests
# (real agent binary, real Unix socket, real SoftHSM token), and the Python
# client's tests against the real agent. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/install-deps.sh build,run,test

# The venue's official SDK, for checking Hyperliquid signatures with code we
# did not write (tests/sdk/hl_recover.py). Pinned; installed once.
SDK_VENV=target/sdk-venv
SDK_VERSION=0.24.0
if ! "$SDK_VENV/bin/python" -c "import hyperliquid, importlib.metadata as m; assert m.version('hyperliquid-python-sdk') == '$SDK_VERSION'" 2>/dev/null; then
    echo "== installing hyperliquid-python-sdk $SDK_VERSION into $SDK_VENV"
    rm -rf "$SDK_VENV"
    python3 -m venv "$SDK_VENV"
    "$SDK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "hyperliquid-python-sdk==$SDK_VERSION"
fi
export TRADEWARD_SDK_PYTHON="$PWD/$SDK_VENV/bin/python"

# The venue libraries the Python drop-ins stand in for (clients/python/tradeward/
# binance/ and ccxt.py), to test each drop-in with the library's own code and
# its HTTP layer intercepted. Pinned (clients/python/tests/clients-requirements.txt);
# installed once, reinstalled when the pins change.
CLIENTS_VENV=target/clients-venv
CLIENTS_REQS=clients/python/tests/clients-requirements.txt
if ! cmp -s "$CLIENTS_REQS" "$CLIENTS_VENV/installed-requirements.txt" 2>/dev/null; then
    echo "== installing the venue client libraries into $CLIENTS_VENV"
    rm -rf "$CLIENTS_VENV"
    python3 -m venv "$CLIENTS_VENV"
    "$CLIENTS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$CLIENTS_REQS"
    cp "$CLIENTS_REQS" "$CLIENTS_VENV/installed-requirements.txt"
fi
export TRADEWARD_CLIENTS_PYTHON="$PWD/$CLIENTS_VENV/bin/python"
# The official SDKs of OKX, Bybit and Binance's WebSocket API, for checking
# those signatures with code we did not write (tests/sdk/venue_sign.py).
# Pinned (tests/sdk/venues-requirements.txt); reinstalled when the pins change.
VENUES_VENV=target/venues-venv
VENUES_REQS=tests/sdk/venues-requirements.txt
if ! cmp -s "$VENUES_REQS" "$VENUES_VENV/installed-requirements.txt" 2>/dev/null; then
    echo "== installing the venues' official SDKs into $VENUES_VENV"
    rm -rf "$VENUES_VENV"
    python3 -m venv "$VENUES_VENV"
    "$VENUES_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$VENUES_REQS"
    cp "$VENUES_REQS" "$VENUES_VENV/installed-requirements.txt"
fi
export TRADEWARD_VENUES_PYTHON="$PWD/$VENUES_VENV/bin/python"
command -v cargo >/dev/null 2>&1 || { echo "missing: the Rust toolchain (cargo)" >&2; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT

if cargo fmt --version >/dev/null 2>&1; then
    echo "== cargo fmt --check"
    cargo fmt --check
    cargo fmt --check --manifest-path tests/virtual-piv/Cargo.toml
    cargo fmt --check --manifest-path tests/fault-pkcs11/Cargo.toml
    cargo fmt --check --manifest-path fuzz/Cargo.toml
else
    echo "== SKIPPED cargo fmt --check: rustfmt is not installed (rustup component add rustfmt)"
fi
if cargo clippy --version >/dev/null 2>&1; then
    echo "== cargo clippy --all-targets -- -D warnings"
    cargo clippy --quiet --all-targets -- -D warnings
    CARGO_TARGET_DIR="$PWD/target/fault-pkcs11" cargo clippy --quiet --all-targets --manifest-path tests/fault-pkcs11/Cargo.toml -- -D warnings
else
    echo "== SKIPPED cargo clippy: clippy is not installed (rustup component add clippy)"
fi
echo "== cargo build"
cargo build --quiet
echo "== the virtual PIV card (tests/virtual-piv; test-only)"
# Its own crate and target folder: the card is never linked into tradeward.
CARGO_TARGET_DIR="$PWD/target/virtual-piv" cargo build --quiet --manifest-path tests/virtual-piv/Cargo.toml
export VIRTUAL_PIV_BIN="$PWD/target/virtual-piv/debug/tradeward-virtual-piv"
echo "== the fault-injecting PKCS#11 module (tests/fault-pkcs11; test-only)"
# Also its own crate and target folder: never linked into tradeward.
CARGO_TARGET_DIR="$PWD/target/fault-pkcs11" cargo build --quiet --manifest-path tests/fault-pkcs11/Cargo.toml
export FAULT_PKCS11_MODULE="$PWD/target/fault-pkcs11/debug/libtradeward_fault_pkcs11.so"
echo "== cargo test"
cargo test --all-targets 2>&1 | tee -a "$log"
echo "== cluster tests on a throwaway PostgreSQL (pg_virtualenv; docs/cluster.md)"
# tests/cluster.rs is #[ignore]d in the run above (it needs a database);
# pg_virtualenv creates a temporary PostgreSQL cluster, sets PGHOST,
# PGPORT, PGUSER, PGPASSWORD and PGDATABASE for the command, and drops the
# cluster afterwards.
command -v pg_virtualenv >/dev/null 2>&1 || { echo "missing: pg_virtualenv (Debian package postgresql-common, installed with postgresql)" >&2; exit 1; }
pg_virtualenv cargo test --test cluster -- --ignored 2>&1 | tee -a "$log"
echo "== python client tests"
# Standard library only (the SDK-based tests say they are skipped)...
TRADEWARD_BIN="$PWD/target/debug/tradeward" python3 -m unittest discover -s clients/python/tests -v 2>&1 | tee -a "$log"
echo "== python client tests with the official Hyperliquid SDK"
# ...and again with the SDK present, so the drop-in signer is tested too.
TRADEWARD_BIN="$PWD/target/debug/tradeward" "$TRADEWARD_SDK_PYTHON" -m unittest discover -s clients/python/tests -v 2>&1 | tee -a "$log"
echo "== python drop-in tests with the Binance and ccxt libraries"
# ...and the Binance/ccxt drop-ins with their libraries (the rest is skipped there).
TRADEWARD_BIN="$PWD/target/debug/tradeward" "$TRADEWARD_CLIENTS_PYTHON" -m unittest discover -s clients/python/tests -p 'test_binance*.py' -v 2>&1 | tee -a "$log"
TRADEWARD_BIN="$PWD/target/debug/tradeward" "$TRADEWARD_CLIENTS_PYTHON" -m unittest discover -s clients/python/tests -p 'test_ccxt*.py' -v 2>&1 | tee -a "$log"
echo "== the package in a fresh venv: pip install, the README's bot, the docs' examples"
TRADEWARD_BIN="$PWD/target/debug/tradeward" TRADEWARD_PACKAGE_TEST=1 python3 -m unittest clients/python/tests/test_package.py -v 2>&1 | tee -a "$log"
echo "== fuzzing: a short run of every target (scripts/fuzz.sh; docs/fuzzing.md)"
# Needs the nightly toolchain; fails, saying what is missing, without it.
FUZZ_SECONDS="${FUZZ_SECONDS:-15}" bash scripts/fuzz.sh

# One closing line over both runners.
rust_passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
py_ran=$(grep -Eo '^Ran [0-9]+ test' "$log" | awk '{s+=$2} END {print s+0}')
py_skipped=$(grep -Eo 'skipped=[0-9]+' "$log" | awk -F= '{s+=$2} END {print s+0}')
py_ran=$((py_ran - py_skipped))
echo "summary: $((rust_passed + py_ran)) passed, 0 failed"
