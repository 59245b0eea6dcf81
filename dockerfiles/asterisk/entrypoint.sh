#!/bin/sh
# shellcheck shell=dash
# Container entrypoint. Documented in README.md next to the Dockerfile.
#
#   1. Settings (any user): every variable of the table below is checked; a bad one stops
#      the container at once (exit 2) with one line naming it, and nothing is written.
#      ASTERISK_EXTERNAL_ADDRESS=ec2 is looked up.
#   2. Root phase (started as root, the default): the ids of the user `asterisk`, the
#      configuration made root's, the state volumes given to `asterisk`, /run/asterisk
#      emptied and made root's, the generated configuration written there, then Asterisk
#      started as `asterisk` with no capabilities and no way to gain any.
#   3. Service-user phase (started with --user, Kubernetes runAsUser): nothing changes
#      owner; the generated configuration is written as that user, then Asterisk runs.
#
# The rule of the root phase: nothing root does follows a path the service user can
# change. It writes only where that user cannot change anything under it (/run/asterisk,
# emptied first, then root's with the sticky bit; generated/ in it, root's alone),
# creates its files afresh (no writing through an existing name), changes owners and
# modes of symbolic links never through them and of files with more than one name (hard
# links) never at all, and reads a file the operator named (a password file, a private
# CA) with the service user's rights when that user could change where its path leads
# (changeable_by_service_user). It runs
# before Asterisk, when no process of the service user is left (a container's processes
# all end when it stops); a volume shared with another container that keeps running as
# the same user is outside that promise.
set -euf

DEFAULT_CONFIG=/usr/share/asterisk/default-config
CONFIG_DIR=/etc/asterisk
RUN_DIR=/run/asterisk                  # Asterisk's astrundir, and where the settings go
GENERATED=$RUN_DIR/generated
VOLUMES="/var/lib/asterisk /var/spool/asterisk /var/log/asterisk /var/cache/asterisk"
# Directories Asterisk expects in its volumes (an empty bind mount has none of them).
STATE_SUBDIRS="/var/lib/asterisk/keys /var/spool/asterisk/tmp /var/spool/asterisk/voicemail
/var/spool/asterisk/outgoing /var/spool/asterisk/recording /var/spool/asterisk/monitor
/var/spool/asterisk/system /var/log/asterisk/cdr-csv"
MODULES=/usr/lib/asterisk/modules
LOCAL_CA_DIR=/usr/local/share/ca-certificates
SYSTEM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
CA_BUNDLE=$RUN_DIR/ca-certificates.crt
ZONEINFO=/usr/share/zoneinfo
LOCALTIME=$RUN_DIR/localtime           # /etc/localtime links here (Asterisk ignores TZ)
IMDS_IPV4=http://169.254.169.254
IMDS_IPV6='http://[fd00:ec2::254]'
IMDS_SECONDS=2
PGSQL_OPTION_BYTES=63                  # res_config_pgsql keeps 64-byte option strings
NL='
'
CR=$(printf '\r')

# Module -> the codec names it lets Asterisk transcode (`core show codecs`).
CODEC_MODULES="codec_ulaw:ulaw codec_alaw:alaw codec_g722:g722 codec_gsm:gsm
codec_g726:g726,g726aal2 codec_adpcm:adpcm codec_lpc10:lpc10 codec_speex:speex,speex16,speex32
codec_ilbc:ilbc codec_codec2:codec2 codec_opus_open_source:opus codec_opus:opus
codec_g729:g729 codec_g729a:g729 codec_siren7:siren7 codec_siren14:siren14"
# Video is passed through, never transcoded: no module needed.
VIDEO_CODECS="h261 h263 h263p h264 h265 mpeg4 vp8 vp9"

# --- the settings ---------------------------------------------------------------------------
# Every variable the entrypoint reads. `checked by`: the function in read_settings that
# checks it. `default`: what empty or unset means (`-`: nothing; the codecs of the list
# that the image has modules for). `written to`: where it ends up (generated/ is
# $GENERATED, included by the default configuration).
SETTINGS_TABLE='
name                                   | checked by    | default                                 | written to
ASTERISK_SIP_PORT                      | port          | 5060                                    | generated/pjsip.conf: bind of transport-udp, transport-tcp
ASTERISK_RTP_START                     | port          | 10000                                   | generated/rtp.conf: rtpstart
ASTERISK_RTP_END                       | port          | 10099                                   | generated/rtp.conf: rtpend
ASTERISK_EXTERNAL_ADDRESS              | external      | -                                       | generated/pjsip.conf: external_media_address, external_signaling_address
ASTERISK_EXTERNAL_ADDRESS_REQUIRED     | boolean       | no                                      | (refuses to start when ec2 finds no address)
ASTERISK_LOCAL_NETS                    | networks      | 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16 | generated/pjsip.conf: local_net
ASTERISK_SIP_PERMIT                    | networks      | -                                       | generated/pjsip.conf: the ACL [sip-permit]
ASTERISK_CODECS                        | codecs        | opus,g722,ulaw,alaw,gsm                 | generated/pjsip.conf: allow of the template [codecs]
ASTERISK_REALTIME                      | realtime      | -                                       | generated/extconfig.conf, sorcery.conf, res_pgsql.conf, res_odbc.conf
ASTERISK_DB_HOST                       | db_host       | -                                       | generated/res_pgsql.conf or odbc.ini
ASTERISK_DB_PORT                       | port          | 5432                                    | generated/res_pgsql.conf or odbc.ini
ASTERISK_DB_NAME                       | db_name       | asterisk                                | generated/res_pgsql.conf or odbc.ini
ASTERISK_DB_USER                       | db_name       | asterisk                                | generated/res_pgsql.conf or res_odbc.conf
ASTERISK_DB_PASSWORD                   | db_password   | -                                       | generated/res_pgsql.conf or res_odbc.conf (mode 0640)
ASTERISK_DB_PASSWORD_FILE              | db_password   | -                                       | (as ASTERISK_DB_PASSWORD; the file is read as described above)
ASTERISK_UID                           | numeric_id    | -                                       | /etc/passwd (root phase; the image has 1000)
ASTERISK_GID                           | numeric_id    | -                                       | /etc/group, /etc/passwd (root phase; the image has 1000)
ASTERISK_SKIP_CHOWN                    | boolean       | no                                      | (root phase: only the top directories of the volumes change owner)
TZ                                     | time_zone     | UTC                                     | /run/asterisk/localtime (/etc/localtime links to it)
AWS_EC2_METADATA_SERVICE_ENDPOINT      | imds_endpoint | -                                       | (where ec2 is asked; else by the mode)
AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE | imds_endpoint | IPv4                                    | (ec2: http://169.254.169.254 or http://[fd00:ec2::254])
'
# The ASTERISK_* names of the table: any other ASTERISK_* variable gets a warning.
SETTINGS=$(printf '%s' "$SETTINGS_TABLE" | awk -F' *[|] *' '$1 ~ /^ASTERISK_/ { printf "%s%s", sep, $1; sep = " " }')

# The default of a setting, from the table ("" for `-`).
default_of() {
	printf '%s' "$SETTINGS_TABLE" | awk -F' *[|] *' -v name="$1" '$1 == name { if ($3 != "-") print $3 }'
}

log() { printf 'entrypoint: %s\n' "$*" >&2; }
warn() { log "warning: $*"; }
die() {
	log "error: $*"
	exit 1
}

# A value as one line: line breaks and tabs escaped, other control characters as '?',
# long values cut.
shown() {
	printf '%s|' "$1" | awk '
		{ s = s (NR > 1 ? "\\n" : "") $0 }
		END {
			sub(/\|$/, "", s); gsub(/\t/, "\\t", s); gsub(/\r/, "\\r", s); gsub(/[[:cntrl:]]/, "?", s)
			if (length(s) > 80) s = substr(s, 1, 60) "... (" length(s) " bytes)"
			printf "\047%s\047", s
		}'
}

# A bad setting: exit 2 with one line naming the variable, its value and what is allowed.
bad() {
	log "error: $1=$(shown "$2") is not valid: $3"
	exit 2
}

# The same for a secret: its value is never shown.
bad_secret() {
	log "error: $1 is not valid: $2 (the value is not shown)"
	exit 2
}

lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }

