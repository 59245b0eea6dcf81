"""The smoke test against the real 22.10.1 images: real containers, real SIP calls with
sipp, a real PostgreSQL. Every check must pass on the plain and on the opus image, and
each broken case must make the smoke step fail with the reason in its message.

Images: those `pipeline build lts` makes in the session fixture `images`
(tests/integration/conftest.py), or PIPELINE_TEST_IMAGE_PLAIN / PIPELINE_TEST_IMAGE_OPUS.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import types
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline import engine, smoke
from pipeline.core import VARIANT_NAMES, VARIANTS
from pipeline.errors import SmokeError
from pipeline.smoke import postgres
from pipeline.smoke.instance import CONFIG, LABEL, OWNER_VARIABLE, Instance
from tests.conftest import ROOT
from tests.integration.conftest import require

pytestmark = pytest.mark.slow

PLAIN, OPUS = VARIANTS["plain"], VARIANTS["opus"]


@pytest.fixture(scope="session")
def smoke_images(images) -> dict[str, str]:
    """The 22.10.1 images `pipeline build lts` made (tests/integration/conftest.py)."""
    return images


@pytest.fixture(scope="session")
def tools():
    require("sipp")
    for name in ("psql", "initdb", "pg_ctl"):
        postgres.tool(name)   # SmokeError (a failure, not a skip) when PostgreSQL is missing


@pytest.fixture(scope="module", autouse=True)
def own_runs(tmp_path_factory):
    """This module's smoke runs, and no one else's on this host: their files under one
    directory (TMPDIR, also for the unprivileged user's runs) and their containers labelled
    with one owner (PIPELINE_SMOKE_OWNER), so a clean-up never touches another run's."""
    tmp_path_factory.getbasetemp()   # pytest's own directory stays where it was
    root = Path(tempfile.mkdtemp(prefix="smoke-tests-"))
    root.chmod(0o1777)    # like /tmp: the unprivileged user's runs write here too
    saved = {name: os.environ.get(name) for name in ("TMPDIR", OWNER_VARIABLE)}
    os.environ["TMPDIR"] = str(root)
    os.environ[OWNER_VARIABLE] = f"pytest-{os.getpid()}-{root.name}"
    tempfile.tempdir = None   # read TMPDIR again
    try:
        yield root
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        tempfile.tempdir = None
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def nothing_left_behind(docker, own_runs):
    yield
    leftovers = docker.container.list(all=True, filters=[("label", f"{LABEL}={os.environ[OWNER_VARIABLE]}")])
    names = sorted(c.name for c in leftovers)
    docker.container.remove(leftovers, force=True, volumes=True)
    assert not leftovers, f"containers left behind: {names}"
    sipps = smoke_sipps(own_runs)
    assert not sipps, f"sipp processes left behind: {sipps}"
    servers = list(own_runs.glob("pipeline-smoke-pg-*"))
    assert not servers, f"PostgreSQL directories left behind: {servers}"
    configs = list(own_runs.glob("pipeline-smoke-etc-*"))
    assert not configs, f"configuration directories left behind: {configs}"


def smoke_sipps(root: Path) -> list[str]:
    """sipp processes started by this module's smoke runs (they run in work directories
    under `root`)."""
    pids = subprocess.run(["pgrep", "-x", "sipp"], capture_output=True, text=True,
                          check=False).stdout.split()
    mine = []
    for pid in pids:
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(f"{root}/"):
                mine.append(pid)
        except OSError:
            continue   # ended meanwhile
    return mine


def junit_cases(logs: Path) -> dict[str, bool]:
    suite = ET.parse(logs / "junit.xml").getroot().find("testsuite")
    return {case.get("name"): case.find("failure") is None for case in suite.iter("testcase")}


def failed(results) -> dict[str, str]:
    return {r.name: r.detail for r in results if not r.passed}


# ---- every check passes on the real images -------------------------------------------

def test_plain_image_passes_every_check(docker, smoke_images, tools, tmp_path):
    start = time.monotonic()
    results = smoke.run_smoke(docker, smoke_images["plain"], variant=PLAIN, logs=tmp_path)
    seconds = time.monotonic() - start
    assert failed(results) == {}
    assert [r.name for r in results] == smoke.check_names("both")
    assert junit_cases(tmp_path) == {name: True for name in smoke.check_names("both")}
    by_name = {r.name: r for r in results}
    assert "ended at once" in by_name["opus-host"].detail      # plain: Opus cannot pass
    assert "default configuration refuses" in by_name["closed-default-config"].detail
    print(f"plain suite: {seconds:.1f}s; "
          + ", ".join(f"{r.name} {r.seconds:.1f}s" for r in results))


def test_opus_image_passes_every_check_through_check_image(docker, smoke_images, tools, tmp_path):
    """The API `pipeline build` calls (build.Maker's smoke step), for the native platform."""
    start = time.monotonic()
    platform = engine.native_platform()
    smoke.check_image(docker, smoke_images["opus"], types.SimpleNamespace(variant=OPUS), platform,
                      tmp_path)
    seconds = time.monotonic() - start
    cases = junit_cases(tmp_path / "smoke" / platform.replace("/", "-"))
    assert cases == {name: True for name in smoke.check_names("both")}
    print(f"opus suite: {seconds:.1f}s")


@pytest.mark.parametrize("network", ["host", "published"])
def test_every_check_in_one_network_mode(docker, smoke_images, tools, tmp_path, network):
    results = smoke.run_smoke(docker, smoke_images["opus"], variant=OPUS, logs=tmp_path,
                              network=network)
    assert failed(results) == {}
    assert [r.name for r in results] == smoke.check_names(network)
    boot = next(r for r in results if r.name == f"boot-{network}")
    assert f"{network} network" in boot.detail


def test_two_runs_at_once_do_not_collide(docker, smoke_images, tools, tmp_path):
    """Two pipelines smoke-testing on one host: own ports, containers, databases."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {variant: pool.submit(smoke.run_smoke, docker, smoke_images[variant],
                                     variant=VARIANTS[variant], logs=tmp_path / variant)
                for variant in VARIANT_NAMES}
        outcomes = {variant: failed(job.result()) for variant, job in jobs.items()}
    assert outcomes == {"plain": {}, "opus": {}}


# ---- as GitHub's unprivileged runner -------------------------------------------------------
# GitHub's build job runs as the `runner` user, in the docker group, without root or any
# capability. The smoke suite must pass that way with nothing granted on the host.
RUNNER = os.environ.get("PIPELINE_TEST_RUNNER_USER", "pipeline-runner")


@pytest.fixture(scope="module")
def as_runner(own_runs, tmp_path_factory):
    """Runs `pipeline ARGS... --logs DIR` as an unprivileged user in the docker group;
    returns the finished process and DIR.

    As root: the user RUNNER (created if missing, added to the docker group), with a copy
    of this checkout installed into a venv of /usr/bin/python3 under a directory it can
    read (the default python3 may live under /root, out of its reach). Not as root: this
    user already is one, and runs this checkout's CLI.
    """
    sipp_binary = shutil.which("sipp")
    assert sipp_binary, "sipp is not installed"
    try:
        capabilities = os.getxattr(sipp_binary, "security.capability")
    except OSError:
        capabilities = b""
    assert not capabilities, f"{sipp_binary} has file capabilities (setcap): remove them " \
                             "(`setcap -r`), the smoke test must pass without"

    if os.geteuid() != 0:
        def run_as_self(args: list[str]) -> tuple[subprocess.CompletedProcess, Path]:
            logs = tmp_path_factory.mktemp("runner-logs")
            result = subprocess.run([sys.executable, "-m", "pipeline", *args, "--logs", str(logs)],
                                    cwd=ROOT, capture_output=True, text=True, timeout=600,
                                    check=False)
            return result, logs
        yield run_as_self
        return

    def as_user(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["su", RUNNER, "-s", "/bin/sh", "-c", command],
                              capture_output=True, text=True, timeout=600, check=False)

    docker_group = subprocess.run(["getent", "group", "docker"], capture_output=True, check=False)
    assert docker_group.returncode == 0, "no docker group: this test needs one"
    if subprocess.run(["id", "-u", RUNNER], capture_output=True, check=False).returncode != 0:
        subprocess.run(["useradd", "-m", RUNNER], check=True)
    subprocess.run(["usermod", "-aG", "docker", RUNNER], check=True)
    who = as_user("id -u; id -Gn; grep CapEff /proc/self/status").stdout.split("\n")
    assert who[0] != "0" and "docker" in who[1].split(), who
    assert who[2].split() == ["CapEff:", "0000000000000000"], f"{RUNNER} has capabilities: {who}"

    home = Path(tempfile.mkdtemp(prefix="runner-", dir=own_runs))
    source = home / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "pipeline", source / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(home / "venv")], check=True)
    subprocess.run([str(home / "venv" / "bin" / "pip"), "install", "--quiet", str(source)],
                   check=True, capture_output=True, text=True)
    subprocess.run(["chmod", "-R", "a+rX", str(home)], check=True)

    def run_as_runner(args: list[str]) -> tuple[subprocess.CompletedProcess, Path]:
        work = Path(tempfile.mkdtemp(prefix="work-", dir=home))
        shutil.chown(work, RUNNER)
        logs = work / "logs"
        command = shlex.join(["env", f"TMPDIR={own_runs}",
                              f"{OWNER_VARIABLE}={os.environ[OWNER_VARIABLE]}",
                              str(home / "venv" / "bin" / "pipeline"), *args, "--logs", str(logs)])
        return as_user(f"cd {shlex.quote(str(work))} && {command}"), logs
    yield run_as_runner   # own_runs removes `home`


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_every_check_passes_as_an_unprivileged_user(smoke_images, tools, as_runner, variant):
    """`pipeline smoke` as GitHub's runner would run it: no root, no capability."""
    result, logs = as_runner(["smoke", smoke_images[variant]])
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"pipeline smoke failed as {RUNNER}:\n{output[-4000:]}"
    assert junit_cases(logs) == {name: True for name in smoke.check_names("both")}


# ---- broken cases make the smoke step fail, with the reason -----------------------------

@pytest.fixture
def broken_image(docker, smoke_images, tmp_path):
    """The plain image without modules.conf: Asterisk exits at start."""
    context = tmp_path / "broken"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {smoke_images['plain']}\n"
        "RUN rm -f /etc/asterisk/modules.conf /usr/share/asterisk/default-config/modules.conf\n")
    tag = f"pipeline-smoke-broken:{os.getpid()}"
    docker.buildx.build(context, tags=[tag], load=True)
    yield tag
    docker.image.remove(tag, force=True)


