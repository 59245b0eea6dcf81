#!/usr/bin/env bash
# Builds the local source mirror (offline stand-in for the upstream download hosts) under
# $PIPELINE_CACHE_DIR/mirror (/var/cache/asterisk-pipeline/mirror), laid out as
# <host>/<path> so that the upstream URL https://HOST/PATH is served as
# $PIPELINE_MIRROR/HOST/PATH (see serve-mirror.sh). Its directory listings show exactly
# the pinned releases below, so every run and test resolves the same versions.
#
#   - Asterisk release tarballs (+ .sha256/.sha1/.md5) of the pinned releases, and the
#     bundled pjproject tarball each one's build downloads. Each taken from the first
#     stand-in sources directory that holds it, in $PIPELINE_SOURCES_DIR (a colon-separated
#     list; default: ../shared/sources beside the repository, made from the upstream git
#     tags: see its README, then $PIPELINE_CACHE_DIR/extra-sources, where make-from-git.sh
#     output for releases newer than ../shared/sources goes), else
#     downloaded from the real upstream URLs (downloads.asterisk.org, old-releases/ once a
#     release moved there; raw.githubusercontent.com/asterisk/third-party) and verified
#     against upstream's published .sha256 and the pjproject md5 inside the Asterisk tree.
#     Where the md5 that an Asterisk tree names (third-party/pjproject/*.md5) is not the
#     md5 of the pjproject tarball served here (stand-in sources: see their README), that
#     line is rewritten and the Asterisk tarball repacked deterministically, with new
#     checksum files; otherwise upstream's bytes and checksum files are served as they are.
#   - an OpenPGP signature (NAME.asc, armored, detached) beside each Asterisk tarball, as
#     upstream publishes one. The Asterisk Development Team's private key is not ours, so
#     the stand-in signs with its own test key, made once and kept in
#     $PIPELINE_CACHE_DIR/test-signing-key (gnupg/ private, public.asc and fingerprint
#     readable by all); the stand-ins' configuration (stand-ins.env: PIPELINE_SIGNATURE_KEY,
#     PIPELINE_SIGNATURE_FINGERPRINT) points the pipeline at it. Every tarball served is
#     signed with it, also upstream's own bytes (one key per mirror).
#   - traud/asterisk-opus files at a pinned commit, from the component tarball of Debian's
#     asterisk source package (whatever Asterisk version that package is at; the two files
#     are checked against pinned sha256 sums), else from raw.githubusercontent.com.
#   - core sounds (en) and music on hold (opsound) tarballs, wav and ulaw, + checksums,
#     rebuilt from Debian's bookworm packages.
#
# Usage: make-local-mirror.sh [--add DIR]...
#   --add DIR  also serve the Asterisk releases found in DIR (laid out like the stand-in
#              sources, e.g. made by make-from-git.sh), the same way as the pinned ones.
# Skipped when the mirror is complete for this recipe (stamp file); downloads and the
# sound tarballs are cached in $PIPELINE_CACHE_DIR/downloads. Env: PIPELINE_SOURCES_DIR,
# PIPELINE_CACHE_DIR, MIRROR_DIR (where the mirror goes: $PIPELINE_CACHE_DIR/mirror),
# UPSTREAM_MIRROR (fetch https://HOST/PATH from UPSTREAM_MIRROR/HOST/PATH instead, not
# cached: tests), DEBIAN_MIRROR (http://deb.debian.org/debian).
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

