"""The service user against the root phase of the entrypoint, on the real image.

Started as root, the entrypoint works as root before it starts Asterisk as `asterisk`; at
the next start (a restart, a new container on the same volumes) it works as root again,
among whatever `asterisk` left behind. Each test does what a compromised Asterisk could
do (a shell as `asterisk`: `docker exec -u asterisk`, or files it left in its volumes),
restarts, and asserts that root's files are unchanged (content, owner and mode) and that
Asterisk boots, or that the entrypoint refuses to start with a line that says why.

What a compromised Asterisk may still do is in docs/security.md.
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

from tests.integration import containers
from tests.integration.test_image import cli, running, wait_booted

# Root's files that the attacks aim at, and what the entrypoint itself is.
ROOT_FILES = ("/etc/asterisk", "/usr/local/bin", "/etc/passwd", "/etc/shadow", "/etc/group",
              "/etc/ssl/certs/ca-certificates.crt")


def root_files(docker, name: str) -> list[str]:
    """Path, owner, mode and SHA-256 of every file (and link) under ROOT_FILES."""
    script = (f"find {' '.join(ROOT_FILES)} -xdev ! -type d | sort | while IFS= read -r f; do "
              "printf '%s %s %s\\n' \"$(stat -c '%n %u:%g %a' \"$f\")\" "
              "\"$( [ -L \"$f\" ] && readlink \"$f\" || sha256sum < \"$f\")\"; done")
    lines = docker.execute(name, ["sh", "-c", script]).splitlines()
    assert len(lines) > 40, lines
    return lines


def changed(before: list[str], after: list[str]) -> list[str]:
    return sorted(set(before) ^ set(after))


def as_asterisk(docker, name: str, script: str) -> str:
    """A shell script run as the user asterisk, to its end whatever fails in it."""
    return containers.execute(docker, name, ["sh", "-c", script], user="asterisk").output


def file_hash(docker, name: str, path: str) -> str:
    return containers.execute(docker, name, ["sh", "-c", f"sha256sum {path} 2>&1"]).output.strip()


def restart(docker, name: str) -> None:
    """`docker restart`: the entrypoint runs again, as root; Asterisk must boot."""
    docker.container.restart(name)
    wait_booted(docker, name)


def entrypoint_lines(docker, name: str) -> list[str]:
    return [line for line in docker.container.logs(name).splitlines() if line.startswith("entrypoint:")]


# ---- /run/asterisk: what root writes there -----------------------------------------------------

def test_a_link_left_for_the_ca_bundle_does_not_make_root_write_through_it(docker, images):
    """Issue 18: the entrypoint wrote the bundle to ca-certificates.crt.new in a directory
    of asterisk's, following a link asterisk had put there."""
    with running(docker, images["plain"]) as name:
        before = root_files(docker, name)
        as_asterisk(docker, name, "cd /run/asterisk; echo >> ca-certificates.crt; "
                                  "ln -s /etc/asterisk/extensions.lua ca-certificates.crt.new")
        restart(docker, name)
        after = root_files(docker, name)
        lua = cli(docker, name, "module show like pbx_lua.so")
    assert changed(before, after) == []
    assert "1 modules loaded" in lua


PLANTED_ENDPOINT = "[planted]\\ntype = endpoint\\ncontext = from-internal\\n"


