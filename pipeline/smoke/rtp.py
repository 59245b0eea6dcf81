"""RTP captures that sipp replays (`play_pcap_audio`): a G.711 A-law tone, made here so
its length fits the smoke test and its packet count is known exactly.

sipp rewrites the addresses and ports of the packets it replays; what matters is the
RTP inside and the capture timestamps, which set the pace (one packet per 20 ms).
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


def alaw_tone_pcap(packets: int, *, frequency: float = 1000.0, ssrc: int = 0x5350A7E5) -> bytes:
    """`packets` RTP packets of 20 ms of A-law tone (payload type 8)."""
    samples = tone(frequency, packets * SAMPLES_PER_PACKET)
    encoded = bytes(alaw(s) for s in samples)
    rtp = [rtp_packet(encoded[i * SAMPLES_PER_PACKET:(i + 1) * SAMPLES_PER_PACKET],
                      payload_type=PCMA, sequence=i + 1, timestamp=i * SAMPLES_PER_PACKET,
                      ssrc=ssrc, marker=i == 0)
           for i in range(packets)]
    return pcap(rtp, interval_us=PTIME_MS * 1000)


def opus_silence_pcap(packets: int, *, ssrc: int = 0x5350A7E6) -> bytes:
    """`packets` RTP packets of 20 ms Opus silence (payload type 111, 48 kHz clock).

    Sent by the caller before it echoes Asterisk's Opus: with published ports, Asterisk
    learns where to send media from the packets it receives (rtp_symmetric), as it would
    from a real phone behind NAT.
    """
    rtp = [rtp_packet(OPUS_SILENCE, payload_type=OPUS, sequence=i + 1, timestamp=i * 960,
                      ssrc=ssrc, marker=i == 0) for i in range(packets)]
    return pcap(rtp, interval_us=PTIME_MS * 1000)


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
