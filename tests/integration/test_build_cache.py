"""A failing GitHub Actions cache backend does not fail a build.

GitHub's cache service answers 429 when a repository makes too many requests, and can time
out. The build job passes `--cache type=gha,...`; pipeline.build.cache_options turns it into
buildx's cache-from / cache-to. Here a real BuildKit (the engine's) builds a small image
against a stand-in cache service on loopback that answers every request with 429 (BuildKit
retries until the export's `timeout=`): the build must succeed with the options the
pipeline gives, and fails with the same export without ignore-error=true (so the stand-in
really breaks the export). A failed import is only logged by BuildKit."""

from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from python_on_whales import DockerException

from pipeline.build import cache_options
from tests.integration.conftest import BASE_IMAGE
from tests.integration.rehearsal import fake_runtime_token

DOCKERFILE = f"""\
FROM {BASE_IMAGE}
ARG NONCE
RUN echo "$NONCE" > /nonce
"""


class TooManyRequests(BaseHTTPRequestHandler):
    requests = 0

    def answer(self):
        type(self).requests += 1
        body = b'{"message": "Too Many Requests"}'
        self.send_response(429)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = answer

    def log_message(self, *args):
        pass


@pytest.fixture
def busy_cache_service():
    server = ThreadingHTTPServer(("127.0.0.1", 0), TooManyRequests)
    TooManyRequests.requests = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def spec(url: str) -> str:
    return f"type=gha,url={url},token={fake_runtime_token()},timeout=10s"


def build(docker, tmp_path, options):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    tag = f"workflows-cache-test:{uuid.uuid4().hex[:8]}"
    try:
        docker.buildx.build(tmp_path, tags=[tag], load=True, build_args={"NONCE": uuid.uuid4().hex},
                            progress="plain", **options)
    finally:
        docker.image.remove(tag, force=True)


def test_a_busy_cache_service_does_not_fail_the_build(docker, tmp_path, busy_cache_service):
    options = cache_options(spec(busy_cache_service), "asterisk-test")
    assert options["cache_to"]["ignore-error"] == "true"
    assert "ignore-error" not in options["cache_from"] and "mode" not in options["cache_from"]
    build(docker, tmp_path, options)
    assert TooManyRequests.requests > 0, "the build never asked the cache service"


def test_without_ignore_error_the_same_export_fails(docker, tmp_path, busy_cache_service, capfd):
    options = cache_options(spec(busy_cache_service), "asterisk-test")
    options["cache_to"].pop("ignore-error")
    with pytest.raises(DockerException):
        build(docker, tmp_path, options)
    # BuildKit's client retries a 429 until the export's timeout: the two failures GitHub's
    # cache service shows.
    assert "ERROR: failed to build: failed to solve: maximum timeout reached" in capfd.readouterr().err
