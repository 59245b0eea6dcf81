"""`pipeline smoke --postgres DSN` with the privileges docs/smoke.md names: a role with
CREATEDB and CREATEROLE, not a superuser, on a real PostgreSQL server (the smoke test's
own LocalServer). The smoke test's realtime database is made, used and dropped as that
role, exactly as a run with --postgres does (postgres.prepare / add_endpoint / drop)."""

import secrets

import pytest

from pipeline.errors import CommandError
from pipeline.smoke import postgres


@pytest.fixture
def limited_admin():
    """A server, and a role that may create databases and roles but is no superuser."""
    server = postgres.LocalServer()
    try:
        superuser = server.start()
        password = secrets.token_hex(8)
        postgres.psql(superuser, f"CREATE ROLE smoke_admin LOGIN CREATEDB CREATEROLE PASSWORD '{password}'")
        yield superuser, postgres.Database(host=superuser.host, port=superuser.port, name="postgres",
                                           user="smoke_admin", password=password)
    finally:
        server.stop()


def test_a_role_with_createdb_and_createrole_is_enough(limited_admin):
    superuser, admin = limited_admin
    assert postgres.psql(superuser, "SELECT rolsuper FROM pg_roles WHERE rolname = 'smoke_admin'").strip() == "f"
    name = f"asterisk_smoke_{secrets.token_hex(4)}"
    database = postgres.Database(host=admin.host, port=admin.port, name=name, user=name,
                                 password=secrets.token_hex(8))
    schema = "CREATE TABLE ps_endpoints (id varchar(255) PRIMARY KEY, transport varchar(40));"
    postgres.prepare(admin, database, schema)
    postgres.psql(database, "INSERT INTO ps_endpoints VALUES ('rt-1', 'transport-udp');")
    owner = postgres.psql(superuser, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}'")
    assert owner.strip() == name
    postgres.drop(admin, database)
    left = postgres.psql(superuser, f"SELECT count(*) FROM pg_roles WHERE rolname = '{name}'")
    assert left.strip() == "0"
    with pytest.raises(CommandError):   # the database is gone too
        postgres.psql(database, "SELECT 1")
