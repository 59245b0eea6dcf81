import textwrap
from pathlib import Path

import pytest

from pipeline.core import VARIANTS
from pipeline.errors import ConfigurationError
from pipeline.matrix import load

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
series:
  - spec: "22.x"
registries:
  - name: hub
    type: dockerhub
    repository: me/asterisk
"""


def write(tmp_path, text):
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_repository_matrix_is_valid():
    matrix = load(ROOT / "matrix.yaml", environ={})
    assert [s.spec.text for s in matrix.series] == ["18.x", "20.x", "22.x", "23.x", "22.8-cert", "20.7-cert"]
    assert all(s.variants == (VARIANTS["plain"], VARIANTS["opus"]) for s in matrix.series)
    assert all(s.platforms == ("linux/amd64", "linux/arm64") for s in matrix.series)
    assert {r.type for r in matrix.registries} == {"dockerhub", "ecr", "oci"}
    [ghcr] = [r for r in matrix.registries if r.name == "ghcr"]
    assert ghcr.image.startswith("ghcr.io/") and ghcr.image == ghcr.image.lower()
    assert (ghcr.username_env, ghcr.password_env) == ("GITHUB_ACTOR", "GITHUB_TOKEN")
    assert matrix.sources.mirror == ""
    assert matrix.releases.source == "listing"
    assert matrix.signing.method == "keyless"     # publish.yml's merge job: GitHub's OIDC identity


def test_max_age_applies_to_every_series_unless_one_says_otherwise(tmp_path):
    import datetime

    text = ("defaults:\n  max_age: 7d\nseries:\n  - spec: '22.x'\n  - spec: '20.x'\n"
            "    max_age: 36h\n")
    first, second = load(write(tmp_path, text), environ={}).series
    assert first.max_age == datetime.timedelta(days=7)
    assert second.max_age == datetime.timedelta(hours=36)
    assert load(write(tmp_path, GOOD), environ={}).series[0].max_age is None


def test_defaults_fill_a_minimal_matrix(tmp_path):
    matrix = load(write(tmp_path, GOOD), environ={})
    series = matrix.series[0]
    assert series.base_image == "debian:trixie-slim"
    assert series.variants == (VARIANTS["plain"], VARIANTS["opus"])
    assert matrix.registries[0].image == "docker.io/me/asterisk"


def test_environment_points_at_stand_ins(tmp_path):
    matrix = load(write(tmp_path, GOOD), environ={
        "PIPELINE_MIRROR": "http://127.0.0.1:8088",
        "PIPELINE_RELEASES": "file:/a.txt,/b.txt"})
    assert matrix.sources.url("https://downloads.asterisk.org/pub/x.tar.gz") == \
        "http://127.0.0.1:8088/downloads.asterisk.org/pub/x.tar.gz"
    assert matrix.releases.source == "file"
    assert matrix.releases.files == (Path("/a.txt"), Path("/b.txt"))


def test_without_a_mirror_urls_are_upstream(tmp_path):
    matrix = load(write(tmp_path, GOOD), environ={})
    assert matrix.sources.url("https://example.org/x") == "https://example.org/x"


def test_ecr_image_name(tmp_path):
    matrix = load(write(tmp_path, GOOD + """
  - name: aws
    type: ecr
    repository: asterisk
    region: eu-west-1
    account: "123456789012"
