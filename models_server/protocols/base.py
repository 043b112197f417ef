"""What every protocol shares: a request as any host receives it, and a decoded call.

`decode` gives None when a body is not in its protocol's form, so the pipeline can ask each
protocol in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from models_server.tasks.base import Task

JSON = "application/json"


@dataclass(frozen=True)
class RawRequest:
    """A request as any host receives it: no web framework's objects."""

    model_id: str
    mimetype: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Encoded:
    """An answer before delivery: bytes of a file-typed answer, or a JSON-able tree in which
    `EncodedFile`s still wait to be written under public/."""

    content: Any
    mimetype: str = JSON


@dataclass(frozen=True)
class Call:
    """A decoded request: the task's fields by name, and how to encode its result."""

    body: dict[str, Any]
    encode: Callable[[Any], Encoded]


class RequestProtocol(Protocol):
    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call | None: ...
