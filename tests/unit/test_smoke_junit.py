"""The JUnit report: what GitHub Actions' test reporters read."""

import xml.etree.ElementTree as ET

from pipeline.smoke import CheckResult, check_names
from pipeline.smoke.junit import junit_xml, write

RESULTS = [
    CheckResult("boot-host", True, 0.8, "fully booted 0.8s after start"),
    CheckResult("audio-host", True, 2.1, "200 OK with PCMA; RTP: sipp sent 50"),
    CheckResult("opus-host", False, 1.2,
                "Asterisk cannot encode Opus: No translation path <slin> & \"opus\"\nsecond line"),
]


def parse(text):
    return ET.fromstring(text.split("\n", 1)[1])


def test_counts_and_times():
    root = parse(junit_xml("smoke img:1", RESULTS, classname="smoke.opus",
                           timestamp="2026-01-01T00:00:00", hostname="ci"))
    suite = root.find("testsuite")
    assert root.get("tests") == suite.get("tests") == "3"
    assert root.get("failures") == suite.get("failures") == "1"
    assert suite.get("name") == "smoke img:1"
    assert suite.get("time") == "4.100"
    assert [case.get("name") for case in suite.iter("testcase")] == [
        "boot-host", "audio-host", "opus-host"]
    assert {case.get("classname") for case in suite.iter("testcase")} == {"smoke.opus"}
    assert suite.find("testcase[@name='audio-host']").get("time") == "2.100"


def test_failure_keeps_the_whole_reason_escaped():
    text = junit_xml("s", RESULTS, classname="c")
    failure = parse(text).find(".//testcase[@name='opus-host']/failure")
    assert failure.get("message") == "Asterisk cannot encode Opus: No translation path <slin> & \"opus\""
    assert failure.text.endswith("second line")
    assert parse(text).find(".//testcase[@name='audio-host']/failure") is None
    assert "sipp sent 50" in parse(text).find(".//testcase[@name='audio-host']/system-out").text


def test_properties_and_empty_run():
    root = parse(junit_xml("s", [], classname="c", properties={"image": "x:1", "variant": "plain"}))
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props == {"image": "x:1", "variant": "plain"}
    assert root.get("tests") == "0"


def test_write_creates_the_directory(tmp_path):
    path = write(tmp_path / "a" / "junit.xml", "s", RESULTS, classname="c")
    assert path.read_text().startswith('<?xml version="1.0" encoding="utf-8"?>')


def test_every_planned_check_has_a_name_usable_as_a_directory():
    names = check_names("both")
    assert len(names) == len(set(names))
    assert all(name.replace("-", "").isalnum() for name in names)
    assert {"boot-host", "audio-host", "audio-published", "lua-host", "opus-host", "dtmf-host",
            "realtime-host", "closed-host", "closed-default-config"} <= set(names)
