#!/bin/sh
# Prints, one a line, the Debian packages that own the shared libraries the given ELF
# files load (their NEEDED entries, and those of the libraries found, as the dynamic
# loader resolves them), found in the build stage where they were linked. The runtime
# stage installs exactly these, so the image follows whatever the base's Debian release
# calls them (libssl3 / libssl3t64, liblua5.4-0 ...).
#
#   MULTIARCH=aarch64-linux-gnu runtime-packages.sh DIR...
#
# Every executable or shared object under the DIRs is read with readelf, which reads any
# ELF file without running it, so a cross build (aarch64 files on an x86-64 build host)
# is resolved the same way as a native one: in the target's multiarch library directories
# (/usr/lib/MULTIARCH ..., where the target's `-dev:arm64` packages put them; default:
# the build host's), owned by the `:arm64` packages whose names the runtime installs.
# Asterisk's own libraries (libasteriskssl, libasteriskpj) are left out: those under the
# DIRs, and those found through LD_LIBRARY_PATH (set it to where they were installed, so
# that they are found and their own needs followed). Fails when a library is not found or
# belongs to no package (the image would lack it).
set -eu

multiarch=${MULTIARCH:-$(gcc -print-multiarch)}
search="$(echo "${LD_LIBRARY_PATH:-}" | tr ':' ' ') /lib/$multiarch /usr/lib/$multiarch /lib /usr/lib"

owner() { # the package owning library path $1 (as linked, or its real path; /usr-merged or not)
	real=$(realpath "$1")
	for path in "$1" "$real" "${1#/usr}" "${real#/usr}" "/usr$1" "/usr$real"; do
		if out=$(dpkg -S "$path" 2>/dev/null); then
			# "libssl3t64:arm64: /usr/lib/..." (several owners: "a:amd64, b:amd64: /path")
			echo "$out" | grep -v '^diversion ' | sed 's/: \/.*$//' | tr ',' '\n' | sed 's/^ *//; s/:.*$//'
			return 0
		fi
	done
	echo "runtime-packages: no Debian package owns $1 (needed by the build)" >&2
	return 1
}

needed() { # the NEEDED entries of ELF file $1 (none for scripts, data and static files)
	readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'
}

resolve() { # where the loader finds library $1: the first search directory holding it
	for dir in $search; do
		if [ -e "$dir/$1" ]; then echo "$dir/$1"; return 0; fi
	done
	return 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
find "$@" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) | sort >"$work/todo"
: >"$work/libs"
# Breadth first: the files given, then the libraries they need, then theirs ...
while [ -s "$work/todo" ]; do
	: >"$work/next"
	while read -r file; do
		for name in $(needed "$file"); do
			if ! lib=$(resolve "$name"); then
				echo "runtime-packages: $file: $name not found (searched: $search)" >&2
				exit 1
			fi
			if ! grep -qxF "$lib" "$work/libs"; then
				echo "$lib" >>"$work/libs"
				echo "$lib" >>"$work/next"
			fi
		done
	done <"$work/todo"
	mv "$work/next" "$work/todo"
done
for dir in "$@" $(echo "${LD_LIBRARY_PATH:-}" | tr ':' ' '); do
	grep -v "^${dir%/}/" "$work/libs" >"$work/rest" || true
	mv "$work/rest" "$work/libs"
done
[ -s "$work/libs" ] || { echo "runtime-packages: no shared libraries found under $*" >&2; exit 1; }
sort -u "$work/libs" | while read -r lib; do owner "$lib"; done >"$work/owners"
sort -u "$work/owners"
