#!/usr/bin/env bash
# Soak: mixed load from several bot identities against the real agent on a
# project-local SoftHSM token, for hours, with periodic agent restarts
# (SIGTERM, and every third one SIGKILL) and dead-man trips; then journal
# verification, a check that every signature a bot received is on record,
# count checks against `journal export`, and a check that the state rebuilt
# at a start matches the record (see scripts/soak.py and docs/reliability.md).
# Runs as root: each bot identity is a process under its own uid.
#
#   scripts/soak.sh [--duration 1h] [--restart-every 180] [--seed N] [--json FILE]
#
# Results: target/soak/soak-<UTC time>.json unless --json is given.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"
scripts/install-deps.sh
cargo build --release --quiet
args=("$@")
case " $* " in
    *" --json "*) ;;
    *) mkdir -p target/soak; args+=(--json "target/soak/soak-$(date -u +%Y%m%dT%H%M%SZ).json") ;;
esac
exec python3 scripts/soak.py --bin "${CARGO_TARGET_DIR:-target}/release/tradeward" "${args[@]}"
