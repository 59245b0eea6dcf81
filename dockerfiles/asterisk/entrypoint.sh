#!/bin/sh
# shellcheck shell=dash
# Container entrypoint. In this order:
#   1. check every setting taken from the environment; a bad one stops the container at
#      once (exit 2), with one line naming the variable, and nothing is written;
#   2. look up the external address (ASTERISK_EXTERNAL_ADDRESS=ec2);
#   3. as root: set the ids of the user `asterisk`, seed an empty /etc/asterisk, make the
#      configuration root's (readable by Asterisk, not writable), give the state volumes
#      to `asterisk`;
#   4. write the settings into include files in /run/asterisk/generated, the CA bundle and
#      the time zone;
#   5. run Asterisk as `asterisk`, with no capabilities and no way to gain any.
# Documented in README.md next to the Dockerfile.
set -euf

DEFAULT_CONFIG=/usr/share/asterisk/default-config
CONFIG_DIR=/etc/asterisk
GENERATED=/run/asterisk/generated
STATE_DIRS="/var/lib/asterisk /var/spool/asterisk /var/log/asterisk /run/asterisk /var/cache/asterisk"
MODULES=/usr/lib/asterisk/modules
RFC1918_NETS="10.0.0.0/8 172.16.0.0/12 192.168.0.0/16"
LOCAL_CA_DIR=/usr/local/share/ca-certificates
SYSTEM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
CA_BUNDLE=/run/asterisk/ca-certificates.crt
ZONEINFO=/usr/share/zoneinfo
LOCALTIME=/run/asterisk/localtime      # /etc/localtime links here (Asterisk ignores TZ)
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

SETTINGS="ASTERISK_SIP_PORT ASTERISK_RTP_START ASTERISK_RTP_END ASTERISK_EXTERNAL_ADDRESS \
ASTERISK_EXTERNAL_ADDRESS_REQUIRED ASTERISK_LOCAL_NETS ASTERISK_SIP_PERMIT ASTERISK_CODECS \
ASTERISK_REALTIME ASTERISK_DB_HOST ASTERISK_DB_PORT ASTERISK_DB_NAME ASTERISK_DB_USER \
ASTERISK_DB_PASSWORD ASTERISK_DB_PASSWORD_FILE ASTERISK_UID ASTERISK_GID ASTERISK_SKIP_CHOWN"

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

boolean() { # VARIABLE DEFAULT
	local value
	eval "value=\${$1:-}"
	case "$(lower "$value")" in
	'') echo "$2" ;;
	yes | true | on | 1) echo yes ;;
	no | false | off | 0) echo no ;;
	*) bad "$1" "$value" "yes or no (also true/false, on/off, 1/0)" ;;
	esac
}

port() { # VARIABLE DEFAULT
	local value
	eval "value=\${$1:-}"
	[ -n "$value" ] || value=$2
	is_port "$value" || bad "$1" "$value" "a port number, 1 to 65535"
	echo "$value"
}

