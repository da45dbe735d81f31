#!/usr/bin/env bash
# Start or stop a test-only virtual PIV card (tests/virtual-piv) behind a
# private pcscd, so the YubiKey PIV backend can be tested without hardware.
#
#   scripts/virtual-piv.sh start DIR [CARD OPTIONS...]   e.g. --serial 21000002
#   scripts/virtual-piv.sh stop DIR
#   scripts/virtual-piv.sh env DIR      # print the export line again
#
# `start` prints exactly one line on stdout,
#     export PCSCLITE_CSOCK_NAME=DIR/ipc/pcscd.comm
# so a caller can `eval "$(scripts/virtual-piv.sh start "$dir")"`; progress
# goes to stderr. PC/SC clients (libpcsclite: the yubikey crate, opensc-tool)
# started with that variable talk to the private pcscd only.
#
# Why a mount namespace: libpcsclite honours PCSCLITE_CSOCK_NAME, but pcscd
# 1.9.9 itself does not; it always creates /run/pcscd/pcscd.comm and
# /run/pcscd/pcscd.pid. So pcscd runs in a private mount namespace where
# DIR/ipc is mounted on /run/pcscd (its socket and pid file land in DIR/ipc,
# the system pcscd's files are never touched), and where the USB driver
# directory is hidden so it never claims a real reader. As root this is
# `unshare --mount`; otherwise a user namespace is added (needs unprivileged
# user namespaces, which Debian 12 allows by default).
#
# vpcd (vsmartcard's reader driver) listens on the TCP port named in
# DIR/reader.conf and on the next one (it opens two slots). The port is
# chosen per DIR (derived from the path, moved on while busy) and kept in
# DIR/vpcd-port, so two test runs with different DIRs do not collide. Note
# that vpcd listens on all interfaces, not only loopback.
#
# Idempotent: `start` on a running DIR only prints the export line; `stop`
# on a stopped DIR does nothing. `stop` leaves nothing running and removes
# everything `start` created in DIR except the *.log files.
#
# Environment:
#   VIRTUAL_PIV_BIN      use this card binary instead of building one
#   VIRTUAL_PIV_PROFILE  cargo profile for the card: dev (default) or release
#   CARGO_TARGET_DIR     default: target/virtual-piv in the repository
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CRATE="$ROOT/tests/virtual-piv"

say() { echo "virtual-piv: $*" >&2; }
die() { say "$*"; exit 1; }

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
shift 2

IPC="$DIR/ipc"
SOCKET="$IPC/pcscd.comm"

# True if PID is alive and its command line contains NEEDLE.
alive() {
    local pid=$1 needle=$2
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"
}

read_pid() { cat "$1" 2>/dev/null | tr -dc '0-9' || true; }

card_pid() { read_pid "$DIR/card.pid"; }
pcscd_pid() { read_pid "$DIR/pcscd.pid"; }
# What the command lines of our two processes contain (and a recycled pid's
# would not).
card_needle() { echo "--vpcd-port $(read_pid "$DIR/vpcd-port")"; }
pcscd_needle() { echo "$DIR/reader.conf"; }

# Stops PID (only if it still is the process we started), TERM then KILL.
terminate() {
    local pid=$1 needle=$2 name=$3 i
    alive "$pid" "$needle" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        alive "$pid" "$needle" || return 0
        sleep 0.1
    done
    say "$name (pid $pid) ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 20); do
        alive "$pid" "$needle" || return 0
        sleep 0.1
    done
    die "could not stop $name (pid $pid)"
}

stop() {
    terminate "$(card_pid)" "$(card_needle)" "the virtual card"
    terminate "$(pcscd_pid)" "$(pcscd_needle)" "pcscd"
    rm -rf "$IPC" "$DIR/drivers-hidden"
    rm -f "$DIR/card.pid" "$DIR/pcscd.pid" "$DIR/reader.conf" \
        "$DIR/libifdvpcd.so" "$DIR/vpcd-port"
}

export_line() { printf 'export PCSCLITE_CSOCK_NAME=%q\n' "$SOCKET"; }

# True if the private pcscd reports a card in one of its readers.
card_present() {
    PCSCLITE_CSOCK_NAME="$SOCKET" opensc-tool --list-readers 2>/dev/null |
        grep -Eq '^[0-9]+[[:space:]]+Yes'
}

running() {
    alive "$(card_pid)" "$(card_needle)" &&
        alive "$(pcscd_pid)" "$(pcscd_needle)" && card_present
}

