"""Build, smoke-test and publish Asterisk container images: matrix → versions → plan →
build → smoke → publish."""

__version__ = "0.1.0"
