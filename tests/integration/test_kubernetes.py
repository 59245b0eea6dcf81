"""deploy/kubernetes: the base and each overlay rendered by kustomize, every manifest
validated against the Kubernetes API schemas (kubernetes-validate, strict: unknown fields
are errors), the settings checked against what the image really has, and the pod spec
run on the real image the way a kubelet would run it (user, read-only root, volumes,
ConfigMap and Secret files, environment, then the probes)."""

import contextlib
import ipaddress
import re
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT
from tests.unit.test_ec2_ports import readme_defaults

KUBERNETES = ROOT / "deploy" / "kubernetes"
LAYOUTS = {"base": KUBERNETES / "base",
           "host-network": KUBERNETES / "overlays" / "host-network",
           "service": KUBERNETES / "overlays" / "service"}
# The newest schemas kubernetes-validate ships, and an older release still in wide use.
VERSIONS = [kubernetes_validate.latest_version(), "1.31.0"]
HEALTHCHECK = ["asterisk-healthcheck"]


def kustomize_command() -> list[str]:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    raise AssertionError("neither kustomize nor kubectl is installed "
                         "(apt-get install -t trixie kustomize)")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    command = kustomize_command()
    out = {}
    for name, path in LAYOUTS.items():
        result = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{' '.join(command)} {path}:\n{result.stderr}"
        out[name] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def one(docs, kind, prefix=""):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]
    assert len(found) == 1, f"expected one {kind} {prefix}*, found {[d['metadata']['name'] for d in found]}"
    return found[0]


def pod(docs) -> dict:
    return one(docs, "Deployment")["spec"]["template"]["spec"]


def container(docs) -> dict:
    [only] = pod(docs)["containers"]
    return only


def env(docs) -> dict[str, str]:
    return one(docs, "ConfigMap", "asterisk-env")["data"]


# ----------------------------------------------------------------------------- schemas

@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_manifest_is_valid(rendered, layout, version):
    kinds = []
    for doc in rendered[layout]:
        kubernetes_validate.validate(doc, version, strict=True)
        kinds.append(doc["kind"])
    expected = {"ConfigMap", "Deployment", "PersistentVolumeClaim"} | ({"Service"} if layout == "service" else set())
    assert set(kinds) == expected


def test_the_validator_rejects_an_unknown_field(rendered):
    deployment = yaml.safe_load(yaml.safe_dump(one(rendered["base"], "Deployment")))
    deployment["spec"]["template"]["spec"]["hostNetwrok"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


# ----------------------------------------------------------------------------- against the image

def test_probes_run_the_image_health_check(rendered):
    dockerfile = (ROOT / "dockerfiles" / "asterisk" / "Dockerfile").read_text()
    assert "/usr/local/bin/asterisk-healthcheck" in dockerfile
    assert 'CMD ["asterisk-healthcheck"]' in dockerfile
    for layout, docs in rendered.items():
        spec = container(docs)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert spec[probe]["exec"]["command"] == HEALTHCHECK, (layout, probe)
            # the script allows 5 s for each of its two asterisk -rx calls
            assert spec[probe]["timeoutSeconds"] >= 10, (layout, probe)


def test_runs_as_the_image_user_with_its_group_owning_the_volumes(rendered):
    uid = int(readme_defaults()["ASTERISK_UID"])
    for layout, docs in rendered.items():
        security = pod(docs)["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == security["runAsGroup"] == security["fsGroup"] == uid, layout
        spec = container(docs)
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["securityContext"]["privileged"] is False
        assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert "add" not in spec["securityContext"]["capabilities"]
        assert pod(docs)["automountServiceAccountToken"] is False, layout


def test_requests_and_limits(rendered):
    for docs in rendered.values():
        resources = container(docs)["resources"]
        for kind in ("requests", "limits"):
            assert set(resources[kind]) == {"cpu", "memory"}


def test_environment_names_are_the_image_variables(rendered):
    documented = set(readme_defaults()) | {"ASTERISK_EXTERNAL_ADDRESS", "ASTERISK_LOCAL_NETS",
                                           "ASTERISK_SIP_PERMIT"}
    for layout, docs in rendered.items():
        assert set(env(docs)) <= documented, layout
        assert container(docs)["envFrom"] == [
            {"configMapRef": {"name": one(docs, "ConfigMap", "asterisk-env")["metadata"]["name"]}}]


def test_endpoints_are_mounted_into_pjsip_d(rendered):
    docs = rendered["base"]
    [mount] = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == "/etc/asterisk/pjsip.d"]
    assert mount.get("readOnly") is True
    [volume] = [v for v in pod(docs)["volumes"] if v["name"] == mount["name"]]
    sources = volume["projected"]["sources"]
    config_map = one(docs, "ConfigMap", "asterisk-pjsip")
    assert {"configMap": {"name": config_map["metadata"]["name"]}} in sources
    assert {"secret": {"name": "asterisk-pjsip-auth", "optional": True}} in sources
    assert "](endpoint-defaults)" in config_map["data"]["endpoints.conf"]
    settings = [line for line in config_map["data"]["endpoints.conf"].splitlines()
                if not line.lstrip().startswith(";")]
    assert not [line for line in settings if line.replace(" ", "").startswith("password=")]


@pytest.mark.parametrize("path", ["/var/spool/asterisk", "/var/lib/asterisk"])
def test_state_on_persistent_volumes(rendered, path):
    docs = rendered["base"]
    [mount] = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == path]
    [volume] = [v for v in pod(docs)["volumes"] if v["name"] == mount["name"]]
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    assert volume["persistentVolumeClaim"]["claimName"] in claims


