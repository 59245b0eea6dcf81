"""The pure parts of publishing, as tables: where a registry entry's API is, what a tag's
image says, the manifest cache, digest files, options and summaries. No Docker, no network.
(The tag decisions are in test_tags.py; the HTTP client's retries in test_distribution.py.)"""

import textwrap

import pytest

from pipeline import cli, connect, digests, modes, redaction, registries, registry_types, report
from pipeline.core import VARIANTS, Release, Target
from pipeline.distribution import Descriptor, ImageInfo, PlatformPush
from pipeline.errors import ConfigurationError, PublishError
from pipeline.matrix import load
from pipeline.outcomes import Outcome, check
from pipeline.registry_types import Registry
from pipeline.versions import Version

INPUTS = "a" * 64
BOTH = ("linux/amd64", "linux/arm64")


def target(version="22.10.1", variant="plain"):
    release = Release(version=Version.parse(version), tarball_url="https://x/a.tar.gz", checksum_urls=())
    return Target(series="22.x", release=release, variant=VARIANTS[variant], platforms=BOTH,
                  base_image="debian:trixie-slim", tags=(version, "22"))


def labels(version, inputs=INPUTS):
    return {"org.asterisk.version": version, "org.asterisk-pipeline.inputs": inputs,
            "org.opencontainers.image.title": "asterisk"}


# ----------------------------------------------------------------------------- reading a registry

@pytest.mark.parametrize("entry, location", [
    ({"type": "dockerhub", "repository": "me/asterisk"}, ("registry-1.docker.io", "me/asterisk")),
    ({"type": "dockerhub", "repository": "debian"}, ("registry-1.docker.io", "library/debian")),
    ({"type": "oci", "repository": "ghcr.io/me/asterisk"}, ("ghcr.io", "me/asterisk")),
    ({"type": "oci", "repository": "127.0.0.1:5000/a/b"}, ("127.0.0.1:5000", "a/b")),
    ({"type": "ecr", "repository": "asterisk", "region": "eu-west-1", "account": "123456789012"},
     ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "asterisk")),
    ({"type": "ecr", "repository": "asterisk", "region": "eu-west-1", "account": "123456789012",
      "host": "127.0.0.1:5000"}, ("127.0.0.1:5000", "asterisk")),
])
def test_api_location(entry, location):
    assert registry_types.api_location(Registry(name="r", **entry)) == location


def test_current_from_an_index_and_from_one_platform():
    index = ImageInfo(digest="sha256:ab", platforms=BOTH,
                      labels={p: labels("22.10.1") for p in BOTH})
    current = registries.current_from(index)
    assert (current.digest, current.platforms, str(current.version), current.inputs) == (
        "sha256:ab", BOTH, "22.10.1", INPUTS)
    single = registries.current_from(ImageInfo(digest="sha256:cd", platforms=("linux/amd64",),
                                               labels={"linux/amd64": labels("22.10.1")}))
    assert single.platforms == ("linux/amd64",) and single.inputs == INPUTS
    assert str(single.version) == "22.10.1"


def test_labels_count_only_when_every_platform_agrees():
    mixed = registries.current_from(ImageInfo(
        digest="sha256:ef", platforms=BOTH,
        labels={"linux/amd64": labels("22.10.1"), "linux/arm64": labels("22.9.0", "b" * 64)}))
    assert mixed.version is None and mixed.inputs == ""
    foreign = registries.current_from(ImageInfo(digest="sha256:01", platforms=("linux/amd64",),
                                                labels={"linux/amd64": {}}))
    assert foreign.version is None and foreign.inputs == ""
    garbled = registries.current_from(ImageInfo(digest="sha256:02", platforms=("linux/amd64",),
                                                labels={"linux/amd64": labels("twenty-two")}))
    assert garbled.version is None


def test_the_manifest_cache_keeps_only_our_labels_and_survives_a_bad_file(tmp_path):
    path = tmp_path / "cache.json"
    cache = registries.ManifestCache(path)
    cache.put(ImageInfo(digest="sha256:ab", platforms=BOTH, labels={p: labels("22.10.1") for p in BOTH}))
    cache.save()
    again = registries.ManifestCache(path).get("sha256:ab")
    assert again is not None and again.platforms == BOTH
    assert again.labels["linux/arm64"] == {"org.asterisk.version": "22.10.1",
                                           "org.asterisk-pipeline.inputs": INPUTS}
    path.write_text("{not json")
    assert registries.ManifestCache(path).get("sha256:ab") is None


