"""The GitHub Actions workflows pass actionlint (expressions, job outputs, action inputs,
and shellcheck on every `run:` script) and GitHub's workflow JSON schema (the copy
vendored in check-jsonschema: no network). Each tool is also shown a broken workflow, so
a checker that silently checks nothing cannot pass. (tests/unit/test_workflow_plan.py
checks the workflows against the CLI and its plan output.)"""

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))

BROKEN = textwrap.dedent("""\
    name: broken
    on: push
    jobs:
      build:
        runs-on: ubuntu-24.04
        strategy:
          matrix:
            python: ["3.11"]
        steps:
          - uses: actions/checkout@v5
            with:
              fetch-dept: 1
          - run: echo ${{ matrix.pyhton }}
        runs_on: ubuntu-24.04
    """)


def tool(name: str) -> str:
    """A command installed with the test dependencies: beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]' (see docs/ci.md)"
    return found


def test_there_are_workflows():
    assert [path.name for path in WORKFLOWS] == ["ci.yml", "git-snapshot.yml", "publish.yml"]


def actionlint(*paths, cwd=ROOT):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (apt-get install shellcheck)"
    return subprocess.run([tool("actionlint"), "-no-color", "-shellcheck", shellcheck, *map(str, paths)],
                          capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def test_actionlint():
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_mistakes(tmp_path):
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.write_text(BROKEN)
    result = actionlint(broken, cwd=tmp_path)
    assert result.returncode == 1
    for mistake in ("fetch-dept", "pyhton", "runs_on"):
        assert mistake in result.stdout, result.stdout


def schema_check(*paths):
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           *map(str, paths)], capture_output=True, text=True, timeout=60, check=False)


def test_github_workflow_schema():
    result = schema_check(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_finds_mistakes(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    result = schema_check(broken)
    assert result.returncode == 1
    assert "runs_on" in result.stdout, result.stdout


@pytest.mark.parametrize("script", ["ci.yml", "publish.yml", "git-snapshot.yml"])
def test_no_expression_is_expanded_inside_a_run_script(script):
    """Values reach scripts through env: (no script injection from inputs or plan output)."""
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / script).read_text())
    for name, job in flow["jobs"].items():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), f"{script}: job {name}: {step.get('name')}"


# ----------------------------------------------------------------------------- cache and secrets

def publish_steps() -> list[dict]:
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "publish.yml").read_text())
    return [step for job in flow["jobs"].values() for step in job["steps"]]


def test_a_failing_cache_backend_does_not_fail_the_build():
    """BuildKit's `ignore-error=true` on the cache export (test_build_cache.py shows what it does)."""
    [cache] = [step["env"]["CACHE"] for step in publish_steps() if "CACHE" in step.get("env", {})]
    options = dict(item.split("=", 1) for item in cache.split(","))
    assert options["type"] == "gha" and options["ignore-error"] == "true"


CACHE_VARIABLES = {"ACTIONS_RUNTIME_TOKEN", "ACTIONS_CACHE_URL", "ACTIONS_RESULTS_URL", "ACTIONS_CACHE_SERVICE_V2"}


def test_the_cache_runtime_variables_reach_the_build_step_only():
    """The variables buildx reads for type=gha (buildx build/opt.go, addGithubToken), and no
    ACTIONS_ID_TOKEN_REQUEST_TOKEN/URL (they mint OIDC tokens): the github-script step gives
    them as its outputs (the token masked), and only the build step reads those, into its own
    env. Nothing exports them ($GITHUB_ENV would hand them to every later step)."""
    steps = publish_steps()
    [script_step] = [step for step in steps if step.get("uses", "").startswith("actions/github-script@")]
    script = script_step["with"]["script"]
    assert set(re.findall(r"'(ACTIONS_\w+)'", script)) == CACHE_VARIABLES
    assert "core.setOutput(name, value)" in script and "core.setSecret(value)" in script
    assert "exportVariable" not in script and "startsWith" not in script and "ID_TOKEN" not in script
    reference = f"steps.{script_step['id']}.outputs."
    readers = [step for step in steps if reference in json.dumps(step)]
    [build] = [step for step in steps if "--build-platform" in step.get("run", "")]
    assert readers == [build]
    assert {name: value for name, value in build["env"].items() if name.startswith("ACTIONS_")} == {
        name: f"${{{{ {reference}{name} }}}}" for name in CACHE_VARIABLES}
    for step in steps:
        assert "ACTIONS_ID_TOKEN" not in json.dumps(step), step
        assert "GITHUB_ENV" not in step.get("run", ""), step


# ----------------------------------------------------------------------------- Dependabot

DEPENDABOT = ROOT / ".github" / "dependabot.yml"


def dependabot_check(path):
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_dependabot_configuration_schema():
    """.github/dependabot.yml against Dependabot's schema (vendored in check-jsonschema)."""
    result = dependabot_check(DEPENDABOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dependabot_schema_finds_mistakes(tmp_path):
    broken = tmp_path / "dependabot.yml"
    broken.write_text(DEPENDABOT.read_text().replace("github-actions", "github-action")
                      .replace("lockfile-only", "lockfile"))
    result = dependabot_check(broken)
    assert result.returncode == 1
    assert "'github-action' is not one of" in result.stdout and "'lockfile' is not one of" in result.stdout


def test_dependabot_keeps_the_pins_and_the_locks_fresh():
    """The action pins (github-actions: every workflow, SHA and version comment) and the
    locks (uv: requirements/*.txt, compiled from requirements/*.in), lockfile-only so that
    the bounds of requirements/*.in and pyproject.toml stay equal (tests/unit/test_lock.py)."""
    updates = {entry["package-ecosystem"]: entry for entry in yaml.safe_load(DEPENDABOT.read_text())["updates"]}
    assert set(updates) == {"github-actions", "uv"}
    assert updates["github-actions"]["directory"] == "/"
    assert updates["uv"]["directory"] == "/" and updates["uv"]["versioning-strategy"] == "lockfile-only"
    for entry in updates.values():
        assert entry["schedule"]["interval"] in ("daily", "weekly")
