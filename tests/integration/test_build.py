"""The main job: `pipeline build lts` from a fresh cache of sources, through the real CLI.

The session fixture `lts_build` (conftest.py) runs it once; the other integration tests use
its images."""

import xml.etree.ElementTree as ET


def test_build_lts_builds_and_smoke_tests_both_variants(lts_build, images):
    assert lts_build["code"] == 0, f"pipeline build lts failed; logs in {lts_build['out']}/logs"
    for target in ("22.10.1", "22.10.1-opus"):
        junit = lts_build["out"] / "logs" / target / "smoke" / "linux-amd64" / "junit.xml"
        suite = ET.parse(junit).getroot()
        cases = suite.iter("testcase")
        names = [case.get("name") for case in cases]
        assert {"audio-host", "audio-published", "lua-host", "opus-host", "dtmf-host",
                "realtime-host", "closed-host", "closed-default-config"} <= set(names), names
        assert suite.get("failures") == "0" and suite.get("errors", "0") == "0", junit.read_text()
