"""The model an OpenAI request names in its body, read once, before the request waits in its queue.

`POST /models/<id>` names its model in the path; OpenAI's routes (`POST /v1/...`) name it in the
body (JSON `model`, or a multipart form field). The guarded server hands such a request, once
its body has arrived, to the body lane (threads of its own: neither a work thread nor a status
thread): there the body is read into its named values (one parse, bounded by the body's size,
itself bounded by `max_body_bytes`), the name is resolved (a served id, an alias, or a name of
the config's `aliases`), and the request waits in that model's queue like `POST /models/<id>`.
What was read goes on with the request (`BODY_VALUES` in its WSGI environ), so the route does
not read the body again.

A body that names no model to queue by (missing, no string, too long, malformed, unknown) waits
in no model's queue: it goes on as requests naming no model do, and the route answers it (400 or
404 in OpenAI's shape) from what was read here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.http import parse_options_header

from models_server.errors import ServerError
from models_server.protocols.openai import OPENAI_PROTOCOLS
from models_server.protocols.openai.forms import named_values, requested_model

BODY_VALUES = "models_server.body_values"  # WSGI environ key: the request's ReadBody
OPENAI_ROUTES = frozenset(protocol.route for protocol in OPENAI_PROTOCOLS.values())


def names_model_in_body(method: str, path: str) -> bool:
    """A route that runs the model its body names."""
    return method == "POST" and path in OPENAI_ROUTES


@dataclass(frozen=True)
class ReadBody:
    """A request's body as read before it queued: its named values, or why they cannot be read."""

    outcome: dict[str, Any] | ServerError
    model_id: str | None = None  # the served model the name resolved to, once resolved

    def named_values(self) -> dict[str, Any]:
        if isinstance(self.outcome, ServerError):
            raise self.outcome
        return self.outcome

    def model_name(self) -> str | None:
        """The model the values name; None when they name none (the route says why)."""
        try:
            return requested_model(self.named_values())
        except ServerError:
            return None


def read_naming_model(content_type: str, body: bytes, model_named: Callable[[str], str | None]) -> ReadBody:
    """`body` read as the route reads it, with the served model its name resolves to (`model_named`)."""
    read = read_body(content_type, body)
    name = read.model_name()
    return dataclasses.replace(read, model_id=None if name is None else model_named(name))


def read_body(content_type: str, body: bytes) -> ReadBody:
    """`body` read as the route would read it (its `Content-Type` header as sent)."""
    mimetype, _ = parse_options_header(content_type)
    try:
        return ReadBody(named_values(mimetype.lower(), {"Content-Type": content_type}, body))
    except ServerError as exc:
        return ReadBody(exc)
