"""The image's CA trust store and a private CA added at start, with real TLS connections
made from inside the image to servers whose certificates a test CA signed (made here
with openssl):

- curl in the running container to an HTTPS server on the host's loopback: it verifies the
  certificate with the CA mounted under /usr/local/share/ca-certificates, and refuses it
  without (curl exit 60);
- PJSIP: a TLS transport with `verify_server = yes` and
  `ca_list_file = /run/asterisk/ca-certificates.crt` registers to a TLS SIP peer (a second
  container of the image, a registrar on a TLS transport) with the CA added, and cannot
  without it. The peer is named by its address (the certificate has it as an IP
  subjectAltName): Asterisk's PJSIP resolver asks DNS, not /etc/hosts, and there is no DNS
  here;
- a file there that is not a certificate stops the container with its name.
"""

from __future__ import annotations

import contextlib
import http.server
import re
import secrets
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pipeline.smoke.instance import build_test_config
from tests.integration import calls, containers
from tests.integration.test_image import wait_booted

HOST_NAME = "sip-peer.test"     # what the certificates are for; resolved to 127.0.0.1
CA_DIR = "/usr/local/share/ca-certificates"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """test-ca.crt, and server.crt/server.key for HOST_NAME and 127.0.0.1 signed by it."""
    directory = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pipeline test CA",
            "-keyout", "test-ca.key", "-out", "test-ca.crt", cwd=directory)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={HOST_NAME}",
            "-keyout", "server.key", "-out", "server.csr", cwd=directory)
    (directory / "san.ext").write_text(f"subjectAltName = DNS:{HOST_NAME}, IP:127.0.0.1\n"
                                       "extendedKeyUsage = serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "test-ca.crt", "-CAkey", "test-ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=directory)
    for name in ("server.key", "server.crt", "test-ca.crt"):
        (directory / name).chmod(0o644)     # read by the containers' asterisk user
    directory.chmod(0o755)
    return directory


