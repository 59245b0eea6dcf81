"""The Docker Hub description (pipeline/hub.py) against a stand-in of Docker Hub's API on
loopback (tests/integration/hub_api.py; the real hub.docker.com cannot be reached here):
written with the registry's login, only when it differs, never fatal, secrets never shown."""

from __future__ import annotations

import pytest
import requests

from pipeline import hub, log
from pipeline.registry_types import Registry
from tests.integration.hub_api import HubApiStandIn

USER, TOKEN = "pipeline", "dckr_pat_not-to-be-shown"
PAGE = "## Supported tags\n\n| tags | version |\n| --- | --- |\n| `22` | 22.10.1 |\n"


@pytest.fixture
def api(httpserver):
    return HubApiStandIn(httpserver, username=USER, password=TOKEN, repository="pipeline/asterisk")


@pytest.fixture
def verbose(monkeypatch):
    monkeypatch.setattr(log, "VERBOSE", True)   # -v: every request logged, still no secret


def registry(api: HubApiStandIn, **extra) -> Registry:
    return Registry(name="dockerhub", type="dockerhub", repository="pipeline/asterisk",
                    username_env="HUB_USER", password_env="HUB_TOKEN", hub_api=api.url, **extra)


ENV = {"HUB_USER": USER, "HUB_TOKEN": TOKEN}


def test_the_stand_in_refuses_a_request_without_token(api):
    url = f"{api.url}/v2/repositories/pipeline/asterisk/"
    assert requests.patch(url, json={"full_description": "x"}, timeout=5).status_code == 401
    assert requests.post(f"{api.url}/v2/auth/token", json={"identifier": USER, "secret": "wrong"},
                         timeout=5).status_code == 401
    assert api.full_description == ""


def test_the_description_is_written_once_then_left_alone(api, verbose, capsys):
    assert hub.update_description(registry(api), PAGE, environ=ENV) == hub.UPDATED
    assert api.patches == [{"full_description": PAGE}]
    assert api.full_description == PAGE
    assert hub.update_description(registry(api), PAGE, environ=ENV) == hub.CURRENT
    assert len(api.patches) == 1                      # the second run changed nothing
    assert [m for m, _, _ in api.requests] == ["POST", "GET", "PATCH", "POST", "GET"]
    output = capsys.readouterr()
    shown = output.out + output.err
    assert "description of docker.io/pipeline/asterisk: updated" in shown
    for secret in (TOKEN, *api.tokens):
        assert secret not in shown


def test_a_refused_login_is_a_warning_and_the_password_is_not_shown(api, verbose, capsys):
    assert hub.update_description(registry(api), PAGE, environ={**ENV, "HUB_TOKEN": "wrong-" + TOKEN}) \
        == hub.FAILED
    err = capsys.readouterr().err
    assert "warning: dockerhub: description of docker.io/pipeline/asterisk not updated (the images " \
           "are published): POST " in err
    assert "HTTP 401" in err and TOKEN not in err
    assert api.patches == []


def test_a_failing_patch_is_a_warning(api, capsys):
    api.fail_patch = 500
    assert hub.update_description(registry(api), PAGE, environ=ENV) == hub.FAILED
    assert "PATCH " in capsys.readouterr().err
    assert api.full_description == ""


def test_an_api_that_does_not_answer_is_a_warning(capsys):
    lost = Registry(name="dockerhub", type="dockerhub", repository="pipeline/asterisk",
                    username_env="HUB_USER", password_env="HUB_TOKEN", hub_api="http://127.0.0.1:9")
    assert hub.update_description(lost, PAGE, environ=ENV) == hub.FAILED
    assert "no answer (ConnectionError)" in capsys.readouterr().err


def test_dry_run_reads_but_writes_nothing(api, capsys):
    assert hub.update_description(registry(api), PAGE, environ=ENV, dry_run=True) == hub.WOULD_UPDATE
    assert api.patches == [] and "dockerhub: description of docker.io/pipeline/asterisk: would update" in capsys.readouterr().err
    assert hub.update_description(registry(api), PAGE, environ={}, dry_run=True) == hub.WOULD_UPDATE
    api.full_description = PAGE
    assert hub.update_description(registry(api), PAGE, environ=ENV, dry_run=True) == hub.CURRENT


def test_no_credentials_is_a_warning(api, capsys):
    assert hub.update_description(registry(api), PAGE, environ={}) == hub.FAILED
    err = capsys.readouterr().err
    assert "$HUB_USER and $HUB_TOKEN not set" in err
    assert api.requests == []