def test_secrets_are_redacted(monkeypatch):
    """A secret kept by whoever saw it (a login, the signer) is scrubbed from messages and
    from the reasons the summary shows."""
    monkeypatch.setattr(redaction, "_SECRETS", set())
    redaction.keep_secret("hunter2")
    assert redaction.redact("login failed: hunter2 rejected") == "login failed: *** rejected"
    outcome = Outcome(target(), Registry(name="hub", type="dockerhub", repository="me/asterisk"))
    outcome.fail("hub: login failed: hunter2\nrejected")
    assert outcome.reason == "hub: login failed: *** rejected"


# ----------------------------------------------------------------------------- digest files, summary

def test_digest_files_round_trip(tmp_path):
    registry = Registry(name="hub", type="dockerhub", repository="me/asterisk")
    manifest = Descriptor(media_type="application/vnd.oci.image.manifest.v1+json",
                          digest="sha256:" + "2" * 64, size=1234, platform="linux/arm64")
    provenance = Descriptor(media_type="application/vnd.oci.image.manifest.v1+json",
                            digest="sha256:" + "3" * 64, size=566, platform="unknown/unknown",
                            annotations={"vnd.docker.reference.digest": manifest.digest,
                                         "vnd.docker.reference.type": "attestation-manifest"})
    pushed = digests.Pushed(PlatformPush(manifest, (provenance,)), labels("22.10.1"))
    path = digests.write(tmp_path, target(), registry, pushed)
    assert path == tmp_path / "22.10.1" / "hub" / "linux-arm64"
    assert digests.read(tmp_path, target(), registry) == {"linux/arm64": pushed}
    for garbage in ("sha256:" + "2" * 64,                                   # not what a build job writes
                    path.read_text().replace(', "labels"', ', "unlabelled"')):   # an older one's
        path.write_text(garbage)
        with pytest.raises(PublishError, match="not a digest file written by"):
            digests.read(tmp_path, target(), registry)


CREATED = "org.opencontainers.image.created"


def descriptor_files(directory, made: dict) -> None:
    """The digest files of build jobs: made is {(registry, platform): labels}."""
    for (name, platform), values in made.items():
        manifest = Descriptor(media_type="application/vnd.oci.image.manifest.v1+json",
                              digest="sha256:" + "4" * 64, size=1, platform=platform)
        digests.write(directory, target(), Registry(name=name, type="oci", repository=f"r/{name}"),
                      digests.Pushed(PlatformPush(manifest), values))


ONE = {**labels("22.10.1"), CREATED: "2026-12-07T10:17:00Z"}


@pytest.mark.parametrize("made, expected", [
    ({}, None),                                              # no job pushed: decided as usual
    ({("a", "linux/amd64"): ONE}, ONE),                      # one platform: the merge says what is missing
    ({("a", p): ONE for p in BOTH} | {("b", p): ONE for p in BOTH}, ONE),
    ({("a", "linux/amd64"): ONE, ("a", "linux/arm64"): labels("22.10.1", "b" * 64) | {CREATED: ONE[CREATED]}},
     "made different images .*linux/amd64 in a: inputs aaaaaaaaaaaa.*linux/arm64 in a: inputs bbbbbbbbbbbb"),
    ({("a", "linux/amd64"): ONE, ("a", "linux/arm64"): ONE | {CREATED: "2026-12-07T10:20:31Z"}},
     "made different images .*created 2026-12-07T10:17:00Z.*created 2026-12-07T10:20:31Z"),
    ({("a", p): labels("22.10.1") for p in BOTH}, "made different images .*created none"),   # unstamped
], ids=["none", "one-platform", "two-registries", "inputs-differ", "created-differs", "no-created"])
def test_the_merge_takes_what_the_build_jobs_built_when_they_agree(tmp_path, made, expected):
    descriptor_files(tmp_path, made)
    built = modes.built_by_jobs(tmp_path, [Registry(name=n, type="oci", repository=f"r/{n}")
                                             for n in ("a", "b")])
    if isinstance(expected, str):
        with pytest.raises(PublishError, match=expected):
            built(target())
    else:
        assert built(target()) == expected


