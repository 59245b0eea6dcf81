"""Unit tests reach neither processes, Docker nor the network: any attempt fails loudly."""

import socket
import subprocess

import pytest


@pytest.fixture(autouse=True)
def no_outside_world(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("unit tests must not run commands or open sockets; "
                             "put this test under tests/integration")

    monkeypatch.setattr(subprocess.Popen, "__init__", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)


@pytest.fixture(autouse=True)
def not_in_github_actions(monkeypatch):
    """The same results on a GitHub runner as here: no `::error::` annotations, no step
    summary, no repository URL from the runner's variables (the ci.yml rehearsal in
    tests/integration/test_workflow_rehearsal.py runs these tests as a runner does)."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_REPOSITORY", "GITHUB_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
