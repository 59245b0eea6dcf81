import pytest

from pipeline.bases import split


@pytest.mark.parametrize("reference, parts", [
    ("debian:trixie-slim", ("registry-1.docker.io", "library/debian", "trixie-slim")),
    ("debian", ("registry-1.docker.io", "library/debian", "latest")),
    ("docker.io/library/debian:12", ("registry-1.docker.io", "library/debian", "12")),
    ("me/base:1.0", ("registry-1.docker.io", "me/base", "1.0")),
    ("127.0.0.1:5000/debian:trixie-slim", ("127.0.0.1:5000", "debian", "trixie-slim")),
    ("localhost/debian", ("localhost", "debian", "latest")),
    ("ghcr.io/org/base/slim:v2", ("ghcr.io", "org/base/slim", "v2")),
    ("registry.example:8443/a/b", ("registry.example:8443", "a/b", "latest")),
    ("debian:trixie-slim@sha256:" + "a" * 64, ("registry-1.docker.io", "library/debian", "sha256:" + "a" * 64)),
])
def test_split(reference, parts):
    assert split(reference) == parts


# ----------------------------------------------------------------------------- where digests come from

from pipeline.bases import Policy  # noqa: E402
from pipeline.errors import ConfigurationError  # noqa: E402


@pytest.mark.parametrize("environ, publishing, policy", [
    ({}, False, Policy(offline=False, local_fallback=True)),        # build: registry, else local
    ({}, True, Policy(offline=False, local_fallback=False)),        # publish: registry only
    ({"PIPELINE_OFFLINE": "0"}, True, Policy(offline=False, local_fallback=False)),
    ({"PIPELINE_OFFLINE": "1"}, True, Policy(offline=True, local_fallback=True)),   # stand-ins
    ({"PIPELINE_OFFLINE": "1"}, False, Policy(offline=True, local_fallback=True)),
])
def test_policy(environ, publishing, policy):
    assert Policy.for_run(environ, publishing=publishing) == policy


@pytest.mark.parametrize("value", ["yes", "true", " 1", "2"])
def test_policy_refuses_other_values(value):
    with pytest.raises(ConfigurationError, match=f"PIPELINE_OFFLINE={value!r}: use 1"):
        Policy.for_run({"PIPELINE_OFFLINE": value}, publishing=True)


# ----------------------------------------------------------------------------- the local base as an OCI layout

import io  # noqa: E402
import tarfile  # noqa: E402

from pipeline.bases import layout  # noqa: E402
from pipeline.errors import SourceError  # noqa: E402


def archive(path, members: list[tuple[str, bytes, bytes]]) -> None:
    """A tar file of (name, tar type, content or link target): what `docker save` writes, or worse."""
    with tarfile.open(path, "w") as tar:
        for name, kind, content in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = content.decode()
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content) if kind == tarfile.REGTYPE else None)


class Saving:
    """Stands in for the Docker client: `image.save` writes the given members (an engine
    cannot run in a unit test)."""

    def __init__(self, members):
        self.image, self.members = self, members

    def save(self, digest, output):
        archive(output, self.members)


DIGEST = "sha256:" + "b" * 64
LAYOUT = [("blobs/", tarfile.DIRTYPE, b""), ("blobs/sha256/", tarfile.DIRTYPE, b""),
          ("blobs/sha256/" + "a" * 64, tarfile.REGTYPE, b"{}"), ("index.json", tarfile.REGTYPE, b"{}"),
          ("oci-layout", tarfile.REGTYPE, b'{"imageLayoutVersion": "1.0.0"}')]


# With and without tarfile's data filter: Python before 3.11.4 (Debian 12's python3 is 3.11.2)
# has none, and extractall(filter="data") was a TypeError there.
@pytest.fixture(params=["filter", "no filter"])
def python(request, monkeypatch):
    if request.param == "no filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return request.param


def test_a_saved_image_becomes_an_oci_layout(tmp_path, python):
    found = layout(Saving(LAYOUT), DIGEST, tmp_path / "bases")
    assert found == tmp_path / "bases" / DIGEST.replace(":", "-")
    assert (found / "oci-layout").read_text() == '{"imageLayoutVersion": "1.0.0"}'
    assert (found / "blobs" / "sha256" / ("a" * 64)).read_text() == "{}"


@pytest.mark.parametrize("member", [
    ("../outside", tarfile.REGTYPE, b"x"),
    ("/tmp/outside", tarfile.REGTYPE, b"x"),
    ("blobs/link", tarfile.SYMTYPE, b"/etc/passwd"),
    ("blobs/fifo", tarfile.FIFOTYPE, b""),
])
def test_what_docker_save_never_writes_is_refused(tmp_path, python, member):
    with pytest.raises(SourceError, match=f"{member[0]!r} is not a file or directory inside"):
        layout(Saving([*LAYOUT, member]), DIGEST, tmp_path / "bases")
    assert list((tmp_path / "bases").iterdir()) == []     # nothing unpacked is left
