import dataclasses
import datetime
import json
import textwrap

import pytest

from pipeline.cli import main
from pipeline.errors import NothingToDoError
from pipeline.labels import created_text
from pipeline.matrix import load
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex
from tests.conftest import CERTIFIED_FILE, RELEASES_FILE, ROOT

FILES = f"file:{RELEASES_FILE},{CERTIFIED_FILE}"


@pytest.fixture
def matrix():
    return load(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": FILES})


def plan_for(matrix, *specs, **options):
    return make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), specs, **options)


def test_whole_matrix(matrix):
    plan = plan_for(matrix)
    assert [t.id for t in plan.targets] == [
        "18.26.4", "18.26.4-opus", "20.20.1", "20.20.1-opus",
        "22.10.1", "22.10.1-opus", "23.4.1", "23.4.1-opus",
        "22.8-cert3", "22.8-cert3-opus", "20.7-cert11", "20.7-cert11-opus"]
    by_id = {t.id: t for t in plan.targets}
    assert by_id["22.10.1-opus"].tags == ("22.10.1-opus", "22.10-opus", "22-opus", "lts-opus")
    assert by_id["23.4.1"].tags == ("23.4.1", "23.4", "23", "latest")
    assert by_id["20.7-cert11"].tags == ("20.7-cert11", "20.7-cert", "20-cert")
    assert by_id["22.8-cert3-opus"].tags == ("22.8-cert3-opus", "22.8-cert-opus", "22-cert-opus")


def test_selection_uses_the_matching_series_settings(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent("""
        series:
          - spec: "22.x"
            platforms: [linux/amd64]
            variants: [opus]
    """))
    matrix = load(path, environ={"PIPELINE_RELEASES": FILES})
    assert [(t.id, t.platforms) for t in plan_for(matrix, "lts").targets] == \
        [("22.10.1-opus", ("linux/amd64",))]
    # a release the matrix does not list gets the defaults
    assert [t.id for t in plan_for(matrix, "20.x").targets] == ["20.20.1", "20.20.1-opus"]


def test_selection_filters(matrix):
    plan = plan_for(matrix, "22.x", variants=["plain"], platforms=["linux/arm64"])
    assert [(t.id, t.platforms) for t in plan.targets] == [("22.10.1", ("linux/arm64",))]


def test_certified_and_prerelease_by_name(matrix):
    assert [t.id for t in plan_for(matrix, "22-cert", variants=["plain"]).targets] == ["22.8-cert3"]
    target = plan_for(matrix, "23.4.0-rc1", variants=["plain"]).targets[0]
    assert target.tags == ("23.4.0-rc1",)


def test_two_specs_naming_one_release_give_one_target(matrix):
    assert [t.id for t in plan_for(matrix, "lts", "22.x", variants=["plain"]).targets] == ["22.10.1"]


