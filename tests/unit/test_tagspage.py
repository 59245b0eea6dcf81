"""The supported-tags page (pipeline/tagspage.py) from the repository's matrix.yaml and the
real release lists: which tags are supported or deprecated on a given day, in which order,
and the page inside a file between its markers."""

import dataclasses
import datetime

import pytest

from pipeline import tagspage
from pipeline.cli import main
from pipeline.errors import ConfigurationError
from pipeline.matrix import load
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex
from tests.conftest import CERTIFIED_FILE, RELEASES_FILE, ROOT

FILES = f"file:{RELEASES_FILE},{CERTIFIED_FILE}"


def plan_on(day, *specs):
    matrix = load(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": FILES})
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), specs, variants=["plain"])
    return dataclasses.replace(plan, on=datetime.date.fromisoformat(day))


def split(day, *specs):
    found = tagspage.rows(plan_on(day, *specs))
    return ([r.target.id for r in found if not r.deprecated], [r.target.id for r in found if r.deprecated])


@pytest.mark.parametrize("day, supported, deprecated", [
    # before 18's end of life: every series supported
    ("2025-10-19", ["23.4.1", "22.10.1", "20.20.1", "18.26.4", "22.8-cert3", "20.7-cert11"], []),
    # 18 past its end of life (2025-10-20): deprecated, 20 only gets security fixes
    ("2026-11-28", ["23.4.1", "22.10.1", "20.20.1", "22.8-cert3", "20.7-cert11"], ["18.26.4"]),
    # 20 (and its certified line, which takes 20's dates) past 2027-10-19; 23 past 2027-10-15
    ("2027-10-19", ["22.10.1", "22.8-cert3"], ["23.4.1", "20.20.1", "18.26.4", "20.7-cert11"]),
])
def test_supported_and_deprecated_on_a_day(day, supported, deprecated):
    assert split(day) == (supported, deprecated)


def test_variants_of_one_release_stay_together_in_the_matrix_order():
    matrix = load(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": FILES})
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), ["22.x", "20-cert"])
    assert [r.target.id for r in tagspage.rows(plan)] == ["22.10.1", "22.10.1-opus",
                                                         "20.7-cert11", "20.7-cert11-opus"]


def test_the_markdown_page():
    page = tagspage.markdown(plan_on("2026-11-28"))
    assert page.startswith("## Supported tags\n\nSupport status on 2026-11-28, from Asterisk's")
    supported, deprecated = page.split("## Deprecated tags")
    assert "| `22.10.1` `22.10` `22` `lts` | 22.10.1 | 22.x | LTS, supported until 2028-10-16 | plain " \
        "| linux/amd64, linux/arm64 |" in " ".join(supported.split())
    assert "`18.26.4`" not in supported and "`18.26.4` `18.26` `18`" in deprecated
    assert "| 2025-10-20 |" in " ".join(deprecated.split())
    assert "`docker.io/asteriskpipeline/asterisk:<tag>`" in supported
    assert tagspage.as_of(page) == datetime.date(2026, 11, 28)
    assert page == tagspage.markdown(plan_on("2026-11-28"))     # nothing but the day varies


def test_no_deprecated_series_says_so():
    page = tagspage.markdown(plan_on("2026-11-28", "22.x"))
    assert page.endswith("## Deprecated tags\n\nNone: every series built is supported.\n")


def test_the_page_between_the_markers():
    document = f"# Title\n\nintro\n\n{tagspage.BEGIN}\nold\n{tagspage.END}\n\nrest\n"
    updated = tagspage.embed(document, "## new\n", where="x.md")
    assert updated == f"# Title\n\nintro\n\n{tagspage.BEGIN}\n## new\n{tagspage.END}\n\nrest\n"
    assert tagspage.embedded(updated, where="x.md") == "## new\n"
    assert tagspage.embed(updated, "## new\n", where="x.md") == updated


def test_a_file_without_markers_is_refused():
    with pytest.raises(ConfigurationError, match=r"x.md: no '<!-- pipeline tags: begin"):
        tagspage.embed("# no markers\n", "page", where="x.md")


# ----------------------------------------------------------------------------- the command

