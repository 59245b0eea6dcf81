"""The caller's RTP where sipp cannot send it over an ordinary socket.

sipp 3.6.1 sends RTP without privileges in one way only: its `rtp_stream` action, from
its media socket, for payload types 0, 8, 9, 18 and 98 with fixed packet sizes and an
8 kHz clock. The A-law calls use it. It cannot send Opus (dynamic payload type 111,
48 kHz clock) nor RFC 4733 telephone events; `play_pcap_audio` can, but through a raw
socket, which needs root or CAP_NET_RAW. For those two calls this peer is the caller's
media endpoint: an ordinary UDP socket on a port of the run's block, named in sipp's SDP
offer. Once sipp's message trace holds the SDP answer, it sends the prepared packets
there at their pace; it echoes what Asterisk sends when asked to (as sipp's -rtp_echo
would), to the address each packet came from.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from .. import log
from .rtp import Schedule

Address = tuple[str, int]
ANSWER_POLL_S = 0.005


class Peer:
    """One call's RTP endpoint on the host; use as a context manager."""

    def __init__(self, port: int, *, host: str, echo: bool = False) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.socket.bind((host, port))
        except OSError:
            self.socket.close()
            raise
        self.socket.settimeout(0.05)
        self.host, self.port = self.socket.getsockname()
        self.echo = echo
        self.sent = 0          # packets of the schedule sent
        self.received = 0      # packets that came from Asterisk
        self.echoed = 0        # of those, sent back
        self.remote: Address | None = None
        self.problem = ""      # why the schedule was not (fully) sent
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._receive, daemon=True,
                                          name=f"rtp-peer-{self.port}-receive")]
        self._threads[0].start()

    def play(self, schedule: Schedule, answer: Callable[[], Address | None], *,
             timeout: float) -> None:
        """Sends `schedule` to the address `answer()` returns, as soon as it returns one
        (it is polled; times in the schedule count from then). Returns at once."""
        thread = threading.Thread(target=self._play, args=(schedule, answer, timeout),
                                  daemon=True, name=f"rtp-peer-{self.port}-play")
        self._threads.append(thread)
        thread.start()

    def _play(self, schedule: Schedule, answer: Callable[[], Address | None],
              timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.remote is None:
            if self._stop.is_set() or time.monotonic() > deadline:
                self.problem = "no SDP answer to send RTP to"
                return
            self.remote = answer()
            if self.remote is None:
                time.sleep(ANSWER_POLL_S)
        log.debug(f"RTP peer {self.host}:{self.port}: sending {len(schedule)} packets to "
                  f"{self.remote[0]}:{self.remote[1]}")
        start = time.monotonic()
        for due, packet in schedule:
            delay = start + due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                self.problem = f"the call ended after {self.sent} of {len(schedule)} packets"
                return
            try:
                self.socket.sendto(packet, self.remote)
            except OSError as error:   # e.g. ICMP port unreachable from an earlier packet
                self.problem = f"sending RTP to {self.remote[0]}:{self.remote[1]}: {error}"
                continue
            self.sent += 1

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.socket.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue   # e.g. ICMP unreachable reported on this socket
            self.received += 1
            if self.echo:
                try:
                    self.socket.sendto(data, source)
                    self.echoed += 1
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