def test_an_image_whose_asterisk_does_not_start_fails(docker, broken_image, tools, tmp_path):
    with pytest.raises(SmokeError) as failure:
        smoke.check_image(docker, broken_image, types.SimpleNamespace(variant=PLAIN),
                          engine.native_platform(), tmp_path)
    message = str(failure.value)
    assert "boot-host: Asterisk did not start: the container exited with code 1: " \
           "WARNING: 'modules.conf' invalid or missing." in message
    assert "boot-default-config: Asterisk did not start" in message
    assert "not run because their container did not boot: audio-host, lua-host" in message
    logs = tmp_path / "smoke" / engine.native_platform().replace("/", "-")
    assert (logs / "boot-host" / "container.log").read_text(), "the container log was not kept"
    assert not junit_cases(logs)["boot-host"]


def test_a_plain_image_checked_as_opus_fails(docker, smoke_images, tools, tmp_path):
    results = smoke.run_smoke(docker, smoke_images["plain"], variant=OPUS, logs=tmp_path,
                              network="host")
    assert list(failed(results)) == ["opus-host"]
    with pytest.raises(SmokeError,
                       match=r"opus-host: Asterisk cannot encode Opus.*translation path"):
        smoke.raise_for_failures(smoke_images["plain"], results, tmp_path)
    kept = tmp_path / "opus-host"
    for name in ("container.log", "messages.log", "errors.log", "stats.csv", "screen.log",
                 "reason.txt"):
        assert (kept / name).exists(), f"{name} was not kept for the failed check"


