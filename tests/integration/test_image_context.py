"""The build context the inputs digest hashes (context_files, by docker-py's
.dockerignore rules) is the one BuildKit sends: exported with a `COPY . /` build of the same
directory, the same files with the same bytes; and a file the Dockerfile COPYs but the
.dockerignore forgot fails the build instead of being silently left out of the digest."""

import shutil
import subprocess

from pipeline import image
from pipeline.inputs import context_files


def buildkit_context(directory, tmp_path):
    """The files of directory as a build's COPY sees them (its .dockerignore applied)."""
    dockerfile = tmp_path / "context.Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY . /\n")
    out = tmp_path / "seen"
    subprocess.run(["docker", "buildx", "build", "-q", "-f", str(dockerfile), "--output",
                    f"type=local,dest={out}", str(directory)], check=True, capture_output=True)
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_buildkit_sees_exactly_the_context_files(tmp_path):
    seen = buildkit_context(image.DOCKERFILES, tmp_path)
    assert set(seen) == set(context_files(image.DOCKERFILES))
    assert all(seen[name] == (image.DOCKERFILES / name).read_bytes() for name in seen)


def test_also_with_files_an_editor_leaves_behind(tmp_path):
    copy = tmp_path / "dockerfiles"
    shutil.copytree(image.DOCKERFILES, copy)
    for name in (".entrypoint.sh.swp", "entrypoint.sh~", "config/.pjsip.conf.swp", "NOTES"):
        (copy / name).write_text("left behind\n")
    seen = buildkit_context(copy, tmp_path)
    assert set(seen) == set(context_files(copy))
    assert "NOTES" not in seen and "entrypoint.sh~" not in seen


def test_a_copied_file_missing_from_the_context_fails_the_build(tmp_path):
    copy = tmp_path / "dockerfiles"
    shutil.copytree(image.DOCKERFILES, copy)
    (copy / "Dockerfile").write_text("FROM scratch\nCOPY healthcheck.sh not-listed.sh /\n")
    (copy / "not-listed.sh").write_text("#!/bin/sh\n")
    done = subprocess.run(["docker", "buildx", "build", "-q", str(copy)], capture_output=True, text=True)
    assert done.returncode != 0 and "not-listed.sh" in done.stderr
