"""The workflows rehearsed offline with act, on GitHub's real event payloads (see
rehearsal.py for what act runs, what the stand-ins do, and the two rehearsal changes).

- A scheduled publish run starts every job: plan, one build job per matrix entry, merge
  (on GitHub the schedule payload has no `repository` object; a condition reading
  `github.event.repository.default_branch` skipped plan, and build and merge with it).
- A manual run publishes from the default branch, and from another branch runs nothing.
- The build job's steps pass as an unprivileged user in the docker group, as GitHub's
  `runner` user, with a Python that user can run (the host's, not root's pyenv).
- The Actions cache step hands the cache's runtime variables (never the OIDC token request
  pair) to the build step as its outputs; the AWS step gets the role and region from `vars`
  and hands its credentials over the same way. The step that runs `pipeline` is the only
  one given any credential or cache variable: every other step and every stand-in action
  records, by name, that it was given none (standin-seen).
- ci.yml's lint and unit jobs pass on a push and on a pull request.
- git-snapshot.yml's daily run starts publish.yml with git:master, and such a publish run
  plans, builds and tags the snapshot (git-<sha7>, master-git) from a stand-in repository.
- A scheduled publish for real (slow: one cold compile), as the runner user: one target
  built from the real Dockerfile, smoke-tested, pushed by digest, merged, signed with a
  cosign key, attested and tagged in a local registry with basic auth, checked with the real
  cosign; an up-to-date run then starts only the plan job and writes nothing; a new base
  image is rebuilt and every tag moved to the new, signed digest; a base pushed during that
  build is the next plan's rebuild (the merge records what the registry holds: issue 23.4).
"""

from __future__ import annotations

import concurrent.futures
import grp
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from pipeline.matrix import load
from pipeline.plan import make_plan
from pipeline.registries import KEPT_LABELS
from pipeline.releases import ReleaseIndex
from tests.conftest import CERTIFIED_FILE, RELEASES_FILE, ROOT
from tests.integration import gitrepo
from tests.integration.conftest import BASE_IMAGE, MIRROR, STAND_IN_KEY, TEST_IMAGE
from tests.integration.registry import start_registry
from tests.integration.rehearsal import (
    SECRETS,
    VARS,
    ForReal,
    Rehearsal,
    dispatch_event,
    schedule_event,
)
from tests.integration.test_signing import attested_sboms, verify

PUBLISH = ".github/workflows/publish.yml"
SNAPSHOT = ".github/workflows/git-snapshot.yml"
CACHE_VARIABLES = ["ACTIONS_RUNTIME_TOKEN", "ACTIONS_CACHE_URL", "ACTIONS_RESULTS_URL",
                   "ACTIONS_CACHE_SERVICE_V2"]
# The unprivileged user the build job's steps run as (GitHub's runners use `runner`).
RUNNER_USER = "pipeline-runner"


@pytest.fixture(scope="module")
def registry(tmp_path_factory, mirror):
    registry = start_registry(tmp_path_factory.mktemp("rehearsal-registry"),
                              username=SECRETS["DOCKERHUB_USERNAME"], password=SECRETS["DOCKERHUB_TOKEN"])
    yield registry
    registry.stop()


def workdir(user: str | None = None) -> Path:
    """A directory outside /tmp/pytest-of-root (mode 700), so another user can work in it."""
    path = Path(tempfile.mkdtemp(prefix="workflow-rehearsal-"))
    path.chmod(0o755)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


@pytest.fixture
def rehearsal(registry):
    home = workdir()
    yield Rehearsal(home=home, registry_host=registry.host)
    shutil.rmtree(home, ignore_errors=True)


def build_entries(run) -> int:
    return len(run.jobs.get("build", []))


def check_cache_export(run, jobs: int) -> None:
    """The cache step gave the four variables as its outputs, exported nothing, and never
    the OIDC token request pair."""
    given = [call[2] for call in run.calls if call[:2] == ["github-script", "output"]]
    assert sorted(given) == sorted(CACHE_VARIABLES * jobs), given
    assert not [call for call in run.calls if call[:2] == ["github-script", "export"]]
    assert not [call for call in run.calls if any("ACTIONS_ID_TOKEN" in field for field in call)]


