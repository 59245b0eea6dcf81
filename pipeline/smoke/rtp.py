"""The RTP the smoke calls send, made here so its length fits and its packet count is
known exactly (pure: no sockets).

- A G.711 A-law tone as raw samples, for sipp's `rtp_stream` action (160 bytes a packet).
- The same tone, Opus silence, and the packets of a capture file (sipp's RFC 2833 DTMF
  captures) as RTP packets with the time each is due, for the smoke test's own RTP peer
  (media.py), which sends them over an ordinary UDP socket.
- pcap files of the tone, for `play_pcap_audio` (which needs a raw socket: other tests and
  the benchmarks use it as root; the smoke test does not).
"""

from __future__ import annotations

import math
import struct

PCMA = 8
OPUS = 111                       # the dynamic payload type the smoke offers use
OPUS_SILENCE = b"\xf8\xff\xfe"   # one 20 ms Opus frame (CELT, full band) of silence
SAMPLE_RATE = 8000
PTIME_MS = 20
SAMPLES_PER_PACKET = SAMPLE_RATE * PTIME_MS // 1000


def alaw(sample: int) -> int:
    """G.711 A-law encoding of one signed 16-bit sample."""
    sign = 0x80 if sample >= 0 else 0x00
    magnitude = min((sample if sample >= 0 else -sample - 1) >> 3, 0xFFF)
    if magnitude < 32:
        code = magnitude >> 1
    else:
        segment = magnitude.bit_length() - 5
        code = (segment << 4) | ((magnitude >> segment) & 0x0F)
    return (code | sign) ^ 0x55


def tone(frequency: float, samples: int, amplitude: int = 8000) -> list[int]:
    return [round(amplitude * math.sin(2 * math.pi * frequency * n / SAMPLE_RATE))
            for n in range(samples)]


def rtp_packet(payload: bytes, *, payload_type: int, sequence: int, timestamp: int,
               ssrc: int, marker: bool = False) -> bytes:
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type,
                         sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    return header + payload


def _udp_frame(payload: bytes, *, src_port: int = 40000, dst_port: int = 40002) -> bytes:
    """Ethernet + IPv4 + UDP around one payload (checksums left zero: sipp recomputes)."""
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    ethernet = b"\x00" * 12 + b"\x08\x00"
    return ethernet + ip + udp


def pcap(packets: list[bytes], *, interval_us: int) -> bytes:
    """A classic pcap file (Ethernet link type) with one UDP packet per interval."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for index, payload in enumerate(packets):
        frame = _udp_frame(payload)
        seconds, micros = divmod(index * interval_us, 1_000_000)
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def alaw_tone(packets: int, *, frequency: float = 1000.0) -> bytes:
    """Raw A-law samples, 20 ms a packet: what sipp's `rtp_stream="FILE,1,8"` sends, one
    RTP packet of 160 bytes per 20 ms, exactly `packets` of them."""
    return bytes(alaw(s) for s in tone(frequency, packets * SAMPLES_PER_PACKET))


def alaw_tone_rtp(packets: int, *, frequency: float = 1000.0,
                  ssrc: int = 0x5350A7E5) -> list[bytes]:
    """`packets` RTP packets of 20 ms of A-law tone (payload type 8)."""
    encoded = alaw_tone(packets, frequency=frequency)
    return [rtp_packet(encoded[i * SAMPLES_PER_PACKET:(i + 1) * SAMPLES_PER_PACKET],
                       payload_type=PCMA, sequence=i + 1, timestamp=i * SAMPLES_PER_PACKET,
                       ssrc=ssrc, marker=i == 0)
            for i in range(packets)]


def alaw_tone_pcap(packets: int, *, frequency: float = 1000.0, ssrc: int = 0x5350A7E5) -> bytes:
    """`packets` RTP packets of 20 ms of A-law tone (payload type 8), as a pcap file."""
    return pcap(alaw_tone_rtp(packets, frequency=frequency, ssrc=ssrc),
                interval_us=PTIME_MS * 1000)


def opus_silence_rtp(packets: int, *, ssrc: int = 0x5350A7E6) -> list[bytes]:
    """`packets` RTP packets of 20 ms Opus silence (payload type 111, 48 kHz clock).

    Sent by the caller before it echoes Asterisk's Opus: with published ports, Asterisk
    learns where to send media from the packets it receives (rtp_symmetric), as it would
    from a real phone behind NAT.
    """
    return [rtp_packet(OPUS_SILENCE, payload_type=OPUS, sequence=i + 1, timestamp=i * 960,
                       ssrc=ssrc, marker=i == 0) for i in range(packets)]


Schedule = list[tuple[float, bytes]]   # (seconds after the start, one RTP packet)


def paced(packets: list[bytes], *, start: float = 0.0,
          interval: float = PTIME_MS / 1000) -> Schedule:
    """One packet every `interval` seconds, the first at `start`."""
    return [(start + index * interval, packet) for index, packet in enumerate(packets)]


def capture_schedule(pcap_bytes: bytes, *, start: float = 0.0) -> Schedule:
    """The UDP payloads (RTP packets) of a pcap file of Ethernet/IPv4/UDP frames, each due
    when it was captured, the first at `start`: what `play_pcap_audio` would send."""
    magic = struct.unpack("<I", pcap_bytes[:4])[0]
    if magic not in (0xA1B2C3D4, 0xD4C3B2A1):
        raise ValueError("not a classic pcap file (microsecond timestamps)")
    endian = "<" if magic == 0xA1B2C3D4 else ">"
    linktype = struct.unpack(endian + "I", pcap_bytes[20:24])[0]
    if linktype != 1:
        raise ValueError(f"pcap link type {linktype}: only Ethernet (1) is read")
    schedule: Schedule = []
    first = None
    offset = 24
    while offset + 16 <= len(pcap_bytes):
        seconds, micros, captured, _ = struct.unpack(endian + "IIII",
                                                     pcap_bytes[offset:offset + 16])
        frame = pcap_bytes[offset + 16:offset + 16 + captured]
        offset += 16 + captured
        if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00" or frame[14 + 9] != 17:
            continue   # not IPv4/UDP
        ip_header = (frame[14] & 0x0F) * 4
        udp = frame[14 + ip_header:]
        length = struct.unpack("!H", udp[4:6])[0]
        when = seconds + micros / 1_000_000
        first = when if first is None else first
        schedule.append((start + when - first, udp[8:length]))
    return schedule


def count_rtp(pcap_bytes: bytes) -> int:
    """The number of packets in a pcap file (what sipp sends when it replays it)."""
    magic = struct.unpack("<I", pcap_bytes[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    offset, count = 24, 0
    while offset + 16 <= len(pcap_bytes):
        captured = struct.unpack(endian + "I", pcap_bytes[offset + 8:offset + 12])[0]
        offset += 16 + captured
        count += 1
    return count
