"""scripts/make-local-mirror.sh where ../shared/sources is absent (a plain clone, GitHub's
integration job): it downloads the pinned releases from the upstream URLs and verifies
them. Upstream is a loopback HTTP server here (UPSTREAM_MIRROR), holding the bytes the
local mirror serves, laid out the way downloads.asterisk.org has them: a release moved to
old-releases/, a checksum published under its older name (asterisk-VERSION.sha256)."""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import requests

from pipeline import openpgp
from tests.conftest import ROOT
from tests.integration.conftest import CACHE_DIR, PINNED
from tests.integration.conftest import PJPROJECT as BUNDLED

RECIPE = ROOT / "scripts" / "make-local-mirror.sh"
TELEPHONY = "downloads.asterisk.org/pub/telephony"
PJPROJECT = "raw.githubusercontent.com/asterisk/third-party/master/pjproject"


def rel(version):
    if "cert" in version:
        return f"certified-asterisk/releases/asterisk-certified-{version}.tar.gz"
    return f"asterisk/releases/asterisk-{version}.tar.gz"


def download(url, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    response = requests.get(url, timeout=60)
    response.raise_for_status()
    dest.write_bytes(response.content)


@pytest.fixture(scope="module")
def upstream(mirror, tmp_path_factory):
    """A directory laid out like the upstream hosts, served over HTTP on loopback."""
    root = tmp_path_factory.mktemp("upstream")
    oldest, renamed = PINNED["18.x"], PINNED["20.x"]
    for version in PINNED.values():
        path = rel(version)
        if version == oldest:  # moved to old-releases/, as upstream does with older releases
            path = path.replace("/releases/", "/old-releases/")
        download(f"{mirror}/{TELEPHONY}/{rel(version)}", root / TELEPHONY / path)
        sums = requests.get(f"{mirror}/{TELEPHONY}/{rel(version)}.sha256", timeout=30).text
        name = "asterisk-20.20.1.sha256" if version == renamed else Path(path).name + ".sha256"
        (root / TELEPHONY / path).with_name(name).write_text(sums)
    for version in sorted({BUNDLED[release] for release in PINNED.values()}):
        download(f"{mirror}/{PJPROJECT}/{version}/pjproject-{version}.tar.bz2",
                 root / PJPROJECT / version / f"pjproject-{version}.tar.bz2")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(50):
        try:
            requests.get(url + "/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    yield {"root": root, "url": url}
    server.terminate()
    server.wait(10)


def run_recipe(upstream_url, mirror_dir, *args):
    """The recipe as bootstrap runs it, without stand-in sources, building into mirror_dir.
    The downloads cache (Debian packages, sound tarballs) is the host's: cached bytes."""
    env = {**os.environ, "PIPELINE_SOURCES_DIR": str(mirror_dir.parent / "no-such-dir"),
           "UPSTREAM_MIRROR": upstream_url, "MIRROR_DIR": str(mirror_dir), "PIPELINE_CACHE_DIR": CACHE_DIR}
    return subprocess.run(["bash", str(RECIPE), *args], env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def test_without_stand_in_sources_the_pinned_releases_come_from_upstream(upstream, tmp_path):
    made = tmp_path / "mirror"
    done = run_recipe(upstream["url"], made)
    assert done.returncode == 0, done.stderr + done.stdout
    versions = (made / "versions.env").read_text()
    assert f"MIRROR_ORIGIN=\"upstream via {upstream['url']}\"" in versions
    key = Path(CACHE_DIR) / "test-signing-key" / "public.asc"
    fingerprint = (key.parent / "fingerprint").read_text().strip()
    assert f"MIRROR_SIGNING_KEY={key}\nMIRROR_SIGNATURE_FINGERPRINT={fingerprint}\n" in versions
    served = sorted(p.name for p in (made / TELEPHONY).glob("*asterisk/releases/*.tar.gz"))
    assert served == sorted(Path(rel(v)).name for v in PINNED.values())
    for version in PINNED.values():
        # The tree's pjproject md5 matched the upstream pjproject: upstream's bytes are served
        # unchanged, and the published sha256 with them.
        ours = (made / TELEPHONY / rel(version)).read_bytes()
        theirs = next((upstream["root"] / TELEPHONY).rglob(Path(rel(version)).name)).read_bytes()
        assert ours == theirs, version
        sums = (made / TELEPHONY / f"{rel(version)}.sha256").read_text().split()
        assert sums[0] == hashlib.sha256(ours).hexdigest()
        # signed (.asc) with the stand-in's own test key, which versions.env names
        served = made / TELEPHONY / rel(version)
        verdict = openpgp.verify(served, served.with_name(served.name + ".asc"), key, fingerprint)
        assert verdict.ok and verdict.signer == fingerprint, verdict
    assert "mirror: downloading" in done.stdout and "/old-releases/asterisk-18.26.4.tar.gz" in done.stdout


def test_a_tarball_that_does_not_match_its_published_sha256_stops_the_recipe(upstream, tmp_path):
    target = upstream["root"] / TELEPHONY / rel(PINNED["23.x"])
    good = target.read_bytes()
    try:
        target.write_bytes(good[:-100] + b"\0" * 100)
        made = tmp_path / "mirror"
        done = run_recipe(upstream["url"], made)
    finally:
        target.write_bytes(good)
    assert done.returncode != 0
    assert f"asterisk-{PINNED['23.x']}.tar.gz: sha256 " in done.stderr
    assert "does not match the published" in done.stderr
    assert not made.exists()   # nothing half-made is left where the server would serve it


def test_an_added_release_is_served_like_the_pinned_ones(upstream, tmp_path):
    """--add DIR (e.g. make-from-git.sh output): a release whose tree names upstream's
    pjproject md5 gets the md5 of the pjproject served here, and is listed."""
    added = tmp_path / "added"
    tree = tmp_path / "tree"
    with tarfile.open(upstream["root"] / TELEPHONY / rel(PINNED["22.x"])) as archive:
        archive.extractall(tree)   # a tarball this test made itself
    old = tree / f"asterisk-{PINNED['22.x']}"
    new = old.rename(tree / "asterisk-22.99.0")
    (new / ".version").write_text("22.99.0\n")
    md5 = new / "third-party/pjproject/pjproject-2.17.tar.bz2.md5"
    md5.write_text("00000000000000000000000000000000  pjproject-2.17.tar.bz2\n")
    tarball = added / TELEPHONY / "asterisk/releases/asterisk-22.99.0.tar.gz"
    tarball.parent.mkdir(parents=True)
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(new, arcname=new.name)
    tarball.with_name(tarball.name + ".sha256").write_text(
        f"{hashlib.sha256(tarball.read_bytes()).hexdigest()}  {tarball.name}\n")
    shutil.rmtree(tree)

    made = tmp_path / "mirror"
    done = run_recipe(upstream["url"], made, "--add", str(added))
    assert done.returncode == 0, done.stderr + done.stdout
    assert "22.99.0" in (made / "versions.env").read_text()
    served = made / TELEPHONY / "asterisk/releases/asterisk-22.99.0.tar.gz"
    with tarfile.open(served) as archive:
        in_tree = archive.extractfile("asterisk-22.99.0/third-party/pjproject/pjproject-2.17.tar.bz2.md5").read()
    pjproject = (made / PJPROJECT / "2.17/pjproject-2.17.tar.bz2").read_bytes()
    assert in_tree.decode().split() == [hashlib.md5(pjproject).hexdigest(), "pjproject-2.17.tar.bz2"]
    assert (made / TELEPHONY / "asterisk/releases/asterisk-22.99.0.tar.gz.sha256").read_text().split()[0] == \
        hashlib.sha256(served.read_bytes()).hexdigest()
