"""Fetching and verifying a release's (or a snapshot's) inputs into the build's `sources`
context.

Nothing is built from a file that was not verified:

* the Asterisk tarball against the release's published .sha256 (integrity), and against
  upstream's OpenPGP signature published beside it (`<tarball>.asc`, origin): a good
  signature by the key matrix.yaml pins (openpgp.py), unless sources.verify_signatures is
  off (a mirror without signatures); a development snapshot's
  tree is fetched by its full commit id, which git verifies every object against
  (snapshots.py), and archived with a `.version` saying what it is;
* the bundled pjproject tarball against the md5 that the (verified) Asterisk tree names,
  for a snapshot too: the commit anchors the tree, the tree anchors pjproject;
* a variant's extra files (core.Extra: the Opus codec's) against sha256 sums pinned in
  matrix.yaml;
* the sound tarballs against the checksum file published beside them.

The context layout is what dockerfiles/asterisk/Dockerfile copies from:

    asterisk.tar.gz
    externals/pjproject-<version>.tar.bz2
    opus/codec_opus_open_source.c, opus/ex_opus.h      (each core.Extra: <part>/<file>)
    sounds/<core sounds>.tar.gz, sounds/<music on hold>.tar.gz
    verified.json       what each file was verified against (the image's SBOM lists it)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

from . import http, log, openpgp
from .core import EXTRAS, Extra, Release, needing
from .errors import SourceError
from .matrix import Sources
from .snapshots import Remote, Snapshot

VERIFIED = "verified.json"
_HEX_RE = re.compile(r"\b([0-9a-fA-F]{32,128})\b")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verified:
    """One file of the sources context and the checksum it was verified against."""

    part: str          # asterisk | pjproject | sounds | a variant's extra (core.Extra.part: opus)
    name: str          # asterisk, pjproject, codec_opus_open_source.c, asterisk-core-sounds-en-ulaw
    version: str       # 22.10.1, 2.17, 1.6.1; "" when the URL pins it (the Opus files' commit)
    path: str          # in the context, e.g. externals/pjproject-2.17.tar.bz2
    url: str           # where it comes from upstream (also when it was fetched from a mirror)
    algorithm: str     # sha256 | sha1 | md5
    digest: str        # hex
    checked_against: str   # where the expected checksum came from
    signed_by: str = ""    # the fingerprint of the key whose OpenPGP signature was verified


def record(context: Path, verified: Iterable[Verified]) -> None:
    """Write context/verified.json (left as it is when it already says the same)."""
    text = json.dumps([dataclasses.asdict(v) for v in verified], indent=1) + "\n"
    path = context / VERIFIED
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def recorded(context: Path) -> list[Verified]:
    """What prepare verified into context (its verified.json)."""
    try:
        return [Verified(**entry) for entry in json.loads((context / VERIFIED).read_text())]
    except (OSError, ValueError, TypeError) as error:
        raise SourceError(f"{context / VERIFIED}: no readable record of the verified sources "
                          f"({error}); prepare the sources with `pipeline build`") from None


def snapshot_record(snapshot: Snapshot, tarball: Path) -> Verified:
    """A snapshot's source archive: its sha256, vouched for by the commit it was made from."""
    return Verified(part="asterisk", name="asterisk", version=str(snapshot.version),
                    path=tarball.name, url=snapshot.url, algorithm="sha256", digest=file_sha256(tarball),
                    checked_against=f"git archive of commit {snapshot.version.commit} (git checks every "
                                    "object against the commit id)")


def upstream_url(sources: Sources, url: str) -> str:
    """The upstream URL of a (possibly mirrored) URL: MIRROR/HOST/PATH → https://HOST/PATH."""
    mirror = sources.mirror.rstrip("/")
    if mirror and url.startswith(mirror + "/"):
        return "https://" + url[len(mirror) + 1:]
    return url


def prepare(release: Release | Snapshot, sources: Sources, context: Path) -> Path:
    """Download and verify everything one release's (or snapshot's) build needs into
    context/, and record each file's checksum in context/verified.json."""
    context.mkdir(parents=True, exist_ok=True)
    verified: list[Verified] = []
    tarball = context / "asterisk.tar.gz"
    if isinstance(release, Snapshot):
        with log.step(f"fetch {release.version} ({release.version.commit}) from {release.url}"):
            Remote(release.repository).archive(release, tarball)
        verified.append(snapshot_record(release, tarball))
    else:
        verified.append(_fetch_release(release, sources, tarball))
    with log.step("fetch and verify bundled pjproject"):
        verified.append(_fetch_pjproject(tarball, sources, context / "externals"))
    for extra in EXTRAS:
        with log.step(f"fetch and verify {extra.summary}"):
            verified += _fetch_extra(extra, sources, context / extra.part)
    with log.step("fetch and verify sounds"):
        for name in (sources.core_sounds, sources.moh):
            url = sources.url(f"{sources.sounds.rstrip('/')}/{name}.tar.gz")
            candidates = tuple(f"{url}.{kind}" for kind in ("sha256", "sha1", "md5"))
            expected = _published_digest(candidates, url)
            _fetch_verified(url, context / "sounds" / f"{name}.tar.gz", expected)
            package, _, version = name.rpartition("-")
            verified.append(Verified(part="sounds", name=package, version=version,
                                     path=f"sounds/{name}.tar.gz", url=upstream_url(sources, url),
                                     algorithm=expected[0], digest=expected[1],
                                     checked_against=f"the {expected[0]} file published beside it"))
    record(context, verified)
    return context


