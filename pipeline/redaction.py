"""Secrets seen during this process (passwords, tokens, keys), scrubbed from every message
that could reach a log, a summary or an error."""

from __future__ import annotations

_SECRETS: set[str] = set()


def keep_secret(value: str) -> None:
    """Scrub value (a password, token or key) from every message from now on."""
    if value:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in _SECRETS:
        if secret:
            text = text.replace(secret, "***")
    return text
