"""arm64 by cross-compiling: the cold arm64 build against the cold amd64 build of the same
release, in the same run, on this (amd64) machine.

    .venv/bin/python benchmarks/bench_arm64.py [--spec lts] [--write]

Both builds are `docker buildx build --no-cache` of the plain image, one after the other,
with the sources matrix.yaml (and PIPELINE_MIRROR) point at: nothing reused, apt downloads
included. The arm64 build's compile stages run on the build host and cross-compile
(dockerfiles/asterisk/Dockerfile); its runtime stages (apt, `asterisk -V`, the library
check) run under QEMU. Step times are BuildKit's own. The arm64 image is then run under
QEMU (`uname -m`, `asterisk -V`). Target: arm64 ≤ 1.5 × amd64.

No cache is pruned (the machine and its build cache are shared). The images are tagged
bench-series:<target>-<arch> and removed after. `--write` replaces the "arm64
cross-compiled" section of docs/benchmarks.md; without it the figures are only printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_series import (
    IMAGE,
    OUT,
    STEPS,
    build_one,
    load_average,
    mb,
    other_work,
    step_times,
    unpacked,
)
from benchmarks.report import write_section
from pipeline import engine, sources
from pipeline.matrix import load
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex

TARGET_RATIO = 1.5
PLATFORMS = ("linux/amd64", "linux/arm64")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="lts")
    parser.add_argument("--write", action="store_true", help="write the figures to docs/benchmarks.md")
    args = parser.parse_args()

    matrix = load("matrix.yaml")
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), [args.spec],
                     variants=["plain"])
    [target] = plan.targets
    context = sources.prepare(target.release, matrix.sources, OUT / "sources" / str(target.version))
    docker = engine.client()
    before = (load_average(), other_work())
    results = {}
    for platform in PLATFORMS:
        print(f"cold build of {target.id} for {platform} ...", flush=True)
        seconds, log = build_one(target, context, platform, "--no-cache")
        tag = f"{IMAGE}:{target.id}"
        arch_tag = f"{tag}-{platform.split('/')[1]}"
        docker.image.tag(tag, arch_tag)
        docker.image.remove(tag)
        results[platform] = {"seconds": seconds, "steps": step_times(log), "image": arch_tag}
        print(f"  {seconds:.0f} s", flush=True)
    arm64 = results["linux/arm64"]["image"]
    machine = docker.run(arm64, ["uname", "-m"], platform="linux/arm64", entrypoint="",
                         remove=True, networks=["none"])
    version = docker.run(arm64, ["asterisk", "-V"], platform="linux/arm64", entrypoint="",
                         remove=True, networks=["none"])
    size = {p: unpacked(r["image"]) for p, r in results.items()}
    docker.image.remove([r["image"] for r in results.values()], force=True)
    after = (load_average(), other_work())

    ratio = results["linux/arm64"]["seconds"] / results["linux/amd64"]["seconds"]
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    columns = [column for column, _, _ in STEPS]
    lines = ["| platform | cold build, plain | " + " | ".join(columns) + " | unpacked |",
             "|" + "---|" * (3 + len(columns))]
    for platform, result in results.items():
        steps = " | ".join(f"{result['steps'][c]:.0f} s" if c in result["steps"] else "-" for c in columns)
        lines.append(f"| {platform} | {result['seconds']:.0f} s | {steps} | {mb(size[platform])} |")
    body = "\n".join(lines) + f"""

| figure | value | target |
|---|---|---|
| arm64 / amd64, cold build of {target.id} (plain) | {ratio:.2f} × | ≤ {TARGET_RATIO} × ({verdict}) |

The arm64 image, run under QEMU: `uname -m` says `{machine.strip()}`, `asterisk -V` says
`{version.strip()}`. Everything that compiles (Asterisk, the bundled pjproject, menuselect
for the host) runs natively on the build host with Debian's cross toolchain
(`gcc-aarch64-linux-gnu`, the `-dev:arm64` packages); under QEMU run only the arm64
runtime stage's apt install and its checks (`ldd` of every module, `asterisk -V`): the
"runtime apt" column. Other work on this shared machine before the first build: load
average {before[0]}, {before[1]}; after the last: load average {after[0]}, {after[1]}.
For comparison, the earlier full build under emulation (no cross-compiling) was stopped
after 38 minutes without finishing.
"""
    if args.write:
        write_section("arm64 cross-compiled", ".venv/bin/python benchmarks/bench_arm64.py --write", body)
    print(body)


if __name__ == "__main__":
    main()