# --- value types ------------------------------------------------------------------------

is_port() {
	case "$1" in '' | *[!0-9]* | 0*) return 1 ;; esac
	[ "${#1}" -le 5 ] && [ "$1" -le 65535 ]
}

is_ipv4() {
	case "$1" in '' | *[!0-9.]* | .* | *. | *..*) return 1 ;; esac
	local old_ifs=$IFS octet count=0
	IFS=.
	for octet in $1; do
		count=$((count + 1))
		case "$octet" in 0?* | ????*) IFS=$old_ifs && return 1 ;; esac
		[ "$octet" -le 255 ] || { IFS=$old_ifs && return 1; }
	done
	IFS=$old_ifs
	[ "$count" -eq 4 ]
}

is_ipv6() {
	local address=$1 old_ifs=$IFS group groups=0
	case "$address" in '' | *[!0-9A-Fa-f:.]* | *:::* | *::*::* | :[!:]* | *[!:]:) return 1 ;; esac
	case "$address" in
	*.*) # an IPv4 tail (::ffff:192.0.2.1) stands for two groups
		is_ipv4 "${address##*:}" || return 1
		address="${address%:*}:0:0"
		;;
	esac
	IFS=:
	for group in $address; do
		[ -n "$group" ] || continue
		case "$group" in ?????*) IFS=$old_ifs && return 1 ;; esac
		groups=$((groups + 1))
	done
	IFS=$old_ifs
	case "$address" in
	*::*) [ "$groups" -le 7 ] ;;
	*) [ "$groups" -eq 8 ] ;;
	esac
}

# RFC 1123 host name; a numeric last label is a mistyped address, not a name.
is_hostname() {
	local name=${1%.} old_ifs=$IFS label
	[ -n "$name" ] && [ "${#name}" -le 253 ] || return 1
	case "$name" in *[!A-Za-z0-9.-]* | .* | *..* | -* | *-.* | *.-* | *-) return 1 ;; esac
	IFS=.
	for label in $name; do
		[ "${#label}" -le 63 ] || { IFS=$old_ifs && return 1; }
	done
	IFS=$old_ifs
	case "${name##*.}" in *[!0-9]*) return 0 ;; *) return 1 ;; esac
}

is_address() { is_ipv4 "$1" || is_ipv6 "$1"; }

