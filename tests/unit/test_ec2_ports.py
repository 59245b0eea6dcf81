"""docs/ec2.md and deploy/ec2/user-data.sh open exactly the ports the image listens on by
default: the Dockerfile's EXPOSE line and the defaults of ASTERISK_SIP_PORT,
ASTERISK_RTP_START and ASTERISK_RTP_END in the image's README."""

import re

from tests.conftest import ROOT

DOCKERFILE = ROOT / "dockerfiles" / "asterisk" / "Dockerfile"
IMAGE_README = ROOT / "dockerfiles" / "asterisk" / "README.md"
EC2_DOC = ROOT / "docs" / "ec2.md"
USER_DATA = ROOT / "deploy" / "ec2" / "user-data.sh"


def exposed() -> set[tuple[str, str]]:
    """{(protocol, port or range)} from the Dockerfile's EXPOSE line(s)."""
    ports = set()
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("EXPOSE "):
            for item in line.split()[1:]:
                port, _, protocol = item.partition("/")
                ports.add((protocol or "tcp", port))
    return ports


def readme_defaults() -> dict[str, str]:
    """The defaults column of the image README's environment table, per variable."""
    defaults = {}
    for line in IMAGE_README.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`ASTERISK_"):
            names = re.findall(r"`(ASTERISK_\w+)`", cells[0])
            values = re.findall(r"`([^`]*)`", cells[1])
            if len(values) == 1:        # `ASTERISK_UID`, `ASTERISK_GID` | `1000`
                values *= len(names)
            if len(names) == len(values):
                defaults.update(zip(names, values, strict=True))
    return defaults


def image_ports() -> set[tuple[str, str]]:
    defaults = readme_defaults()
    sip = defaults["ASTERISK_SIP_PORT"]
    rtp = f"{defaults['ASTERISK_RTP_START']}-{defaults['ASTERISK_RTP_END']}"
    return {("udp", sip), ("tcp", sip), ("udp", rtp)}


def ports_section() -> str:
    text = EC2_DOC.read_text()
    start = text.index("## Ports")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_image_readme_and_dockerfile_agree():
    assert image_ports() == exposed() == {("udp", "5060"), ("tcp", "5060"), ("udp", "10000-10099")}


def test_the_ports_table_lists_exactly_the_image_ports():
    rows = re.findall(r"^\|\s*(udp|tcp)\s*\|\s*([\d-]+)\s*\|", ports_section(), re.MULTILINE)
    assert sorted(rows) == sorted(image_ports())


def test_the_security_group_commands_open_exactly_the_image_ports():
    rules = re.findall(r"authorize-security-group-ingress .*--protocol (\w+) --port ([\d-]+)",
                       ports_section())
    assert sorted(rules) == sorted(image_ports())


def test_the_user_data_keeps_the_image_defaults():
    settings = dict(re.findall(r"^(\w+)=\$\{\w+:-([^}]*)\}", USER_DATA.read_text(), re.MULTILINE))
    defaults = readme_defaults()
    assert settings["SIP_PORT"] == defaults["ASTERISK_SIP_PORT"]
    assert settings["RTP_START"] == defaults["ASTERISK_RTP_START"]
    assert settings["RTP_END"] == defaults["ASTERISK_RTP_END"]
    assert settings["ASTERISK_UID"] == defaults["ASTERISK_UID"] == "1000"
    assert settings["EXTERNAL_ADDRESS"] == "ec2"


def test_the_documented_docker_run_matches_the_user_data():
    doc = EC2_DOC.read_text()
    for option in ("--network host", "--restart unless-stopped", "-e ASTERISK_EXTERNAL_ADDRESS=ec2",
                   "-e ASTERISK_SIP_PORT=5060", "-e ASTERISK_RTP_START=10000",
                   "-e ASTERISK_RTP_END=10099", "-v /srv/asterisk/spool:/var/spool/asterisk",
                   "-v /srv/asterisk/log:/var/log/asterisk"):
        assert option in doc, option
    script = USER_DATA.read_text()
    for option in ("--network host", "--restart unless-stopped", "ASTERISK_EXTERNAL_ADDRESS=",
                   ':/var/spool/asterisk"', ':/var/log/asterisk"'):
        assert option in script, option
