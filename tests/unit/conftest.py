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