def _fetch_release(release: Release, sources: Sources, tarball: Path) -> Verified:
    """The release tarball, checked against its published checksum (integrity) and, unless
    turned off, against upstream's OpenPGP signature (origin)."""
    with log.step(f"fetch and verify asterisk {release.version}"):
        expected = _published_digest(release.checksum_urls, release.tarball_url)
        _fetch_verified(release.tarball_url, tarball, expected)
    against, signed_by = f"the {expected[0]} file published beside it", ""
    if sources.verify_signatures:
        with log.step(f"verify upstream's signature of asterisk {release.version}"):
            signed_by = verify_signature(release.tarball_url, tarball, sources)
        against += f", and its OpenPGP signature (.asc) by key {signed_by}"
    else:
        log.warning(f"asterisk {release.version}: upstream's OpenPGP signature not checked "
                    "(sources.verify_signatures: false)")
    return Verified(part="asterisk", name="asterisk", version=str(release.version), path=tarball.name,
                    url=upstream_url(sources, release.tarball_url), algorithm=expected[0],
                    digest=expected[1], checked_against=against, signed_by=signed_by)


def _fetch_verified(url: str, dest: Path, expected_digest: tuple[str, str]) -> None:
    """Download url to dest unless dest already matches (algorithm, hex digest); refuse a
    mismatch."""
    algorithm, expected = expected_digest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and _digest(dest, algorithm) == expected:
        log.debug(f"{dest.name} already verified")
        return
    http.download(url, dest)
    actual = _digest(dest, algorithm)
    if actual != expected:
        dest.unlink()
        raise SourceError(f"{url}: {algorithm} checksum mismatch (expected {expected}, got {actual}); "
                          "the file is corrupt or was tampered with: nothing was built from it")


def signature_policy(sources: Sources) -> str:
    """What `pipeline plan` says about release signatures (a warning when they are off)."""
    if not sources.verify_signatures:
        return ("release tarballs: published checksum only, upstream's OpenPGP signature is NOT "
                "checked (sources.verify_signatures: false), so nothing proves where they come from")
    return (f"release tarballs: published sha256, and the OpenPGP signature (.asc) beside each made "
            f"by key {sources.signature_fingerprint} ({sources.signature_key_file}); git snapshots "
            "have no signature: their commit id is what is verified")


def verify_signature(url: str, tarball: Path, sources: Sources) -> str:
    """Check tarball (downloaded from url) against the OpenPGP signature published beside it
    (url + ".asc") and the pinned key; its signer's fingerprint. A missing, bad or foreign
    signature is a SourceError, and the tarball is removed: nothing is built from it."""
    with tempfile.TemporaryDirectory(prefix="pipeline-asc-") as scratch:
        signature = Path(scratch) / (tarball.name + ".asc")
        try:
            http.download(url + ".asc", signature)
        except SourceError as error:
            tarball.unlink(missing_ok=True)
            raise SourceError(f"{url}: no OpenPGP signature beside it ({error}); use a mirror that "
                              "serves upstream's .asc files, or turn the check off with "
                              "sources.verify_signatures: false in matrix.yaml") from None
        try:
            verdict = openpgp.verify(tarball, signature, sources.signature_key_file,
                                     sources.signature_fingerprint)
        except SourceError:
            tarball.unlink(missing_ok=True)
            raise
    if not verdict.ok:
        tarball.unlink(missing_ok=True)
        raise SourceError(f"{url}: {verdict.problem} (its {url.rsplit('/', 1)[-1]}.asc checked against "
                          f"{sources.signature_key_file}); "
                          f"{_signature_fix(verdict)}; nothing was built from it")
    return verdict.signer


def _signature_fix(verdict: openpgp.Verdict) -> str:
    if verdict.kind == "other-key":
        return ("if upstream's key changed, check the new one and pin it (sources.signature_key, "
                "sources.signature_fingerprint; pipeline/keys/README.md); a mirror that signs with "
                "its own key: set PIPELINE_SIGNATURE_KEY and PIPELINE_SIGNATURE_FINGERPRINT to it")
    return "the tarball or its signature is not what upstream published: fetch it from another mirror"


