"""deploy/compose: Asterisk and PostgreSQL (PJSIP realtime) brought up with `docker compose`
as a user would, then a phone that exists only as rows in the database registers and calls.

The compose file is used as it is, with settings from an env file (the way .env works);
only the PostgreSQL image differs: machines without registry access cannot pull
postgres:16-bookworm, so POSTGRES_IMAGE names a stand-in built here from the local
Debian base image (tests/integration/postgres-standin: Debian's PostgreSQL behind an
entrypoint that does what the official image's does for this file).

What the slow test proves, in order:
- `up --wait` finishes with both services healthy: the schema service copied the
  image's realtime schema, PostgreSQL ran it on its first start, Asterisk (image health
  check) booted against it;
- an endpoint inserted with psql in the postgres container (ps_aors, ps_auths,
  ps_endpoints) registers from the host with digest authentication through the
  published SIP port;
- it calls 600 (echo): Asterisk answers with media at ASTERISK_EXTERNAL_ADDRESS in the
  configured RTP range, and the RTP sipp sends comes back through the published ports;
- `down -v` leaves no container, volume or network of the project.
"""

from __future__ import annotations

import ipaddress
import random
import re
import secrets
import time
from pathlib import Path

import pytest
from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from pipeline.smoke import postgres, sipp
from tests.conftest import ROOT
from tests.integration import calls
from tests.integration.conftest import BASE_IMAGE, require

COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
STANDIN = Path(__file__).resolve().parent / "postgres-standin"
STANDIN_IMAGE = "pipeline-test/postgres-standin"
PROJECT_LABEL = "com.docker.compose.project"
ECHO_MS = 3000


