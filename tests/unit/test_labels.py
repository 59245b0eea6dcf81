"""The labels of an image and the one time they carry: the `created` label is what BuildKit
stamps the image config with (SOURCE_DATE_EPOCH), derived in one place (labels.py)."""

import datetime

import pytest

from pipeline.core import VARIANTS, Release, Target
from pipeline.labels import CREATED_LABEL, created_text, image_labels, parse_created, source_date_epoch
from pipeline.provenance import Provenance
from pipeline.versions import Version

WHEN = datetime.datetime(2026, 12, 7, 10, 17, tzinfo=datetime.UTC)


def target() -> Target:
    release = Release(version=Version.parse("22.10.1"), tarball_url="https://example.org/a.tar.gz",
                      checksum_urls=())
    return Target(series="22.x", release=release, variant=VARIANTS["opus"], platforms=("linux/amd64",),
                  base_image="debian:trixie-slim", tags=("22.10.1-opus",))


def test_the_build_is_stamped_with_the_created_label():
    labels = image_labels(target(), "f" * 64, Provenance(created=WHEN))
    assert labels[CREATED_LABEL] == "2026-12-07T10:17:00Z"
    assert source_date_epoch(labels) == str(int(WHEN.timestamp())) == "1796638620"
    assert source_date_epoch({}) == ""


@pytest.mark.parametrize("text", ["2026-12-07T10:17:00", "2026-12-07T10:17:00+01:00", "2026-02-30T10:17:00Z"])
def test_only_the_created_form_is_read_back(text):
    with pytest.raises(ValueError):
        parse_created(text)


def test_created_text_is_utc_to_the_second():
    local = WHEN.astimezone(datetime.timezone(datetime.timedelta(hours=2))).replace(microsecond=123)
    assert created_text(local) == "2026-12-07T10:17:00Z"
    assert parse_created(created_text(local)) == WHEN
