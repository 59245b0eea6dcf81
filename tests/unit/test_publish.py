"""The pure parts of publishing, as tables: which tags to create, move, keep or leave; how a
registry's answer is read; how failures are classified and retried. No Docker, no network."""

import textwrap

import pytest
from python_on_whales.exceptions import DockerException

from pipeline import cli, publish, registries
from pipeline.errors import ConfigurationError, PublishError
from pipeline.matrix import Registry, load
from pipeline.plan import Target
from pipeline.registries import Remote
from pipeline.releases import Release
from pipeline.versions import Version

INPUTS, OTHER = "a" * 64, "b" * 64
BOTH = ("linux/amd64", "linux/arm64")


def target(version="22.10.1", tags=("22.10.1", "22.10", "22", "lts", "latest"), variant="plain"):
    release = Release(version=Version.parse(version), tarball_url="https://x/a.tar.gz", checksum_urls=())
    return Target(series="22.x", release=release, variant=variant, platforms=BOTH,
                  base_image="debian:bookworm-slim", tags=tuple(tags))


def remote(version, inputs=INPUTS, platforms=BOTH, digest="sha256:" + "1" * 64):
    return Remote(digest=digest, platforms=platforms,
                  version=Version.parse(version) if version else None, inputs=inputs)


# ----------------------------------------------------------------------------- plan_tags

@pytest.mark.parametrize("state, expected", [
    # nothing in the registry: every tag is created
    ({}, {"22.10.1": "create", "22.10": "create", "22": "create", "lts": "create", "latest": "create"}),
    # everything already there, same inputs: nothing to do (a second run changes nothing)
    ({t: remote("22.10.1") for t in ("22.10.1", "22.10", "22", "lts", "latest")},
     {"22.10.1": "up to date", "22.10": "up to date", "22": "up to date", "lts": "up to date",
      "latest": "up to date"}),
    # the previous patch holds the aliases: they move forward
    ({"22": remote("22.9.0"), "lts": remote("22.9.0"), "latest": remote("22.9.0")},
     {"22.10.1": "create", "22.10": "create", "22": "move", "lts": "move", "latest": "move"}),
    # a newer release already holds them: kept, never moved back
    ({"22": remote("22.11.0"), "lts": remote("22.11.0"), "latest": remote("23.0.0")},
     {"22.10.1": "create", "22.10": "create", "22": "keep", "lts": "keep", "latest": "keep"}),
    # the same version rebuilt from other inputs (e.g. a Dockerfile change): all move
    ({t: remote("22.10.1", inputs=OTHER) for t in ("22.10.1", "22.10", "22", "lts", "latest")},
     {"22.10.1": "move", "22.10": "move", "22": "move", "lts": "move", "latest": "move"}),
    # the full tag lacks a platform: it is pushed again
    ({"22.10.1": remote("22.10.1", platforms=("linux/amd64",))},
     {"22.10.1": "move", "22.10": "create", "22": "create", "lts": "create", "latest": "create"}),
    # an alias on an image without a version label (not ours): left alone
    ({"latest": remote(None, inputs="")},
     {"22.10.1": "create", "22.10": "create", "22": "create", "lts": "create", "latest": "keep"}),
    # only an alias is missing (e.g. a new registry entry was half-filled): just that one
    ({t: remote("22.10.1") for t in ("22.10.1", "22.10", "22", "lts")},
     {"22.10.1": "up to date", "22.10": "up to date", "22": "up to date", "lts": "up to date",
      "latest": "create"}),
])
def test_plan_tags(state, expected):
    actions = publish.plan_tags(target(), INPUTS, state)
    assert {a.tag: a.action for a in actions} == expected


def test_an_older_patch_moves_no_alias_of_a_newer_one():
    old = target("22.9.0", tags=("22.9.0", "22.9", "22", "lts"))
    state = {"22": remote("22.10.1"), "lts": remote("22.10.1")}
    actions = publish.plan_tags(old, INPUTS, state)
    assert [(a.tag, a.action, a.reason) for a in actions] == [
        ("22.9.0", "create", ""), ("22.9", "create", ""),
        ("22", "keep", "points at newer 22.10.1"), ("lts", "keep", "points at newer 22.10.1")]
    assert not publish.full_tag_changes(target(), publish.plan_tags(
        target(), INPUTS, {"22.10.1": remote("22.10.1")}))