def test_a_missing_dialplan_extension_fails(docker, smoke_images, tools, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    extensions = config / "extensions.conf"
    text = extensions.read_text()
    assert "exten => echo," in text
    extensions.write_text(text.replace("exten => echo,", "exten => not-echo,"))
    results = smoke.run_smoke(docker, smoke_images["plain"], variant=PLAIN,
                              logs=tmp_path / "logs", network="host", config=config)
    failures = failed(results)
    assert "audio-host" in failures and "realtime-host" in failures
    assert set(failures) <= {"audio-host", "realtime-host"}, failures
    with pytest.raises(SmokeError, match=r"audio-host: .*404 Not Found.*extension 'echo' is not "
                                         r"in the dialplan"):
        smoke.raise_for_failures(smoke_images["plain"], results, tmp_path / "logs")
    assert "404 Not Found" in (tmp_path / "logs" / "audio-host" / "messages.log").read_text()


# ---- each check fails for its own reason, and only that check ---------------------------

def overlay(tmp_path: Path, edits: dict[str, Callable[[str], str]]) -> Path:
    """The smoke additions (pipeline/smoke/data/config) with `edits`: relative path ->
    function of the file's text (empty for a new file) giving the new text."""
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    for name, edit in edits.items():
        path = config / name
        old = path.read_text() if path.exists() else ""
        new = edit(old)
        assert new != old, f"the edit of {name} changed nothing"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new)
    return config


def replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, f"{old!r} is not in the smoke configuration any more"
        return text.replace(old, new)
    return edit


def only_failure(results, name: str, network: str = "host") -> str:
    """The detail of check `name`, which must be the only one of the run that failed."""
    assert [r.name for r in results] == smoke.check_names(network)
    failures = failed(results)
    assert list(failures) == [name], failures
    print(f"{name}: {failures[name]}")
    return failures[name]


ECHO = "exten => echo,1,Answer()\n same => n,Echo()\n"


def test_audio_that_asterisk_never_sends_back_fails(docker, smoke_images, tools, tmp_path):
    """Asterisk answers and receives the caller's RTP, but sends nothing back (for the smoke
    endpoint only: the realtime endpoint's call to the same extension still echoes)."""
    config = overlay(tmp_path, {"extensions.conf": replace(ECHO, (
        "exten => echo,1,Answer()\n"
        ' same => n,GotoIf($["${CHANNEL(endpoint)}" = "smoke"]?silent)\n'
        " same => n,Echo()\n"
        " same => n(silent),Wait(5)\n"))})
    results = smoke.run_smoke(docker, smoke_images["plain"], variant=PLAIN, logs=tmp_path / "logs",
                              network="host", config=config)
    detail = only_failure(results, "audio-host")
    assert re.match(r"Asterisk echoed 0 of the (7[0-5]) RTP packets it received \(need ≥ 90%\)",
                    detail), detail


def test_audio_that_never_reaches_asterisk_fails(docker, smoke_images, tools, tmp_path,
                                                  monkeypatch):
    """The RTP range is not published (as if `-p` for it were forgotten): the caller's RTP
    never reaches the container with published ports. On the plain image nothing else
    there needs media (its Opus check expects the call refused)."""
    publish = Instance.published
    monkeypatch.setattr(Instance, "published", lambda self: publish(self)[:1])   # SIP only
    results = smoke.run_smoke(docker, smoke_images["plain"], variant=PLAIN, logs=tmp_path,
                              network="both")
    detail = only_failure(results, "audio-published", "both")
    assert detail.startswith("Asterisk received 0 of the 75 RTP packets sipp sent"), detail


def test_a_lua_dialplan_without_the_extension_fails(docker, smoke_images, tools, tmp_path):
    config = overlay(tmp_path, {"extensions.lua": replace('["lua"] = function',
                                                          '["not-lua"] = function')})
    results = smoke.run_smoke(docker, smoke_images["plain"], variant=PLAIN, logs=tmp_path / "logs",
                              network="host", config=config)
    detail = only_failure(results, "lua-host")
    assert "the call to 'lua' failed: extension 'lua' is not in the dialplan" in detail, detail
    assert "404 Not Found" in detail, detail


