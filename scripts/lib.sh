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

# ----------------------------------------------------------------------------- the host

# What is supported, said when something else is found.
SUPPORTED_HOSTS="Debian 12 (bookworm), Debian 13 (trixie) and Ubuntu 24.04 (noble)"
ELSEWHERE="elsewhere, install Docker >= 25 with buildx and compose v2, qemu-user-static, sipp (sip-tester), docker-registry, PostgreSQL and fail2ban yourself, then: python3 -m venv .venv && .venv/bin/pip install -e '.[test]'"

# os_release_field NAME FILE: the value of NAME in an os-release(5) file, unquoted.
os_release_field() {
    sed -n "s/^$1=//p" "$2" | head -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/"
}

# host_distro: sets DISTRO (debian-12, debian-13 or ubuntu-24.04) and DISTRO_NAME from
# /etc/os-release, or stops with one line naming what was found and what is supported.
host_distro() {
    local file=/etc/os-release id version
    [ -r "$file" ] || file=/usr/lib/os-release
    [ -r "$file" ] || die "no /etc/os-release: cannot tell which distribution this is; supported: $SUPPORTED_HOSTS ($ELSEWHERE)"
    id=$(os_release_field ID "$file")
    version=$(os_release_field VERSION_ID "$file")
    DISTRO_NAME=$(os_release_field PRETTY_NAME "$file")
    DISTRO_NAME=${DISTRO_NAME:-$id $version}
    case "$id:$version" in
        debian:12) DISTRO=debian-12 ;;
        debian:13) DISTRO=debian-13 ;;
        ubuntu:24.04) DISTRO=ubuntu-24.04 ;;
        *) die "unsupported host: $DISTRO_NAME (ID=$id VERSION_ID=${version:-none} in $file); supported: $SUPPORTED_HOSTS; $ELSEWHERE" ;;
    esac
}

# choose_packages: the apt packages of each part for $DISTRO. An array starting with
# `-t SUITE` takes them from that suite (Debian 12 only: its own Docker 20.10 cannot build
# multi-platform images, compose v2 and kustomize are newer than bookworm).
#   EXTRA_SUITES   suites apt-sources.sh adds, pinned low, for the packages above
#   ENGINE_PKGS    Docker engine and CLI;  BUILDX_PKGS  the buildx plugin
#   COMPOSE_PKGS   compose v2;  KUSTOMIZE_PKGS  kustomize;  TOOL_PKGS  everything else
#   COSIGN_PKGS    cosign, which signs what publishing pushes (none on Ubuntu 24.04: not
#                  packaged there; GitHub's runners get it from sigstore/cosign-installer)
# shellcheck disable=SC2034  # used by bootstrap-host.sh
choose_packages() {
    # gpgv checks upstream's release signatures, gpg reads the key; fail2ban's tools
    # (fail2ban-regex, fail2ban-client) test deploy/fail2ban.
    TOOL_PKGS=(qemu-user-static binfmt-support sip-tester docker-registry apache2-utils
               openssl curl ca-certificates debootstrap postgresql xz-utils bzip2 shellcheck
               gpg gpgv fail2ban)
    case $DISTRO in
        debian-12)
            EXTRA_SUITES=(trixie sid)
            ENGINE_PKGS=(-t trixie docker.io docker-cli)
            BUILDX_PKGS=(-t sid docker-buildx)
            COMPOSE_PKGS=(-t trixie docker-compose)
            KUSTOMIZE_PKGS=(-t trixie kustomize)
            COSIGN_PKGS=(-t sid cosign) ;;   # 3.x, as the CI's installer (trixie has 2.5)
        debian-13)
            EXTRA_SUITES=()
            ENGINE_PKGS=(docker.io docker-cli)
            BUILDX_PKGS=(docker-buildx)
            COMPOSE_PKGS=(docker-compose)
            KUSTOMIZE_PKGS=(kustomize)
            COSIGN_PKGS=(cosign) ;;
        ubuntu-24.04)
            # Ubuntu's docker.io carries the CLI; compose v2 is docker-compose-v2 there
            # (docker-compose is the old Python compose v1).
            EXTRA_SUITES=()
            ENGINE_PKGS=(docker.io)
            BUILDX_PKGS=(docker-buildx)
            COMPOSE_PKGS=(docker-compose-v2)
            KUSTOMIZE_PKGS=(kustomize)
            COSIGN_PKGS=() ;;
        *) die "choose_packages: unknown DISTRO '$DISTRO'" ;;
    esac
}