def test_asterisk_cannot_change_what_root_wrote_for_it(docker, images):
    """The generated configuration (which pjsip.conf includes at every reload), the CA
    bundle and the time zone link: asterisk may neither write them, nor rename them away
    and put its own in their place."""
    with running(docker, images["plain"]) as name:
        bundle = file_hash(docker, name, "/run/asterisk/ca-certificates.crt")
        attempts = as_asterisk(docker, name, (
            "cd /run/asterisk; "
            "mv generated generated.old && mkdir generated && cp generated.old/* generated/; "
            f"printf '{PLANTED_ENDPOINT}' >> generated/pjsip.conf; "
            "echo '# a CA of the attacker' >> ca-certificates.crt; "
            "mv ca-certificates.crt ca.old; "
            "ln -sfn /usr/share/zoneinfo/Asia/Kathmandu localtime; true"))
        cli(docker, name, "module reload res_pjsip.so")
        outcome = {
            "planted endpoint": cli(docker, name, "pjsip show endpoint planted").strip().splitlines()[-1],
            "CA bundle": file_hash(docker, name, "/run/asterisk/ca-certificates.crt"),
            "time zone": docker.execute(name, ["readlink", "/run/asterisk/localtime"]),
        }
        owners = containers.execute(docker, name, [
            "stat", "-c", "%U:%G %a %n", "/etc/asterisk", "/etc/asterisk/extensions.lua",
            "/run/asterisk", "/run/asterisk/generated", "/run/asterisk/generated/pjsip.conf",
            "/run/asterisk/ca-certificates.crt"]).output
    assert outcome == {"planted endpoint": "Unable to find object planted.", "CA bundle": bundle,
                       "time zone": "/usr/share/zoneinfo/UTC"}, attempts
    assert owners.splitlines() == ["root:asterisk 750 /etc/asterisk",
                                   "root:asterisk 640 /etc/asterisk/extensions.lua",
                                   "root:asterisk 1775 /run/asterisk",
                                   "root:asterisk 750 /run/asterisk/generated",
                                   "root:asterisk 640 /run/asterisk/generated/pjsip.conf",
                                   "root:root 644 /run/asterisk/ca-certificates.crt"], owners


def test_whatever_asterisk_leaves_in_its_run_directory_is_gone_at_the_next_start(docker, images):
    """Directories and links in the place of root's names, a FIFO, a file of another uid:
    the next start empties /run/asterisk and writes root's files afresh."""
    with running(docker, images["plain"]) as name:
        before = root_files(docker, name)
        as_asterisk(docker, name, (
            "cd /run/asterisk; mkdir -p junk/deep; ln -s /etc/asterisk junk/deep/etc; "
            "mkfifo fifo; ln -s /etc/asterisk/pjsip.conf ca-certificates.crt.XXXXXX; "
            "ln -s /etc/asterisk/extensions.lua asterisk.pid.new; true"))
        restart(docker, name)
        after = root_files(docker, name)
        left = docker.execute(name, ["ls", "-A", "/run/asterisk"]).split()
    assert changed(before, after) == []
    assert sorted(left) == ["asterisk.ctl", "asterisk.pid", "ca-certificates.crt", "generated",
                            "localtime"]


# ---- the state volumes: the ownership walk ------------------------------------------------------

def test_a_hard_link_in_a_state_directory_does_not_give_its_target_to_asterisk(docker, images):
    """/var/cache/asterisk and /run/asterisk are on the image's own file system, with root's
    files: a hard link there to the entrypoint, given to asterisk by the ownership walk,
    would let asterisk rewrite what root runs at the next start.

    The links are made as root here: this machine's kernel refuses them to asterisk
    (fs.protected_hardlinks=1, as systemd sets it), the kernel's own default (0) lets any
    user link any file it can see. The symbolic links next to them are asterisk's own."""
    with running(docker, images["plain"]) as name:
        before = root_files(docker, name)
        docker.execute(name, ["sh", "-c",
                              "ln /usr/local/bin/docker-entrypoint.sh /var/cache/asterisk/entrypoint && "
                              "ln /etc/shadow /run/asterisk/shadow"])
        as_asterisk(docker, name, "ln -s /etc/shadow /var/cache/asterisk/shadow-link; "
                                  "ln -s /etc/asterisk /var/cache/asterisk/etc-link")
        restart(docker, name)
        after = root_files(docker, name)
        log = entrypoint_lines(docker, name)
    assert changed(before, after) == []
    assert ("entrypoint: warning: /var/cache/asterisk/entrypoint has more than one name (a hard "
            "link): its owner left as it is") in log, log


# ---- files the operator names, at a path asterisk can change -------------------------------------

def secret_file(tmp_path: Path) -> tuple[Path, str]:
    """Another secret of the host, root's only (mounted read-only at /run/secrets/other)."""
    text = f"the-other-secret-{secrets.token_hex(8)}"
    path = tmp_path / "other"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path, text


def leaked(directory: Path, text: str) -> list[str]:
    return [str(p) for p in directory.rglob("*") if p.is_file() and text in p.read_text(errors="replace")]


