"""The smoke test's data: sipp scenarios render to valid XML, the RTP capture it makes has
the packets it claims, the test configuration carries what the checks call, and the
command line is one line to wire (pure: no process, no network)."""

import struct
import xml.etree.ElementTree as ET

import pytest

from pipeline import cli, smoke
from pipeline.errors import ConfigurationError, SmokeError
from pipeline.smoke import rtp, sipp
from pipeline.smoke.instance import CONFIG, PASSWORD_TOKEN
from pipeline.smoke.ports import Ports

RENDERED = {
    "call": dict(offer=sipp.PCMA_OFFER, media=sipp.stream("audio.alaw") + "\n" + sipp.pause(100)),
    "call-remote-bye": dict(offer=sipp.OPUS_OFFER, media="", bye_timeout=4000),
    "register": {},
    "rejected-invite": {},
    "rejected-register": {},
}


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_scenarios_render_to_xml(name):
    root = ET.fromstring(sipp.render(name, **RENDERED[name]).encode("iso-8859-1"))
    assert root.tag == "scenario"
    steps = [child.tag for child in root]
    assert steps[0] == "send"
    labels = {child.get("id") for child in root if child.tag == "label"}
    jumps = {child.get("next") for child in root if child.get("next")}
    assert jumps <= labels, f"jumps to missing labels: {jumps - labels}"


def test_every_scenario_file_is_rendered_by_a_test():
    assert {p.stem for p in sipp.SCENARIOS.glob("*.xml")} == set(RENDERED)


def test_missing_placeholder_is_an_error():
    with pytest.raises(KeyError):
        sipp.render("call", offer=sipp.PCMA_OFFER)


def test_authenticated_scenarios_answer_the_challenge():
    for name in ("call", "call-remote-bye", "register"):
        text = sipp.render(name, **RENDERED[name])
        assert 'auth="true"' in text and "[authentication]" in text


def test_sipp_command_bounds_every_wait(monkeypatch):
    monkeypatch.setattr(sipp.shutil, "which", lambda name: "/usr/bin/sipp")
    ports = Ports.from_block(40000)
    args = sipp.command("scenario.xml", target="127.0.0.1:40000", ports=ports, service="echo",
                        user="smoke", password="pw", rtp_echo=True)
    joined = " ".join(args)
    for option in ("-m 1", "-timeout 10s", "-timeout_error", "-recv_timeout 5000",
                   "-trace_msg", "-trace_err", "-trace_stat", "-p 40001", "-mp 40004",
                   "-au smoke", "-rtp_echo", "-i 127.0.0.1", "-mi 127.0.0.1"):
        assert option in joined


def test_sipp_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(sipp.shutil, "which", lambda name: None)
    with pytest.raises(SmokeError, match="sip-tester"):
        sipp.binary()


def test_tone_capture():
    capture = rtp.alaw_tone_pcap(50)
    assert rtp.count_rtp(capture) == 50
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", capture[:24])
    assert (magic, linktype) == (0xA1B2C3D4, 1)
    # second packet: timestamp 20 ms, RTP payload type 8, sequence 2, 160 samples
    offset = 24 + 16 + struct.unpack("<I", capture[24 + 8:24 + 12])[0]
    seconds, micros, length, _ = struct.unpack("<IIII", capture[offset:offset + 16])
    assert (seconds, micros) == (0, 20000)
    packet = capture[offset + 16:offset + 16 + length]
    header = packet[14 + 20 + 8:14 + 20 + 8 + 12]
    assert header[1] & 0x7F == rtp.PCMA and struct.unpack("!H", header[2:4])[0] == 2
    assert length == 14 + 20 + 8 + 12 + 160


@pytest.mark.parametrize("sample, code", [(0, 0xD5), (-1, 0x55), (32767, 0xAA), (-32768, 0x2A),
                                          (1000, 0xFA), (-1000, 0x7A)])
def test_alaw_reference_values(sample, code):
    assert rtp.alaw(sample) == code


