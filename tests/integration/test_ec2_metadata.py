"""ASTERISK_EXTERNAL_ADDRESS=ec2 on the real image, against a stand-in for the EC2 instance
metadata service (tests/integration/imds.py: IMDSv2 as AWS documents it, on a loopback
port; the real one cannot exist here). The image finds it through
AWS_EC2_METADATA_SERVICE_ENDPOINT, as the AWS SDKs do, and runs with host networking to
reach it.

Each case: the address found (session token with its TTL, then the address with the
token; proxy variables ignored), no public address, a token refused, an answer too slow,
no service at all; and the strict mode (ASTERISK_EXTERNAL_ADDRESS_REQUIRED=yes), which
refuses to start where the default mode starts without an address and says why.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
from pathlib import Path

import pytest

from pipeline.smoke.ports import port_is_free
from tests.integration import calls, containers
from tests.integration.imds import Behaviour, Imds
from tests.integration.test_image import wait_booted

# A proxy that does not exist: a lookup that used it would fail.
DEAD_PROXY = "http://127.0.0.1:9"
PROXIES = {name: DEAD_PROXY for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                         "ALL_PROXY", "all_proxy")}


@dataclasses.dataclass
class Start:
    code: int | None       # exit code, None while it runs
    log: str
    transport: str         # `pjsip show transport transport-udp`, if it booted
    generated: list[str]   # files the entrypoint wrote into /run/asterisk/generated


def start(docker, image: str, tmp_path: Path, envs: dict[str, str]) -> Start:
    """The image on the host network, on ports of its own; what it did with the address."""
    ports = calls.PortBlock.allocate(callers=1, rtp_ports=4).asterisk
    run = tmp_path / "run"
    run.mkdir()
    name = f"ec2-metadata-test-{secrets.token_hex(4)}"
    envs = {"ASTERISK_SIP_PORT": str(ports.sip), "ASTERISK_RTP_START": str(ports.rtp_start),
            "ASTERISK_RTP_END": str(ports.rtp_end), **envs}
    docker.run(image, detach=True, name=name, networks=["host"], envs=envs,
               volumes=[(str(run), "/run/asterisk")])
    try:
        deadline = time.monotonic() + 20
        while (state := docker.container.inspect(name).state).running and time.monotonic() < deadline:
            try:
                wait_booted(docker, name, seconds=1)
                break
            except AssertionError:
                continue
        state = docker.container.inspect(name).state
        transport = ""
        if state.running:
            transport = docker.execute(name, ["asterisk", "-rx", "pjsip show transport transport-udp"])
        log = containers.collect(docker.container.logs(name, stream=True))
        generated = sorted(p.name for p in (run / "generated").glob("*")) if (run / "generated").exists() else []
        return Start(None if state.running else state.exit_code, log.output, transport, generated)
    finally:
        docker.container.remove(name, force=True, volumes=True)


def entrypoint_lines(log: str) -> str:
    return "\n".join(line for line in log.splitlines() if line.startswith("entrypoint:"))


def test_the_public_address_is_found_with_imdsv2_and_no_proxy(docker, images, tmp_path):
    with Imds() as imds:
        outcome = start(docker, images["plain"], tmp_path, {
            "ASTERISK_EXTERNAL_ADDRESS": "EC2", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint,
            **PROXIES})
        requests = list(imds.requests)
    assert outcome.code is None, outcome.log
    assert "external_media_address      : 198.51.100.77" in outcome.transport, outcome.transport
    assert "external_signaling_address  : 198.51.100.77" in outcome.transport
    assert f"external address from EC2 instance metadata ({imds.endpoint}): 198.51.100.77" in outcome.log
    # IMDSv2: a token with its TTL first, then the address with that token; nothing proxied.
    assert [(r.method, r.path) for r in requests] == [("PUT", "/latest/api/token"),
                                                      ("GET", "/latest/meta-data/public-ipv4")]
    assert 1 <= int(requests[0].headers["x-aws-ec2-metadata-token-ttl-seconds"]) <= 21600
    assert requests[1].headers["x-aws-ec2-metadata-token"]
    assert not [r for r in requests if "x-forwarded-for" in r.headers or "via" in r.headers]


# (behaviour of the stand-in, or None for no service at all; what the log must say)
FAILURES = {
    "no public address": (Behaviour(public_ipv4=None),
                          "the instance has no public IPv4 address (GET /latest/meta-data/public-ipv4 answered 404)"),
    "token refused": (Behaviour(refuse_tokens=True),
                      "GET /latest/meta-data/public-ipv4 answered HTTP 401"),
    "too slow": (Behaviour(delay_seconds=5),
                 ("the session token request: no answer from {endpoint} within 2s (with bridge "
                  "networking, IMDSv2 needs a metadata hop limit of 2)")),
    "absent": (None, ("the session token request: cannot connect to {endpoint} (not on EC2, "
                      "or its metadata service is off)")),
}


def closed_endpoint() -> str:
    port = calls.PortBlock.allocate(callers=1, rtp_ports=1).base
    assert port_is_free(port)
    return f"http://127.0.0.1:{port}"


def failing(behaviour):
    """A context with the stand-in's endpoint, or a closed port when behaviour is None."""
    if behaviour is not None:
        return Imds(behaviour)

    class Absent:
        endpoint = closed_endpoint()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass
    return Absent()


@pytest.mark.parametrize("case", FAILURES)
def test_without_an_address_it_starts_and_says_why(docker, images, tmp_path, case):
    behaviour, reason = FAILURES[case]
    with failing(behaviour) as imds:
        outcome = start(docker, images["plain"], tmp_path, {
            "ASTERISK_EXTERNAL_ADDRESS": "ec2", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint,
            **PROXIES})
    assert outcome.code is None, outcome.log
    assert re.search(r"^ external_media_address      : $", outcome.transport, re.MULTILINE), outcome.transport
    said = entrypoint_lines(outcome.log)
    expected = ("entrypoint: warning: ASTERISK_EXTERNAL_ADDRESS=ec2 found no address: "
                + reason.format(endpoint=imds.endpoint) + "; starting without an external address")
    assert expected in said, said
    assert "ASTERISK_EXTERNAL_ADDRESS_REQUIRED=yes refuses to start instead" in said
    assert "external address none" in said


@pytest.mark.parametrize("case", ["no public address", "absent"])
def test_the_strict_mode_refuses_to_start(docker, images, tmp_path, case):
    behaviour, reason = FAILURES[case]
    with failing(behaviour) as imds:
        outcome = start(docker, images["plain"], tmp_path, {
            "ASTERISK_EXTERNAL_ADDRESS": "ec2", "ASTERISK_EXTERNAL_ADDRESS_REQUIRED": "yes",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint})
    assert outcome.code == 1, outcome.log
    said = entrypoint_lines(outcome.log)
    assert said == ("entrypoint: error: ASTERISK_EXTERNAL_ADDRESS=ec2 found no address: "
                    + reason.format(endpoint=imds.endpoint)
                    + "; not starting (ASTERISK_EXTERNAL_ADDRESS_REQUIRED=yes)"), said
    assert outcome.generated == [], "the refused start wrote configuration"


def test_the_strict_mode_starts_when_the_address_is_found(docker, images, tmp_path):
    with Imds() as imds:
        outcome = start(docker, images["plain"], tmp_path, {
            "ASTERISK_EXTERNAL_ADDRESS": "ec2", "ASTERISK_EXTERNAL_ADDRESS_REQUIRED": "yes",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint})
    assert outcome.code is None, outcome.log
    assert "external_media_address      : 198.51.100.77" in outcome.transport
