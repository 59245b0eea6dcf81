"""The three ways of publishing a decided target (decide.py); a run uses one (publish.py):

* `publish` (one machine builds every platform): build and smoke-test (build.Maker.make),
  push the tested image itself by digest (the bytes `docker save` gives: the registry's
  digest is the local image's), sign it and attach its SBOMs (signing.py), then point the
  full tag and the other tags at it;
* `by-digest` (CI build job, one platform per job): build and smoke-test that platform,
  push its manifest and provenance by digest (no tag), and write their descriptors (with
  the labels the registry holds for it) for the merge job (digests.py);
* `merge` (CI merge job): make the multi-platform index from the descriptors, push it by
  digest, sign it and attach its SBOMs, then point the full tag and the other tags at it.
  A target its build jobs pushed is decided from what they built (built_by_jobs), not from
  its inputs as they would be now: a base image pushed meanwhile is the next run's rebuild.

No tag is created or moved before the image it points at is complete and signed. A failure
in one registry is recorded on its outcome, and the other registries go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from . import digests, log
from .build import Built, Maker
from .core import Target
from .decide import BuiltBy, Decision
from .errors import ConfigurationError, PipelineError, PublishError
from .labels import BASE_LABEL, CREATED_LABEL, INPUTS_LABEL
from .outcomes import Outcome
from .redaction import redact
from .registries import Session
from .registry_types import Registry
from .signing import Signer

NAMES = ("publish", "by-digest", "merge")


@dataclasses.dataclass(frozen=True)
class Tools:
    """What the modes work with: the engine, the Maker (build, then smoke), the signer."""

    docker: DockerClient
    maker: Maker
    signer: Signer | None = None

    def make(self, decision: Decision, platforms: Sequence[str], needing: Sequence[Outcome]) -> Built | None:
        """The tested local image, or None after recording why on every outcome in needing."""
        built = self.maker.make(self.docker, decision.target, platforms)
        if not built.ok:
            for outcome in needing:
                outcome.fail(f"not pushed: {built.reason}")
            return None
        return built

    def attach(self, session: Session, digest: str) -> None:
        """Sign the image digest, then attest each platform's SBOM on it (read back from
        the pushed image). Done before any tag points at it: a failure leaves no tag."""
        if not (self.signer and self.signer.enabled):
            return
        with log.step(f"sign {session.registry.image}@{digest}"):
            self.signer.sign(session, digest)
        documents = session.sboms(digest)
        with log.step(f"attest the SBOM of {', '.join(p or 'its platform' for p, _ in documents)}"):
            for _, document in documents:
                self.signer.attest_sbom(session, digest, document)


Mode = Callable[[Tools, Decision, list[Session], dict[str, Outcome]], None]
"""A mode's work on one decided target, in the registries (todo) where something changes."""


def mode(name: str, *, platform: str = "", directory: Path = Path("digests")) -> Mode:
    """The mode called name; platform: the one a by-digest job builds; directory: where the
    build jobs' descriptors are written (by-digest) and read (merge)."""
    modes: dict[str, Mode] = {
        "publish": publish_target,
        "by-digest": functools.partial(by_digest_target, platform=platform, directory=directory),
        "merge": functools.partial(merge_target, directory=directory),
    }
    if name not in modes:
        raise ConfigurationError(f"no publishing mode {name!r}; use one of {', '.join(NAMES)}")
    return modes[name]


# ----------------------------------------------------------------------------- the three modes

def publish_target(tools: Tools, decision: Decision, todo: list[Session],
                   outcomes: dict[str, Outcome]) -> None:
    """One machine: build every platform, smoke-test, push the tested image, move the tags."""
    target = decision.target
    need_image = [s for s in todo if decision.needs_image(s)]
    built = tools.make(decision, target.platforms, [outcomes[s.name] for s in need_image]) \
        if need_image else None
    if need_image and built is None:
        todo = [s for s in todo if s not in need_image]
    with contextlib.ExitStack() as stack:
        archive = stack.enter_context(saved(tools.docker, built)) if built else None
        local_id = tools.docker.image.inspect(built.image).id if built else ""
        for session in todo:
            outcome = outcomes[session.name]

            def push_and_tag(session: Session = session, outcome: Outcome = outcome) -> None:
                digest = ""
                if archive is not None and session in need_image:
                    with log.step(f"push {session.registry.image} (by digest)"):
                        pushed = session.push_image(archive)
                    if pushed.digest != local_id:
                        raise PublishError(f"{session.name}: {target.id}: the registry holds "
                                           f"{pushed.digest} after pushing the tested {local_id}")
                    digest = pushed.digest
                    tools.attach(session, digest)
                point_tags(decision, session, outcome, digest)

            attempt(outcome, push_and_tag)


