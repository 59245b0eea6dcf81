"""Port selection for smoke runs: blocks of free ports that never overlap (pure)."""

import random

import pytest

from pipeline.errors import SmokeError
from pipeline.smoke.ports import BLOCK, Ports, allocate, pick_block


def test_block_layout():
    ports = Ports.from_block(30000)
    assert (ports.sip, ports.sipp, ports.media, ports.sipp_media) == (30000, 30001, 30002, 30004)
    assert (ports.rtp_start, ports.rtp_end) == (30008, 30015)
    assert list(ports.all) == list(range(30000, 30000 + BLOCK))
    # sipp's media port, its RTCP port and the echo pair (-mp, +2) stay below the RTP range
    assert ports.sipp_media + 3 < ports.rtp_start


def test_block_must_start_even():
    with pytest.raises(ValueError):
        Ports.from_block(30001)


@pytest.mark.parametrize("seed", range(20))
def test_pick_block_is_even_in_range_and_free(seed):
    busy = set(random.Random(seed + 10_000).sample(range(20000, 60000), 400))
    base = pick_block(lambda p: p not in busy, rng=random.Random(seed))
    assert base % 2 == 0
    assert base >= 20000 and base + BLOCK <= 60000
    assert not busy.intersection(range(base, base + BLOCK))


def test_pick_block_gives_up_with_a_clear_error():
    with pytest.raises(SmokeError, match="no 32 consecutive free ports"):
        pick_block(lambda p: False, rng=random.Random(1), size=32, attempts=5)


def test_pick_block_avoids_ports_already_taken():
    rng = random.Random(3)
    first = pick_block(lambda p: True, rng=rng, low=20000, high=20100)
    second = pick_block(lambda p: True, rng=rng, low=20000, high=20100,
                        avoid=frozenset(range(first, first + BLOCK)))
    assert not set(range(first, first + BLOCK)) & set(range(second, second + BLOCK))


def test_allocate_gives_disjoint_blocks():
    blocks = allocate(3, is_free=lambda p: True, rng=random.Random(7))
    used = [set(b.all) for b in blocks]
    assert all(not (a & b) for i, a in enumerate(used) for b in used[i + 1:])


def test_two_runs_with_different_seeds_rarely_meet():
    # Two concurrent runs pick independently; their blocks should not overlap.
    meets = 0
    for seed in range(200):
        a = allocate(3, is_free=lambda p: True, rng=random.Random(seed))
        b = allocate(3, is_free=lambda p: True, rng=random.Random(seed + 1000))
        a_ports = set().union(*(set(x.all) for x in a))
        meets += bool(a_ports & set().union(*(set(x.all) for x in b)))
    assert meets <= 6   # ~0.4% expected: 6 blocks of 16 in 40000 ports
