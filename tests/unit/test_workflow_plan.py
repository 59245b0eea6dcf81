"""The publish workflow against the real CLI: every field it reads from
`pipeline plan --json --per-platform` exists in that output (for this repository's
matrix.yaml and the real release list), and every `pipeline` command in its steps, with
the values a real run gives it, is accepted by the CLI's own parser."""

import json
import re
import shlex
from collections.abc import Mapping

import pytest
import yaml

from pipeline import cli
from pipeline.matrix import load as load_matrix
from pipeline.snapshots import GitSpec
from tests.conftest import CERTIFIED_FILE, RELEASES_FILE, ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(flow: dict) -> dict:
    return flow.get("on", flow.get(True))   # YAML 1.1 reads a bare `on` key as True


@pytest.fixture
def plan_entries(monkeypatch, capsys) -> list[dict]:
    monkeypatch.setenv("PIPELINE_RELEASES", f"file:{RELEASES_FILE},{CERTIFIED_FILE}")
    assert cli.main(["plan", "--json", "--per-platform", "--matrix", str(ROOT / "matrix.yaml")]) == 0
    entries = json.loads(capsys.readouterr().out)["include"]
    assert len(entries) == 24   # 6 series (4 + 2 certified) x 2 variants x 2 platforms
    return entries


def plan_matrix_jobs(flow: dict) -> dict[str, dict]:
    return {name: job for name, job in flow["jobs"].items()
            if "fromJSON(needs.plan.outputs.matrix)" in str(job.get("strategy", {}).get("matrix", ""))}


def run_scripts(job: dict) -> list[tuple[dict, str]]:
    return [(step.get("env", {}), step["run"]) for step in job["steps"] if "run" in step]


def test_every_matrix_field_the_jobs_read_is_in_the_plan(plan_entries):
    jobs = plan_matrix_jobs(workflow("publish.yml"))
    assert list(jobs) == ["build"]
    used = set(re.findall(r"\bmatrix\.(\w+)", json.dumps(jobs["build"])))
    assert {"runner", "version", "variant", "platform", "id", "series", "platform_slug", "created"} <= used
    for entry in plan_entries:
        assert used <= set(entry), f"not in the plan: {sorted(used - set(entry))}"
    assert {entry["runner"] for entry in plan_entries} == {"ubuntu-24.04"}
    assert {(entry["platform"], entry["emulated"]) for entry in plan_entries} == {
        ("linux/amd64", False), ("linux/arm64", True)}


def test_every_field_the_plan_job_reads_is_in_the_plan(plan_entries):
    plan_job = workflow("publish.yml")["jobs"]["plan"]
    scripts = "\n".join(run for _, run in run_scripts(plan_job))
    assert "--json --per-platform" in scripts
    fields = set(re.findall(r"\.include\[\]\.(\w+)", scripts))
    assert fields, "the plan job reads no field of the plan"
    for entry in plan_entries:
        assert fields <= set(entry), f"not in the plan: {sorted(fields - set(entry))}"


# ----------------------------------------------------------------------------- the commands

def evaluate(text: str, context: dict) -> str:
    """The few expressions the workflow uses in step env: matrix.*, needs.plan.outputs.*, inputs.*."""
    def value(match):
        expression = match.group(1)
        if expression not in context:
            raise AssertionError(f"the test does not know ${{{{ {expression} }}}}")
        return context[expression]
    return EXPRESSION.sub(value, str(text))


class StepEnv(Mapping):
    """A step's env: each value evaluated when the script reads it (the credentials beside
    a command need no context in a test of that command)."""

    def __init__(self, env: dict, context: dict):
        self.env, self.context = env, context

    def __getitem__(self, name: str) -> str:
        return evaluate(self.env[name], self.context)

    def __iter__(self):
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


