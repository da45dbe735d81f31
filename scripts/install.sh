#!/usr/bin/env bash
# Install tradeward on this host: the binary, its manual page and shell
# completions (generated from the command's own definitions), the docs, and
# the systemd unit and sysusers file. Run as root for a system install.
#
#   scripts/install.sh                       build (release) and install under /usr/local
#   scripts/install.sh --prefix DIR          install under DIR instead (DIR/bin, DIR/share/...)
#   scripts/install.sh --bin PATH            install this binary instead of building one
#   scripts/install.sh --systemd-dir DIR     where the unit goes (default /etc/systemd/system;
#                                            "none" to skip the unit and sysusers file)
#
# It never touches /etc/tradeward (the config, PIN file and token are the
# operator's: docs/config.md, "A production config") and never starts the
# service: `systemctl daemon-reload && systemctl enable --now tradeward`.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"

prefix=/usr/local
bin=""
systemd_dir=/etc/systemd/system
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        --systemd-dir) systemd_dir="$2"; shift 2 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ -z "$bin" ]; then
    bash scripts/install-deps.sh build,run
    cargo build --release --locked --quiet
    bin="${CARGO_TARGET_DIR:-target}/release/tradeward"
fi
[ -x "$bin" ] || { echo "install.sh: no binary at $bin" >&2; exit 1; }

install -d "$prefix/bin" "$prefix/share/man/man1" "$prefix/share/doc/tradeward" \
    "$prefix/share/bash-completion/completions" "$prefix/share/zsh/site-functions" \
    "$prefix/share/fish/vendor_completions.d"
install -m 0755 "$bin" "$prefix/bin/tradeward"
"$bin" man > "$prefix/share/man/man1/tradeward.1"
"$bin" completions bash > "$prefix/share/bash-completion/completions/tradeward"
"$bin" completions zsh > "$prefix/share/zsh/site-functions/_tradeward"
"$bin" completions fish > "$prefix/share/fish/vendor_completions.d/tradeward.fish"
install -m 0644 README.md docs/*.md "$prefix/share/doc/tradeward/"
if [ "$systemd_dir" != none ]; then
    install -d "$systemd_dir"
    install -m 0644 deploy/systemd/tradeward.service "$systemd_dir/tradeward.service"
    sysusers="$(dirname "$systemd_dir")/../sysusers.d"
    [ "$systemd_dir" = /etc/systemd/system ] && sysusers=/etc/sysusers.d
    install -d "$sysusers"
    install -m 0644 deploy/systemd/tradeward.sysusers "$sysusers/tradeward.conf"
fi
echo "installed tradeward $("$prefix/bin/tradeward" --version | awk '{print $2}') under $prefix"
