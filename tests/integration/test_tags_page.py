"""docs/tags.md holds exactly the supported-tags page that `pipeline tags` renders for the
releases pinned in the stand-in mirror (given as a release list, PIPELINE_RELEASES=file:,
so the page does not depend on which of them this machine's mirror could make), for the
day the page names. Refresh it with the command docs/tags.md gives:
`PIPELINE_MIRROR=http://127.0.0.1:8088 .venv/bin/pipeline tags --write docs/tags.md`."""

import difflib

from pipeline import tagspage
from pipeline.cli import main
from tests.conftest import ROOT
from tests.integration.conftest import PINNED_ALL

DOC = ROOT / "docs" / "tags.md"


def test_docs_tags_md_holds_the_page_rendered_from_the_plan(mirror, monkeypatch, capsys, tmp_path):
    releases = tmp_path / "pinned.txt"
    releases.write_text("".join(f"{version}\n" for version in PINNED_ALL.values()))
    monkeypatch.setenv("PIPELINE_MIRROR", mirror)
    monkeypatch.setenv("PIPELINE_RELEASES", f"file:{releases}")
    committed = tagspage.embedded(DOC.read_text(), where=str(DOC))
    day = tagspage.as_of(committed)
    assert day, f"{DOC}: the page names no day ('Support status on YYYY-MM-DD')"
    assert main(["tags", "--markdown", "--on", day.isoformat(), "--matrix", str(ROOT / "matrix.yaml")]) == 0
    rendered = capsys.readouterr().out
    diff = "".join(difflib.unified_diff(committed.splitlines(True), rendered.splitlines(True),
                                        "docs/tags.md", "pipeline tags --markdown"))
    assert rendered == committed, (
        f"docs/tags.md is not what the plan renders; refresh it with `PIPELINE_MIRROR={mirror} "
        f".venv/bin/pipeline tags --write docs/tags.md --on {day}` (or today):\n{diff}")
