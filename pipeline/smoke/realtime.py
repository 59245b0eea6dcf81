"""The realtime check's database: a throwaway PostgreSQL (or the server --postgres names), the
image's own PJSIP realtime schema, and an endpoint that exists only as rows there. It is
prepared while the containers start; the containers that use it wait for it before their
first call."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import secrets
import threading
from typing import TYPE_CHECKING

from .. import log
from ..errors import PipelineError
from . import postgres
from .checks import Context, add_realtime_endpoint
from .instance import Instance, image_file

if TYPE_CHECKING:
    from python_on_whales import DockerClient

SCHEMA_PATH = "/usr/share/asterisk/db/postgresql-config.sql"


class Realtime:
    """The realtime check's database. Its name, role and password are chosen first, so the
    container starts with them while the server and schema are being prepared."""

    def __init__(self, dsn: str | None, ctx: Context) -> None:
        self.ctx = ctx
        self.done = threading.Event()
        self.server: postgres.LocalServer | None = None
        self.prepared = False
        self.database: postgres.Database | None = None
        if dsn:
            self.admin = postgres.from_dsn(dsn)
        else:
            try:
                self.server = postgres.LocalServer()
            except PipelineError as error:
                ctx.realtime_problem = f"PostgreSQL for the realtime check: {error}"
                return
            self.admin = self.server.admin
        suffix = secrets.token_hex(4)
        self.database = dataclasses.replace(self.admin, name=f"asterisk_smoke_{suffix}",
                                            user=f"asterisk_smoke_{suffix}",
                                            password=secrets.token_hex(12))

    def attach(self, instance: Instance) -> None:
        """The instance's container gets the database settings (ASTERISK_REALTIME, ...)."""
        if self.database is None:
            return
        host = self.database.host
        loopback = host in ("localhost", "::1") or host.startswith("127.")
        if not self.database.mount and loopback and instance.network != "host":
            self.ctx.realtime_problem = (
                f"the database at {host} is on the host's loopback, which a "
                "container with published ports cannot reach: use --network host or both, "
                "or a DSN with an address the container can reach")
            return
        instance.database = self.database

    def prepare(self, docker: DockerClient, image: str) -> None:
        """Server, schema from the image, test endpoint; `wait` blocks until this is done."""
        try:
            if self.database is None:
                return
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                schema_job = pool.submit(image_file, docker, image, SCHEMA_PATH)
                if self.server:
                    self.server.start()
                schema = schema_job.result()
            if not schema or "ps_endpoints" not in schema:
                self.ctx.realtime_problem = (
                    f"the image has no PJSIP realtime schema at {SCHEMA_PATH} (SQL rendered "
                    "from contrib/ast-db-manage with `alembic -c config.ini upgrade head --sql`)")
                return
            postgres.prepare(self.admin, self.database, schema)
            self.prepared = True
            add_realtime_endpoint(self.ctx, self.database)
        except PipelineError as error:
            self.ctx.realtime_problem = f"PostgreSQL for the realtime check: {error}"
        finally:
            self.done.set()

    def wait(self, timeout: float = 60) -> None:
        if not self.done.wait(timeout):
            self.ctx.realtime_problem = f"PostgreSQL was not ready after {timeout:.0f}s"

    def log_text(self) -> str:
        return self.server.log_text() if self.server else ""

    def close(self) -> None:
        try:
            if self.prepared and not self.server and self.database:
                postgres.drop(self.admin, self.database)
        except PipelineError as error:
            log.warning(f"could not drop the smoke database: {error}")
        finally:
            if self.server:
                self.server.stop()
