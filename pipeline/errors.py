"""Error types. Each carries the exit code the CLI returns; only cli.main exits."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: a failure the user can act on (no traceback is shown)."""

    exit_code = 1


class ConfigurationError(PipelineError):
    """matrix.yaml, a command-line argument or an environment setting is wrong."""

    exit_code = 2


class NothingToDoError(PipelineError):
    """The selection matched no target."""

    exit_code = 3


class ResolutionError(PipelineError):
    """A version spec matched no release, or the release list could not be read."""

    exit_code = 4


class SourceError(PipelineError):
    """A download failed, or a checksum did not match."""

    exit_code = 5


class CommandError(PipelineError):
    """An external command failed; the message names it and says why."""

    exit_code = 6


class BuildError(PipelineError):
    """One or more targets failed to build, smoke-test or publish."""

    exit_code = 7


class SmokeError(PipelineError):
    """An image failed its smoke test."""

    exit_code = 8


class PublishError(PipelineError):
    """A push, login or tag move failed."""

    exit_code = 9


class CredentialsError(PublishError):
    """No credentials for a registry that needs them to be read at all (ECR)."""


# Every exit code of `pipeline`, as README.md documents them (a test checks they agree).
EXIT_CODES = {
    "ok": 0,
    "unexpected error (a bug: please report it with the output of -v)": 1,
    "configuration": ConfigurationError.exit_code,
    "nothing to do": NothingToDoError.exit_code,
    "no such release": ResolutionError.exit_code,
    "download or checksum": SourceError.exit_code,
    "command failed": CommandError.exit_code,
    "build or smoke test of a target": BuildError.exit_code,
    "smoke test": SmokeError.exit_code,
    "publishing": PublishError.exit_code,
    "interrupted": 130,
}