REGISTRY_CREDENTIALS = {"DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN", "GITHUB_TOKEN"}
AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}


def check_credentials_scope(run, jobs: list[str], *, merge_also: frozenset[str] = frozenset()) -> None:
    """Only the `pipeline` command of each job was given credentials (the registries' and
    AWS's; the build's also the cache variables; the merge's also merge_also, the signing
    key's secrets when it signs with a key); every other step and stand-in, none."""
    seen = [call for call in run.calls if call[0] == "seen"]
    assert seen, "nothing recorded what it was given"
    others = [call for call in seen if call[1] != "pipeline" and call[3]]
    assert others == [], f"given credentials beside the pipeline command: {others}"
    given = sorted((call[2], call[3]) for call in seen if call[1] == "pipeline")
    extra = {"build": set(CACHE_VARIABLES), "merge": set(merge_also)}
    expected = sorted((job, " ".join(sorted(REGISTRY_CREDENTIALS | AWS_CREDENTIALS | extra.get(job, set()))))
                      for job in jobs)
    assert [(job, " ".join(sorted(names.split()))) for job, names in given] == expected


# ----------------------------------------------------------------------------- publish.yml

def test_a_scheduled_run_starts_every_job(rehearsal):
    rehearsal.prepare(branch="main")
    run = rehearsal.act("schedule", schedule_event(PUBLISH))
    assert run.jobs.get("plan") == ["success"], run.text()[-4000:]
    entries = build_entries(run)
    assert entries >= 1 and run.jobs["build"] == ["success"] * entries, run.text()[-4000:]
    assert run.jobs["merge"] == ["success"], run.text()[-4000:]
    assert run.returncode == 0
    # Each build job got the cache variables (only those) and the AWS role from `vars`.
    check_cache_export(run, entries)
    check_credentials_scope(run, ["plan", *["build"] * entries, "merge"])
    aws = [call for call in run.calls if call[0] == "configure-aws-credentials"]
    assert aws == [["configure-aws-credentials", VARS["AWS_ROLE_ARN"], VARS["AWS_REGION"],
                    "outputs=true env=false"]] * (entries + 2)
    # plan and merge keep the manifest cache between runs; the build jobs turn on the
    # containerd image store (the tested image is then pushed byte for byte)
    assert [c[0] for c in run.calls if c[0].startswith("cache-")] == [
        "cache-restore", "cache-save", "cache-restore", "cache-save"]
    daemon = [c[2] for c in run.calls if c[0] == "sudo" and ("daemon.json" in c[2] or "restart docker" in c[2])]
    assert len(daemon) == 3 * entries, daemon
    # The merge job (which signs) installed cosign; the build jobs (which do not) did not.
    assert [c[0] for c in run.calls if c[0] == "cosign-installer"] == ["cosign-installer"]
    # The build jobs' install step asked for the smoke test's packages.
    installs = [call for call in run.calls if call[0] == "sudo" and "install" in call[2]]
    assert len(installs) == entries and all("sip-tester postgresql" in call[2] for call in installs)
    # matrix.yaml's default runners: every platform on ubuntu-24.04, so each arm64 build job
    # (half of them: every target has both platforms) registered QEMU for its smoke calls.
    qemu = [call for call in run.calls if call[0] == "setup-qemu"]
    assert qemu == [["setup-qemu", "linux/arm64", "ok"]] * (entries // 2), qemu
    # The merge job tags every target the plan resolved (a dry run: "would publish").
    assert "would publish" in run.text()


def fill_registry(clone: Path, registry, docker, work: Path) -> int:
    """The registry the rehearsal's matrix publishes to, holding every tag of every target,
    up to date: tiny images carrying the labels (version, inputs digest) the real build of
    each target would carry. Returns the number of tags."""
    from pipeline import build, distribution
    from pipeline.matrix import load
    from pipeline.plan import make_plan
    from pipeline.releases import ReleaseIndex
    from tests.integration.tiny_image import tiny_sources

    matrix = load(clone / "matrix.yaml", environ={"PIPELINE_RELEASES": f"file:{RELEASES_FILE},{CERTIFIED_FILE}",
                                                  "PIPELINE_MIRROR": MIRROR})
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources))
    maker = build.maker_for(matrix, build.Options(out=work / "out"), docker)
    dockerfiles, context, _ = tiny_sources(work / "tiny")
    api = distribution.Client(registry.host, username=registry.username, password=registry.password)
    repository = f"{registry.host}/asterisk".split("/", 1)[1]
    tags = 0
    for target in plan.targets:
        local = f"{TEST_IMAGE}-rehearsal:{target.id}"
        base, base_contexts = maker.base_build(docker, target)
        build.build_image(docker, target, context, labels=maker.labels(target), platforms=target.platforms,
                          tags=[local], load=True, dockerfiles=dockerfiles, base=base, contexts=base_contexts)
        docker.image.save(local, output=work / "image.tar")
        pushed = distribution.push_saved_image(api, repository, work / "image.tar", tag=target.id)
        index = api.get_manifest(repository, pushed.digest)
        for tag in target.tags:
            api.put_manifest(repository, tag, index)
            tags += 1
        docker.image.remove(local)
    return tags


