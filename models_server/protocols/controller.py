"""The controller's JSON protocol: `{"img_url": ..., "text": ...}` in, JSON out with media as
paths of files under public/."""

from __future__ import annotations

from typing import Any

from models_server.errors import BadInput
from models_server.media.outputs import encode_result
from models_server.protocols.base import Call, Encoded, RawRequest
from models_server.tasks.base import Task

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
