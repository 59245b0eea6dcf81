"""Checking a detached OpenPGP signature against one pinned key: the one place gpg runs.

`gpgv` (Debian's and Ubuntu's package of that name, which apt itself depends on) checks
the signature against a keyring that holds only the key file given, in a temporary
directory: no user keyring, no trust database, no key server. Its machine-readable status
lines (`--status-fd`, GnuPG's doc/DETAILS) decide, never its human-readable text: a
signature counts only when it is good *and* VALIDSIG names the pinned primary key's
fingerprint. `judge` is that decision, pure, so that it is tested as a table.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from . import log
from .errors import SourceError

TIMEOUT = 120.0   # seconds; gpgv hashes a ~30 MB tarball in well under a second
_ARMOR = b"-----BEGIN PGP"
# Status keywords that make a signature unacceptable whatever else is said (doc/DETAILS).
_REFUSED = {
    "BADSIG": "bad signature: the file or its signature was altered",
    "EXPKEYSIG": "signed by an expired key",
    "REVKEYSIG": "signed by a revoked key",
    "EXPSIG": "the signature has expired",
}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What gpgv's status lines say about a signature file, judged against the pinned key."""

    kind: str       # good | bad (altered, expired, revoked) | other-key | unusable
    signer: str     # primary key fingerprint (VALIDSIG), else the issuer's (ERRSIG) or key id
    problem: str = ""   # for people; "" when good

    @property
    def ok(self) -> bool:
        return self.kind == "good"


def normal_fingerprint(text: str) -> str:
    """F2FC 93DB … (any case, spaces) → F2FC93DB…; "" when it is not 40 or 64 hex digits."""
    compact = "".join(text.split()).upper().removeprefix("0X")
    hexdigits = set("0123456789ABCDEF")
    return compact if len(compact) in (40, 64) and set(compact) <= hexdigits else ""


def judge(status: str, returncode: int, fingerprint: str) -> Verdict:
    """gpgv's --status-fd output (and exit code) → a verdict for the pinned fingerprint.

    Each signature in the file starts with NEWSIG; all of them must be good (GOODSIG) and
    valid (VALIDSIG), with the pinned key as primary key (VALIDSIG's last field).
    """
    pinned = normal_fingerprint(fingerprint)
    signatures: list[dict[str, list[str]]] = []
    for line in status.splitlines():
        words = line.split()
        if len(words) < 2 or words[0] != "[GNUPG:]":
            continue
        keyword, fields = words[1], words[2:]
        if keyword == "NEWSIG" or not signatures:
            signatures.append({})
        if keyword != "NEWSIG":
            signatures[-1].setdefault(keyword, fields)
    if not signatures:
        return Verdict("unusable", "", f"no signature checked (gpgv exit {returncode})")
    signer = ""
    for found in signatures:
        valid = found.get("VALIDSIG", [])
        signer = (valid[-1] if len(valid) >= 10 else _issuer(found)).upper()
        for keyword, problem in _REFUSED.items():
            if keyword in found:
                return Verdict("bad", signer, problem)
        if "NODATA" in found:
            return Verdict("unusable", signer, "not an OpenPGP signature")
        code = "".join(found.get("ERRSIG", [])[5:6])   # 9: no public key, 4: unknown algorithm
        if "NO_PUBKEY" in found or code == "9":
            return Verdict("other-key", signer,
                           f"signed by another key {signer or '(unknown)'}, not the pinned {pinned}")
        if "ERRSIG" in found:
            return Verdict("unusable", signer, f"the signature cannot be checked (gpg error code {code or '?'})")
        if "GOODSIG" not in found or not valid:
            return Verdict("unusable", signer, f"no good signature (gpgv exit {returncode})")
        if signer != pinned:
            return Verdict("other-key", signer, f"signed by another key {signer}, not the pinned {pinned}")
    if returncode != 0:
        return Verdict("unusable", signer, f"gpgv exit {returncode} although the signature looked good")
    return Verdict("good", signer)


def _issuer(found: dict[str, list[str]]) -> str:
    """The fingerprint (or long key id) of a signature whose key is not in the keyring."""
    error = found.get("ERRSIG", [])
    if len(error) >= 7 and error[6] not in ("", "-"):
        return error[6].upper()
    return (error[:1] or found.get("NO_PUBKEY", [""]) or [""])[0].upper()


def primary_fingerprints(colons: str) -> list[str]:
    """The primary keys' fingerprints in `gpg --with-colons` output (the `fpr` record right
    after each `pub` record; a subkey's follows its `sub` record)."""
    found, previous = [], ""
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] == "fpr" and previous == "pub" and len(fields) > 9:
            found.append(fields[9].upper())
        previous = fields[0]
    return found


def verify(data: Path, signature: Path, key: Path, fingerprint: str) -> Verdict:
    """Check signature (a detached .asc or .sig) of data against the key file (armored or
    binary) and the pinned fingerprint. SourceError when the key file does not hold the
    pinned key, or gpg cannot run at all."""
    pinned = normal_fingerprint(fingerprint)
    with tempfile.TemporaryDirectory(prefix="pipeline-gpg-") as scratch:
        home = Path(scratch)
        home.chmod(0o700)
        keyring = home / "pinned.gpg"
        gpg = ["gpg", "--batch", "--no-options", "--homedir", str(home)]
        try:
            content = key.read_bytes()
        except OSError as error:
            raise SourceError(f"{key}: cannot read the signing key file ({error.strerror}); "
                              "check sources.signature_key or PIPELINE_SIGNATURE_KEY") from None
        if content.lstrip().startswith(_ARMOR):
            _run([*gpg, "--dearmor", "--output", str(keyring), str(key)])
        else:
            keyring.write_bytes(content)
        held = primary_fingerprints(_run([*gpg, "--with-colons", "--show-keys", str(keyring)]).stdout)
        if pinned not in held:
            raise SourceError(f"{key}: holds no key with the pinned fingerprint {pinned} (it holds "
                              f"{', '.join(held) or 'no key'}); pin the fingerprint of the key in "
                              "that file, or name the file that holds the pinned key")
        done = _run(["gpgv", "--homedir", str(home), "--keyring", str(keyring), "--status-fd", "1",
                     str(signature), str(data)], check=False)
    verdict = judge(done.stdout, done.returncode, pinned)
    log.debug(f"gpgv: {verdict.problem or 'good signature'} (signer {verdict.signer or 'unknown'})")
    return verdict


def _run(command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    log.debug(f"$ {shlex.join(command)}")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False,
                              env={**os.environ, "LC_ALL": "C"})
    except FileNotFoundError:
        raise SourceError(f"{command[0]} is not installed, so upstream's signatures cannot be "
                          f"checked; install it (Debian/Ubuntu: apt-get install {command[0]}), "
                          "or set sources.verify_signatures: false in matrix.yaml") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"{shlex.join(command)}: no answer within {TIMEOUT:.0f}s") from None
    if check and done.returncode != 0:
        raise SourceError(f"{shlex.join(command)} failed: {' '.join(done.stderr.split())}")
    return done
