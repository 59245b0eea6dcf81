#!/bin/sh
# Docker HEALTHCHECK: healthy when Asterisk is fully booted and a PJSIP transport is
# listening. Works as root and as the user Asterisk runs as (control socket 0660).
set -u

booted=$(timeout 5 asterisk -rx 'core waitfullybooted' 2>&1) || {
	echo "not fully booted: $booted"
	exit 1
}

transports=$(timeout 5 asterisk -rx 'pjsip show transports' 2>&1 | grep '^Transport: ' | grep -v '<TransportId')
if [ -z "$transports" ]; then
	echo "no PJSIP transport"
	exit 1
fi

# Each transport's port must be bound: /proc/net lists local ports in hex.
echo "$transports" | while read -r _ name protocol _ _ bind; do
	port=$(printf '%04X' "${bind##*:}")
	case "$protocol" in
	udp) tables="/proc/net/udp /proc/net/udp6" state=07 ;;
	tcp | tls) tables="/proc/net/tcp /proc/net/tcp6" state=0A ;;
	*) continue ;;
	esac
	# shellcheck disable=SC2086 # two file names
	if ! cat $tables 2>/dev/null | awk -v state="$state" '$4 == state {print $2}' | grep -q ":$port\$"; then
		echo "transport $name ($protocol $bind) is not listening"
		exit 1
	fi
done || exit 1

echo "fully booted; $(echo "$transports" | wc -l) PJSIP transport(s) listening"
