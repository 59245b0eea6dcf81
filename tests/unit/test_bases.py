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
