"""Reading and validating matrix.yaml into frozen dataclasses.

Validation is strict: an unknown key, a wrong type, an unknown platform, a malformed
version spec, a duplicate series or an empty matrix is a ConfigurationError whose one-line
message names the file, the key, the bad value and the fix. Nothing starts before this
passes.

Environment variables point a run at stand-ins without editing the file: PIPELINE_MIRROR
(see `Sources.url`), PIPELINE_RELEASES (`listing`, `github`, or `file:PATH[,PATH...]`),
PIPELINE_GIT (the git repository `git:` specs build from), and PIPELINE_SIGNATURE_KEY with
PIPELINE_SIGNATURE_FINGERPRINT (the key a mirror's release signatures are checked against,
e.g. the stand-in mirror's test key).
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .core import EXTRAS, VARIANT_NAMES, Extra, Variant, variant
from .errors import ConfigurationError
from .openpgp import normal_fingerprint
from .registry_types import TYPES, Registry
from .versions import SPEC_HELP, Spec

PLATFORMS = ("linux/amd64", "linux/arm64")
RELEASE_SOURCES = ("listing", "github", "file")
REGISTRY_TYPES = tuple(TYPES)
SIGNING_METHODS = ("none", "key", "keyless")
# The Asterisk Development Team's release signing key (pipeline/keys/README.md says where
# this copy and its fingerprint were checked); matrix.yaml pins it.
ASTERISK_RELEASE_KEY = Path(__file__).parent / "keys" / "asterisk-release.asc"
ASTERISK_RELEASE_FINGERPRINT = "F2FC93DB7587BD1FB49E045A5D984BE337191CE7"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Releases:
    source: str = "listing"
    files: tuple[Path, ...] = ()
    github_repository: str = "asterisk/asterisk"
    github_url: str = "https://github.com"   # another URL means a GitHub Enterprise server


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pinned:
    """A variant's extra files (core.Extra) as matrix.yaml pins them: the directory they are
    downloaded from (sources.<key>) and each file's sha256 (sources.<key>_sha256)."""

    url: str = ""
    sha256: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sources:
    """Where the build's inputs are downloaded from (upstream by default)."""

    mirror: str = ""
    asterisk: str = "https://downloads.asterisk.org/pub/telephony/asterisk/releases"
    certified: str = "https://downloads.asterisk.org/pub/telephony/certified-asterisk/releases"
    pjproject: str = "https://raw.githubusercontent.com/asterisk/third-party/master/pjproject"
    sounds: str = "https://downloads.asterisk.org/pub/telephony/sounds/releases"
    core_sounds: str = "asterisk-core-sounds-en-ulaw-1.6.1"
    moh: str = "asterisk-moh-opsound-ulaw-2.03"
    git: str = "https://github.com/asterisk/asterisk"   # development snapshots (`git:` specs)
    # A release tarball counts only with a good OpenPGP signature (<tarball>.asc beside it)
    # by this key: the key file ("" = the shipped ASTERISK_RELEASE_KEY) and its fingerprint.
    verify_signatures: bool = True
    signature_key: str = ""
    signature_fingerprint: str = ASTERISK_RELEASE_FINGERPRINT
    # The variants' extra files (core.EXTRAS), by their key: sources.opus_codec and
    # sources.opus_codec_sha256 are pinned["opus_codec"].
    pinned: tuple[tuple[str, Pinned], ...] = ()

    def extra(self, extra: Extra) -> Pinned:
        """Where extra's files come from, and their sha256 (empty when matrix.yaml has none)."""
        return dict(self.pinned).get(extra.key, Pinned())

    @property
    def signature_key_file(self) -> Path:
        return Path(self.signature_key) if self.signature_key else ASTERISK_RELEASE_KEY

    def url(self, upstream: str) -> str:
        """An upstream URL, or where the mirror keeps it: https://HOST/PATH → MIRROR/HOST/PATH."""
        if not self.mirror:
            return upstream
        without_scheme = re.sub(r"^[a-z]+://", "", upstream)
        return f"{self.mirror.rstrip('/')}/{without_scheme}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Defaults:
    base_image: str
    platforms: tuple[str, ...]
    variants: tuple[Variant, ...]
    max_age: datetime.timedelta | None = None   # rebuild an image older than this (new base packages)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Series(Defaults):
    spec: Spec
    note: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Signing:
    """How published images are signed with cosign (signing.py).

    keyless: the CI's OIDC identity (GitHub Actions: `id-token: write`), public Sigstore.
    key: a cosign private key, from the variable key_env or the file key_file (relative to
    matrix.yaml), its password in password_env; no transparency log.
    """

    method: str = "none"
    key_env: str = ""
    key_file: str = ""
    password_env: str = ""

    @property
    def enabled(self) -> bool:
        return self.method != "none"


