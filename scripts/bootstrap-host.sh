#!/usr/bin/env bash
# Prepares a host (as root, no stdin) to build, smoke-test and publish the Asterisk
# images: a Docker engine with buildx and multi-platform support, arm64 emulation, and
# the tools the pipeline and its tests use. Hosts: Debian 12, Debian 13, Ubuntu 24.04
# (read from /etc/os-release; anything else stops with what to install by hand).
#
# Usage: scripts/bootstrap-host.sh [--stand-ins]
#   --stand-ins  also prepare offline stand-ins, for machines without internet (this
#                project's dev machines and CI; not for a real host; Debian hosts only):
#                the base image debian:trixie-slim (linux/amd64 + linux/arm64) made
#                with debootstrap, and a local HTTP mirror on 127.0.0.1:8088 of the
#                upstream downloads of the pinned releases (from ../shared/sources when
#                present, else upstream; scripts/make-local-mirror.sh); their settings go
#                to stand-ins.env beside matrix.yaml, which the pipeline reads by itself.
#
# Idempotent: each step checks first and does nothing when already done, so a rerun
# takes seconds. A Docker engine that already works with buildx (e.g. a GitHub runner)
# is left alone. Env: PIPELINE_READY_DIR=DIR touches DIR/engine-ready, base-ready and
# mirror-ready as each part becomes usable (for anything waiting on this script).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

stand_ins=0
for arg in "$@"; do
    case $arg in
        --stand-ins) stand_ins=1 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg (usage: $0 [--stand-ins])" ;;
    esac
done
host_distro
choose_packages
if [ "$stand_ins" = 1 ] && [ "$DISTRO" = ubuntu-24.04 ]; then
    die "--stand-ins is not supported on $DISTRO_NAME: the stand-ins come from Debian (the Asterisk source package of sid, debootstrapped base images); use a Debian 12 or 13 host, or run without --stand-ins (real downloads)"
fi
[ "$(id -u)" = 0 ] || die "run as root"
exec </dev/null
start=$SECONDS
ready() { if [ -n "${PIPELINE_READY_DIR:-}" ]; then touch "$PIPELINE_READY_DIR/$1"; fi; }

# Package installs must not start services: dockerd is started below, our way, and
# postgresql / docker-registry are started by the tests with their own configuration.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi

docker_works() { docker info >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; }
step "host: $DISTRO_NAME ($DISTRO)"

compose_works() { docker compose version >/dev/null 2>&1; }

