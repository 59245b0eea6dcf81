"""Local ports for one smoke run, chosen so that two runs on one host do not collide.

Each Asterisk container of a run gets one block of consecutive free ports, at a random
even offset in a high range; the block holds Asterisk's SIP port, the RTP range published
with -p, the SIP and media ports of the sipp that calls it, and the port of the smoke
test's own RTP peer (pipeline/smoke/media.py). Picking is pure (the
probe is injected); `port_is_free` is the real probe.
"""

from __future__ import annotations

import dataclasses
import random
import socket
from collections.abc import Callable

from ..errors import SmokeError

LOW, HIGH = 20000, 60000
BLOCK = 16        # ports per Asterisk container
RTP_OFFSET = 8    # Asterisk's RTP range: the last BLOCK - RTP_OFFSET ports of the block
# 8 RTP ports = 4 calls at once (RTP + RTCP each); the checks place one at a time. Docker
# starts one proxy per published port (~70 ms each), so the range stays narrow.


@dataclasses.dataclass(frozen=True, kw_only=True)
class Ports:
    sip: int            # Asterisk's SIP port (udp and tcp): ASTERISK_SIP_PORT
    rtp_start: int      # ASTERISK_RTP_START
    rtp_end: int        # ASTERISK_RTP_END
    sipp: int           # sipp's local SIP port (-p)
    sipp_media: int     # sipp's media port (-mp); sipp also uses the next three
    media: int = 0      # the smoke test's own RTP peer (Opus, DTMF calls); 0: any free port

    @classmethod
    def from_block(cls, base: int) -> Ports:
        if base % 2:
            raise ValueError(f"a port block starts on an even port, not {base}")
        return cls(sip=base, sipp=base + 1, media=base + 2, sipp_media=base + 4,
                   rtp_start=base + RTP_OFFSET, rtp_end=base + BLOCK - 1)

    @property
    def all(self) -> range:
        return range(self.sip, self.rtp_end + 1)


def pick_block(is_free: Callable[[int], bool], *, rng: random.Random, size: int = BLOCK,
               low: int = LOW, high: int = HIGH, avoid: frozenset[int] = frozenset(),
               attempts: int = 200) -> int:
    """The first port of `size` consecutive free ports, at a random even offset.

    Two runs on one host pick independently: the random offset makes it unlikely that they
    meet, and the probe skips ports in use (sipp's, Asterisk's, anyone's).
    """
    for _ in range(attempts):
        base = rng.randrange(low, high - size) & ~1
        ports = range(base, base + size)
        if not avoid.intersection(ports) and all(is_free(port) for port in ports):
            return base
    raise SmokeError(f"no {size} consecutive free ports found between {low} and {high} "
                     f"after {attempts} attempts")


def allocate(count: int, *, is_free: Callable[[int], bool] | None = None,
             rng: random.Random | None = None) -> list[Ports]:
    """One port block per Asterisk container, none overlapping."""
    is_free = is_free or port_is_free
    rng = rng or random.Random()
    taken: set[int] = set()
    blocks = []
    for _ in range(count):
        ports = Ports.from_block(pick_block(is_free, rng=rng, avoid=frozenset(taken)))
        taken.update(ports.all)
        blocks.append(ports)
    return blocks


def port_is_free(port: int) -> bool:
    """Nothing listens on this port, UDP or TCP, on any local address."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True
