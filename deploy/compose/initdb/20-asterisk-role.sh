#!/bin/sh
# The role Asterisk logs in as, with only what PJSIP realtime needs: read the endpoints,
# auths, AORs, domain aliases and IP identifies; read and write the registrations
# (ps_contacts). Not the superuser, owner of nothing, no CREATE anywhere.
#
# Run once by PostgreSQL's entrypoint on its first start (an empty data volume), after
# 10-asterisk-realtime.sql; the compose file's `schema` service copies it into
# /docker-entrypoint-initdb.d. Environment (compose.yaml): POSTGRES_DB, ASTERISK_DB_USER,
# ASTERISK_DB_PASSWORD_FILE. The password is read by psql itself (\set with backquotes):
# it never appears on a command line. POSIX sh: the entrypoint may source it.

if [ ! -r "${ASTERISK_DB_PASSWORD_FILE:-}" ] || [ ! -s "$ASTERISK_DB_PASSWORD_FILE" ]; then
	echo "20-asterisk-role.sh: ASTERISK_DB_PASSWORD_FILE '${ASTERISK_DB_PASSWORD_FILE:-}' is missing, empty or not readable by $(id -un): no role for Asterisk" >&2
	# shellcheck disable=SC2317 # `return` when sourced, `exit` when executed
	return 1 2>/dev/null || exit 1
fi
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" \
	--dbname "$POSTGRES_DB" --set role="${ASTERISK_DB_USER:-asterisk}" --set db="$POSTGRES_DB" <<'SQL'
\set password `cat "$ASTERISK_DB_PASSWORD_FILE"`
CREATE ROLE :"role" LOGIN PASSWORD :'password';
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"role";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"role";
GRANT SELECT ON ps_endpoints, ps_auths, ps_aors, ps_domain_aliases, ps_endpoint_id_ips TO :"role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ps_contacts TO :"role";
SQL