def commands(env: Mapping, script: str) -> list[list[str]]:
    """Each `pipeline ...` command of a run script, its variables and arrays expanded."""
    arrays = {name: env.get(source, "").split()
              for name, source in re.findall(r'read -ra (\w+) <<< "\$\{?(\w+)(?::-)?\}?"', script)}
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        if not line.lstrip().startswith("pipeline "):
            continue
        words = shlex.split(line)
        argv = []
        for word in words:
            if word in ("|", ">", ">>"):
                break
            if match := re.fullmatch(r"\$\{(\w+)\[@\]\}", word):
                argv += arrays[match.group(1)]
            elif match := re.fullmatch(r"\$\{?(\w+)\}?", word):
                argv.append(env[match.group(1)])
            else:
                argv.append(word)
        found.append(argv)
    return found


def parse(argv: list[str]):
    assert argv[0] == "pipeline"
    try:
        return cli.parser().parse_args(argv[1:])
    except SystemExit as error:
        raise AssertionError(f"the CLI rejects: {shlex.join(argv)}") from error


@pytest.mark.parametrize("spec", ["", "20.x", "22.x lts", "git:master"])
def test_the_plan_job_commands_parse(spec):
    plan_job = workflow("publish.yml")["jobs"]["plan"]
    context = {"inputs.spec": spec}
    parsed = [parse(argv) for env, run in run_scripts(plan_job)
              for argv in commands(StepEnv(env, context), run)]
    assert [args.command for args in parsed] == ["plan"]
    assert parsed[0].specs == spec.split()
    assert parsed[0].json and parsed[0].per_platform and parsed[0].outdated


def test_the_build_job_command_for_every_plan_entry(plan_entries):
    build = workflow("publish.yml")["jobs"]["build"]
    caches = set()
    for entry in plan_entries:
        context = {f"matrix.{key}": str(value) for key, value in entry.items()}
        [argv] = [argv for env, run in run_scripts(build)
                  for argv in commands(StepEnv(env, context), run)]
        args = parse(argv)
        assert args.command == "publish"
        assert args.specs == [entry["version"]]
        assert args.variant == [entry["variant"]]
        assert args.build_platform == entry["platform"]
        assert str(args.by_digest) == "digests"
        assert args.created == entry["created"]     # the plan's, the same for every platform
        # Not --platform: the plan (and so the inputs digest in the image labels) must keep
        # every platform of the target; --build-platform picks the one this job builds.
        assert args.platform == []
        scope = f"asterisk-{entry['series']}-{entry['variant']}-{entry['platform_slug']}"
        assert args.cache == f"type=gha,scope={scope},mode=max,ignore-error=true"
        caches.add(args.cache)
    # Each job its own scope: jobs sharing one would replace each other's cache index.
    assert len(caches) == len(plan_entries)


def test_the_merge_job_command(plan_entries):
    merge = workflow("publish.yml")["jobs"]["merge"]
    versions = " ".join(sorted({entry["version"] for entry in plan_entries}))
    [created] = {entry["created"] for entry in plan_entries}
    context = {"needs.plan.outputs.versions": versions, "needs.plan.outputs.created": created}
    [argv] = [argv for env, run in run_scripts(merge)
              for argv in commands(StepEnv(env, context), run)]
    args = parse(argv)
    assert args.command == "publish" and str(args.merge) == "digests" and args.created == created
    assert args.specs == versions.split() == ["18.26.4", "20.20.1", "20.7-cert11", "22.10.1", "22.8-cert3", "23.4.1"]
    download = [step for step in merge["steps"] if "download-artifact" in step.get("uses", "")]
    assert download[0]["with"] == {"pattern": "digests-*", "path": "digests", "merge-multiple": True}


# ----------------------------------------------------------------------------- the rest of the contract

def test_runs_at_least_every_half_hour_and_on_dispatch():
    on = triggers(workflow("publish.yml"))
    [schedule] = on["schedule"]
    minute, hour, *rest = schedule["cron"].split()
    assert hour == "*" and rest == ["*", "*", "*"]
    minutes = sorted(int(m) for m in minute.split(","))
    gaps = [b - a for a, b in zip(minutes, minutes[1:] + [minutes[0] + 60], strict=True)]
    assert max(gaps) <= 30
    assert on["workflow_dispatch"]["inputs"]["spec"]["default"] == ""


# ----------------------------------------------------------------------------- concurrency

