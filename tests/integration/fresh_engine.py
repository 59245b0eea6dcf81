"""A second, empty Docker engine on this host: what a fresh machine has before anything was
built on it. CI runs on the machine a session used, whose engine is warm (images built,
bases primed, build cache full), and a warm engine hides what a fresh one hits (issue 23:
BuildKit on Docker 26 with the containerd store resolves a local base image's NAME@DIGEST in
the registry unless something built FROM NAME on that engine before). The tests that must
prove the fresh path run against one of these.

The engine is the host's own dockerd binary and daemon.json features (the containerd image
store), with everything of its own: data root (empty), exec root, socket, pid file, and a
bridge of its own (FreshEngine.SUBNET). It must not touch the main engine's firewall rules,
so it runs with --iptables=false (dockerd's bridge driver recreates its DOCKER chains at
start, which would drop the main engine's port forwards), and this module adds the two rules
its containers need: NAT to the outside (apt in builds) and forwarding for its bridge.
Published ports then go through dockerd's userland proxy. Everything is removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DAEMON_JSON = Path("/etc/docker/daemon.json")
START_TIMEOUT = 90   # seconds for `docker info` to answer


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def _free_subnet() -> str:
    """A 10.213.N.0/24 that no interface or route of this host uses."""
    routes = _run("ip", "-4", "route").stdout + _run("ip", "-4", "addr").stdout
    for n in range(1, 250):
        if f"10.213.{n}." not in routes:
            return f"10.213.{n}"
    raise RuntimeError("no free 10.213.N.0/24 subnet for the fresh engine's bridge")


class FreshEngine:
    """One empty dockerd: start() then host (a DOCKER_HOST value), stop() removes it all."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="fresh-engine-", dir="/var/tmp"))
        self.bridge = f"pfresh{os.getpid() % 100000}"
        self.prefix = _free_subnet()
        self.process: subprocess.Popen | None = None
        self._rules: list[list[str]] = []

    @property
    def host(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.prefix}.1/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        subnet = f"{self.prefix}.0/24"
        for rule in (["-t", "nat", "POSTROUTING", "-s", subnet, "!", "-o", self.bridge, "-j", "MASQUERADE"],
                     ["-t", "filter", "FORWARD", "-i", self.bridge, "-j", "ACCEPT"],
                     ["-t", "filter", "FORWARD", "-o", self.bridge, "-m", "conntrack", "--ctstate",
                      "RELATED,ESTABLISHED", "-j", "ACCEPT"]):
            table, chain, spec = rule[:2], rule[2], rule[3:]
            _run("iptables", *table, "-I", chain, *spec)
            self._rules.append([*table, "-D", chain, *spec])
        config = json.loads(DAEMON_JSON.read_text()) if DAEMON_JSON.is_file() else {}
        (self.root / "daemon.json").write_text(json.dumps({"features": config.get("features", {})}))
        log = (self.root / "dockerd.log").open("w")
        self.process = subprocess.Popen(
            ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "docker.pid"), "--host", self.host,
             "--config-file", str(self.root / "daemon.json"), "--bridge", self.bridge,
             "--iptables=false", "--ip-masq=false"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the fresh dockerd exited: {self.log_tail()}")
            if subprocess.run(["docker", "info"], env=self.env(), capture_output=True).returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError(f"the fresh dockerd did not answer within {START_TIMEOUT}s: {self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        path = self.root / "dockerd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """Stop the daemon (its containerd with it), then remove its rules, bridge and files."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for rule in self._rules:
            _run("iptables", *rule, check=False)
        _run("ip", "link", "del", self.bridge, check=False)
        # mounts a killed daemon may have left under its root, innermost first
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(self.root))]
        for mount in sorted(mounts, key=len, reverse=True):
            _run("umount", "-l", mount, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def fresh_engine() -> Iterator[FreshEngine]:
    engine = FreshEngine()
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()
