"""Naming a PostgreSQL server for the realtime check (pure)."""

import pytest

from pipeline.errors import ConfigurationError
from pipeline.smoke import postgres


def test_dsn_with_everything():
    db = postgres.from_dsn("postgresql://admin:p%40ss@db.example:6543/main")
    assert (db.host, db.port, db.name, db.user, db.password) == (
        "db.example", 6543, "main", "admin", "p@ss")
    assert db.volumes() == []
    assert db.env() == {"ASTERISK_REALTIME": "pgsql", "ASTERISK_DB_HOST": "db.example",
                        "ASTERISK_DB_PORT": "6543", "ASTERISK_DB_NAME": "main",
                        "ASTERISK_DB_USER": "admin", "ASTERISK_DB_PASSWORD": "p@ss"}


def test_dsn_defaults():
    db = postgres.from_dsn("postgres://10.0.0.5")
    assert (db.port, db.name, db.user, db.password) == (5432, "postgres", "postgres", "")


@pytest.mark.parametrize("dsn", ["mysql://u@h/db", "host=localhost dbname=x", "postgresql:///x"])
def test_not_a_postgres_uri(dsn):
    with pytest.raises(ConfigurationError, match="postgresql://USER:PASSWORD@HOST:PORT/DATABASE"):
        postgres.from_dsn(dsn)


def test_local_server_socket_reaches_the_container():
    db = postgres.Database(host="/tmp/x/socket", port=5432, name="n", user="u", password="p",
                           mount="/tmp/x/socket", container_host=postgres.CONTAINER_SOCKET_DIR)
    assert db.env()["ASTERISK_DB_HOST"] == "/run/postgresql-smoke"
    assert db.volumes() == [("/tmp/x/socket", "/run/postgresql-smoke")]