def compose_for(env_file: Path = ENV_EXAMPLE, project: str | None = None):
    """`docker compose -f compose.yaml --env-file ENV_FILE [-p PROJECT]`, run in an
    environment of PATH only: compose lets the shell's variables override the env file's,
    and those of whoever runs the tests must not."""
    require("docker")
    return DockerClient(client_call=["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "docker"],
                        compose_files=[COMPOSE_FILE], compose_env_files=[env_file],
                        compose_project_name=project).compose


# ---- the file itself (fast: `docker compose config`, no engine needed) ------------------------

def test_example_settings_render():
    config = compose_for().config(return_json=True)
    services = config["services"]
    assert set(services) == {"schema", "postgres", "asterisk"}
    asterisk, postgres = services["asterisk"], services["postgres"]
    assert asterisk["image"] == "docker.io/asteriskpipeline/asterisk:22"
    assert postgres["image"] == "postgres:16-bookworm"
    env = asterisk["environment"]
    assert env["ASTERISK_REALTIME"] == "pgsql" and env["ASTERISK_DB_HOST"] == "postgres"
    assert env["ASTERISK_LOCAL_NETS"] == "172.30.53.128/25"
    # Passwords only as files (secrets), Asterisk's role apart from the superuser.
    assert env["ASTERISK_DB_PASSWORD_FILE"] == "/run/secrets/asterisk_db_password"
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert postgres["environment"]["ASTERISK_DB_PASSWORD_FILE"] == "/run/secrets/asterisk_db_password"
    assert "POSTGRES_USER" not in postgres["environment"]    # the superuser is postgres
    assert [s["source"] for s in asterisk["secrets"]] == ["asterisk_db_password"]
    assert {s["source"] for s in postgres["secrets"]} == {"postgres_password", "asterisk_db_password"}
    assert set(config["secrets"]) == {"postgres_password", "asterisk_db_password"}
    for service in services.values():
        assert not [key for key in service.get("environment", {})
                    if "PASSWORD" in key and not key.endswith("_FILE")], service
    # Least privilege: capabilities dropped, no new privileges.
    for name, service in services.items():
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    assert set(asterisk["cap_add"]) == {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "SETPCAP"}
    published = {(p["published"], p["target"], p["protocol"]) for p in asterisk["ports"]}
    assert ("5060", 5060, "udp") in published and ("5060", 5060, "tcp") in published
    rtp = [p for p in asterisk["ports"] if p["target"] != 5060]
    assert {p["published"] for p in rtp} == {str(port) for port in range(10000, 10100)}
    assert asterisk["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert postgres["depends_on"]["schema"]["condition"] == "service_completed_successfully"
    named = {v["source"] for s in services.values() for v in s.get("volumes", [])
             if v["type"] == "volume"}
    assert named == {"schema", "postgres-data", "asterisk-etc", "asterisk-lib",
                     "asterisk-spool", "asterisk-log"}


def test_no_password_has_a_default():
    example = ENV_EXAMPLE.read_text()
    assert not [line for line in example.splitlines() if "PASSWORD=" in line and not line.startswith("#")]
    compose = COMPOSE_FILE.read_text()
    assert not re.search(r"PASSWORD:\s*\$\{", compose), "a password from a variable"
    assert "${SECRETS_DIR:-./secrets}/postgres_password" in compose


# ---- the running deployment --------------------------------------------------------------------

@pytest.fixture(scope="module")
def postgres_image(docker):
    """The stand-in for postgres:16-bookworm (built once; seconds when cached)."""
    docker.buildx.build(STANDIN, tags=[STANDIN_IMAGE], build_args={"BASE_IMAGE": BASE_IMAGE},
                        load=True, progress=False)
    return STANDIN_IMAGE


def free_subnet(docker) -> ipaddress.IPv4Network:
    """A /24 in 172.30.0.0/16 that no Docker network on this engine uses."""
    taken = []
    for network in docker.network.list():
        for config in network.ipam.config or []:
            subnet = config.get("Subnet") or config.get("subnet")
            if subnet:
                taken.append(ipaddress.ip_network(subnet, strict=False))
    candidates = [net for net in ipaddress.ip_network("172.30.0.0/16").subnets(new_prefix=24)
                  if not any(net.overlaps(other) for other in taken if other.version == 4)]
    assert candidates, "no free /24 in 172.30.0.0/16 for the compose network"
    return random.choice(candidates)


def secrets_dir(path: Path, *, asterisk_password: str) -> Path:
    """The two password files, as docs/compose.md makes them (0644 in a 0700 directory)."""
    path.mkdir(mode=0o700)
    for name, value in (("postgres_password", secrets.token_urlsafe(24)),
                        ("asterisk_db_password", asterisk_password)):
        (path / name).write_text(value + "\n")
        (path / name).chmod(0o644)
    return path


def env_file_for(path: Path, *, image: str, postgres_image: str, secrets_path: Path,
                 ports: calls.PortBlock, subnet: ipaddress.IPv4Network) -> Path:
    """.env.example with this run's values: the built image, free ports on loopback."""
    repository, _, tag = image.rpartition(":")
    hosts = list(subnet.subnets(new_prefix=25))
    values = {
        "ASTERISK_IMAGE": repository, "ASTERISK_TAG": tag, "POSTGRES_IMAGE": postgres_image,
        "SECRETS_DIR": secrets_path, "ASTERISK_EXTERNAL_ADDRESS": sipp.LOCAL_IP,
        "ASTERISK_SIP_PORT": ports.asterisk.sip, "ASTERISK_RTP_START": ports.asterisk.rtp_start,
        "ASTERISK_RTP_END": ports.asterisk.rtp_end, "PUBLISH_ADDRESS": sipp.LOCAL_IP,
        "NETWORK_SUBNET": subnet, "NETWORK_CONTAINERS": hosts[1],
        "NETWORK_GATEWAY": next(subnet.hosts()),
    }
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values.pop(key)}" if key in values else line)
    assert not values, f".env.example lacks {sorted(values)}"
    path.write_text("\n".join(lines) + "\n")
    return path


def leftovers(docker, project: str) -> list[str]:
    label = [("label", f"{PROJECT_LABEL}={project}")]
    return ([f"container {c.name}" for c in docker.container.list(all=True, filters=label)]
            + [f"volume {v.name}" for v in docker.volume.list(filters=label)]
            + [f"network {n.name}" for n in docker.network.list(filters=label)])


@pytest.mark.slow
def test_realtime_endpoint_registers_and_calls(docker, images, postgres_image, tmp_path):
    require("sipp")
    start = time.monotonic()
    project = f"pipeline-test-compose-{secrets.token_hex(4)}"
    ports = calls.PortBlock.allocate(callers=2, rtp_ports=8)
    # A password with characters both Asterisk's configuration and libpq treat specially.
    asterisk_password = f"{secrets.token_hex(8)};'\\ #x"
    env_file = env_file_for(tmp_path / "test.env", image=images["plain"],
                            postgres_image=postgres_image,
                            secrets_path=secrets_dir(tmp_path / "secrets", asterisk_password=asterisk_password),
                            ports=ports, subnet=free_subnet(docker))
    compose = compose_for(env_file, project)
    try:
        try:
            compose.up(detach=True, wait=True, wait_timeout=90, pull="never", quiet=True)
        except DockerException as error:
            logs = compose.logs(tail="30")
            pytest.fail(f"docker compose up --wait failed: {error.stderr}\n{logs}")
        booted = time.monotonic() - start
        states = {c.config.labels["com.docker.compose.service"]: c.state
                  for c in compose.ps(all=True)}
        assert states["schema"].status == "exited" and states["schema"].exit_code == 0
        for service in ("postgres", "asterisk"):
            assert states[service].health.status == "healthy", f"{service}: {states[service]}"

        name, password = f"rt{secrets.token_hex(3)}", secrets.token_hex(12)
        add_endpoint(compose, name, password)
        asterisk = next(c.name for c in compose.ps() if c.name.startswith(f"{project}-asterisk"))

        def rx(command: str) -> str:
            return docker.container.execute(asterisk, ["asterisk", "-rx", command])

        register = sipp.run(sipp.render("register"), tmp_path / "register", check=False,
                            target=f"{sipp.LOCAL_IP}:{ports.asterisk.sip}",
                            ports=ports.caller(0), caller=name, user=name, password=password)
        calls.require_ok(register, f"REGISTER of {name} (only in PostgreSQL)")
        assert "Contact:" in rx(f"pjsip show aor {name}"), f"{name} has no contact after 200 OK"

        detail = echo_call(rx, lambda: docker.container.logs(asterisk), ports, tmp_path / "call",
                           name, password)
        role = least_privilege(compose, docker, asterisk, asterisk_password)
    finally:
        compose.down(volumes=True, remove_orphans=True, timeout=10, quiet=True)
    assert not leftovers(docker, project), f"left behind by down -v: {leftovers(docker, project)}"
    seconds = time.monotonic() - start
    print(f"up --wait {booted:.1f}s; {name} registered and called 600: {detail}; {role}; "
          f"{seconds:.1f}s in all")


def add_endpoint(compose, name: str, password: str) -> None:
    """A phone as rows in the realtime tables, with psql in the postgres container."""
    sql = postgres.endpoint_sql(name, password, context="from-internal")
    psql = 'psql -v ON_ERROR_STOP=1 -U postgres -d "$POSTGRES_DB" -c "$0"'
    out = compose.execute("postgres", ["sh", "-c", psql, sql], tty=False)
    assert out is not None and out.count("INSERT 0 1") == 3, f"psql said: {out}"


def least_privilege(compose, docker, asterisk: str, password: str) -> str:
    """Asterisk's database role is no superuser and may write only ps_contacts; its
    password is in no process's environment."""
    psql = 'psql -X -A -t -v ON_ERROR_STOP=1 -U postgres -d "$POSTGRES_DB" -c "$0"'
    def sql(query: str) -> str:
        return compose.execute("postgres", ["sh", "-c", psql, query], tty=False).strip()
    assert sql("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'asterisk'") == "f|f|f"
    privileges = sql("SELECT string_agg(table_name || ':' || privilege_type, ' ' ORDER BY 1) "
                     "FROM information_schema.role_table_grants WHERE grantee = 'asterisk'")
    writes = {item.split(":")[0] for item in privileges.split() if not item.endswith(":SELECT")}
    assert writes == {"ps_contacts"}, privileges
    owned = sql("SELECT count(*) FROM pg_tables WHERE tableowner = 'asterisk'")
    assert owned == "0"
    assert sql("SELECT count(*) FROM ps_contacts") != "0", "the registration was not written"
    script = ("for p in /proc/[0-9]*; do [ \"$(cat $p/comm)\" = asterisk ] && "
              "tr '\\0' '\\n' < $p/environ; done; true")
    environment = docker.container.execute(asterisk, ["sh", "-c", script], privileged=True)
    assert "ASTERISK_DB_PASSWORD_FILE=" in environment and password not in environment
    return "role asterisk: no superuser, writes only ps_contacts, password not in any environment"


def echo_call(rx, log, ports: calls.PortBlock, workdir: Path, caller: str, password: str) -> str:
    """A call to 600 with 3 s of tone: what Asterisk received and sent back."""
    with calls.ChannelMonitor(rx) as monitor:
        call = sipp.run(sipp.render("call", offer=sipp.PCMA_OFFER, media="\n".join(
            [sipp.play("audio.pcap"), sipp.pause(ECHO_MS + 1000)])), workdir, check=False,
            target=f"{sipp.LOCAL_IP}:{ports.asterisk.sip}", ports=ports.caller(1),
            service="600", caller=caller, user=caller, password=password, timeout=15,
            files={"audio.pcap": calls.media_pcap(ECHO_MS, tone_hz=1000)})
    calls.require_ok(call, f"the call from {caller} to 600")
    answer = calls.check_answer(call, ports.asterisk)
    found = calls.executed(log(), "600", "echo")
    assert len(found) == 1, f"expected one channel in Echo(), the log shows {found}"
    history = monitor.history(found[0])
    assert history, f"{found[0]} never showed in `pjsip show channelstats`"
    sent = ECHO_MS // calls.PTIME_MS
    total = history[-1][1]
    assert total.rx >= 0.9 * sent, f"Asterisk received {total.rx} of the {sent} packets sent"
    received, echoed, seconds = calls.steady(history, 1.0)
    assert received >= 25, f"too few samples once Echo() ran: {history}"
    assert echoed >= 0.9 * received, (
        f"in {seconds:.1f}s of Echo(), Asterisk received {received} and sent back {echoed}")
    return (f"answer at {answer.address}:{answer.port}; RTP: sent {sent}, Asterisk received "
            f"{total.rx}, echoed {echoed} of {received} once Echo() ran")


def test_without_the_password_files_nothing_starts(docker, images, postgres_image, tmp_path):
    project = f"pipeline-test-compose-{secrets.token_hex(4)}"
    env_file = env_file_for(tmp_path / "test.env", image=images["plain"], postgres_image=postgres_image,
                            secrets_path=tmp_path / "no-secrets",
                            ports=calls.PortBlock.allocate(callers=1, rtp_ports=4),
                            subnet=free_subnet(docker))
    compose = compose_for(env_file, project)
    try:
        with pytest.raises(DockerException) as refused:
            compose.up(start=False, pull="never", quiet=True)
    finally:
        compose.down(volumes=True, quiet=True)
    stderr = refused.value.stderr or ""
    assert refused.value.return_code != 0
    assert "bind source path does not exist" in stderr and "no-secrets/" in stderr, stderr
    assert not leftovers(docker, project)
