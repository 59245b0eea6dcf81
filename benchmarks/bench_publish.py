"""Publish benchmark: a scheduled run over the whole matrix when every tag is up to date.

    .venv/bin/python benchmarks/bench_publish.py [--reruns 3] [--write]

The repository's matrix.yaml (every series and variant; the real release lists in
tests/fixtures as PIPELINE_RELEASES=file:...), with its registries replaced by local ones:
Docker Hub by the Docker-Hub-like stand-in (tests/integration/registry.py: token auth,
HEAD not counted as a pull, GET counted) in front of a Debian docker-registry, and ECR by a
plain docker-registry. The images are tiny (a file on top of the base image) but built,
smoke-tested, saved, pushed and tagged by the pipeline's own code (build.Maker,
publish.execute). One first publish, then --reruns runs when everything is up to date,
each with the manifest cache the CI plan job keeps between runs: they must only read, and
Docker Hub must count no pull. The requests are counted at the stand-in, by method.
--write puts the figures into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import write_section  # noqa: E402
from pipeline import engine, publish  # noqa: E402
from pipeline.build import Maker  # noqa: E402
from pipeline.errors import SmokeError  # noqa: E402
from pipeline.matrix import load  # noqa: E402
from pipeline.outcomes import Outcome, summary  # noqa: E402
from pipeline.plan import make_plan  # noqa: E402
from pipeline.releases import ReleaseIndex  # noqa: E402
from tests.conftest import CERTIFIED_FILE, RELEASES_FILE  # noqa: E402
from tests.integration.registry import HubStandIn, start_registry  # noqa: E402
from tests.integration.tiny_image import tiny_prepare, tiny_sources  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "asterisk"
IMAGE_NAME = "bench-publish"
USER, PASSWORD = "pipeline", "bench-Pa55-w0rd"


def local_matrix(directory: Path, hub: HubStandIn, ecr):
    """matrix.yaml with the real release lists, its registries the two local ones."""
    releases = f"file:{RELEASES_FILE},{CERTIFIED_FILE}"
    matrix = load(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": releases})
    directory.mkdir(parents=True)
    (directory / "releases.txt").write_text("22.10.1\n")
    (directory / "matrix.yaml").write_text(f"""\
releases: {{source: file, files: [releases.txt]}}
registries:
  - {{name: dockerhub, type: dockerhub, repository: {USER}/{REPOSITORY}, host: "{hub.host}",
     username_env: BENCH_HUB_USER, password_env: BENCH_HUB_TOKEN}}
  - {{name: ecr, type: oci, repository: {ecr.host}/{REPOSITORY}}}
