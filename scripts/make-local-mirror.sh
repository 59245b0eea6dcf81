#!/usr/bin/env bash
# Builds the local source mirror (offline stand-in for upstream download hosts) under
# /var/cache/asterisk-pipeline/mirror, laid out as <host>/<path> so that the upstream
# URL https://HOST/PATH is served as $PIPELINE_MIRROR/HOST/PATH (see serve-mirror.sh).
# Only Debian's archive is reachable here, so the contents are rebuilt from Debian
# packages, repacked the way upstream ships them:
#   - Asterisk release tarball + .sha256 (from sid's source package `asterisk`),
#   - the bundled pjproject tarball Asterisk's build downloads (Debian component,
#     bdimad_dev.o dropped from the build since Debian removed its source; the md5
#     file inside the Asterisk tree is rewritten to match: a self-consistent stand-in),
#   - traud/asterisk-opus files at the commit Debian's component was taken from,
#   - core sounds (en) and music on hold (opsound) tarballs, wav and ulaw, + .sha256.
# Skipped when the mirror is complete (stamp file); downloads are cached beside it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

mirror=$CACHE_DIR/mirror
dl=$CACHE_DIR/downloads
# Bump when the layout or the recipe changes, so existing mirrors are rebuilt.
recipe=4
# traud/asterisk-opus commit that Debian's Xopus component (asterisk-0.0.20211102) is:
# its tree hashes to the same NAR hash as nixpkgs' fetchFromGitHub of this rev.
opus_ref=a959f072d3f364be983dd27e6e250b038aaef747
opus_codec_sha256=b35e8917fb42cb371e8ef37a45a46aca3988130ebc38b7b8c0ff533d65756bba

if [ "$(cat "$mirror/.complete" 2>/dev/null || true)" = "$recipe" ]; then
    step "mirror: $mirror is complete"
    exit 0
fi

