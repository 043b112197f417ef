"""Downloading a resource over http(s) with timeouts, a redirect limit and a byte cap."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests

from models_server.errors import BadInput

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


def fetch_url(url: str, max_bytes: int, connect_timeout: float, read_timeout: float) -> bytes:
    """The body at `url`; every failure is a BadInput that says what went wrong."""
    for _ in range(MAX_REDIRECTS + 1):
        _check_scheme(url)
        try:
            response = requests.get(
                url, stream=True, allow_redirects=False, timeout=(connect_timeout, read_timeout)
            )
        except requests.Timeout:
            raise BadInput(f"fetching {url} timed out") from None
        except requests.RequestException as exc:
            raise BadInput(f"cannot fetch {url}: {type(exc).__name__}") from None
        with response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("location", ""))
                continue
            if response.status_code != 200:
                raise BadInput(f"fetching {url} answered HTTP {response.status_code}")
            return _read_capped(response, url, max_bytes)
    raise BadInput(f"fetching {url}: more than {MAX_REDIRECTS} redirects")


def _check_scheme(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise BadInput(f"only http and https URLs can be fetched, not {url!r}")


def _read_capped(response: requests.Response, url: str, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BadInput(f"{url} is {declared} bytes; the limit max_download_bytes is {max_bytes}")
    body = bytearray()
    try:
        for chunk in response.iter_content(_CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise BadInput(f"{url} is larger than the limit max_download_bytes ({max_bytes})")
    except requests.RequestException as exc:
        raise BadInput(f"reading {url} failed: {type(exc).__name__}") from None
    return bytes(body)
