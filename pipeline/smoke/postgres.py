"""PostgreSQL for the realtime check: a throwaway server this harness starts, or a
server the user names with --postgres DSN. Either way a fresh database gets the PJSIP
realtime schema that ships in the image (Asterisk's alembic scripts, contrib/ast-db-manage,
rendered as SQL), and the test endpoint is inserted into it.

The throwaway server listens on a Unix socket only (no TCP port that could collide), in a
directory that is bind-mounted into the Asterisk container: the same connection works
with host networking and with published ports.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

from .. import log
from ..errors import CommandError, ConfigurationError, SmokeError

CONTAINER_SOCKET_DIR = "/run/postgresql-smoke"
SERVER_USER = "postgres"     # initdb and postgres refuse to run as root


@dataclasses.dataclass(frozen=True, kw_only=True)
class Database:
    """How to reach one database: from the host (psql) and from the container."""

    host: str                 # a host name, or a socket directory on the host
    port: int
    name: str
    user: str
    password: str
    mount: str = ""           # a socket directory to bind-mount into the container
    container_host: str = ""  # the host as the container sees it (default: host)

    def env(self) -> dict[str, str]:
        """The image's realtime settings (ASTERISK_REALTIME and ASTERISK_DB_*)."""
        return {"ASTERISK_REALTIME": "pgsql", "ASTERISK_DB_HOST": self.container_host or self.host,
                "ASTERISK_DB_PORT": str(self.port), "ASTERISK_DB_NAME": self.name,
                "ASTERISK_DB_USER": self.user, "ASTERISK_DB_PASSWORD": self.password}

    def volumes(self) -> list[tuple[str, str]]:
        return [(self.mount, CONTAINER_SOCKET_DIR)] if self.mount else []


