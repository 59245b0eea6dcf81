"""The `pipeline` command: argument parsing, subcommands, and errors turned into exit codes.

The command line is parsed here, once, into the options objects of the modules that do
the work (build.Options, publish.Options, ...); no argparse namespace goes further.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import log, settings, support, tagspage
from .core import VARIANT_NAMES, variant
from .errors import EXIT_CODES, ConfigurationError, PipelineError
from .matrix import PLATFORMS, Matrix, load
from .plan import Plan, make_plan
from .releases import ReleaseIndex
from .sources import signature_policy

if TYPE_CHECKING:
    from . import build, outdated, publish

MATRIX_FILE = "matrix.yaml"


# ----------------------------------------------------------------------------- the parser

def _matrix(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", metavar="FILE", type=Path,
                        help=f"the matrix file (default: {MATRIX_FILE} in this directory or the "
                             "nearest one above it)")


def _verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="show every command and request")


def _dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be done and change nothing")


def _selection(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("specs", nargs="+" if required else "*", metavar="SPEC",
                        help="version specs, e.g. 22.x, 22.10.1, lts, latest, 22-cert, or a development "
                             "snapshot from git: git:master, git:COMMIT"
                             + ("" if required else " (default: every series in the matrix)"))
    parser.add_argument("--variant", action="append", choices=VARIANT_NAMES, default=[],
                        help="only this variant (repeatable)")
    parser.add_argument("--platform", action="append", default=[], metavar="OS/ARCH",
                        help=f"only this platform (repeatable, or comma-separated): {', '.join(PLATFORMS)}")


def _build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", default="asterisk-pipeline", metavar="NAME",
                        help="local image name; targets are tagged NAME:<target> (default: %(default)s)")
    parser.add_argument("--cache", default="", metavar="DIR|SPEC",
                        help="build cache to keep between runs: a directory, or a buildx cache "
                             "spec such as type=gha or type=registry,ref=REF")


def _publish_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", action="append", default=[], metavar="NAME",
                        help="only this registry of the matrix (repeatable)")
    parser.add_argument("--manifest-cache", type=Path, metavar="FILE",
                        help="keep the labels of the images the registries hold in FILE between "
                             "runs, so that an up-to-date run sends only HEAD requests "
                             "(default: $PIPELINE_OUT/manifest-cache.json)")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="pipeline", description=(
        "Build, smoke-test and publish Asterisk images: "
        "matrix → versions → plan → build → smoke → publish."),
        epilog="Environment: PIPELINE_OUT (default ./out: sources, logs, manifest cache), "
               "PIPELINE_MIRROR, PIPELINE_RELEASES, PIPELINE_GIT, PIPELINE_SIGNATURE_KEY, "
               "PIPELINE_SIGNATURE_FINGERPRINT, PIPELINE_OFFLINE (docs/matrix.md); on machines "
               "without internet, scripts/setup.sh --stand-ins writes them to stand-ins.env "
               "beside matrix.yaml, which every command reads.")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = commands.add_parser("plan", help="print the targets and tags, then exit")
    _matrix(plan)
    _verbose(plan)
    _selection(plan, required=False)
    plan.add_argument("--json", action="store_true",
                      help="print JSON usable as a GitHub Actions strategy.matrix")
    plan.add_argument("--per-platform", action="store_true",
                      help="with --json: one entry per target and platform, with its runner")
    plan.add_argument("--outdated", action="store_true",
                      help="read the registries and keep only the targets that need work, "
                           "saying why (credentials as for publish)")
    _publish_options(plan)
    plan.set_defaults(run=_run_plan)

    tags = commands.add_parser(
        "tags", help="print the supported-tags page (docs/tags.md, the Docker Hub description)",
        description="The plan's tags with version, series, support status, variant and platforms; "
                    "the tags of series past their end of life in a section of their own.")
    _matrix(tags)
    _verbose(tags)
    _selection(tags, required=False)
    tags.add_argument("--markdown", action="store_true",
                      help="print the Markdown page (default: one table for the terminal)")
    tags.add_argument("--on", metavar="YYYY-MM-DD", type=_day,
                      help="read the support status for this day (default: today)")
    tags.add_argument("--write", metavar="FILE", type=Path,
                      help="replace the page between the marker comments of FILE, e.g. docs/tags.md")
    tags.set_defaults(run=_run_tags)

    build = commands.add_parser("build", help="build (and smoke-test) the selected targets")
    _matrix(build)
    _dry_run(build)
    _verbose(build)
    _selection(build, required=True)
    _build_options(build)
    build.add_argument("--no-smoke", action="store_true",
                       help="skip the smoke calls (the images then cannot be pushed)")
    build.add_argument("--push", action="store_true",
                       help="then publish what passed its smoke test (same as `pipeline publish`)")
    _publish_options(build)
    build.set_defaults(run=_run_build)

    publish = commands.add_parser(
        "publish", help="build what is not up to date, smoke-test it, push it and move its tags")
    _matrix(publish)
    _dry_run(publish)
    _verbose(publish)
    _selection(publish, required=False)
    _build_options(publish)
    _publish_options(publish)
    ci = publish.add_mutually_exclusive_group()
    ci.add_argument("--by-digest", metavar="DIR", type=Path,
                    help="CI build job: build --build-platform only, push it by digest (no tags) "
                         "and write its descriptor to DIR")
    ci.add_argument("--merge", metavar="DIR", type=Path,
                    help="CI merge job: make the multi-platform images from the descriptors in "
                         "DIR and move the tags")
    publish.add_argument("--build-platform", metavar="OS/ARCH",
                         help="with --by-digest: the one platform this job builds")
    publish.add_argument("--created", metavar="YYYY-MM-DDTHH:MM:SSZ",
                         help="with --by-digest (required) or --merge: the plan's time (the "
                              "`created` of `plan --json`): every platform's image is stamped "
                              "with it, and ages (max_age) are judged at it")
    publish.set_defaults(run=_run_publish)

    smoke = commands.add_parser("smoke", help="start an image and place real SIP calls at it",
                                description="Start an image, wait until Asterisk is fully booted, "
                                            "place real SIP calls at it with sipp, report per check.")
    smoke.add_argument("image", metavar="IMAGE", help="a local image reference")
    smoke.add_argument("--variant", choices=VARIANT_NAMES,
                       help="what to expect (default: the image's org.asterisk.variant label)")
    smoke.add_argument("--platform", metavar="OS/ARCH",
                       help=f"the platform to run: {', '.join(PLATFORMS)} (default: the engine's)")
    smoke.add_argument("--logs", metavar="DIR", type=Path,
                       help="where junit.xml and the logs of failed checks go "
                            "(default: $PIPELINE_OUT/logs/smoke/<image>)")
    smoke.add_argument("--network", choices=("host", "published", "both"), default="both",
                       help="host networking, published ports, or both (default: both)")
    smoke.add_argument("--postgres", metavar="DSN",
                       help="use this PostgreSQL server (postgresql://USER:PASS@HOST:PORT/DB) instead "
                            "of starting one; see docs/smoke.md for the privileges it needs")
    _dry_run(smoke)
    _verbose(smoke)
    smoke.set_defaults(run=_run_smoke, matrix=None)

    wsl = commands.add_parser("export-wsl",
                              help="write an image as a root filesystem tarball for `wsl --import`")
    wsl.add_argument("image", metavar="IMAGE", help="a local image reference")
    wsl.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                     help="the tarball to write, e.g. asterisk.tar")
    wsl.add_argument("--platform", metavar="OS/ARCH",
                     help=f"the platform of a multi-platform image: {', '.join(PLATFORMS)} "
                          "(default: the engine's)")
    _dry_run(wsl)
    _verbose(wsl)
    wsl.set_defaults(run=_run_wsl, matrix=None)
    return main


# ----------------------------------------------------------------------------- turning args into options

def _out() -> Path:
    return Path(os.environ.get("PIPELINE_OUT") or "out")


def find_matrix(given: Path | None, start: Path | None = None) -> Path:
    """--matrix, else matrix.yaml in the working directory or the nearest directory above."""
    if given is not None:
        return given
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / MATRIX_FILE).is_file():
            return directory / MATRIX_FILE
    raise ConfigurationError(f"no {MATRIX_FILE} in {here} or any directory above it; run from the "
                             "repository, or pass --matrix FILE")


def _platforms(values: Sequence[str]) -> list[str]:
    platforms = [p for value in values for p in value.split(",") if p]
    for platform in platforms:
        if platform not in PLATFORMS:
            raise ConfigurationError(
                f"--platform {platform!r} is not supported; use {' or '.join(PLATFORMS)}")
    return platforms


def _load_plan(args: argparse.Namespace) -> tuple[Matrix, Plan]:
    matrix = load(find_matrix(args.matrix))
    index = ReleaseIndex(matrix.releases, matrix.sources)
    plan = make_plan(matrix, index, args.specs, variants=args.variant,
                     platforms=_platforms(args.platform))
    return matrix, plan


CLOCK_SKEW = datetime.timedelta(minutes=5)   # between the plan job's machine and this one


def _created(text: str) -> datetime.datetime:
    """--created: the plan's `created`, in its form (UTC, to the second), not in the future."""
    from .labels import parse_created

    try:
        when = parse_created(text)
    except ValueError:
        raise ConfigurationError(f"--created {text!r} is not a time in the plan's form; pass the "
                                 "`created` of `pipeline plan --json`, e.g. 2026-12-07T10:17:00Z "
                                 "(UTC)") from None
    if when > datetime.datetime.now(datetime.UTC) + CLOCK_SKEW:
        raise ConfigurationError(f"--created {text!r} is in the future; pass the `created` of "
                                 "`pipeline plan --json`")
    return when


