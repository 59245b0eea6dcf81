"""Image benchmark: cold build, opus after plain, unchanged rebuild, sizes, boot time.

    .venv/bin/python benchmarks/bench_image.py [--spec lts] [--platform linux/amd64] [--no-cold] [--write]

Builds with the pipeline's own step (build.Maker.make: sources verified, buildx, the SBOM
layer; no smoke test) against the sources that matrix.yaml (and PIPELINE_MIRROR) point at.
The cold build prunes the build cache first (--no-cold keeps it: on a shared machine).
--write puts the figures into docs/benchmarks.md; without it they are only printed.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

from python_on_whales.exceptions import DockerException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_series import unpacked as unpacked_size  # noqa: E402
from benchmarks.report import target, write_section  # noqa: E402
from pipeline import build, engine  # noqa: E402
from pipeline.matrix import load  # noqa: E402
from pipeline.plan import make_plan  # noqa: E402
from pipeline.releases import ReleaseIndex  # noqa: E402


def timed(function, *args, **kwargs) -> float:
    start = time.monotonic()
    function(*args, **kwargs)
    return time.monotonic() - start


def boot_seconds(docker, image: str, runs: int = 3) -> list[float]:
    """Wall time from `docker run` to `core waitfullybooted` answering, per run."""
    figures = []
    for _ in range(runs):
        name = f"bench-boot-{uuid.uuid4().hex[:8]}"
        start = time.monotonic()
        docker.run(image, detach=True, name=name, networks=["none"])
        try:
            while not booted(docker, name):
                if time.monotonic() - start > 30:
                    raise RuntimeError(f"{image} did not boot within 30 s")
                time.sleep(0.05)
            figures.append(time.monotonic() - start)
        finally:
            docker.container.remove(name, force=True, volumes=True)
    return figures


def booted(docker, name: str) -> bool:
    try:
        docker.execute(name, ["asterisk", "-rx", "core waitfullybooted"])
        return True
    except DockerException:
        return False


def image_size(docker, image: str) -> int:
    """Compressed: what a registry stores and `docker pull` downloads."""
    return docker.image.inspect(image).size or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="lts")
    parser.add_argument("--platform", default=engine.native_platform())
    parser.add_argument("--no-cold", action="store_true", help="keep the build cache")
    parser.add_argument("--write", action="store_true", help="write the figures to docs/benchmarks.md")
    args = parser.parse_args()

    matrix = load("matrix.yaml")
    index = ReleaseIndex(matrix.releases, matrix.sources)
    plan = make_plan(matrix, index, [args.spec])
    targets = {t.variant.name: t for t in plan.targets}
    plain, opus = targets["plain"], targets["opus"]
    docker = engine.client()
    maker = build.maker_for(matrix, build.Options(image_name="bench-asterisk", out=Path("out")), docker)
    maker.context(plain)        # the sources, fetched and verified before the clock starts

    def build_one(target):
        built = maker.make(docker, target, [args.platform], test=False)
        if not built.ok:
            raise SystemExit(f"{target.id}: {built.reason}")

    if not args.no_cold:
        docker.buildx.prune(all=True)
    cold = timed(build_one, plain)
    opus_after = timed(build_one, opus)
    rebuild = timed(build_one, plain)
    base = image_size(docker, plain.base_image)
    sizes = {t.id: image_size(docker, f"bench-asterisk:{t.id}") for t in (plain, opus)}
    base_unpacked = unpacked_size(plain.base_image)
    unpacked = {t.id: unpacked_size(f"bench-asterisk:{t.id}") for t in (plain, opus)}
    boots = boot_seconds(docker, f"bench-asterisk:{plain.id}")

    mb = lambda n: f"{n / 1e6:.0f} MB"  # noqa: E731
    body = f"""
| figure | {plain.id} on {args.platform} | target |
|---|---|---|
| cold build, plain (build cache pruned{'' if not args.no_cold else ': NOT pruned'}) | {cold:.0f} s | {target(cold, 210, "210 s")} |
| opus variant after plain | {opus_after:.0f} s ({opus_after / cold:.0%} of cold) | {target(opus_after / cold, 0.15, "15% of cold")} |
| rebuild, nothing changed | {rebuild:.1f} s | {target(rebuild, 10, "10 s")} |
| runtime image, plain: compressed / unpacked | {mb(sizes[plain.id])} / {mb(unpacked[plain.id])} | {target(unpacked[plain.id], 140e6, "140 MB unpacked")} |
| runtime image, opus: compressed / unpacked | {mb(sizes[opus.id])} / {mb(unpacked[opus.id])} | |
| base image here (`{plain.base_image}`, debootstrap stand-in): compressed / unpacked | {mb(base)} / {mb(base_unpacked)} | |
| what the image adds to its base: compressed / unpacked | {mb(sizes[plain.id] - base)} / {mb(unpacked[plain.id] - base_unpacked)} | |
| start to fully booted (3 runs) | {', '.join(f'{b:.2f} s' for b in boots)} | {target(max(boots), 1, "1 s")} |

Compressed sizes are the local image store's (`docker image inspect .Size`, containerd
store: the layers as a registry keeps them); unpacked sizes are `du -sxb /` in a container
of the image. The real `{plain.base_image}` cannot be pulled here; the stand-in has the same
packages (compare debuerreotype's rootfs.manifest), so the sizes hold for the real base.
Per series, and what takes the space: the "series" section.
Boot time is wall time from `docker run -d` until `asterisk -rx "core waitfullybooted"`
answers inside the container, so it includes `docker run` and `docker exec` overhead.
"""
    print(body)
    if args.write:
        write_section("image build", f".venv/bin/python benchmarks/bench_image.py --spec {args.spec} --write"
                      + (" --no-cold" if args.no_cold else ""), body)


if __name__ == "__main__":
    main()
