"""Reading what sipp and Asterisk print: pure functions, tested on real output.

- `pjsip show channelstats`: RTP packet counts per channel, as Asterisk counts them.
- `core show channel`: formats and transcoding of one channel.
- sipp's -trace_stat CSV, -trace_err log and -trace_msg log (the SDP answer).
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChannelStats:
    channel: str        # the name without "PJSIP/", cut to 18 characters by Asterisk
    codec: str
    rx: int             # RTP packets Asterisk received
    rx_lost: int
    tx: int             # RTP packets Asterisk sent
    tx_lost: int


def _count(text: str) -> int:
    # Asterisk prints counts above 100000 in thousands, with a K suffix.
    return int(text[:-1]) * 1000 if text.endswith("K") else int(text)


def channelstats(output: str) -> list[ChannelStats]:
    """Rows of `pjsip show channelstats`.

    Each row is printed as " %8.8s %-18.18s %-8.8s %-6.6s" (bridge, channel, up time,
    codec; channels/pjsip/cli_commands.c) then the numbers, so the first columns are cut at
    fixed positions: the bridge id is blank for a channel outside a bridge (Echo) and the
    codec is blank before media flows.
    """
    rows = []
    for line in output.splitlines():
        if len(line) < 45 or not re.fullmatch(r"\d\d:\d\d:\d\d", line[29:37]):
            continue
        numbers = line[44:].split()
        if len(numbers) != 9:
            continue
        try:
            rows.append(ChannelStats(channel=line[10:28].strip(), codec=line[38:44].strip(),
                                     rx=_count(numbers[0]), rx_lost=_count(numbers[1]),
                                     tx=_count(numbers[4]), tx_lost=_count(numbers[5])))
        except ValueError:
            continue
    return rows


def channel_fields(output: str) -> dict[str, str]:
    """`core show channel NAME` as a mapping of its "Key: value" lines."""
    fields: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            fields.setdefault(key.strip(), value.strip())
    return fields


def sipp_stats(csv_text: str) -> dict[str, str]:
    """The last row of sipp's -trace_stat file, keyed by its header (';'-separated)."""
    lines = [line for line in csv_text.splitlines() if line.strip()]
    if len(lines) < 2:
        return {}
    header = lines[0].rstrip(";").split(";")
    values = lines[-1].rstrip(";").split(";")
    return dict(zip(header, values, strict=False))   # a last row may be cut short


def sipp_summary(stats: dict[str, str]) -> str:
    """One line from the cumulative counters: calls, and why they failed."""
    if not stats:
        return "no sipp statistics"
    parts = [f"{stats.get('SuccessfulCall(C)', '?')} successful, "
             f"{stats.get('FailedCall(C)', '?')} failed"]
    reasons = {key[len("Failed"):-3]: value for key, value in stats.items()
               if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)"
               and value not in ("", "0")}
    parts += [f"{reason} {value}" for reason, value in reasons.items()]
    if stats.get("Retransmissions(C)", "0") != "0":
        parts.append(f"{stats['Retransmissions(C)']} retransmissions")
    return ", ".join(parts)


def sipp_error(errors_text: str) -> str:
    """The first problem sipp logged with -trace_err, in one line.

    sipp writes e.g. "Aborting call on unexpected message for Call-Id '1-99@127.0.0.1':
    while expecting '200' (index 4), received 'SIP/2.0 404 Not Found ...". Keep the first
    line of what came, and what the scenario expected at that step.
    """
    for line in errors_text.splitlines():
        line = line.strip()
        if not line or line.startswith("The following events occurred"):
            continue
        line = re.sub(r"^\d{4}-\d\d-\d\d\s+[\d:.]+\s+[\d.]+:\s*", "", line)
        match = re.search(r"while expecting '([^']*)'.*?, received '([^\r\n']*)", line)
        if match:
            received = re.split(r"\s(?:Via|From|To|Call-ID|CSeq|Contact):", match.group(2))[0]
            return f"received {received.strip()} where the scenario expected {match.group(1)}"
        return line[:200]
    return ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sdp:
    address: str
    port: int
    payloads: tuple[int, ...]
    rtpmap: dict[int, str]

    @property
    def codecs(self) -> list[str]:
        """Encoding names in m= line order, e.g. ['opus'] or ['PCMA', 'telephone-event']."""
        static = {0: "PCMU", 8: "PCMA", 9: "G722", 3: "GSM", 18: "G729"}
        return [self.rtpmap.get(pt, static.get(pt, str(pt))).split("/")[0] for pt in self.payloads]


def sip_messages(messages_text: str) -> list[tuple[str, str]]:
    """sipp's -trace_msg log as (direction, message) pairs; direction 'sent' or 'received'."""
    messages = []
    for block in re.split(r"^-{20,}.*$", messages_text, flags=re.MULTILINE):
        head, _, body = block.strip("\n").partition("\n")
        if "message sent" in head:
            messages.append(("sent", body.strip("\n")))
        elif "message received" in head:
            messages.append(("received", body.strip("\n")))
    return messages


def parse_sdp(body: str) -> Sdp | None:
    address, port = "", 0
    payloads: tuple[int, ...] = ()
    rtpmap: dict[int, str] = {}
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("c=IN IP"):
            address = line.split()[-1]
        elif line.startswith("m=audio "):
            words = line.split()
            port = int(words[1])
            payloads = tuple(int(pt) for pt in words[3:] if pt.isdigit())
        elif line.startswith("a=rtpmap:"):
            pt, _, encoding = line[len("a=rtpmap:"):].partition(" ")
            if pt.isdigit():
                rtpmap[int(pt)] = encoding
    return Sdp(address=address, port=port, payloads=payloads, rtpmap=rtpmap) if port else None


def answer_sdp(messages_text: str) -> Sdp | None:
    """The SDP of the last 200 OK to an INVITE that sipp received."""
    answer = None
    for direction, message in sip_messages(messages_text):
        first_line = message.splitlines()[0] if message else ""
        if (direction == "received" and first_line.startswith("SIP/2.0 200")
                and re.search(r"^CSeq:\s*\d+\s+INVITE", message, re.MULTILINE | re.IGNORECASE)):
            _, _, body = message.partition("\n\n")
            answer = parse_sdp(body) or answer
    return answer


def responses(messages_text: str) -> list[str]:
    """Status lines of every response sipp received, e.g. ['SIP/2.0 401 Unauthorized']."""
    return [message.splitlines()[0] for direction, message in sip_messages(messages_text)
            if direction == "received" and message.startswith("SIP/2.0")]
