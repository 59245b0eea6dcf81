#!/bin/sh
# Container entrypoint: seed an empty /etc/asterisk with the default configuration,
# write the settings taken from the environment, then run Asterisk as the non-root
# user `asterisk`. Documented in README.md next to the Dockerfile.
set -eu

DEFAULT_CONFIG=/usr/share/asterisk/default-config
GENERATED=/run/asterisk/generated
VOLUMES="/etc/asterisk /var/lib/asterisk /var/spool/asterisk /var/log/asterisk /run/asterisk /var/cache/asterisk"
RFC1918_NETS="10.0.0.0/8 172.16.0.0/12 192.168.0.0/16"

log() { echo "entrypoint: $*" >&2; }
die() { log "error: $*"; exit 1; }

is_port() {
	case "$1" in '' | *[!0-9]*) return 1 ;; esac
	[ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

is_ipv4() {
	echo "$1" | grep -Eq '^([0-9]{1,3}\.){3}[0-9]{1,3}$'
}

# --- user and volumes -----------------------------------------------------------------

# ASTERISK_UID / ASTERISK_GID: run as these ids, e.g. the owner of bind-mounted volumes.
adjust_ids() {
	if [ -n "${ASTERISK_GID:-}" ] && [ "$ASTERISK_GID" != "$(id -g asterisk)" ]; then
		groupmod --non-unique --gid "$ASTERISK_GID" asterisk
		log "asterisk group id set to $ASTERISK_GID"
	fi
	if [ -n "${ASTERISK_UID:-}" ] && [ "$ASTERISK_UID" != "$(id -u asterisk)" ]; then
		usermod --non-unique --uid "$ASTERISK_UID" asterisk
		log "asterisk user id set to $ASTERISK_UID"
	fi
}

# Only files not yet owned by the user are changed; a read-only mount is left as it is.
fix_ownership() {
	for dir in $VOLUMES; do
		[ -d "$dir" ] || continue
		if [ -n "$(find "$dir" \( ! -user asterisk -o ! -group asterisk \) -print -quit)" ]; then
			find "$dir" \( ! -user asterisk -o ! -group asterisk \) \
				-exec chown asterisk:asterisk {} + 2>/dev/null \
				|| log "warning: cannot change the owner of everything in $dir (read-only?)"
		fi
	done
}

# Directories Asterisk expects in its volumes (an empty bind mount has none of them).
make_state_dirs() {
	for dir in /var/lib/asterisk/keys /var/spool/asterisk/tmp /var/spool/asterisk/voicemail \
		/var/spool/asterisk/outgoing /var/spool/asterisk/recording /var/spool/asterisk/monitor \
		/var/spool/asterisk/system /var/log/asterisk/cdr-csv; do
		[ -d "$dir" ] || mkdir -p "$dir" 2>/dev/null || log "warning: cannot create $dir"
	done
}

# An empty /etc/asterisk gets the default configuration; a non-empty one is never touched.
seed_config() {
	if [ -n "$(ls -A /etc/asterisk 2>/dev/null)" ]; then
		return
	fi
	[ -w /etc/asterisk ] || die "/etc/asterisk is empty and not writable by uid $(id -u): cannot seed the default configuration"
	cp -R "$DEFAULT_CONFIG/." /etc/asterisk/
	log "/etc/asterisk was empty: default configuration copied"
}

# --- configuration from the environment -------------------------------------------------

# Public IPv4 from EC2 instance metadata (IMDSv2: session token, then the address).
ec2_public_ipv4() {
	url="${ASTERISK_EC2_METADATA_URL:-http://169.254.169.254}"
	token=$(curl -fsS --connect-timeout 1 --max-time 2 -X PUT \
		-H "X-aws-ec2-metadata-token-ttl-seconds: 60" "$url/latest/api/token") || return 1
	curl -fsS --connect-timeout 1 --max-time 2 \
		-H "X-aws-ec2-metadata-token: $token" "$url/latest/meta-data/public-ipv4"
}

resolve_external_address() {
	case "${ASTERISK_EXTERNAL_ADDRESS:-}" in
	"") ;;
	ec2)
		if address=$(ec2_public_ipv4) && is_ipv4 "$address"; then
			log "external address from EC2 instance metadata: $address"
			EXTERNAL_ADDRESS=$address
		else
			log "warning: ASTERISK_EXTERNAL_ADDRESS=ec2 but no public IPv4 from the EC2 instance metadata" \
				"(not on EC2, no public address, or a metadata hop limit of 1 with bridge networking):" \
				"continuing without an external address"
		fi
		;;
	*) EXTERNAL_ADDRESS=$ASTERISK_EXTERNAL_ADDRESS ;;
	esac
}

