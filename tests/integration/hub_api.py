"""A stand-in for Docker Hub's own API (hub.docker.com: accounts and repositories, not the
registry), on a pytest-httpserver, answering as Docker documents it and as the usual
GitHub action for descriptions (peter-evans/dockerhub-description) relies on:

* POST /v2/auth/token {"identifier", "secret"} -> 200 {"access_token": JWT}; a wrong
  login -> 401 (Docker's Hub API reference, "Create access token");
* GET and PATCH /v2/repositories/NAMESPACE/NAME/ need `Authorization: Bearer <token>`:
  401 without it or with an unknown token; PATCH {"full_description": ...} -> 200 with
  the repository, whose full_description is then that text.

`fail_patch` makes the next PATCHes answer that status; `requests` lists (method, path,
status) of everything received."""

from __future__ import annotations

import json
import secrets

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


class HubApiStandIn:
    def __init__(self, server: HTTPServer, *, username: str, password: str, repository: str) -> None:
        self.server, self.username, self.password = server, username, password
        self.repository = repository
        self.full_description = ""
        self.patches: list[dict] = []            # bodies of the accepted PATCHes
        self.requests: list[tuple[str, str, int]] = []
        self.fail_patch: int | None = None
        self.tokens: set[str] = set()
        path = f"/v2/repositories/{repository}/"
        server.expect_request("/v2/auth/token", method="POST").respond_with_handler(self._token)
        server.expect_request(path, method="GET").respond_with_handler(self._get)
        server.expect_request(path, method="PATCH").respond_with_handler(self._patch)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _answer(self, request: Request, status: int, body: dict) -> Response:
        self.requests.append((request.method, request.path, status))
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _token(self, request: Request) -> Response:
        data = request.get_json(silent=True) or {}
        if data.get("identifier") != self.username or data.get("secret") != self.password:
            return self._answer(request, 401, {"detail": "Incorrect authentication credentials"})
        token = "eyJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return self._answer(request, 200, {"access_token": token})

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and token in self.tokens

    def _repository(self) -> dict:
        namespace, name = self.repository.split("/")
        return {"namespace": namespace, "name": name, "description": "",
                "full_description": self.full_description}

    def _get(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._answer(request, 401, {"detail": "authentication required"})
        return self._answer(request, 200, self._repository())

    def _patch(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._answer(request, 401, {"detail": "authentication required"})
        if self.fail_patch:
            return self._answer(request, self.fail_patch, {"detail": "stand-in failure"})
        body = request.get_json(silent=True) or {}
        self.patches.append(body)
        if "full_description" in body:
            self.full_description = body["full_description"]
        return self._answer(request, 200, self._repository())