"""), environ={})
    assert matrix.registries[1].image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/asterisk"


@pytest.mark.parametrize("text, message", [
    ("", "matrix.yaml: the matrix is empty; add a 'series:' list"),
    ("series: []", "matrix.yaml: series: the matrix has no series; add at least one"),
    ("registries: []", "matrix.yaml: series: missing; add 'series:'"),
    ("serie:\n  - spec: 22.x", "matrix.yaml: serie: unknown key; did you mean 'series'?"),
    ("series:\n  - spec: 22.x\n    varaints: [plain]",
     "matrix.yaml: series[0].varaints: unknown key; did you mean 'variants'?"),
    ("series:\n  - spec: 22.x\n    platforms: [linux/amd46]",
     "matrix.yaml: series[0].platforms[0]: unknown value 'linux/amd46'; did you mean 'linux/amd64'?"),
    ("series:\n  - spec: 22.x\n    platforms: [windows]",
     "matrix.yaml: series[0].platforms[0]: unknown value 'windows'; allowed: linux/amd64, linux/arm64"),
    ("series:\n  - spec: 22.x\n    variants: [opus, opus]",
     "matrix.yaml: series[0].variants: duplicate entries"),
    ("series:\n  - spec: 22.x\n    variants: []",
     "matrix.yaml: series[0].variants: empty list; name at least one of plain, opus"),
    ("series:\n  - spec: 22.x.1", "matrix.yaml: series[0].spec: '22.x.1' is not a version spec; use '22.x'"),
    ("series:\n  - spec: 22.x\n  - spec: 22.x",
     "matrix.yaml: series[1].spec: duplicate series '22.x' (also series[0])"),
    ("series:\n  - spec: 22.x\n    platforms: linux/amd64",
     "matrix.yaml: series[0].platforms: expected list, got str 'linux/amd64'; write a list here"),
    ("series:\n  - 22.x", "matrix.yaml: series[0]: expected a mapping, got str '22.x'"),
    ("series:\n  - spec: [22.x]", "matrix.yaml: series[0].spec: expected str, got list"),
    ("series: {spec: 22.x}", "matrix.yaml: series: expected list, got dict"),
    ("series:\n  - spec: 22.x\ndefaults:\n  base_imag: x",
     "matrix.yaml: defaults.base_imag: unknown key; did you mean 'base_image'?"),
    ("series:\n  - spec: 22.x\nreleases:\n  source: lsting",
     "matrix.yaml: releases.source: unknown value 'lsting'; did you mean 'listing'? allowed: listing, github, file"),
    ("series:\n  - spec: 22.x\nreleases:\n  source: file",
     "matrix.yaml: releases.files: no release-list file given"),
    ("series:\n  - spec: 22.x\nsources:\n  asterisk: ftp://x",
     "matrix.yaml: sources.asterisk: 'ftp://x' is not an http(s) URL"),
    ("series:\n  - spec: 22.x\nregistries:\n  - name: a\n    type: quay\n    repository: x",
     "matrix.yaml: registries[0].type: unknown value 'quay'; allowed: dockerhub, ecr, oci"),
    ("series:\n  - spec: 22.x\ndefaults:\n  max_age: 7 days",
     "matrix.yaml: defaults.max_age: '7 days' is not an age; write a number and a unit: 12h, 7d or 2w"),
    ("series:\n  - spec: 22.x\n    max_age: 0d",
     "matrix.yaml: series[0].max_age: '0d' is not an age"),
    ("series:\n  - spec: 22.x\nregistries:\n  - name: a\n    type: ecr\n    repository: x\n"
     "    region: eu-west-1\n    account: 1234",
     "matrix.yaml: registries[0].account: '1234' is not a 12-digit AWS account id"),
    ("series:\n  - spec: 22.x\nregistries:\n  - name: a\n    type: oci\n    repository: r.example/x\n"
     "    region: eu-west-1",
     "matrix.yaml: registries[0].region: 'eu-west-1' for type 'oci'; give region on a 'ecr' entry only"),
    ("series:\n  - spec: 22.x\nsources:\n  opus_codec_sha256: abc",
     "matrix.yaml: sources.opus_codec_sha256: expected dict, got str 'abc'"),
    ("series:\n  - spec: 22.x\nregistries:\n  - type: oci\n    repository: x",
     "matrix.yaml: registries[0].name: missing"),
    ("series:\n  - spec: 22.x\n bad: indent", "matrix.yaml: line 3: not valid YAML"),
    ("series:\n  - spec: 22.x\nsigning:\n  method: keylss",
     "matrix.yaml: signing.method: unknown value 'keylss'; did you mean 'keyless'?"),
    ("series:\n  - spec: 22.x\nsigning:\n  method: key",
     "matrix.yaml: signing: method 'key' with no key; name the private key in exactly one of key_env"),
    ("series:\n  - spec: 22.x\nsigning:\n  method: key\n  key_env: K\n  key_file: k.key",
     "matrix.yaml: signing: method 'key' with key_env and key_file"),
    ("series:\n  - spec: 22.x\nsigning:\n  method: keyless\n  key_env: K",
     "matrix.yaml: signing: key_env given for method 'keyless'; use method: key, or remove them"),
    ("series:\n  - spec: 22.x\nsigning:\n  method: key\n  key_env: '-----BEGIN ENCRYPTED'",
     "matrix.yaml: signing.key_env: '-----BEGIN ENCRYPTED' is not a variable name; write the name"),
    ("series:\n  - spec: 22.x\nsigning:\n  metod: key",
     "matrix.yaml: signing.metod: unknown key; did you mean 'method'?"),
    ("series:\n  - spec: 22.x\nrunners:\n  linux/arm: ubuntu-24.04-arm",
     "matrix.yaml: runners.linux/arm: unknown value 'linux/arm'; did you mean 'linux/arm64'?"),
    ("series:\n  - spec: 22.x\nrunners:\n  linux/arm64: [ubuntu-24.04]",
     "matrix.yaml: runners.linux/arm64: ['ubuntu-24.04'] is not a runner label; write a GitHub runner label"),
])
def test_bad_input_names_file_key_and_fix(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as raised:
        load(path, environ={})
    text = str(raised.value)
    assert str(path.parent) in text
    assert message in text
    assert "\n" not in text  # one line to read
    assert raised.value.exit_code == 2


def test_bad_environment_override_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match=r"\$PIPELINE_RELEASES: releases.source: unknown value 'ftp'"):
        load(write(tmp_path, GOOD), environ={"PIPELINE_RELEASES": "ftp:x"})


def test_missing_file(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read the matrix file"):
        load(tmp_path / "nope.yaml", environ={})


def test_runners_default_to_x86_64_and_can_be_native(tmp_path):
    """Every platform on ubuntu-24.04 unless the matrix says otherwise (docs/ci.md)."""
    assert load(write(tmp_path, "series:\n  - spec: 22.x\n"), environ={}).runners == {
        "linux/amd64": "ubuntu-24.04", "linux/arm64": "ubuntu-24.04"}
    native = load(write(tmp_path, "series:\n  - spec: 22.x\nrunners:\n  linux/arm64: ubuntu-24.04-arm\n"),
                  environ={})
    assert native.runners == {"linux/amd64": "ubuntu-24.04", "linux/arm64": "ubuntu-24.04-arm"}
