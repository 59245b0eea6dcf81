"""The publish workflow against the real CLI: every field it reads from
`pipeline plan --json --per-platform` exists in that output (for this repository's
matrix.yaml and the real release list), and every `pipeline` command in its steps, with
the values a real run gives it, is accepted by the CLI's own parser."""

import json
import re
import shlex

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


def commands(env: dict, script: str) -> list[list[str]]:
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
              for argv in commands({k: evaluate(v, context) for k, v in env.items()}, run)]
    assert [args.command for args in parsed] == ["plan"]
    assert parsed[0].specs == spec.split()
    assert parsed[0].json and parsed[0].per_platform and parsed[0].outdated


def test_the_build_job_command_for_every_plan_entry(plan_entries):
    build = workflow("publish.yml")["jobs"]["build"]
    caches = set()
    for entry in plan_entries:
        context = {f"matrix.{key}": str(value) for key, value in entry.items()}
        [argv] = [argv for env, run in run_scripts(build)
                  for argv in commands({k: evaluate(v, context) for k, v in env.items()}, run)]
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
              for argv in commands({k: evaluate(v, context) for k, v in env.items()}, run)]
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


def test_one_publication_at_a_time():
    concurrency = workflow("publish.yml")["concurrency"]
    assert concurrency["group"] and concurrency["cancel-in-progress"] is False


# Set by GitHub in every job (docs.github.com, "Variables": default environment variables).
RUNNER_VARIABLES = {"GITHUB_ACTOR"}


def test_credentials_come_from_secrets_and_oidc():
    """Docker Hub from secrets, GHCR from the job's own token (and GITHUB_ACTOR), ECR and
    cosign from the job's OIDC identity: no other credential anywhere."""
    flow = workflow("publish.yml")
    matrix = load_matrix(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": f"file:{RELEASES_FILE}"})
    names = {name for registry in matrix.registries
             for name in (registry.username_env, registry.password_env) if name}
    assert names == {"DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN", "GITHUB_ACTOR", "GITHUB_TOKEN"}
    for job_name in ("plan", "build", "merge"):
        job = flow["jobs"][job_name]
        assert job["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in names - RUNNER_VARIABLES}
        assert job["permissions"]["id-token"] == "write"
        # GHCR with GITHUB_TOKEN: the jobs that push may write packages, the plan only reads
        assert job["permissions"]["packages"] == ("read" if job_name == "plan" else "write")
        [aws] = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        assert set(aws["with"]) == {"role-to-assume", "aws-region"}   # no access keys
    assert "aws-access-key-id" not in (WORKFLOWS / "publish.yml").read_text()


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


@pytest.mark.parametrize("name", ["ci.yml", "publish.yml"])
def test_actions_are_pinned_to_a_major_version(name):
    flow = workflow(name)
    uses = [step["uses"] for job in flow["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w.-]+)?@v\d+", action), action


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
