"""Release signatures without running gpg: the verdict on gpgv's status lines, the key
file's fingerprints, and the matrix settings. The good, no-key and not-a-signature lines
were recorded from gpgv 2.2.40 runs here; the others are written from GnuPG's doc/DETAILS
(expired and revoked keys cannot be made quickly). tests/integration/test_signatures.py
runs the real gpgv on good, altered, missing and foreign signatures."""

import textwrap

import pytest

from pipeline import openpgp
from pipeline.errors import ConfigurationError
from pipeline.matrix import ASTERISK_RELEASE_FINGERPRINT, ASTERISK_RELEASE_KEY, load
from pipeline.sources import signature_policy
from tests.conftest import ROOT

PINNED = "ED08EB83B4E5721E5458C0571DACCBCA54E609C3"
OTHER = "F24BC7A7CD28154D1A1611E44F2BCEEB506069D2"
SUBKEY = "FBD813C655FE8E138E2D6C57D2A823286A220BEE"


def lines(*status):
    return "\n".join(f"[GNUPG:] {line}" for line in status) + "\n"


GOOD = lines("NEWSIG", f"KEY_CONSIDERED {PINNED} 0", "SIG_ID oVeqZT0eJLh/nX2zS/y8q2dJrvA 2026-11-28 1795903002",
             "GOODSIG 1DACCBCA54E609C3 Probe <probe@localhost>",
             f"VALIDSIG {PINNED} 2026-11-28 1795903002 0 4 0 1 10 00 {PINNED}")
BY_SUBKEY = lines("NEWSIG", "GOODSIG D2A823286A220BEE Asterisk Development Team <asteriskteam@digium.com>",
                  f"VALIDSIG {SUBKEY} 2019-10-08 1570559004 0 4 0 1 10 00 {PINNED}")
BAD = lines("NEWSIG", f"KEY_CONSIDERED {PINNED} 0", "BADSIG 1DACCBCA54E609C3 Probe <probe@localhost>")
NO_KEY = lines("NEWSIG", f"ERRSIG 4F2BCEEB506069D2 22 10 00 1795903002 9 {OTHER}", "NO_PUBKEY 4F2BCEEB506069D2")
NO_KEY_OLD = lines("NEWSIG", "ERRSIG 4F2BCEEB506069D2 22 10 00 1795903002 9 -", "NO_PUBKEY 4F2BCEEB506069D2")
OTHER_IN_KEYRING = lines("NEWSIG", "GOODSIG 4F2BCEEB506069D2 Other <o@localhost>",
                         f"VALIDSIG {OTHER} 2026-11-28 1795903002 0 4 0 22 10 00 {OTHER}")
EXPIRED_KEY = lines("NEWSIG", "EXPKEYSIG 1DACCBCA54E609C3 Probe <probe@localhost>",
                    f"VALIDSIG {PINNED} 2026-11-28 1795903002 0 4 0 1 10 00 {PINNED}")
REVOKED_KEY = lines("NEWSIG", "REVKEYSIG 1DACCBCA54E609C3 Probe <probe@localhost>",
                    f"VALIDSIG {PINNED} 2026-11-28 1795903002 0 4 0 1 10 00 {PINNED}")
NOT_A_SIGNATURE = lines("NODATA 1", "NODATA 2")   # an empty or garbage .asc: no NEWSIG at all
UNKNOWN_ALGORITHM = lines("NEWSIG", "ERRSIG 1DACCBCA54E609C3 99 10 00 1795903002 4 -")


