"""A command run in a container to its end through python-on-whales, seen as a user at a
terminal sees it: the exit code, stdout and stderr apart, also when it fails.

python-on-whales' `docker.run(...)` returns stdout only and lets stderr through uncaptured,
and `docker.execute(...)` strips the output's last line break and raises DockerException
when the command fails. These helpers give both streams as they were written and the exit
code as one Exited, so a test can assert on a refusal's code and message as well as on a
success's output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import uuid
from collections.abc import Iterable, Sequence

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException


@dataclasses.dataclass(frozen=True)
class Exited:
    code: int | None     # None: still running after the time allowed (then removed)
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(docker: DockerClient, image: str, command: Sequence[str] = (), *, seconds: float = 60,
        **options) -> Exited:
    """`docker run --rm IMAGE COMMAND` (options as for docker.run), attached to its end.

    A container still running after `seconds` (an entrypoint that should have refused its
    settings, say) is removed, and reported with code None, instead of hanging the test."""
    name = options.pop("name", None) or f"test-run-{uuid.uuid4().hex[:8]}"
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        with contextlib.suppress(DockerException):   # it ended meanwhile
            docker.container.remove(name, force=True, volumes=True)

    timer = threading.Timer(seconds, stop)
    stream = docker.run(image, list(command), name=name, remove=True, stream=True, **options)
    timer.start()
    try:
        done = collect(stream)
    finally:
        timer.cancel()
    return dataclasses.replace(done, code=None) if stopped.is_set() else done


def execute(docker: DockerClient, container: str, command: Sequence[str], **options) -> Exited:
    """`docker exec CONTAINER COMMAND` (options as for docker.execute), to its end."""
    return collect(docker.execute(container, list(command), stream=True, **options))


def collect(stream: Iterable[tuple[str, bytes]]) -> Exited:
    """A python-on-whales output stream (stream=True), read to its end."""
    streams = {"stdout": b"", "stderr": b""}
    code = 0
    try:
        for source, chunk in stream:
            streams[source] += chunk
    except DockerException as error:   # raised once the command has ended, if it failed
        code = error.return_code
    stdout, stderr = (streams[name].decode(errors="replace") for name in ("stdout", "stderr"))
    return Exited(code, stdout, stderr)
