"""SIP requests written byte by byte, as a stranger on the SIP port sends them: REGISTERs
whose From user, Call-ID and Authorization header carry whatever a test chooses (quotes,
commas, percent-escapes, line breaks, the field names of Asterisk's security log), sent
over UDP from the host, with the responses read back.

sipp cannot send these: it reads `[...]` in a message as its own keywords, and its
[authentication] always answers the challenge properly.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import socket

# A digest answer in the form a phone writes it, whose response is wrong for any password:
# the server's realm and nonce go in with {realm} and {nonce}, the rest is the sender's.
WRONG_DIGEST = ('Digest username="{user}",realm="{realm}",nonce="{nonce}",uri="sip:{host}",'
                 'response="0123456789abcdef0123456789abcdef",algorithm=MD5')


@dataclasses.dataclass(frozen=True, kw_only=True)
class Register:
    """One REGISTER, and when `authorization` is given, a second one answering the 401.

    user: the From/To user as written in the URI (pjsip decodes %XX escapes, so %22 is a
    double quote and %0A a line feed once Asterisk has it).
    call_id: the Call-ID header's value (anything but a line break; None: a random one).
    authorization: the Authorization header's value for the second REGISTER, a format
    string with {user}, {realm}, {nonce} and {host} (None: no second REGISTER).
    """

    user: str
    call_id: str | None = None
    authorization: str | None = None


def _request(target: tuple[str, int], local: tuple[str, int], register: Register, call_id: str,
             cseq: int, authorization: str | None) -> bytes:
    host, port = target
    lines = [f"REGISTER sip:{host}:{port} SIP/2.0",
             f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK{secrets.token_hex(8)};rport",
             f"From: <sip:{register.user}@{host}>;tag={secrets.token_hex(4)}",
             f"To: <sip:{register.user}@{host}>",
             f"Call-ID: {call_id}",
             f"CSeq: {cseq} REGISTER",
             f"Contact: <sip:stranger@{local[0]}:{local[1]}>",
             "Expires: 60",
             "Max-Forwards: 70",
             "User-Agent: sip-by-hand"]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode("utf-8")


def _final_response(sock: socket.socket) -> str:
    """The first final (non-1xx) response, or '' when none came within the timeout."""
    while True:
        try:
            data = sock.recv(65535).decode("utf-8", errors="replace")
        except TimeoutError:
            return ""
        if not re.match(r"SIP/2\.0 1\d\d ", data):
            return data


def send(target: tuple[str, int], register: Register, *, source: str = "127.0.0.1",
         timeout: float = 3.0) -> list[str]:
    """Sends the REGISTER(s) from `source` (a fresh UDP port) and returns the status
    line of each final response ('' where none came)."""
    call_id = register.call_id if register.call_id is not None else f"{secrets.token_hex(8)}@{source}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        local = sock.getsockname()
        sock.sendto(_request(target, local, register, call_id, 1, None), target)
        first = _final_response(sock)
        statuses = [first.split("\r\n", 1)[0]]
        if register.authorization is None:
            return statuses
        realm, nonce = (re.search(rf'WWW-Authenticate:.*?\b{name}="([^"]*)"', first) for name in ("realm", "nonce"))
        assert realm and nonce, f"no digest challenge to answer: {first!r}"
        authorization = register.authorization.format(
            user=register.user, realm=realm.group(1), nonce=nonce.group(1), host=target[0])
        sock.sendto(_request(target, local, register, call_id, 2, authorization), target)
        statuses.append(_final_response(sock).split("\r\n", 1)[0])
        return statuses