networks() { # VARIABLE VALUE: the networks, space separated
	local net list=""
	for net in $(items "$2"); do
		is_network "$net" || bad "$1" "$2" "$(shown "$net") is not a network; give addresses or ADDRESS/PREFIX (IPv4 or IPv6, e.g. 192.168.0.0/16, 2001:db8::/32), separated by commas"
		list="$list $net"
	done
	[ -n "$list" ] || bad "$1" "$2" "a list of networks (ADDRESS/PREFIX, separated by commas)"
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
	local value=$1 codec list="" audio
	audio=$(available_codecs)
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

default_codecs() {
	if [ -e "$MODULES/codec_opus_open_source.so" ]; then
		echo "opus,g722,ulaw,alaw,gsm"
	else
		echo "g722,ulaw,alaw,gsm"
	fi
}

db_password() {
	local value
	if [ -n "${ASTERISK_DB_PASSWORD_FILE:-}" ]; then
		[ -z "${ASTERISK_DB_PASSWORD:-}" ] \
			|| bad_secret ASTERISK_DB_PASSWORD "ASTERISK_DB_PASSWORD_FILE is set too: set only one of them"
		if [ ! -f "$ASTERISK_DB_PASSWORD_FILE" ] || [ ! -r "$ASTERISK_DB_PASSWORD_FILE" ]; then
			bad ASTERISK_DB_PASSWORD_FILE "$ASTERISK_DB_PASSWORD_FILE" "a file readable by uid $(id -u) (e.g. a secret mounted at /run/secrets/NAME)"
		fi
		# Trailing line breaks (`echo secret > file`) are not part of the password.
		value=$(cat "$ASTERISK_DB_PASSWORD_FILE")
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
		mode=$(lower "${AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE:-ipv4}")
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
	local zone=${TZ:-}
	zone=${zone#:}
	case "$zone" in
	'') echo UTC ;;
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

# Every setting, checked; the results in upper-case globals. Writes nothing.
read_settings() {
	warn_unknown_settings
	SIP_PORT=$(port ASTERISK_SIP_PORT 5060)
	RTP_START=$(port ASTERISK_RTP_START 10000)
	RTP_END=$(port ASTERISK_RTP_END 10099)
	[ "$RTP_START" -lt "$RTP_END" ] \
		|| bad ASTERISK_RTP_START "$RTP_START" "must be below ASTERISK_RTP_END ($RTP_END)"
	if [ "$SIP_PORT" -ge "$RTP_START" ] && [ "$SIP_PORT" -le "$RTP_END" ]; then
		bad ASTERISK_SIP_PORT "$SIP_PORT" "must be outside the RTP range $RTP_START-$RTP_END"
	fi

	EXTERNAL=${ASTERISK_EXTERNAL_ADDRESS:-}
	IMDS=$(imds_endpoint)
	if [ "$(lower "$EXTERNAL")" = ec2 ]; then
		EXTERNAL=ec2
	elif [ -n "$EXTERNAL" ] && ! is_address "$EXTERNAL" && ! is_hostname "$EXTERNAL"; then
		bad ASTERISK_EXTERNAL_ADDRESS "$EXTERNAL" "an IPv4 or IPv6 address, a host name, or ec2 (the instance's public IPv4)"
	fi
	EXTERNAL_REQUIRED=$(boolean ASTERISK_EXTERNAL_ADDRESS_REQUIRED no)
	if [ "$EXTERNAL_REQUIRED" = yes ] && [ -z "$EXTERNAL" ]; then
		bad ASTERISK_EXTERNAL_ADDRESS_REQUIRED "${ASTERISK_EXTERNAL_ADDRESS_REQUIRED:-}" \
			"yes needs ASTERISK_EXTERNAL_ADDRESS (an address, a host name or ec2)"
	fi
	LOCAL_NETS=$(networks ASTERISK_LOCAL_NETS "${ASTERISK_LOCAL_NETS:-$RFC1918_NETS}")
	SIP_PERMIT=""
	[ -z "${ASTERISK_SIP_PERMIT:-}" ] || SIP_PERMIT=$(networks ASTERISK_SIP_PERMIT "$ASTERISK_SIP_PERMIT")
	CODECS=$(codecs "${ASTERISK_CODECS:-$(default_codecs)}")

	REALTIME=${ASTERISK_REALTIME:-}
	case "$REALTIME" in
	'' | none | pgsql | odbc) ;;
	*) bad ASTERISK_REALTIME "$REALTIME" "pgsql, odbc, none or empty" ;;
	esac
	DB_HOST=${ASTERISK_DB_HOST:-}
	if [ -n "$DB_HOST" ] && ! is_address "$DB_HOST" && ! is_hostname "$DB_HOST"; then
		case "$DB_HOST" in
		/*[!A-Za-z0-9_./-]* | */../* | */..) bad ASTERISK_DB_HOST "$DB_HOST" "a host name, an address, or the absolute path of a PostgreSQL socket directory" ;;
		/*) [ "${#DB_HOST}" -le "$PGSQL_OPTION_BYTES" ] || bad ASTERISK_DB_HOST "$DB_HOST" "at most $PGSQL_OPTION_BYTES characters" ;;
		*) bad ASTERISK_DB_HOST "$DB_HOST" "a host name, an address, or the absolute path of a PostgreSQL socket directory" ;;
		esac
	fi
	DB_PORT=$(port ASTERISK_DB_PORT 5432)
	DB_NAME=${ASTERISK_DB_NAME:-asterisk}
	is_db_name "$DB_NAME" || bad ASTERISK_DB_NAME "$DB_NAME" "a database name of letters, digits, '_', '.' or '-', starting with a letter or '_', at most $PGSQL_OPTION_BYTES characters"
	DB_USER=${ASTERISK_DB_USER:-asterisk}
	is_db_name "$DB_USER" || bad ASTERISK_DB_USER "$DB_USER" "a user name of letters, digits, '_', '.' or '-', starting with a letter or '_', at most $PGSQL_OPTION_BYTES characters"
	DB_PASSWORD=$(db_password)
	if [ "$REALTIME" = pgsql ] && [ "$(pgsql_quoted "$DB_PASSWORD" | wc -c)" -gt "$PGSQL_OPTION_BYTES" ]; then
		bad_secret "ASTERISK_DB_PASSWORD${ASTERISK_DB_PASSWORD_FILE:+_FILE}" \
			"too long for res_config_pgsql: at most $PGSQL_OPTION_BYTES bytes once quoted for libpq (about 60 characters)"
	fi
	case "$REALTIME" in
	pgsql | odbc) [ -n "$DB_HOST" ] || bad ASTERISK_DB_HOST "" "ASTERISK_REALTIME=$REALTIME needs the database's host" ;;
	esac

	NEW_UID=${ASTERISK_UID:-}
	[ -z "$NEW_UID" ] || is_id "$NEW_UID" || bad ASTERISK_UID "$NEW_UID" "a numeric user id, 1 or more (0, root, is refused)"
	NEW_GID=${ASTERISK_GID:-}
	[ -z "$NEW_GID" ] || is_id "$NEW_GID" || bad ASTERISK_GID "$NEW_GID" "a numeric group id, 1 or more (0, root, is refused)"
	SKIP_CHOWN=$(boolean ASTERISK_SKIP_CHOWN no)
	ZONE=$(time_zone)
	check_local_cas
}

# Private CAs: PEM files named *.crt under /usr/local/share/ca-certificates (Debian's place
# for them), e.g. a mounted directory or Kubernetes Secret.
local_cas() { find -L "$LOCAL_CA_DIR" -type f -name '*.crt' 2>/dev/null | sort; }

check_local_cas() {
	local file
	local_cas | while IFS= read -r file; do
		[ -r "$file" ] || die "$file (a private CA) is not readable by uid $(id -u)"
		openssl x509 -noout -in "$file" 2>/dev/null \
			|| die "$file (a private CA) is not a PEM certificate: $(head -c 40 "$file" | tr -c '[:print:]' '?')..."
	done
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

# --- user and volumes -------------------------------------------------------------------------

# ASTERISK_UID / ASTERISK_GID: run as these ids, e.g. the owner of bind-mounted volumes.
# /etc/passwd is edited directly: `usermod --uid` would also walk the home directory
# (/var/lib/asterisk) without -h and across file systems; own_state_dirs does that walk.
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

# The configuration belongs to root and is readable, not writable, by the group asterisk:
# Asterisk cannot rewrite its own dialplan. Symbolic links are changed, never followed; a
# read-only mount is left as it is.
protect_config() {
	local writable
	[ -w "$CONFIG_DIR" ] || return 0
	{
		find "$CONFIG_DIR" -xdev \( ! -user 0 -o ! -group asterisk \) -exec chown -h root:asterisk {} +
		find "$CONFIG_DIR" -xdev ! -type l -perm /022 -exec chmod go-w {} +
		find "$CONFIG_DIR" -xdev -type d ! -perm -050 -exec chmod g+rx {} +
		find "$CONFIG_DIR" -xdev -type f ! -perm -040 -exec chmod g+r {} +
	} 2>/dev/null || true
	# What failed above may be harmless (a read-only mount inside): ask as asterisk.
	writable=$(setpriv --reuid=asterisk --regid=asterisk --init-groups \
		find "$CONFIG_DIR" -xdev -writable -print -quit 2>/dev/null || true)
	[ -z "$writable" ] || warn "Asterisk can write $writable in $CONFIG_DIR (its owner could not be changed);" \
		"mount the configuration read-only (:ro) to keep it from Asterisk"
}

# Directories Asterisk expects in its volumes (an empty bind mount has none of them), and
# /run/asterisk itself (a fresh tmpfs on /run, as in WSL, has none).
make_state_dirs() {
	local dir
	for dir in /run/asterisk /var/cache/asterisk /var/lib/asterisk/keys /var/spool/asterisk/tmp /var/spool/asterisk/voicemail \
		/var/spool/asterisk/outgoing /var/spool/asterisk/recording /var/spool/asterisk/monitor \
		/var/spool/asterisk/system /var/log/asterisk/cdr-csv; do
		[ -d "$dir" ] && continue
		if mkdir -p "$dir" 2>/dev/null; then
			[ "$(id -u)" != 0 ] || chown asterisk:asterisk "$dir"
		else
			warn "cannot create $dir"
		fi
	done
}

# The state volumes belong to asterisk. Only files not yet its own are changed; symbolic
# links are changed, never followed; the walk stays on each volume's file system. With
# ASTERISK_SKIP_CHOWN=yes only the volumes' top directories are checked (huge volumes).
own_state_dirs() {
	local dir
	for dir in $STATE_DIRS; do
		[ -d "$dir" ] || continue
		if [ "$SKIP_CHOWN" = yes ]; then
			chown -h asterisk:asterisk "$dir" 2>/dev/null || warn "cannot change the owner of $dir (read-only?)"
			continue
		fi
		find "$dir" -xdev \( ! -user asterisk -o ! -group asterisk \) -exec chown -h asterisk:asterisk {} + \
			2>/dev/null || warn "cannot change the owner of everything in $dir (read-only?)"
	done
}

# Started with --user (Kubernetes runAsUser, compose `user:`): nothing can change owners.
check_non_root_access() {
	local dir
	for dir in /var/lib/asterisk /var/spool/asterisk /var/log/asterisk /run/asterisk; do
		[ -w "$dir" ] || die "$dir is not writable by uid $(id -u): mount a volume owned by that uid," \
			"or start as root with ASTERISK_UID/ASTERISK_GID instead of --user"
	done
}

check_config_readable() {
	[ -r "$CONFIG_DIR/asterisk.conf" ] \
		|| die "$CONFIG_DIR/asterisk.conf is not readable by uid $(id -u) (groups $(id -G)):" \
			"the configuration is root's and the group asterisk's (gid $(id -g asterisk)); run with that group"
}

# --- configuration from the environment -------------------------------------------------

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
		# unixODBC reads the DSN from odbc.ini in this directory.
		export ODBCSYSINI="$GENERATED"
		;;
	esac
	{
		echo "$header"
		for family in ps_endpoints ps_auths ps_aors ps_contacts ps_domain_aliases ps_endpoint_id_ips; do
			echo "$family => $REALTIME,$database"
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
	log "PJSIP realtime: $REALTIME, database $DB_NAME on $DB_HOST:$DB_PORT as $DB_USER"
}

# The generated files: root's and readable by the group asterisk when started as root.
write_generated_config() {
	rm -rf "$GENERATED"
	(umask 027 && mkdir -p "$GENERATED")
	(
		umask 027
		write_pjsip
		write_rtp
		write_realtime
	)
	if [ "$REALTIME" = odbc ]; then
		export ODBCSYSINI="$GENERATED"
	fi
	if [ "$(id -u)" = 0 ]; then
		chown -R root:asterisk "$GENERATED"
	fi
	log "SIP port $SIP_PORT (udp, tcp), RTP $RTP_START-$RTP_END, codecs $CODECS," \
		"external address ${EXTERNAL_ADDRESS:-none}${SIP_PERMIT:+, SIP only from $SIP_PERMIT}"
}

# The system CAs plus the private ones, for PJSIP (ca_list_file) and OpenSSL (SSL_CERT_FILE).
write_ca_bundle() {
	local count
	count=$(local_cas | wc -l)
	export SSL_CERT_FILE="${SSL_CERT_FILE:-$CA_BUNDLE}"
	# The image ships the system bundle there: nothing to write without private CAs (a
	# user other than root could not replace it in the image's /run/asterisk).
	if [ "$count" -eq 0 ] && [ -f "$CA_BUNDLE" ] \
		&& [ "$(cksum < "$SYSTEM_CA_BUNDLE")" = "$(cksum < "$CA_BUNDLE")" ]; then
		return
	fi
	{
		cat "$SYSTEM_CA_BUNDLE"
		local_cas | while IFS= read -r file; do
			printf '\n# %s\n' "$file"
			cat "$file"
		done
	} > "$CA_BUNDLE.new"
	chmod 0644 "$CA_BUNDLE.new"
	mv -f "$CA_BUNDLE.new" "$CA_BUNDLE" 2>/dev/null \
		|| die "cannot replace $CA_BUNDLE as uid $(id -u): start as root, or mount an empty directory (tmpfs, emptyDir) at /run/asterisk"
	[ "$count" -eq 0 ] || log "$count private CA certificate(s) from $LOCAL_CA_DIR added to $CA_BUNDLE"
}

# Asterisk reads /etc/localtime, never TZ: the image links it to this file.
write_localtime() {
	export TZ="$ZONE"
	[ "$(readlink "$LOCALTIME" 2>/dev/null)" != "$ZONEINFO/$ZONE" ] || return 0
	ln -sfn "$ZONEINFO/$ZONE" "$LOCALTIME" 2>/dev/null \
		|| die "cannot point $LOCALTIME at TZ=$ZONE as uid $(id -u): start as root, or mount an empty directory (tmpfs, emptyDir) at /run/asterisk"
}

# True unless the asterisk options ask for a version or a remote console.
runs_server() {
	shift
	for arg in "$@"; do
		case "$arg" in -V | -r* | -R* | -x) return 1 ;; esac
	done
}

# Where Asterisk writes, and what it reads, when started as root.
prepare_as_root() {
	set_ids
	seed_config
	protect_config
	make_state_dirs
	own_state_dirs
}

prepare_as_user() {
	if [ -n "$NEW_UID$NEW_GID" ]; then
		warn "ASTERISK_UID/ASTERISK_GID apply only when the container starts as root; it runs as $(id -u):$(id -g)"
	fi
	check_non_root_access
	seed_config
	make_state_dirs
	check_config_readable
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

read_settings
resolve_external_address
if [ "$(id -u)" = 0 ]; then
	prepare_as_root
else
	prepare_as_user
fi
write_generated_config
write_ca_bundle
write_localtime
# The password is in the generated configuration now, not in Asterisk's environment.
unset ASTERISK_DB_PASSWORD DB_PASSWORD

if [ "$(id -u)" != 0 ]; then
	exec "$@"
fi
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
