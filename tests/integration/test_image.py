"""The image built by `pipeline build lts` (22.10.1, plain and opus, linux/amd64): what it
carries and how it behaves at run time. Every check runs the real image."""

import contextlib
import hashlib
import time
import uuid
from pathlib import Path

import pytest
from python_on_whales.exceptions import DockerException

from tests.integration import containers

REQUIRED_MODULES = [
    "chan_pjsip", "res_pjsip", "res_pjsip_session", "res_pjsip_registrar", "res_rtp_asterisk",
    "pbx_lua", "res_config_pgsql", "res_odbc", "res_config_odbc", "res_musiconhold",
    "app_dial", "app_echo", "app_playback", "app_milliwatt", "app_voicemail", "app_confbridge",
    "app_queue", "app_read", "codec_ulaw", "codec_alaw", "codec_g722", "codec_gsm",
    "format_wav", "format_pcm", "format_gsm",
]


@contextlib.contextmanager
def running(docker, image, *, envs=None, volumes=(), user=None, wait=True):
    name = f"image-test-{uuid.uuid4().hex[:8]}"
    container = docker.run(image, detach=True, name=name, envs=envs or {}, volumes=list(volumes),
                           user=user, networks=["none"])
    try:
        if wait:
            wait_booted(docker, name)
        yield name
    finally:
        docker.container.remove(container, force=True, volumes=True)


def wait_booted(docker, name, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            docker.execute(name, ["asterisk", "-rx", "core waitfullybooted"])
            return
        except DockerException:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not boot:\n{docker.container.logs(name)}") from None
            time.sleep(0.2)


def cli(docker, name, command):
    return docker.execute(name, ["asterisk", "-rx", command])


@pytest.mark.parametrize("variant", ["plain", "opus"])
def test_version_matches_the_tag(docker, images, variant):
    out = docker.run(images[variant], ["asterisk", "-V"], remove=True)
    assert out.strip() == "Asterisk 22.10.1"


@pytest.mark.parametrize("variant", ["plain", "opus"])
def test_labels(docker, images, variant):
    labels = docker.image.inspect(images[variant]).config.labels
    assert labels["org.asterisk.version"] == "22.10.1"
    assert labels["org.asterisk.variant"] == variant
    assert labels["org.opencontainers.image.version"] == ("22.10.1" if variant == "plain" else "22.10.1-opus")
    for key in ("revision", "source", "created", "title", "description"):
        assert labels[f"org.opencontainers.image.{key}"], key
    assert len(labels["org.asterisk-pipeline.inputs"]) == 64


@pytest.mark.parametrize("variant", ["plain", "opus"])
def test_modules_loaded(docker, images, variant):
    with running(docker, images[variant]) as name:
        for module in REQUIRED_MODULES:
            assert "1 modules loaded" in cli(docker, name, f"module show like {module}.so"), module
        opus = cli(docker, name, "module show like codec_opus_open_source")
        translation = cli(docker, name, "core show translation")
    if variant == "opus":
        assert "1 modules loaded" in opus and "Running" in opus
        assert "opus" in translation
    else:
        assert "0 modules loaded" in opus


def test_runs_as_non_root_and_becomes_healthy(docker, images):
    with running(docker, images["plain"]) as name:
        processes = docker.execute(name, ["sh", "-c", "for p in /proc/[0-9]*; do "
                                          'echo "$(stat -c %u $p) $(cat $p/comm)"; done'])
        asterisk = [line.split() for line in processes.splitlines() if line.endswith(" asterisk")]
        assert asterisk and all(uid == "1000" for uid, _ in asterisk), processes
        deadline = time.monotonic() + 30
        while docker.container.inspect(name).state.health.status != "healthy":
            assert time.monotonic() < deadline, docker.container.inspect(name).state.health
            time.sleep(0.5)


def test_uid_and_gid_can_be_changed_for_bind_mounts(docker, images, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    with running(docker, images["plain"], envs={"ASTERISK_UID": "1234", "ASTERISK_GID": "1234"},
                 volumes=[(spool, "/var/spool/asterisk")]) as name:
        assert docker.execute(name, ["id", "-u", "asterisk"]).strip() == "1234"
    assert spool.stat().st_uid == 1234


def tree_digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_an_empty_config_volume_gets_the_defaults(docker, images, tmp_path):
    config = tmp_path / "etc"
    config.mkdir()
    with running(docker, images["plain"], volumes=[(config, "/etc/asterisk")]) as name:
        assert "600" in cli(docker, name, "dialplan show 600@from-internal")
    for expected in ("asterisk.conf", "modules.conf", "pjsip.conf", "extensions.lua", "rtp.conf"):
        assert (config / expected).is_file(), expected


def test_a_populated_config_volume_is_left_alone(docker, images, tmp_path):
    config = tmp_path / "etc"
    config.mkdir()
    with running(docker, images["plain"], volumes=[(config, "/etc/asterisk")]):
        pass  # seeds the defaults
    (config / "extensions.lua").write_text(
        'extensions = { ["from-internal"] = { ["777"] = function() app.answer() app.echo() end } }\n')
    (config / "musiconhold.conf").unlink()
    before = tree_digest(config)
    with running(docker, images["plain"], volumes=[(config, "/etc/asterisk")]) as name:
        assert "777" in cli(docker, name, "dialplan show 777@from-internal")
        assert "There is no existence of 600" in cli(docker, name, "dialplan show 600@from-internal")
    assert tree_digest(config) == before


def test_environment_settings_land_in_the_running_configuration(docker, images):
    envs = {"ASTERISK_SIP_PORT": "5080", "ASTERISK_RTP_START": "20000", "ASTERISK_RTP_END": "20019",
            "ASTERISK_EXTERNAL_ADDRESS": "203.0.113.10", "ASTERISK_LOCAL_NETS": "10.9.0.0/16"}
    with running(docker, images["plain"], envs=envs) as name:
        transports = cli(docker, name, "pjsip show transports")
        transport = cli(docker, name, "pjsip show transport transport-udp")
        rtp = cli(docker, name, "rtp show settings")
    assert "0.0.0.0:5080" in transports
    assert "external_media_address      : 203.0.113.10" in transport
    assert "local_net                   : 10.9.0.0/255.255.0.0" in transport
    assert "20000" in rtp and "20019" in rtp


def test_bad_environment_is_a_clear_error(docker, images):
    run = containers.run(docker, images["plain"], networks=["none"],
                         envs={"ASTERISK_RTP_START": "30000", "ASTERISK_RTP_END": "20000"})
    assert run.code == 2, run.output
    assert "ASTERISK_RTP_START='30000' is not valid: must be below ASTERISK_RTP_END (20000)" in run.stderr


def test_docker_stop_is_clean_and_quick(docker, images):
    with running(docker, images["plain"]) as name:
        start = time.monotonic()
        docker.container.stop(name, time=10)
        took = time.monotonic() - start
        state = docker.container.inspect(name).state
    assert state.exit_code == 0
    assert took < 5, f"docker stop took {took:.1f}s (SIGTERM not handled?)"


def test_realtime_schema_ships_in_the_image(docker, images):
    sql = docker.run(images["plain"], ["cat", "/usr/share/asterisk/db/postgresql-config.sql"], remove=True)
    for table in ("ps_endpoints", "ps_auths", "ps_aors", "ps_contacts"):
        assert f"CREATE TABLE {table}" in sql
