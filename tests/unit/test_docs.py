"""The docs stay true: every `pipeline …` command in a fenced shell block of README.md,
docs/ and dockerfiles/asterisk/README.md parses with the real CLI parser, and the exit
codes README.md documents are exactly those of pipeline/errors.py."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.errors import EXIT_CODES
from tests.conftest import ROOT

DOCS = sorted([ROOT / "README.md", ROOT / "dockerfiles" / "asterisk" / "README.md",
               *(ROOT / "docs").glob("*.md")])
SHELL_BLOCK = re.compile(r"^```(sh|bash|console|shell)?[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def shell_lines(text: str) -> list[str]:
    """The commands of every shell block (or block without a language), continuation lines
    joined, comments dropped."""
    lines = []
    for match in SHELL_BLOCK.finditer(text):
        joined = re.sub(r"\\\n\s*", " ", match[2])
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def pipeline_commands(line: str) -> list[list[str]]:
    """The argument lists given to `pipeline` in one shell line (after `&&`, `;`, `|`)."""
    found = []
    for part in re.split(r"&&|\|\||;|\|", line):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            continue
        while words and (ASSIGNMENT.match(words[0]) or words[0] in ("env", "sudo", "time", "exec")):
            words = words[1:]
        if words and Path(words[0]).name == "pipeline":
            found.append(words[1:])
    return found


def documented_commands() -> list[tuple[str, list[str]]]:
    return [(f"{path.relative_to(ROOT)}: {line}", argv) for path in DOCS
            for line in shell_lines(path.read_text()) for argv in pipeline_commands(line)]


def test_the_docs_show_pipeline_commands():
    commands = documented_commands()
    assert len(commands) > 20
    assert {argv[0] for _, argv in commands} >= {"plan", "tags", "build", "smoke", "publish", "export-wsl"}


@pytest.mark.parametrize("where, argv", documented_commands(), ids=lambda value: str(value)[:80])
def test_every_documented_pipeline_command_parses(where, argv, capsys):
    try:
        cli.parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}\n  the CLI rejects it: {capsys.readouterr().err.strip().splitlines()[-1]}")


def test_the_readme_lists_exactly_the_exit_codes():
    text = (ROOT / "README.md").read_text()
    match = re.search(r"Exit codes?:(.*?)\n\n", text, re.DOTALL)
    assert match, "README.md has no 'Exit codes:' paragraph"
    documented = {int(code) for code in re.findall(r"(?<![\w.])(\d+)\s+[a-z]", match[1])}
    assert documented == set(EXIT_CODES.values()), (
        f"README.md documents {sorted(documented)}, pipeline/errors.py has {sorted(EXIT_CODES.values())}")


def test_a_drifted_flag_is_caught():
    """The check itself can fail: a flag the CLI does not have is rejected."""
    [(_, argv)] = [(w, a) for w, a in [("x", c) for c in pipeline_commands(
        "PIPELINE_MIRROR=http://m .venv/bin/pipeline build lts --no-such-flag")]]
    with pytest.raises(SystemExit):
        cli.parser().parse_args(argv)


# ----------------------------------------------------------------------------- image environment

ENTRYPOINT = ROOT / "dockerfiles" / "asterisk" / "entrypoint.sh"
IMAGE_README = ROOT / "dockerfiles" / "asterisk" / "README.md"
VARIABLE = re.compile(r"\b(ASTERISK_[A-Z0-9]+(?:_[A-Z0-9]+)*)\b")
# Names that are not the image's settings: a build argument, compose's own variables, and
# the old name the entrypoint refuses with a pointer to the new one.
NOT_SETTINGS = {"ASTERISK_VERSION", "ASTERISK_IMAGE", "ASTERISK_TAG", "ASTERISK_EC2_METADATA_URL"}


def variables(text: str) -> set[str]:
    return set(VARIABLE.findall(text)) - NOT_SETTINGS


def test_every_variable_the_entrypoint_reads_is_documented():
    read = variables(ENTRYPOINT.read_text())
    assert len(read) > 10
    undocumented = read - variables(IMAGE_README.read_text())
    assert not undocumented, f"dockerfiles/asterisk/README.md does not document {sorted(undocumented)}"


def test_every_documented_variable_exists_in_the_entrypoint():
    read = variables(ENTRYPOINT.read_text())
    for path in [*DOCS, *sorted((ROOT / "deploy").rglob("*"))]:
        if path.is_file() and path.suffix in ("", ".md", ".yaml", ".yml", ".env", ".sh", ".lua", ".conf"):
            unknown = variables(path.read_text(errors="replace")) - read
            assert not unknown, f"{path.relative_to(ROOT)} names {sorted(unknown)}, which the entrypoint does not read"


def settings_table() -> list[list[str]]:
    """The rows of entrypoint.sh's SETTINGS_TABLE: name, checked by, default, written to."""
    text = ENTRYPOINT.read_text()
    table = text[text.index("SETTINGS_TABLE='"):].split("'", 2)[1]
    rows = [[cell.strip() for cell in line.split("|")] for line in table.strip().splitlines()]
    assert rows[0] == ["name", "checked by", "default", "written to"]
    return rows[1:]


def test_the_entrypoints_table_names_every_variable_it_reads_and_a_check_for_each():
    text = ENTRYPOINT.read_text()
    rows = settings_table()
    start = text.index("read_settings() {")
    read_settings = text[start:text.index("\n}\n", start)]
    assert {row[0] for row in rows if row[0].startswith("ASTERISK_")} == variables(text)
    for name, checker, _default, written in rows:
        assert re.search(rf"^{checker}\(\) {{", text, re.MULTILINE), f"{name}: no function {checker}"
        assert re.search(rf"\b{checker}\b", read_settings), f"{name}: read_settings does not call {checker}"
        assert written, f"{name}: the table does not say where it is written"