def test_empty_selection_is_nothing_to_do(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text("series:\n  - spec: 22.x\n    platforms: [linux/amd64]\n")
    matrix = load(path, environ={"PIPELINE_RELEASES": FILES})
    with pytest.raises(NothingToDoError, match="the selection matched no target"):
        plan_for(matrix, "22.x", platforms=["linux/arm64"])


def test_json_is_a_github_actions_matrix(matrix):
    data = dataclasses.replace(plan_for(matrix, "22.x"), on=datetime.date(2026, 11, 28),
                               created=datetime.datetime(2026, 11, 28, 9, 5, tzinfo=datetime.UTC)).as_json()
    assert set(data) == {"include"}
    first = data["include"][0]
    assert first == {
        "id": "22.10.1", "series": "22.x", "version": "22.10.1", "variant": "plain",
        "build_target": "runtime", "platforms": "linux/amd64,linux/arm64",
        "base_image": "debian:trixie-slim",
        "tags": ["22.10.1", "22.10", "22", "lts"],
        "images": [f"docker.io/asteriskpipeline/asterisk:{t}" for t in ["22.10.1", "22.10", "22", "lts"]]
        + [f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/asterisk:{t}"
           for t in ["22.10.1", "22.10", "22", "lts"]]
        + [f"ghcr.io/asterisk-pipeline/asterisk:{t}" for t in ["22.10.1", "22.10", "22", "lts"]],
        "tarball_url": "https://downloads.asterisk.org/pub/telephony/asterisk/releases/asterisk-22.10.1.tar.gz",
        "support": {"status": "supported", "type": "LTS", "security_fix_only": "2028-10-16",
                    "end_of_life": "2029-10-16"},
        "created": "2026-11-28T09:05:00Z",
    }


def test_every_target_and_platform_of_a_plan_gets_its_one_created_time(matrix):
    """CI's jobs stamp their images with the plan's `created` (the same for every entry, to
    the second, UTC), so the platforms of a target, built by different jobs, agree on it."""
    plan = plan_for(matrix, "22.x")
    entries = plan.as_json(per_platform=True)["include"]
    assert len(entries) == 4 and {e["created"] for e in entries} == {created_text(plan.created)}
    assert plan.created.tzinfo is datetime.UTC and plan.created.microsecond == 0


def test_plan_shows_each_series_support_status(capsys, monkeypatch):
    """18.x is past its end of life (2025-10-20) on any day this runs; the others say theirs."""
    monkeypatch.setenv("PIPELINE_RELEASES", FILES)
    assert main(["plan", "--variant", "plain", "--matrix", str(ROOT / "matrix.yaml")]) == 0
    rows = {line.split("|")[1].strip(): line.split("|")[-2].strip()
            for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert rows["target"] == "support"
    assert rows["18.26.4"] == "end of life since 2025-10-20"
    assert rows["22.10.1"].startswith("LTS, ")
    assert rows["23.4.1"].startswith("standard, ") or rows["23.4.1"].startswith("end of life")


def test_cli_plan_json(capsys, monkeypatch):
    monkeypatch.setenv("PIPELINE_RELEASES", FILES)
    assert main(["plan", "--json", "--matrix", str(ROOT / "matrix.yaml")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["include"]) == 12   # 6 series (4 + 2 certified) x 2 variants


def test_cli_bad_matrix_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "matrix.yaml"
    path.write_text("series:\n  - spec: 22.x\n    varaints: [opus]\n")
    assert main(["plan", "--matrix", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: series[0].varaints: unknown key; did you mean 'variants'?\n"


def test_cli_unknown_platform(capsys, monkeypatch):
    monkeypatch.setenv("PIPELINE_RELEASES", FILES)
    assert main(["plan", "--platform", "linux/ppc", "--matrix", str(ROOT / "matrix.yaml")]) == 2
    assert "--platform 'linux/ppc' is not supported" in capsys.readouterr().err


def test_cli_spec_that_matches_nothing(capsys, monkeypatch):
    monkeypatch.setenv("PIPELINE_RELEASES", FILES)
    assert main(["plan", "24.x", "--matrix", str(ROOT / "matrix.yaml")]) == 4
    assert "no release matches '24.x'" in capsys.readouterr().err


def test_json_per_platform_builds_every_platform_on_x86_64_runners_by_default(matrix):
    """The default works in a private repository: arm64 cross-compiled on ubuntu-24.04,
    and marked emulated (its smoke test runs under QEMU there)."""
    entries = plan_for(matrix, "22.x", variants=["opus"]).as_json(per_platform=True)["include"]
    assert [(e["id"], e["platform"], e["runner"], e["emulated"], e["platform_slug"]) for e in entries] == [
        ("22.10.1-opus", "linux/amd64", "ubuntu-24.04", False, "linux-amd64"),
        ("22.10.1-opus", "linux/arm64", "ubuntu-24.04", True, "linux-arm64"),
    ]


def test_json_per_platform_uses_the_runners_of_the_matrix(matrix):
    native = dataclasses.replace(matrix, runners={"linux/amd64": "ubuntu-24.04",
                                                  "linux/arm64": "ubuntu-24.04-arm"})
    entries = plan_for(native, "22.x", variants=["plain"]).as_json(per_platform=True)["include"]
    assert [(e["platform"], e["runner"], e["emulated"]) for e in entries] == [
        ("linux/amd64", "ubuntu-24.04", False), ("linux/arm64", "ubuntu-24.04-arm", False)]
