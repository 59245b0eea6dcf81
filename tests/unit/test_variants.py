"""The variant table (core.VARIANTS) is the one place a variant is described: its Dockerfile
stage, its extra sources (and so its inputs and its SBOM part), its smoke expectation. These
tests tie the row to the files it names, and check that what one variant declares does not
leak into another (issue 19: the opus pins were in every target's inputs, plain included)."""

import dataclasses
import re

import pytest

from pipeline import image, sbom
from pipeline.core import EXTRAS, OPUS_CODEC, VARIANT_NAMES, VARIANTS
from pipeline.errors import ConfigurationError
from pipeline.inputs import inputs_digest
from pipeline.matrix import Pinned, load
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex
from pipeline.sources import Verified

DOCKERFILE = (image.DOCKERFILES / "Dockerfile").read_text()


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_each_variant_is_a_stage_of_the_dockerfile_labelled_with_its_name(name):
    variant = VARIANTS[name]
    stage = DOCKERFILE[DOCKERFILE.index(f" AS {variant.stage}\n"):]
    stage = stage[:stage.index("\nFROM ")]
    assert f'org.asterisk.variant="{name}"' in stage


@pytest.mark.parametrize("extra", EXTRAS, ids=lambda extra: extra.part)
def test_each_extra_is_read_by_the_dockerfile_from_its_own_directory(extra):
    assert re.search(rf"from=sources,source={extra.part}\b", DOCKERFILE)
    assert extra.part not in ("asterisk", "pjproject", "sounds")   # the release's own parts
    assert [e.part for e in EXTRAS].count(extra.part) == 1


@pytest.fixture
def matrix(tmp_path):
    (tmp_path / "releases.txt").write_text("22.10.1\n")
    (tmp_path / "matrix.yaml").write_text(
        "releases: {source: file, files: [releases.txt]}\n"
        "sources:\n  opus_codec: https://example.org/opus\n"
        "  opus_codec_sha256: {ex_opus.h: " + "a" * 64 + "}\n"
        "series: [{spec: 22.x}]\n")
    return load(tmp_path / "matrix.yaml", environ={})


def test_the_matrix_pins_each_extra_under_its_keys(matrix):
    assert matrix.sources.extra(OPUS_CODEC) == Pinned(url="https://example.org/opus",
                                                      sha256=(("ex_opus.h", "a" * 64),))


def test_an_extra_url_must_be_a_url(matrix, tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(path.read_text().replace("https://example.org/opus", "example.org/opus"))
    with pytest.raises(ConfigurationError, match=r"sources\.opus_codec: 'example.org/opus' is not an http"):
        load(path, environ={})


def inputs(matrix, name, sources=None):
    [target] = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), variants=[name]).targets
    return inputs_digest(target, sources or matrix.sources, "0" * 64)


def test_only_the_variants_that_compile_an_extra_in_are_rebuilt_when_its_pins_change(matrix):
    """A new Opus codec commit rebuilds the opus images, not the plain ones."""
    repinned = dataclasses.replace(matrix.sources, pinned=(
        (OPUS_CODEC.key, Pinned(url="https://example.org/opus", sha256=(("ex_opus.h", "b" * 64),))),))
    assert inputs(matrix, "plain") == inputs(matrix, "plain", repinned)
    assert inputs(matrix, "opus") != inputs(matrix, "opus", repinned)


def test_the_sbom_lists_an_extra_only_in_the_variants_that_compile_it_in(matrix):
    verified = [Verified(part=part, name=part, version="1", path=f"{part}/x", url="https://example.org/x",
                         algorithm="sha256", digest="c" * 64, checked_against="test")
                for part in ("asterisk", "pjproject", "sounds", OPUS_CODEC.part)]
    for name in VARIANT_NAMES:
        [target] = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), variants=[name]).targets
        parts = {item.part for item in sbom.sources_in(target, verified)}
        assert parts == {"asterisk", "pjproject", "sounds", *(e.part for e in VARIANTS[name].extras)}