def test_test_config_has_every_extension_the_checks_call():
    conf = (CONFIG / "extensions.conf").read_text()
    for extension in ("echo", "milliwatt", "dtmf"):
        assert f"exten => {extension}," in conf
    assert "include => smoke-lua" in conf
    lua = (CONFIG / "extensions.lua").read_text()
    assert '["smoke-lua"]' in lua and '["lua"]' in lua
    assert "exten => lua," not in conf   # the Lua check's extension exists only in Lua
    endpoint = (CONFIG / "pjsip.d" / "smoke.conf").read_text()
    assert PASSWORD_TOKEN in endpoint and "context = smoke" in endpoint


def test_plan_per_network():
    assert [s.label for s in smoke.plan("both")] == ["host", "published", "default-config"]
    assert [(s.label, s.network) for s in smoke.plan("published")] == [
        ("published", "published"), ("default-config", "published")]
    assert [(s.label, s.network) for s in smoke.plan("host")] == [
        ("host", "host"), ("default-config", "host")]
    assert [s.realtime for s in smoke.plan("both")] == [True, False, False]
    assert [s.test_config for s in smoke.plan("both")] == [True, True, False]
    with pytest.raises(ConfigurationError):
        smoke.plan("bridge")


def test_smoke_dry_run_touches_nothing(capsys):
    assert cli.main(["smoke", "asterisk:22.10.1-opus", "--network", "published",
                     "--variant", "opus", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "would start asterisk:22.10.1-opus as 'published'" in err
    assert "realtime PostgreSQL" in err and "default configuration" in err
    assert "would run asterisk:22.10.1-opus by itself for: utc, no-hard-coded-passwords, override-cmd" in err
    args = cli.parser().parse_args(["smoke", "img", "--postgres", "postgresql://u:p@db:5432/x", "-v",
                                    "--platform", "linux/arm64"])
    assert (args.network, args.postgres, args.verbose, args.logs, args.platform) == (
        "both", "postgresql://u:p@db:5432/x", True, None, "linux/arm64")


def test_opus_priming_packets():
    packets = rtp.opus_silence_rtp(10)
    assert len(packets) == 10
    header = packets[0][:12]
    assert header[1] == 0x80 | rtp.OPUS   # marker on the first packet
    assert packets[0][12:] == rtp.OPUS_SILENCE
    assert struct.unpack("!HI", packets[1][2:8]) == (2, 960)   # 20 ms at 48 kHz


def test_raw_tone_for_rtp_stream_is_160_bytes_a_packet():
    raw = rtp.alaw_tone(75)
    assert len(raw) == 75 * 160   # rtp_stream="FILE,1,8" sends exactly 75 packets
    assert raw[:160] == rtp.alaw_tone_rtp(1)[0][12:]


def test_stream_step_sends_the_file_once_as_alaw():
    step = sipp.stream("audio.alaw")
    assert 'rtp_stream="audio.alaw,1,8"' in step
    assert "play_pcap" not in step
    ET.fromstring(step.strip())


def test_offer_at_names_the_peer_port():
    offer = sipp.offer_at(sipp.OPUS_OFFER, 40002)
    assert offer.splitlines()[0] == "m=audio 40002 RTP/AVP 111"
    assert "[media_port]" not in offer


def test_paced_schedule():
    schedule = rtp.paced([b"a", b"b", b"c"], start=0.5)
    assert schedule == [(0.5, b"a"), (0.52, b"b"), (0.54, b"c")]


def test_capture_schedule_gives_the_rtp_packets_at_their_capture_times():
    packets = rtp.alaw_tone_rtp(5)
    schedule = rtp.capture_schedule(rtp.pcap(packets, interval_us=20_000), start=1.0)
    assert [packet for _, packet in schedule] == packets
    assert [round(due, 6) for due, _ in schedule] == [1.0, 1.02, 1.04, 1.06, 1.08]


def test_capture_schedule_refuses_other_link_types():
    capture = bytearray(rtp.pcap(rtp.alaw_tone_rtp(1), interval_us=20_000))
    capture[20:24] = struct.pack("<I", 113)   # Linux cooked capture
    with pytest.raises(ValueError, match="link type 113"):
        rtp.capture_schedule(bytes(capture))
