"""The documented `docker run` commands mount every volume the image declares, so that no
state is left in an anonymous volume that the next `docker run` would not find."""

import re

import pytest

from tests.conftest import ROOT

DOCKERFILE = ROOT / "dockerfiles" / "asterisk" / "Dockerfile"
READMES = [ROOT / "dockerfiles" / "asterisk" / "README.md", ROOT / "README.md"]


def declared_volumes() -> set[str]:
    found = re.search(r"^VOLUME \[(.*)\]$", DOCKERFILE.read_text(), re.MULTILINE)
    assert found, "no VOLUME line in the Dockerfile"
    return set(re.findall(r'"([^"]+)"', found.group(1)))


def docker_runs(text: str) -> list[str]:
    """Each `docker run` of the shell blocks, continuation lines joined."""
    blocks = re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
    commands = [command for block in blocks for command in block.replace("\\\n", " ").splitlines()]
    return [command for command in commands if command.lstrip().startswith("docker run -d")]


def test_the_image_declares_four_volumes():
    assert declared_volumes() == {"/etc/asterisk", "/var/lib/asterisk", "/var/spool/asterisk",
                                  "/var/log/asterisk"}


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_readme_runs_the_image_with_every_volume(readme):
    runs = docker_runs(readme.read_text())
    assert runs, f"no `docker run -d` in {readme}"
    for command in runs:
        mounted = set(re.findall(r"-v \S+:(/[^\s:]+)", command))
        assert declared_volumes() <= mounted, f"{readme}: {command!r} mounts only {sorted(mounted)}"
