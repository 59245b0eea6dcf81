"""The JUnit XML report of a smoke run, in the form GitHub Actions' test reporters read."""

from __future__ import annotations

import datetime
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol


class Result(Protocol):
    name: str
    passed: bool
    seconds: float
    detail: str


def junit_xml(suite: str, results: Sequence[Result], *, classname: str,
              properties: Mapping[str, str] = {}, timestamp: str | None = None,
              hostname: str | None = None) -> str:
    failures = sum(1 for r in results if not r.passed)
    total = f"{sum(r.seconds for r in results):.3f}"
    root = ET.Element("testsuites", name="pipeline smoke", tests=str(len(results)),
                      failures=str(failures), errors="0", time=total)
    testsuite = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)),
                              failures=str(failures), errors="0", skipped="0", time=total,
                              timestamp=timestamp or datetime.datetime.now(
                                  datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                              hostname=hostname or socket.gethostname())
    if properties:
        props = ET.SubElement(testsuite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=key, value=str(value))
    for result in results:
        case = ET.SubElement(testsuite, "testcase", classname=classname, name=result.name,
                             time=f"{result.seconds:.3f}")
        if not result.passed:
            failure = ET.SubElement(case, "failure",
                                    message=(result.detail.splitlines() or ["failed"])[0],
                                    type="SmokeCheckFailed")
            failure.text = result.detail
        elif result.detail:
            ET.SubElement(case, "system-out").text = result.detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(path: Path, suite: str, results: Sequence[Result], **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(suite, results, **kwargs))
    return path
