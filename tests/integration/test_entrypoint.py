"""The entrypoint of the image (dockerfiles/asterisk/entrypoint.sh), on the real image:

- every setting it reads is checked by type; a bad value stops the container at once with
  exit code 2 and one line naming the variable, its value (never a password's) and what is
  allowed, and nothing is written to /etc/asterisk or /run/asterisk (a table of bad
  values for every variable: line breaks, '[', ';', '=', spaces, non-ASCII, very long, and
  the values each type must refuse);
- empty means the default, and good values of every form land in the running
  configuration;
- a database password may hold any character but a line break: written escaped, it
  really logs in to PostgreSQL (res_config_pgsql and res_odbc), and it is not in
  Asterisk's environment.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import os
import re
import shutil
import uuid
from pathlib import Path

import pytest

from pipeline.smoke import postgres, sipp
from pipeline.smoke.instance import build_test_config
from tests.conftest import ROOT
from tests.integration import calls, containers
from tests.integration.conftest import require
from tests.integration.test_image import cli, running, wait_booted

ENTRYPOINT = ROOT / "dockerfiles" / "asterisk" / "entrypoint.sh"
README = ROOT / "dockerfiles" / "asterisk" / "README.md"

# A valid value of each setting, from which the bad ones are made.
GOOD = {
    "ASTERISK_SIP_PORT": "5080",
    "ASTERISK_RTP_START": "10000",
    "ASTERISK_RTP_END": "10099",
    "ASTERISK_EXTERNAL_ADDRESS": "203.0.113.10",
    "ASTERISK_EXTERNAL_ADDRESS_REQUIRED": "yes",
    "ASTERISK_LOCAL_NETS": "10.0.0.0/8",
    "ASTERISK_SIP_PERMIT": "192.0.2.0/24",
    "ASTERISK_CODECS": "ulaw",
    "ASTERISK_REALTIME": "pgsql",
    "ASTERISK_DB_HOST": "db.example.org",
    "ASTERISK_DB_PORT": "5432",
    "ASTERISK_DB_NAME": "asterisk",
    "ASTERISK_DB_USER": "asterisk",
    "ASTERISK_UID": "1234",
    "ASTERISK_GID": "1234",
    "ASTERISK_SKIP_CHOWN": "yes",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://169.254.169.254",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6",
    "TZ": "Europe/Berlin",
}

# The same damage done to each good value.
FORMS = {
    "line break": lambda good: f"{good}\n[evil]\ntype = endpoint",
    "bracket": lambda good: f"{good}[",
    "semicolon": lambda good: f"{good};",
    "equals": lambda good: f"{good}=1",
    "space": lambda good: f"{good} x",
    "non-ASCII": lambda good: f"{good}é",
    "very long": lambda good: good + "9" * 5000,
}

# Settings whose value is written into a file the realtime driver reads: checked with
# the realtime driver on, like a user would run them.
REALTIME = {"ASTERISK_REALTIME": "pgsql", "ASTERISK_DB_HOST": "db.example.org"}


@dataclasses.dataclass(frozen=True)
class Bad:
    variable: str          # the one the error line must name
    value: str
    why: str
    context: tuple = ()    # other settings of the same run
    secret: bool = False   # the value must not appear in the output

    @property
    def id(self) -> str:
        return f"{self.variable}-{self.why}"


def specific_rows() -> list[Bad]:
    """Values of the right shape that each type must still refuse."""
    rows = [
        ("ASTERISK_SIP_PORT", "0", "port 0"), ("ASTERISK_SIP_PORT", "65536", "above 65535"),
        ("ASTERISK_SIP_PORT", "05060", "leading zero"), ("ASTERISK_SIP_PORT", "-1", "negative"),
        ("ASTERISK_RTP_START", "five", "words"),
        ("ASTERISK_EXTERNAL_ADDRESS", "1.2.3.4.5", "five octets"),
        ("ASTERISK_EXTERNAL_ADDRESS", "300.1.1.1", "octet above 255"),
        ("ASTERISK_EXTERNAL_ADDRESS", "2001:db8::1::2", "two double colons"),
        ("ASTERISK_EXTERNAL_ADDRESS", "-bad-.example", "hyphen at a label's edge"),
        ("ASTERISK_EXTERNAL_ADDRESS_REQUIRED", "maybe", "not a boolean"),
        ("ASTERISK_LOCAL_NETS", "10.0.0.0/33", "IPv4 prefix above 32"),
        ("ASTERISK_LOCAL_NETS", "2001:db8::/129", "IPv6 prefix above 128"),
        ("ASTERISK_LOCAL_NETS", "10.0.0.0/8,,x", "one bad item"),
        ("ASTERISK_LOCAL_NETS", ",", "no item"),
        ("ASTERISK_SIP_PERMIT", "192.0.2.0/24/8", "two prefixes"),
        ("ASTERISK_SIP_PERMIT", "example.org", "a host name"),
        ("ASTERISK_CODECS", "all", "all"),
        ("ASTERISK_CODECS", "opus", "opus without the codec module"),
        ("ASTERISK_CODECS", "g729", "no codec module"),
        ("ASTERISK_REALTIME", "mysql", "unknown driver"),
        ("ASTERISK_DB_HOST", "db host", "space inside"),
        ("ASTERISK_DB_HOST", "/run/../etc", "socket path with .."),
        ("ASTERISK_DB_PORT", "0", "port 0"),
        ("ASTERISK_DB_NAME", "1asterisk", "leading digit"),
        ("ASTERISK_DB_USER", "a'b", "quote"),
        ("ASTERISK_DB_USER", "a" * 64, "64 characters"),
        ("ASTERISK_UID", "0", "root"), ("ASTERISK_GID", "0", "root"),
        ("ASTERISK_UID", "-5", "negative"), ("ASTERISK_UID", "asterisk", "a name"),
        ("ASTERISK_UID", "4294967296", "above 2^31"),
        ("ASTERISK_SKIP_CHOWN", "sometimes", "not a boolean"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "169.254.169.254", "no scheme"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "ftp://169.254.169.254", "not http"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://", "no host"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://[fd00:ec2::254]:0", "port 0"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv5", "unknown mode"),
        ("TZ", "Mars/Olympus_Mons", "unknown zone"),
        ("TZ", "../../etc/passwd", "a path"),
        ("TZ", "EST5EDT,M3.2.0,M11.1.0", "a POSIX rule"),
    ]
    out = [Bad(variable, value, why) for variable, value, why in rows]
    out += [
        Bad("ASTERISK_RTP_START", "20000", "above the end", (("ASTERISK_RTP_END", "10099"),)),
        Bad("ASTERISK_SIP_PORT", "10050", "inside the RTP range"),
        Bad("ASTERISK_DB_HOST", "", "empty with realtime", (("ASTERISK_REALTIME", "odbc"),)),
        Bad("ASTERISK_EXTERNAL_ADDRESS_REQUIRED", "yes", "without an address"),
    ]
    return out


def password_rows() -> list[Bad]:
    context = tuple(REALTIME.items())
    rows = [("line break", "pass\nword"), ("carriage return", "pass\rword"),
            ("leading space", " password"), ("trailing tab", "password\t"),
            ("very long for pgsql", "p" * 62), ("quotes make it too long", "'" * 31)]
    return [Bad("ASTERISK_DB_PASSWORD", value, why, context, secret=True) for why, value in rows]


def rows() -> list[Bad]:
    out = []
    for variable, good in GOOD.items():
        context = tuple(REALTIME.items()) if variable.startswith("ASTERISK_DB_") else ()
        out += [Bad(variable, form(good), name, context) for name, form in FORMS.items()]
    return out + specific_rows() + password_rows()


ROWS = rows()


@dataclasses.dataclass
class Outcome:
    code: int
    output: str
    left: list[str]    # files the run left in /etc/asterisk and /run/asterisk


def run_once(docker, image: str, env: dict[str, str], work: Path, *, files=()) -> Outcome:
    etc, run = work / "etc", work / "run"
    etc.mkdir(parents=True)
    run.mkdir()
    volumes = [(etc, "/etc/asterisk"), (run, "/run/asterisk"),
               *((source, target, "ro") for source, target in files)]
    done = containers.run(docker, image, seconds=30, name=f"entrypoint-test-{uuid.uuid4().hex[:8]}",
                          networks=["none"], volumes=volumes, envs=env)
    if done.code is None:   # it started: report what it said
        return Outcome(-1, f"(still running after 30 s) {done.output[-1500:]}", [])
    left = [str(p.relative_to(work)) for p in sorted(etc.rglob("*")) + sorted(run.rglob("*"))]
    return Outcome(done.code, done.output, left)


@pytest.fixture(scope="module")
def bad_outcomes(docker, images, tmp_path_factory) -> dict[str, Outcome]:
    """Every row at once, four containers at a time; each exits at once."""
    work = tmp_path_factory.mktemp("bad-values")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {row.id: pool.submit(run_once, docker, images["plain"],
                                       {**dict(row.context), row.variable: row.value},
                                       work / f"row-{index}")
                   for index, row in enumerate(ROWS)}
    return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_a_bad_value_stops_the_container_naming_the_variable(bad_outcomes, row):
    outcome = bad_outcomes[row.id]
    lines = outcome.output.strip().splitlines()
    assert outcome.code == 2, f"exit {outcome.code}: {outcome.output[:2000]}"
    assert len(lines) == 1, f"expected one line, got:\n{outcome.output[:2000]}"
    assert lines[0].startswith(f"entrypoint: error: {row.variable}"), lines[0]
    assert " is not valid: " in lines[0]
    first = row.value.splitlines()[0][:20] if row.value.strip() else ""
    if row.secret:
        assert "not shown" in lines[0]
        assert not first or first not in lines[0].split(row.variable, 1)[1], lines[0]
    elif first:
        assert first in lines[0], f"the value is not shown: {lines[0]}"
    assert outcome.left == [], f"the failed start wrote {outcome.left}"


def entrypoint_settings() -> set[str]:
    """The ASTERISK_* settings the entrypoint knows (the first column of its table)."""
    text = ENTRYPOINT.read_text()
    table = text[text.index("SETTINGS_TABLE='"):].split("'", 2)[1]
    return {line.split("|")[0].strip() for line in table.splitlines()
            if line.startswith("ASTERISK_")}


def test_the_table_covers_every_setting():
    covered = {row.variable for row in ROWS}
    settings = entrypoint_settings() | {"TZ", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"}
    assert len(settings) > 15
    missing = settings - covered - {"ASTERISK_DB_PASSWORD_FILE"}   # tests of its own below
    assert not missing, f"no bad values for {sorted(missing)}"
    readme = README.read_text()
    undocumented = [name for name in sorted(settings) if f"`{name}`" not in readme]
    assert not undocumented, f"{README} does not document {undocumented}"


def test_both_password_forms_at_once_are_refused(docker, images, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("from-the-file\n")
    outcome = run_once(docker, images["plain"], {**REALTIME, "ASTERISK_DB_PASSWORD": "from-the-env",
                                                 "ASTERISK_DB_PASSWORD_FILE": "/run/secrets/db"},
                       tmp_path / "run", files=[(secret, "/run/secrets/db")])
    assert outcome.code == 2
    assert "ASTERISK_DB_PASSWORD_FILE is set too" in outcome.output
    assert "from-the" not in outcome.output
    assert outcome.left == []


@pytest.mark.parametrize("content, why", [("pass\nword\n", "line break inside"),
                                          ("  password\n", "leading spaces")])
def test_a_bad_password_file_is_refused_without_showing_it(docker, images, tmp_path, content, why):
    secret = tmp_path / "password"
    secret.write_text(content)
    outcome = run_once(docker, images["plain"], {**REALTIME, "ASTERISK_DB_PASSWORD_FILE": "/run/secrets/db"},
                       tmp_path / "run", files=[(secret, "/run/secrets/db")])
    assert outcome.code == 2, outcome.output
    assert outcome.output.startswith("entrypoint: error: ASTERISK_DB_PASSWORD_FILE is not valid"), outcome.output
    assert "word" not in outcome.output
    assert outcome.left == []


def test_a_missing_password_file_is_named(docker, images, tmp_path):
    outcome = run_once(docker, images["plain"],
                       {**REALTIME, "ASTERISK_DB_PASSWORD_FILE": "/run/secrets/nothing"}, tmp_path / "run")
    assert outcome.code == 2
    assert "ASTERISK_DB_PASSWORD_FILE='/run/secrets/nothing' is not valid: a file readable" in outcome.output


def test_an_unknown_setting_is_named_in_a_warning(docker, images, tmp_path):
    outcome = run_once(docker, images["plain"], {"ASTERISK_SIP_PORTS": "5080", "ASTERISK_UID": "0"},
                       tmp_path / "run")
    assert "warning: ASTERISK_SIP_PORTS is not a setting of this image" in outcome.output
    assert outcome.code == 2   # the run still stops at the bad ASTERISK_UID


# ---- what good values do ----------------------------------------------------------------------

def test_empty_means_the_default(docker, images):
    envs = {name: "" for name in GOOD}
    with running(docker, images["opus"], envs=envs) as name:
        transports = cli(docker, name, "pjsip show transports")
        rtp = cli(docker, name, "rtp show settings")
        endpoint = cli(docker, name, "pjsip show endpoint endpoint-defaults")
        generated = docker.execute(name, ["cat", "/run/asterisk/generated/pjsip.conf"])
    assert "0.0.0.0:5060" in transports
    assert "10000" in rtp and "10099" in rtp
    assert "allow = opus,g722,ulaw,alaw,gsm" in generated, generated
    assert "external_media_address" not in generated and "type = acl" not in generated
    del endpoint


def test_good_values_of_every_form_land_in_the_configuration(docker, images):
    envs = {"ASTERISK_EXTERNAL_ADDRESS": "2001:db8::10",
            "ASTERISK_LOCAL_NETS": "10.1.0.0/16, 192.168.7.0/24 fd00::/8",
            "ASTERISK_CODECS": "OPUS, g722,h264",
            "ASTERISK_SIP_PORT": "5062", "ASTERISK_RTP_START": "30000", "ASTERISK_RTP_END": "30009",
            "ASTERISK_EXTERNAL_ADDRESS_REQUIRED": "TRUE", "ASTERISK_SKIP_CHOWN": "0",
            "ASTERISK_UID": "2345", "ASTERISK_GID": "2346", "TZ": ":America/New_York"}
    with running(docker, images["opus"], envs=envs) as name:
        transport = cli(docker, name, "pjsip show transport transport-udp")
        generated = docker.execute(name, ["cat", "/run/asterisk/generated/pjsip.conf"])
        ids = docker.execute(name, ["id", "asterisk"])
    assert "external_media_address      : 2001:db8::10" in transport, transport
    for net in ("10.1.0.0/255.255.0.0", "192.168.7.0/255.255.255.0", "fd00::/ff00::"):
        assert f"local_net                   : {net}" in transport, (net, transport)
    assert "allow = opus,g722,h264" in generated
    assert "uid=2345(asterisk) gid=2346(asterisk)" in ids


# ---- passwords: any character but a line break, for real -------------------------------------

# Every character Asterisk's configuration syntax or a libpq connection string treats
# specially, and some that neither does.
TRICKY_PASSWORD = "p;a's\\s w\"o#r[d]=é;--x"


@pytest.fixture(scope="module")
def database():
    """A PostgreSQL server of its own (on a socket directory), with a role whose password
    is TRICKY_PASSWORD."""
    server = postgres.LocalServer()
    try:
        admin = server.start()
        db = postgres.Database(host=admin.host, port=admin.port, name="entrypoint_test",
                               user="entrypoint_test", password=TRICKY_PASSWORD,
                               mount=admin.mount, container_host=admin.container_host)
        quoted = TRICKY_PASSWORD.replace("'", "''")
        postgres.psql(admin, f"CREATE ROLE entrypoint_test LOGIN PASSWORD '{quoted}'")
        postgres.psql(admin, "CREATE DATABASE entrypoint_test OWNER entrypoint_test")
        yield db
    finally:
        server.stop()


def realtime_env(db: postgres.Database, driver: str) -> dict[str, str]:
    return {"ASTERISK_REALTIME": driver, "ASTERISK_DB_HOST": db.container_host,
            "ASTERISK_DB_PORT": str(db.port), "ASTERISK_DB_NAME": db.name,
            "ASTERISK_DB_USER": db.user}


def asterisk_environment(docker, name: str) -> str:
    """The environment of the Asterisk process. Only a privileged exec may read it: the
    process changed its user, so even root without CAP_SYS_PTRACE is refused."""
    script = ("for p in /proc/[0-9]*; do "
              "[ \"$(cat $p/comm)\" = asterisk ] && tr '\\0' '\\n' < $p/environ; done; true")
    environment = docker.execute(name, ["sh", "-c", script], privileged=True)
    assert "PATH=" in environment, f"no environment read from the asterisk process: {environment!r}"
    return environment


@pytest.mark.parametrize("driver, status_command, connected", [
    ("pgsql", "realtime show pgsql status", "Connected to entrypoint_test@"),
    ("odbc", "odbc show asterisk", "Number of active connections: 1"),
])
def test_a_password_with_special_characters_logs_in(docker, images, database, tmp_path,
                                                     driver, status_command, connected):
    volumes = [(database.mount, database.container_host)]
    envs = {**realtime_env(database, driver), "ASTERISK_DB_PASSWORD": TRICKY_PASSWORD}
    with running(docker, images["plain"], envs=envs, volumes=volumes) as name:
        status = cli(docker, name, status_command)
        environment = asterisk_environment(docker, name)
    assert connected in status, status
    assert TRICKY_PASSWORD not in environment and "ASTERISK_DB_PASSWORD" not in environment


def test_a_password_file_logs_in_and_only_its_path_is_in_the_environment(docker, images, database,
                                                                           tmp_path):
    secret = tmp_path / "db-password"
    secret.write_text(TRICKY_PASSWORD + "\n")
    secret.chmod(0o600)     # root's only: the entrypoint reads it before dropping root
    volumes = [(database.mount, database.container_host), (secret, "/run/secrets/db", "ro")]
    envs = {**realtime_env(database, "pgsql"), "ASTERISK_DB_PASSWORD_FILE": "/run/secrets/db"}
    with running(docker, images["plain"], envs=envs, volumes=volumes) as name:
        status = cli(docker, name, "realtime show pgsql status")
        environment = asterisk_environment(docker, name)
        readable = docker.execute(name, ["setpriv", "--reuid=asterisk", "--regid=asterisk",
                                         "--init-groups", "sh", "-c",
                                         "cat /run/secrets/db >/dev/null 2>&1 && echo yes || echo no"])
    assert "Connected to entrypoint_test@" in status, status
    assert TRICKY_PASSWORD not in environment
    assert "ASTERISK_DB_PASSWORD_FILE=/run/secrets/db" in environment
    assert readable.strip() == "no", "the asterisk user can read the secret file itself"


# ---- least privilege -------------------------------------------------------------------------

def process_status(docker, name: str) -> dict[str, str]:
    """/proc/PID/status of the Asterisk process (world-readable)."""
    script = "for p in /proc/[0-9]*; do [ \"$(cat $p/comm)\" = asterisk ] && cat $p/status; done; true"
    text = docker.execute(name, ["sh", "-c", script])
    status = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
    assert "Uid" in status, f"no asterisk process: {text!r}"
    return status


def test_asterisk_runs_without_capabilities_and_cannot_gain_any(docker, images):
    with running(docker, images["plain"]) as name:
        status = process_status(docker, name)
    assert status["Uid"].split() == ["1000"] * 4 and status["Gid"].split() == ["1000"] * 4
    for kind in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[kind], 16) == 0, (kind, status[kind])
    assert status["NoNewPrivs"].strip() == "1"


def test_without_setpcap_the_bounding_set_stays_and_the_log_says_so(docker, images, tmp_path):
    # As compose users may run it: every capability dropped but those the entrypoint needs.
    name = f"entrypoint-caps-{uuid.uuid4().hex[:8]}"
    caps = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"]
    container = docker.run(images["plain"], detach=True, name=name, networks=["none"],
                           cap_drop=["ALL"], cap_add=caps, security_options=["no-new-privileges"])
    try:
        wait_booted(docker, name)
        status = process_status(docker, name)
        log = docker.container.logs(name)
    finally:
        docker.container.remove(container, force=True, volumes=True)
    assert "no CAP_SETPCAP: the capability bounding set stays" in log
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"


# What Asterisk's user can and cannot do to root's files: test_service_user.py.


def test_a_config_volume_of_another_owner_becomes_roots_and_read_only_for_asterisk(docker, images,
                                                                                   tmp_path):
    config = tmp_path / "etc"
    config.mkdir()
    with running(docker, images["plain"], volumes=[(config, "/etc/asterisk")]):
        pass    # seeded
    for path in [config, *config.rglob("*")]:
        os.chown(path, 1000, 1000)
        path.chmod(0o775 if path.is_dir() else 0o664)
    with running(docker, images["plain"], volumes=[(config, "/etc/asterisk")]) as name:
        assert "600" in cli(docker, name, "dialplan show 600@from-internal")
    for path in [config, *config.rglob("*")]:
        info = path.lstat()
        assert (info.st_uid, info.st_gid) == (0, 1000), path
        assert info.st_mode & 0o022 == 0, f"{path} is writable by group or others"


def test_a_read_only_config_mount_is_left_as_it_is(docker, images, tmp_path):
    config = tmp_path / "etc"
    config.mkdir()
    with running(docker, images["plain"], volumes=[(config, "/etc/asterisk")]):
        pass
    for path in [config, *config.rglob("*")]:
        os.chown(path, 4321, 4321)
        path.chmod(0o755 if path.is_dir() else 0o644)
    before = {str(p): (p.lstat().st_uid, p.lstat().st_mode) for p in config.rglob("*")}
    with running(docker, images["plain"], volumes=[(config, "/etc/asterisk", "ro")]) as name:
        assert "600" in cli(docker, name, "dialplan show 600@from-internal")
    assert {str(p): (p.lstat().st_uid, p.lstat().st_mode) for p in config.rglob("*")} == before


def test_the_ownership_walk_changes_links_not_their_targets_and_stays_on_its_file_system(
        docker, images, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "message.wav").write_bytes(b"RIFF")
    (spool / "to-shadow").symlink_to("/etc/shadow")
    # Another file system mounted inside the volume: the walk must not enter it.
    other = Path(f"/dev/shm/entrypoint-test-{uuid.uuid4().hex[:8]}")
    other.mkdir()
    try:
        (other / "not-mine").write_text("x")
        assert os.stat(other).st_dev != os.stat(spool).st_dev
        volumes = [(spool, "/var/spool/asterisk"), (other, "/var/spool/asterisk/other-fs")]
        with running(docker, images["plain"], volumes=volumes) as name:
            shadow = docker.execute(name, ["stat", "-c", "%U:%G", "/etc/shadow"])
        assert shadow.strip() == "root:shadow"
        link = (spool / "to-shadow").lstat()
        assert (link.st_uid, link.st_gid) == (1000, 1000), "the link itself belongs to asterisk"
        assert (spool / "message.wav").stat().st_uid == 1000
        assert (other / "not-mine").stat().st_uid == 0, "the walk entered another file system"
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_skip_chown_leaves_the_files_of_a_volume_alone(docker, images, tmp_path):
    spool = tmp_path / "spool"
    (spool / "voicemail" / "default").mkdir(parents=True)
    (spool / "voicemail" / "default" / "msg0000.wav").write_bytes(b"RIFF")
    with running(docker, images["plain"], envs={"ASTERISK_SKIP_CHOWN": "yes"},
                 volumes=[(spool, "/var/spool/asterisk")]):
        pass
    assert spool.stat().st_uid == 1000, "the volume's top directory belongs to asterisk"
    assert (spool / "voicemail" / "default" / "msg0000.wav").stat().st_uid == 0
    with running(docker, images["plain"], volumes=[(spool, "/var/spool/asterisk")]):
        pass
    assert (spool / "voicemail" / "default" / "msg0000.wav").stat().st_uid == 1000


# ---- state and operations -----------------------------------------------------------------------

def test_nothing_is_written_under_var_log_by_default(docker, images):
    with running(docker, images["plain"]) as name:
        queue = cli(docker, name, "module show like app_queue")
        cdr = cli(docker, name, "cdr show status")
        files = docker.execute(name, ["find", "/var/log/asterisk", "-type", "f"])
    assert "1 modules loaded" in queue     # app_queue runs, but writes no queue_log
    assert re.search(r"Logging:\s+Disabled", cdr), cdr
    assert files.strip() == "", f"files under /var/log/asterisk: {files}"


def test_tz_sets_the_time_of_asterisks_log(docker, images):
    """Asia/Kathmandu is UTC+05:45: Asterisk's own time stamps must be that far from
    Docker's (UTC) ones, line by line."""
    with running(docker, images["plain"], envs={"TZ": "Asia/Kathmandu"}) as name:
        cli(docker, name, "core show uptime")
        logs = containers.collect(docker.container.logs(name, timestamps=True, stream=True)).stdout
        localtime = docker.execute(name, ["readlink", "-f", "/etc/localtime"])
    offsets = []
    for line in logs.splitlines():
        found = re.match(r"(\S+)Z \[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d+\]", line)
        if found:
            docker_utc = datetime.datetime.fromisoformat(found.group(1)[:26])
            asterisk = datetime.datetime.fromisoformat(found.group(2))
            offsets.append((asterisk - docker_utc).total_seconds() / 60)
    assert offsets, logs[:2000]
    assert all(abs(offset - 345) < 1 for offset in offsets), offsets
    assert localtime.strip() == "/usr/share/zoneinfo/Asia/Kathmandu"