# ADDRESS or ADDRESS/PREFIX, IPv4 or IPv6.
is_network() {
	local address prefix max
	case "$1" in
	*/*/*) return 1 ;;
	*/*) address=${1%/*} prefix=${1#*/} ;;
	*) address=$1 prefix="" ;;
	esac
	if is_ipv4 "$address"; then max=32; elif is_ipv6 "$address"; then max=128; else return 1; fi
	case "$1" in */*) ;; *) return 0 ;; esac
	case "$prefix" in '' | *[!0-9]* | 0?* | ????*) return 1 ;; esac
	[ "$prefix" -le "$max" ]
}

# A PostgreSQL database or user name that needs no quoting anywhere it is written.
is_db_name() {
	case "$1" in '' | [!A-Za-z_]* | *[!A-Za-z0-9_.-]*) return 1 ;; esac
	[ "${#1}" -le "$PGSQL_OPTION_BYTES" ]
}

# A positive uid or gid (0 is root: refused).
is_id() {
	case "$1" in '' | *[!0-9]* | 0*) return 1 ;; esac
	[ "${#1}" -le 10 ] && [ "$1" -le 2147483647 ]
}

# The items of a list separated by commas and/or white space, one per line.
items() { printf '%s' "$1" | tr ',\t' '  ' | tr -s ' ' '\n' | sed '/^$/d'; }

# --- reading the settings -----------------------------------------------------------------

# The value of a setting, or its default (table above) when empty or unset.
value_of() {
	local value
	eval "value=\${$1:-}"
	[ -n "$value" ] || value=$(default_of "$1")
	printf '%s' "$value"
}

boolean() { # VARIABLE
	local value
	eval "value=\${$1:-}"
	case "$(lower "$value")" in
	'') default_of "$1" ;;
	yes | true | on | 1) echo yes ;;
	no | false | off | 0) echo no ;;
	*) bad "$1" "$value" "yes or no (also true/false, on/off, 1/0)" ;;
	esac
}

port() { # VARIABLE
	local value
	value=$(value_of "$1")
	is_port "$value" || bad "$1" "$value" "a port number, 1 to 65535"
	echo "$value"
}

networks() { # VARIABLE: the networks, space separated
	local net list="" value
	value=$(value_of "$1")
	for net in $(items "$value"); do
		is_network "$net" || bad "$1" "$value" "$(shown "$net") is not a network; give addresses or ADDRESS/PREFIX (IPv4 or IPv6, e.g. 192.168.0.0/16, 2001:db8::/32), separated by commas"
		list="$list $net"
	done
	[ -n "$list" ] || bad "$1" "$value" "a list of networks (ADDRESS/PREFIX, separated by commas)"
	echo "${list# }"
}

available_codecs() {
	local entry module names
	for entry in $CODEC_MODULES; do
		module=${entry%%:*} names=${entry#*:}
		[ -e "$MODULES/$module.so" ] && printf '%s\n' "$names" | tr ',' '\n'
	done | sort -u | tr '\n' ' '
}

codecs() { # the checked ASTERISK_CODECS, comma separated
	local value=${ASTERISK_CODECS:-} codec list="" audio
	audio=$(available_codecs)
	if [ -z "$value" ]; then # the default: those of its codecs the image has modules for
		for codec in $(items "$(default_of ASTERISK_CODECS)"); do
			case " $audio " in *" $codec "*) list="$list,$codec" ;; esac
		done
		echo "${list#,}"
		return
	fi
	for codec in $(items "$value"); do
		codec=$(lower "$codec")
		case " $audio $VIDEO_CODECS " in
		*" $codec "*) list="$list,$codec" ;;
		*) bad ASTERISK_CODECS "$value" "$(shown "$codec") is not a codec of this image; audio: ${audio% } (from the codec modules in $MODULES; opus needs the -opus image), video (passed through): $VIDEO_CODECS" ;;
		esac
	done
	[ -n "$list" ] || bad ASTERISK_CODECS "$value" "a list of codecs separated by commas, e.g. g722,ulaw,alaw"
	echo "${list#,}"
}

external() {
	local value=${ASTERISK_EXTERNAL_ADDRESS:-}
	if [ "$(lower "$value")" = ec2 ]; then
		echo ec2
	elif [ -n "$value" ] && ! is_address "$value" && ! is_hostname "$value"; then
		bad ASTERISK_EXTERNAL_ADDRESS "$value" "an IPv4 or IPv6 address, a host name, or ec2 (the instance's public IPv4)"
	else
		echo "$value"
	fi
}

realtime() {
	local value=${ASTERISK_REALTIME:-}
	case "$value" in
	'' | none | pgsql | odbc) echo "$value" ;;
	*) bad ASTERISK_REALTIME "$value" "pgsql, odbc, none or empty" ;;
	esac
}

db_host() {
	local value=${ASTERISK_DB_HOST:-}
	if [ -n "$value" ] && ! is_address "$value" && ! is_hostname "$value"; then
		case "$value" in
		/*[!A-Za-z0-9_./-]* | */../* | */..) bad ASTERISK_DB_HOST "$value" "a host name, an address, or the absolute path of a PostgreSQL socket directory" ;;
		/*) [ "${#value}" -le "$PGSQL_OPTION_BYTES" ] || bad ASTERISK_DB_HOST "$value" "at most $PGSQL_OPTION_BYTES characters" ;;
		*) bad ASTERISK_DB_HOST "$value" "a host name, an address, or the absolute path of a PostgreSQL socket directory" ;;
		esac
	fi
	echo "$value"
}

db_name() { # VARIABLE WHAT
	local value
	value=$(value_of "$1")
	is_db_name "$value" || bad "$1" "$value" "a $2 name of letters, digits, '_', '.' or '-', starting with a letter or '_', at most $PGSQL_OPTION_BYTES characters"
	echo "$value"
}

numeric_id() { # VARIABLE WHAT
	local value
	eval "value=\${$1:-}"
	[ -z "$value" ] || is_id "$value" || bad "$1" "$value" "a numeric $2 id, 1 or more (0, root, is refused)"
	echo "$value"
}

db_password() {
	local value file reader changeable
	if [ -n "${ASTERISK_DB_PASSWORD_FILE:-}" ]; then
		[ -z "${ASTERISK_DB_PASSWORD:-}" ] \
			|| bad_secret ASTERISK_DB_PASSWORD "ASTERISK_DB_PASSWORD_FILE is set too: set only one of them"
		file=$ASTERISK_DB_PASSWORD_FILE
		changeable=$(changeable_by_service_user "$file")
		reader=${changeable:+as_service_user}
		# shellcheck disable=SC2086 # $reader is a command word or nothing
		if ! $reader test -f "$file" || ! $reader test -r "$file"; then
			bad ASTERISK_DB_PASSWORD_FILE "$file" "a file readable by uid $(reader_uid "$changeable")$(read_as_service_user_because "$changeable") (e.g. a secret mounted at /run/secrets/NAME)"
		fi
		# Trailing line breaks (`echo secret > file`) are not part of the password.
		# shellcheck disable=SC2086
		value=$($reader cat "$file")
		check_password ASTERISK_DB_PASSWORD_FILE "$value"
	else
		value=${ASTERISK_DB_PASSWORD:-}
		check_password ASTERISK_DB_PASSWORD "$value"
	fi
	printf '%s' "$value"
}

# Any character is fine (';' is escaped when written) except those a line of a
# configuration file cannot carry as they are.
check_password() { # VARIABLE VALUE
	case "$2" in
	*"$NL"* | *"$CR"*) bad_secret "$1" "it contains a line break, which a configuration file cannot hold" ;;
	[[:space:]]* | *[[:space:]]) bad_secret "$1" "it begins or ends with white space, which Asterisk's configuration parser would drop" ;;
	esac
}

# libpq connection-string quoting: res_config_pgsql puts the password into one unquoted.
pgsql_quoted() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"; }

# Asterisk's configuration syntax: ';' starts a comment unless escaped.
config_escaped() { printf '%s' "$1" | sed -e 's/;/\\;/g'; }

imds_endpoint() {
	local value=${AWS_EC2_METADATA_SERVICE_ENDPOINT:-} mode host rest
	if [ -z "$value" ]; then
		mode=$(lower "$(value_of AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE)")
		case "$mode" in
		ipv4) echo "$IMDS_IPV4" ;;
		ipv6) echo "$IMDS_IPV6" ;;
		*) bad AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE "${AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE:-}" "IPv4 or IPv6" ;;
		esac
		return
	fi
	rest=${value%/}
	case "$rest" in
	http://*) rest=${rest#http://} ;;
	https://*) rest=${rest#https://} ;;
	*) rest="" ;;
	esac
	case "$rest" in
	\[*\]:*) host=${rest%%]:*} host=${host#\[} rest=${rest##*]:} ;;
	\[*\]) host=${rest#\[} host=${host%]} rest=80 ;;
	*:*) host=${rest%%:*} rest=${rest#*:} ;;
	*) host=$rest rest=80 ;;
	esac
	if [ -z "$host" ] || ! { is_ipv4 "$host" || is_ipv6 "$host" || is_hostname "$host"; } || ! is_port "$rest"; then
		bad AWS_EC2_METADATA_SERVICE_ENDPOINT "$value" "http://HOST[:PORT] (e.g. http://169.254.169.254, http://[fd00:ec2::254])"
	fi
	echo "${value%/}"
}

time_zone() {
	local zone
	zone=$(value_of TZ)
	zone=${zone#:}
	case "$zone" in
	'') default_of TZ ;; # TZ=: is the system's default
	*[!A-Za-z0-9_+/-]* | /* | */ | *//*) bad TZ "$TZ" "a time zone name of $ZONEINFO, e.g. Europe/Berlin, America/New_York, UTC" ;;
	*)
		if [ ! -f "$ZONEINFO/$zone" ] || [ "$(head -c 4 "$ZONEINFO/$zone")" != TZif ]; then
			bad TZ "$TZ" "a time zone name of $ZONEINFO, e.g. Europe/Berlin, America/New_York, UTC"
		fi
		echo "$zone"
		;;
	esac
}

