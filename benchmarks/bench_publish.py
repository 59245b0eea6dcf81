"""Publish benchmark: a scheduled run over the whole matrix when every tag is up to date.

    python benchmarks/bench_publish.py [--reruns 3]

The repository's matrix.yaml (every series and variant, the real release lists from
../shared/fixtures as PIPELINE_RELEASES=file:...), with its two registries replaced by local
Debian docker-registry processes (one with basic auth, one without), as
tests/integration/test_publish.py's test_scheduled_run_over_the_whole_matrix_when_up_to_date
sets it up. The images are tiny (a file on top of the base image) but built, smoke-tested,
pushed and tagged by the pipeline's own code (publish.connected, publish.publish). One
first publish, then --reruns runs when everything is up to date: they must only read.
Writes its figures to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from python_on_whales import DockerClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import write_section  # noqa: E402
from pipeline import build, publish  # noqa: E402
from pipeline.errors import SmokeError  # noqa: E402
from pipeline.matrix import load  # noqa: E402
from pipeline.plan import make_plan  # noqa: E402
from pipeline.releases import ReleaseIndex  # noqa: E402
from tests.integration.registry import start_registry  # noqa: E402
from tests.integration.tiny_image import TINY_DOCKERFILE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
RELEASE_FILES = ("asterisk-releases.txt", "asterisk-certified-releases.txt")
REPOSITORY = "asterisk"
IMAGE_NAME = "bench-publish"
USER, PASSWORD = "pipeline", "bench-Pa55-w0rd"


def tiny_build(directory: Path) -> tuple[Path, Path, str]:
    """(Dockerfiles dir, `sources` context, sha256 of its stand-in release tarball)."""
    dockerfiles, context = directory / "dockerfiles", directory / "sources"
    dockerfiles.mkdir(parents=True)
    context.mkdir()
    (dockerfiles / "Dockerfile").write_text(TINY_DOCKERFILE)
    marker = directory / "README"
    marker.write_text("a stand-in for an Asterisk release tarball\n")
    with tarfile.open(context / "asterisk.tar.gz", "w:gz") as tar:
        tar.add(marker, arcname="asterisk/README")
    return dockerfiles, context, hashlib.sha256((context / "asterisk.tar.gz").read_bytes()).hexdigest()


@dataclasses.dataclass(kw_only=True)
class CountingBuilder(publish.Builder):
    """The pipeline's Builder, counting the images it builds (a rerun must build none)."""

    builds: int = 0

    def build_and_smoke(self, *args, **kwargs) -> str:
        self.builds += 1
        return super().build_and_smoke(*args, **kwargs)


def version_smoke(docker, image, target, logs) -> None:
    """The tests' minimal real smoke test: the image runs and knows its version."""
    out = docker.run(image, remove=True)
    if out.strip() != str(target.version):
        raise SmokeError(f"{image} says {out.strip()!r}, expected {target.version}")