port_busy() {
    local hex
    hex=$(printf ':%04X ' "$1")
    grep -qi -- "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

pick_port() {
    local port
    port=$(read_pid "$DIR/vpcd-port")
    if [ -z "$port" ]; then
        # An even port in 36000..55998 derived from the directory name.
        port=$(( 36000 + ($(printf '%s' "$DIR" | cksum | cut -d' ' -f1) % 10000) * 2 ))
    fi
    local tries=0
    while port_busy "$port" || port_busy $((port + 1)); do
        port=$((port + 2))
        [ "$port" -lt 56000 ] || port=36000
        tries=$((tries + 1))
        [ "$tries" -lt 10000 ] || die "no free TCP port pair for vpcd"
    done
    echo "$port"
}

card_binary() {
    if [ -n "${VIRTUAL_PIV_BIN:-}" ]; then
        [ -x "$VIRTUAL_PIV_BIN" ] || die "VIRTUAL_PIV_BIN=$VIRTUAL_PIV_BIN is not executable"
        echo "$VIRTUAL_PIV_BIN"
        return
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo is needed to build the card"
    local profile=${VIRTUAL_PIV_PROFILE:-dev} target=${CARGO_TARGET_DIR:-$ROOT/target/virtual-piv}
    local subdir=debug
    [ "$profile" = dev ] || subdir=$profile
    # A no-op when the binary is up to date. One job: the machines have two
    # cores and the main build may be running next to this.
    say "building the card ($profile profile; a first build takes a few minutes)"
    CARGO_TARGET_DIR="$target" cargo build --quiet --locked -j 1 --profile "$profile" \
        --manifest-path "$CRATE/Cargo.toml" --bin tradeward-virtual-piv >&2 ||
        die "building the card failed"
    echo "$target/$subdir/tradeward-virtual-piv"
}

find_vpcd_driver() {
    local lib
    for lib in /usr/lib/pcsc/drivers/serial/libifdvpcd.so /usr/lib/pcsc/drivers/serial/libifdvpcd.so.*; do
        [ -e "$lib" ] && { echo "$lib"; return; }
    done
    die "vsmartcard's vpcd driver is missing (apt-get install vsmartcard-vpcd)"
}

start() {
    if running; then
        say "already running in $DIR"
        export_line
        return
    fi
    stop  # whatever is left of an earlier, half-dead start

    command -v pcscd >/dev/null 2>&1 || die "pcscd is missing (apt-get install pcscd)"
    command -v opensc-tool >/dev/null 2>&1 || die "opensc-tool is missing (apt-get install opensc)"
    command -v unshare >/dev/null 2>&1 || die "unshare is missing (apt-get install util-linux)"
    local bin driver port
    bin=$(card_binary)
    driver=$(find_vpcd_driver)
    if [ ! -d /run/pcscd ]; then
        # /run/pcscd is then created inside a tmpfs over /run, which would
        # hide DIR too.
        case "$DIR/" in
            /run/*) die "DIR must not be under /run when /run/pcscd does not exist" ;;
        esac
    fi

    port=$(pick_port)
    echo "$port" >"$DIR/vpcd-port"
    mkdir -p "$IPC" "$DIR/drivers-hidden"
    cp -L "$driver" "$DIR/libifdvpcd.so"
    cat >"$DIR/reader.conf" <<EOF
# Written by scripts/virtual-piv.sh: vpcd listens on port $port (and $((port + 1))).
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:$port
LIBPATH      $DIR/libifdvpcd.so
CHANNELID    $port
EOF

    say "starting pcscd (private socket $SOCKET, vpcd port $port)"
    # In the new mount namespace: DIR/ipc becomes /run/pcscd, the USB
    # drivers disappear, then the shell becomes pcscd (same pid throughout:
    # unshare without --fork and `exec` do not fork).
    local userns=()
    # Without root, a user namespace provides the right to mount.
    [ "$(id -u)" -eq 0 ] || userns=(--user --map-root-user)
    (
        exec unshare "${userns[@]}" --mount --propagation private -- /bin/sh -c '
            set -e
            dir=$1
            if [ ! -d /run/pcscd ]; then
                mount -t tmpfs -o mode=0755 tmpfs /run
                mkdir /run/pcscd
            fi
            mount --bind "$dir/ipc" /run/pcscd
            if [ -d /usr/lib/pcsc/drivers ]; then
                mount --bind "$dir/drivers-hidden" /usr/lib/pcsc/drivers
            fi
            exec pcscd --foreground --info --config "$dir/reader.conf"
        ' virtual-piv-pcscd "$DIR"
    ) </dev/null >>"$DIR/pcscd.log" 2>&1 &
    echo $! >"$DIR/pcscd.pid"

    local i
    for i in $(seq 100); do
        [ -S "$SOCKET" ] && break
        kill -0 "$(pcscd_pid)" 2>/dev/null || { tail -n 20 "$DIR/pcscd.log" >&2; stop; die "pcscd exited"; }
        sleep 0.1
    done
    [ -S "$SOCKET" ] || { stop; die "pcscd did not create $SOCKET"; }

    say "starting the card: $bin --vpcd-port $port $*"
    (exec setsid "$bin" --vpcd-port "$port" "$@") </dev/null >>"$DIR/card.log" 2>&1 &
    echo $! >"$DIR/card.pid"

    for i in $(seq 150); do
        card_present && break
        kill -0 "$(card_pid)" 2>/dev/null || { tail -n 20 "$DIR/card.log" >&2; stop; die "the card exited"; }
        sleep 0.2
    done
    card_present || { stop; die "no card in the reader after 30 s (see $DIR/card.log, $DIR/pcscd.log)"; }
    say "card ready"
    export_line
}

case "$cmd" in
    start) start "$@" ;;
    stop) stop ;;
    env) export_line ;;
    *) usage ;;
esac