warn_unknown_settings() {
	local name
	for name in $(env | sed -n 's/^\(ASTERISK_[A-Za-z0-9_]*\)=.*/\1/p' | sort -u); do
		case "$name" in
		ASTERISK_EC2_METADATA_URL) die "ASTERISK_EC2_METADATA_URL was renamed: set AWS_EC2_METADATA_SERVICE_ENDPOINT (the AWS SDKs' variable) instead" ;;
		esac
		case " $SETTINGS " in
		*" $name "*) ;;
		*) warn "$name is not a setting of this image (ignored); the settings: $SETTINGS" ;;
		esac
	done
}

# Every setting of the table, checked; the results in upper-case globals. Writes nothing.
read_settings() {
	warn_unknown_settings
	NEW_UID=$(numeric_id ASTERISK_UID user)
	NEW_GID=$(numeric_id ASTERISK_GID group)
	SERVICE_UID=${NEW_UID:-$(id -u asterisk)}
	SERVICE_GID=${NEW_GID:-$(id -g asterisk)}
	SKIP_CHOWN=$(boolean ASTERISK_SKIP_CHOWN)

	SIP_PORT=$(port ASTERISK_SIP_PORT)
	RTP_START=$(port ASTERISK_RTP_START)
	RTP_END=$(port ASTERISK_RTP_END)
	[ "$RTP_START" -lt "$RTP_END" ] \
		|| bad ASTERISK_RTP_START "$RTP_START" "must be below ASTERISK_RTP_END ($RTP_END)"
	if [ "$SIP_PORT" -ge "$RTP_START" ] && [ "$SIP_PORT" -le "$RTP_END" ]; then
		bad ASTERISK_SIP_PORT "$SIP_PORT" "must be outside the RTP range $RTP_START-$RTP_END"
	fi

	EXTERNAL=$(external)
	IMDS=$(imds_endpoint)
	EXTERNAL_REQUIRED=$(boolean ASTERISK_EXTERNAL_ADDRESS_REQUIRED)
	if [ "$EXTERNAL_REQUIRED" = yes ] && [ -z "$EXTERNAL" ]; then
		bad ASTERISK_EXTERNAL_ADDRESS_REQUIRED "${ASTERISK_EXTERNAL_ADDRESS_REQUIRED:-}" \
			"yes needs ASTERISK_EXTERNAL_ADDRESS (an address, a host name or ec2)"
	fi
	LOCAL_NETS=$(networks ASTERISK_LOCAL_NETS)
	SIP_PERMIT=""
	[ -z "${ASTERISK_SIP_PERMIT:-}" ] || SIP_PERMIT=$(networks ASTERISK_SIP_PERMIT)
	CODECS=$(codecs)

	REALTIME=$(realtime)
	DB_HOST=$(db_host)
	DB_PORT=$(port ASTERISK_DB_PORT)
	DB_NAME=$(db_name ASTERISK_DB_NAME database)
	DB_USER=$(db_name ASTERISK_DB_USER user)
	DB_PASSWORD=$(db_password)
	if [ "$REALTIME" = pgsql ] && [ "$(pgsql_quoted "$DB_PASSWORD" | wc -c)" -gt "$PGSQL_OPTION_BYTES" ]; then
		bad_secret "ASTERISK_DB_PASSWORD${ASTERISK_DB_PASSWORD_FILE:+_FILE}" \
			"too long for res_config_pgsql: at most $PGSQL_OPTION_BYTES bytes once quoted for libpq (about 60 characters)"
	fi
	case "$REALTIME" in
	pgsql | odbc) [ -n "$DB_HOST" ] || bad ASTERISK_DB_HOST "" "ASTERISK_REALTIME=$REALTIME needs the database's host" ;;
	esac

	ZONE=$(time_zone)
	check_local_cas
}