series: [{{spec: "22.x"}}]
""")
    local = load(directory / "matrix.yaml", environ={})
    return dataclasses.replace(matrix, registries=local.registries, path=local.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="write the figures to docs/benchmarks.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    docker = engine.client()
    environ = {"BENCH_HUB_USER": USER, "BENCH_HUB_TOKEN": PASSWORD}
    upstream = ecr = hub = None
    built: list[str] = []

    def smoke(docker, image_ref, target, platform, logs) -> None:
        """The tests' minimal real smoke test: the image runs and knows its version."""
        built.append(f"{target.id} {platform}")
        out = docker.run(image_ref, remove=True, platform=platform)
        if out.strip() != str(target.version):
            raise SmokeError(f"{image_ref} says {out.strip()!r}, expected {target.version}")

    try:
        upstream = start_registry(work / "hub-upstream")
        hub = HubStandIn(upstream, username=USER, password=PASSWORD)
        ecr = start_registry(work / "ecr")
        matrix = local_matrix(work / "matrix", hub, ecr)
        plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources))
        dockerfiles, context, digest = tiny_sources(work / "tiny")
        maker = Maker(sources=matrix.sources, out=work / "out", image_name=IMAGE_NAME, smoke=smoke,
                      dockerfiles=dockerfiles, prepare=tiny_prepare(context, digest),
                      checksum=lambda release: digest)
        options = publish.Options(manifest_cache=work / "manifest-cache.json")

        def once() -> tuple[float, list[Outcome]]:
            start = time.monotonic()
            outcomes = publish.execute(plan, maker, options, base_dir=matrix.path.parent,
                                       environ=environ, docker=docker)
            seconds = time.monotonic() - start
            summary(outcomes)
            return seconds, outcomes

        load_before = os.getloadavg()[0]
        first, outcomes = once()
        if {o.status for o in outcomes} != {"published"}:
            raise SystemExit(f"the first publish did not publish everything: {[o.reason for o in outcomes]}")
        first_builds = len(built)
        first_counts = collections.Counter(hub.counts)
        built.clear()
        reruns, counts = [], collections.Counter()
        for _ in range(args.reruns):
            hub.counts.clear()
            seconds, outcomes = once()
            if {o.status for o in outcomes} != {"up to date"}:
                raise SystemExit(f"a rerun found something to do: {[o.status for o in outcomes]}")
            reruns.append(seconds)
            counts = collections.Counter(hub.counts)      # the last rerun's requests
        load_after = os.getloadavg()[0]
        tags = sum(len(t.tags) for t in plan.targets)
        series = ", ".join(dict.fromkeys(t.series for t in plan.targets))

        def requests(counter: collections.Counter) -> str:
            return ", ".join(f"{method} {kind}: {n}" for (method, kind), n in sorted(counter.items())) or "none"

        counted = counts[("GET", "manifest")]
        body = f"""
| figure | whole matrix ({len(plan.targets)} targets: {series} × plain/opus) | target |
|---|---|---|
| targets × registries | {len(plan.targets)} × {len(plan.registries)} | |
| tags read per run, per registry | {tags} | |
| platforms per image | {', '.join(plan.targets[0].platforms)} | |
| first publish ({first_builds} images×platforms built and smoke-tested, pushed, tagged) | {first:.0f} s | |
| reruns, everything up to date ({args.reruns}) | {', '.join(f'{s:.1f} s' for s in reruns)} | ≤ 30 s |
| rerun median | {statistics.median(reruns):.1f} s | ≤ 30 s |
| images built during the reruns | {len(built)} | 0 |
| requests at the Docker Hub stand-in, one up-to-date rerun | {requests(counts)} | |
| of them counted by Docker Hub as pulls (manifest GETs) | {counted} | 0 |
| requests at the Docker Hub stand-in, first publish | {requests(first_counts)} | |

A rerun builds nothing: per target it computes the inputs digest and sends one HEAD per
tag to each registry; the labels of every digest it meets are in the manifest cache
(`--manifest-cache`, kept between runs by the CI plan job), so it sends no GET of a
manifest, which is what Docker Hub counts as a pull ("Docker Hub pull usage and limits":
HEAD requests are not counted). The token request is one per run. In CI the plan job
(`pipeline plan --outdated`) makes exactly these requests and starts no other job when
nothing is out of date. The matrix is the repository's matrix.yaml (its series, variants,
platforms and tag rules, releases from the real lists via `PIPELINE_RELEASES=file:…`),
its registries replaced by the Docker Hub stand-in and a plain local registry (standing in
for ECR, whose token exchange through the AWS API is not measured). The images are the
integration tests' tiny stand-ins built by the same code, so the first publish time is not
that of real Asterisk builds. Load average (1 min) before the first publish:
{load_before:.2f}, after the reruns: {load_after:.2f}.
"""
        print(body)
        if args.write:
            write_section("publish", f".venv/bin/python benchmarks/bench_publish.py --reruns {args.reruns} --write",
                          body)
    finally:
        if hub:
            hub.close()
        for registry in (upstream, ecr):
            if registry:
                registry.stop()
        mine = docker.image.list(IMAGE_NAME)
        if mine:
            docker.image.remove(mine, force=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
