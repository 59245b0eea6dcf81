"""The `pipeline` command: argument parsing, subcommands, and errors turned into exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import log, smoke, support, wsl
from .errors import ConfigurationError, PipelineError
from .matrix import PLATFORMS, VARIANTS, Matrix, load
from .plan import Plan, make_plan
from .releases import ReleaseIndex


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", default="matrix.yaml", metavar="FILE",
                        help="the matrix file (default: ./matrix.yaml)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be done and change nothing")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every command and request")


def _selection(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("specs", nargs="+" if required else "*", metavar="SPEC",
                        help="version specs, e.g. 22.x, 22.10.1, lts, latest, 22-cert "
                             "(default: every series in the matrix)")
    parser.add_argument("--variant", action="append", choices=VARIANTS, default=[],
                        help="only this variant (repeatable)")
    parser.add_argument("--platform", action="append", default=[], metavar="OS/ARCH",
                        help=f"only this platform (repeatable, or comma-separated): {', '.join(PLATFORMS)}")


def _build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", default="asterisk-pipeline", metavar="NAME",
                        help="local image name; targets are tagged NAME:<target> (default: %(default)s)")
    parser.add_argument("--cache", default="", metavar="DIR|SPEC",
                        help="build cache to keep between runs: a directory, or a buildx cache "
                             "spec such as type=gha or type=registry,ref=REF")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="pipeline", description=(
        "Build, smoke-test and publish Asterisk images: "
        "matrix → versions → plan → build → smoke → publish."))
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = commands.add_parser("plan", help="print the targets and tags, then exit")
    _common(plan)
    _selection(plan, required=False)
    plan.add_argument("--per-platform", action="store_true",
                      help="with --json: one entry per target and platform, with its runner")
    plan.add_argument("--json", action="store_true",
                      help="print JSON usable as a GitHub Actions strategy.matrix")
    plan.set_defaults(run=_run_plan)

    smoke.add_cli(commands)
    wsl.add_cli(commands)

    build = commands.add_parser("build", help="build (and smoke-test) the selected targets")
    _common(build)
    _selection(build, required=True)
    _build_options(build)
    build.add_argument("--no-smoke", action="store_true",
                       help="skip the smoke calls (the images then cannot be pushed)")
    build.add_argument("--push", action="store_true",
                       help="then publish what passed its smoke test (same as `pipeline publish`)")
    build.set_defaults(run=_run_build)

    publish = commands.add_parser(
        "publish", help="build what is not up to date, smoke-test it, push it and move its tags")
    _common(publish)
    _selection(publish, required=False)
    _build_options(publish)
    publish.add_argument("--registry", action="append", default=[], metavar="NAME",
                         help="only this registry of the matrix (repeatable)")
    ci = publish.add_mutually_exclusive_group()
    ci.add_argument("--by-digest", metavar="DIR",
                    help="CI build job: build --build-platform only, push it by digest (no tags) "
                         "and write the digests to DIR")
    ci.add_argument("--merge", metavar="DIR",
                    help="CI merge job: make the manifest lists from the digests in DIR and move the tags")
    publish.add_argument("--build-platform", metavar="OS/ARCH",
                         help="with --by-digest: the one platform this job builds")
    publish.set_defaults(run=_run_publish)
    return main


def _platforms(values: list[str]) -> list[str]:
    platforms = [p for value in values for p in value.split(",") if p]
    for platform in platforms:
        if platform not in PLATFORMS:
            raise ConfigurationError(
                f"--platform {platform!r} is not supported; use {' or '.join(PLATFORMS)}")
    return platforms


def _load_plan(args: argparse.Namespace) -> tuple[Matrix, Plan]:
    matrix = load(args.matrix)
    index = ReleaseIndex(matrix.releases, matrix.sources)
    plan = make_plan(matrix, index, args.specs, variants=args.variant,
                     platforms=_platforms(args.platform))
    return matrix, plan


def _run_plan(args: argparse.Namespace) -> int:
    _, plan = _load_plan(args)
    if args.json:
        print(json.dumps(plan.as_json(per_platform=args.per_platform), indent=2))
        return 0
    rows = [[t.id, t.series, ", ".join(t.platforms), t.base_image, ", ".join(t.tags),
             str(support.status(t.version, plan.on))] for t in plan.targets]
    print(log.table(["target", "series", "platforms", "base image", "tags", "support"], rows))
    for registry in plan.registries:
        print(f"\n{registry.name} ({registry.type}): {registry.image}:<tag>")
    return 0


def _run_build(args: argparse.Namespace) -> int:
    if args.push and args.no_smoke:
        raise ConfigurationError("--push publishes only smoke-tested images; drop --no-smoke")
    matrix, plan = _load_plan(args)
    if args.push:
        return _run_publish(args, (matrix, plan))
    from . import build  # imported late: planning needs no Docker client

    return build.run(matrix, plan, args)


def _run_publish(args: argparse.Namespace, loaded: tuple[Matrix, Plan] | None = None) -> int:
    matrix, plan = loaded or _load_plan(args)
    if getattr(args, "build_platform", None):
        _platforms([args.build_platform])
    from . import publish

    return publish.run(matrix, plan, args)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    log.VERBOSE = args.verbose
    try:
        return args.run(args)
    except PipelineError as error:
        log.error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
