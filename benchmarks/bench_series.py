"""Per-series image benchmark: cold build, opus after plain, sizes, for every series.

    .venv/bin/python benchmarks/bench_series.py [--spec 18.x ...] [--platform linux/amd64] [--write]

For each spec (default: every series of matrix.yaml, the certified lines among them), with the
sources that matrix.yaml (and PIPELINE_MIRROR) point at:

* cold build of the plain image: `docker buildx build --no-cache`, so nothing is reused
  (not even the apt layers: on a fresh machine the later series would reuse those), with
  the time of its main steps read from BuildKit's plain progress output;
* the opus image right after, from the cache the plain build filled;
* unpacked size (`du -sxb /` in a container) of both, and compressed (image store) size.

No cache is pruned (the machine and its build cache are shared); `--no-cache` makes the
plain build cold instead. The images are tagged bench-series:<target> and removed after.
`--write` replaces the "series" section of docs/benchmarks.md; without it the figures are
only printed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import write_section
from pipeline import engine, image, sources
from pipeline.matrix import load
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex

IMAGE = "bench-series"
OUT = Path(os.environ.get("PIPELINE_OUT") or "out")
OPUS_STAGES = "build-opus,runtime-opus"   # what the opus variant adds to the plain one
# Steps of the build whose times are reported: (column, stage, text in the step's command).
STEPS = (("apt (build stage)", "build", "apt-get install"), ("configure", "build", "./configure"),
         ("make", "build", "make -j"), ("make install", "build", "make install"),
         ("runtime apt", "runtime-base", "apt-get install"))


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def other_work() -> str:
    """What else runs here: other builds and smoke runs (the machine is shared)."""
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
    builds = sum(1 for line in ps.splitlines() if "buildx build" in line and IMAGE not in line)
    compiles = sum(1 for line in ps.splitlines() if "/cc1 " in line)
    asterisks = sum(1 for line in ps.splitlines() if line.startswith("asterisk -f"))
    return f"{builds} other buildx builds, {compiles} compiler processes, {asterisks} Asterisk processes"


def step_times(log: list[str]) -> dict[str, float]:
    """Seconds per named step, from `#N [stage i/n] ...` and `#N DONE 12.3s` lines."""
    names = {}
    for line in log:
        match = re.match(r"#(\d+) (\[.*)", line)
        if match:
            names.setdefault(match[1], match[2])
    done = {m[1]: float(m[2]) for m in (re.match(r"#(\d+) DONE ([\d.]+)s", line) for line in log) if m}
    times = {}
    for column, stage, text in STEPS:
        step = next((n for n, title in names.items() if title.startswith(f"[{stage} ") and text in title), None)
        if step in done:
            times[column] = done[step]
    return times


def build_one(target, context, platform, *no_cache: str) -> tuple[float, list[str]]:
    """One build of the target as the pipeline makes it (build.build_image's arguments but
    the labels), timed, with its plain progress log. no_cache: `--no-cache`, or
    `--no-cache-filter STAGES` (python-on-whales has no such option: the CLI is run)."""
    command = ["docker", "buildx", "build", str(image.DOCKERFILES), "--target", target.variant.stage,
               "--build-arg", f"ASTERISK_VERSION={target.version}", "--build-arg", f"BASE_IMAGE={target.base_image}",
               "--build-context", f"sources={context}", "--platform", platform, "--load",
               "--tag", f"{IMAGE}:{target.id}", "--progress", "plain", "--provenance=false", *no_cache]
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stderr.splitlines()


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def unpacked(ref: str) -> int:
    """Unpacked on disk: the image's whole file system, as `du` sees it in a container."""
    out = engine.client().run(ref, ["-sxb", "/"], entrypoint="du", networks=["none"], remove=True)
    return int(out.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", action="append", default=[], help="a spec to measure (repeatable)")
    parser.add_argument("--platform", default=engine.native_platform())
    parser.add_argument("--write", action="store_true", help="write the figures to docs/benchmarks.md")
    args = parser.parse_args()

    matrix = load("matrix.yaml")
    specs = args.spec or [series.spec.text for series in matrix.series]
    index = ReleaseIndex(matrix.releases, matrix.sources)
    docker = engine.client()
    rows, before = [], (load_average(), other_work())
    base_images = set()
    for spec in specs:
        plan = make_plan(matrix, index, [spec], platforms=[args.platform])
        targets = {t.variant.name: t for t in plan.targets}
        plain, opus = targets["plain"], targets["opus"]
        base_images.add(plain.base_image)
        context = sources.prepare(plain.release, matrix.sources, OUT / "sources" / str(plain.version))
        print(f"{spec}: cold build of {plain.id} ...", flush=True)
        cold, log = build_one(plain, context, args.platform, "--no-cache")
        print(f"{spec}: {cold:.0f} s; opus after plain ...", flush=True)
        # The plain layers from the cache just made; the opus stages made again (an earlier
        # run's cache would otherwise answer for them).
        after, _ = build_one(opus, context, args.platform, "--no-cache-filter", OPUS_STAGES)
        images = [f"{IMAGE}:{plain.id}", f"{IMAGE}:{opus.id}"]
        sizes = [unpacked(image) for image in images]
        compressed = [docker.image.inspect(image).size or 0 for image in images]
        rows.append({"spec": spec, "version": str(plain.version), "base": plain.base_image,
                     "pjproject": sources.pjproject_version(context / "asterisk.tar.gz"),
                     "cold": cold, "steps": step_times(log), "opus": after, "unpacked": sizes,
                     "compressed": compressed})
        docker.image.remove(images, force=True)
    base_sizes = {image: unpacked(image) for image in sorted(base_images)}
    after_run = (load_average(), other_work())

    step_columns = [column for column, _, _ in STEPS]
    lines = ["| series | release | base | pjproject | cold build, plain | "
             + " | ".join(step_columns) + " | opus after plain | unpacked plain / opus | compressed plain / opus |",
             "|" + "---|" * (8 + len(step_columns))]
    for row in rows:
        steps = " | ".join(f"{row['steps'][c]:.0f} s" if c in row["steps"] else "-" for c in step_columns)
        lines.append(f"| {row['spec']} | {row['version']} | {row['base']} | {row['pjproject']} | "
                     f"{row['cold']:.0f} s | {steps} | {row['opus']:.0f} s | "
                     f"{mb(row['unpacked'][0])} / {mb(row['unpacked'][1])} | "
                     f"{mb(row['compressed'][0])} / {mb(row['compressed'][1])} |")
    bases = ", ".join(f"`{image}` {mb(size)}" for image, size in base_sizes.items())
    body = "\n".join(lines) + f"""

Cold: `--no-cache`, nothing reused, apt downloads included (on a fresh machine the second
and later series reuse the build stage's apt layer); the step columns are BuildKit's
own times for the build stage's apt install, configure, make, make install and the
runtime stage's apt install (they overlap other stages, so they do not add up to the
total). Opus after plain: the opus target built right after, plain's layers from that cache,
its own stages made again (`--no-cache-filter build-opus,runtime-opus`: one module
compiled, one layer with it and libopus added). Unpacked: `du -sxb /` in a container; compressed: the local
image store's size (containerd: the layers as a registry keeps them). Unpacked size of the
base image here: {bases}. The stand-in base is made by scripts/make-base-images.sh and has
the same packages as the real `debian:trixie-slim` (debuerreotype's rootfs.manifest), so the
sizes above stand for the real base too. Other work on this shared machine, before the
first build: load average {before[0]}, {before[1]}; after the last: load average
{after_run[0]}, {after_run[1]}.
"""
    command = ".venv/bin/python benchmarks/bench_series.py --write" + "".join(f" --spec {s}" for s in args.spec)
    if args.write:
        write_section("series", command, body)
    print(body)


if __name__ == "__main__":
    main()