def test_a_broken_lua_dialplan_stops_asterisk_and_says_why(docker, smoke_images, tools, tmp_path):
    """extensions.lua that Lua cannot parse: pbx_lua fails to load, and Asterisk with it."""
    config = overlay(tmp_path, {"extensions.lua": replace('["lua"] = function',
                                                          '["lua"] = functio')})
    results = smoke.run_smoke(docker, smoke_images["plain"], variant=PLAIN, logs=tmp_path / "logs",
                              network="host", config=config)
    failures = failed(results)
    assert "Failed to load module pbx_lua.so" in failures.pop("boot-host")
    assert failures["lua-host"].startswith("not run: the host container did not boot")
    assert all(detail.startswith("not run:") for detail in failures.values()), failures
    assert not any(name.endswith("default-config") for name in failures)


def test_dtmf_read_as_another_digit_fails(docker, smoke_images, tools, tmp_path):
    config = overlay(tmp_path, {"extensions.conf": replace(
        'Set(DB(smoke/dtmf)=${IF($["${DIGIT}" = ""]?none:${DIGIT})})',
        "Set(DB(smoke/dtmf)=$[(${DIGIT} + 1) % 10])")})
    results = smoke.run_smoke(docker, smoke_images["plain"], variant=PLAIN, logs=tmp_path / "logs",
                              network="host", config=config)
    detail = only_failure(results, "dtmf-host")
    match = re.match(r"sent DTMF digit (\d) \(RFC 2833\), the dialplan read (\d)", detail)
    assert match, detail
    assert int(match.group(2)) == (int(match.group(1)) + 1) % 10, detail


ANONYMOUS = """
[anonymous]
type = endpoint
context = smoke
disallow = all
allow = alaw,ulaw
"""
OPEN_BY_ADDRESS = """
[open]
type = endpoint
context = smoke
disallow = all
allow = alaw,ulaw

[open]
type = identify
endpoint = open
match = 127.0.0.1
"""


@pytest.mark.parametrize("intruder", [ANONYMOUS, OPEN_BY_ADDRESS], ids=["anonymous", "identify"])
def test_a_configuration_that_lets_a_stranger_in_fails(docker, smoke_images, tools, tmp_path,
                                                       intruder):
    """An endpoint without authentication that takes requests from unknown users."""
    config = overlay(tmp_path, {"pjsip.d/intruder.conf": lambda text: text + intruder})
    results = smoke.run_smoke(docker, smoke_images["plain"], variant=PLAIN, logs=tmp_path / "logs",
                              network="host", config=config)
    detail = only_failure(results, "closed-host")
    assert re.match(r"INVITE from intruder-\w+ with a wrong password was accepted: 200 OK", detail), \
        detail


def test_realtime_with_another_password_in_the_database_fails(docker, smoke_images, tools,
                                                              tmp_path, monkeypatch):
    """The database holds another password than the one the caller registers with."""
    add_endpoint = postgres.add_endpoint

    def wrong_password(database, name, password, **options):
        add_endpoint(database, name, password[::-1] + "x", **options)

    monkeypatch.setattr(postgres, "add_endpoint", wrong_password)
    results = smoke.run_smoke(docker, smoke_images["plain"], variant=PLAIN, logs=tmp_path / "logs",
                              network="host")
    detail = only_failure(results, "realtime-host")
    assert re.match(r"REGISTER of the database endpoint rt-\w+ failed: the credentials were "
                    r"refused: .*401", detail), detail


# ---- the image's own checks (docker-library's global tests) fail for their own reason -----------

@pytest.fixture
def derived_image(docker, smoke_images, tmp_path):
    """derived_image(*lines): the plain image plus these Dockerfile lines, removed after."""
    tags = []

    def make(*lines: str) -> str:
        context = tmp_path / f"derived-{len(tags)}"
        context.mkdir()
        (context / "Dockerfile").write_text("\n".join([f"FROM {smoke_images['plain']}", *lines]) + "\n")
        tag = f"pipeline-smoke-derived:{os.getpid()}-{len(tags)}"
        docker.buildx.build(context, tags=[tag], load=True)
        tags.append(tag)
        return tag

    yield make
    for tag in tags:
        docker.image.remove(tag, force=True)


