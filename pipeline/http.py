"""The one place HTTP requests are made: timeouts, retries with backoff, logging, one error type."""

from __future__ import annotations

from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import log
from .errors import SourceError

TIMEOUT = (10, 60)  # connect, read (seconds)


def session(retries: int = 3) -> requests.Session:
    """A session that retries timeouts, connection errors and 5xx with backoff."""
    retry = Retry(total=retries, connect=retries, read=retries, status=retries,
                  backoff_factor=0.5, status_forcelist=(500, 502, 503, 504),
                  allowed_methods=frozenset({"GET", "HEAD"}))
    http = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    http.headers["User-Agent"] = "asterisk-pipeline"
    return http


_SESSION: requests.Session | None = None


def _default() -> requests.Session:
    global _SESSION
    if _SESSION is None:
        _SESSION = session()
    return _SESSION


def get_text(url: str, *, http: requests.Session | None = None) -> str:
    """GET a page; SourceError with the URL and reason on any failure."""
    log.debug(f"GET {url}")
    try:
        response = (http or _default()).get(url, timeout=TIMEOUT)
        response.raise_for_status()
    except requests.RequestException as error:
        raise SourceError(f"cannot fetch {url}: {_reason(error)}") from None
    return response.text


def download(url: str, dest: Path, *, http: requests.Session | None = None) -> None:
    """Stream url into dest (atomically: a failed download leaves no file)."""
    log.debug(f"GET {url} -> {dest}")
    partial = dest.with_name(dest.name + ".partial")
    try:
        with (http or _default()).get(url, timeout=TIMEOUT, stream=True) as response:
            response.raise_for_status()
            with partial.open("wb") as out:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    out.write(chunk)
    except requests.RequestException as error:
        partial.unlink(missing_ok=True)
        raise SourceError(f"cannot download {url}: {_reason(error)}") from None
    partial.replace(dest)


def _reason(error: requests.RequestException) -> str:
    response = getattr(error, "response", None)
    if response is not None:
        return f"HTTP {response.status_code} {response.reason}"
    if isinstance(error, requests.ConnectionError):
        return f"host unreachable ({type(error).__name__}); check the URL or set PIPELINE_MIRROR"
    if isinstance(error, requests.Timeout):
        return "timed out"
    return str(error)