def tool(name: str) -> str:
    """A PostgreSQL program: from PATH, else from Debian's versioned directory."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise SmokeError(f"PostgreSQL's {name} is not installed (Debian package postgresql): "
                     "the realtime check starts its own server")


def _run(args: list[str], *, env: dict[str, str] | None = None, input: str | None = None,
         timeout: float = 30) -> str:
    log.debug(" ".join(args))
    try:
        done = subprocess.run(args, capture_output=True, text=True, input=input, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CommandError(f"{args[0]} failed: {error}") from None
    if done.returncode != 0:
        raise CommandError(f"{Path(args[0]).name} failed (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout


def psql(database: Database, sql: str, *, as_user: str | None = None,
         password: str | None = None, name: str | None = None) -> str:
    """Run SQL (stops at the first error) and return what psql printed."""
    args = [tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", database.host, "-p", str(database.port), "-U", as_user or database.user,
            "-d", name or database.name]
    return _run(args, input=sql, env={"PGPASSWORD": database.password if password is None
                                      else password, "PGCONNECT_TIMEOUT": "5"})


class LocalServer:
    """A PostgreSQL server in a temporary directory, on a Unix socket only."""

    def __init__(self) -> None:
        """Only the directories: the socket directory exists before a container mounts it."""
        self.root = Path(tempfile.mkdtemp(prefix="pipeline-smoke-pg-"))
        self.data, self.socket_dir = self.root / "data", self.root / "socket"
        self.started = False
        self.socket_dir.mkdir()
        for directory in (self.root, self.socket_dir):
            directory.chmod(0o755)   # the container's asterisk user connects through it
            if os.geteuid() == 0:
                try:
                    account = pwd.getpwnam(SERVER_USER)
                except KeyError:
                    shutil.rmtree(self.root, ignore_errors=True)
                    raise SmokeError(f"no '{SERVER_USER}' user to run PostgreSQL as "
                                     "(install the Debian package postgresql)") from None
                os.chown(directory, account.pw_uid, account.pw_gid)

    @property
    def admin(self) -> Database:
        """The superuser connection, from the host; known before the server starts."""
        return Database(host=str(self.socket_dir), port=5432, name="postgres", user="postgres",
                        password="", mount=str(self.socket_dir),
                        container_host=CONTAINER_SOCKET_DIR)

    def _as_server_user(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        return ["runuser", "-u", SERVER_USER, "--", *args]

    def start(self) -> Database:
        _run(self._as_server_user([tool("initdb"), "-D", str(self.data), "-U", "postgres",
                                   "-A", "trust", "--no-sync", "--no-instructions",
                                   "-E", "UTF8", "--locale=C"]), timeout=60)
        # Superuser by trust for this harness; every other role needs its password.
        (self.data / "pg_hba.conf").write_text("local all postgres trust\n"
                                               "local all all scram-sha-256\n")
        options = f"-c listen_addresses= -k {self.socket_dir} -p 5432 -F"
        _run(self._as_server_user([tool("pg_ctl"), "-D", str(self.data), "-l",
                                   str(self.root / "postgresql.log"), "-o", options,
                                   "-w", "-t", "20", "start"]), timeout=30)
        self.started = True
        return self.admin

    def log_text(self) -> str:
        path = self.root / "postgresql.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        try:
            if self.started:
                _run(self._as_server_user([tool("pg_ctl"), "-D", str(self.data), "-m",
                                           "immediate", "-w", "-t", "20", "stop"]), timeout=30)
        finally:
            self.started = False
            shutil.rmtree(self.root, ignore_errors=True)


def from_dsn(dsn: str) -> Database:
    """A server named by a libpq URI: postgresql://USER:PASSWORD@HOST:PORT/DATABASE.

    The user must be allowed to create databases and roles (CREATEDB CREATEROLE, or a
    superuser); the smoke test creates its own role and database there and drops them
    afterwards.
    """
    url = urllib.parse.urlsplit(dsn)
    if url.scheme not in ("postgres", "postgresql") or not url.hostname:
        raise ConfigurationError(f"--postgres {dsn!r} is not a PostgreSQL URI; "
                                 "use postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    return Database(host=url.hostname, port=url.port or 5432,
                    name=url.path.lstrip("/") or "postgres",
                    user=urllib.parse.unquote(url.username or "postgres"),
                    password=urllib.parse.unquote(url.password or ""))


def prepare(admin: Database, database: Database, schema_sql: str) -> None:
    """`database` and its role, new, with the PJSIP realtime schema, owned by that role.

    admin needs CREATEDB and CREATEROLE (or is a superuser). Giving a new database to
    another role needs membership in it (PostgreSQL 15: "must be member of role"; 16: able
    to SET ROLE to it), which a CREATEROLE role does not have by itself: granted first.
    """
    psql(admin, f"CREATE ROLE \"{database.user}\" LOGIN PASSWORD '{database.password}'")
    psql(admin, f"GRANT \"{database.user}\" TO CURRENT_USER")
    psql(admin, f"CREATE DATABASE \"{database.name}\" OWNER \"{database.user}\"")
    start = time.monotonic()
    psql(database, schema_sql)
    log.debug(f"realtime schema applied to {database.name} in {time.monotonic() - start:.1f}s")


def drop(admin: Database, database: Database) -> None:
    psql(admin, f"DROP DATABASE IF EXISTS \"{database.name}\" WITH (FORCE)")
    psql(admin, f"DROP ROLE IF EXISTS \"{database.user}\"")


def add_endpoint(database: Database, name: str, password: str, *, context: str) -> None:
    """An endpoint, its auth and its AOR: rows in ps_endpoints, ps_auths and ps_aors only."""
    psql(database, endpoint_sql(name, password, context=context))


def endpoint_sql(name: str, password: str, *, context: str) -> str:
    """add_endpoint's rows as SQL, for a server reached some other way (psql in a container)."""
    return f"""
        INSERT INTO ps_aors (id, max_contacts, remove_existing) VALUES ('{name}', 1, 'yes');
        INSERT INTO ps_auths (id, auth_type, username, password)
            VALUES ('{name}', 'userpass', '{name}', '{password}');
        INSERT INTO ps_endpoints (id, aors, auth, context, disallow, allow, direct_media,
                                  rtp_symmetric, force_rport, rewrite_contact, dtmf_mode)
            VALUES ('{name}', '{name}', '{name}', '{context}', 'all', 'alaw,ulaw', 'no',
                    'yes', 'yes', 'yes', 'rfc4733');
    """
