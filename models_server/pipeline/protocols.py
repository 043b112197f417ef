"""The two ways a request can speak on `POST /models/<id>`, each a decode/encode pair.

- The controller's JSON protocol: `{"img_url": ..., "text": ...}` in, JSON out with media as
  paths of files under public/.
- The Hugging Face Inference API: `{"inputs": ..., "parameters": ...}` or a raw file in, that
  API's answer shapes out, files inline.

`decode` gives None when a body is not in its protocol's form; the pipeline asks the Inference
API first because the controller's bodies never carry `inputs` and never come as raw bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from models_server import hf_api
from models_server.errors import BadInput
from models_server.media.outputs import encode_result
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


class InferenceApiProtocol:
    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call | None:
        accept = request.headers.get("Accept", "*/*")
        parsed = hf_api.parse(task, request.mimetype, request.body, json_body, accept)
        if parsed is None:
            return None

        def encode(result: Any) -> Encoded:
            content, mimetype = hf_api.respond(task, result, parsed)
            return Encoded(content, mimetype)

        return Call(parsed.body, encode)


# Keys the controller reads a task's file under besides `path`: it renames `path` itself only for
# images, speech and video, and chains audio into the next task only through `generated audio`.
ALSO_UNDER: dict[str, str] = {"audio-to-audio": "generated audio"}


class ControllerProtocol:
    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call | None:
        if not isinstance(json_body, dict):
            raise BadInput("the request body must be a JSON object, e.g. {\"img_url\": \"public/examples/a.jpg\"}")
        also = ALSO_UNDER.get(task.name)

        def encode(result: Any) -> Encoded:
            encoded = encode_result(result)
            if also and isinstance(encoded, dict) and "path" in encoded:
                encoded.setdefault(also, encoded["path"])  # the same file: written once, one path
            return Encoded(encoded)

        return Call(json_body, encode)


PROTOCOLS: tuple[RequestProtocol, ...] = (InferenceApiProtocol(), ControllerProtocol())
