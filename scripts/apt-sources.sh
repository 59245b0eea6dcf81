#!/usr/bin/env bash
# Adds Debian trixie and sid (plus deb-src for sid) to apt, pinned at priority 100,
# so nothing installed from bookworm gets upgraded: single packages are taken from
# them on purpose with `apt-get install -t trixie|sid`. Docker 26, buildx, compose v2
# and the asterisk source package (whose Opus component the stand-in mirror serves:
# make-local-mirror.sh) only exist there.
# Runs `apt-get update` only when the sources changed or sid's lists are missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || die "$keyring missing: not a Debian host? Install Docker >= 25 with buildx and compose v2 yourself, then rerun"
sources=/etc/apt/sources.list.d/asterisk-pipeline.sources
pin=/etc/apt/preferences.d/asterisk-pipeline
changed=0

# write_if_changed FILE: stdin replaces FILE only when it differs.
write_if_changed() {
    local tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; chmod 644 "$1"; changed=1; fi
}

write_if_changed "$sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

write_if_changed "$pin" <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: *
Pin: release n=sid
Pin-Priority: 100
PIN

shopt -s nullglob
sid_src=(/var/lib/apt/lists/*_dists_sid_main_source_Sources*)
trixie_bin=(/var/lib/apt/lists/*_dists_trixie_main_binary-amd64_Packages*)
if [ "$changed" = 1 ] || [ ${#sid_src[@]} = 0 ] || [ ${#trixie_bin[@]} = 0 ]; then
    step "apt sources: trixie + sid pinned at 100 (updating lists)"
    apt-get update -qq >/dev/null || die "apt-get update failed"
else
    step "apt sources: trixie + sid pinned at 100 (unchanged)"
fi
