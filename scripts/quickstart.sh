#!/usr/bin/env bash
# tradeward quickstart: from a fresh checkout to verified signatures.
#
#   scripts/quickstart.sh            (from any directory; safe to run again)
#
# What it does, in order:
#   1. installs what building and running need (scripts/debian-packages.txt:
#      softhsm2, opensc, libpcsclite-dev, ...) with apt-get, as root or
#      through sudo; nothing is installed if all is present;
#   2. builds the release binary;
#   3. creates a development token under softhsm/dev (git-ignored), replacing
#      any earlier one, with one key of each type generated inside the token
#      plus one imported HMAC secret, and writes the agent's config;
#   4. starts the agent, signs with every key through the Python client
#      (standard library only), and stops the agent again on exit;
#   5. verifies every signature with independent libraries (cryptography,
#      eth_account) installed in a virtualenv at target/quickstart-venv.
#
# The development token is for trying things out: its PIN sits in a file
# next to it and the imported HMAC secret is kept in softhsm/dev so that the
# signature can be checked here. Never put real keys in it.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"

DEV_DIR="softhsm/dev"
CONFIG="$DEV_DIR/tradeward.toml"
SOCKET="$ROOT/$DEV_DIR/run/agent.sock"
SECRET_FILE="$DEV_DIR/quickstart-api.secret"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET_DIR/release/tradeward"
OUT="target/quickstart"
VENV="target/quickstart-venv"
AGENT_PID=""

