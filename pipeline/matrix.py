"""Reading and validating matrix.yaml into frozen dataclasses.

Validation is strict: an unknown key, a wrong type, an unknown platform, a malformed
version spec, a duplicate series or an empty matrix is a ConfigurationError whose one-line
message names the file, the key, the bad value and the fix. Nothing starts before this
passes.

Two environment variables point a run at stand-ins without editing the file:
PIPELINE_MIRROR (see `Sources.url`) and PIPELINE_RELEASES (`listing`, `github`, or
`file:PATH[,PATH...]`).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigurationError
from .versions import SPEC_HELP, Spec

PLATFORMS = ("linux/amd64", "linux/arm64")
VARIANTS = ("plain", "opus")
RELEASE_SOURCES = ("listing", "github", "file")
REGISTRY_TYPES = ("dockerhub", "ecr", "oci")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Releases:
    source: str = "listing"
    files: tuple[Path, ...] = ()
    github_repository: str = "asterisk/asterisk"
    github_url: str = "https://github.com"   # another URL means a GitHub Enterprise server


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sources:
    """Where the build's inputs are downloaded from (upstream by default)."""

    mirror: str = ""
    asterisk: str = "https://downloads.asterisk.org/pub/telephony/asterisk/releases"
    certified: str = "https://downloads.asterisk.org/pub/telephony/certified-asterisk/releases"
    pjproject: str = "https://raw.githubusercontent.com/asterisk/third-party/master/pjproject"
    opus_codec: str = ""
    opus_codec_sha256: tuple[tuple[str, str], ...] = ()
    sounds: str = "https://downloads.asterisk.org/pub/telephony/sounds/releases"
    core_sounds: str = "asterisk-core-sounds-en-ulaw-1.6.1"
    moh: str = "asterisk-moh-opsound-ulaw-2.03"

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
    variants: tuple[str, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Series(Defaults):
    spec: Spec
    note: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Registry:
    name: str
    type: str
    repository: str
    region: str = ""
    account: str = ""
    username_env: str = ""
    password_env: str = ""
    ca_cert: str = ""
    host: str = ""   # overrides the registry host images go to (e.g. a stand-in for ECR)

    @property
    def image(self) -> str:
        """The image name without tag, e.g. docker.io/org/asterisk."""
        if self.host:
            return f"{self.host}/{self.repository}"
        if self.type == "ecr":
            return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{self.repository}"
        if self.type == "dockerhub" and self.repository.count("/") < 2:
            return f"docker.io/{self.repository}"
        return self.repository


@dataclasses.dataclass(frozen=True, kw_only=True)
class Matrix:
    path: Path
    releases: Releases
    sources: Sources
    defaults: Defaults
    series: tuple[Series, ...]
    registries: tuple[Registry, ...]


# ----------------------------------------------------------------------------- schema
# key -> (expected type, default); a default of REQUIRED makes the key mandatory.
REQUIRED = object()
_TOP = {"releases": (dict, {}), "sources": (dict, {}), "defaults": (dict, {}),
        "series": (list, REQUIRED), "registries": (list, [])}
_RELEASES = {"source": (str, "listing"), "files": (list, []),
             "github_repository": (str, "asterisk/asterisk"),
             "github_url": (str, "https://github.com")}
_SOURCES = {field.name: ((dict if field.name == "opus_codec_sha256" else str), field.default)
            for field in dataclasses.fields(Sources)}
_DEFAULTS = {"base_image": (str, "debian:trixie-slim"), "platforms": (list, list(PLATFORMS)),
             "variants": (list, list(VARIANTS))}
_SERIES = {"spec": (str, REQUIRED), "note": (str, ""), "base_image": (str, None),
           "platforms": (list, None), "variants": (list, None)}
_REGISTRY = {field.name: (str, REQUIRED if field.name in ("name", "type", "repository") else "")
             for field in dataclasses.fields(Registry)}


class _Reader:
    """Validates one file; every error names the file and the key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, fix: str) -> ConfigurationError:
        where = f"{self.path}: {key}" if key else str(self.path)
        return ConfigurationError(f"{where}: {problem}; {fix}")

    def section(self, data: Any, schema: dict, key: str) -> dict:
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
        return value

    def choices(self, values: list, allowed: tuple[str, ...], key: str) -> tuple[str, ...]:
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


def load(path: str | os.PathLike, environ: dict[str, str] | None = None) -> Matrix:
    """Read and validate a matrix file; environment overrides come from environ."""
    path = Path(path)
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigurationError(f"{path}: cannot read the matrix file ({error.strerror}); "
                                 "pass --matrix FILE or run from the repository root")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigurationError(f"{path}:{line}: not valid YAML ({getattr(error, 'problem', error)}); "
                                 "check indentation and quoting")
    reader = _Reader(path)
    if data is None:
        raise reader.fail("", "the matrix is empty", "add a 'series:' list (see docs/matrix.md)")
    top = reader.section(data, _TOP, "")
    releases = _releases(reader, top["releases"], environ)
    sources = _sources(reader, top["sources"], environ)
    defaults = _defaults(reader, top["defaults"])
    series = _series(reader, top["series"], defaults)
    registries = _registries(reader, top["registries"])
    return Matrix(path=path, releases=releases, sources=sources, defaults=defaults,
                  series=series, registries=registries)


def _releases(reader: _Reader, data: Any, environ: dict[str, str]) -> Releases:
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


def _sources(reader: _Reader, data: Any, environ: dict[str, str]) -> Sources:
    values = reader.section(data, _SOURCES, "sources")
    values["mirror"] = environ.get("PIPELINE_MIRROR", values["mirror"])
    for name, value in values.items():
        if name in ("mirror", "asterisk", "certified", "pjproject", "opus_codec", "sounds") \
                and value and not re.match(r"^https?://", value):
            raise reader.fail(f"sources.{name}", f"{value!r} is not an http(s) URL",
                              "write a URL such as https://host/path")
    values["opus_codec_sha256"] = tuple(sorted(dict(values["opus_codec_sha256"]).items()))
    return Sources(**values)


def _defaults(reader: _Reader, data: Any) -> Defaults:
    values = reader.section(data, _DEFAULTS, "defaults")
    return Defaults(base_image=values["base_image"],
                    platforms=reader.choices(values["platforms"], PLATFORMS, "defaults.platforms"),
                    variants=reader.choices(values["variants"], VARIANTS, "defaults.variants"))


def _series(reader: _Reader, data: list, defaults: Defaults) -> tuple[Series, ...]:
    if not data:
        raise reader.fail("series", "the matrix has no series", "add at least one, e.g. '- spec: 22.x'")
    result, seen = [], {}
    for index, item in enumerate(data):
        key = f"series[{index}]"
        values = reader.section(item, _SERIES, key)
        try:
            spec = Spec.parse(values["spec"])
        except ConfigurationError as error:
            raise reader.fail(f"{key}.spec", str(error).split(";")[0], SPEC_HELP)
        if spec.text in seen:
            raise reader.fail(f"{key}.spec", f"duplicate series {spec.text!r} (also {seen[spec.text]})",
                              "list each series once; use 'variants' for plain/opus")
        seen[spec.text] = key
        platforms = (reader.choices(values["platforms"], PLATFORMS, f"{key}.platforms")
                     if values["platforms"] is not None else defaults.platforms)
        variants = (reader.choices(values["variants"], VARIANTS, f"{key}.variants")
                    if values["variants"] is not None else defaults.variants)
        result.append(Series(spec=spec, base_image=values["base_image"] or defaults.base_image,
                             platforms=platforms, variants=variants, note=values["note"]))
    return tuple(result)


def _registries(reader: _Reader, data: list) -> tuple[Registry, ...]:
    result, names = [], set()
    for index, item in enumerate(data):
        key = f"registries[{index}]"
        values = reader.section(item, _REGISTRY, key)
        reader.choice(values["type"], REGISTRY_TYPES, f"{key}.type")
        if values["name"] in names:
            raise reader.fail(f"{key}.name", f"duplicate registry name {values['name']!r}",
                              "give each registry its own name")
        names.add(values["name"])
        if values["type"] == "ecr":
            for needed in ("region", "account"):
                if not values[needed]:
                    raise reader.fail(f"{key}.{needed}", "missing for an ECR registry",
                                      f"add '{needed}:' (e.g. region: eu-west-1, account: '123456789012')")
            if not re.fullmatch(r"\d{12}", values["account"]):
                raise reader.fail(f"{key}.account", f"{values['account']!r} is not a 12-digit AWS account id",
                                  "quote it as a string of 12 digits")
        result.append(Registry(**values))
    return tuple(result)