# Private CAs: PEM files named *.crt under /usr/local/share/ca-certificates (Debian's place
# for them), e.g. a mounted directory or Kubernetes Secret.
local_cas() { find -L "$LOCAL_CA_DIR" -type f -name '*.crt' 2>/dev/null | sort; }

check_local_cas() {
	local file changeable reader
	local_cas | while IFS= read -r file; do
		changeable=$(changeable_by_service_user "$file")
		reader=${changeable:+as_service_user}
		# shellcheck disable=SC2086 # $reader is a command word or nothing
		$reader test -r "$file" \
			|| die "$file (a private CA) is not readable by uid $(reader_uid "$changeable")$(read_as_service_user_because "$changeable")"
		# shellcheck disable=SC2086
		$reader openssl x509 -noout -in "$file" 2>/dev/null \
			|| die "$file (a private CA) is not a PEM certificate: $($reader head -c 40 "$file" | tr -c '[:print:]' '?')..."
	done
}

# --- files the operator names, read as root or as the service user ---------------------------

# Runs a command as the service user: its ids (ASTERISK_UID/ASTERISK_GID or the image's),
# no other group, no capability.
as_service_user() {
	setpriv --reuid="$SERVICE_UID" --regid="$SERVICE_GID" --clear-groups --inh-caps=-all -- "$@"
}

