#!/bin/sh
# Prints, one a line, the Debian packages that own the shared libraries the given ELF
# files load (ldd, so dependencies of dependencies too), resolved in the build stage
# where they were linked. The runtime stage installs exactly these, so the image follows
# whatever the base's Debian release calls them (libssl3 / libssl3t64, liblua5.4-0 ...).
#
#   runtime-packages.sh DIR...    every executable or shared object under the DIRs
#
# Asterisk's own libraries (libasteriskssl, libasteriskpj) are left out: those under the
# DIRs, and those found through LD_LIBRARY_PATH (set it to where they were installed, so
# that ldd finds them). Fails when a library is not found or belongs to no package (the
# image would lack it).
set -eu

owner() { # the package owning library path $1 (as linked, or its real path; /usr-merged or not)
	real=$(realpath "$1")
	for path in "$1" "$real" "${1#/usr}" "${real#/usr}" "/usr$1" "/usr$real"; do
		if out=$(dpkg -S "$path" 2>/dev/null); then
			# "libssl3t64:amd64: /usr/lib/..." (several owners: "a:amd64, b:amd64: /path")
			echo "$out" | grep -v '^diversion ' | sed 's/: \/.*$//' | tr ',' '\n' | sed 's/^ *//; s/:.*$//'
			return 0
		fi
	done
	echo "runtime-packages: no Debian package owns $1 (needed by the build)" >&2
	return 1
}

libs=$(mktemp)
find "$@" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) | sort | while read -r file; do
	# Scripts and data are not dynamic executables: ldd fails on them, and that is fine.
	out=$(ldd "$file" 2>/dev/null) || continue
	if echo "$out" | grep -q 'not found'; then
		echo "runtime-packages: $file: $(echo "$out" | grep 'not found' | tr -s ' \t' ' ')" >&2
		exit 1
	fi
	echo "$out" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done >"$libs"
for dir in "$@" $(echo "${LD_LIBRARY_PATH:-}" | tr ':' ' '); do
	grep -v "^${dir%/}/" "$libs" >"$libs.rest" || true
	mv "$libs.rest" "$libs"
done
[ -s "$libs" ] || { echo "runtime-packages: no shared libraries found under $*" >&2; exit 1; }
sort -u "$libs" | while read -r lib; do owner "$lib"; done >"$libs.owners"
sort -u "$libs.owners"
rm -f "$libs" "$libs.owners"
