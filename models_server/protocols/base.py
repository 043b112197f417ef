"""What every protocol shares: a request as any host receives it, and a decoded call.

`decode` gives None when a body is not in its protocol's form, so the pipeline can ask each
protocol in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from models_server.errors import ServerError
from models_server.tasks.base import Task

JSON = "application/json"


@dataclass(frozen=True)
class RawRequest:
    """A request as any host receives it: no web framework's objects."""

    model_id: str
    mimetype: str
    body: bytes
    headers: Mapping[str, str]
    protocol: str | None = None  # a route's own protocol (`NAMED_PROTOCOLS`); None: each default in turn
    # the body's named values when the host read them already (OpenAI's routes read them to find
    # the model, before the request queues): the protocol decodes those, and `body` may be empty
    values: dict[str, Any] | None = None


@dataclass(frozen=True)
class Encoded:
    """An answer before delivery: bytes of a file-typed answer, or a JSON-able tree in which
    `EncodedFile`s still wait to be written under public/."""

    content: Any
    mimetype: str = JSON
    file_prefix: str = ""  # put before the path of each file written under public/ (a URL's start)


@dataclass(frozen=True)
class EncodedPart:
    """A streamed answer's part already encoded by the host that ran the model (a Ray replica,
    whose encoder also writes the stream's end): sent on as it is."""

    data: bytes


class PartEncoder(Protocol):
    """A streamed answer: each part of the result, encoded to be sent as soon as the handler
    reports it (on the model's thread, in order: when the call's `encode` runs after the handler,
    every part it reported has been encoded); and an error that ends the stream after it began."""

    mimetype: str

    def part(self, part: Any) -> bytes: ...

    def error(self, error: ServerError) -> bytes: ...


@dataclass(frozen=True)
class Call:
    """A decoded request: the task's fields by name, and how to encode its result.

    `task`: another contract to run on the same loaded model (an embedding of a similarity
    model's sentences); None runs the row's own task. `stream`: the answer is streamed, its
    parts sent as they are made; `encode` then gives what the parts sent did not.
    """

    body: dict[str, Any]
    encode: Callable[[Any], Encoded]
    task: Task | None = None
    stream: PartEncoder | None = None


class RequestProtocol(Protocol):
    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call | None: ...