def test_an_up_to_date_scheduled_run_starts_only_the_plan_job(docker, tmp_path, mirror):
    """Nothing out of date: one job runs (the plan, HEAD requests only), no build, no merge
    (issue 11.3). Its own registry: the others' rehearsals start from an empty one."""
    registry = start_registry(tmp_path / "filled-registry", username=SECRETS["DOCKERHUB_USERNAME"],
                              password=SECRETS["DOCKERHUB_TOKEN"])
    home = workdir()
    try:
        rehearsal = Rehearsal(home=home, registry_host=registry.host)
        clone = rehearsal.prepare(branch="main")
        assert fill_registry(clone, registry, docker, tmp_path) > 0
        run = rehearsal.act("schedule", schedule_event(PUBLISH))
        assert run.jobs == {"plan": ["success"]}, run.text()[-4000:]
        assert run.returncode == 0
    finally:
        registry.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_a_manual_run_from_the_default_branch_publishes(rehearsal):
    rehearsal.prepare(branch="main")
    run = rehearsal.act("workflow_dispatch", dispatch_event(PUBLISH, "main", {"spec": "lts"}))
    assert run.jobs.get("plan") == ["success"], run.text()[-4000:]
    # `lts` is one version: its two variants on two platforms.
    assert run.jobs.get("build") == ["success"] * 4, run.text()[-4000:]
    assert [call for call in run.calls if call[0] == "setup-qemu"] == [["setup-qemu", "linux/arm64", "ok"]] * 2
    assert run.jobs.get("merge") == ["success"]
    assert run.returncode == 0


def test_a_manual_run_from_another_branch_publishes_nothing(rehearsal):
    rehearsal.prepare(branch="try-something")
    run = rehearsal.act("workflow_dispatch", dispatch_event(PUBLISH, "try-something", {"spec": ""}))
    assert run.returncode == 0, run.text()[-4000:]
    assert run.jobs == {}, run.jobs   # plan skipped by its condition, build and merge with it
    assert run.calls == []


# ----------------------------------------------------------------------------- git snapshots

def test_the_daily_snapshot_run_starts_a_publish_run_of_git_master(rehearsal):
    """git-snapshot.yml on its schedule: one job, which starts publish.yml on the branch
    the schedule runs on (the default branch) with spec git:master (the `gh` stand-in
    records it; the next test runs that publish)."""
    rehearsal.prepare(branch="main")
    run = rehearsal.act("schedule", schedule_event(SNAPSHOT), workflow="git-snapshot.yml")
    assert run.jobs == {"dispatch": ["success"]}, run.text()[-4000:]
    [call] = [call for call in run.calls if call[0] == "gh"]
    assert call[2] == "workflow run publish.yml --ref main -f spec=git:master", call
    assert call[4] == "token", call       # the run's GITHUB_TOKEN, as GH_TOKEN