def test_a_password_file_asterisk_can_redirect_is_not_read_by_root(docker, images, tmp_path):
    """ASTERISK_DB_PASSWORD_FILE in asterisk's own volume, which asterisk turned into a link
    to another secret: root would copy that secret into res_pgsql.conf, which asterisk reads.
    The file is read as asterisk instead: the link leads nowhere it may read."""
    other, text = secret_file(tmp_path)
    lib, run = tmp_path / "lib", tmp_path / "run"
    lib.mkdir()
    run.mkdir()
    os.chown(lib, 1000, 1000)     # as the first start left it: asterisk's
    (lib / "db-password").symlink_to("/run/secrets/other")
    os.lchown(lib / "db-password", 1000, 1000)
    done = containers.run(docker, images["plain"], seconds=15, networks=["none"],
                          name=f"service-user-{uuid.uuid4().hex[:8]}",
                          volumes=[(lib, "/var/lib/asterisk"), (run, "/run/asterisk"),
                                   (other, "/run/secrets/other", "ro")],
                          envs={"ASTERISK_REALTIME": "pgsql", "ASTERISK_DB_HOST": "db.invalid",
                                "ASTERISK_DB_PASSWORD_FILE": "/var/lib/asterisk/db-password"})
    assert leaked(run, text) == [], "the other secret reached a file asterisk reads"
    assert text not in done.output
    assert done.code == 2, done.output[-2000:]
    assert ("entrypoint: error: ASTERISK_DB_PASSWORD_FILE='/var/lib/asterisk/db-password' is not "
            "valid: a file readable by uid 1000 (read as that user, not as root, because it can "
            "change /var/lib/asterisk on the way to it; put the file where only root writes)") \
        in done.output


def test_a_password_file_in_asterisks_own_volume_still_works(docker, images, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    password = secrets.token_hex(8)
    (lib / "db-password").write_text(password + "\n")
    os.chown(lib / "db-password", 1000, 1000)
    (lib / "db-password").chmod(0o600)
    envs = {"ASTERISK_REALTIME": "pgsql", "ASTERISK_DB_HOST": "db.invalid",
            "ASTERISK_DB_PASSWORD_FILE": "/var/lib/asterisk/db-password"}
    with running(docker, images["plain"], envs=envs, volumes=[(lib, "/var/lib/asterisk")]) as name:
        written = docker.execute(name, ["cat", "/run/asterisk/generated/res_pgsql.conf"])
    assert f"dbpass = '{password}'" in written


def test_a_private_ca_asterisk_can_redirect_is_not_read_by_root(docker, images, tmp_path):
    """A CA directory asterisk may write (a bind mount of the host user uid 1000): a `.crt`
    link there to another secret made root print its first bytes in the error line."""
    other, text = secret_file(tmp_path)
    cas = tmp_path / "cas"
    cas.mkdir()
    os.chown(cas, 1000, 1000)
    (cas / "planted.crt").symlink_to("/run/secrets/other")
    done = containers.run(docker, images["plain"], seconds=15, networks=["none"],
                          name=f"service-user-{uuid.uuid4().hex[:8]}",
                          volumes=[(cas, "/usr/local/share/ca-certificates"),
                                   (other, "/run/secrets/other", "ro")])
    assert text[:20] not in done.output, done.output
    assert done.code == 1, done.output[-2000:]
    assert ("entrypoint: error: /usr/local/share/ca-certificates/planted.crt (a private CA) is not "
            "readable by uid 1000 (read as that user, not as root, because it can change "
            "/usr/local/share/ca-certificates on the way to it; put the file where only root "
            "writes)") in done.output


def test_something_mounted_inside_the_run_directory_is_refused(docker, images, tmp_path):
    """/run/asterisk is emptied at each start: a mount inside it is refused, not emptied."""
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "keep").write_text("x")
    done = containers.run(docker, images["plain"], seconds=15, networks=["none"],
                          volumes=[(inside, "/run/asterisk/inside")])
    assert done.code == 1, done.output[-2000:]
    assert ("entrypoint: error: /run/asterisk/inside is mounted inside /run/asterisk, which is "
            "emptied at each start: mount it elsewhere") in done.output
    assert (inside / "keep").exists()
