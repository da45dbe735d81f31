#!/usr/bin/env bash
# Hostile clients against the real agent on a project-local SoftHSM token:
# a well-behaved client's ping + sign latency unloaded, then while 1,000
# idle connections, slow-byte clients, clients that never read, and streams
# of malformed and oversize frames run; reports the p99 ratio (pass: at most
# 2x) and the CPU the agent and the hostile load used (see
# scripts/hostile.py and docs/reliability.md).
#
#   scripts/hostile.sh [--seconds 30] [--rounds 2] [--json FILE]
#
# Results: target/hostile/hostile-<UTC time>.json unless --json is given.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"
scripts/install-deps.sh
cargo build --release --quiet
args=("$@")
case " $* " in
    *" --json "*) ;;
    *) mkdir -p target/hostile; args+=(--json "target/hostile/hostile-$(date -u +%Y%m%dT%H%M%SZ).json") ;;
esac
exec python3 scripts/hostile.py --bin "${CARGO_TARGET_DIR:-target}/release/tradeward" "${args[@]}"