def _day(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day; write it as YYYY-MM-DD") from None


def _tags_opts(args: argparse.Namespace) -> tagspage.Options:
    return tagspage.Options(markdown=args.markdown, on=args.on, write=args.write)


def _build_opts(args: argparse.Namespace, *, smoke: bool = True) -> build.Options:
    from . import build

    return build.Options(image_name=args.image, cache=args.cache, smoke=smoke,
                         every_platform=bool(args.platform), out=_out(), dry_run=args.dry_run)


def _manifest_cache(args: argparse.Namespace) -> Path:
    return args.manifest_cache or _out() / "manifest-cache.json"


def _outdated_opts(args: argparse.Namespace) -> outdated.Options:
    from . import outdated

    return outdated.Options(registries=tuple(args.registry), manifest_cache=_manifest_cache(args))


def _push_opts(args: argparse.Namespace) -> publish.Options:
    """`pipeline build --push`: publish on this machine, every platform built."""
    from . import publish

    return publish.Options(registries=tuple(args.registry), manifest_cache=_manifest_cache(args),
                           dry_run=args.dry_run)


def _publish_opts(args: argparse.Namespace) -> publish.Options:
    from . import publish

    mode, directory = "publish", None
    created = _created(args.created) if args.created else None
    if args.by_digest:
        if not args.build_platform:
            raise ConfigurationError("--by-digest needs --build-platform OS/ARCH "
                                     "(the platform this job builds)")
        if not created:
            raise ConfigurationError("--by-digest needs --created (the `created` of `pipeline plan "
                                     "--json`), so that every platform of a target is stamped "
                                     "with the same time")
        mode, directory = "by-digest", args.by_digest
    elif args.merge:
        mode, directory = "merge", args.merge
        if not directory.is_dir():
            raise ConfigurationError(f"--merge {directory}: no such directory (where the build jobs' "
                                     "digest files were downloaded)")
    elif args.build_platform:
        raise ConfigurationError("--build-platform goes with --by-digest DIR")
    if created and mode == "publish":
        raise ConfigurationError("--created goes with --by-digest DIR or --merge DIR (CI's jobs); "
                                 "`pipeline publish` stamps its images with the time it builds them")
    if args.build_platform:
        _platforms([args.build_platform])
    return publish.Options(registries=tuple(args.registry), mode=mode, digests=directory,
                           build_platform=args.build_platform or "", created=created,
                           manifest_cache=_manifest_cache(args), dry_run=args.dry_run)


# ----------------------------------------------------------------------------- the subcommands

def _run_plan(args: argparse.Namespace) -> int:
    matrix, plan = _load_plan(args)
    reasons: dict[str, tuple[bool, str]] = {}
    if args.outdated:
        from . import bases, engine, outdated
        from .inputs import Inputs

        resolver = bases.Resolver(engine.client(), bases.Policy.for_run(os.environ, publishing=True))
        reasons = outdated.needs(plan, Inputs(sources=matrix.sources, base_digest=resolver),
                                 _outdated_opts(args), base_dir=matrix.path.parent, environ=os.environ)
        plan = dataclasses.replace(plan, targets=tuple(t for t in plan.targets if t.id in reasons))
    if not matrix.sources.verify_signatures:
        log.warning(signature_policy(matrix.sources))
    if args.json:
        data = plan.as_json(per_platform=args.per_platform)
        if args.outdated:
            for entry in data["include"]:
                entry["build"], entry["reason"] = reasons[entry["id"]]
        print(json.dumps(data, indent=2))
        return 0
    rows = [[t.id, t.series, ", ".join(t.platforms), t.base_image, ", ".join(t.tags),
             str(support.status(t.version, plan.on))]
            + ([reasons[t.id][1]] if args.outdated else []) for t in plan.targets]
    headers = ["target", "series", "platforms", "base image", "tags", "support"]
    print(log.table(headers + (["why"] if args.outdated else []), rows) if rows
          else "every target is up to date")
    snapshots = {t.snapshot for t in plan.targets if t.snapshot}
    for snapshot in sorted(snapshots, key=lambda s: s.version.spec):
        print(f"\n{snapshot.version}: commit {snapshot.version.commit} of {snapshot.url}")
    for registry in plan.registries:
        print(f"\n{registry.name} ({registry.type}): {registry.image}:<tag>")
    print(f"\n{signature_policy(matrix.sources)}")
    return 0


def _run_tags(args: argparse.Namespace) -> int:
    options = _tags_opts(args)
    _, plan = _load_plan(args)
    if options.on:
        plan = dataclasses.replace(plan, on=options.on)
    if options.write:
        path = options.write
        try:
            document = path.read_text()
        except OSError as error:
            raise ConfigurationError(f"--write {path}: {error.strerror}; give the Markdown file "
                                     "holding the tags page markers, e.g. docs/tags.md") from None
        updated = tagspage.embed(document, tagspage.markdown(plan), where=str(path))
        if updated != document:
            path.write_text(updated)
        log.info(f"{path}: tags page {'updated' if updated != document else 'already up to date'} "
                 f"(support status on {plan.on})")
        return 0
    print(tagspage.markdown(plan) if options.markdown else tagspage.text(plan), end="" if options.markdown else "\n")
    return 0


def _run_build(args: argparse.Namespace) -> int:
    if args.push and args.no_smoke:
        raise ConfigurationError("--push publishes only smoke-tested images; drop --no-smoke")
    matrix, plan = _load_plan(args)
    if args.push:
        return _publish(matrix, plan, _build_opts(args), _push_opts(args))
    from . import build

    return build.run(matrix, plan, _build_opts(args, smoke=not args.no_smoke))


def _run_publish(args: argparse.Namespace) -> int:
    options = _publish_opts(args)
    matrix, plan = _load_plan(args)
    return _publish(matrix, plan, _build_opts(args), options)


def _publish(matrix: Matrix, plan: Plan, build_options: build.Options, options: publish.Options) -> int:
    from . import build, engine, publish

    docker = engine.client()
    return publish.run(plan, build.maker_for(matrix, build_options, docker, publishing=True), options,
                       base_dir=matrix.path.parent, environ=os.environ, docker=docker,
                       signing=matrix.signing, description=_tags_page(matrix, options))


def _tags_page(matrix: Matrix, options: publish.Options) -> str:
    """The supported-tags page of the whole matrix (whatever this run selected), for the
    Docker Hub description; "" when no Docker Hub registry is published to, or when the
    matrix cannot be resolved (a warning: the images are published all the same)."""
    from .connect import select

    chosen = select(matrix.registries, options.registries)
    if options.mode == "by-digest" or not any(r.kind.hub_api for r in chosen):
        return ""
    try:
        return tagspage.markdown(make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources)))
    except PipelineError as error:
        log.warning(f"no tags page for the Docker Hub description: {error}")
        return ""


