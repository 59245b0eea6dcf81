"""Reading sipp's and Asterisk's output (pure). The samples are real output, captured
from sipp 3.6.1 and Asterisk 22.10.1, except where a test builds a row with Asterisk's
own printf format to reach a corner (counts above 100000)."""

import pytest

from pipeline.smoke import parse


def stats_row(bridge, name, uptime, codec, rx, rx_lost, tx, tx_lost):
    """A row as channels/pjsip/cli_commands.c prints it."""
    def count(n):
        return (n // 1000, "K") if n > 100000 else (n, " ")
    rxc, rxs = count(rx)
    rxl, rxls = count(rx_lost)
    txc, txs = count(tx)
    txl, txls = count(tx_lost)
    # Asterisk's own printf format for the row, so the parser meets exactly its layout.
    return (" %8.8s %-18.18s %-8.8s %-6.6s %6u%s %6u%s %3u %7.3f %6u%s %6u%s %3u %7.3f %7.3f"  # noqa: UP031
            % (bridge, name, uptime, codec, rxc, rxs, rxl, rxls, 0, 0.0, txc, txs, txl, txls,
               0, 0.0, 0.0))


HEADER = """
                                             ...........Receive......... .........Transmit..........
 BridgeId ChannelId ........ UpTime.. Codec.   Count    Lost Pct  Jitter   Count    Lost Pct  Jitter RTT....
 ===========================================================================================================
"""


# `pjsip show channelstats` during an Echo() call (Asterisk 22.10.1, as `asterisk -rx` prints it)
REAL_CHANNELSTATS = (
    "\n                                             ...........Receive......... .........Transmit..........\n"
    " BridgeId ChannelId ........ UpTime.. Codec.   Count    Lost Pct  Jitter   Count    Lost Pct  Jitter RTT....\n"
    " ===========================================================================================================\n"
    "\n          smoke-00000000     00:00:01 alaw       49       0    0   0.000     49       0    0   0.001   0.000\n"
    "\nObjects found: 1\n")


def test_channelstats_real_output():
    assert parse.channelstats(REAL_CHANNELSTATS) == [
        parse.ChannelStats(channel="smoke-00000000", codec="alaw", rx=49, rx_lost=0, tx=49, tx_lost=0)]


def test_channelstats_rows():
    output = HEADER + "\n".join([
        stats_row("", "smoke-00000004", "00:00:01", "alaw", 50, 0, 49, 0),
        stats_row("1f2e3d4c-aaaa", "rt-0a1b2c3d-00000007", "00:01:02", "opus", 123456, 7, 99, 1),
        stats_row("", "smoke-00000005", "00:00:00", "", 0, 0, 0, 0),
        " PJSIP/smoke-00000006 not valid",
        "",
        "Objects found: 3",
    ])
    rows = parse.channelstats(output)
    assert rows == [
        parse.ChannelStats(channel="smoke-00000004", codec="alaw", rx=50, rx_lost=0, tx=49, tx_lost=0),
        parse.ChannelStats(channel="rt-0a1b2c3d-000000", codec="opus", rx=123000, rx_lost=7,
                           tx=99, tx_lost=1),
        parse.ChannelStats(channel="smoke-00000005", codec="", rx=0, rx_lost=0, tx=0, tx_lost=0),
    ]


@pytest.mark.parametrize("output", ["", "No objects found.\n", HEADER])
def test_channelstats_without_channels(output):
    assert parse.channelstats(output) == []


def test_channel_fields():
    # `core show channel` during the Opus check (Asterisk 22.10.1 with codec_opus_open_source)
    output = (
        " -- General --\n           Name: PJSIP/smoke-00000001\n           Type: PJSIP\n"
        "       UniqueID: 1795675798.1\n       LinkedID: 1795675798.1\n      Caller ID: smoke\n"
        " Caller ID Name: (N/A)\nConnected Line ID: (N/A)\nConnected Line ID Name: (N/A)\n"
        "Eff. Connected Line ID: (N/A)\nEff. Connected Line ID Name: (N/A)\n"
        "    DNID Digits: milliwatt\n       Language: en\n          State: Up (6)\n"
        "  NativeFormats: (opus)\n    WriteFormat: slin\n     ReadFormat: opus\n"
        " WriteTranscode: Yes (slin@8000)->(opus@48000)\n  ReadTranscode: No \n"
        " Time to Hangup: 0\n   Elapsed Time: 0h0m1s\n      Bridge ID: (Not bridged)\n"
        " --   PBX   --\n        Context: smoke\n      Extension: milliwatt\n       Priority: 2\n"
        "    Application: Milliwatt\n           Data: (Empty)\n Call Identifier: [C-00000002]\n"
        "      Variables:\nSIPDOMAIN=127.0.0.1\n -- Streams --\nName: audio-0\n    Type: audio\n"
        "    State: sendrecv\n    Group: -1\n    Formats: (opus)\n    Metadata:")
    fields = parse.channel_fields(output)
    assert fields["NativeFormats"] == "(opus)"
    assert fields["WriteTranscode"] == "Yes (slin@8000)->(opus@48000)"
    assert fields["Name"] == "PJSIP/smoke-00000001"
    assert fields["ReadTranscode"] == "No"
    assert fields["State"] == "Up (6)"


SIPP_STATS = (
    "StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);"
    "CallRate(C);IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;"
    "CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);"
    "FailedCannotSendMessage(P);FailedCannotSendMessage(C);FailedMaxUDPRetrans(P);"
    "FailedMaxUDPRetrans(C);FailedTcpConnect(P);FailedTcpConnect(C);FailedTcpClosed(P);"
    "FailedTcpClosed(C);FailedUnexpectedMessage(P);FailedUnexpectedMessage(C);"
    "FailedCallRejected(P);FailedCallRejected(C);Retransmissions(P);Retransmissions(C);\n"
    "2026-11-26\t06:36:54.067842\t1795675014.067842;2026-11-26\t06:36:54.171721\t1795675014.171721;"
    "2026-11-26\t06:36:54.171759\t1795675014.171759;00:00:00;00:00:00;10;0;9.70874;0;0;0;1;1;0;0;"
    "0;0;1;0;0;0;0;0;0;0;0;0;1;0;0;0;2;\n")


def test_sipp_stats_last_row_by_header():
    stats = parse.sipp_stats(SIPP_STATS)
    assert stats["SuccessfulCall(C)"] == "0"
    assert stats["FailedCall(C)"] == "1"
    assert stats["FailedUnexpectedMessage(C)"] == "1"
    assert parse.sipp_summary(stats) == "0 successful, 1 failed, UnexpectedMessage 1, 2 retransmissions"


def test_sipp_stats_empty():
    assert parse.sipp_stats("") == {}
    assert parse.sipp_summary({}) == "no sipp statistics"


SIPP_ERRORS = """The following events occurred:
2026-11-26\t06:36:54.170878\t1795675014.170878: Aborting call on unexpected message for Call-Id '1-16512@127.0.0.1': while expecting '100' (index 1), received 'SIP/2.0 404 Not Found
Via: SIP/2.0/UDP 127.0.0.1:15270;branch=z9hG4bK-16512-1-0;rport
From: sipp <sip:sipp@127.0.0.1:15270>;tag=16512SIPpTag001
Call-ID: 1-16512@127.0.0.1
CSeq: 1 INVITE
Content-Length: 0

'"""


def test_sipp_error_names_what_was_expected_and_received():
    assert parse.sipp_error(SIPP_ERRORS) == ("received SIP/2.0 404 Not Found where the scenario "
                                             "expected 100")


def test_sipp_error_other_lines_and_nothing():
    text = "2026-11-26\t06:36:54.1\t1795675014.1: Call-Id: 1-9@127.0.0.1 timeout on max UDP retrans for INVITE"
    assert parse.sipp_error(text) == "Call-Id: 1-9@127.0.0.1 timeout on max UDP retrans for INVITE"
    assert parse.sipp_error("") == ""


MESSAGES = """----------------------------------------------- 2026-11-26 06:32:16.142348
UDP message sent (492 bytes):

INVITE sip:echo@127.0.0.1:15160 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:15170;branch=z9hG4bK-20514-1-0;rport
CSeq: 1 INVITE
Content-Type: application/sdp
Content-Length:   142

v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 17100 RTP/AVP 8
a=rtpmap:8 PCMA/8000

----------------------------------------------- 2026-11-26 06:32:16.142612
UDP message received [308] bytes :

SIP/2.0 401 Unauthorized
CSeq: 1 INVITE
Content-Length: 0


----------------------------------------------- 2026-11-26 06:32:16.143799
UDP message received [468] bytes :

SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:15170;branch=z9hG4bK-20514-1-0;rport
CSeq: 2 INVITE
Content-Type: application/sdp
Content-Length:   130

v=0
o=- 1 2 IN IP4 127.0.0.1
s=Asterisk
c=IN IP4 127.0.0.1
t=0 0
m=audio 16100 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16

----------------------------------------------- 2026-11-26 06:32:17.143799
UDP message received [300] bytes :

SIP/2.0 200 OK
CSeq: 3 BYE
Content-Length: 0

"""


def test_answer_sdp_is_the_200_to_the_invite():
    answer = parse.answer_sdp(MESSAGES)
    assert (answer.address, answer.port, answer.payloads) == ("127.0.0.1", 16100, (8, 101))
    assert answer.codecs == ["PCMA", "telephone-event"]


def test_responses_in_order():
    assert parse.responses(MESSAGES) == ["SIP/2.0 401 Unauthorized", "SIP/2.0 200 OK",
                                         "SIP/2.0 200 OK"]
    assert [d for d, _ in parse.sip_messages(MESSAGES)] == ["sent", "received", "received",
                                                            "received"]


def test_answer_sdp_missing():
    assert parse.answer_sdp("") is None
    assert parse.answer_sdp(MESSAGES.split("SIP/2.0 200 OK")[0]) is None


OPUS_ANSWER = """----------------------------------------------- 2026-11-26 06:49:56.978293
UDP message received [712] bytes :

SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:46065;rport=46065;received=127.0.0.1;branch=z9hG4bK-6389-1-4
Call-ID: 1-6389@127.0.0.1
From: <sip:smoke@127.0.0.1>;tag=6389SIPpTag1
To: <sip:milliwatt@127.0.0.1>;tag=db5412fa-2b6f-4416-98f1-a0033a13b050
CSeq: 2 INVITE
Server: Asterisk PBX
Contact: <sip:127.0.0.1:46064>
Content-Type: application/sdp
Content-Length:   163

v=0
o=- 1 4 IN IP4 127.0.0.1
s=Asterisk
c=IN IP4 127.0.0.1
t=0 0
m=audio 46072 RTP/AVP 111
a=rtpmap:111 opus/48000/2
a=ptime:20
a=maxptime:60
a=sendrecv

"""


def test_real_opus_answer():
    answer = parse.answer_sdp(OPUS_ANSWER)
    assert (answer.address, answer.port, answer.codecs) == ("127.0.0.1", 46072, ["opus"])


def test_sdp_static_payload_names():
    sdp = parse.parse_sdp("c=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0 8 9\n")
    assert sdp.codecs == ["PCMU", "PCMA", "G722"]
