#!/usr/bin/env bash
# Install the Debian packages tradeward needs, from the one list in
# scripts/debian-packages.txt.
#
#   scripts/install-deps.sh                 every stage: build, run and test
#   scripts/install-deps.sh build,run       only what building and running need
#   scripts/install-deps.sh --list [STAGES] print the package names and exit
#
# Runs apt-get only when a package is missing (dpkg's own record decides);
# uses sudo when not root. On a system without dpkg it names what to install
# and stops.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

list_only=0
if [ "${1:-}" = "--list" ]; then
    list_only=1
    shift
fi
stages="${1:-build,run,test}"

wanted=()
while read -r pkg pkg_stages _rest; do
    case "$pkg" in '' | '#'* | -) continue ;; esac
    IFS=, read -r -a need <<<"$pkg_stages"
    for s in "${need[@]}"; do
        if [[ ",$stages," == *",$s,"* ]]; then
            wanted+=("$pkg")
            break
        fi
    done
done <scripts/debian-packages.txt

if [ "$list_only" -eq 1 ]; then
    printf '%s\n' "${wanted[@]}"
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "not a Debian-like system: install the equivalents of: ${wanted[*]}" >&2
    exit 1
fi

missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "need root or sudo to install: ${missing[*]} (apt-get install ${missing[*]})" >&2
        exit 1
    }
    SUDO=(sudo)
fi
echo "installing with apt-get: ${missing[*]}"
log=$(mktemp)
if ! { "${SUDO[@]}" apt-get update -qq &&
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    rm -f "$log"
    echo "apt-get failed" >&2
    exit 1
fi
rm -f "$log"
