#!/usr/bin/env bash
# Install the Debian packages tradeward's scripts and tests need, if missing:
# SoftHSM2 (the development token), OpenSC (pkcs11-tool, used by the
# interoperability tests), Python's venv module (the quickstart verifies
# signatures with PyPI libraries in a virtual environment), libfaketime,
# systemd-analyze and setpriv (tests), and for the virtual PIV card
# (scripts/virtual-piv.sh): pcscd, vsmartcard's vpcd driver, libpcsclite and
# libclang (building the card and its yubikey-crate smoke test).
# Runs apt-get only when something is missing; uses sudo when not root.
set -euo pipefail

missing=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || missing+=(opensc)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# libfaketime: the clock-step test moves the agent's system clock with it.
compgen -G "/usr/lib/*/faketime/libfaketime.so.1" >/dev/null || missing+=(faketime)
# systemd-analyze checks the shipped unit; setpriv runs clients as other uids.
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
# The virtual PIV card: pcscd runs vpcd; the yubikey crate links libpcsclite
# (found through pkg-config); littlefs2-sys runs bindgen, which needs libclang.
command -v pcscd >/dev/null 2>&1 || missing+=(pcscd)
compgen -G "/usr/lib/pcsc/drivers/serial/libifdvpcd.so*" >/dev/null || missing+=(vsmartcard-vpcd)
[ -e /usr/include/PCSC/winscard.h ] || missing+=(libpcsclite-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkgconf)
# libclang itself (libclang.so, or a versioned libclang-N.so), not
# libclang-cpp, which some base images carry without it.
compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null \
    || compgen -G "/usr/lib/*/libclang-[0-9]*.so*" >/dev/null \
    || missing+=(libclang-dev)
if [ "${1:-}" = "--with-venv" ] && command -v python3 >/dev/null 2>&1; then
    probe=$(mktemp -d)
    python3 -m venv "$probe/v" >/dev/null 2>&1 || missing+=(python3-venv)
    rm -rf "$probe"
fi
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