# The pinned releases: the only place (with the tests) that names versions.
releases=(
    asterisk/releases/asterisk-18.26.4.tar.gz
    asterisk/releases/asterisk-20.20.1.tar.gz
    asterisk/releases/asterisk-22.10.1.tar.gz
    asterisk/releases/asterisk-23.4.1.tar.gz
    certified-asterisk/releases/asterisk-certified-22.8-cert3.tar.gz
    certified-asterisk/releases/asterisk-certified-20.7-cert11.tar.gz
)
# Pinned releases that ../shared/sources does not hold: served when another stand-in
# sources directory holds them (make-from-git.sh output in $CACHE_DIR/extra-sources) or
# upstream is reachable; otherwise left out, named in versions.env (MIRROR_UNAVAILABLE),
# and the tests leave out the series that resolve to them (tests/integration/conftest.py).
optional=(
    certified-asterisk/releases/asterisk-certified-20.7-cert11.tar.gz
)
# traud/asterisk-opus commit that Debian's Xopus component (asterisk-0.0.20211102) is:
# its tree hashes to the same NAR hash as nixpkgs' fetchFromGitHub of this rev.
opus_ref=a959f072d3f364be983dd27e6e250b038aaef747
opus_sha256=(
    "b35e8917fb42cb371e8ef37a45a46aca3988130ebc38b7b8c0ff533d65756bba  codec_opus_open_source.c"
    "4cfd088a445233ae0c9b7d823d7918dd2561cbaf7e2f458d5f4c552fe8f504f3  ex_opus.h"
)
# Bump when the layout or the recipe changes, so existing mirrors are rebuilt.
recipe=6
# mtime of every file in the tarballs made here (reproducible bytes).
epoch=1700000000

added=()
while [ $# -gt 0 ]; do
    case $1 in
        --add) [ -d "${2:-}" ] || die "--add needs a directory (got '${2:-}')"
               added+=("$(cd "$2" && pwd)"); shift 2 ;;
        -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (usage: $0 [--add DIR]...)" ;;
    esac
done

mirror=${MIRROR_DIR:-$CACHE_DIR/mirror}
dl=$CACHE_DIR/downloads
telephony=downloads.asterisk.org/pub/telephony
third_party=raw.githubusercontent.com/asterisk/third-party/master/pjproject
debian_mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
sources_dirs=()
IFS=: read -r -a candidates <<<"${PIPELINE_SOURCES_DIR:-$(cd "$here/../.." && pwd)/shared/sources:$CACHE_DIR/extra-sources}"
for dir in "${candidates[@]}"; do
    if [ -d "$dir/downloads.asterisk.org" ]; then sources_dirs+=("$(cd "$dir" && pwd)"); fi