# As root: the directory on the way to PATH in which the service user could change what
# PATH leads to (one it may write, unless the sticky bit keeps it from another's entry),
# following symbolic links the way the kernel does; nothing if there is none, or when the
# entrypoint does not run as root (then the service user reads everything itself).
changeable_by_service_user() {
	[ "$(id -u)" = 0 ] || return 0
	local rest=$1 dir="" name parent entry target hops=0
	case "$rest" in /*) ;; *) rest="$PWD/$rest" ;; esac
	while [ -n "$rest" ]; do
		name=${rest%%/*}
		case "$rest" in */*) rest=${rest#*/} ;; *) rest="" ;; esac
		case "$name" in '' | .) continue ;; ..) dir=${dir%/*} && continue ;; esac
		parent=${dir:-/} entry=$dir/$name
		if as_service_user test -w "$parent" \
			&& { [ ! -k "$parent" ] || owned_by_service_user "$parent" || owned_by_service_user "$entry"; }; then
			echo "$parent"
			return
		fi
		if [ -L "$entry" ]; then
			hops=$((hops + 1))
			[ "$hops" -le 40 ] || { echo "$entry (a loop of links)" && return; }
			target=$(readlink "$entry")
			case "$target" in /*) dir="" ;; esac
			rest="$target/$rest"
		else
			dir=$entry
		fi
	done
}

owned_by_service_user() { [ "$(stat -c %u "$1" 2>/dev/null)" = "$SERVICE_UID" ]; }

reader_uid() { if [ -n "$1" ]; then echo "$SERVICE_UID"; else id -u; fi; }

read_as_service_user_because() {
	[ -z "$1" ] || printf ' (read as that user, not as root, because it can change %s on the way to it; put the file where only root writes)' "$1"
}

# --- the external address -------------------------------------------------------------------

# One request to the instance metadata service: the body, then the HTTP status on a line
# of its own (no temporary file: the root file system may be read-only); curl's exit code
# when it got no answer. Proxy variables are ignored: the service is link-local, and
# IMDSv2 refuses requests that carry X-Forwarded-For.
imds_request() {
	curl --noproxy '*' --silent --connect-timeout 1 --max-time "$IMDS_SECONDS" \
		--write-out '\n%{http_code}' "$@"
}

imds_problem() { # CURL-EXIT HTTP-STATUS WHAT
	case "$1" in
	0) echo "$3 answered HTTP $2" ;;
	7) echo "cannot connect to $IMDS (not on EC2, or its metadata service is off)" ;;
	28) echo "no answer from $IMDS within ${IMDS_SECONDS}s (with bridge networking, IMDSv2 needs a metadata hop limit of 2)" ;;
	*) echo "$IMDS failed (curl exit code $1)" ;;
	esac
}

# The instance's public IPv4 from EC2 instance metadata (IMDSv2: a session token, then the
# address), in EC2_ADDRESS; else the reason in EC2_PROBLEM.
ec2_public_ipv4() {
	local answer status body exit_code=0
	EC2_ADDRESS="" EC2_PROBLEM=""
	answer=$(imds_request -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" "$IMDS/latest/api/token") || exit_code=$?
	status=${answer##*"$NL"} body=${answer%"$NL"*}
	if [ "$exit_code" -ne 0 ] || [ "$status" != 200 ]; then
		EC2_PROBLEM="the session token request: $(imds_problem "$exit_code" "$status" "PUT /latest/api/token")"
		return 1
	fi
	answer=$(imds_request -H "X-aws-ec2-metadata-token: $body" "$IMDS/latest/meta-data/public-ipv4") || exit_code=$?
	status=${answer##*"$NL"} body=${answer%"$NL"*}
	if [ "$exit_code" -eq 0 ] && [ "$status" = 404 ]; then
		EC2_PROBLEM="the instance has no public IPv4 address (GET /latest/meta-data/public-ipv4 answered 404)"
	elif [ "$exit_code" -ne 0 ] || [ "$status" != 200 ]; then
		EC2_PROBLEM="$(imds_problem "$exit_code" "$status" "GET /latest/meta-data/public-ipv4")"
	elif ! is_ipv4 "$body"; then
		EC2_PROBLEM="GET /latest/meta-data/public-ipv4 answered $(shown "$body"), not an IPv4 address"
	else
		EC2_ADDRESS=$body
	fi
	[ -n "$EC2_ADDRESS" ]
}

resolve_external_address() {
	EXTERNAL_ADDRESS=$EXTERNAL
	if [ "$EXTERNAL" = ec2 ]; then
		if ec2_public_ipv4; then
			log "external address from EC2 instance metadata ($IMDS): $EC2_ADDRESS"
			EXTERNAL_ADDRESS=$EC2_ADDRESS
			return
		fi
		EXTERNAL_ADDRESS=""
		if [ "$EXTERNAL_REQUIRED" = yes ]; then
			die "ASTERISK_EXTERNAL_ADDRESS=ec2 found no address: $EC2_PROBLEM; not starting (ASTERISK_EXTERNAL_ADDRESS_REQUIRED=yes)"
		fi
		warn "ASTERISK_EXTERNAL_ADDRESS=ec2 found no address: $EC2_PROBLEM; starting without an" \
			"external address, so callers outside ASTERISK_LOCAL_NETS get the container's address" \
			"and no audio (ASTERISK_EXTERNAL_ADDRESS_REQUIRED=yes refuses to start instead)"
	fi
}

# --- the generated configuration (both phases) ------------------------------------------------
# Written into $RUN_DIR: in the root phase a directory that only root can write (emptied
# first, see reset_run_dir), in the service-user phase by that user as itself.

write_pjsip() {
	local nat="" net protocol
	if [ -n "$EXTERNAL_ADDRESS" ]; then
		nat="external_media_address = $EXTERNAL_ADDRESS
external_signaling_address = $EXTERNAL_ADDRESS"
		for net in $LOCAL_NETS; do
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
		if [ -n "$SIP_PERMIT" ]; then
			# res_pjsip_acl: the last matching rule wins; a refused request gets 403 and a
			# FailedACL security event.
			printf '\n; ASTERISK_SIP_PERMIT: SIP requests only from these networks\n'
			printf '[sip-permit]\ntype = acl\ndeny = 0.0.0.0/0\ndeny = ::/0\n'
			for net in $SIP_PERMIT; do
				echo "permit = $net"
			done
		fi
	} > "$GENERATED/pjsip.conf"
}

write_rtp() {
	printf '; Written by the entrypoint from the environment. Do not edit.\n[general]\nrtpstart = %s\nrtpend = %s\n' \
		"$RTP_START" "$RTP_END" > "$GENERATED/rtp.conf"
}

write_realtime() {
	local header database password driver_lib family
	header="; Written by the entrypoint from the environment (ASTERISK_REALTIME, ASTERISK_DB_*). Do not edit."
	: > "$GENERATED/res_odbc.conf"
	: > "$GENERATED/sorcery.conf"
	: > "$GENERATED/extconfig.conf"
	# Without a database, an empty user keeps res_config_pgsql loaded but unconnected.
	printf '%s\n[general]\ndbhost =\ndbsock = /run/postgresql\ndbname = asterisk\ndbport = 5432\ndbuser =\ndbpass =\nrequirements = warn\n' \
		"$header" > "$GENERATED/res_pgsql.conf"
	case "$REALTIME" in
	'' | none) return ;;
	pgsql) database=general ;;
	odbc) database=asterisk ;;
	esac
	case "$REALTIME" in
	pgsql)
		# res_config_pgsql writes the password unquoted into a libpq connection string.
		password=""
		[ -z "$DB_PASSWORD" ] || password=$(config_escaped "$(pgsql_quoted "$DB_PASSWORD")")
		printf '%s\n[general]\ndbhost = %s\ndbport = %s\ndbname = %s\ndbuser = %s\ndbpass = %s\nrequirements = warn\n' \
			"$header" "$DB_HOST" "$DB_PORT" "$DB_NAME" "$DB_USER" "$password" > "$GENERATED/res_pgsql.conf"
		;;
	odbc)
		driver_lib=$(find /usr/lib -name psqlodbcw.so -print -quit)
		[ -n "$driver_lib" ] || die "PostgreSQL ODBC driver (psqlodbcw.so) not found"
		printf '[asterisk]\nDriver = %s\nServername = %s\nPort = %s\nDatabase = %s\n' \
			"$driver_lib" "$DB_HOST" "$DB_PORT" "$DB_NAME" > "$GENERATED/odbc.ini"
		: > "$GENERATED/odbcinst.ini"
		# res_odbc hands the password to SQLConnect as it is.
		printf '%s\n[asterisk]\nenabled = yes\ndsn = asterisk\nusername = %s\npassword = %s\npre-connect = yes\nmax_connections = 5\n' \
			"$header" "$DB_USER" "$(config_escaped "$DB_PASSWORD")" > "$GENERATED/res_odbc.conf"
		;;
	esac
	{
		echo "$header"
		for family in ps_endpoints ps_auths ps_aors ps_contacts ps_domain_aliases ps_endpoint_id_ips; do
			echo "$family => $REALTIME,$database"
		done
	} > "$GENERATED/extconfig.conf"
	cat > "$GENERATED/sorcery.conf" <<-EOC
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
	EOC
	log "PJSIP realtime: $REALTIME, database $DB_NAME on $DB_HOST:$DB_PORT as $DB_USER"
}

# The include files, in a new directory (mkdir refuses a name that exists): root's and
# readable by the group asterisk when started as root, mode 0750 and 0640.
write_generated_config() {
	rm -rf "$GENERATED"
	(
		umask 027
		mkdir "$GENERATED"
		write_pjsip
		write_rtp
		write_realtime
	)
	if [ "$REALTIME" = odbc ]; then
		export ODBCSYSINI="$GENERATED" # unixODBC reads the DSN from odbc.ini there
	fi
	if [ "$(id -u)" = 0 ]; then
		chgrp -R asterisk "$GENERATED"
	fi
	log "SIP port $SIP_PORT (udp, tcp), RTP $RTP_START-$RTP_END, codecs $CODECS," \
		"external address ${EXTERNAL_ADDRESS:-none}${SIP_PERMIT:+, SIP only from $SIP_PERMIT}"
}

# The system CAs plus the private ones, for PJSIP (ca_list_file) and OpenSSL (SSL_CERT_FILE):
# written to a new file (mktemp), then renamed over the bundle (a rename replaces a name,
# it never writes through it).
write_ca_bundle() {
	local count new file changeable reader
	count=$(local_cas | wc -l)
	export SSL_CERT_FILE="${SSL_CERT_FILE:-$CA_BUNDLE}"
	# The image ships the system bundle there: nothing to write without private CAs (a
	# user other than root could not replace it in the image's /run/asterisk).
	if [ "$count" -eq 0 ] && [ -f "$CA_BUNDLE" ] && [ ! -L "$CA_BUNDLE" ] \
		&& [ "$(cksum < "$SYSTEM_CA_BUNDLE")" = "$(cksum < "$CA_BUNDLE")" ]; then
		return
	fi
	new=$(mktemp "$CA_BUNDLE.XXXXXX" 2>/dev/null) \
		|| die "cannot write in $RUN_DIR as uid $(id -u): start as root, or mount an empty directory (tmpfs, emptyDir) at $RUN_DIR"
	{
		cat "$SYSTEM_CA_BUNDLE"
		local_cas | while IFS= read -r file; do
			changeable=$(changeable_by_service_user "$file")
			reader=${changeable:+as_service_user}
			printf '\n# %s\n' "$file"
			# shellcheck disable=SC2086 # $reader is a command word or nothing
			$reader cat "$file"
		done
	} > "$new"
	chmod 0644 "$new"
	if ! mv -Tf "$new" "$CA_BUNDLE" 2>/dev/null; then
		rm -f "$new"
		die "cannot replace $CA_BUNDLE as uid $(id -u): start as root, or mount an empty directory (tmpfs, emptyDir) at $RUN_DIR"
	fi
	[ "$count" -eq 0 ] || log "$count private CA certificate(s) from $LOCAL_CA_DIR added to $CA_BUNDLE"
}

# Asterisk reads /etc/localtime, never TZ: the image links it to this link.
write_localtime() {
	export TZ="$ZONE"
	[ "$(readlink "$LOCALTIME" 2>/dev/null)" != "$ZONEINFO/$ZONE" ] || return 0
	ln -sfT "$ZONEINFO/$ZONE" "$LOCALTIME" 2>/dev/null \
		|| die "cannot point $LOCALTIME at TZ=$ZONE as uid $(id -u): start as root, or mount an empty directory (tmpfs, emptyDir) at $RUN_DIR"
}

write_configuration() {
	write_generated_config
	write_ca_bundle
	write_localtime
}

# --- root phase ---------------------------------------------------------------------------------

# ASTERISK_UID / ASTERISK_GID: run as these ids, e.g. the owner of bind-mounted volumes.
# /etc/passwd is edited directly: `usermod --uid` would also walk the home directory
# (/var/lib/asterisk) without -h and across file systems; own_volumes does that walk.
set_ids() {
	if [ -n "$NEW_GID" ] && [ "$NEW_GID" != "$(id -g asterisk)" ]; then
		groupmod --non-unique --gid "$NEW_GID" asterisk
		log "asterisk group id set to $NEW_GID"
	fi
	if [ -n "$NEW_UID" ] && [ "$NEW_UID" != "$(id -u asterisk)" ]; then
		sed -i "s/^asterisk:\([^:]*\):[0-9]*:/asterisk:\1:$NEW_UID:/" /etc/passwd
		log "asterisk user id set to $NEW_UID"
	fi
	if [ -n "$NEW_GID" ]; then
		sed -i "s/^asterisk:\([^:]*\):\([0-9]*\):[0-9]*:/asterisk:\1:\2:$NEW_GID:/" /etc/passwd
	fi
}

# An empty /etc/asterisk gets the default configuration; a non-empty one is never changed.
seed_config() {
	# Not even listable (another user than asterisk): check_config_readable says so.
	if [ ! -r "$CONFIG_DIR" ] || [ ! -x "$CONFIG_DIR" ] || [ -n "$(ls -A "$CONFIG_DIR" 2>/dev/null)" ]; then
		return
	fi
	[ -w "$CONFIG_DIR" ] || die "$CONFIG_DIR is empty and not writable by uid $(id -u): cannot seed the default configuration"
	cp -R "$DEFAULT_CONFIG/." "$CONFIG_DIR/"
	log "$CONFIG_DIR was empty: default configuration copied"
}

# Files with more than one name (hard links) under DIR that `find` selected with the rest
# of its arguments: root leaves them as they are, since the other name may be anywhere on
# that file system (e.g. root's own files, when the volume is the image's file system).
warn_hard_links() { # DIR WHAT FIND-ARGUMENTS...
	local dir=$1 what=$2 file
	shift 2
	find "$dir" -xdev ! -type d -links +1 "$@" -print 2>/dev/null | while IFS= read -r file; do
		warn "$file has more than one name (a hard link): its $what left as it is"
	done
}

# The configuration belongs to root and is readable, not writable, by the group asterisk:
# Asterisk cannot rewrite its own dialplan. Symbolic links are changed, never followed;
# files with several names are not changed; a read-only mount is left as it is.
protect_config() {
	local writable
	[ -w "$CONFIG_DIR" ] || return 0
	{
		find "$CONFIG_DIR" -xdev \( -type d -o -links 1 \) \( ! -user 0 -o ! -group asterisk \) -exec chown -h root:asterisk {} +
		find "$CONFIG_DIR" -xdev ! -type l \( -type d -o -links 1 \) -perm /022 -exec chmod go-w {} +
		find "$CONFIG_DIR" -xdev -type d ! -perm -050 -exec chmod g+rx {} +
		find "$CONFIG_DIR" -xdev -type f -links 1 ! -perm -040 -exec chmod g+r {} +
	} 2>/dev/null || true
	warn_hard_links "$CONFIG_DIR" "owner and mode" \( ! -user 0 -o ! -group asterisk -o -perm /022 \)
	# What failed above may be harmless (a read-only mount inside): ask as asterisk.
	writable=$(as_service_user find "$CONFIG_DIR" -xdev -writable -print -quit 2>/dev/null || true)
	[ -z "$writable" ] || warn "Asterisk can write $writable in $CONFIG_DIR (its owner could not be changed);" \
		"mount the configuration read-only (:ro) to keep it from Asterisk"
}

# The state volumes belong to asterisk. Only files not yet its own are changed; symbolic
# links are changed, never followed; files with several names are not changed (warned);
# the walk stays on each volume's file system. With ASTERISK_SKIP_CHOWN=yes only the
# volumes' top directories are checked (huge volumes). A missing top directory (/var/cache
# on a fresh root file system) is made first: its parent is root's.
own_volumes() {
	local dir
	for dir in $VOLUMES; do
		[ -d "$dir" ] || mkdir -p "$dir" 2>/dev/null || { warn "cannot create $dir" && continue; }
		if [ "$SKIP_CHOWN" = yes ]; then
			chown -h asterisk:asterisk "$dir" 2>/dev/null || warn "cannot change the owner of $dir (read-only?)"
			continue
		fi
		find "$dir" -xdev \( -type d -o -links 1 \) \( ! -user asterisk -o ! -group asterisk \) \
			-exec chown -h asterisk:asterisk {} + 2>/dev/null \
			|| warn "cannot change the owner of everything in $dir (read-only?)"
		warn_hard_links "$dir" owner \( ! -user asterisk -o ! -group asterisk \)
	done
}

# /run/asterisk holds Asterisk's run-time files (its control socket and pid file) and what
# root writes (generated/, the CA bundle, localtime). At each start it is emptied, as /run
# is at boot, so nothing the service user left there (a link, a directory of its own in
# the place of root's) is still there when root writes; then it is root's, sticky, and
# writable by the group asterisk: Asterisk may create its own files in it, but may not
# rename or remove root's (the sticky bit), nor write into them.
reset_run_dir() {
	[ ! -L "$RUN_DIR" ] || die "$RUN_DIR is a symbolic link: mount a directory (or nothing) there"
	mkdir -p "$RUN_DIR"
	chown root:asterisk "$RUN_DIR"
	chmod 1775 "$RUN_DIR"
	local mounted
	mounted=$(awk -v inside="$RUN_DIR/" 'index($5, inside) == 1 { print $5; exit }' /proc/self/mountinfo)
	[ -z "$mounted" ] || die "$mounted is mounted inside $RUN_DIR, which is emptied at each start:" \
		"mount it elsewhere ($RUN_DIR holds run-time files only)"
	find "$RUN_DIR" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} +
}

# Directories Asterisk expects in its volumes, made by Asterisk's user (in its volumes).
make_state_subdirs() {
	local dir
	for dir in $STATE_SUBDIRS; do
		[ -d "$dir" ] || as_service_user mkdir -p "$dir" 2>/dev/null || warn "cannot create $dir"
	done
}

root_phase() {
	set_ids
	seed_config
	protect_config
	own_volumes
	make_state_subdirs
	reset_run_dir
	write_configuration
}

# --- service-user phase (started as another user than root) ---------------------------------

# Started with --user (Kubernetes runAsUser, compose `user:`): nothing can change owners.
check_non_root_access() {
	local dir
	for dir in /var/lib/asterisk /var/spool/asterisk /var/log/asterisk "$RUN_DIR"; do
		[ -w "$dir" ] || die "$dir is not writable by uid $(id -u): mount a volume owned by that uid," \
			"or start as root with ASTERISK_UID/ASTERISK_GID instead of --user"
	done
}

check_config_readable() {
	[ -r "$CONFIG_DIR/asterisk.conf" ] \
		|| die "$CONFIG_DIR/asterisk.conf is not readable by uid $(id -u) (groups $(id -G)):" \
			"the configuration is root's and the group asterisk's (gid $(id -g asterisk)); run with that group"
}

# The directories Asterisk expects, as far as this user may make them (a fresh tmpfs on
# /run, as in WSL, has no /run/asterisk).
make_state_dirs() {
	local dir
	for dir in "$RUN_DIR" /var/cache/asterisk $STATE_SUBDIRS; do
		[ -d "$dir" ] || mkdir -p "$dir" 2>/dev/null || warn "cannot create $dir"
	done
}

service_user_phase() {
	if [ -n "$NEW_UID$NEW_GID" ]; then
		warn "ASTERISK_UID/ASTERISK_GID apply only when the container starts as root; it runs as $(id -u):$(id -g)"
	fi
	check_non_root_access
	seed_config
	make_state_dirs
	check_config_readable
	write_configuration
}

# --- main -------------------------------------------------------------------------------------

# True unless the asterisk options ask for a version or a remote console.
runs_server() {
	shift
	for arg in "$@"; do
		case "$arg" in -V | -r* | -R* | -x) return 1 ;; esac
	done
}

# `docker run IMAGE -vvv` means `asterisk -f -n -vvv`.
if [ "${1#-}" != "$1" ]; then
	set -- asterisk -f -n "$@"
fi

# Anything but the Asterisk server (a shell, `asterisk -V`, `asterisk -rx ...`) runs as it is.
if [ "$1" != asterisk ] || ! runs_server "$@"; then
	exec "$@"
fi

read_settings
resolve_external_address

if [ "$(id -u)" != 0 ]; then
	service_user_phase
	unset ASTERISK_DB_PASSWORD DB_PASSWORD # in the generated configuration now
	exec "$@"
fi

root_phase
# The password is in the generated configuration now, not in Asterisk's environment.
unset ASTERISK_DB_PASSWORD DB_PASSWORD
# No capabilities, none inheritable, none that could come back (empty bounding set), and
# no-new-privs (no setuid or file capabilities can raise them). Emptying the bounding set
# needs CAP_SETPCAP, which a runtime may have dropped already.
bounding="--bounding-set=-all"
if [ $((0x$(awk '/^CapEff:/ {print $2}' /proc/self/status) >> 8 & 1)) -ne 1 ]; then
	warn "no CAP_SETPCAP: the capability bounding set stays as the runtime left it (no-new-privs still applies)"
	bounding=""
fi
# shellcheck disable=SC2086 # $bounding is one option or none
exec setpriv --reuid=asterisk --regid=asterisk --init-groups --inh-caps=-all $bounding \
	--no-new-privs -- "$@"
