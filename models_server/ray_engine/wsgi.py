"""Calling a WSGI app (the Flask app) with a request the Ray Serve proxy handed over as an ASGI scope.

The whole contract — routes, errors, access rules, OpenAPI, metrics, the status page — stays in
the one Flask app; the ingress only translates the request in and the response out.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WsgiResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def environ_of(scope: Mapping[str, Any], body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) for an ASGI HTTP scope and its whole body."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        # PEP 3333: the decoded path's UTF-8 bytes, carried as latin-1
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "80",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0] if client else "",
        "REMOTE_PORT": str(client[1]) if client else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT_LENGTH":
            continue  # the body's own length stands
        key = f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> WsgiResponse:
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started["status"], started["headers"] = status, headers
        return lambda data: None  # the write() callable; Flask never uses it

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return WsgiResponse(int(started["status"].split(" ", 1)[0]), list(started["headers"]), body)