@pytest.mark.parametrize(("status", "returncode", "kind", "signer", "problem"), [
    (GOOD, 0, "good", PINNED, ""),
    (BY_SUBKEY, 0, "good", PINNED, ""),   # made by a signing subkey: its primary key counts
    (GOOD.replace(f"00 {PINNED}", f"00 {PINNED.lower()}"), 0, "good", PINNED, ""),
    (BAD, 1, "bad", "", "bad signature"),
    (NO_KEY, 2, "other-key", OTHER, f"signed by another key {OTHER}, not the pinned {PINNED}"),
    (NO_KEY_OLD, 2, "other-key", "4F2BCEEB506069D2", "signed by another key 4F2BCEEB506069D2"),
    (OTHER_IN_KEYRING, 0, "other-key", OTHER, f"signed by another key {OTHER}"),
    (EXPIRED_KEY, 0, "bad", PINNED, "expired key"),
    (REVOKED_KEY, 0, "bad", PINNED, "revoked key"),
    (NOT_A_SIGNATURE, 2, "unusable", "", "not an OpenPGP signature"),
    (UNKNOWN_ALGORITHM, 2, "unusable", "1DACCBCA54E609C3", "cannot be checked (gpg error code 4)"),
    ("", 2, "unusable", "", "no signature checked (gpgv exit 2)"),
    ("gpgv: keyblock resource: No such file\n", 2, "unusable", "", "no signature checked"),
    # two signatures in one .asc: every one must be good and the pinned key's
    (GOOD + NO_KEY, 2, "other-key", OTHER, "signed by another key"),
    (GOOD + BAD, 1, "bad", "", "bad signature"),
    (GOOD + GOOD, 0, "good", PINNED, ""),
    (lines("NEWSIG", f"VALIDSIG {PINNED} 2026-11-28 1795903002 0 4 0 1 10 00 {PINNED}"), 0,
     "unusable", PINNED, "no good signature"),      # VALIDSIG without GOODSIG
    (GOOD, 2, "unusable", PINNED, "gpgv exit 2 although"),   # the exit code has the last word
])
def test_verdict_on_status_lines(status, returncode, kind, signer, problem):
    verdict = openpgp.judge(status, returncode, PINNED)
    assert (verdict.kind, verdict.signer.upper(), verdict.ok) == (kind, signer.upper(), kind == "good")
    assert problem in verdict.problem and bool(verdict.problem) == (kind != "good")


def test_the_pin_is_compared_in_normal_form():
    spaced = " ".join(PINNED[i:i + 4] for i in range(0, 40, 4)).lower()
    assert openpgp.judge(GOOD, 0, spaced).ok


@pytest.mark.parametrize(("text", "normal"), [
    ("F2FC93DB7587BD1FB49E045A5D984BE337191CE7", "F2FC93DB7587BD1FB49E045A5D984BE337191CE7"),
    ("f2fc 93db 7587 bd1f b49e  045a 5d98 4be3 3719 1ce7", "F2FC93DB7587BD1FB49E045A5D984BE337191CE7"),
    ("0xF2FC93DB7587BD1FB49E045A5D984BE337191CE7", "F2FC93DB7587BD1FB49E045A5D984BE337191CE7"),
    ("A" * 64, "A" * 64),                   # a v5/v6 key's fingerprint
    ("5D984BE337191CE7", ""),               # a long key id is not a fingerprint: too easy to collide
    ("F2FC93DB7587BD1FB49E045A5D984BE337191CEG", ""),
    ("", ""),
])
def test_normal_fingerprint(text, normal):
    assert openpgp.normal_fingerprint(text) == normal


def test_primary_fingerprints_skip_subkeys():
    colons = textwrap.dedent(f"""\
        pub:-:4096:1:5D984BE337191CE7:1570559004:::-:::scESC::::::23::0:
        fpr:::::::::{PINNED}:
        uid:-::::1570559004::2A25::Asterisk Development Team <asteriskteam@digium.com>::::::::::0:
        sub:-:4096:1:D2A823286A220BEE:1570559004::::::e::::::23:
        fpr:::::::::{SUBKEY}:
        pub:-:255:22:4F2BCEEB506069D2:1795903002:::-:::scSC::::::23::0:
        fpr:::::::::{OTHER.lower()}:
        """)
    assert openpgp.primary_fingerprints(colons) == [PINNED, OTHER]