def image_check_failures(docker, image, logs) -> dict[str, str]:
    results = smoke.run_image_checks(docker, image, None, logs)
    assert [r.name for r in results] == ["utc", "no-hard-coded-passwords", "override-cmd"]
    return failed(results)


def test_the_image_checks_pass_on_the_real_images(docker, smoke_images, tmp_path):
    for variant in VARIANT_NAMES:
        results = smoke.run_image_checks(docker, smoke_images[variant], None, tmp_path / variant)
        assert failed(results) == {}, variant
        assert {r.name: r.detail for r in results}["utc"].endswith(": UTC")


def test_an_image_whose_time_zone_is_not_utc_fails(docker, derived_image, tmp_path):
    image = derived_image("RUN ln -sfn /usr/share/zoneinfo/Europe/Berlin /run/asterisk/localtime")
    failures = image_check_failures(docker, image, tmp_path)
    assert list(failures) == ["utc"]
    assert re.match(r"`date \+%Z` in the image says 'CES?T', not UTC: /etc/localtime leads to "
                    r"/usr/share/zoneinfo/Europe/Berlin", failures["utc"]), failures["utc"]
    assert (tmp_path / "utc" / "reason.txt").read_text().startswith("`date +%Z`")


def test_an_image_with_passwords_fails(docker, derived_image, tmp_path):
    image = derived_image("RUN echo 'asterisk:hunter2' | chpasswd && passwd -d root")
    failures = image_check_failures(docker, image, tmp_path)
    assert list(failures) == ["no-hard-coded-passwords"]
    assert failures["no-hard-coded-passwords"] == (
        "root has an empty password (anyone may log in or `su` to it without one); "
        "asterisk has a password hash ($y$)")


def test_an_entrypoint_that_adds_to_the_output_fails(docker, derived_image, tmp_path):
    image = derived_image('ENTRYPOINT ["/usr/bin/tini", "--", "sh", "-c", '
                          '"echo starting up; exec docker-entrypoint.sh \\"$@\\"", "sh"]')
    failures = image_check_failures(docker, image, tmp_path)
    assert list(failures) == ["override-cmd"]
    assert re.match(r"`docker run IMAGE echo Hello world-\w+` printed 'starting up\\nHello world-\w+' "
                    r"\(exit 0\), not that line alone", failures["override-cmd"]), failures["override-cmd"]


def test_an_entrypoint_that_ignores_the_command_fails(docker, derived_image, tmp_path, monkeypatch):
    image = derived_image('ENTRYPOINT ["/usr/bin/tini", "--", "sh", "-c", "exec sleep 600"]')
    monkeypatch.setattr(smoke.image_checks, "RUN_SECONDS", 3.0)
    failures = image_check_failures(docker, image, tmp_path)
    assert list(failures) == ["override-cmd"]
    assert re.match(r"`docker run \S+ echo Hello world-\w+` was still running after 3s: the image "
                    r"does not end when its command does", failures["override-cmd"]), failures


def test_an_image_check_failure_fails_the_smoke_step(docker, derived_image, tools, tmp_path):
    image = derived_image("RUN echo 'asterisk:hunter2' | chpasswd")
    with pytest.raises(SmokeError) as failure:
        smoke.check_image(docker, image, types.SimpleNamespace(variant=PLAIN),
                          image_platform(), tmp_path)
    message = str(failure.value)
    assert message.startswith(f"smoke test of {image} ({image_platform()}) failed 1 of ")
    assert "no-hard-coded-passwords: asterisk has a password hash ($y$)" in message
    logs = tmp_path / "smoke" / image_platform().replace("/", "-")
    assert junit_cases(logs)["no-hard-coded-passwords"] is False
    assert junit_cases(logs)["audio-host"] is True


def image_platform() -> str:
    return engine.native_platform()