done
# sources_of REL: the first stand-in sources directory holding REL ("": from upstream).
sources_of() {
    local dir
    for dir in "${sources_dirs[@]}"; do
        if [ -f "$dir/$telephony/$1" ]; then echo "$dir"; return 0; fi
    done
}
origin="upstream${UPSTREAM_MIRROR:+ via $UPSTREAM_MIRROR}"
if [ ${#sources_dirs[@]} -gt 0 ]; then
    from_upstream=()
    for rel in "${releases[@]}"; do
        if [ -z "$(sources_of "$rel")" ]; then from_upstream+=("$(basename "$rel")"); fi
    done
    origin="stand-in sources ${sources_dirs[*]}${from_upstream[*]:+; $origin: ${from_upstream[*]}}"
fi
added_files=""
if [ ${#added[@]} -gt 0 ]; then
    added_files=$(find "${added[@]}" -type f -name '*.tar.*' -printf '%p %s %T@\n' | sort | tr '\n' ' ')
fi
# --- the stand-in's signing key (made once; a new key means a new mirror) ---------------
key_dir=$CACHE_DIR/test-signing-key
gnupg=$key_dir/gnupg
if [ ! -s "$key_dir/fingerprint" ] || [ ! -s "$key_dir/public.asc" ]; then
    command -v gpg >/dev/null || die "gpg is not installed (apt-get install gpg): the mirror signs its tarballs"
    step "mirror: making the stand-in's OpenPGP test key in $key_dir"
    rm -rf "$key_dir"; mkdir -p "$gnupg"; chmod 755 "$key_dir"; chmod 700 "$gnupg"
    GNUPGHOME=$gnupg gpg --batch --quiet --passphrase '' --quick-gen-key \
        "asterisk-pipeline stand-in mirror (TEST KEY, not Asterisk's) <stand-in-mirror@localhost>" \
        rsa4096 sign never 2>/dev/null
    GNUPGHOME=$gnupg gpg --batch --quiet --armor --export >"$key_dir/public.asc.part"
    GNUPGHOME=$gnupg gpg --batch --with-colons --show-keys "$key_dir/public.asc.part" \
        | awk -F: '$1 == "pub" { p = 1; next } p && $1 == "fpr" { print $10; exit }' >"$key_dir/fingerprint"
    GNUPGHOME=$gnupg gpgconf --kill gpg-agent
    [ -s "$key_dir/fingerprint" ] || die "could not make the test signing key in $key_dir"
    mv "$key_dir/public.asc.part" "$key_dir/public.asc"
    chmod 644 "$key_dir/public.asc" "$key_dir/fingerprint"
fi
signing_fpr=$(cat "$key_dir/fingerprint")

stamp="recipe $recipe; ${releases[*]}; $origin; added: ${added_files:-none}; signed by $signing_fpr"
if [ "$(cat "$mirror/.complete" 2>/dev/null || true)" = "$stamp" ]; then
    step "mirror: $mirror is complete"
    exit 0
fi

mkdir -p "$dl/upstream" "$dl/opus" "$dl/deb" "$dl/sounds"
work=$(mktemp -d "$CACHE_DIR/mirror-work.XXXXXX")
# gpg starts an agent for the private key: stop it with the script.
trap 'rm -rf "$work"; GNUPGHOME=$gnupg gpgconf --kill gpg-agent 2>/dev/null || true' EXIT
new=$work/mirror

# --- helpers ---------------------------------------------------------------------------
# fetch URL OUT: download (https://HOST/PATH from $UPSTREAM_MIRROR/HOST/PATH when set).
fetch() {
    local url=$1
    if [ -n "${UPSTREAM_MIRROR:-}" ]; then url=${UPSTREAM_MIRROR%/}/${url#https://}; fi
    curl -fsSL --retry 3 --connect-timeout 20 -o "$2.part" "$url" && mv "$2.part" "$2"
}
# sha256_of FILE
sha256_of() { sha256sum <"$1" | cut -d' ' -f1; }
md5_of() { md5sum <"$1" | cut -d' ' -f1; }
# checksum FILE: FILE.sha256 (sha256sum format, as upstream) plus .md5 and .sha1.
checksum() {
    local d f
    d=$(dirname "$1"); f=$(basename "$1")
    (cd "$d" && sha256sum "$f" >"$f.sha256" && sha1sum "$f" >"$f.sha1" && md5sum "$f" >"$f.md5")
}
# sign FILE: FILE.asc, a detached armored signature by the stand-in's test key.
sign() {
    GNUPGHOME=$gnupg gpg --batch --quiet --no-auto-check-trustdb --yes --local-user "$signing_fpr" --armor \
        --detach-sign --output "$1.asc" "$1" || die "could not sign $1"
}
# published_sha256 SUMFILE NAME: the digest for NAME in a checksum file (or a bare digest).
published_sha256() {
    awk -v n="$2" '{ f=$NF; sub(/^\*/, "", f) } f==n || (NF==1 && NR==1) { print tolower($1); exit }' "$1"
}
# repack DIR PARENT OUT COMPRESSOR: tar PARENT/DIR as DIR/..., sorted, root-owned,
# mtimes clamped to $epoch (same inputs, same bytes on every machine).
repack() {
    tar -C "$2" --sort=name --owner=0 --group=0 --numeric-owner --format=gnu \
        --mtime="@$epoch" --clamp-mtime -cf - "$1" | $4 >"$3"
}

# asterisk_tarball REL SRCDIR: sets $tarball to the verified tarball of REL (a path under
# pub/telephony/), with its checksum files beside it: copied from SRCDIR when given, else
# downloaded from upstream (cached in $dl/upstream).
asterisk_tarball() {
    local rel=$1 src=$2 name want got url x
    name=$(basename "$rel")
    if [ -n "$src" ]; then
        tarball=$work/in/$rel
        mkdir -p "$(dirname "$tarball")"
        [ -f "$src/$telephony/$rel" ] || die "$src/$telephony/$rel is missing (stand-in sources incomplete?)"
        for x in "" .sha256 .sha1 .md5; do
            if [ -f "$src/$telephony/$rel$x" ]; then cp "$src/$telephony/$rel$x" "$tarball$x"; fi
        done
    else
        tarball=$dl/upstream/$rel
        if [ -n "${UPSTREAM_MIRROR:-}" ]; then tarball=$work/in/$rel; fi
        mkdir -p "$(dirname "$tarball")"
        # Upstream moves older releases from releases/ to old-releases/, and has published
        # the sha256 both as NAME.sha256 and as asterisk-VERSION.sha256.
        for url in "https://$telephony/$rel" "https://$telephony/${rel/\/releases\//\/old-releases\/}"; do
            if [ -s "$tarball" ] && [ -s "$tarball.sha256" ]; then break; fi
            step "mirror: downloading $url"
            fetch "$url" "$tarball" || continue
            for x in sha256 sha1 md5; do fetch "$url.$x" "$tarball.$x" 2>/dev/null || rm -f "$tarball.$x"; done
            if [ ! -s "$tarball.sha256" ]; then fetch "${url%.tar.gz}.sha256" "$tarball.sha256" || true; fi
        done
        [ -s "$tarball" ] || die "could not download $name from downloads.asterisk.org (releases/ nor old-releases/); offline, make it from its git tag with make-from-git.sh into a stand-in sources directory (\$PIPELINE_SOURCES_DIR)"
    fi
    [ -s "$tarball.sha256" ] || die "no published sha256 for $name"
    want=$(published_sha256 "$tarball.sha256" "$name"); got=$(sha256_of "$tarball")
    if [ -z "$want" ] || [ "$want" != "$got" ]; then
        rm -f "$tarball"
        die "$name: sha256 $got does not match the published ${want:-(none)}"
    fi
}

# pjproject_tarball VER SRCDIR MD5: the pjproject tarball VER into $new (from SRCDIR, else
# upstream verified against MD5, the one the Asterisk tree names); prints its md5.
pjproject_tarball() {
    local ver=$1 src=$2 md5=$3 name out cached
    name=pjproject-$ver.tar.bz2; out=$new/$third_party/$ver/$name
    mkdir -p "$(dirname "$out")"
    if [ -f "$out" ]; then md5_of "$out"; return 0; fi
    if [ -n "$src" ] && [ -f "$src/$third_party/$ver/$name" ]; then
        cp "$src/$third_party/$ver/$name" "$out"
        if [ -f "$src/$third_party/$ver/$name.sha256" ]; then
            [ "$(published_sha256 "$src/$third_party/$ver/$name.sha256" "$name")" = "$(sha256_of "$out")" ] \
                || die "$src/$third_party/$ver/$name does not match its .sha256"
        fi
    elif [ -n "$src" ]; then
        die "$src/$third_party/$ver/$name is missing: an Asterisk release there names pjproject $ver"
    else
        cached=$dl/upstream/pjproject/$name
        if [ -n "${UPSTREAM_MIRROR:-}" ]; then cached=$work/in/pjproject/$name; fi
        mkdir -p "$(dirname "$cached")"
        if [ ! -s "$cached" ] || [ "$(md5_of "$cached")" != "$md5" ]; then
            step "mirror: downloading https://$third_party/$ver/$name" >&2
            fetch "https://$third_party/$ver/$name" "$cached" || die "could not download $name from raw.githubusercontent.com"
        fi
        [ "$(md5_of "$cached")" = "$md5" ] || die "$name: md5 $(md5_of "$cached") is not the $md5 the Asterisk tree names"
        cp "$cached" "$out"
    fi
    checksum "$out"
    md5_of "$out"
}

# serve_release REL SRCDIR: one Asterisk release (and its pjproject) into the mirror.
serve_release() {
    local rel=$1 src=$2 name top pj_ver md5file pj_md5 served dest x
    name=$(basename "$rel")
    asterisk_tarball "$rel" "$src"
    top=$(tar -tzf "$tarball" | awk 'NR == 1'); top=${top%%/*}
    [ "$top.tar.gz" = "$name" ] || die "$name: top directory is '$top', expected '${name%.tar.gz}'"
    pj_ver=$(tar -xzOf "$tarball" "$top/third-party/versions.mak" | sed -n 's/^PJPROJECT_VERSION=//p')
    [ -n "$pj_ver" ] || die "$name: no PJPROJECT_VERSION in third-party/versions.mak"
    md5file=$top/third-party/pjproject/pjproject-$pj_ver.tar.bz2.md5
    pj_md5=$(tar -xzOf "$tarball" "$md5file" | awk '{print $1; exit}')
    [ -n "$pj_md5" ] || die "$name: no $md5file"
    served=$(pjproject_tarball "$pj_ver" "$src" "$pj_md5")
    x=${name%.tar.gz}; x=${x#asterisk-}; served_versions+=("${x#certified-}")
    dest=$new/$telephony/$(dirname "$rel")
    mkdir -p "$dest"
    if [ "$served" = "$pj_md5" ]; then
        step "mirror: $rel (pjproject $pj_ver, as published)"
        cp "$tarball" "$dest/$name"
        for x in sha256 sha1 md5; do
            if [ -f "$tarball.$x" ]; then cp "$tarball.$x" "$dest/$name.$x"; fi
        done
    else
        step "mirror: $rel (pjproject $pj_ver; md5 line rewritten to the served tarball's)"
        mkdir "$work/x"
        tar -C "$work/x" -xzf "$tarball"
        printf '%s  pjproject-%s.tar.bz2\n' "$served" "$pj_ver" >"$work/x/$md5file"
        repack "$top" "$work/x" "$dest/$name" "gzip -n -9"
        rm -rf "$work/x"
        checksum "$dest/$name"
    fi
    sign "$dest/$name"
}

# --- 1. Asterisk releases and their pjproject --------------------------------------------
served_versions=()
unavailable=()
for rel in "${releases[@]}"; do
    src=$(sources_of "$rel")
    if [ -z "$src" ] && [[ " ${optional[*]} " == *" $rel "* ]] \
        && ! fetch "https://$telephony/$rel.sha256" "$work/probe" 2>/dev/null \
        && ! fetch "https://$telephony/${rel/\/releases\//\/old-releases\/}.sha256" "$work/probe" 2>/dev/null; then
        step "mirror: NOT serving $(basename "$rel"): in no stand-in sources directory, and upstream is unreachable (make it from its git tag with make-from-git.sh into $CACHE_DIR/extra-sources)"
        x=$(basename "$rel" .tar.gz); x=${x#asterisk-}; unavailable+=("${x#certified-}")
        continue
    fi
    serve_release "$rel" "$src"
done
for dir in "${added[@]}"; do
    while IFS= read -r path; do
        rel=${path#"$dir/$telephony/"}
        if [[ " ${releases[*]} " == *" $rel "* ]]; then continue; fi   # pinned: served above
        serve_release "$rel" "$dir"
    done < <(find "$dir/$telephony" -name 'asterisk-*.tar.gz' | sort)
done
pj_versions=$(cd "$new/$third_party" && echo *)

# --- 2. traud/asterisk-opus files --------------------------------------------------------
opus_dir=$new/raw.githubusercontent.com/traud/asterisk-opus/$opus_ref/codecs
mkdir -p "$opus_dir"
opus_ok() { (cd "$1" && printf '%s\n' "${opus_sha256[@]}" | sha256sum --quiet -c - >/dev/null 2>&1); }
# Debian's component tarball (name and sha256 from apt's signed Sources index).
component=$(apt-cache showsrc asterisk 2>/dev/null | awk '
    /^Directory:/ { dir = $2 } /^Checksums-Sha256:/ { s = 1; next } /^[^ ]/ { s = 0 }
    s && $3 ~ /orig-Xopus\.tar\.xz$/ { file = $3; sum = $1 }
    /^$/ && file && dir { exit } END { if (file && dir) print dir "/" file, sum }' || true)
if [ -n "$component" ]; then
    path=${component% *}; want=${component#* }; x=$dl/opus/$(basename "$path")
    if [ ! -s "$x" ] || [ "$(sha256_of "$x")" != "$want" ]; then
        step "mirror: downloading $debian_mirror/$path"
        curl -fsSL --retry 3 -o "$x" "$debian_mirror/$path" || rm -f "$x"
    fi
    if [ -s "$x" ] && [ "$(sha256_of "$x")" = "$want" ]; then
        mkdir "$work/opus"
        tar -C "$work/opus" --strip-components=1 --no-same-owner -xJf "$x"
        cp "$work/opus/codecs/codec_opus_open_source.c" "$work/opus/codecs/ex_opus.h" "$opus_dir/"
    fi
fi
if opus_ok "$opus_dir"; then
    step "mirror: traud/asterisk-opus $opus_ref from Debian's $(basename "${component% *}")"
else
    step "mirror: Debian's asterisk source package has no matching opus component; trying raw.githubusercontent.com"
    for f in codec_opus_open_source.c ex_opus.h; do
        fetch "https://raw.githubusercontent.com/traud/asterisk-opus/$opus_ref/codecs/$f" "$opus_dir/$f" || true
    done
    opus_ok "$opus_dir" || die "no traud/asterisk-opus $opus_ref files with the pinned sha256 (needs the sid deb-src entry of scripts/apt-sources.sh, or internet)"
fi

# --- 3. Sounds, laid out like upstream's tarballs (files at the top level) -----------------
shopt -s nullglob
debs=("$dl"/deb/asterisk-core-sounds-en-wav_*.deb "$dl"/deb/asterisk-moh-opsound-wav_*.deb)
if [ ${#debs[@]} != 2 ]; then
    step "mirror: downloading asterisk-core-sounds-en-wav, asterisk-moh-opsound-wav (bookworm)"
    (cd "$dl/deb" && apt_retry apt-get -q -o APT::Sandbox::User=root download \
        asterisk-core-sounds-en-wav/bookworm asterisk-moh-opsound-wav/bookworm) \
        || die "apt-get download of the sound packages failed"
fi
snd=$new/$telephony/sounds/releases
mkdir -p "$snd"
# sound_tarball DEB SRC_SUBDIR NAME DOCNAME [ulaw]: NAME-VER.tar.gz from the .deb's
# SRC_SUBDIR, with upstream-like CHANGES-/LICENSE-DOCNAME files; prints VER. With `ulaw`,
# every .wav becomes a raw mu-law .ulaw file (sox), as in upstream's -ulaw tarballs.
# Made once per package version (cached in $dl/sounds), then copied into the mirror.
sound_tarball() {
    local deb=$1 sub=$2 name=$3 doc=$4 format=${5:-wav} ver pkg x t cached
    pkg=$(dpkg-deb -f "$deb" Package)
    ver=$(dpkg-deb -f "$deb" Version | sed 's/-[^-]*$//')
    doc=${doc//@VER@/$ver}
    cached=$dl/sounds/$(dpkg-deb -f "$deb" Version)/$name-$ver.tar.gz
    step "mirror: sounds ${snd#"$new/"}/$name-$ver.tar.gz" >&2
    if [ ! -s "$cached.sha256" ]; then
        mkdir -p "$(dirname "$cached")"
        make_sound_tarball "$deb" "$sub" "$name" "$doc" "$format" "$pkg" "$ver" "$cached"
        checksum "$cached"
    fi
    cp "$cached" "$cached.sha256" "$cached.sha1" "$cached.md5" "$snd/"
    echo "$ver"
}
make_sound_tarball() {
    local deb=$1 sub=$2 name=$3 doc=$4 format=$5 pkg=$6 ver=$7 out=$8 x t
    x=$work/deb-$name; t=$work/$name-$ver
    [ -d "$x" ] || dpkg-deb -x "$deb" "$x"
    mkdir -p "$t"
    cp -a "$x/$sub/." "$t/"
    if [ "$format" = ulaw ]; then
        find "$t" -name '*.wav' -print0 | while IFS= read -r -d '' wav; do
            sox "$wav" -r 8000 -c 1 -t ul "${wav%.wav}.ulaw" && rm "$wav"
        done
    fi
    cp "$x/usr/share/doc/$pkg/copyright" "$t/LICENSE-$doc"
    printf '%s %s: offline stand-in rebuilt from Debian package %s %s.\n' \
        "$name" "$ver" "$pkg" "$(dpkg-deb -f "$deb" Version)" >"$t/CHANGES-$doc"
    (cd "$t" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort) |
        tar -C "$t" --sort=name --owner=0 --group=0 --numeric-owner --format=gnu \
            --mtime="@$epoch" --clamp-mtime -cf - -T - | gzip -n -9 >"$out.part"
    mv "$out.part" "$out"
    rm -rf "$t"
}
core_deb=("$dl"/deb/asterisk-core-sounds-en-wav_*.deb)
moh_deb=("$dl"/deb/asterisk-moh-opsound-wav_*.deb)
core_ver=$(sound_tarball "${core_deb[0]}" usr/share/asterisk/sounds/en_US_f_Allison \
    asterisk-core-sounds-en-wav asterisk-core-en-@VER@)
moh_ver=$(sound_tarball "${moh_deb[0]}" usr/share/asterisk/moh \
    asterisk-moh-opsound-wav asterisk-moh-opsound-wav)
sound_tarball "${core_deb[0]}" usr/share/asterisk/sounds/en_US_f_Allison \
    asterisk-core-sounds-en-ulaw asterisk-core-en-@VER@ ulaw >/dev/null
sound_tarball "${moh_deb[0]}" usr/share/asterisk/moh \
    asterisk-moh-opsound-ulaw asterisk-moh-opsound-ulaw ulaw >/dev/null

# --- 4. Swap the new mirror in (the server serves the path, so it sees the new tree) -------
cat >"$new/README.txt" <<TXT
Offline stand-in for upstream download hosts, built by scripts/make-local-mirror.sh.
Asterisk releases (${served_versions[*]}) and pjproject ($pj_versions) from $origin;
a pjproject md5 line inside an Asterisk tree is rewritten where it does not match the
pjproject tarball served here (then that tarball's checksums are not upstream's).
asterisk-opus $opus_ref, core sounds en wav/ulaw $core_ver and moh opsound wav/ulaw
$moh_ver rebuilt from Debian packages.
Each Asterisk tarball's .asc is signed by this stand-in's test key $signing_fpr
(not the Asterisk Development Team's key, whose private half only upstream has).
TXT
cat >"$new/versions.env" <<ENV
MIRROR_ASTERISK_RELEASES="${served_versions[*]}"
MIRROR_UNAVAILABLE="${unavailable[*]}"
MIRROR_PJPROJECT_VERSIONS="$pj_versions"
MIRROR_ORIGIN="$origin"
MIRROR_OPUS_REF=$opus_ref
MIRROR_CORE_SOUNDS_VERSION=$core_ver
MIRROR_MOH_VERSION=$moh_ver
MIRROR_SIGNING_KEY=$key_dir/public.asc
MIRROR_SIGNATURE_FINGERPRINT=$signing_fpr
ENV
echo "$stamp" >"$new/.complete"
find "$new" -type d -exec chmod 755 {} + && find "$new" -type f -exec chmod 644 {} +
rm -rf "$mirror.old"
if [ -d "$mirror" ]; then mv "$mirror" "$mirror.old"; fi
mv "$new" "$mirror"
rm -rf "$mirror.old"
step "mirror: built (${served_versions[*]}; pjproject $pj_versions; sounds $core_ver, moh $moh_ver)"