def test_a_publish_run_of_a_git_snapshot(rehearsal):
    """publish.yml dispatched with spec git:master (as git-snapshot.yml does), the branch
    in a stand-in repository: the plan job resolves it, one build job per variant and
    platform gets the commit pinned (git:master@SHA), the merge tags git-<sha7> and
    master-git, and no release tag."""
    repository = workdir() / "asterisk"
    try:
        url, head = gitrepo.tiny_repository(repository)
        rehearsal.prepare(branch="main")
        run = rehearsal.act("workflow_dispatch", dispatch_event(PUBLISH, "main", {"spec": "git:master"}),
                            extra_env={"PIPELINE_GIT": url})
        assert run.jobs.get("plan") == ["success"], run.text()[-4000:]
        assert run.jobs.get("build") == ["success"] * 4, run.text()[-4000:]
        assert run.jobs.get("merge") == ["success"], run.text()[-4000:]
        text = run.text()
        # only the plan job asked the repository where master is: the others got it pinned
        resolving = [line for line in text.splitlines() if "resolve branch master of" in line]
        assert resolving and all(line.startswith("[plan]") for line in resolving), resolving
        image = f"{rehearsal.registry_host}/asterisk"
        for tag in (f"git-{head[:7]}", "master-git", f"git-{head[:7]}-opus", "master-git-opus"):
            assert f"would create {image}:{tag} " in text, tag
        assert f"{image}:lts" not in text and f"{image}:22" not in text
    finally:
        shutil.rmtree(repository.parent, ignore_errors=True)


# ----------------------------------------------------------------------------- as GitHub's runner user