# ----------------------------------------------------------------------------- matrix settings

def write(tmp_path, sources):
    path = tmp_path / "matrix.yaml"
    path.write_text(("sources:\n" + textwrap.indent(textwrap.dedent(sources), "  ") if sources else "")
                    + 'series:\n  - spec: "22.x"\n')
    return path


def test_the_repository_matrix_pins_the_shipped_key():
    sources = load(ROOT / "matrix.yaml", environ={}).sources
    assert sources.verify_signatures
    assert sources.signature_fingerprint == ASTERISK_RELEASE_FINGERPRINT
    assert sources.signature_key_file == ASTERISK_RELEASE_KEY == ROOT / "pipeline/keys/asterisk-release.asc"


def test_defaults_verify_against_the_shipped_key(tmp_path):
    sources = load(write(tmp_path, "mirror: http://127.0.0.1:1\n"), environ={}).sources
    assert (sources.verify_signatures, sources.signature_key_file,
            sources.signature_fingerprint) == (True, ASTERISK_RELEASE_KEY, ASTERISK_RELEASE_FINGERPRINT)


def test_a_key_file_is_relative_to_the_matrix(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "mirror.asc").write_text("a key")
    sources = load(write(tmp_path, f"signature_key: keys/mirror.asc\nsignature_fingerprint: {OTHER}\n"),
                   environ={}).sources
    assert (sources.signature_key_file, sources.signature_fingerprint) == (tmp_path / "keys/mirror.asc", OTHER)


def test_environment_points_a_run_at_another_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "test-key.asc").write_text("a key")
    sources = load(write(tmp_path, ""), environ={"PIPELINE_SIGNATURE_KEY": "test-key.asc",
                                                 "PIPELINE_SIGNATURE_FINGERPRINT": OTHER.lower()}).sources
    assert (sources.signature_key_file, sources.signature_fingerprint) == (tmp_path / "test-key.asc", OTHER)


@pytest.mark.parametrize(("sources", "environ", "message"), [
    ("signature_fingerprint: 5D984BE337191CE7\n", {},
     "matrix.yaml: sources.signature_fingerprint: '5D984BE337191CE7' is not an OpenPGP fingerprint; "
     "write the key's whole fingerprint"),
    ("", {"PIPELINE_SIGNATURE_FINGERPRINT": "nope"},
     "$PIPELINE_SIGNATURE_FINGERPRINT: 'nope' is not an OpenPGP fingerprint"),
    ("signature_key: no-such.asc\n", {}, "matrix.yaml: sources.signature_key: no key file "),
    ("", {"PIPELINE_SIGNATURE_KEY": "/no/such.asc"}, "$PIPELINE_SIGNATURE_KEY: no key file /no/such.asc; "),
    ("verify_signatures: 'no'\n", {}, "sources.verify_signatures: expected bool, got str 'no'"),
    ("verify_signature: false\n", {}, "sources.verify_signature: unknown key; did you mean 'verify_signatures'?"),
])
def test_bad_signature_settings_are_one_clear_line(tmp_path, sources, environ, message):
    with pytest.raises(ConfigurationError) as raised:
        load(write(tmp_path, sources), environ=environ)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_turned_off_no_key_file_is_needed_and_the_plan_says_so(tmp_path):
    sources = load(write(tmp_path, "verify_signatures: false\nsignature_key: no-such.asc\n"),
                   environ={}).sources
    assert not sources.verify_signatures
    assert "signature is NOT checked (sources.verify_signatures: false)" in signature_policy(sources)


def test_the_plan_names_the_pinned_key_and_says_snapshots_have_none():
    policy = signature_policy(load(ROOT / "matrix.yaml", environ={}).sources)
    assert f"the OpenPGP signature (.asc) beside each made by key {ASTERISK_RELEASE_FINGERPRINT}" in policy
    assert "git snapshots have no signature: their commit id is what is verified" in policy
