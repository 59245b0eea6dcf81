"""The smoke test's own RTP peer (pipeline/smoke/media.py) on real loopback UDP sockets,
as an unprivileged process would use them: it waits for the SDP answer, sends its schedule
at its pace to the address in it, and echoes what comes back to where it came from."""

from __future__ import annotations

import socket
import time

from pipeline.smoke import media, rtp

LOOPBACK = "127.0.0.1"


def far_end() -> socket.socket:
    """Asterisk's side of the call: a UDP socket on a free loopback port."""
    end = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end.bind((LOOPBACK, 0))
    end.settimeout(2)
    return end


def test_the_schedule_goes_to_the_answer_once_it_is_known_at_its_pace():
    asterisk = far_end()
    answer: list[tuple[str, int]] = []
    packets = rtp.alaw_tone_rtp(5)
    with media.Peer(0, host=LOOPBACK) as peer:
        peer.play(rtp.paced(packets), lambda: answer[0] if answer else None, timeout=5)
        time.sleep(0.2)                      # no answer yet: nothing is sent
        assert peer.sent == 0
        answer.append(asterisk.getsockname())
        arrivals = []
        for _ in packets:
            data, source = asterisk.recvfrom(2048)
            arrivals.append((time.monotonic(), data))
        assert source == (LOOPBACK, peer.port)   # from the port named in the SDP offer
    assert [data for _, data in arrivals] == packets
    spread = arrivals[-1][0] - arrivals[0][0]
    assert spread >= 0.07, f"5 packets due 20 ms apart came in a burst ({spread:.3f} s)"
    assert (peer.sent, peer.problem) == (5, "")
    asterisk.close()


def test_echo_sends_each_packet_back_to_its_source():
    asterisk = far_end()
    with media.Peer(0, host=LOOPBACK, echo=True) as peer:
        for index in range(3):
            asterisk.sendto(b"opus-%d" % index, (LOOPBACK, peer.port))
            assert asterisk.recvfrom(2048) == (b"opus-%d" % index, (LOOPBACK, peer.port))
    assert (peer.received, peer.echoed) == (3, 3)
    asterisk.close()


def test_without_an_answer_it_gives_up_and_says_why():
    with media.Peer(0, host=LOOPBACK) as peer:
        peer.play(rtp.paced([b"x"]), lambda: None, timeout=0.1)
        time.sleep(0.3)
    assert (peer.sent, peer.problem) == (0, "no SDP answer to send RTP to")


def test_a_call_that_ends_early_stops_the_schedule():
    asterisk = far_end()
    with media.Peer(0, host=LOOPBACK) as peer:
        peer.play(rtp.paced([b"x"] * 50), asterisk.getsockname, timeout=5)
        time.sleep(0.1)
    assert 0 < peer.sent < 50
    assert peer.problem == f"the call ended after {peer.sent} of 50 packets"
    asterisk.close()