# The events that start publish.yml, with what a run's concurrency expressions may read.
PUBLISH_EVENTS = {
    "schedule": {"github.event_name": "schedule", "github.workflow": "publish", "inputs.spec": ""},
    "dispatch (whole matrix)": {"github.event_name": "workflow_dispatch", "github.workflow": "publish",
                                "inputs.spec": ""},
    "dispatch lts": {"github.event_name": "workflow_dispatch", "github.workflow": "publish",
                     "inputs.spec": "lts"},
    "dispatch git:master (git-snapshot.yml)": {"github.event_name": "workflow_dispatch",
                                               "github.workflow": "publish", "inputs.spec": "git:master"},
}


def concurrency_for(flow: dict, event: str) -> dict:
    """The workflow's concurrency block as GitHub evaluates it for a run of that event."""
    block = flow["concurrency"]
    if isinstance(block, str):
        block = {"group": block}
    return {"group": evaluate(block["group"], PUBLISH_EVENTS[event]),
            "cancel-in-progress": block.get("cancel-in-progress", False),
            "queue": block.get("queue", "single")}


def queue_runs(arrivals: list[str], settings: dict[str, dict]) -> tuple[list[str], list[str]]:
    """GitHub's documented concurrency semantics (docs.github.com, "Control the concurrency
    of workflows and jobs"; changelog 2026-05-07, "concurrency groups now allow larger
    queues"), for runs that each arrive while every earlier one is still running (a long
    build): a group has one running run; `queue: single` (the default) keeps one pending run
    and cancels the pending one a newer run replaces; `queue: max` keeps up to 100 pending,
    first in first out. Group names are case-insensitive. Returns (the runs in the order they
    run, with those of different groups running at once; the cancelled runs)."""
    running: dict[str, str] = {}
    pending: dict[str, list[str]] = {}
    cancelled: list[str] = []
    for run in arrivals:
        config = settings[run]
        group = config["group"].lower()
        assert config["cancel-in-progress"] is False, "cancel-in-progress would cancel a running publication"
        if group not in running:
            running[group] = run
            continue
        waiting = pending.setdefault(group, [])
        if config["queue"] == "max":
            (waiting if len(waiting) < 100 else cancelled).append(run)
        else:
            cancelled += waiting
            waiting[:] = [run]
    order = list(running.values()) + [run for waiting in pending.values() for run in waiting]
    return order, cancelled


def test_the_concurrency_model_drops_a_pending_run_without_a_queue():
    """The model of GitHub's semantics fails the old setting (one group, no queue): the
    git:master dispatch is cancelled by the scheduled run that queues after it."""
    single = {"group": "publish", "cancel-in-progress": False, "queue": "single"}
    arrivals = ["schedule", "dispatch git:master (git-snapshot.yml)", "schedule 2"]
    order, cancelled = queue_runs(arrivals, dict.fromkeys(arrivals, single))
    assert cancelled == ["dispatch git:master (git-snapshot.yml)"]
    # A group per event kind would lose nothing, but publish twice at once: the first run of
    # each group starts at once (order lists the running runs first).
    per_event = {run: {**single, "group": f"publish-{run.split()[0]}", "queue": "max"} for run in arrivals}
    order, cancelled = queue_runs(arrivals, per_event)
    assert cancelled == [] and order == ["schedule", "dispatch git:master (git-snapshot.yml)", "schedule 2"]


@pytest.mark.parametrize("event", sorted(PUBLISH_EVENTS))
def test_every_run_is_in_the_one_publish_group(event):
    """Act does not implement concurrency groups, so the keys are checked here: every kind
    of run evaluates to the same group, never cancels a running one, and queues."""
    config = concurrency_for(workflow("publish.yml"), event)
    assert config == {"group": "publish", "cancel-in-progress": False, "queue": "max"}