# Wall-clock microseconds (EPOCHREALTIME's decimal mark follows the locale).
now_us() {
    local t=${EPOCHREALTIME//[.,]/}
    echo $((10#$t))
}
fmt_us() { printf '%d.%d s' $(($1 / 1000000)) $(($1 % 1000000 / 100000)); }
T_START=$(now_us)
T_LAST=$T_START
TIMINGS=()

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'quickstart: %s\n' "$*" >&2
    exit 1
}
# Record how long the step that just finished took.
lap() {
    local now
    now=$(now_us)
    TIMINGS+=("$(printf '%-16s %8s' "$1" "$(fmt_us $((now - T_LAST)))")")
    T_LAST=$now
}
show_log() {
    if [[ -s $1 ]]; then
        printf -- '--- last lines of %s ---\n' "$1" >&2
        tail -n 25 "$1" >&2
    fi
}

stop_agent() {
    # Stops the agent this script started, and only that one.
    [[ -n $AGENT_PID ]] || return 0
    local pid=$AGENT_PID rc=0
    AGENT_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    wait "$pid" || rc=$?
    return "$rc"
}
trap 'stop_agent || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
say "Checking prerequisites"
command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (https://rustup.rs) first"
command -v python3 >/dev/null || die "python3 not found"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
    die "Python 3.9 or newer is needed (found $(python3 --version 2>&1))"

verifier_venv_ready() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import cryptography, eth_account' 2>/dev/null
}
softhsm_present() {
    command -v softhsm2-util >/dev/null || return 1
    local lib
    for lib in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*-linux-gnu/softhsm/libsofthsm2.so \
        /usr/local/lib/softhsm/libsofthsm2.so /usr/lib64/pkcs11/libsofthsm2.so; do
        [[ -e $lib ]] && return 0
    done
    return 1
}

# The packages building and running need, from the project's one list
# (scripts/debian-packages.txt; the test suite and CI install from it too).
say "Installing what is missing of: $(bash scripts/install-deps.sh --list build,run | tr '\n' ' ')"
bash scripts/install-deps.sh build,run || die "installing system packages failed"
softhsm_present || die "softhsm2 is missing after installing it"
python3 -c 'import ensurepip, venv' 2>/dev/null ||
    die "\`python3 -m venv\` does not work for $(command -v python3); install its venv support"
mkdir -p "$OUT"
lap "prerequisites"

# ---------------------------------------------------------------------------
say "Building the release binary (cargo build --release; the first build takes a minute or two)"
if ! cargo build --release --quiet 2>"$OUT/build.log"; then
    show_log "$OUT/build.log"
    die "cargo build failed"
fi
[[ -x $BIN ]] || die "build finished but $BIN is missing"
lap "build"

# ---------------------------------------------------------------------------
# A re-run replaces the token, so make sure no agent (perhaps started by
# hand from an earlier run) is still serving it.
if [[ -S $SOCKET ]] && python3 - "$SOCKET" <<'PY'; then
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError:
    sys.exit(1)
PY
    die "an agent is still listening on $SOCKET; stop it (kill -TERM its pid) and run again"
fi

say "Creating the development token in $DEV_DIR"
"$BIN" token init-dev --dir "$DEV_DIR" --force >"$OUT/token.log" 2>&1 || {
    show_log "$OUT/token.log"
    die "token init-dev failed"
}
export TRADEWARD_CONFIG="$ROOT/$CONFIG"

# alias, type, label: one key of each type, generated inside the token.
KEYS=(
    "eth secp256k1 quickstart-secp256k1"
    "nist p256 quickstart-p256"
    "ed ed25519 quickstart-ed25519"
    "mac hmac quickstart-hmac"
)
for spec in "${KEYS[@]}"; do
    read -r alias type label <<<"$spec"
    "$BIN" keys generate --type "$type" --label "$label" >>"$OUT/token.log" 2>&1 || {
        show_log "$OUT/token.log"
        die "generating the $type key failed"
    }
done

# An exchange API secret, as an HMAC key would be imported in real use: the
# tool reads it from stdin, never from the command line. It is kept (mode
# 0600, git-ignored) only so the signature can be verified below.
(
    umask 077
    python3 -c 'import secrets, string, sys; a = string.ascii_letters + string.digits; sys.stdout.write("".join(secrets.choice(a) for _ in range(64)))' >"$SECRET_FILE"
)
"$BIN" keys import --type hmac --label quickstart-api <"$SECRET_FILE" >>"$OUT/token.log" 2>&1 || {
    show_log "$OUT/token.log"
    die "importing the HMAC secret failed"
}

say "Writing the agent config $CONFIG"
grep -q '^keys = \[\]$' "$CONFIG" || die "unexpected starter config in $CONFIG (no 'keys = []' line)"
sed -i 's/^keys = \[\]$/keys = ["eth", "nist", "ed", "mac", "api"]/' "$CONFIG"
{
    for spec in "${KEYS[@]}" "api hmac quickstart-api"; do
        read -r alias type label <<<"$spec"
        printf '\n[keys.%s]\ntype = "%s"\nlabel = "%s"\n' "$alias" "$type" "$label"
        printf '# The generic sign operation is for trying things out; trading keys keep it off.\nraw_signing = true\n'
    done
} >>"$CONFIG"
chmod 600 "$CONFIG"
lap "token and keys"

# ---------------------------------------------------------------------------
say "Starting the agent"
"$BIN" agent --config "$CONFIG" >"$OUT/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 1 300); do
    if ! kill -0 "$AGENT_PID" 2>/dev/null; then
        AGENT_PID=""
        show_log "$OUT/agent.log"
        die "the agent exited during start-up"
    fi
    if [[ -S $SOCKET ]] && grep -q 'agent listening' "$OUT/agent.log"; then
        break
    fi
    sleep 0.1
done
[[ -S $SOCKET ]] || {
    show_log "$OUT/agent.log"
    die "the agent did not start listening within 30 s"
}
export TRADEWARD_SOCK="$SOCKET"
lap "agent start"

# ---------------------------------------------------------------------------
say "Signing with every key through the Python client"
# -I: isolated mode, so nothing but the standard library and the client
# itself can be on the import path.
python3 -I - "$ROOT" "$SECRET_FILE" "$OUT/signatures.json" "$OUT/notes.txt" <<'PY'
import json, os, sys, time

root, secret_file, out_path, notes_path = sys.argv[1:5]
sys.path.insert(0, os.path.join(root, "clients", "python"))
from tradeward_client import connect, to_hex  # noqa: E402

with open(os.path.join(root, secret_file), "rb") as f:
    secret = f.read()
message = b"tradeward quickstart %d" % int(time.time())
records = []
notes = []
with connect() as agent:  # the socket comes from $TRADEWARD_SOCK
    hello = agent.hello()
    keys = {k.alias: k for k in agent.list_keys()}

    def record(alias, sig, **extra):
        k = keys[alias]
        r = {"name": alias, "type": k.type, "message": to_hex(message), "signature": sig.hex}
        if k.public_key is not None:
            r["public_key"] = to_hex(k.public_key)
        if k.address is not None:
            r["address"] = k.address
        r.update(extra)
        records.append(r)

    record("eth", agent.sign_eip191("eth", message), scheme="eip191")
    record("nist", agent.sign_message("nist", message))
    record("ed", agent.sign_message("ed", message))
    record("api", agent.sign_message("api", message), hmac_secret=to_hex(secret))
    # The generated HMAC key's secret never leaves the token, so nothing
    # outside can verify its MACs; check that it behaves like a MAC.
    a = agent.sign_message("mac", message).signature
    b = agent.sign_message("mac", message).signature
    c = agent.sign_message("mac", message + b"!").signature
    if not (len(a) == 32 and a == b and a != c):
        sys.exit("generated HMAC key: MACs are not deterministic")
    notes.append(
        "%-5s %-8s %-10s %-42s %s"
        % ("--", "mac", "hmac", "(generated; secret never leaves the token)", "not checkable outside the token; MACs deterministic")
    )
with open(out_path, "w") as f:
    json.dump(records, f, indent=2)
with open(notes_path, "w") as f:
    f.write("\n".join(notes) + "\n")
print(
    "    identity %r, protocol %d, %d keys; signed %r"
    % (hello.identity, hello.protocol_version, len(keys), message.decode())
)
PY
lap "signing"

# ---------------------------------------------------------------------------
if verifier_venv_ready; then
    say "Reusing the verifier virtualenv $VENV"
else
    say "Creating the verifier virtualenv $VENV (cryptography, eth-account)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check cryptography eth-account \
        >"$OUT/pip.log" 2>&1; then
        show_log "$OUT/pip.log"
        die "pip install failed"
    fi
fi
lap "verifier venv"

say "Verifying every signature independently"
if ! "$VENV/bin/python" scripts/verify_signatures.py --header <"$OUT/signatures.json" >"$OUT/verify.txt" 2>&1; then
    cat "$OUT/verify.txt" >&2
    die "signature verification failed"
fi
lap "verification"

# ---------------------------------------------------------------------------
say "Stopping the agent"
stop_rc=0
stop_agent || stop_rc=$?
((stop_rc == 0)) || {
    show_log "$OUT/agent.log"
    die "the agent exited with status $stop_rc on SIGTERM"
}
[[ ! -e $SOCKET ]] || die "the agent left its socket behind: $SOCKET"
lap "agent stop"

TOTAL=$(($(now_us) - T_START))
printf '\ntradeward quickstart: every signature verified\n\n'
sed 's/^/  /' "$OUT/verify.txt"
sed 's/^/  /' "$OUT/notes.txt"
printf '\nTiming:\n'
printf '  %s\n' "${TIMINGS[@]}"
printf '  %-16s %8s\n' total "$(fmt_us "$TOTAL")"
cat <<EOF

The token, its PIN file and the agent config are in $DEV_DIR (git-ignored).
Run the agent yourself and point a bot at it:
  cd $ROOT
  $BIN agent --config $CONFIG &
  export TRADEWARD_SOCK=$SOCKET
  python3 -c 'import sys; sys.path.insert(0, "clients/python"); import tradeward_client as t; print(t.connect().hello())'
EOF
