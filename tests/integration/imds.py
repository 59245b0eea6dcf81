"""TEST STAND-IN for the EC2 instance metadata service (IMDSv2), which cannot exist here:
an HTTP server on a loopback port that behaves as AWS documents it
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html,
"Use the Instance Metadata Service to access instance metadata"):

- `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` (1 to 21600) returns a
  session token; without that header, or with a value out of range: 400. A PUT that
  carries `X-Forwarded-For` is refused (403): IMDSv2 does not answer through proxies;
- with IMDSv2 required (`HttpTokens=required`), a GET without a valid
  `X-aws-ec2-metadata-token`: 401;
- `GET /latest/meta-data/public-ipv4`: the address, or 404 when the instance has none.

Behaviours are chosen by configuration (`Behaviour`), never by editing this file: a
public address or none, a token that is refused, an answer that comes too late. Every
request is recorded, headers included, for the test to check what the client sent.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclasses.dataclass(frozen=True)
class Behaviour:
    public_ipv4: str | None = "198.51.100.77"   # None: the instance has no public IPv4
    refuse_tokens: bool = False                 # every GET gets 401, as with an expired token
    delay_seconds: float = 0.0                  # before each answer


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]


class Imds:
    """The stand-in, on 127.0.0.1:<port> while the context is open."""

    def __init__(self, behaviour: Behaviour = Behaviour()):
        self.behaviour = behaviour
        self.requests: list[Request] = []
        self._tokens: set[str] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:   # quiet
                pass

            def _answer(self, status: int, body: str = "") -> None:
                time.sleep(imds.behaviour.delay_seconds)
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):   # the client gave up
                    pass

            def _record(self) -> None:
                imds.requests.append(Request(self.command, self.path,
                                             {k.lower(): v for k, v in self.headers.items()}))

            def do_PUT(self) -> None:
                self._record()
                if self.path != "/latest/api/token":
                    return self._answer(404)
                if "X-Forwarded-For" in self.headers:
                    return self._answer(403)
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
                if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                    return self._answer(400)
                token = secrets.token_urlsafe(32)
                imds._tokens.add(token)
                return self._answer(200, token)

            def do_GET(self) -> None:
                self._record()
                token = self.headers.get("X-aws-ec2-metadata-token", "")
                if imds.behaviour.refuse_tokens or token not in imds._tokens:
                    return self._answer(401)
                if self.path == "/latest/meta-data/public-ipv4":
                    address = imds.behaviour.public_ipv4
                    return self._answer(200, address) if address else self._answer(404)
                return self._answer(404)

        return Handler