def test_versions_compare_as_versions_not_text():
    # "22.9.0" > "22.10.1" as text; as versions 22.10.1 is newer and 22 moves forward
    actions = publish.plan_tags(target(), INPUTS, {"22": remote("22.9.0")})
    assert {a.tag: a.action for a in actions}["22"] == "move"
    pre = publish.plan_tags(target("23.0.0", tags=("23.0.0", "23")), INPUTS,
                            {"23": remote("23.0.0-rc10")})
    assert {a.tag: a.action for a in pre}["23"] == "move"


def test_describe():
    actions = publish.plan_tags(target(), INPUTS, {"22": remote("22.9.0"), "lts": remote("22.11.0")})
    assert publish.describe(actions) == ("22.10.1 create, 22.10 create, 22 move (from 22.9.0), "
                                         "lts keep (points at newer 22.11.0), latest create")


# ----------------------------------------------------------------------------- reading a registry

def config(version, inputs, arch):
    return {"architecture": arch, "os": "linux",
            "config": {"Labels": {"org.asterisk.version": version,
                                  "org.asterisk-pipeline.inputs": inputs}}}


def test_remote_from_an_index():
    data = {"manifest": {"digest": "sha256:ab", "manifests": [{}, {}, {}]},
            "image": {"linux/amd64": config("22.10.1", INPUTS, "amd64"),
                      "linux/arm64/v8": config("22.10.1", INPUTS, "arm64"),
                      "unknown/unknown": {}}}
    assert Remote.from_inspect(data) == Remote(digest="sha256:ab", platforms=BOTH,
                                               version=Version.parse("22.10.1"), inputs=INPUTS)


def test_remote_from_a_single_manifest_and_disagreeing_labels():
    single = Remote.from_inspect({"manifest": {"digest": "sha256:cd"},
                                  "image": config("22.10.1", INPUTS, "amd64")})
    assert single.platforms == ("linux/amd64",) and single.inputs == INPUTS
    mixed = Remote.from_inspect({"manifest": {"digest": "sha256:ef", "manifests": [{}, {}]},
                                 "image": {"linux/amd64": config("22.10.1", INPUTS, "amd64"),
                                           "linux/arm64": config("22.9.0", OTHER, "arm64")}})
    assert mixed.version is None and mixed.inputs == ""
    foreign = Remote.from_inspect({"manifest": {"digest": "sha256:01"},
                                   "image": {"os": "linux", "architecture": "amd64",
                                             "config": {"Labels": None}}})
    assert foreign.version is None and foreign.inputs == ""


@pytest.mark.parametrize("output, kind", [
    ("ERROR: 127.0.0.1:5000/asterisk:22: not found", "not-found"),
    ("ERROR: failed to do request: Head \"http://r/v2/a/manifests/x\": dial tcp 127.0.0.1:5000: "
     "connect: connection refused", "transient"),
    ("failed to do request: Put \"https://r/v2/a/manifests/22\": EOF", "transient"),
    ("ERROR: unexpected status from HEAD request to https://r/v2/a/manifests/x: 503 Service Unavailable",
     "transient"),
    ("net/http: TLS handshake timeout", "transient"),
    ("failed to do request: Put \"https://r/v2/a/manifests/22\": readfrom tcp 127.0.0.1:42706->"
     "127.0.0.1:55689: write tcp 127.0.0.1:42706->127.0.0.1:55689: use of closed network connection",
     "transient"),
    ("toomanyrequests: too many requests", "transient"),
    ("Error response from daemon: login attempt to http://r/v2/ failed with status: 401 Unauthorized",
     "auth"),
    ("denied: requested access to the resource is denied", "auth"),
    ("ERROR: failed to solve: invalid reference format", "other"),
    ("dial tcp: lookup nosuch.example: no such host", "other"),
])
def test_classify(output, kind):
    assert registries.classify(output) == kind


def test_reason_picks_the_error_line_and_hides_secrets(monkeypatch):
    monkeypatch.setattr(registries, "_SECRETS", {"hunter2"})
    output = "#1 pushing\n#1 DONE\nERROR: failed to push: hunter2 rejected\n"
    assert registries.reason(output) == "failed to push: *** rejected"
    assert registries.reason("") == "no output"


# ----------------------------------------------------------------------------- retries