@pytest.mark.parametrize("asked, granted", [("Expires: 3600", 600), ("X-Asks: nothing", 300)])
def test_registrations_last_five_to_ten_minutes(docker, images, tmp_path, asked, granted):
    require("sipp")
    device, password = f"phone-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    overlay = tmp_path / "overlay" / "pjsip.d"
    overlay.mkdir(parents=True)
    (overlay / "device.conf").write_text(calls.DEVICE_CONF.format(name=device, password=password))
    config = build_test_config(docker, images["plain"], tmp_path / "etc", password="",
                               overlay=overlay.parent)
    block = calls.PortBlock.allocate(callers=1, rtp_ports=4)
    ports = block.asterisk
    name = f"entrypoint-expiry-{uuid.uuid4().hex[:8]}"
    container = docker.run(images["plain"], detach=True, name=name, networks=["host"],
                           volumes=[(str(config), "/etc/asterisk")],
                           envs={"ASTERISK_SIP_PORT": str(ports.sip), "ASTERISK_RTP_START": str(ports.rtp_start),
                                 "ASTERISK_RTP_END": str(ports.rtp_end)})
    try:
        wait_booted(docker, name)
        call = sipp.run(calls.render("register-expires", expires_header=asked), tmp_path / "sipp",
                        check=False, target=f"{sipp.LOCAL_IP}:{ports.sip}", ports=block.caller(0),
                        caller=device, user=device, password=password)
    finally:
        docker.container.remove(container, force=True, volumes=True)
    calls.require_ok(call, f"REGISTER of {device} ({asked})")
    ok = call.messages[call.messages.rindex("SIP/2.0 200 OK"):]
    contact = re.search(r"^Contact:.*;expires=(\d+)", ok, re.MULTILINE | re.IGNORECASE)
    # The contact's remaining time: the period granted, less the second that may have begun.
    assert contact and granted - 2 <= int(contact.group(1)) <= granted, ok[:1500]