def local_matrix(directory: Path, hub, ecr):
    """matrix.yaml with the real release lists and the two local registries."""
    releases = "file:" + ",".join(str(FIXTURES / name) for name in RELEASE_FILES)
    matrix = load(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": releases})
    directory.mkdir(parents=True)
    (directory / "releases.txt").write_text("22.10.1\n")
    (directory / "matrix.yaml").write_text(f"""\
releases: {{source: file, files: [releases.txt]}}
registries:
  - {{name: hub, type: oci, repository: {hub.host}/{REPOSITORY},
     username_env: BENCH_REGISTRY_USER, password_env: BENCH_REGISTRY_PASSWORD}}
  - {{name: ecr, type: oci, repository: {ecr.host}/{REPOSITORY}}}
series: [{{spec: "22.x"}}]
""")
    local = load(directory / "matrix.yaml", environ={})
    return dataclasses.replace(matrix, registries=local.registries, path=local.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    build.OUT = work / "out"              # build logs of the first publish stay in the scratch dir
    docker = DockerClient(config=str(work / "docker-config"))   # logins stay in the benchmark
    environ = {"BENCH_REGISTRY_USER": USER, "BENCH_REGISTRY_PASSWORD": PASSWORD}
    hub = ecr = None
    try:
        hub = start_registry(work / "hub", username=USER, password=PASSWORD)
        ecr = start_registry(work / "ecr")
        matrix = local_matrix(work / "matrix", hub, ecr)
        plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources))
        dockerfiles, context, digest = tiny_build(work / "tiny")
        builder = CountingBuilder(matrix=matrix, dockerfiles=dockerfiles, image_name=IMAGE_NAME,
                                 smoke=version_smoke, prepare=lambda target: context,
                                 checksum=lambda release: digest)

        def once() -> tuple[float, list[publish.Outcome]]:
            start = time.monotonic()
            with publish.connected(docker, plan.registries, base_dir=matrix.path.parent,
                                   environ=environ) as (client, sessions, unreachable):
                outcomes = publish.publish(client, plan, sessions, builder, unreachable=unreachable)
            seconds = time.monotonic() - start
            publish.report(outcomes)
            return seconds, outcomes

        load_before = os.getloadavg()[0]
        first, outcomes = once()
        statuses = {o.status for o in outcomes}
        if statuses != {"published"}:
            raise SystemExit(f"the first publish did not publish everything: {statuses}")
        first_builds, builder.builds = builder.builds, 0
        reruns = []
        for _ in range(args.reruns):
            seconds, outcomes = once()
            statuses = {o.status for o in outcomes}
            if statuses != {publish.CURRENT}:
                raise SystemExit(f"a rerun found something to do: {statuses}")
            reruns.append(seconds)
        load_after = os.getloadavg()[0]
        tags_per_registry = sum(len(t.tags) for t in plan.targets)
        registries = len(plan.registries)
        series = ", ".join(dict.fromkeys(t.series for t in plan.targets))
        body = f"""
| figure | whole matrix ({len(plan.targets)} targets: {series} × plain/opus) | target |
|---|---|---|
| targets × registries | {len(plan.targets)} × {registries} = {len(plan.targets) * registries} | |
| tags read per run | {tags_per_registry} per registry, {tags_per_registry * registries} in all | |
| platforms per image | {', '.join(plan.targets[0].platforms)} | |
| first publish ({first_builds} images built and smoke-tested, pushed, tagged) | {first:.0f} s | |
| reruns, everything up to date ({args.reruns}) | {', '.join(f'{s:.1f} s' for s in reruns)} | ≤ 30 s |
| rerun median | {statistics.median(reruns):.1f} s | ≤ 30 s |
| images built during the reruns | {builder.builds} | 0 |

A rerun builds nothing: per target it computes the inputs digest, reads every tag in both
registries (`docker buildx imagetools inspect`, {publish.INSPECT_WORKERS} at a time) and
finds them all up to date; it also logs in to both registries. The matrix is the
repository's matrix.yaml (its series, variants, platforms and tag rules, releases from the
real lists in shared/fixtures via `PIPELINE_RELEASES=file:…`) with its registries replaced
by two local Debian `docker-registry` processes on loopback (one with basic auth, like
Docker Hub; one without, standing in for ECR, whose login through the AWS API is not
measured). The images are the integration tests' tiny stand-ins built by the same code
(build.build_image with a Dockerfile of the same stages and arguments), so the first
publish time is not that of real Asterisk builds (and BuildKit's cache on this machine
may already hold their layers from earlier runs: it is not pruned, other work shares it);
the reruns do the same reads as with real images. Load average (1 min) before the first
publish: {load_before:.2f}, after the reruns: {load_after:.2f}.
"""
        write_section("publish", f"python benchmarks/bench_publish.py --reruns {args.reruns}", body)
        print(body)
    finally:
        for registry in (hub, ecr):
            if registry:
                registry.stop()
        names = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                                IMAGE_NAME], capture_output=True, text=True, check=False).stdout.split()
        if names:
            subprocess.run(["docker", "image", "rm", *names], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