@pytest.fixture(scope="module")
def runner_user(docker):
    """An unprivileged user in the docker group (created once, kept) with a venv of the
    pipeline's locked dependencies (requirements/publish.txt, as publish.yml installs them)
    made from the host's Python (/usr/bin/python3: root's pyenv Python is not readable by
    other users)."""
    try:
        pwd.getpwnam(RUNNER_USER)
    except KeyError:
        subprocess.run(["useradd", "-m", RUNNER_USER], check=True)
    if RUNNER_USER not in grp.getgrnam("docker").gr_mem:
        subprocess.run(["usermod", "-aG", "docker", RUNNER_USER], check=True)
    home = Path(pwd.getpwnam(RUNNER_USER).pw_dir)
    venv = home / ".cache" / "pipeline-rehearsal-venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run(["runuser", "-u", RUNNER_USER, "--", "/usr/bin/python3", "-m", "venv", str(venv)],
                       check=True)
    lock = venv / "publish.txt"   # a copy the user can read, wherever this checkout is
    shutil.copy(ROOT / "requirements" / "publish.txt", lock)
    lock.chmod(0o644)
    install = ["runuser", "-u", RUNNER_USER, "--", str(venv / "bin" / "python"), "-m", "pip", "install",
               "--quiet", "--disable-pip-version-check", "--require-hashes", "-r", str(lock)]
    result = subprocess.run(install, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return RUNNER_USER, venv


def test_the_build_job_runs_as_an_unprivileged_user(registry, runner_user):
    user, venv = runner_user
    home = workdir(user)
    try:
        rehearsal = Rehearsal(home=home, registry_host=registry.host, user=user, python=venv)
        rehearsal.prepare(branch="main")
        run = rehearsal.act("workflow_dispatch", dispatch_event(PUBLISH, "main", {"spec": "lts"}))
        assert run.jobs.get("build") == ["success"] * 4, run.text()[-6000:]
        assert run.jobs.get("plan") == ["success"] and run.jobs.get("merge") == ["success"]
        # Every recorded step ran as that user: the sudo stand-in records who called it.
        callers = {call[1] for call in run.calls if call[0] == "sudo"}
        assert callers == {user}, run.calls
        check_cache_export(run, 4)
        check_credentials_scope(run, ["plan", *["build"] * 4, "merge"])
    finally:
        shutil.rmtree(home, ignore_errors=True)


# ----------------------------------------------------------------------------- a scheduled publish, for real

SCHEDULED = f"{TEST_IMAGE}-scheduled"              # the build job's local image (--image)
SCHEDULED_BASE = f"{TEST_IMAGE}-scheduled-base"    # the rehearsal matrix's own base image name
REPO = "asterisk"                                   # the rehearsal's repository in its registry
BASE_LABEL = "org.asterisk-pipeline.base"           # the base image label, as docs/publish.md names it
COSIGN_PASSWORD = "c0sign-rehearsal-not-shown"
BUILDING = 3600      # seconds a run that builds may take (a cold compile on a busy 2-core machine)


@pytest.fixture
def scheduled_images(docker):
    """The local images of the scheduled-publish rehearsal, removed at the end by name: its
    base image's first state is debian's own image under another name, so only that name
    goes; the others (new bases, the build job's image) have no other name."""
    yield
    for found in docker.image.list():
        for name in found.repo_tags:
            if name.rsplit(":", 1)[0] in (SCHEDULED, SCHEDULED_BASE):
                docker.image.remove(name)


def new_base(docker, tag: str, directory: Path) -> str:
    """SCHEDULED_BASE:tag, debian's image plus one file: a new base image (a distribution's
    security update) as the pipeline sees one. Returns its digest, new at each build (its
    config's date); its layers are the same each time, so only the first run on an engine
    compiles on it cold (BuildKit reuses that compile for the same layers)."""
    context = directory / f"base-{tag}"
    context.mkdir(parents=True)
    (context / "security-update").write_text(f"rehearsal base {tag}\n")
    (context / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nCOPY security-update /etc/security-update\n")
    docker.buildx.build(context, tags=[f"{SCHEDULED_BASE}:{tag}"], load=True)
    return str(docker.image.inspect(f"{SCHEDULED_BASE}:{tag}").id)


def stored(registry) -> dict[str, tuple[int, int]]:
    """Every file of the registry's storage, with its size and modification time: a blob,
    manifest or tag written (even again, the same) changes it."""
    root = registry.root / "data"
    return {str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in root.rglob("*") if path.is_file()}


def published(registry, tags: list[str]) -> str:
    """The one digest every tag points at (each complete, linux/amd64 only); the
    registry holds no other tag than these and cosign's (sha256-<hex>)."""
    assert sorted(t for t in registry.tags(REPO) if not t.startswith("sha256-")) == sorted(tags)
    found = {(digest, tuple(platforms)) for digest, platforms in (registry.complete(REPO, tag) for tag in tags)}
    [(digest, platforms)] = found
    assert platforms == ("linux/amd64",)
    return digest


def amd64_manifest(registry, index: str) -> str:
    _, body = registry.manifest(REPO, index)
    [child] = [c["digest"] for c in body["manifests"] if c.get("platform", {}).get("architecture") == "amd64"]
    return child


def descriptor(rehearsal, target) -> dict:
    """What the run's build job uploaded as its artifact (digests-ID-PLATFORM) for the merge."""
    artifact = rehearsal.home / "logs" / "artifacts" / f"digests-{target.id}-linux-amd64"
    path = artifact / target.id / "local" / "linux-amd64"
    assert path.is_file(), f"no {path}: {sorted(str(p) for p in artifact.rglob('*'))}"
    return json.loads(path.read_text())


def check_cache_is_the_registry(rehearsal, key: str, registry, index: str) -> None:
    """The manifest cache the merge saved under key (the one the next plan restores) says of
    every digest what the registry holds, as the test's own reader reads it: the next plan
    decides from what was pushed, never from what the merge meant to push (issue 23.4)."""
    cache = json.loads((rehearsal.cache_store / key / "manifest-cache.json").read_text())
    assert index in cache, sorted(cache)
    for digest, entry in cache.items():
        held = registry.labels(REPO, digest)
        assert sorted(entry["platforms"]) == sorted(held), digest
        for platform, labels in entry["labels"].items():
            assert labels == {k: v for k, v in held[platform].items() if k in KEPT_LABELS}, (digest, platform)


@pytest.mark.slow
def test_a_scheduled_publish_for_real(docker, mirror, runner_user, scheduled_images, tmp_path):
    """GitHub's schedule payload runs publish.yml for real, as the unprivileged runner user:
    plan, one build job (22.x plain linux/amd64 from the real Dockerfile, smoke-tested,
    pushed by digest), merge (index, cosign key signature, SBOM attestation, tags) into a
    local registry with basic auth. A second run starts only the plan job and writes
    nothing. After a new base image, a third run rebuilds, moves every tag and signs the
    new digest, the old one's signature still valid; Debian pushes once more while its build
    job runs, and the next plan (a fourth run, the plan job alone) asks for a rebuild on it:
    the merge recorded what the registry holds (issue 23.4)."""
    user, venv = runner_user
    subprocess.run(["cosign", "generate-key-pair"], cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "COSIGN_PASSWORD": COSIGN_PASSWORD})
    public_key = tmp_path / "cosign.pub"
    registry = start_registry(tmp_path / "registry", username=SECRETS["DOCKERHUB_USERNAME"],
                              password=SECRETS["DOCKERHUB_TOKEN"])
    home = workdir(user)
    try:
        base = f"{SCHEDULED_BASE}:trixie"
        docker.image.tag(BASE_IMAGE, base)       # the same image: the build cache still hits
        debian = str(docker.image.inspect(base).id)
        for_real = ForReal(series="22.x", variant="plain", platform="linux/amd64", base_image=base,
                           image=SCHEDULED)
        rehearsal = Rehearsal(home=home, registry_host=registry.host, user=user, python=venv)
        clone = rehearsal.prepare(branch="main", for_real=for_real)
        matrix = load(clone / "matrix.yaml", environ={"PIPELINE_RELEASES": f"file:{RELEASES_FILE},{CERTIFIED_FILE}"})
        [target] = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources)).targets
        assert (target.id, target.platforms) == ("22.10.1", ("linux/amd64",))
        key = (tmp_path / "cosign.key").read_text()
        options = {"extra_env": STAND_IN_KEY,     # the mirror's signing key, as stand-ins.env gives it
                   "secrets": {for_real.key_secret: key, for_real.password_secret: COSIGN_PASSWORD}}
        check = {"registry": registry, "tmp_path": tmp_path, "public_key": public_key}
        image = f"{registry.host}/{REPO}"

        def scheduled_run(*, between=None, **more):
            """A scheduled run; between(), when given, runs at the pause before the merge's
            publish (the build job done). act's log is kept in tmp_path/run-N.log."""
            start = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                if between:
                    rehearsal.pause_at("before-merge")
                running = pool.submit(rehearsal.act, "schedule", schedule_event(PUBLISH),
                                      timeout=BUILDING, **options, **more)
                try:
                    if between:
                        rehearsal.wait_for_pause("before-merge", running, BUILDING)
                        between()
                finally:
                    if between:
                        rehearsal.release("before-merge")
                    run = running.result()
                    (tmp_path / f"run-{rehearsal.runs}.log").write_text(run.text())
            print(f"run {rehearsal.runs}: {time.monotonic() - start:.0f} s, jobs {run.jobs}")
            for secret in (COSIGN_PASSWORD, key.splitlines()[1], SECRETS["DOCKERHUB_TOKEN"]):
                assert secret not in run.output
            return run

        # -- run 1: plan, one build job, merge; signed, attested, tagged
        def pushed_by_digest_only():
            assert registry.tags(REPO) == []     # no tag before the merge, no signature either
            pushed = descriptor(rehearsal, target)
            held = registry.labels(REPO, pushed["digest"])["linux/amd64"]
            assert pushed["labels"].items() <= held.items() and held[BASE_LABEL] == f"{base}@{debian}"

        run = scheduled_run(between=pushed_by_digest_only)
        assert run.jobs == {"plan": ["success"], "build": ["success"], "merge": ["success"]}, run.text()[-6000:]
        assert run.returncode == 0
        assert ["upload-artifact", f"digests-{target.id}-linux-amd64", "1"] in run.calls
        assert ["download-artifact", "digests-*", "1"] in run.calls
        assert ["pause", "before-merge"] in run.calls
        check_cache_export(run, 1)
        check_credentials_scope(run, ["plan", "build", "merge"],
                                merge_also=frozenset({for_real.key_secret, for_real.password_secret}))
        first = published(registry, list(target.tags))
        built = descriptor(rehearsal, target)
        assert amd64_manifest(registry, first) == built["digest"]      # the build job's image, merged
        assert registry.labels(REPO, first)["linux/amd64"][BASE_LABEL] == f"{base}@{debian}"
        for tag in target.tags:
            done = verify(f"{image}:{tag}", **check)
            assert done.returncode == 0 and first in done.stdout, done.stderr
        [statement] = attested_sboms(f"{image}:{target.id}", **check)
        assert [s["digest"]["sha256"] for s in statement["subject"]] == [first.split(":")[1]]
        [asterisk] = [c for c in statement["predicate"]["components"] if c["name"] == "asterisk"]
        assert asterisk["version"] == "22.10.1"
        check_cache_is_the_registry(rehearsal, f"manifest-cache-{rehearsal.runs}-merge", registry, first)

        # -- run 2: up to date: the plan job alone, and nothing written
        before = stored(registry)
        run = scheduled_run()
        assert run.jobs == {"plan": ["success"]}, run.text()[-6000:]
        assert ["cache-restore", "manifest-cache-2", "manifest-cache-1-merge"] in run.calls   # the merge's
        assert stored(registry) == before

        # -- run 3: a new base image; Debian pushes again while the build job runs
        updated = new_base(docker, "b", tmp_path)
        newest = new_base(docker, "c", tmp_path)
        docker.image.tag(f"{SCHEDULED_BASE}:b", base)
        run = scheduled_run(between=lambda: docker.image.tag(f"{SCHEDULED_BASE}:c", base))
        assert run.jobs == {"plan": ["success"], "build": ["success"], "merge": ["success"]}, run.text()[-6000:]
        assert f"rebuilt: new base image ({updated[:19]})" in run.text()
        second = published(registry, list(target.tags))
        assert second != first
        # what the build job built (on the base it resolved), not what the base is now
        assert registry.labels(REPO, second)["linux/amd64"][BASE_LABEL] == f"{base}@{updated}"
        for tag in target.tags:
            done = verify(f"{image}:{tag}", **check)
            assert done.returncode == 0 and second in done.stdout, done.stderr
        done = verify(f"{image}@{first}", **check)                   # the old digest: still signed
        assert done.returncode == 0, done.stderr
        [statement] = attested_sboms(f"{image}:{target.id}", **check)
        assert [s["digest"]["sha256"] for s in statement["subject"]] == [second.split(":")[1]]
        check_cache_is_the_registry(rehearsal, f"manifest-cache-{rehearsal.runs}-merge", registry, second)

        # -- run 4, the plan job alone: the base pushed during run 3 is the next rebuild
        before = stored(registry)
        run = scheduled_run(job="plan")
        assert run.jobs == {"plan": ["success"]}, run.text()[-6000:]
        assert ["cache-restore", "manifest-cache-4", "manifest-cache-3-merge"] in run.calls
        assert f"rebuilt: new base image ({newest[:19]})" in run.text(), run.text()[-6000:]
        assert stored(registry) == before
    finally:
        registry.stop()
        shutil.rmtree(home, ignore_errors=True)


# ----------------------------------------------------------------------------- ci.yml

@pytest.mark.parametrize("job", ["lint", "unit"])
def test_ci_checks_pass_on_a_push(rehearsal, job):
    rehearsal.prepare(branch="main", publish_changes=False)
    run = rehearsal.act("push", {"ref": "refs/heads/main", "repository": {"default_branch": "main"}},
                        workflow="ci.yml", job=job)
    runs = {"lint": 1, "unit": 2}[job]    # unit: Python 3.11 and 3.13
    assert run.jobs == {job: ["success"] * runs}, run.text()[-6000:]
