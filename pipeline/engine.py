"""The Docker engine this machine runs: the client every command uses, the platform its
containers run natively, and the images it holds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigurationError

if TYPE_CHECKING:
    from python_on_whales import DockerClient, Image


def native_platform() -> str:
    machine = os.uname().machine
    return {"x86_64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64"}.get(
        machine, f"linux/{machine}")


def emulated(platform: str | None) -> bool:
    """Whether containers of this platform run under emulation (QEMU) on this machine."""
    return bool(platform) and platform != native_platform()


def client(config: str | Path | None = None) -> DockerClient:
    """The Docker client every command uses (python-on-whales, the `docker` CLI underneath)."""
    from python_on_whales import DockerClient

    return DockerClient(config=str(config) if config else None)


def local_image(docker: DockerClient, reference: str) -> Image:
    """reference's image in the local engine, inspected; ConfigurationError naming it when it
    is not there (nothing is ever pulled)."""
    from python_on_whales.exceptions import NoSuchImage

    try:
        return docker.image.inspect(reference)
    except NoSuchImage:
        raise ConfigurationError(f"no image {reference} in the local Docker engine: build it "
                                 "(`pipeline build`) or pull it first") from None
