"""The tests' stand-in for the Asterisk Dockerfile: the same stages (`runtime`,
`runtime-opus`), arguments and `sources` build context, built in seconds, so publishing
code is exercised with real multi-platform images without compiling Asterisk."""

TINY_DOCKERFILE = """\
ARG BASE_IMAGE=debian:trixie-slim
FROM ${BASE_IMAGE} AS runtime
ARG ASTERISK_VERSION
RUN --mount=type=bind,from=sources,source=asterisk.tar.gz,target=/tmp/asterisk.tar.gz \\
    sha256sum /tmp/asterisk.tar.gz > /sources.sha256 && echo "$ASTERISK_VERSION" > /version
CMD ["cat", "/version"]

FROM runtime AS runtime-opus
RUN echo opus > /variant
"""
