#!/usr/bin/env bash
# Usage: scripts/apt-sources.sh [SUITE...]   (Debian hosts only)
# Adds the Debian suites SUITE... (e.g. trixie sid on Debian 12: Docker 26, buildx and
# compose v2 only exist there) and deb-src for sid (the asterisk source package, whose
# Opus component the stand-in mirror serves: make-local-mirror.sh, for --stand-ins) to
# apt, pinned at priority 100, so nothing installed from the host's own release gets
# upgraded: single packages are taken from them on purpose with `apt-get install -t
# SUITE`. Runs `apt-get update` only when the sources changed or a suite's lists are
# missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
suites=("$@")

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

write_if_changed "$sources" < <(
    if [ ${#suites[@]} -gt 0 ]; then
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: %s\n\n' \
            "${suites[*]}" "$keyring"
    fi
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: sid\nComponents: main\nSigned-By: %s\n' "$keyring"
)

pinned=("${suites[@]}")
[[ " ${suites[*]} " == *" sid "* ]] || pinned+=(sid)
write_if_changed "$pin" < <(
    separator=""
    for suite in "${pinned[@]}"; do
        printf '%sPackage: *\nPin: release n=%s\nPin-Priority: 100\n' "$separator" "$suite"
        separator=$'\n'
    done
)

shopt -s nullglob
missing=0
lists=(/var/lib/apt/lists/*_dists_sid_main_source_Sources*)
[ ${#lists[@]} -gt 0 ] || missing=1
for suite in "${suites[@]}"; do
    lists=(/var/lib/apt/lists/*_dists_"${suite}"_main_binary-*_Packages*)
    [ ${#lists[@]} -gt 0 ] || missing=1
done
what="${suites[*]:+${suites[*]} + }sid sources, pinned at 100"
if [ "$changed" = 1 ] || [ "$missing" = 1 ]; then
    step "apt sources: $what (updating lists)"
    apt-get update -qq >/dev/null || die "apt-get update failed"
else
    step "apt sources: $what (unchanged)"
fi