default_codecs() {
	if [ -e /usr/lib/asterisk/modules/codec_opus_open_source.so ]; then
		echo "opus,g722,ulaw,alaw,gsm"
	else
		echo "g722,ulaw,alaw,gsm"
	fi
}

write_pjsip() {
	nat=""
	if [ -n "$EXTERNAL_ADDRESS" ]; then
		nat="external_media_address = $EXTERNAL_ADDRESS
external_signaling_address = $EXTERNAL_ADDRESS"
		for net in $(echo "${ASTERISK_LOCAL_NETS:-$RFC1918_NETS}" | tr ',' ' '); do
			nat="$nat
local_net = $net"
		done
	fi
	{
		echo "; Written by the entrypoint at $(date -u +%FT%TZ) from the environment. Do not edit."
		for protocol in udp tcp; do
			printf '\n[transport-%s]\ntype = transport\nprotocol = %s\nbind = 0.0.0.0:%s\n' \
				"$protocol" "$protocol" "$SIP_PORT"
			[ -z "$nat" ] || echo "$nat"
		done
		printf '\n[codecs](!)\ndisallow = all\nallow = %s\n' "$CODECS"
	} > "$GENERATED/pjsip.conf"
}

write_rtp() {
	printf '; Written by the entrypoint from the environment. Do not edit.\n[general]\nrtpstart = %s\nrtpend = %s\n' \
		"$RTP_START" "$RTP_END" > "$GENERATED/rtp.conf"
}

db_password() {
	if [ -n "${ASTERISK_DB_PASSWORD_FILE:-}" ]; then
		cat "$ASTERISK_DB_PASSWORD_FILE"
	else
		printf '%s' "${ASTERISK_DB_PASSWORD:-}"
	fi
}

write_realtime() {
	driver=${ASTERISK_REALTIME:-}
	db_host=${ASTERISK_DB_HOST:-}
	db_port=${ASTERISK_DB_PORT:-5432}
	db_name=${ASTERISK_DB_NAME:-asterisk}
	db_user=${ASTERISK_DB_USER:-asterisk}
	header="; Written by the entrypoint from the environment (ASTERISK_REALTIME, ASTERISK_DB_*). Do not edit."
	: > "$GENERATED/res_odbc.conf"
	: > "$GENERATED/sorcery.conf"
	: > "$GENERATED/extconfig.conf"
	# Without a database, an empty user keeps res_config_pgsql loaded but unconnected.
	printf '%s\n[general]\ndbhost =\ndbsock = /run/postgresql\ndbname = asterisk\ndbport = 5432\ndbuser =\ndbpass =\nrequirements = warn\n' \
		"$header" > "$GENERATED/res_pgsql.conf"
	case "$driver" in
	"" | none) return ;;
	pgsql) database=general ;;
	odbc) database=asterisk ;;
	*) die "ASTERISK_REALTIME must be pgsql, odbc or empty, not '$driver'" ;;
	esac
	[ -n "$db_host" ] || die "ASTERISK_REALTIME=$driver needs ASTERISK_DB_HOST"
	is_port "$db_port" || die "ASTERISK_DB_PORT must be a port number, not '$db_port'"
	password=$(db_password)
	case "$driver" in
	pgsql)
		printf '%s\n[general]\ndbhost = %s\ndbport = %s\ndbname = %s\ndbuser = %s\ndbpass = %s\nrequirements = warn\n' \
			"$header" "$db_host" "$db_port" "$db_name" "$db_user" "$password" > "$GENERATED/res_pgsql.conf"
		;;
	odbc)
		driver_lib=$(find /usr/lib -name psqlodbcw.so -print -quit)
		[ -n "$driver_lib" ] || die "PostgreSQL ODBC driver (psqlodbcw.so) not found"
		printf '[asterisk]\nDriver = %s\nServername = %s\nPort = %s\nDatabase = %s\n' \
			"$driver_lib" "$db_host" "$db_port" "$db_name" > "$GENERATED/odbc.ini"
		: > "$GENERATED/odbcinst.ini"
		printf '%s\n[asterisk]\nenabled = yes\ndsn = asterisk\nusername = %s\npassword = %s\npre-connect = yes\nmax_connections = 5\n' \
			"$header" "$db_user" "$password" > "$GENERATED/res_odbc.conf"
		# unixODBC reads the DSN from odbc.ini in this directory.
		export ODBCSYSINI="$GENERATED"
		;;
	esac
	chmod 0640 "$GENERATED/res_pgsql.conf" "$GENERATED/res_odbc.conf"
	{
		echo "$header"
		for family in ps_endpoints ps_auths ps_aors ps_contacts ps_domain_aliases ps_endpoint_id_ips; do
			echo "$family => $driver,$database"
		done
	} > "$GENERATED/extconfig.conf"
	cat > "$GENERATED/sorcery.conf" <<-EOF
		$header
		[res_pjsip]
		endpoint = config,pjsip.conf,criteria=type=endpoint
		endpoint = realtime,ps_endpoints
		auth = config,pjsip.conf,criteria=type=auth
		auth = realtime,ps_auths
		aor = config,pjsip.conf,criteria=type=aor
		aor = realtime,ps_aors
		domain_alias = config,pjsip.conf,criteria=type=domain_alias
		domain_alias = realtime,ps_domain_aliases
		contact = realtime,ps_contacts

		[res_pjsip_endpoint_identifier_ip]
		identify = config,pjsip.conf,criteria=type=identify
		identify = realtime,ps_endpoint_id_ips
	EOF
	log "PJSIP realtime: $driver, database $db_name on $db_host:$db_port as $db_user"
}