def test_no_queued_publication_is_lost_and_none_runs_beside_another():
    """A long scheduled build runs; git-snapshot.yml's daily dispatch, a manual `lts` run and
    more scheduled runs arrive meanwhile. Every one of them runs, one after the other, in
    the order they arrived (two at once would race on the same tags)."""
    flow = workflow("publish.yml")
    arrivals = ["schedule", "dispatch git:master (git-snapshot.yml)", "schedule", "dispatch lts",
                "schedule", "dispatch (whole matrix)", "schedule"]
    runs = [f"{event} #{number}" for number, event in enumerate(arrivals)]
    settings = {run: concurrency_for(flow, event) for run, event in zip(runs, arrivals, strict=True)}
    order, cancelled = queue_runs(runs, settings)
    assert cancelled == []
    assert order == runs
    assert len({config["group"].lower() for config in settings.values()}) == 1   # one at a time


# ----------------------------------------------------------------------------- secrets, each to its step

# Set by GitHub in every job (docs.github.com, "Variables": default environment variables).
RUNNER_VARIABLES = {"GITHUB_ACTOR"}
# What configure-aws-credentials gives as outputs with output-credentials (action.yml of
# aws-actions/configure-aws-credentials v6.2.3), for the step that talks to ECR.
AWS_OUTPUTS = {"AWS_ACCESS_KEY_ID": "aws-access-key-id", "AWS_SECRET_ACCESS_KEY": "aws-secret-access-key",
               "AWS_SESSION_TOKEN": "aws-session-token"}
SECRET_REFERENCE = re.compile(r"\$\{\{[^}]*\b(secrets\.\w+|steps\.aws\.outputs\.[\w-]+)")


def steps_with_credentials(job: dict) -> list[dict]:
    return [step for step in job["steps"] if SECRET_REFERENCE.search(json.dumps(step))]


