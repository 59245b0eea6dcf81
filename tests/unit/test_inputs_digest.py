"""The inputs digest hashes what the build uses (the Dockerfile and the build context after
.dockerignore), so an edit elsewhere in dockerfiles/asterisk republishes nothing, and an
edit to what the image is made of rebuilds it (issue 23 item 3: a README edit re-pushed the
whole matrix)."""

import shutil

import pytest

from pipeline import image
from pipeline.inputs import context_files, inputs_digest
from pipeline.matrix import load
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex


@pytest.fixture
def target_and_sources(tmp_path):
    (tmp_path / "releases.txt").write_text("22.10.1\n")
    (tmp_path / "matrix.yaml").write_text("releases: {source: file, files: [releases.txt]}\n"
                                          "series: [{spec: 22.x}]\nregistries: []\n")
    matrix = load(tmp_path / "matrix.yaml", environ={})
    return make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources)).targets[0], matrix.sources


@pytest.fixture
def dockerfiles(tmp_path):
    copy = tmp_path / "dockerfiles"
    shutil.copytree(image.DOCKERFILES, copy)
    return copy


def digest(target_and_sources, dockerfiles):
    target, sources = target_and_sources
    return inputs_digest(target, sources, "0" * 64, base_digest="sha256:" + "1" * 64,
                               dockerfiles=dockerfiles)


@pytest.mark.parametrize("edit", [
    lambda d: (d / "README.md").write_text("a better explanation\n"),
    lambda d: (d / ".entrypoint.sh.swp").write_bytes(b"vim swap"),
    lambda d: (d / "entrypoint.sh~").write_text("emacs backup\n"),
    lambda d: (d / "notes.txt").write_text("scratch\n"),
    lambda d: (d / "config" / "..pjsip.conf.un~").unlink(missing_ok=True),
], ids=["README.md", "vim swap file", "backup file", "new untracked file", "nothing"])
def test_an_edit_outside_the_build_context_changes_nothing(target_and_sources, dockerfiles, edit):
    before = digest(target_and_sources, dockerfiles)
    edit(dockerfiles)
    assert digest(target_and_sources, dockerfiles) == before


@pytest.mark.parametrize("edit", [
    lambda d: (d / "entrypoint.sh").write_text((d / "entrypoint.sh").read_text() + "# changed\n"),
    lambda d: (d / "config" / "pjsip.conf").write_text((d / "config" / "pjsip.conf").read_text() + ";\n"),
    lambda d: (d / "config" / "new.conf").write_text("[general]\n"),
    lambda d: (d / "Dockerfile").write_text((d / "Dockerfile").read_text() + "\n# changed\n"),
    lambda d: (d / ".dockerignore").write_text((d / ".dockerignore").read_text() + "!README.md\n"),
], ids=["entrypoint.sh", "a default config file", "a new config file", "Dockerfile", ".dockerignore"])
def test_an_edit_to_what_the_build_uses_rebuilds(target_and_sources, dockerfiles, edit):
    before = digest(target_and_sources, dockerfiles)
    edit(dockerfiles)
    assert digest(target_and_sources, dockerfiles) != before


def test_the_context_is_what_the_dockerfile_copies():
    files = context_files(image.DOCKERFILES)
    assert "README.md" not in files and "Dockerfile" not in files
    assert {"entrypoint.sh", "healthcheck.sh", "runtime-packages.sh", "config/pjsip.conf"} <= set(files)