def test_devices_are_not_extension_numbers(rendered):
    docs = rendered["base"]
    endpoints = one(docs, "ConfigMap", "asterisk-pjsip")["data"]["endpoints.conf"]
    devices = re.findall(r"^\[([^\]]+)\]\(endpoint-defaults\)", endpoints, re.MULTILINE)
    assert devices and not [d for d in devices if d.isdigit()], devices
    mapping = dict(re.findall(r'\["(\d+)"\]\s*=\s*"([^"]+)"',
                              one(docs, "ConfigMap", "asterisk-dialplan")["data"]["devices.lua"]))
    assert set(mapping.values()) == set(devices), (mapping, devices)
    [mount] = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == "/etc/asterisk/devices.lua"]
    assert mount["subPath"] == "devices.lua" and mount["readOnly"] is True


# ----------------------------------------------------------------------------- overlays

def test_host_network_overlay(rendered):
    docs = rendered["host-network"]
    spec = pod(docs)
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert one(docs, "Deployment")["spec"]["strategy"]["type"] == "Recreate"
    # The SIP port as container ports: with host networking they are host ports, so the
    # scheduler never puts two of these pods on one node.
    sip = int(env(docs)["ASTERISK_SIP_PORT"])
    ports = {(p["protocol"], p["containerPort"]) for p in container(docs)["ports"]}
    assert ports == {("UDP", sip), ("TCP", sip)}
    assert not [d for d in docs if d["kind"] == "Service"]


