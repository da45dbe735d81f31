#!/usr/bin/env bash
# 1,000 arm-then-stop trials of the dead-man's switch against the real agent
# and a project-local SoftHSM token (see scripts/deadman_trials.py).
#
#   scripts/deadman-trials.sh [--trials N] [--timeout-ms T] [--json FILE]
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"
cargo build --release --quiet
exec python3 scripts/deadman_trials.py --bin "${CARGO_TARGET_DIR:-target}/release/tradeward" "$@"