def failure(stderr):
    return DockerException(["docker", "push", "x"], 1, b"", stderr.encode())


def test_transient_failures_are_retried_with_backoff(monkeypatch):
    sleeps, calls = [], []
    monkeypatch.setattr(registries.time, "sleep", sleeps.append)

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise failure("503 Service Unavailable")
        return "done"

    assert registries.retrying("reg: 22.10.1: push", flaky) == "done"
    assert sleeps == [registries.RETRY_DELAY, registries.RETRY_DELAY * 2]


def test_retries_are_bounded_and_the_error_names_the_step(monkeypatch):
    monkeypatch.setattr(registries.time, "sleep", lambda s: None)
    calls = []

    def down():
        calls.append(1)
        raise failure("dial tcp 127.0.0.1:5000: connect: connection refused")

    with pytest.raises(PublishError, match=r"^reg: 22.10.1: push failed after 4 attempts: dial tcp"):
        registries.retrying("reg: 22.10.1: push", down)
    assert len(calls) == registries.RETRY_ATTEMPTS


def test_auth_failures_are_not_retried():
    calls = []

    def denied():
        calls.append(1)
        raise failure("unauthorized: authentication required")

    with pytest.raises(PublishError, match="check the registry's credentials"):
        registries.retrying("reg: login", denied)
    assert len(calls) == 1


# ----------------------------------------------------------------------------- digest files, summary

def test_digest_files_round_trip(tmp_path):
    registry = Registry(name="hub", type="dockerhub", repository="me/asterisk")
    t = target()
    publish.write_digest(tmp_path, t, registry, "linux/arm64", "sha256:" + "2" * 64)
    assert (tmp_path / "22.10.1" / "hub" / "linux-arm64").read_text().strip() == "sha256:" + "2" * 64
    assert publish.read_digests(tmp_path, t, registry) == {"linux/arm64": "sha256:" + "2" * 64}


def test_any_failure_fails_the_run():
    registry = Registry(name="hub", type="dockerhub", repository="me/asterisk")
    ok = publish.Outcome(target(), registry, status="published")
    bad = publish.Outcome(target(variant="opus"), registry)
    bad.fail("hub: push failed\nmore detail")
    assert bad.reason == "hub: push failed more detail"  # whole, on one line: the cause is often last
    assert publish.check([ok]) == 0
    with pytest.raises(PublishError, match=r"1 of 2 .* 22.10.1-opus → hub"):
        publish.check([ok, bad])


def test_unknown_registry_selection_is_a_configuration_error():
    hub = Registry(name="hub", type="dockerhub", repository="me/asterisk")
    assert publish.select_registries([hub], []) == [hub]
    with pytest.raises(ConfigurationError, match="--registry 'hib' is not in the matrix; known: hub"):
        publish.select_registries([hub], ["hib"])


# ----------------------------------------------------------------------------- matrix key, CLI

def test_registry_host_overrides_where_images_go(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent("""
        series: [{spec: "22.x"}]
        registries:
          - {name: ecr, type: ecr, repository: asterisk, region: eu-west-1,
             account: "123456789012", host: "127.0.0.1:5000"}
          - {name: real, type: ecr, repository: asterisk, region: eu-west-1, account: "123456789012"}
    """))
    stand_in, real = load(path, environ={}).registries
    assert stand_in.image == "127.0.0.1:5000/asterisk"
    assert real.image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/asterisk"
    assert registries.registry_host(stand_in) == "127.0.0.1:5000"


def test_push_needs_the_smoke_tests(capsys):
    assert cli.main(["build", "22.x", "--push", "--no-smoke"]) == 2
    assert "--push publishes only smoke-tested images" in capsys.readouterr().err


def test_by_digest_needs_a_build_platform(tmp_path, capsys):
    (tmp_path / "releases.txt").write_text("22.10.1\n")
    (tmp_path / "matrix.yaml").write_text(textwrap.dedent("""
        releases: {source: file, files: [releases.txt]}
        series: [{spec: "22.x"}]
        registries: [{name: hub, type: dockerhub, repository: me/asterisk}]
    """))
    code = cli.main(["publish", "--matrix", str(tmp_path / "matrix.yaml"), "--by-digest", "d"])
    assert code == 2
    assert "--by-digest needs --build-platform" in capsys.readouterr().err
