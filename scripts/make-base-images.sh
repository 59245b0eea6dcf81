#!/usr/bin/env bash
# Makes the offline stand-in for debian:trixie-slim (no registry is reachable here, so it
# cannot be pulled), or for another Debian suite's -slim image: a minbase debootstrap per
# platform (linux/amd64, and linux/arm64
# under qemu binfmt), trimmed like the official slim image (debuerreotype's minimizing
# config + slimify: no docs but copyright files, no man pages, locales, apt lists or
# caches), loaded as ONE multi-platform image into dockerd's containerd image store.
# Rootfs tarballs are cached in /var/cache/asterisk-pipeline/base/, so a rebuild of the
# image (e.g. after the image store was wiped) takes seconds. Each step is skipped when
# already done. Ends by checking `docker run --platform linux/arm64 ... uname -m`.
# Env: BASE_IMAGE (debian:trixie-slim; debian:SUITE-slim makes that suite),
# DEBIAN_SUITE (the suite, when the image name does not say it), DEBIAN_MIRROR
# (http://deb.debian.org/debian).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

image=${BASE_IMAGE:-debian:trixie-slim}
debian_mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-$(tag=${image##*:} && echo "${tag%-slim}")}
case $suite in
    bookworm|trixie|forky|sid) ;;
    *) die "BASE_IMAGE=$image: cannot tell the Debian suite from it; set DEBIAN_SUITE (e.g. trixie)" ;;
esac
base=$CACHE_DIR/base
# Bump when the rootfs recipe changes: cached tarballs and the image are then remade.
recipe=1
label=org.asterisk-pipeline.stand-in

mkdir -p "$base"

# slim_rootfs DIR: what debuerreotype does for the official -slim images, plus cleanup.
slim_rootfs() {
    local r=$1
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"; chmod 755 "$r/usr/sbin/policy-rc.d"
    echo force-unsafe-io >"$r/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
    local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
    printf 'DPkg::Post-Invoke { %s };\nAPT::Update::Post-Invoke { %s };\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' \
        "$clean" "$clean" >"$r/etc/apt/apt.conf.d/docker-clean"
    echo 'Acquire::GzipIndexes "true";' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
    # Keep later package installs slim too, then drop what is already there.
    cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
# This is the "slim" variant of the Debian base image.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
CFG
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$r"/usr/share/{groff,info,linda,man}/* "$r"/usr/share/lintian/overrides/*
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    # apt sources as in the official image (deb822), caches and logs emptied.
    rm -f "$r/etc/apt/sources.list"
    cat >"$r/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
        "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old "$r"/tmp/* "$r"/var/tmp/* \
        "$r"/root/.bash_history
    mkdir -p "$r/var/lib/apt/lists/partial"
    find "$r/var/log" -type f -delete
    : >"$r/etc/resolv.conf"; rm -f "$r/etc/hostname"
}

# rootfs ARCH: cached, trimmed rootfs tarball for ARCH (made when missing).
rootfs() {
    local arch=$1 out=$base/$suite-slim-$1.r$recipe.tar dir
    if [ -s "$out" ]; then return 0; fi
    step "base image: debootstrap --variant=minbase --arch=$arch $suite (log $base/debootstrap-$arch.log)"
    dir=$(mktemp -d "$base/rootfs-$arch.XXXXXX")
    if ! debootstrap --variant=minbase --arch="$arch" "$suite" "$dir" "$debian_mirror" \
            >"$base/debootstrap-$arch.log" 2>&1; then
        tail -n 20 "$base/debootstrap-$arch.log" >&2
        rm -rf "$dir"
        die "debootstrap for $arch failed"
    fi
    slim_rootfs "$dir"
    tar -C "$dir" --numeric-owner --sort=name --exclude='./dev/*' --exclude='./proc/*' \
        --exclude='./sys/*' -cf "$out.tmp" .
    mv "$out.tmp" "$out"
    rm -rf "$dir"
    step "base image: $arch rootfs $(du -m "$out" | cut -f1) MB cached in $out"
}

if [ "$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null || true)" = "$recipe" ]; then
    step "base image: $image already in the image store"
else
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "arm64 emulation (qemu binfmt) is not set up"
    # The two debootstraps run in parallel: amd64 is fast, arm64 is emulated and slow.
    rootfs amd64 & amd=$!
    rootfs arm64 & arm=$!
    wait "$amd" || die "amd64 rootfs failed"
    wait "$arm" || die "arm64 rootfs failed"
    step "base image: loading $image (linux/amd64 + linux/arm64) into the image store"
    ctx=$(mktemp -d "$base/ctx.XXXXXX")
    trap 'rm -rf "$ctx"' EXIT
    ln "$base/$suite-slim-amd64.r$recipe.tar" "$ctx/rootfs-amd64.tar"
    ln "$base/$suite-slim-arm64.r$recipe.tar" "$ctx/rootfs-arm64.tar"
    cat >"$ctx/Dockerfile" <<DF
FROM scratch
ARG TARGETARCH
ADD rootfs-\${TARGETARCH}.tar /
LABEL $label="$recipe" \\
      org.opencontainers.image.description="Offline stand-in for debian:$suite-slim (debootstrap minbase, slimmed)"
CMD ["bash"]
DF
    docker buildx build -q --platform linux/amd64,linux/arm64 -t "$image" --load "$ctx" >/dev/null \
        || die "could not load $image"
fi

arch=$(docker run --rm --platform linux/arm64 "$image" uname -m)
[ "$arch" = aarch64 ] || die "docker run --platform linux/arm64 $image uname -m printed '$arch'"
step "base image: $image runs as linux/amd64 and linux/arm64 (uname -m: aarch64)"
