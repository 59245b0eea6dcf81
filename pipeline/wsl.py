"""`pipeline export-wsl IMAGE -o asterisk.tar`: an image as a WSL 2 distribution.

The tarball is the image's filesystem (`docker export` of a container created from it,
never started) as `wsl --import` takes it, with what WSL needs instead of Docker:

- /etc/wsl.conf: `[boot] command` starts Asterisk at every start of the distribution
  (WSL runs it as root); `[user] default = root`, because the image's `asterisk` user
  has no login shell (Asterisk itself runs as `asterisk`: the image's entrypoint drops
  privileges with setpriv, as in a container);
- /usr/local/sbin/asterisk-wsl-boot: the boot command. It reads /etc/default/asterisk
  (the image's environment variables, e.g. ASTERISK_SIP_PORT), then runs the image's
  entrypoint detached, Asterisk's console output going to /var/log/asterisk/console.log;
- /etc/default/asterisk: the image's own environment (besides PATH) and the variables
  one usually sets, commented out;
- Docker's runtime files are left out (/.dockerenv, the empty /etc/hostname and
  /etc/resolv.conf: WSL writes its own) and /etc/hosts holds localhost until WSL
  generates it.

/etc/asterisk is the image's, which holds the default configuration. docs/wsl2.md
covers import, start, addresses and ports.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from . import log
from .engine import local_image
from .errors import CommandError, ConfigurationError
from .matrix import PLATFORMS

if TYPE_CHECKING:
    from python_on_whales import DockerClient

BOOT_SCRIPT = "usr/local/sbin/asterisk-wsl-boot"
ENTRYPOINT = "usr/local/bin/docker-entrypoint.sh"
SETTINGS = "etc/default/asterisk"
WSL_CONF = "etc/wsl.conf"
CONSOLE_LOG = "/var/log/asterisk/console.log"
DEFAULT_USER = "root"
# What an image of this project must hold for the boot script to work.
REQUIRED = (ENTRYPOINT, "usr/sbin/asterisk", "usr/bin/setpriv", "etc/asterisk/modules.conf")
# Docker's runtime files (bind-mount placeholders), not part of the image.
DOCKER_FILES = {".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf"}
HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
USUAL_SETTINGS = ("ASTERISK_SIP_PORT=5060", "ASTERISK_RTP_START=10000",
                  "ASTERISK_RTP_END=10099", "ASTERISK_EXTERNAL_ADDRESS=",
                  "ASTERISK_LOCAL_NETS=", "ASTERISK_CODECS=")

__all__ = ["boot_script", "describe", "export", "settings_file", "wsl_conf"]


# ---- the files added to the image (pure) -----------------------------------------------

def wsl_conf(image: str) -> str:
    return f"""# Written by `pipeline export-wsl {image}`. WSL reads it at each start of the
# distribution: https://learn.microsoft.com/windows/wsl/wsl-config

[boot]
# Run as root at every start: the image's entrypoint, which writes the configuration
# from /etc/default/asterisk and starts Asterisk as the user asterisk.
command = /{BOOT_SCRIPT}

[user]
# The asterisk user has no login shell; `wsl -d NAME` opens a root shell
# (`asterisk -r` for the Asterisk CLI).
default = {DEFAULT_USER}
"""


def boot_script() -> str:
    return f"""#!/bin/sh
# Starts Asterisk when this WSL distribution starts: /etc/wsl.conf names it as the
# [boot] command, which WSL runs as root. Written by `pipeline export-wsl`.
#
# Settings: /{SETTINGS} (the image's environment variables, e.g. ASTERISK_SIP_PORT).
# The image's entrypoint writes them into /run/asterisk/generated (a tmpfs in WSL: every
# start), then runs Asterisk as the user asterisk. Console output: {CONSOLE_LOG}
# (`asterisk -rvvv` shows it live).
set -eu
if [ -r /{SETTINGS} ]; then
	set -a
	. /{SETTINGS}
	set +a