def test_any_failure_fails_the_run():
    registry = Registry(name="hub", type="dockerhub", repository="me/asterisk")
    ok = Outcome(target(), registry, status="published")
    bad = Outcome(target(variant="opus"), registry)
    bad.fail("hub: push failed\nmore detail")
    assert bad.reason == "hub: push failed more detail"  # whole, on one line: the cause is often last
    assert check([ok]) == 0
    with pytest.raises(PublishError, match=r"1 of 2 .* 22.10.1-opus → hub"):
        check([ok, bad])


@pytest.mark.parametrize("text, cell", [
    ("short reason", "short reason"),
    ("first line\nsecond line", "first line"),
    ("export the registry's username and token (e.g. as CI secrets) or remove username_env",
     "export the registry's username and token (e.g. as CI secrets) or remove…"),
    ("x" * 100, "x" * 79 + "…"),
])
def test_summary_cells_are_cut_at_a_word(text, cell):
    assert report.cut(text) == cell
    assert len(report.cut(text)) <= report.CELL


def test_unknown_registry_selection_is_a_configuration_error():
    hub = Registry(name="hub", type="dockerhub", repository="me/asterisk")
    assert connect.select([hub], []) == [hub]
    with pytest.raises(ConfigurationError, match="--registry 'hib' is not in the matrix; known: hub"):
        connect.select([hub], ["hib"])


# ----------------------------------------------------------------------------- CLI

def test_push_needs_the_smoke_tests(capsys):
    assert cli.main(["build", "22.x", "--push", "--no-smoke"]) == 2
    assert "--push publishes only smoke-tested images" in capsys.readouterr().err


def matrix_file(tmp_path):
    (tmp_path / "releases.txt").write_text("22.10.1\n")
    (tmp_path / "matrix.yaml").write_text(textwrap.dedent("""
        releases: {source: file, files: [releases.txt]}
        series: [{spec: "22.x"}]
        registries: [{name: hub, type: dockerhub, repository: me/asterisk}]
    """))
    return tmp_path / "matrix.yaml"


NOW = "2026-12-07T10:17:00Z"


@pytest.mark.parametrize("args, message", [
    (["--by-digest", "d", "--created", NOW], "--by-digest needs --build-platform"),
    (["--build-platform", "linux/amd64"], "--build-platform goes with --by-digest DIR"),
    (["--by-digest", "d", "--build-platform", "linux/s390x", "--created", NOW],
     "--platform 'linux/s390x' is not supported"),
    (["--by-digest", "d", "--build-platform", "linux/amd64"], "--by-digest needs --created (the `created` of"),
    (["--created", NOW], "--created goes with --by-digest DIR or --merge DIR"),
    (["--merge", ".", "--created", "2026-12-07 10:17"], "--created '2026-12-07 10:17' is not a time"),
    (["--merge", ".", "--created", "2026-12-07T10:17:00+01:00"], "is not a time in the plan's form"),
    (["--merge", ".", "--created", "2026-13-07T10:17:00Z"], "is not a time in the plan's form"),
    (["--merge", ".", "--created", "2999-01-01T00:00:00Z"], "--created '2999-01-01T00:00:00Z' is in the future"),
])
def test_ci_options_are_checked_before_anything_runs(tmp_path, capsys, args, message):
    assert cli.main(["publish", "--matrix", str(matrix_file(tmp_path)), *args]) == 2
    assert message in capsys.readouterr().err


def test_the_matrix_is_found_upwards(tmp_path, monkeypatch):
    path = matrix_file(tmp_path)
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert cli.find_matrix(None, tmp_path / "a" / "b") == path
    assert cli.find_matrix(tmp_path / "x.yaml") == tmp_path / "x.yaml"
    with pytest.raises(ConfigurationError, match="pass --matrix FILE"):
        cli.find_matrix(None, tmp_path.parent.parent.parent / "nowhere-near")


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


def test_a_refused_target_makes_the_run_a_configuration_error():
    """A target refused because a tag would lose a platform exits 2 (the command or the
    matrix must change), even when another failed to publish (9 otherwise)."""
    registry = Registry(name="hub", type="dockerhub", repository="me/asterisk")
    pushed = Outcome(target(), registry)
    pushed.fail("hub: PUT manifest: HTTP 500")
    refused = Outcome(target(variant="opus"), registry)
    refused.fail("22.10.1-opus: refused: ... would take linux/arm64 away", ConfigurationError)
    with pytest.raises(PublishError) as only_push:
        check([pushed])
    assert only_push.value.exit_code == 9
    with pytest.raises(ConfigurationError, match="2 of 2") as both:
        check([pushed, refused])
    assert both.value.exit_code == 2
