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
    """An external command failed; keeps what is needed to debug it."""

    exit_code = 6

    def __init__(self, message: str, *, command: list[str] | None = None,
                 returncode: int | None = None, output: str = "") -> None:
        super().__init__(message)
        self.command = command or []
        self.returncode = returncode
        self.output = output


class BuildError(PipelineError):
    """One or more targets failed to build, smoke-test or publish."""

    exit_code = 7


class SmokeError(PipelineError):
    """An image failed its smoke test."""

    exit_code = 8


class PublishError(PipelineError):
    """A push, login or tag move failed."""

    exit_code = 9
