"""The registry types (registry_types.TYPES) are one table: each row's keys, image name,
login, description API and quirks. These tests tie the rows to the matrix schema and the
docs, and run the logins that need no network (the AWS one is tested against moto in
tests/integration/test_publish.py)."""

import base64
import dataclasses
import json
import re

import pytest

from pipeline.errors import PublishError
from pipeline.registry_types import HUB_API, TYPES, Registry
from tests.conftest import ROOT


def test_each_type_takes_keys_the_entry_has():
    fields = {field.name for field in dataclasses.fields(Registry)}
    for kind in TYPES.values():
        assert set(kind.keys) <= fields, kind.name


def test_the_docs_table_is_the_table():
    """docs/publish.md's table of registry types: exactly the rows of TYPES, with their keys."""
    text = (ROOT / "docs" / "publish.md").read_text()
    table = text[text.index("### Registry types"):]
    table = table[:table.index("\n#", 1)]
    rows = [line.split("|") for line in table.splitlines() if re.match(r"\| `\w+` \|", line)]
    documented = {re.findall(r"`(\w+)`", row[1])[0]: set(re.findall(r"`(\w+)`", row[2])) for row in rows}
    assert documented == {name: set(kind.keys) for name, kind in TYPES.items()}


@pytest.mark.parametrize("entry, image", [
    ({"type": "dockerhub", "repository": "org/asterisk"}, "docker.io/org/asterisk"),
    ({"type": "dockerhub", "repository": "docker.io/org/asterisk"}, "docker.io/org/asterisk"),
    ({"type": "ecr", "repository": "asterisk", "account": "123456789012", "region": "eu-west-1"},
     "123456789012.dkr.ecr.eu-west-1.amazonaws.com/asterisk"),
    ({"type": "oci", "repository": "ghcr.io/owner/asterisk"}, "ghcr.io/owner/asterisk"),
    ({"type": "ecr", "repository": "asterisk", "host": "127.0.0.1:5000"}, "127.0.0.1:5000/asterisk"),
])
def test_the_image_name_of_each_type(entry, image):
    assert Registry(name="r", **entry).image == image


def test_only_docker_hub_has_a_description_api_and_its_quirks():
    assert {name for name, kind in TYPES.items() if kind.hub_api} == {"dockerhub"}
    assert {name for name, kind in TYPES.items() if kind.docker_hub} == {"dockerhub"}
    assert TYPES["dockerhub"].hub_api == HUB_API


@pytest.mark.parametrize("kind", ["dockerhub", "oci"])
def test_a_password_login_reads_the_variables_the_entry_names(kind):
    registry = Registry(name="r", type=kind, repository="r.example/org/asterisk", username_env="U",
                        password_env="P")
    login = registry.kind.login(registry, {"U": "me", "P": "s3cret"}, False)
    assert (login.username, login.password, login.immutable, login.registry) == ("me", "s3cret", False, registry)
    with pytest.raises(PublishError, match=r"^r: \$P not set; export the registry's username"):
        registry.kind.login(registry, {"U": "me"}, False)
    dry = registry.kind.login(registry, {"U": "me"}, True)     # a dry run reads anonymously
    assert (dry.username, dry.password) == ("", "")


def test_a_password_login_falls_back_to_the_docker_config(tmp_path):
    auth = base64.b64encode(b"me:s3cret").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": auth}}}))
    registry = Registry(name="hub", type="dockerhub", repository="org/asterisk")
    login = registry.kind.login(registry, {"DOCKER_CONFIG": str(tmp_path)}, False)
    assert (login.username, login.password) == ("me", "s3cret")
