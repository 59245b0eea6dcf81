#!/bin/sh
# TEST STAND-IN for the official postgres image's entrypoint (see the Dockerfile): the
# subset of its behaviour that deploy/compose/compose.yaml uses.
set -eu

log() { echo "postgres-standin: $*" >&2; }

if [ "${1:-}" != postgres ]; then
	exec "$@"
fi

# POSTGRES_PASSWORD_FILE, read as root (the official image's file_env): the variable is
# exported and the _FILE one dropped before starting again as postgres.
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
	if [ -n "${POSTGRES_PASSWORD:-}" ]; then
		log "error: both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set (but are exclusive)"
		exit 1
	fi
	POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
	export POSTGRES_PASSWORD
	unset POSTGRES_PASSWORD_FILE
fi

# As root: own the data and socket directories, then start again as postgres.
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" "$@"
fi

POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}

first_start() {
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		log "error: the database is uninitialized and POSTGRES_PASSWORD is not set"
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
		--auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
	rm -f "$pwfile"
	echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"

	# The init scripts run on a server reachable only through its socket.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
	if [ "$POSTGRES_DB" != postgres ]; then
		psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
			-c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
	fi
	for file in /docker-entrypoint-initdb.d/*; do
		case "$file" in
		*.sql)
			log "running $file"
			psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" \
				--dbname "$POSTGRES_DB" -f "$file" >/dev/null
			;;
		*.sh)
			# Executed if executable, else sourced (as the official image does).
			if [ -x "$file" ]; then
				log "running $file"
				"$file"
			else
				log "sourcing $file"
				# shellcheck source=/dev/null
				. "$file"
			fi
			;;
		*) if [ -e "$file" ]; then log "ignoring $file"; fi ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	log "PostgreSQL init process complete; ready for start up."
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	first_start
fi

exec "$@" -c listen_addresses='*' -p 5432
