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