fi
mkdir -p "$(dirname {CONSOLE_LOG})"
exec setsid -f /{ENTRYPOINT} asterisk -f >>{CONSOLE_LOG} 2>&1 </dev/null
"""


def settings_file(image: str, env: list[str]) -> str:
    own = [entry for entry in env if not entry.startswith("PATH=")]
    lines = [f"# Asterisk settings, read at each start by /{BOOT_SCRIPT}.",
             "# The image's environment variables (see the image's README), for example:"]
    lines += [f"#{entry}" for entry in USUAL_SETTINGS]
    if own:
        lines += [f"# The environment of {image}:"] + own
    return "\n".join(lines) + "\n"


# ---- export ----------------------------------------------------------------------------

def _member_name(name: str) -> str:
    """'./etc/x', '/etc/x' and 'etc/x' are the same path in a tarball."""
    name = name.removeprefix("./").lstrip("/")
    return name.rstrip("/")


def _text_member(name: str, text: str, mode: int) -> tuple[tarfile.TarInfo, IO[bytes]]:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info, io.BytesIO(data)


def _additions(image: str, env: list[str]) -> dict[str, tuple[str, int]]:
    return {WSL_CONF: (wsl_conf(image), 0o644), BOOT_SCRIPT: (boot_script(), 0o755),
            SETTINGS: (settings_file(image, env), 0o644), "etc/hosts": (HOSTS, 0o644)}


def rewrite(source: IO[bytes], destination: IO[bytes], *, image: str, env: list[str]) -> int:
    """The exported filesystem, without Docker's files, plus the WSL files; returns the
    number of members. ConfigurationError if the image lacks what the boot script runs."""
    added = _additions(image, env)
    seen: set[str] = set()
    count = 0
    with tarfile.open(fileobj=source, mode="r|") as exported, \
            tarfile.open(fileobj=destination, mode="w|", format=tarfile.PAX_FORMAT) as out:
        for member in exported:
            name = _member_name(member.name)
            seen.add(name)
            if name in DOCKER_FILES or name in added:
                continue
            out.addfile(member, exported.extractfile(member) if member.isreg() else None)
            count += 1
        missing = [path for path in REQUIRED if path not in seen]
        if missing:
            raise ConfigurationError(
                f"{image} is not an Asterisk image of this project: it has no "
                f"{', '.join('/' + m for m in missing)}")
        for name, (text, mode) in added.items():
            out.addfile(*_text_member(name, text, mode))
            count += 1
    return count


def _check_output(output: Path) -> Path:
    """The temporary file next to `output`, created (so a bad path fails before any work)."""
    if output.is_dir():
        raise ConfigurationError(f"-o {output}: is a directory; name the tarball to write")
    if not output.parent.is_dir():
        raise ConfigurationError(f"-o {output}: the directory {output.parent} does not exist")
    partial = output.parent / f".{output.name}.partial-{secrets.token_hex(4)}"
    try:
        partial.touch(exist_ok=False)
    except OSError as error:
        raise ConfigurationError(f"-o {output}: cannot write there ({error.strerror})") from None
    return partial


def _image_env(docker: DockerClient, image: str) -> list[str]:
    from python_on_whales.exceptions import DockerException

    try:
        config = local_image(docker, image).config
    except DockerException as error:
        raise CommandError(f"docker image inspect {image} failed: {_stderr(error)}") from None
    return list(config.env or [])


def _stderr(error: Exception) -> str:
    text = (getattr(error, "stderr", "") or str(error)).strip()
    return text.splitlines()[-1] if text else str(error)


@contextlib.contextmanager
def _exported(docker: DockerClient, image: str, platform: str | None, directory: Path
              ) -> Iterator[Path]:
    """`docker export` of a container created (not started) from the image, into a
    temporary file in `directory`; yields its path, removes container and file."""
    from python_on_whales.exceptions import DockerException

    name = f"pipeline-export-wsl-{secrets.token_hex(4)}"
    raw = directory / f".{name}.tar"
    try:
        with log.step("docker create " + (f"--platform {platform} " if platform else "") + image):
            try:
                docker.container.create(image, name=name, platform=platform, pull="never")
            except DockerException as error:
                reason = _stderr(error)
                if platform and "No such image" in reason:
                    reason = f"the local image has no {platform} variant ({reason})"
                raise ConfigurationError(f"cannot create a container from {image}: "
                                         f"{reason}") from None
        with log.step("docker export"):
            try:
                docker.container.export(name, raw)
            except DockerException as error:
                raise CommandError(f"docker export of {image} failed: {_stderr(error)}") from None
        yield raw
    finally:
        try:
            if docker.container.exists(name):
                docker.container.remove(name, volumes=True, force=True)
        finally:
            raw.unlink(missing_ok=True)


def export(docker: DockerClient, image: str, output: Path, *, platform: str | None = None) -> int:
    """Write the WSL root filesystem tarball of `image` to `output`; returns its size."""
    if platform and platform not in PLATFORMS:
        raise ConfigurationError(f"--platform {platform!r}: use {' or '.join(PLATFORMS)}")
    output = Path(output)
    env = _image_env(docker, image)
    partial = _check_output(output)
    try:
        with _exported(docker, image, platform, output.parent) as raw, \
                log.step("add the WSL configuration (/etc/wsl.conf, boot command)"), \
                open(raw, "rb") as source, open(partial, "wb") as destination:
            rewrite(source, destination, image=image, env=env)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return output.stat().st_size


def describe(image: str, output: Path, platform: str | None) -> str:
    """What `export-wsl --dry-run` prints: where it would write, and the wsl.conf it adds."""
    return (f"would export {image}{' (' + platform + ')' if platform else ''} to {output}, "
            f"adding /{WSL_CONF}, /{BOOT_SCRIPT}, /{SETTINGS}:\n\n{wsl_conf(image)}")