def _run_smoke(args: argparse.Namespace) -> int:
    from . import engine, smoke

    if args.platform:
        _platforms([args.platform])
    if args.dry_run:
        for spec in smoke.plan(args.network):
            log.info(f"would start {args.image} as '{spec.label}' ({spec.network} network, "
                     f"{'test' if spec.test_config else 'default'} configuration"
                     f"{', realtime PostgreSQL' if spec.realtime else ''}): {', '.join(spec.checks)}")
        log.info(f"would run {args.image} by itself for: {', '.join(smoke.image_checks.IMAGE_CHECKS)}")
        return 0
    logs = args.logs or smoke.default_logs(_out(), args.image)
    results = smoke.run_smoke(engine.client(), args.image, logs=logs,
                              variant=variant(args.variant) if args.variant else None,
                              network=args.network, postgres=args.postgres,
                              platform=args.platform)
    smoke.raise_for_failures(args.image, results, logs)
    log.info(f"junit report: {logs / 'junit.xml'}")
    return 0


def _run_wsl(args: argparse.Namespace) -> int:
    from . import engine, wsl

    if args.platform:
        _platforms([args.platform])
    if args.dry_run:
        log.info(wsl.describe(args.image, args.output, args.platform))
        return 0
    start = time.monotonic()
    size = wsl.export(engine.client(), args.image, args.output, platform=args.platform)
    log.info(f"wrote {args.output} ({size / 1e6:.0f} MB) in {time.monotonic() - start:.1f}s; "
             f"on Windows: wsl --import Asterisk C:\\WSL\\Asterisk {args.output.name}")
    return 0


def _settings_directory(args: argparse.Namespace) -> Path | None:
    """Where the stand-ins' settings file would be: beside the matrix this command reads."""
    try:
        return find_matrix(args.matrix).parent
    except ConfigurationError:
        return None    # the command says so itself, if it needs a matrix


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    log.VERBOSE = args.verbose
    try:
        with settings.stand_ins(_settings_directory(args)):
            return int(args.run(args))
    except PipelineError as error:
        log.error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return EXIT_CODES["interrupted"]


if __name__ == "__main__":
    sys.exit(main())