# 1. Debian's newer suites (pinned low), only when something must come from there: on
#    Debian 12 Docker 26 + buildx, compose v2, kustomize, cosign; on any Debian the Opus
#    codec files of sid's asterisk source package (--stand-ins).
if { [ ${#EXTRA_SUITES[@]} -gt 0 ] && { ! docker_works || ! compose_works || ! command -v kustomize >/dev/null \
                                           || ! command -v cosign >/dev/null; }; } \
        || [ "$stand_ins" = 1 ]; then
    "$here/apt-sources.sh" "${EXTRA_SUITES[@]}"
fi

# 2. Docker engine 26 + buildx, with the containerd image store (multi-platform --load).
if docker_works; then
    step "docker: engine and buildx already working; leaving Docker alone"
else
    apt_install "${ENGINE_PKGS[@]}"
    apt_install "${BUILDX_PKGS[@]}"
    want='{"features":{"containerd-snapshotter":true}}'
    if [ "$(cat /etc/docker/daemon.json 2>/dev/null || true)" != "$want" ]; then
        step "docker: writing /etc/docker/daemon.json (containerd image store)"
        mkdir -p /etc/docker
        printf '%s\n' "$want" >/etc/docker/daemon.json
    fi
    "$here/start-dockerd.sh"
    docker buildx version >/dev/null 2>&1 || die "docker buildx does not work"
fi
step "docker: $(docker version -f 'client {{.Client.Version}} ({{.Client.APIVersion}}), engine {{.Server.Version}} (API {{.Server.APIVersion}})'), $(docker buildx version | cut -d' ' -f2)"
ready engine-ready

# 3. arm64 emulation: binfmt_misc mounted, qemu handler registered (with the F flag,
#    so it also works inside containers).
#    BINFMT_DIR: another directory only for tests/integration/test_setup.py, whose
#    containers must not touch the host's handlers.
binfmt=${BINFMT_DIR:-/proc/sys/fs/binfmt_misc}
if ! mountpoint -q "$binfmt"; then
    step "binfmt: mounting binfmt_misc"
    mount -t binfmt_misc binfmt_misc "$binfmt"
fi
apt_install qemu-user-static binfmt-support
if [ ! -e "$binfmt/qemu-aarch64" ]; then
    step "binfmt: registering qemu-aarch64"
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || update-binfmts --import qemu-aarch64
    [ -e "$binfmt/qemu-aarch64" ] || die "could not register the qemu-aarch64 binfmt handler"
fi
step "binfmt: qemu-aarch64 registered"

# 4. Tools for the pipeline and the tests (only what is missing).
apt_install "${TOOL_PKGS[@]}"
if ! compose_works; then apt_install "${COMPOSE_PKGS[@]}"; fi
# kustomize renders the Kubernetes examples for their validation test.
if ! command -v kustomize >/dev/null; then apt_install "${KUSTOMIZE_PKGS[@]}"; fi
# cosign signs the published images (docs/publish.md).
if ! command -v cosign >/dev/null && [ ${#COSIGN_PKGS[@]} -gt 0 ]; then apt_install "${COSIGN_PKGS[@]}"; fi
# postgresql is installed but must not run as a service: tests start their own.
if command -v pg_lsclusters >/dev/null; then
    while read -r ver name _port status _rest; do
        case $status in online*)
            step "postgresql: stopping the packaged cluster $ver/$name"
            pg_ctlcluster "$ver" "$name" stop ;;
        esac
    done < <(pg_lsclusters -h 2>/dev/null || true)
fi
step "tools: sipp, docker-registry, htpasswd, openssl, curl, debootstrap, postgresql, xz, bzip2, fail2ban, docker compose $(docker compose version --short 2>/dev/null || echo '?')"

# 5. Offline stand-ins: the mirror (quick) is built while the base images (slow, arm64
#    under emulation) are made.
if [ "$stand_ins" = 1 ]; then
    apt_install sox   # the mirror converts Debian's wav prompts to upstream's ulaw form
    "$here/make-local-mirror.sh" & mirror_pid=$!
    "$here/make-base-images.sh"
    ready base-ready
    wait "$mirror_pid" || die "building the local mirror failed"
    "$here/serve-mirror.sh"
    ready mirror-ready
    # The stand-ins' settings, beside matrix.yaml, where every `pipeline` command reads them
    # (pipeline/settings.py): the mirror, its own test signing key (make-local-mirror.sh:
    # upstream's private key is not ours), and offline base images (the local store's).
    env_file=$(cd "$here/.." && pwd)/stand-ins.env
    # shellcheck disable=SC1091
    signing=$(. "$CACHE_DIR/mirror/versions.env" && echo "$MIRROR_SIGNING_KEY $MIRROR_SIGNATURE_FINGERPRINT")
    {
        echo "# Written by scripts/setup.sh --stand-ins: the offline stand-ins, read by every"
        echo "# pipeline command run with this checkout's matrix.yaml. Delete it to use the real upstream."
        echo "PIPELINE_MIRROR=http://127.0.0.1:${MIRROR_PORT:-8088}"
        echo "PIPELINE_SIGNATURE_KEY=${signing% *}"
        echo "PIPELINE_SIGNATURE_FINGERPRINT=${signing#* }"
        echo "PIPELINE_OFFLINE=1"
    } >"$env_file"
fi

step "done in $((SECONDS - start))s"
if [ "$stand_ins" = 1 ]; then
    cat <<MSG
[bootstrap] Stand-ins: $env_file (the local mirror, its signing key, offline base images);
[bootstrap] every pipeline command of this checkout reads it. Base image: ${BASE_IMAGE:-debian:trixie-slim}
[bootstrap] (linux/amd64 + linux/arm64, in the local image store only).
MSG
fi