# Where publish.yml builds each platform: a GitHub runner label. By default every platform
# is built on the x86-64 `ubuntu-24.04` (arm64 cross-compiled, its image smoke-tested under
# QEMU), which works in private repositories; `ubuntu-24.04-arm` builds arm64 natively
# (GitHub offers arm runners to public repositories only). See docs/ci.md.
DEFAULT_RUNNERS = {"linux/amd64": "ubuntu-24.04", "linux/arm64": "ubuntu-24.04"}


def runner_platform(label: str) -> str:
    """The platform a runner label runs on: GitHub's arm runners are named `*-arm`
    (ubuntu-24.04-arm, ubuntu-22.04-arm); every other label is taken as x86-64."""
    return "linux/arm64" if label.endswith("-arm") or label.endswith("-arm64") else "linux/amd64"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Matrix:
    path: Path
    releases: Releases
    sources: Sources
    defaults: Defaults
    series: tuple[Series, ...]
    registries: tuple[Registry, ...]
    signing: Signing = Signing()
    # platform -> runner label (every platform of PLATFORMS has one)
    runners: Mapping[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_RUNNERS))


# ----------------------------------------------------------------------------- schema
# key -> (expected type, default); a default of REQUIRED makes the key mandatory.
REQUIRED = object()
_TOP = {"releases": (dict, {}), "sources": (dict, {}), "defaults": (dict, {}),
        "series": (list, REQUIRED), "registries": (list, []), "signing": (dict, {}),
        "runners": (dict, {})}
_RELEASES = {"source": (str, "listing"), "files": (list, []),
             "github_repository": (str, "asterisk/asterisk"),
             "github_url": (str, "https://github.com")}
_SOURCES: dict[str, tuple[type, Any]] = {**{field.name: (bool if field.name == "verify_signatures" else str, field.default)
               for field in dataclasses.fields(Sources) if field.name != "pinned"},
            **{key: (kind, default) for extra in EXTRAS
               for key, kind, default in ((extra.key, str, ""), (extra.sha256_key, dict, {}))}}
_SOURCE_URLS = ("mirror", "asterisk", "certified", "pjproject", "sounds", *(extra.key for extra in EXTRAS))
_DEFAULTS = {"base_image": (str, "debian:trixie-slim"), "platforms": (list, list(PLATFORMS)),
             "variants": (list, list(VARIANT_NAMES)), "max_age": (str, "")}
_SERIES = {"spec": (str, REQUIRED), "note": (str, ""), "base_image": (str, None),
           "platforms": (list, None), "variants": (list, None), "max_age": (str, None)}
_AGE_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
_REGISTRY = {field.name: (str, REQUIRED if field.name in ("name", "type", "repository") else "")
             for field in dataclasses.fields(Registry)}
# The keys only some registry types take (registry_types.TYPES: `keys`), and the form of
# those that have one. ECR without account/region: they come from AWS_REGION and STS at
# publish time.
_TYPE_KEYS = sorted({key for kind in TYPES.values() for key in kind.keys})
_KEY_FORMS = {
    "account": (r"\d{12}", "is not a 12-digit AWS account id", "quote it as a string of 12 digits"),
    "hub_api": (r"https?://[^\s/]+(/\S*)?", "is not an http(s) URL",
                "give Docker Hub's API URL (https://hub.docker.com)"),
}
_SIGNING = {field.name: (str, field.default) for field in dataclasses.fields(Signing)}


