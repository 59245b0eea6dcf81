"""One Asterisk container started for the smoke test: its configuration, ports and
network mode, waiting until it is fully booted, the Asterisk CLI, its log, clean-up.

The test configuration is the image's own /etc/asterisk with the smoke additions of
pipeline/smoke/data/config on top (a new endpoint file in pjsip.d/, contexts appended to
extensions.conf and extensions.lua), mounted as /etc/asterisk. Ports, RTP range and the
external address go through the image's environment variables, as a user would set them.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from python_on_whales.exceptions import DockerException

from .. import log
from ..engine import emulated
from ..errors import SmokeError
from .ports import Ports
from .postgres import Database

if TYPE_CHECKING:
    from python_on_whales import DockerClient

CONFIG = Path(__file__).resolve().parent / "data" / "config"
PASSWORD_TOKEN = "@SMOKE_PASSWORD@"
APPENDED = {"extensions.conf", "extensions.lua"}   # added to the image's file of that name
HOST_ADDRESS = "127.0.0.1"                          # where sipp and the published ports are
LABEL = "org.asterisk-pipeline.smoke"              # its value: the owner (see `owner`)
OWNER_VARIABLE = "PIPELINE_SMOKE_OWNER"
BOOT_TIMEOUT = 20.0
# Under QEMU (an image of another platform), the soft limit of open files is kept at
# FD_SETSIZE: with a higher one, Asterisk probes select() with its highest descriptor at
# start (main/asterisk.c, "Check if select(2) will run with more file descriptors"), and
# QEMU's user-mode select() copies the guest's sets into host fd_sets of FD_SETSIZE bits,
# so its own fortified glibc aborts it ("bit out of range 0 - FD_SETSIZE on fd_set", then
# "cpu_exec: assertion failed"). On the platform's own hardware that probe is harmless.
EMULATED_NOFILE = "nofile=1024:1024"
# How much longer Asterisk may take to boot under QEMU (measured: 131-135 s on 2 loaded
# cores, against 1.5 s natively; docs/benchmarks.md).
EMULATED_SLOWDOWN = 15
MISSING = "pipeline-smoke: no such file"


class CheckFailed(SmokeError):
    """One check failed; the message says why."""


def owner() -> str:
    """Whose smoke containers these are, for a clean-up on a shared host that must remove
    its own only: $PIPELINE_SMOKE_OWNER (e.g. a CI job or a test session), else this host
    and process."""
    return os.environ.get(OWNER_VARIABLE) or f"{socket.gethostname()}-{os.getpid()}"


def local_nets_except(subnet: str, gateway: str) -> list[str]:
    """`subnet` minus `gateway`, as CIDR blocks (pure).

    With published ports, sipp's packets reach the container from the bridge's gateway
    (Docker's proxy for loopback clients). Asterisk rewrites its SDP and Contact to the
    external address only for a peer outside local_net, and only when its own address is
    inside: so the container's network is local, except the gateway.
    """
    network: Any = ipaddress.ip_network(subnet, strict=False)   # IPv4 or IPv6, the gateway alike
    return [str(net) for net in sorted(network.address_exclude(
        ipaddress.ip_network(f"{gateway}/{network.max_prefixlen}")))]


def bridge_local_nets(docker: DockerClient) -> list[str]:
    """ASTERISK_LOCAL_NETS for a container with published ports on Docker's default bridge."""
    config = (docker.network.inspect("bridge").ipam.config or [{}])[0]
    subnet = config.get("Subnet") or config.get("subnet") or "172.17.0.0/16"
    gateway = config.get("Gateway") or config.get("gateway") or str(
        next(ipaddress.ip_network(subnet, strict=False).hosts()))
    return local_nets_except(subnet, gateway)


def image_file(docker: DockerClient, image: str, path: str) -> str | None:
    """A text file of the image, or None if it has no such file."""
    try:
        text = docker.run(image, ["-c", f"cat '{path}' 2>/dev/null || echo {MISSING}"],
                          entrypoint="sh", remove=True)
    except DockerException:
        return None
    return None if text.strip() == MISSING else text


def build_test_config(docker: DockerClient, image: str, destination: Path, *, password: str,
                      overlay: Path = CONFIG) -> Path:
    """The image's /etc/asterisk plus the smoke additions, written to `destination`."""
    holder = docker.container.create(image, name=f"pipeline-smoke-config-{secrets.token_hex(4)}")
    try:
        docker.copy((holder.id, "/etc/asterisk/."), destination)
    finally:
        holder.remove(force=True, volumes=True)
    for source in sorted(p for p in overlay.rglob("*") if p.is_file()):
        relative = source.relative_to(overlay)
        target = destination / relative
        text = source.read_text().replace(PASSWORD_TOKEN, password)
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.as_posix() in APPENDED and target.exists():
            target.write_text(target.read_text() + "\n" + text)
        else:
            target.write_text(text)
    destination.chmod(0o755)
    return destination


@dataclasses.dataclass
class Instance:
    """A planned container: what it runs and how it is reached."""

    label: str                     # e.g. "host", "published", "default-config"
    network: str                   # "host" or "published"
    ports: Ports
    test_config: bool = True
    platform: str | None = None    # e.g. linux/arm64 (under emulation); None: the engine's own
    database: Database | None = None
    name: str = ""
    booted: bool = False
    start_error: str = ""          # why the container could not be started
    mark: datetime.datetime | None = None   # when the running check began (for its log)
    local_nets: list[str] = dataclasses.field(default_factory=list)   # ASTERISK_LOCAL_NETS
    boot_seconds: float = 0.0
    _config_dir: Path | None = None
    _docker: DockerClient | None = None
    _image: str = ""

    @property
    def target(self) -> str:
        return f"{HOST_ADDRESS}:{self.ports.sip}"

    def published(self) -> list[tuple[str, int | str, str]]:
        """`-p` for SIP and, where calls carry media, the RTP range: on loopback only."""
        ports: list[tuple[str, int | str, str]] = [
            (f"{HOST_ADDRESS}:{self.ports.sip}", self.ports.sip, "udp")]
        if self.test_config:
            rtp = f"{self.ports.rtp_start}-{self.ports.rtp_end}"
            ports.append((f"{HOST_ADDRESS}:{rtp}", rtp, "udp"))
        return ports

    def env(self) -> dict[str, str]:
        env = {"ASTERISK_SIP_PORT": str(self.ports.sip),
               "ASTERISK_RTP_START": str(self.ports.rtp_start),
               "ASTERISK_RTP_END": str(self.ports.rtp_end)}
        if self.test_config:
            # SDP and Contact carry the address where the host reaches the ports.
            env["ASTERISK_EXTERNAL_ADDRESS"] = HOST_ADDRESS
            if self.local_nets:
                env["ASTERISK_LOCAL_NETS"] = ",".join(self.local_nets)
        if self.database:
            env |= self.database.env()
        return env

    def start(self, docker: DockerClient, image: str, *, password: str,
              overlay: Path | None = None) -> None:
        self._docker = docker
        self._image = image
        self.name = f"pipeline-smoke-{self.label}-{secrets.token_hex(4)}"
        volumes: list[tuple[str, str]] = []
        if self.test_config:
            self._config_dir = Path(tempfile.mkdtemp(prefix="pipeline-smoke-etc-"))
            build_test_config(docker, image, self._config_dir, password=password,
                              overlay=overlay or CONFIG)
            volumes.append((str(self._config_dir), "/etc/asterisk"))
        if self.database:
            volumes += self.database.volumes()
        if self.network == "published" and self.test_config:
            self.local_nets = bridge_local_nets(docker)
        options: dict = {"networks": ["host"]} if self.network == "host" else {
            "publish": self.published()}
        if emulated(self.platform):
            options["ulimit"] = [EMULATED_NOFILE]
        log.debug(f"docker run -d --name {self.name} {image} ({self.network}, "
                  f"SIP {self.ports.sip}, RTP {self.ports.rtp_start}-{self.ports.rtp_end})")
        try:
            docker.run(image, detach=True, name=self.name, envs=self.env(), volumes=volumes,
                       labels={LABEL: owner()}, platform=self.platform, **options)
        except DockerException as error:
            raise CheckFailed(f"docker run failed: {_docker_error(error)}") from None

    def wait_booted(self, timeout: float | None = None) -> float:
        """Seconds until `core waitfullybooted` answers; CheckFailed if Asterisk exits or
        does not boot in time (BOOT_TIMEOUT, longer under emulation), with the end of the
        container log."""
        assert self._docker
        if timeout is None:
            timeout = BOOT_TIMEOUT * (EMULATED_SLOWDOWN if emulated(self.platform) else 1)
        start = time.monotonic()
        while True:
            state = self._docker.container.inspect(self.name).state
            if not state.running:
                tail = self.log_tail()
                raise CheckFailed(f"Asterisk did not start: the container exited with code "
                                  f"{state.exit_code}: {last_complaint(tail)}\n"
                                  f"its log ends with:\n{tail}")
            try:
                out = self.rx("core waitfullybooted", timeout=max(1, int(timeout)))
                if "fully booted" in out:
                    break
            except DockerException:
                pass
            if time.monotonic() - start > timeout:
                tail = self.log_tail()
                raise CheckFailed(f"Asterisk was not fully booted after {timeout:.0f}s: "
                                  f"{last_complaint(tail)}\nits log ends with:\n{tail}")
            time.sleep(0.1)
        self.boot_seconds = time.monotonic() - start
        self.booted = True
        return self.boot_seconds

    def rx(self, command: str, *, timeout: int = 5) -> str:
        """`asterisk -rx COMMAND` in the container (bounded by `timeout` seconds)."""
        assert self._docker
        log.debug(f"docker exec {self.name} asterisk -rx {command!r}")
        return str(self._docker.container.execute(
            self.name, ["timeout", str(timeout), "asterisk", "-rx", command]))

    def log(self, since: datetime.datetime | None = None) -> str:
        assert self._docker
        try:
            return str(self._docker.container.logs(self.name, since=since))
        except DockerException as error:
            return f"(no container log: {_docker_error(error)})"

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def remove(self) -> None:
        try:
            if self._docker and self.name:
                self._docker.container.remove(self.name, force=True, volumes=True)
        except DockerException as error:
            log.warning(f"could not remove container {self.name}: {_docker_error(error)}")
        finally:
            if self._config_dir:
                self._remove_config_dir(self._config_dir)

    def _remove_config_dir(self, directory: Path) -> None:
        """The image's entrypoint gives the mounted /etc/asterisk to its asterisk user. Root
        deletes it anyway; any other caller first takes it back through a container of the
        image (as root in there), which needs no privilege on the host."""
        shutil.rmtree(directory, ignore_errors=True)
        if not directory.exists() or not self._docker:
            return
        try:
            self._docker.run(self._image, ["-R", f"{os.getuid()}:{os.getgid()}", "/config"],
                             entrypoint="chown", user="0:0", remove=True, platform=self.platform,
                             volumes=[(str(directory), "/config")], labels={LABEL: owner()})
        except DockerException as error:
            log.warning(f"could not take back {directory}: {_docker_error(error)}")
        shutil.rmtree(directory, ignore_errors=True)
        if directory.exists():
            log.warning(f"could not remove {directory}")


def last_complaint(log_text: str) -> str:
    """What a log says went wrong, in one line (pure): its last two WARNING/ERROR lines
    without timestamp and source location (Asterisk's last words before exiting are
    usually the cause, then "ASTERISK EXITING"), else its last line."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    prefix = r"^(?:\[[^\]]*\]\s*)?(ERROR|WARNING)\[\d+\](?:\[[^\]]*\])?:\s*\S+:\d+\s+\S+:\s*"
    found = [re.sub(prefix, r"\1: ", line)
             for line in lines if re.search(r"\b(ERROR|WARNING)\[|\berror\b", line)]
    if found:
        return " / ".join(found[-2:])
    return lines[-1] if lines else "(empty log)"


def _docker_error(error: DockerException) -> str:
    return (error.stderr or error.stdout or str(error)).strip().splitlines()[-1:][0] \
        if (error.stderr or error.stdout) else str(error)