# 1. Debian sources and packages (kept in $dl, so a rebuild does not download again).
mkdir -p "$dl/src" "$dl/deb"
apt_opts=(-q -o APT::Sandbox::User=root)
shopt -s nullglob
dsc=("$dl"/src/asterisk_*.dsc)
if [ ${#dsc[@]} = 0 ]; then
    step "mirror: downloading Debian source package asterisk (sid)"
    (cd "$dl/src" && apt_retry apt-get "${apt_opts[@]}" source --download-only asterisk) \
        || die "apt-get source asterisk failed (needs the sid deb-src entry: scripts/apt-sources.sh)"
fi
debs=("$dl"/deb/asterisk-core-sounds-en-wav_*.deb "$dl"/deb/asterisk-moh-opsound-wav_*.deb)
if [ ${#debs[@]} != 2 ]; then
    step "mirror: downloading asterisk-core-sounds-en-wav, asterisk-moh-opsound-wav (bookworm)"
    (cd "$dl/deb" && apt_retry apt-get "${apt_opts[@]}" download \
        asterisk-core-sounds-en-wav/bookworm asterisk-moh-opsound-wav/bookworm) \
        || die "apt-get download of the sound packages failed"
fi

work=$(mktemp -d "$CACHE_DIR/mirror-work.XXXXXX")
trap 'rm -rf "$work"' EXIT
new=$work/mirror

# Deterministic tarballs: same inputs, same bytes (stable checksums across machines).
# repack DIR PARENT OUT COMPRESSOR: tar PARENT/DIR as DIR/..., sorted, root-owned,
# mtimes clamped to $epoch.
repack() {
    tar -C "$2" --sort=name --owner=0 --group=0 --numeric-owner \
        --mtime="@$epoch" --clamp-mtime -cf - "$1" | $4 >"$3"
}
# checksum FILE: FILE.sha256 (sha256sum format, as upstream) plus .md5 and .sha1.
checksum() {
    local d f
    d=$(dirname "$1"); f=$(basename "$1")
    (cd "$d" && sha256sum "$f" >"$f.sha256" && sha1sum "$f" >"$f.sha1" && md5sum "$f" >"$f.md5")
}

# 2. Asterisk tree and the pjproject version it wants.
step "mirror: unpacking the Debian orig tarballs"
orig=("$dl"/src/asterisk_*.orig.tar.xz)
mkdir "$work/ast"
tar -C "$work/ast" -xJf "${orig[0]}"
ast_dir=$(cd "$work/ast" && echo asterisk-*)
ast_ver=$(cat "$work/ast/$ast_dir/.version")
[ "$ast_dir" = "asterisk-$ast_ver" ] || die "unexpected top dir $ast_dir in ${orig[0]}"
epoch=$(stat -c %Y "$work/ast/$ast_dir/.version")
pj_ver=$(sed -n 's/^PJPROJECT_VERSION=//p' "$work/ast/$ast_dir/third-party/versions.mak")
[ -n "$pj_ver" ] || die "no PJPROJECT_VERSION in third-party/versions.mak"
pj_url_dir=$(sed -n 's|^PACKAGE_URL ?= https://||p' "$work/ast/$ast_dir/third-party/pjproject/Makefile.rules" \
    | sed "s/\$(PJPROJECT_VERSION)/$pj_ver/")
[ -n "$pj_url_dir" ] || die "no PACKAGE_URL in third-party/pjproject/Makefile.rules"

# 3. pjproject, repacked like upstream's tarball (top dir pjproject-VER/).
step "mirror: repacking pjproject $pj_ver -> $pj_url_dir/pjproject-$pj_ver.tar.bz2"
pj=("$dl"/src/asterisk_*.orig-Xpjproject.tar.xz)
mkdir -p "$work/pj/pjproject-$pj_ver" "$new/$pj_url_dir"
tar -C "$work/pj/pjproject-$pj_ver" --strip-components=1 -xJf "${pj[0]}"
sed -i 's/ bdimad_dev\.o//' "$work/pj/pjproject-$pj_ver/pjmedia/build/Makefile"
pj_tar=$new/$pj_url_dir/pjproject-$pj_ver.tar.bz2
repack "pjproject-$pj_ver" "$work/pj" "$pj_tar" "bzip2 -9"
pj_md5=$(md5sum <"$pj_tar" | cut -d' ' -f1)
md5file=$work/ast/$ast_dir/third-party/pjproject/pjproject-$pj_ver.tar.bz2.md5
[ -f "$md5file" ] || die "missing $md5file"
printf '%s  pjproject-%s.tar.bz2\n' "$pj_md5" "$pj_ver" >"$md5file"

# 4. Asterisk release tarball, repacked as .tar.gz like upstream.
rel=$new/downloads.asterisk.org/pub/telephony/asterisk/releases
step "mirror: repacking Asterisk $ast_ver -> ${rel#"$new/"}/asterisk-$ast_ver.tar.gz"
mkdir -p "$rel"
repack "$ast_dir" "$work/ast" "$rel/asterisk-$ast_ver.tar.gz" "gzip -n -9"
checksum "$rel/asterisk-$ast_ver.tar.gz"

# 5. traud/asterisk-opus files, as raw.githubusercontent.com serves them.
opus=("$dl"/src/asterisk_*.orig-Xopus.tar.xz)
mkdir "$work/opus"
tar -C "$work/opus" --strip-components=1 --no-same-owner -xJf "${opus[0]}"
got=$(sha256sum <"$work/opus/codecs/codec_opus_open_source.c" | cut -d' ' -f1)
if [ "$got" = "$opus_codec_sha256" ]; then
    opus_dir=$opus_ref
else
    # Debian moved to another commit: its files are not $opus_ref's. Serve them under a
    # name that says so (fetches of $opus_ref then fail with 404, not with wrong code).
    opus_dir=debian-unknown-commit
    printf '[bootstrap] WARNING: Debian opus component changed (codec sha256 %s); serving it as traud/asterisk-opus/%s; update opus_ref in %s\n' \
        "$got" "$opus_dir" "$0" >&2
fi
step "mirror: traud/asterisk-opus at $opus_dir"
mkdir -p "$new/raw.githubusercontent.com/traud/asterisk-opus"
mv "$work/opus" "$new/raw.githubusercontent.com/traud/asterisk-opus/$opus_dir"

# 6. Sounds, laid out like upstream's tarballs (files at the top level).
snd=$new/downloads.asterisk.org/pub/telephony/sounds/releases
mkdir -p "$snd"
# sound_tarball DEB SRC_SUBDIR NAME DOCNAME [ulaw]: NAME-VER.tar.gz from the .deb's
# SRC_SUBDIR, with upstream-like CHANGES-/LICENSE-DOCNAME files; prints VER. With `ulaw`,
# every .wav becomes a raw mu-law .ulaw file (sox), as in upstream's -ulaw tarballs.
sound_tarball() {
    local deb=$1 sub=$2 name=$3 doc=$4 format=${5:-wav} ver pkg x t
    pkg=$(dpkg-deb -f "$deb" Package)
    ver=$(dpkg-deb -f "$deb" Version | sed 's/-[^-]*$//')
    doc=${doc//@VER@/$ver}
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
    step "mirror: sounds ${snd#"$new/"}/$name-$ver.tar.gz" >&2
    # Upstream's sound tarballs hold the files at the top level (no directory).
    (cd "$t" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort) |
        tar -C "$t" --sort=name --owner=0 --group=0 --numeric-owner \
            --mtime="@$epoch" --clamp-mtime -cf - -T - | gzip -n -9 >"$snd/$name-$ver.tar.gz"
    checksum "$snd/$name-$ver.tar.gz"
    echo "$ver"
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

# 7. Swap the new mirror in (the server serves the path, so it sees the new tree).
cat >"$new/README.txt" <<TXT
Offline stand-in for upstream download hosts, built by scripts/make-local-mirror.sh
from Debian packages (not upstream's bytes: checksums differ from upstream's).
Asterisk $ast_ver, pjproject $pj_ver, asterisk-opus $opus_dir,
core sounds en wav/ulaw $core_ver, moh opsound wav/ulaw $moh_ver.
TXT
cat >"$new/versions.env" <<ENV
MIRROR_ASTERISK_VERSION=$ast_ver
MIRROR_PJPROJECT_VERSION=$pj_ver
MIRROR_OPUS_REF=$opus_dir
MIRROR_CORE_SOUNDS_VERSION=$core_ver
MIRROR_MOH_VERSION=$moh_ver
ENV
echo "$recipe" >"$new/.complete"
find "$new" -type d -exec chmod 755 {} + && find "$new" -type f -exec chmod 644 {} +
rm -rf "$mirror.old"
if [ -d "$mirror" ]; then mv "$mirror" "$mirror.old"; fi
mv "$new" "$mirror"
rm -rf "$mirror.old"
step "mirror: built (Asterisk $ast_ver, pjproject $pj_ver, sounds $core_ver, moh $moh_ver)"