# ---- started as another user (--user, Kubernetes runAsUser) -----------------------------------

@pytest.mark.parametrize("envs", [{}, {"TZ": "Europe/Berlin", "ASTERISK_SIP_PERMIT": "10.0.0.0/8"}],
                         ids=["defaults", "TZ and ACL"])
def test_started_as_the_asterisk_user_it_changes_nothing_and_runs(docker, images, envs):
    with running(docker, images["plain"], envs=envs, user="1000:1000") as name:
        status = process_status(docker, name)
        generated = docker.execute(name, ["ls", "/run/asterisk/generated"])
        zone = docker.execute(name, ["readlink", "/run/asterisk/localtime"])
    assert status["Uid"].split()[0] == "1000"
    assert "pjsip.conf" in generated.split()
    assert zone.strip() == f"/usr/share/zoneinfo/{envs.get('TZ', 'UTC')}"


def test_started_as_a_user_outside_the_group_it_says_what_to_do(docker, images, tmp_path):
    writable = ("/run/asterisk", "/var/lib/asterisk", "/var/spool/asterisk", "/var/log/asterisk")
    done = containers.run(docker, images["plain"], networks=["none"], user="4321:4321",
                          tmpfs=[f"{path}:mode=1777" for path in writable])
    assert done.code == 1, done.output
    assert ("entrypoint: error: /etc/asterisk/asterisk.conf is not readable by uid 4321 (groups 4321): "
            "the configuration is root's and the group asterisk's (gid 1000); run with that group") in done.stderr


def test_a_read_only_mount_inside_the_configuration_is_no_reason_to_warn(docker, images, tmp_path):
    config, extra = tmp_path / "etc", tmp_path / "extra.conf"
    config.mkdir()
    extra.write_text("; mounted read-only into pjsip.d, owned by someone else, mode 0666\n")
    os.chown(extra, 4321, 4321)
    extra.chmod(0o666)
    with running(docker, images["plain"], volumes=[(config, "/etc/asterisk")]):
        pass    # seeded
    volumes = [(config, "/etc/asterisk"), (extra, "/etc/asterisk/pjsip.d/extra.conf", "ro")]
    with running(docker, images["plain"], volumes=volumes) as name:
        log = docker.container.logs(name)
        writable = docker.execute(name, ["setpriv", "--reuid=asterisk", "--regid=asterisk", "--init-groups",
                                         "find", "/etc/asterisk", "-writable"])
    assert writable.strip() == ""
    assert "warning" not in "\n".join(line for line in log.splitlines() if line.startswith("entrypoint:"))
