"""A command run in a container to its end through python-on-whales, seen as a user at a
terminal sees it: the exit code, stdout and stderr apart, also when it fails.

python-on-whales' `docker.run(...)` returns stdout only and lets stderr through uncaptured,
and `docker.execute(...)` strips the output's last line break and raises DockerException
when the command fails. These helpers give both streams as they were written and the exit
code as one Exited, so a test can assert on a refusal's code and message as well as on a
success's output.
"""

from __future__ import annotations

import dataclasses
import time
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
    """`docker run IMAGE COMMAND` (options as for docker.run) until it exits, then removed.

    Started detached and watched, so that a container that does not stop (an entrypoint
    that should have refused its settings, say) is removed and reported after `seconds`
    instead of hanging the test and staying behind."""
    container = docker.run(image, list(command), detach=True, **options)
    try:
        deadline = time.monotonic() + seconds
        while (state := docker.container.inspect(container).state).running and time.monotonic() < deadline:
            time.sleep(0.1)
        logs = collect(docker.container.logs(container, stream=True))
        return Exited(None if state.running else state.exit_code, logs.stdout, logs.stderr)
    finally:
        docker.container.remove(container, force=True, volumes=True)


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
    return Exited(code, streams["stdout"].decode(errors="replace"), streams["stderr"].decode(errors="replace"))