def file_sha256(path: Path) -> str:
    return _digest(path, "sha256")


def release_sha256(release: Release) -> str:
    """The release tarball's published sha256, without downloading the tarball."""
    return _published_digest(release.checksum_urls, release.tarball_url)[1]


def identity(release: Release | Snapshot) -> str:
    """What the source is, known before downloading it: a release's published sha256, or a
    snapshot's full commit id."""
    if isinstance(release, Snapshot):
        return release.version.commit
    return release_sha256(release)


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _algorithm(url: str) -> str:
    return url.rsplit(".", 1)[-1]


def _published_digest(candidates: tuple[str, ...], what: str) -> tuple[str, str]:
    """The digest from the first checksum file that exists among candidates."""
    for url in candidates:
        try:
            text = http.get_text(url)
        except SourceError:
            continue
        return _algorithm(url), parse_checksum(text, what.rsplit("/", 1)[-1], url)
    raise SourceError(f"no checksum file published for {what} (looked for "
                      f"{', '.join(c.rsplit('/', 1)[-1] for c in candidates) or 'none listed'}); "
                      "refusing to build from an unverified download")


def parse_checksum(text: str, filename: str, url: str) -> str:
    """The digest for filename in a checksum file ('<hex>  <name>' lines, or a bare digest)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    for fields in lines:
        if len(fields) >= 2 and fields[-1].lstrip("*").endswith(filename):
            return fields[0].lower()
    if len(lines) == 1 and _HEX_RE.fullmatch(lines[0][0]):
        return lines[0][0].lower()
    raise SourceError(f"{url}: no checksum for {filename} in it; the checksum file is malformed")


def read_member(tarball: Path, suffix: str) -> str | None:
    """The text of the first member whose path ends with suffix (None when absent)."""
    with tarfile.open(tarball) as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(suffix) and member.name.count("/") == suffix.count("/") + 1:
                stream = archive.extractfile(member)
                return stream.read().decode() if stream else None
    return None


def pjproject_version(tarball: Path) -> str:
    text = read_member(tarball, "third-party/versions.mak")
    match = re.search(r"^PJPROJECT_VERSION\s*[:?]?=\s*(\S+)", text or "", re.MULTILINE)
    if not match:
        raise SourceError(f"{tarball}: no PJPROJECT_VERSION in third-party/versions.mak; "
                          "is this an Asterisk release tarball?")
    return match[1]


def _fetch_pjproject(tarball: Path, sources: Sources, externals: Path) -> Verified:
    version = pjproject_version(tarball)
    name = f"pjproject-{version}.tar.bz2"
    url = sources.url(f"{sources.pjproject.rstrip('/')}/{version}/{name}")
    in_tree = read_member(tarball, f"third-party/pjproject/{name}.md5")
    if in_tree is not None:
        expected = ("md5", parse_checksum(in_tree, name, f"{tarball}:{name}.md5"))
        against = f"third-party/pjproject/{name}.md5 in the verified Asterisk tree"
    else:  # older trees keep no md5: use the one published beside the tarball
        expected = _published_digest((f"{url}.md5",), url)
        against = "the md5 file published beside it"
    if externals.exists():
        for stale in externals.glob("pjproject-*.tar.bz2"):
            if stale.name != name:
                stale.unlink()
    _fetch_verified(url, externals / name, expected)
    return Verified(part="pjproject", name="pjproject", version=version,
                    path=f"{externals.name}/{name}", url=upstream_url(sources, url),
                    algorithm=expected[0], digest=expected[1], checked_against=against)


def _fetch_extra(extra: Extra, sources: Sources, dest: Path) -> list[Verified]:
    """A variant's extra files, each checked against the sha256 matrix.yaml pins for it."""
    pinned = sources.extra(extra)
    sha256 = dict(pinned.sha256)
    if not pinned.url:
        raise SourceError(f"sources.{extra.key} is not set in matrix.yaml; the "
                          f"{' and '.join(needing(extra))} variant needs {extra.summary}")
    found = []
    for name in extra.files:
        if name not in sha256:
            raise SourceError(f"sources.{extra.sha256_key} has no sha256 for {name}; pin it in matrix.yaml")
        url = sources.url(f"{pinned.url.rstrip('/')}/{name}")
        _fetch_verified(url, dest / name, ("sha256", sha256[name].lower()))
        found.append(Verified(part=extra.part, name=name, version="", path=f"{dest.name}/{name}",
                              url=upstream_url(sources, url), algorithm="sha256",
                              digest=sha256[name].lower(),
                              checked_against=f"sources.{extra.sha256_key} in matrix.yaml"))
    return found
