"""Reading the resources a request names: http(s) URLs, data: URIs and paths under public/."""

from __future__ import annotations

import base64
import binascii
import threading
from pathlib import Path
from urllib.parse import unquote_to_bytes

from models_server.config import Limits
from models_server.errors import BadInput, Busy
from models_server.media.fetch import fetch_url

# URL fetches in flight at once (limits.max_concurrent_fetches): each holds a worker thread and a
# socket for up to url_connect_timeout + url_read_timeout, so without a cap slow URL servers could
# hold them all.
FETCH_RETRY_AFTER_SECONDS = 2


def max_concurrent_fetches(limits: Limits) -> int:
    return limits.max_concurrent_fetches


class ResourceReader:
    """Reads a resource reference into bytes; nothing outside `public_dir` is ever read.

    The controller sends paths as `public/examples/a.jpg`, `public//images/x.png` or
    `/images/x.png` (what we returned earlier); all name files inside the public folder.
    """

    def __init__(self, public_dir: Path, limits: Limits, allow_private: bool = False) -> None:
        self.public_dir = public_dir.resolve()
        self.limits = limits
        self.allow_private = allow_private
        self.fetch_slots = threading.BoundedSemaphore(max_concurrent_fetches(limits))

    def read(self, ref: str, field: str) -> bytes:
        if not isinstance(ref, str) or not ref.strip():
            raise BadInput(f"field '{field}' must be a URL, a data: URI or a path under public/")
        ref = ref.strip()
        if ref.startswith(("http://", "https://")):
            return self.fetch(ref)
        if ref.startswith("data:"):
            return decode_data_uri(ref, field)
        if "://" in ref:
            raise BadInput(f"field '{field}': only http(s) URLs, data: URIs and public/ paths are read")
        try:
            return self.public_file(ref, field).read_bytes()
        except (OSError, ValueError):  # a NUL byte, a name too long, a file we may not read
            raise BadInput(f"field '{field}': {ref[:100]!r} is not a readable path under public/") from None

    def fetch(self, url: str) -> bytes:
        """`fetch_url` within the cap on fetches in flight: a fetch waits for a slot at most as
        long as a connection attempt may take (url_connect_timeout), then gets a 503."""
        if not self.fetch_slots.acquire(timeout=self.limits.url_connect_timeout):
            cap = max_concurrent_fetches(self.limits)
            raise Busy(
                f"{cap} URL fetches are in flight, the limit max_concurrent_fetches; retry shortly",
                headers={"Retry-After": str(FETCH_RETRY_AFTER_SECONDS)},
            )
        try:
            return fetch_url(
                url,
                self.limits.max_download_bytes,
                self.limits.url_connect_timeout,
                self.limits.url_read_timeout,
                allow_private=self.allow_private,
            )
        finally:
            self.fetch_slots.release()

    def public_file(self, ref: str, field: str) -> Path:
        relative = ref.lstrip("/")
        if relative.startswith("public/"):
            relative = relative[len("public/"):].lstrip("/")
        path = inside_public(self.public_dir, relative)
        if path is None:
            raise BadInput(f"field '{field}': path {ref[:100]!r} is outside the public folder or leads nowhere")
        if not path.is_file():
            raise BadInput(f"field '{field}': no file at {ref[:100]!r} in the public folder")
        if path.stat().st_size > self.limits.max_download_bytes:
            raise BadInput(f"field '{field}': {ref[:100]!r} is larger than the limit max_download_bytes")
        return path


def inside_public(public_dir: Path, relative: str) -> Path | None:
    """The real path `relative` names under `public_dir` (a resolved path), or None when it leads
    out of it (`..`, a symlink to a file or a folder elsewhere) or nowhere (a symlink loop, a NUL
    byte): every file route and resource reads through this, so nothing leaves public/."""
    try:
        path = (public_dir / relative).resolve()
    except (OSError, RuntimeError, ValueError):  # RuntimeError: pathlib's "Symlink loop"
        return None
    return path if path.is_relative_to(public_dir) else None


def decode_data_uri(uri: str, field: str) -> bytes:
    header, sep, payload = uri[len("data:"):].partition(",")
    if not sep:
        raise BadInput(f"field '{field}': malformed data: URI (no comma)")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            raise BadInput(f"field '{field}': data: URI is not valid base64") from None
    return unquote_to_bytes(payload)
