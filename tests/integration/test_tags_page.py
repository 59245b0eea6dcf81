"""docs/tags.md holds exactly the supported-tags page that `pipeline tags` renders for the
pinned stand-in mirror (PIPELINE_MIRROR, default http://127.0.0.1:8088), for the day the
page names. Refresh it with the command docs/tags.md gives:
`PIPELINE_MIRROR=http://127.0.0.1:8088 .venv/bin/pipeline tags --write docs/tags.md`."""

import difflib

from pipeline import tagspage
from pipeline.cli import main
from tests.conftest import ROOT

DOC = ROOT / "docs" / "tags.md"


def test_docs_tags_md_holds_the_page_rendered_from_the_plan(mirror, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_MIRROR", mirror)
    monkeypatch.delenv("PIPELINE_RELEASES", raising=False)
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
