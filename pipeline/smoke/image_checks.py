"""Checks of the image itself: our versions of the three tests docker-library runs on every
official image (docker-library/official-images, test/config.sh `globalTests`: tests/utc,
tests/no-hard-coded-passwords, tests/override-cmd). Each runs the image once or twice
with `docker run` and places no call; like the call checks, one returns a one-line detail
when it passes and raises CheckFailed with the reason when it does not.

- utc: `date +%Z` with the image's own /etc/localtime (its entrypoint bypassed, as
  docker-library does) prints UTC: a container without TZ keeps UTC time.
- no-hard-coded-passwords: no account of /etc/passwd or /etc/shadow (read as root) has a
  password. Stricter than docker-library, which fails only on a crypt hash (`$id$...`)
  and lets the rest pass with a warning at most: here an empty password field (anyone may
  `su` to the account), a locked hash (`!$6$...`, one `passwd -u` away) and any other
  value also fail. `*`, `!`, `!!`, `!*` and `x` (see /etc/shadow) are "no password".
  Hashes are never shown, only their algorithm.
- override-cmd: `docker run IMAGE echo Hello-...` prints exactly that line through the
  image's own entrypoint (and `--entrypoint echo` does too): the image runs the command it
  is given, as every official image must. A command that is still running after a while
  (an entrypoint that starts Asterisk whatever it is asked) fails too.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, cast

from python_on_whales.exceptions import DockerException

from .. import log
from ..engine import emulated
from .instance import EMULATED_SLOWDOWN, LABEL, CheckFailed, owner

if TYPE_CHECKING:
    from python_on_whales import DockerClient

RUN_SECONDS = 30.0         # one `docker run` of the image, natively (longer under QEMU)


class Run:
    """The image to check: runs it to its end (bounded), stdout and stderr apart."""

    def __init__(self, docker: DockerClient, image: str, platform: str | None = None) -> None:
        self.docker, self.image, self.platform = docker, image, platform

    def __call__(self, command: list[str], *, entrypoint: str | None = None,
                 user: str | None = None) -> tuple[int, str, str]:
        """Exit code, stdout, stderr of `docker run [--entrypoint E] [--user U] IMAGE COMMAND`."""
        seconds = RUN_SECONDS * (EMULATED_SLOWDOWN if emulated(self.platform) else 1)
        shown = " ".join([*([f"--entrypoint {entrypoint}"] if entrypoint else []),
                          *([f"--user {user}"] if user else []), self.image, *command])
        log.debug(f"docker run {shown}")
        name = f"pipeline-smoke-image-{secrets.token_hex(4)}"
        try:
            self.docker.container.create(self.image, command, name=name, entrypoint=entrypoint,
                                         user=user, networks=["none"], platform=self.platform,
                                         labels={LABEL: owner()})
            # attached from the start (as `docker run` is): every byte the command wrote is
            # read before it counts as ended; logs read after the exit could still be empty
            chunks: list[tuple[str, bytes]] = []

            def attach() -> None:
                with contextlib.suppress(DockerException):    # a non-zero exit: inspected below
                    stream = self.docker.container.start(name, attach=True, stream=True)
                    for source, chunk in cast(Iterable[tuple[str, bytes]], stream):
                        chunks.append((source, chunk))

            reader = threading.Thread(target=attach, daemon=True)
            reader.start()
            reader.join(seconds)
            if reader.is_alive():
                raise CheckFailed(f"`docker run {shown}` was still running after "
                                  f"{seconds:.0f}s: the image does not end when its command does")
            state = self.docker.container.inspect(name).state
            if state.running:
                raise CheckFailed(f"`docker run {shown}` was still running after its output ended")
            code = state.exit_code or 0
            out = [chunk.decode(errors="replace") for source, chunk in chunks if source == "stdout"]
            err = [chunk.decode(errors="replace") for source, chunk in chunks if source != "stdout"]
            return code, "".join(out), "".join(err)
        except DockerException as error:
            raise CheckFailed(f"`docker run {shown}` failed: "
                              f"{(error.stderr or str(error)).strip()}") from None
        finally:
            with contextlib.suppress(DockerException):   # never created
                self.docker.container.remove(name, force=True, volumes=True)


ImageCheck = Callable[[Run], str]


def utc(run: Run) -> str:
    code, out, err = run(["+%Z"], entrypoint="date")
    zone = out.strip()
    if code != 0 or zone != "UTC":
        _, localtime, _ = run(["-f", "/etc/localtime"], entrypoint="readlink")
        raise CheckFailed(f"`date +%Z` in the image says {zone or err.strip()!r}, not UTC: "
                          f"/etc/localtime leads to {localtime.strip() or 'nothing'}; without TZ "
                          "the image's time must be UTC")
    return "date +%Z with the image's own /etc/localtime: UTC"


def password_problems(passwd: str, shadow: str) -> list[str]:
    """Accounts that have a password, one line each, hashes left out (pure).

    `passwd` and `shadow`: lines USER:PASSWORD (the first two fields of each file)."""
    fields: dict[str, str] = {}
    for line in passwd.splitlines():
        user, _, password = line.partition(":")
        fields[user] = password
    for line in shadow.splitlines():
        user, _, password = line.partition(":")
        if fields.get(user) == "x":
            fields[user] = password
    problems = []
    for user, password in fields.items():
        if password == "x" or (password and password.lstrip("!") in ("", "*")):
            continue
        if not password:
            problems.append(f"{user} has an empty password (anyone may log in or `su` to it "
                            "without one)")
            continue
        locked = password.startswith("!")
        algorithm = re.match(r"\$([^$]+)\$", password.lstrip("!"))
        kind = f"a password hash (${algorithm.group(1)}$)" if algorithm else "a password field that is no 'no password' marker"
        problems.append(f"{user} has {'a locked ' + kind[2:] if locked else kind}")
    return problems


def no_hard_coded_passwords(run: Run) -> str:
    fields = ["-F", ":", '{ print $1 ":" $2 }']
    code, passwd, err = run([*fields, "/etc/passwd"], entrypoint="awk", user="0:0")
    if code != 0:
        raise CheckFailed(f"cannot read /etc/passwd in the image: {err.strip()}")
    shadow = ""
    if any(line.endswith(":x") for line in passwd.splitlines()):
        code, shadow, err = run([*fields, "/etc/shadow"], entrypoint="awk", user="0:0")
        if code != 0:
            raise CheckFailed(f"accounts point to /etc/shadow (x), which cannot be read: {err.strip()}")
    problems = password_problems(passwd, shadow)
    if problems:
        raise CheckFailed("; ".join(problems))
    accounts = len(passwd.splitlines())
    return f"none of the {accounts} accounts of /etc/passwd and /etc/shadow has a password"


def override_cmd(run: Run) -> str:
    hello = f"Hello world-{secrets.token_hex(4)}"
    code, out, err = run([hello], entrypoint="echo")
    if code != 0 or out.strip() != hello:
        raise CheckFailed(f"`--entrypoint echo` printed {out.strip()!r} (exit {code}; {err.strip()}), "
                          f"not {hello!r}: the image has no working echo")
    code, out, err = run(["echo", hello])
    if code != 0 or out.strip() != hello:
        raise CheckFailed(f"`docker run IMAGE echo {hello}` printed {out.strip()!r} (exit {code}), "
                          "not that line alone: the entrypoint does not run the command it is "
                          f"given as it is{'; it said: ' + err.strip() if err.strip() else ''}")
    return "`docker run IMAGE echo ...` printed its argument, through the image's entrypoint"


IMAGE_CHECKS: dict[str, ImageCheck] = {"utc": utc, "no-hard-coded-passwords": no_hard_coded_passwords,
                                       "override-cmd": override_cmd}