@contextlib.contextmanager
def https_server(pki: Path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"verified\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def container(docker, image: str, *, envs=None, volumes=(), name_prefix="tls-test"):
    name = f"{name_prefix}-{secrets.token_hex(4)}"
    ports = calls.PortBlock.allocate(callers=1, rtp_ports=4).asterisk
    envs = {"ASTERISK_SIP_PORT": str(ports.sip), "ASTERISK_RTP_START": str(ports.rtp_start),
            "ASTERISK_RTP_END": str(ports.rtp_end), **(envs or {})}
    docker.run(image, detach=True, name=name, networks=["host"], envs=envs, volumes=list(volumes),
               add_hosts=[(HOST_NAME, "127.0.0.1")])
    try:
        wait_booted(docker, name)
        yield name
    finally:
        docker.container.remove(name, force=True, volumes=True)


def test_the_image_has_a_ca_trust_store(docker, images):
    bundle = docker.run(images["plain"], ["sh", "-c", "grep -c 'BEGIN CERTIFICATE' \"$SSL_CERT_FILE\""],
                        remove=True)
    assert int(bundle.strip()) > 100


@pytest.mark.parametrize("with_ca", [True, False], ids=["CA added", "no CA"])
def test_curl_in_the_image_verifies_with_the_private_ca(docker, images, pki, with_ca):
    volumes = [(str(pki / "test-ca.crt"), f"{CA_DIR}/test-ca.crt", "ro")] if with_ca else []
    with https_server(pki) as port, container(docker, images["plain"], volumes=volumes) as name:
        done = containers.execute(docker, name,
                                  ["curl", "-sS", "--max-time", "30", f"https://{HOST_NAME}:{port}/"])
        log = docker.container.logs(name)
    if with_ca:
        assert done.code == 0 and done.stdout == "verified\n", done.stderr
        assert f"1 private CA certificate(s) from {CA_DIR} added to /run/asterisk/ca-certificates.crt" in log
    else:
        assert done.code == 60, (done.code, done.stderr)   # peer certificate not verified
        assert "certificate" in done.stderr


def test_a_file_that_is_not_a_certificate_stops_the_container(docker, images, tmp_path):
    bad = tmp_path / "broken.crt"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    done = containers.run(docker, images["plain"], networks=["none"],
                          volumes=[(bad, f"{CA_DIR}/broken.crt", "ro")])
    assert done.code == 1, done.output
    assert done.stderr.strip().startswith(f"entrypoint: error: {CA_DIR}/broken.crt (a private CA) "
                                          "is not a PEM certificate"), done.stderr


# ---- PJSIP over TLS ----------------------------------------------------------------------------

PEER = """; the registrar: a TLS transport with the test CA's certificate for {host}
[transport-tls]
type = transport
protocol = tls
bind = 127.0.0.1:{port}
method = tlsv1_2
cert_file = /etc/asterisk/tls/server.crt
priv_key_file = /etc/asterisk/tls/server.key

[trunk-user](endpoint-defaults)
auth = trunk-user
aors = trunk-user

[trunk-user](auth-defaults)
username = trunk-user
password = {password}

[trunk-user](aor-defaults)
"""

CLIENT = """; registers over TLS, verifying the registrar's certificate
[transport-tls]
type = transport
protocol = tls
bind = 127.0.0.1:{client_port}
method = tlsv1_2
ca_list_file = /run/asterisk/ca-certificates.crt
verify_server = yes

[peer]
type = registration
transport = transport-tls
outbound_auth = peer-auth
server_uri = sip:127.0.0.1:{port};transport=tls
client_uri = sip:trunk-user@127.0.0.1:{port};transport=tls
retry_interval = 60
max_retries = 0

[peer-auth]
type = auth
auth_type = userpass
username = trunk-user
password = {password}
"""


def config_dir(docker, image: str, path: Path, pjsip: str) -> Path:
    overlay = path / "overlay"
    (overlay / "pjsip.d").mkdir(parents=True)
    (overlay / "pjsip.d" / "tls.conf").write_text(pjsip)
    return build_test_config(docker, image, path / "etc", password="", overlay=overlay)


def free_port() -> int:
    return calls.PortBlock.allocate(callers=1, rtp_ports=1).base


@pytest.mark.parametrize("with_ca", [True, False], ids=["CA added", "no CA"])
def test_pjsip_registers_over_tls_verifying_the_peer(docker, images, pki, tmp_path, with_ca):
    image, password = images["plain"], secrets.token_hex(12)
    peer_port, client_port = free_port(), free_port()
    peer_config = config_dir(docker, image, tmp_path / "peer",
                             PEER.format(host=HOST_NAME, port=peer_port, password=password))
    client_config = config_dir(docker, image, tmp_path / "client", CLIENT.format(
        host=HOST_NAME, port=peer_port, client_port=client_port, password=password))
    ca = [(str(pki / "test-ca.crt"), f"{CA_DIR}/test-ca.crt", "ro")] if with_ca else []
    with container(docker, image, name_prefix="tls-peer",
                   volumes=[(str(peer_config), "/etc/asterisk"), (str(pki), "/etc/asterisk/tls", "ro")]) as peer, \
            container(docker, image, name_prefix="tls-client",
                      volumes=[(str(client_config), "/etc/asterisk"), *ca]) as client:
        transports = docker.execute(peer, ["asterisk", "-rx", "pjsip show transports"])
        assert f"127.0.0.1:{peer_port}" in transports, f"{transports}\n{docker.container.logs(peer)[-3000:]}"
        deadline = time.monotonic() + 15
        while True:
            registrations = docker.execute(client, ["asterisk", "-rx", "pjsip show registrations"])
            status = re.search(r"^\s*peer/\S+\s+\S+\s+(\w+)", registrations, re.MULTILINE)
            settled = status and status.group(1) in ("Registered", "Rejected", "Stopped")
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        contacts = docker.execute(peer, ["asterisk", "-rx", "pjsip show aor trunk-user"])
        client_log = docker.container.logs(client)
        peer_log = docker.container.logs(peer)
    if with_ca:
        assert status and status.group(1) == "Registered", f"{registrations}\n{client_log[-4000:]}\n{peer_log[-4000:]}"
        assert re.search(r"Contact:\s+trunk-user/sip:", contacts), contacts
    else:
        assert not status or status.group(1) != "Registered", registrations
        assert "Contact:  trunk-user/sip:" not in contacts
        assert re.search(r"Transport 'transport-tls' to remote '127\.0\.0\.1' .* The certificate is untrusted",
                         client_log), client_log[-3000:]