def test_service_overlay_exposes_sip_and_every_rtp_port(rendered):
    docs = rendered["service"]
    assert not pod(docs).get("hostNetwork")
    settings = env(docs)
    sip = int(settings["ASTERISK_SIP_PORT"])
    rtp = range(int(settings["ASTERISK_RTP_START"]), int(settings["ASTERISK_RTP_END"]) + 1)
    assert (rtp.start, rtp.stop - 1) == (10000, 10039)
    service = one(docs, "Service")
    ports = service["spec"]["ports"]
    assert {(p["protocol"], p["port"]) for p in ports} == (
        {("UDP", sip), ("TCP", sip)} | {("UDP", port) for port in rtp})
    assert len(ports) == len(rtp) + 2
    assert all(p["targetPort"] == p["port"] for p in ports)
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    # The load balancer lets in what Asterisk's own ACL permits, and nothing else.
    permit = settings["ASTERISK_SIP_PERMIT"]
    assert permit, "service.env sets no ASTERISK_SIP_PERMIT"
    assert service["spec"]["loadBalancerSourceRanges"] == [
        str(ipaddress.ip_network(item, strict=False)) for item in re.split(r"[\s,]+", permit) if item]
    labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_service_yaml_is_up_to_date():
    script = KUBERNETES / "overlays" / "service" / "generate-service.py"
    result = subprocess.run(["python3", str(script), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------- the real image

def auths(docs) -> str:
    """The Secret's auths.conf, made as docs/kubernetes.md says: a random password each."""
    endpoints = one(docs, "ConfigMap", "asterisk-pjsip")["data"]["endpoints.conf"]
    return "".join(f"[{device}](auth-defaults)\nusername = {device}\npassword = {secrets.token_urlsafe(18)}\n\n"
                   for device in re.findall(r"^\[([^\]]+)\]\(endpoint-defaults\)", endpoints, re.MULTILINE))


def docker_run_options(docs, files_dir: Path) -> dict:
    """docker.run options that do what the kubelet does with this pod spec."""
    spec, main = pod(docs), container(docs)
    security, own = spec["securityContext"], main["securityContext"]
    fs_group = security["fsGroup"]
    volumes, tmpfs = [], []
    declared = {v["name"]: v for v in spec["volumes"]}
    for mount in main["volumeMounts"]:
        volume = declared[mount["name"]]
        if "projected" in volume:
            volumes.append((files_dir, mount["mountPath"], "ro"))
        elif "configMap" in volume:    # one key, mounted with subPath
            volumes.append((files_dir / "subpath" / mount["subPath"], mount["mountPath"], "ro"))
        else:   # emptyDir, or a new (empty) persistent volume: group fsGroup, group-writable
            tmpfs.append(f"{mount['mountPath']}:gid={fs_group},mode=2777")
    return {"user": f"{security['runAsUser']}:{security['runAsGroup']}", "groups_add": [str(fs_group)],
            "security_options": ["no-new-privileges"], "cap_drop": own["capabilities"]["drop"],
            "read_only": bool(own.get("readOnlyRootFilesystem")), "envs": env(docs),
            "volumes": volumes, "tmpfs": tmpfs}


def project_files(docs, directory: Path, group: int) -> None:
    """The projected volume's files (the ConfigMap's keys and a Secret's auths.conf), and
    in subpath/ the keys of the ConfigMaps mounted one file at a time."""
    spec = pod(docs)
    [volume] = [v for v in spec["volumes"] if "projected" in v]
    config_map = one(docs, "ConfigMap", "asterisk-pjsip")
    files = {name: (text, volume["projected"]["defaultMode"])
             for name, text in {**config_map["data"], "auths.conf": auths(docs)}.items()}
    (directory / "subpath").mkdir()
    for single in [v for v in spec["volumes"] if "configMap" in v]:
        data = one(docs, "ConfigMap", single["configMap"]["name"])["data"]
        files |= {f"subpath/{name}": (text, single["configMap"]["defaultMode"]) for name, text in data.items()}
    for name, (text, mode) in files.items():
        path = directory / name
        path.write_text(text)
        path.chmod(mode)
        shutil.chown(path, group=group)


@contextlib.contextmanager
def running_pod(docker, image, docs, tmp_path):
    files = tmp_path / "pjsip.d"
    files.mkdir()
    project_files(docs, files, pod(docs)["securityContext"]["fsGroup"])
    name = f"k8s-pod-{uuid.uuid4().hex[:8]}"
    docker.run(image, detach=True, name=name, networks=["none"], **docker_run_options(docs, files))
    try:
        yield name
    finally:
        docker.container.remove(name, force=True, volumes=True)


def probe(name, spec) -> subprocess.CompletedProcess:
    # The CLI, not docker.execute: the kubelet fails a probe that takes longer than
    # timeoutSeconds, and python-on-whales' execute has no time limit.
    return subprocess.run(["docker", "exec", name, *spec["exec"]["command"]],
                          capture_output=True, text=True, timeout=spec["timeoutSeconds"])


def test_the_pod_spec_runs_the_real_image_and_its_probes_pass(docker, images, rendered, tmp_path):
    docs = rendered["service"]
    spec = container(docs)
    with running_pod(docker, images["plain"], docs, tmp_path) as name:
        startup = spec["startupProbe"]
        deadline = time.monotonic() + startup["periodSeconds"] * startup["failureThreshold"]
        while (result := probe(name, startup)).returncode != 0:
            logs = docker.container.logs(name)
            running = docker.container.inspect(name).state.running
            assert running and time.monotonic() < deadline, (
                f"startup probe never passed ({result.stdout}{result.stderr}); "
                f"container running: {running}; log:\n{logs}")
            time.sleep(startup["periodSeconds"] / 4)
        for kind in ("readinessProbe", "livenessProbe"):
            result = probe(name, spec[kind])
            assert result.returncode == 0, (kind, result.stdout)
        endpoints = docker.execute(name, ["asterisk", "-rx", "pjsip show endpoints"])
        rtp = docker.execute(name, ["asterisk", "-rx", "rtp show settings"])
        user = docker.execute(name, ["id", "-u"])
        # Runs extensions.lua, which reads the mounted devices.lua: an error fails the reload.
        reload = docker.execute(name, ["asterisk", "-rx", "module reload pbx_lua"])
    assert "reloaded successfully" in reload, reload
    devices = re.findall(r"^\[([^\]]+)\]\(endpoint-defaults\)",
                         one(docs, "ConfigMap", "asterisk-pjsip")["data"]["endpoints.conf"], re.MULTILINE)
    for endpoint in devices:
        assert f"Endpoint:  {endpoint}" in endpoints, endpoints
        assert f"InAuth:  {endpoint}/{endpoint}" in endpoints, endpoints   # from the Secret's file
    assert "10000" in rtp and "10039" in rtp, rtp
    assert user.strip() == "1000"