def registry_secrets() -> set[str]:
    matrix = load_matrix(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": f"file:{RELEASES_FILE}"})
    names = {name for registry in matrix.registries
             for name in (registry.username_env, registry.password_env) if name}
    assert names == {"DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN", "GITHUB_ACTOR", "GITHUB_TOKEN"}
    return names - RUNNER_VARIABLES


def test_credentials_come_from_secrets_and_oidc():
    """Docker Hub from secrets, GHCR from the job's own token (and GITHUB_ACTOR), ECR and
    cosign from the job's OIDC identity: no other credential anywhere."""
    flow = workflow("publish.yml")
    for job_name in ("plan", "build", "merge"):
        job = flow["jobs"][job_name]
        assert job["permissions"]["id-token"] == "write"
        # GHCR with GITHUB_TOKEN: the jobs that push may write packages, the plan only reads
        assert job["permissions"]["packages"] == ("read" if job_name == "plan" else "write")
        [aws] = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        # no access keys: the role, through OIDC; its credentials as the step's outputs only
        assert aws["with"] == {"role-to-assume": "${{ vars.AWS_ROLE_ARN }}",
                               "aws-region": "${{ vars.AWS_REGION || 'eu-west-1' }}",
                               "output-credentials": True, "output-env-credentials": False}
        assert aws["id"] == "aws"
    assert "aws-access-key-id:" not in (WORKFLOWS / "publish.yml").read_text()


@pytest.mark.parametrize("name", ["ci.yml", "publish.yml", "git-snapshot.yml"])
def test_no_secret_is_given_to_a_whole_job(name):
    """Job-level (or workflow-level) env reaches every step and every action of the job."""
    flow = workflow(name)
    assert not SECRET_REFERENCE.search(json.dumps(flow.get("env", {})))
    for job_name, job in flow["jobs"].items():
        assert not SECRET_REFERENCE.search(json.dumps(job.get("env", {}))), job_name


@pytest.mark.parametrize("job_name", ["plan", "build", "merge"])
def test_each_credential_reaches_only_the_step_that_uses_it(job_name):
    """The one step that runs `pipeline` (which reads the registries, or pushes) gets the
    registries' secrets and the AWS step's outputs in its own env; no other step, and no
    action, sees any of them."""
    job = workflow("publish.yml")["jobs"][job_name]
    [step] = steps_with_credentials(job)
    assert re.search(r"^\s*pipeline (plan|publish) ", step["run"], re.M), step.get("name")
    env = step["env"]
    for name in registry_secrets():
        assert env[name] == f"${{{{ secrets.{name} }}}}"
    for name, output in AWS_OUTPUTS.items():
        assert env[name] == f"${{{{ steps.aws.outputs.{output} }}}}"
    assert env["AWS_REGION"] == "${{ vars.AWS_REGION || 'eu-west-1' }}"
    referenced = set(SECRET_REFERENCE.findall(json.dumps(step)))
    assert referenced == {f"secrets.{name}" for name in registry_secrets()} | {
        f"steps.aws.outputs.{output}" for output in AWS_OUTPUTS.values()}


def test_the_credential_check_finds_a_job_level_secret():
    """The check above, shown the old layout (secrets in the job's env), finds every step."""
    job = {"env": {"DOCKERHUB_TOKEN": "${{ secrets.DOCKERHUB_TOKEN }}"},
           "steps": [{"uses": "actions/cache/restore@" + "0" * 40}, {"run": "pipeline plan --json"}]}
    assert SECRET_REFERENCE.search(json.dumps(job["env"]))
    leaky = {"steps": [{"uses": "x/y@" + "0" * 40, "env": {"T": "${{ secrets.DOCKERHUB_TOKEN }}"}},
                       {"run": "pipeline plan", "env": {"T": "${{ secrets.DOCKERHUB_TOKEN }}"}}]}
    assert len(steps_with_credentials(leaky)) == 2


@pytest.mark.parametrize("name", ["ci.yml", "publish.yml", "git-snapshot.yml"])
def test_checkout_leaves_no_token_behind(name):
    """actions/checkout writes the job's GITHUB_TOKEN into .git/config unless told not to,
    where every later step and action could read it (in build and merge it may write
    packages); no job pushes to git."""
    for job_name, job in workflow(name)["jobs"].items():
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, f"{name}: {job_name}"


def test_the_merge_job_signs_keyless():
    """matrix.yaml signs keyless: the merge job (which makes the indexes publishing signs)
    installs cosign and may mint its OIDC token; the build jobs sign nothing."""
    flow = workflow("publish.yml")
    matrix = load_matrix(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": f"file:{RELEASES_FILE}"})
    assert matrix.signing.method == "keyless"
    uses = {name: [s.get("uses", "") for s in job["steps"]] for name, job in flow["jobs"].items()}
    assert any(u.startswith("sigstore/cosign-installer@") for u in uses["merge"])
    assert not any(u.startswith("sigstore/cosign-installer@") for u in uses["build"] + uses["plan"])
    assert flow["jobs"]["merge"]["permissions"]["id-token"] == "write"


# ----------------------------------------------------------------------------- pinned actions

# `uses: owner/repo[/path]@<full commit SHA> # v<version>`: a tag can be moved to other code,
# a commit cannot; the comment is what Dependabot reads and updates with the SHA.
PINNED = re.compile(r"(?P<action>[\w.-]+/[\w.-]+)(?P<path>/[\w./-]+)?@(?P<sha>[0-9a-f]{40}) # (?P<version>v\d+(\.\d+){0,2})")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<value>.*?)\s*$")


def uses_lines(text: str) -> list[str]:
    return [match.group("value") for line in text.splitlines() if (match := USES_LINE.match(line))]


def is_pinned(value: str) -> bool:
    """A `uses:` value (the rest of its line) pins another repository's action by SHA with
    its version; a local action (./) or a docker:// image is not another repository's."""
    if value.startswith(("./", "docker://")):
        return True
    return PINNED.fullmatch(value) is not None


@pytest.mark.parametrize(("value", "pinned"), [
    ("actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09 # v5.1.0", True),
    ("actions/cache/restore@27d5ce7f107fe9357f9df03efb73ab90386fccae # v5.0.5", True),
    ("./.github/actions/local", True),
    ("actions/checkout@v5", False),                                             # a tag moves
    ("actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09", False),       # no version
    ("actions/checkout@fbc6f39 # v5.1.0", False),                               # short SHA
    ("actions/checkout@main # v5.1.0", False),                                  # a branch
    ("actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09 # latest", False),
    ("actions/checkout@FBC6F3992D24B796D5A048FF273F7FCC4A7B6C09 # v5.1.0", False),
])
def test_what_counts_as_pinned(value, pinned):
    assert is_pinned(value) is pinned


@pytest.mark.parametrize("name", ["ci.yml", "publish.yml", "git-snapshot.yml"])
def test_actions_are_pinned_by_commit_sha(name):
    """Every `uses:` of another repository names a full commit SHA, with the release it is in
    a comment (the YAML parser drops comments, so the lines are read as text; both readings
    must find the same actions)."""
    text = (WORKFLOWS / name).read_text()
    flow = yaml.safe_load(text)
    parsed = [step["uses"] for job in flow["jobs"].values() for step in job.get("steps", []) if "uses" in step]
    lines = uses_lines(text)
    assert [value.split(" #")[0] for value in lines] == parsed
    for value in lines:
        assert is_pinned(value), f"{name}: not pinned by commit SHA with its version: uses: {value}"


def test_one_action_one_pin():
    """An action used in several places is pinned to the same commit and version everywhere
    (actions/cache/restore and /save are one repository)."""
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS.glob("*.yml"):
        for value in uses_lines(path.read_text()):
            if match := PINNED.fullmatch(value):
                pins.setdefault(match["action"], set()).add(f"{match['sha']} {match['version']}")
    assert pins, "no pinned action found"
    assert {action: sorted(found) for action, found in pins.items() if len(found) > 1} == {}


# ----------------------------------------------------------------------------- installs from the lock

PIP_INSTALL = re.compile(r"\bpip install\b(?P<args>[^\n]*)")


@pytest.mark.parametrize("name", ["ci.yml", "publish.yml", "git-snapshot.yml"])
def test_every_install_is_from_the_lock(name):
    """Every `pip install` of a workflow takes the lock (by hash) or the package itself with
    no dependencies (and no build isolation, which would fetch setuptools unpinned); ci.yml's
    lint and unit jobs and publish.yml's three jobs install from the lock."""
    flow = workflow(name)
    locked = []
    for job_name, job in flow["jobs"].items():
        for step in job.get("steps", []):
            for match in PIP_INSTALL.finditer(step.get("run", "")):
                args = match["args"].split()
                if "--require-hashes" in args:
                    locked.append((job_name, args[args.index("-r") + 1]))
                else:
                    assert {"--no-deps", "--no-build-isolation"} <= set(args) and args[-1] == ".", \
                        f"{name}: job {job_name}: unlocked: pip install{match['args']}"
    expected = {"ci.yml": {("lint", "requirements/test.txt"), ("unit", "requirements/test.txt")},
                "publish.yml": {(job, "requirements/publish.txt") for job in ("plan", "build", "merge")},
                "git-snapshot.yml": set()}[name]
    assert set(locked) == expected
    for job_name, lock in locked:
        assert (ROOT / lock).is_file()
        setup = [s for s in flow["jobs"][job_name]["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
        assert all(s["with"].get("cache-dependency-path") == lock for s in setup if "cache" in s["with"])


# ----------------------------------------------------------------------------- the daily git snapshot

def test_the_daily_snapshot_starts_a_publish_run_of_git_master():
    """git-snapshot.yml starts publish.yml (workflow_dispatch) with a spec its plan job and
    the CLI accept: once a day, from the branch the schedule runs on."""
    flow = workflow("git-snapshot.yml")
    [schedule] = triggers(flow)["schedule"]
    minute, hour, *rest = schedule["cron"].split()
    assert minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]
    [job] = flow["jobs"].values()
    assert job["permissions"] == {"actions": "write"}
    [(env, script)] = run_scripts(job)
    words = shlex.split(script)
    assert words[:4] == ["gh", "workflow", "run", "publish.yml"]
    assert (WORKFLOWS / words[3]).is_file()
    assert env["REF"] == "${{ github.ref_name }}" and words[words.index("--ref") + 1] == "$REF"
    field = words[words.index("-f") + 1]
    name, _, value = field.partition("=")
    assert name in triggers(workflow("publish.yml"))["workflow_dispatch"]["inputs"]
    spec = value.replace("$SPEC", env["SPEC"])
    assert spec == "git:master"
    GitSpec.parse(spec)
    test_the_plan_job_commands_parse(spec)