class _Reader:
    """Validates one file; every error names the file and the key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, fix: str) -> ConfigurationError:
        where = f"{self.path}: {key}" if key else str(self.path)
        return ConfigurationError(f"{where}: {problem}; {fix}")

    def section(self, data: Any, schema: Mapping[str, tuple[Any, Any]], key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, f"expected a mapping, got {_describe(data)}",
                            "write it as 'name: value' lines")
        for name in data:
            if name not in schema:
                close = difflib.get_close_matches(str(name), list(schema), n=1)
                fix = (f"did you mean '{close[0]}'?" if close
                       else f"allowed keys: {', '.join(schema)}")
                raise self.fail(_join(key, name), "unknown key", fix)
        values = {}
        for name, (kind, default) in schema.items():
            if name not in data:
                if default is REQUIRED:
                    raise self.fail(_join(key, name), "missing", f"add '{name}:'")
                values[name] = default
                continue
            value = data[name]
            if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)  # `spec: 22` or an account id written as a number
            if not isinstance(value, kind):
                raise self.fail(_join(key, name), f"expected {kind.__name__}, got {_describe(value)}",
                                f"write a {'list' if kind is list else kind.__name__} here")
            values[name] = value
        return values

    def choice(self, value: Any, allowed: tuple[str, ...], key: str) -> str:
        if value not in allowed:
            close = difflib.get_close_matches(str(value), allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise self.fail(key, f"unknown value {value!r}", f"{hint}allowed: {', '.join(allowed)}")
        return str(value)

    def variants(self, values: list[Any], key: str) -> tuple[Variant, ...]:
        return tuple(variant(name) for name in self.choices(values, VARIANT_NAMES, key))

    def age(self, value: str, key: str) -> datetime.timedelta | None:
        """'7d', '12h', '2w' (empty: no limit)."""
        if not value:
            return None
        match = re.fullmatch(r"(\d+)([hdw])", value.strip())
        if not match or int(match[1]) == 0:
            raise self.fail(key, f"{value!r} is not an age", "write a number and a unit: 12h, 7d or 2w")
        return datetime.timedelta(**{_AGE_UNITS[match[2]]: int(match[1])})

    def choices(self, values: list[Any], allowed: tuple[str, ...], key: str) -> tuple[str, ...]:
        if not values:
            raise self.fail(key, "empty list", f"name at least one of {', '.join(allowed)}")
        for index, value in enumerate(values):
            self.choice(value, allowed, f"{key}[{index}]")
        if len(set(values)) != len(values):
            raise self.fail(key, f"duplicate entries in {values}", "list each value once")
        return tuple(values)


def _join(key: str, name: Any) -> str:
    return f"{key}.{name}" if key else str(name)


def _describe(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Matrix:
    """Read and validate a matrix file; environment overrides come from environ."""
    path = Path(path)
    env: Mapping[str, str] = os.environ if environ is None else environ
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigurationError(f"{path}: cannot read the matrix file ({error.strerror}); "
                                 "pass --matrix FILE or run from the repository root") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigurationError(f"{path}:{line}: not valid YAML ({getattr(error, 'problem', error)}); "
                                 "check indentation and quoting") from None
    reader = _Reader(path)
    if data is None:
        raise reader.fail("", "the matrix is empty", "add a 'series:' list (see docs/matrix.md)")
    top = reader.section(data, _TOP, "")
    releases = _releases(reader, top["releases"], env)
    sources = _sources(reader, top["sources"], env)
    defaults = _defaults(reader, top["defaults"])
    series = _series(reader, top["series"], defaults)
    registries = _registries(reader, top["registries"])
    return Matrix(path=path, releases=releases, sources=sources, defaults=defaults,
                  series=series, registries=registries, signing=_signing(reader, top["signing"]),
                  runners=_runners(reader, top["runners"]))


def _releases(reader: _Reader, data: Any, environ: Mapping[str, str]) -> Releases:
    values = reader.section(data, _RELEASES, "releases")
    source, files = values["source"], [reader.path.parent / f for f in values["files"]]
    override = environ.get("PIPELINE_RELEASES", "")
    if override:
        source, _, listed = override.partition(":")
        files = [Path(f) for f in listed.split(",") if f]
        reader = _Reader(Path("$PIPELINE_RELEASES"))
    reader.choice(source, RELEASE_SOURCES, "releases.source")
    if source == "file" and not files:
        raise reader.fail("releases.files", "no release-list file given for source 'file'",
                          "list one or more files of versions, one a line")
    return Releases(source=source, files=tuple(files),
                    github_repository=values["github_repository"], github_url=values["github_url"])


def _sources(reader: _Reader, data: Any, environ: Mapping[str, str]) -> Sources:
    values = reader.section(data, _SOURCES, "sources")
    values["mirror"] = environ.get("PIPELINE_MIRROR", values["mirror"])
    for name, value in values.items():
        if name in _SOURCE_URLS and value and not re.match(r"^https?://", value):
            raise reader.fail(f"sources.{name}", f"{value!r} is not an http(s) URL",
                              "write a URL such as https://host/path")
    from_env = environ.get("PIPELINE_GIT", "")
    values["git"] = from_env or values["git"]
    if not re.match(r"^(?:(?:https?|ssh|git|file)://.|/)", values["git"]):
        where = _Reader(Path("$PIPELINE_GIT")) if from_env else reader
        raise where.fail("" if from_env else "sources.git", f"{values['git']!r} is not a git repository URL",
                         "write one such as https://github.com/asterisk/asterisk "
                         "(file:///path or /path for a local repository)")
    values["pinned"] = tuple((extra.key, Pinned(url=values.pop(extra.key),
                                                sha256=tuple(sorted(values.pop(extra.sha256_key).items()))))
                             for extra in EXTRAS)
    values.update(_signature_key(reader, values, environ))
    return Sources(**values)


def _signature_key(reader: _Reader, values: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """sources.signature_key (relative to matrix.yaml) and .signature_fingerprint, or the
    PIPELINE_SIGNATURE_KEY (relative to the working directory) and
    PIPELINE_SIGNATURE_FINGERPRINT that replace them for one run."""
    key = str(reader.path.parent / values["signature_key"]) if values["signature_key"] else ""
    fingerprint = values["signature_fingerprint"]
    key_at, fingerprint_at = (reader, "sources.signature_key"), (reader, "sources.signature_fingerprint")
    if environ.get("PIPELINE_SIGNATURE_KEY"):
        key = str(Path(environ["PIPELINE_SIGNATURE_KEY"]).absolute())
        key_at = (_Reader(Path("$PIPELINE_SIGNATURE_KEY")), "")
    if environ.get("PIPELINE_SIGNATURE_FINGERPRINT"):
        fingerprint = environ["PIPELINE_SIGNATURE_FINGERPRINT"]
        fingerprint_at = (_Reader(Path("$PIPELINE_SIGNATURE_FINGERPRINT")), "")
    if not normal_fingerprint(fingerprint):
        raise fingerprint_at[0].fail(fingerprint_at[1], f"{fingerprint!r} is not an OpenPGP fingerprint",
                                     "write the key's whole fingerprint, 40 hex digits (spaces "
                                     "allowed), as `gpg --show-keys KEYFILE` prints it")
    if values["verify_signatures"] and key and not Path(key).is_file():
        raise key_at[0].fail(key_at[1], f"no key file {key}",
                             "name the public key file that release signatures are checked "
                             "against, or leave it out for the shipped Asterisk Development Team key")
    return {"signature_key": key, "signature_fingerprint": normal_fingerprint(fingerprint)}


def _defaults(reader: _Reader, data: Any) -> Defaults:
    values = reader.section(data, _DEFAULTS, "defaults")
    return Defaults(base_image=values["base_image"],
                    platforms=reader.choices(values["platforms"], PLATFORMS, "defaults.platforms"),
                    variants=reader.variants(values["variants"], "defaults.variants"),
                    max_age=reader.age(values["max_age"], "defaults.max_age"))


def _series(reader: _Reader, data: list[Any], defaults: Defaults) -> tuple[Series, ...]:
    if not data:
        raise reader.fail("series", "the matrix has no series", "add at least one, e.g. '- spec: 22.x'")
    result: list[Series] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(data):
        key = f"series[{index}]"
        values = reader.section(item, _SERIES, key)
        try:
            spec = Spec.parse(values["spec"])
        except ConfigurationError as error:
            raise reader.fail(f"{key}.spec", str(error).split(";")[0], SPEC_HELP) from None
        if spec.text in seen:
            raise reader.fail(f"{key}.spec", f"duplicate series {spec.text!r} (also {seen[spec.text]})",
                              "list each series once; use 'variants' for plain/opus")
        seen[spec.text] = key
        platforms = (reader.choices(values["platforms"], PLATFORMS, f"{key}.platforms")
                     if values["platforms"] is not None else defaults.platforms)
        variants = (reader.variants(values["variants"], f"{key}.variants")
                    if values["variants"] is not None else defaults.variants)
        max_age = (reader.age(values["max_age"], f"{key}.max_age") if values["max_age"] is not None
                   else defaults.max_age)
        result.append(Series(spec=spec, base_image=values["base_image"] or defaults.base_image,
                             platforms=platforms, variants=variants, note=values["note"],
                             max_age=max_age))
    return tuple(result)


def _registries(reader: _Reader, data: list[Any]) -> tuple[Registry, ...]:
    result: list[Registry] = []
    names: set[str] = set()
    for index, item in enumerate(data):
        key = f"registries[{index}]"
        values = reader.section(item, _REGISTRY, key)
        reader.choice(values["type"], REGISTRY_TYPES, f"{key}.type")
        if values["name"] in names:
            raise reader.fail(f"{key}.name", f"duplicate registry name {values['name']!r}",
                              "give each registry its own name")
        names.add(values["name"])
        for name in _TYPE_KEYS:
            value = values[name]
            if value and name not in TYPES[values["type"]].keys:
                takes = [t.name for t in TYPES.values() if name in t.keys]
                raise reader.fail(f"{key}.{name}", f"{value!r} for type {values['type']!r}",
                                  f"give {name} on a {' or '.join(repr(t) for t in takes)} entry only")
            if value and name in _KEY_FORMS and not re.fullmatch(_KEY_FORMS[name][0], value):
                raise reader.fail(f"{key}.{name}", f"{value!r} {_KEY_FORMS[name][1]}", _KEY_FORMS[name][2])
        result.append(Registry(**values))
    return tuple(result)


def _runners(reader: _Reader, data: dict[Any, Any]) -> dict[str, str]:
    runners = dict(DEFAULT_RUNNERS)
    for platform, label in data.items():
        reader.choice(platform, PLATFORMS, f"runners.{platform}")
        if not isinstance(label, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", label):
            raise reader.fail(f"runners.{platform}", f"{label!r} is not a runner label",
                              "write a GitHub runner label such as ubuntu-24.04 (cross-compiled) "
                              "or ubuntu-24.04-arm (native arm64)")
        runners[platform] = label
    return runners


def _signing(reader: _Reader, data: Any) -> Signing:
    values = reader.section(data, _SIGNING, "signing")
    method = reader.choice(values["method"], SIGNING_METHODS, "signing.method")
    keys = [name for name in ("key_env", "key_file") if values[name]]
    if method == "key" and len(keys) != 1:
        raise reader.fail("signing", f"method 'key' with {' and '.join(keys) or 'no key'}",
                          "name the private key in exactly one of key_env (a variable) or key_file")
    if method != "key" and (keys or values["password_env"]):
        given = ", ".join(keys + (["password_env"] if values["password_env"] else []))
        raise reader.fail("signing", f"{given} given for method {method!r}",
                          "use method: key, or remove them")
    for name in ("key_env", "password_env"):
        if values[name] and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", values[name]):
            raise reader.fail(f"signing.{name}", f"{values[name]!r} is not a variable name",
                              "write the name of the environment variable, never its value")
    return Signing(**values)
