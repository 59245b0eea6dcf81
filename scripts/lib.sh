# shellcheck shell=bash
# Helpers shared by the host bootstrap scripts (sourced, not run).
# Kept tiny on purpose: printing one line per step and the apt plumbing that
# several scripts need (install only what is missing, `apt-get update` at most once).

export DEBIAN_FRONTEND=noninteractive
# The Docker 26 CLI (docker-cli) lands in /usr/bin; a newer CLI may sit first on PATH
# in /usr/local/bin. Both negotiate the API version and find the buildx plugin in
# /usr/libexec/docker/cli-plugins, so whichever comes first is fine.

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

# apt_update_once: run `apt-get update` once per bootstrap run (marker in env).
apt_update_once() {
    if [ "${_PIPELINE_APT_UPDATED:-}" != 1 ]; then
        step "apt-get update"
        apt-get update -qq >/dev/null || die "apt-get update failed"
        export _PIPELINE_APT_UPDATED=1
    fi
}

# apt_install [-t SUITE] NAME...: install the missing ones, without recommends.
apt_install() {
    local target=()
    if [ "${1:-}" = -t ]; then target=(-t "$2"); shift 2; fi
    local missing
    missing=$(missing_pkgs "$@")
    [ -n "$missing" ] || return 0
    apt_update_once
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    step "apt-get install ${target[*]} $(echo $missing)"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends "${target[@]}" $missing >/dev/null \
        || die "apt-get install ${target[*]} $missing failed"
}