write_generated_config() {
	SIP_PORT=${ASTERISK_SIP_PORT:-5060}
	RTP_START=${ASTERISK_RTP_START:-10000}
	RTP_END=${ASTERISK_RTP_END:-10099}
	CODECS=${ASTERISK_CODECS:-$(default_codecs)}
	EXTERNAL_ADDRESS=""
	is_port "$SIP_PORT" || die "ASTERISK_SIP_PORT must be a port number, not '$SIP_PORT'"
	is_port "$RTP_START" || die "ASTERISK_RTP_START must be a port number, not '$RTP_START'"
	is_port "$RTP_END" || die "ASTERISK_RTP_END must be a port number, not '$RTP_END'"
	[ "$RTP_START" -lt "$RTP_END" ] || die "ASTERISK_RTP_START ($RTP_START) must be below ASTERISK_RTP_END ($RTP_END)"
	resolve_external_address

	mkdir -p "$GENERATED"
	write_pjsip
	write_rtp
	write_realtime
	log "SIP port $SIP_PORT (udp, tcp), RTP $RTP_START-$RTP_END, codecs $CODECS," \
		"external address ${EXTERNAL_ADDRESS:-none}"
}

# True unless the asterisk options ask for a version or a remote console.
runs_server() {
	shift
	for arg in "$@"; do
		case "$arg" in -V | -r* | -R* | -x) return 1 ;; esac
	done
}

# --- main ---------------------------------------------------------------------------------

# `docker run IMAGE -vvv` means `asterisk -f -n -vvv`.
if [ "${1#-}" != "$1" ]; then
	set -- asterisk -f -n "$@"
fi

# Anything but the Asterisk server (a shell, `asterisk -V`, `asterisk -rx ...`) runs as it is.
if [ "$1" != asterisk ] || ! runs_server "$@"; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	adjust_ids
	seed_config
	make_state_dirs
	write_generated_config
	fix_ownership
	exec setpriv --reuid=asterisk --regid=asterisk --init-groups --inh-caps=-all -- "$@"
fi

# Started with --user: the state volumes must already be writable by this user.
for dir in /var/lib/asterisk /var/spool/asterisk /var/log/asterisk; do
	[ -w "$dir" ] || die "$dir is not writable by uid $(id -u): mount a volume owned by that uid," \
		"or start as root with ASTERISK_UID/ASTERISK_GID instead of --user"
done
seed_config
make_state_dirs
write_generated_config
exec "$@"