def by_digest_target(tools: Tools, decision: Decision, todo: list[Session],
                     outcomes: dict[str, Outcome], *, platform: str, directory: Path) -> None:
    """CI build job: build and smoke one platform, push it by digest (no tag) to each registry
    whose full tag needs it, and write its descriptor for the merge job."""
    target = decision.target
    need_image = [s for s in todo if decision.needs_image(s)]
    for session in todo:
        if session not in need_image:
            outcomes[session.name].status = "tags only"
    if not need_image:
        return
    built = tools.make(decision, [platform], [outcomes[s.name] for s in need_image])
    if built is None:
        return
    with saved(tools.docker, built) as archive:
        for session in need_image:
            outcome = outcomes[session.name]

            def push(session: Session = session, outcome: Outcome = outcome) -> None:
                with log.step(f"push {platform} to {session.registry.image} by digest"):
                    pushed, held = session.push_platform(archive, platform)
                [labels] = held.labels.values()
                digests.write(directory, target, session.registry, digests.Pushed(pushed, labels))
                outcome.digest, outcome.status = pushed.manifest.digest, "pushed by digest"

            attempt(outcome, push)


def merge_target(tools: Tools, decision: Decision, todo: list[Session],
                 outcomes: dict[str, Outcome], *, directory: Path) -> None:
    """CI merge job: once every platform is pushed (a descriptor file each), make the index
    under the full tag and move the other tags. A target missing a platform is not tagged."""
    target = decision.target
    for session in todo:
        outcome = outcomes[session.name]

        def merge(session: Session = session, outcome: Outcome = outcome) -> None:
            digest = ""
            if decision.needs_image(session):
                found = digests.read(directory, target, session.registry)
                missing = [p for p in target.platforms if p not in found]
                if missing:
                    raise PublishError(f"{session.name}: {target.id}: no digest for {', '.join(missing)} "
                                       f"in {directory} (its build job failed or did not push); not tagged")
                with log.step(f"index {session.registry.image} (by digest)"):
                    children = [child for p in target.platforms for child in found[p].push.children]
                    digest = session.put_index(children)
                tools.attach(session, digest)
            point_tags(decision, session, outcome, digest)

        attempt(outcome, merge)


def point_tags(decision: Decision, session: Session, outcome: Outcome, digest: str = "") -> None:
    """How a publication ends (the publish and merge modes): the tags that change point at the
    image digest (the one just pushed and signed; "": the one the full tag already names),
    and the outcome says so."""
    digest = digest or decision.current_digest(session)
    changed = decision.changes(session)
    if changed:
        with log.step(f"tag {session.registry.image}: {', '.join(changed)}"):
            session.point(changed, digest)
    outcome.digest, outcome.status = digest, "published"


def built_by_jobs(directory: Path, registries: Sequence[Registry]) -> BuiltBy:
    """The merge job's view of a target: the labels of what its build jobs pushed (every
    descriptor in directory, in every registry), None when they pushed nothing. The platforms
    of one target must agree on the labels the decisions read (inputs, created): jobs
    that resolved different base images, or were given different times, made different
    images, and none of them is tagged (the next run rebuilds the target)."""
    def built(target: Target) -> Mapping[str, str] | None:
        found = {(registry.name, platform): pushed.labels for registry in registries
                 for platform, pushed in digests.read(directory, target, registry).items()}
        if not found:
            return None

        def one(key: str) -> bool:
            values = {labels.get(key, "") for labels in found.values()}
            return len(values) == 1 and "" not in values

        if not (one(INPUTS_LABEL) and one(CREATED_LABEL)):
            made = "; ".join(f"{platform} in {name}: inputs {labels.get(INPUTS_LABEL, 'none')[:12]}, "
                             f"base {labels.get(BASE_LABEL) or 'none'}, "
                             f"created {labels.get(CREATED_LABEL) or 'none'}"
                             for (name, platform), labels in sorted(found.items()))
            raise PublishError(f"{target.id}: its build jobs made different images ({made}): the "
                               "base image changed between the jobs, or they were given different "
                               "--created; not tagged (the next run rebuilds it)")
        return next(iter(found.values()))
    return built


# ----------------------------------------------------------------------------- helpers

def attempt(outcome: Outcome, action: Callable[[], None]) -> None:
    """Run one registry's part of a target; a failure is recorded and the others go on."""
    try:
        action()
    except (PipelineError, DockerException) as error:
        reason = reason_of(error)
        log.error(redact(reason))
        outcome.fail(reason)


def reason_of(error: PipelineError | DockerException) -> str:
    """An error's message; a docker command's error output, else the command and its exit code."""
    if isinstance(error, DockerException):
        return error.stderr or str(error)
    return str(error)


@contextlib.contextmanager
def saved(docker: DockerClient, built: Built) -> Iterator[Path]:
    """The tested image as `docker save` writes it (an OCI image layout), by its id: what is
    pushed is exactly what was smoke-tested."""
    scratch = Path(tempfile.mkdtemp(prefix="pipeline-save-"))
    try:
        archive = scratch / "image.tar"
        with log.step(f"save {built.image}"):
            docker.image.save(docker.image.inspect(built.image).id, output=archive)
        yield archive
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
