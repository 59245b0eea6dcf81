"""Opt-in: one full arm64 build of the newest LTS under emulation (qemu), timed.

    python benchmarks/bench_arm64.py [--spec lts]

Not run in CI (tens of minutes on 2 cores). Uses the build cache as it is; run
`docker buildx prune -af` first for a cold figure. Writes its figure to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import write_section  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="lts")
    args = parser.parse_args()
    command = ["pipeline", "build", args.spec, "--variant", "plain", "--platform", "linux/arm64",
               "--no-smoke", "--image", "bench-arm64"]
    start = time.monotonic()
    done = subprocess.run(command)
    seconds = time.monotonic() - start
    result = "succeeded" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    check = ""
    if done.returncode == 0:
        version = subprocess.run(["docker", "run", "--rm", "--platform", "linux/arm64",
                                  f"bench-arm64:{_version(args.spec)}", "asterisk", "-V"],
                                 capture_output=True, text=True).stdout.strip()
        check = f"\n`asterisk -V` in the arm64 image, run under emulation: `{version}`.\n"
    body = (f"| figure | value |\n|---|---|\n"
            f"| arm64 build of `{args.spec}` (plain) under qemu emulation | {seconds / 60:.1f} min, {result} |\n"
            f"{check}\nThe build cache held no arm64 layers beforehand (a first arm64 build).\n")
    write_section("arm64 build under emulation", "python benchmarks/bench_arm64.py", body)
    print(body)


def _version(spec: str) -> str:
    out = subprocess.run(["pipeline", "plan", spec, "--variant", "plain", "--json"],
                         capture_output=True, text=True, check=True).stdout
    import json
    return json.loads(out)["include"][0]["id"]


if __name__ == "__main__":
    main()
