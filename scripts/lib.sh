# shellcheck shell=bash
# Helpers shared by the host bootstrap scripts (sourced, not run).
# Kept tiny on purpose: printing one line per step and the apt plumbing that
# several scripts need (install only what is missing, `apt-get update` at most once).

export DEBIAN_FRONTEND=noninteractive
# The Docker 26 CLI (docker-cli) lands in /usr/bin; a newer CLI may sit first on PATH
# in /usr/local/bin. Both negotiate the API version and find the buildx plugin in
# /usr/libexec/docker/cli-plugins, so whichever comes first is fine.

# shellcheck disable=SC2034  # used by the scripts that source this file
CACHE_DIR=${PIPELINE_CACHE_DIR:-/var/cache/asterisk-pipeline}

step() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# pkg_installed NAME: true when dpkg has NAME fully installed.
pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

# missing_pkgs NAME...: print the names that are not installed.
missing_pkgs() {
    local p
    for p in "$@"; do pkg_installed "$p" || printf '%s\n' "$p"; done
}

# apt_update_once: run `apt-get update` at most once per bootstrap run (exported flag).
apt_update_once() {
    if [ "${_PIPELINE_APT_UPDATED:-}" != 1 ]; then
        step "apt-get update"
        apt-get update -qq >/dev/null || die "apt-get update failed"
        export _PIPELINE_APT_UPDATED=1
    fi
}

# apt_retry CMD...: run an apt command quietly; if it fails on lists that may be stale
# (a machine kept from an earlier session), update the lists once and try again.
apt_retry() {
    local log
    log=$(mktemp)
    if "$@" >"$log" 2>&1; then rm -f "$log"; return 0; fi
    if [ "${_PIPELINE_APT_UPDATED:-}" != 1 ]; then
        apt_update_once
        if "$@" >"$log" 2>&1; then rm -f "$log"; return 0; fi
    fi
    tail -n 20 "$log" >&2; rm -f "$log"
    return 1
}

# apt_install [-t SUITE] NAME...: install the missing ones, without recommends.
apt_install() {
    local target=() missing
    if [ "${1:-}" = -t ]; then target=(-t "$2"); shift 2; fi
    missing=$(missing_pkgs "$@" | tr '\n' ' ')
    [ -n "$missing" ] || return 0
    step "apt-get install ${target[*]:+${target[*]} }${missing% }"
    # shellcheck disable=SC2086  # the package list is meant to split
    apt_retry apt-get install -y -q --no-install-recommends "${target[@]}" $missing \
        || die "apt-get install ${target[*]} $missing failed"
}
