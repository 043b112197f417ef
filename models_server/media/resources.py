"""Reading the resources a request names: http(s) URLs, data: URIs and paths under public/."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from urllib.parse import unquote_to_bytes

from models_server.config import Limits
from models_server.errors import BadInput
from models_server.media.fetch import fetch_url


class ResourceReader:
    """Reads a resource reference into bytes; nothing outside `public_dir` is ever read.

    The controller sends paths as `public/examples/a.jpg`, `public//images/x.png` or
    `/images/x.png` (what we returned earlier); all name files inside the public folder.
    """

    def __init__(self, public_dir: Path, limits: Limits, allow_private: bool = False) -> None:
        self.public_dir = public_dir.resolve()
        self.limits = limits
        self.allow_private = allow_private

    def read(self, ref: str, field: str) -> bytes:
        if not isinstance(ref, str) or not ref.strip():
            raise BadInput(f"field '{field}' must be a URL, a data: URI or a path under public/")
        ref = ref.strip()
        if ref.startswith(("http://", "https://")):
            return fetch_url(
                ref,
                self.limits.max_download_bytes,
                self.limits.url_connect_timeout,
                self.limits.url_read_timeout,
                allow_private=self.allow_private,
            )
        if ref.startswith("data:"):
            return decode_data_uri(ref, field)
        if "://" in ref:
            raise BadInput(f"field '{field}': only http(s) URLs, data: URIs and public/ paths are read")
        try:
            return self.public_file(ref, field).read_bytes()
        except (OSError, ValueError):  # a NUL byte, a name too long, a file we may not read
            raise BadInput(f"field '{field}': {ref[:100]!r} is not a readable path under public/") from None

    def public_file(self, ref: str, field: str) -> Path:
        relative = ref.lstrip("/")
        if relative.startswith("public/"):
            relative = relative[len("public/"):].lstrip("/")
        path = (self.public_dir / relative).resolve()
        if not path.is_relative_to(self.public_dir):
            raise BadInput(f"field '{field}': path {ref[:100]!r} is outside the public folder")
        if not path.is_file():
            raise BadInput(f"field '{field}': no file at {ref[:100]!r} in the public folder")
        if path.stat().st_size > self.limits.max_download_bytes:
            raise BadInput(f"field '{field}': {ref[:100]!r} is larger than the limit max_download_bytes")
        return path


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