@pytest.fixture
def releases(monkeypatch):
    monkeypatch.setenv("PIPELINE_RELEASES", FILES)


def test_cli_prints_the_page(releases, capsys):
    assert main(["tags", "--markdown", "--on", "2026-11-28", "--matrix", str(ROOT / "matrix.yaml")]) == 0
    assert capsys.readouterr().out == tagspage.markdown(dataclasses.replace(
        make_plan(*_matrix_and_index()), on=datetime.date(2026, 11, 28)))


def _matrix_and_index():
    matrix = load(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": FILES})
    return matrix, ReleaseIndex(matrix.releases, matrix.sources)


def test_cli_terminal_table_marks_deprecated_tags(releases, capsys):
    assert main(["tags", "18.x", "22.x", "--variant", "plain", "--on", "2026-11-28",
                 "--matrix", str(ROOT / "matrix.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "support status on 2026-11-28"
    row = next(line for line in out.splitlines() if line.startswith("| 18.26.4"))
    assert "DEPRECATED: end of life since 2025-10-20" in row


def test_cli_writes_the_page_into_a_file(releases, tmp_path, capsys):
    doc = tmp_path / "tags.md"
    doc.write_text(f"# Tags\n\n{tagspage.BEGIN}\n{tagspage.END}\n")
    args = ["tags", "--write", str(doc), "--on", "2026-11-28", "--matrix", str(ROOT / "matrix.yaml")]
    assert main(args) == 0
    assert "tags page updated" in capsys.readouterr().err
    assert tagspage.embedded(doc.read_text(), where="") == tagspage.markdown(dataclasses.replace(
        make_plan(*_matrix_and_index()), on=datetime.date(2026, 11, 28)))
    assert main(args) == 0
    assert "already up to date" in capsys.readouterr().err


def test_cli_bad_day_and_missing_markers(releases, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["tags", "--on", "28/11/2026"])
    assert exit_.value.code == 2
    assert "'28/11/2026' is not a day; write it as YYYY-MM-DD" in capsys.readouterr().err
    doc = tmp_path / "plain.md"
    doc.write_text("# no markers\n")
    assert main(["tags", "--write", str(doc), "--matrix", str(ROOT / "matrix.yaml")]) == 2
    assert f"error: {doc}: no '<!-- pipeline tags: begin" in capsys.readouterr().err
    assert doc.read_text() == "# no markers\n"


# ----------------------------------------------------------------------------- matrix key

def test_hub_api_only_on_a_docker_hub_entry(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text("series: [{spec: 22.x}]\nregistries:\n"
                    "  - {name: hub, type: dockerhub, repository: o/a, hub_api: 'http://127.0.0.1:9'}\n"
                    "  - {name: oci, type: oci, repository: r.example/a, hub_api: 'http://127.0.0.1:9'}\n")
    with pytest.raises(ConfigurationError, match=r"registries\[1\]\.hub_api: 'http://127.0.0.1:9' for type 'oci'"):
        load(path, environ={})
    path.write_text("series: [{spec: 22.x}]\nregistries:\n"
                    "  - {name: hub, type: dockerhub, repository: o/a, hub_api: 'http://127.0.0.1:9'}\n")
    assert load(path, environ={}).registries[0].hub_api == "http://127.0.0.1:9"


# ----------------------------------------------------------------------------- publish's description

@pytest.mark.parametrize("registries, mode, wanted", [
    ((), "publish", True),                 # the matrix's dockerhub entry is published to
    ((), "merge", True),                   # CI's merge job tags, so it describes too
    ((), "by-digest", False),              # CI's build jobs tag nothing
    (("ecr", "ghcr"), "publish", False),   # no Docker Hub registry in this run
])
def test_publish_describes_docker_hub_with_the_whole_matrix(releases, registries, mode, wanted):
    from pipeline import cli, publish

    matrix, index = _matrix_and_index()
    page = cli._tags_page(matrix, publish.Options(registries=registries, mode=mode))
    if not wanted:
        assert page == ""
        return
    # whatever the run selected: the page of every series (on the day it runs)
    assert page == tagspage.markdown(make_plan(matrix, index))
    assert "`20.7-cert11` `20.7-cert` `20-cert`" in page and "`18.26.4` `18.26` `18`" in page
