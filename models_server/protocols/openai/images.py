"""`POST /v1/images/generations` on the text-to-image rows; `/v1/images/edits` on the ControlNets
(the uploaded image is the control map, as the controller sends it) and the image-to-image rows;
`/v1/images/variations` on the image-to-image rows.

Knobs OpenAI's SDK has no argument for (`seed`, `num_inference_steps`, `guidance_scale`,
`negative_prompt`) come through `extra_body`; `quality`, `style` and `user` are accepted and
not used. Images answer as base64 PNG (`b64_json`) or as a URL of a file written under public/
and served at /playground/files/.

On a ControlNet, `annotate=true` makes a plain photo work: the route first runs the matching
annotator (`<kind>-control`) on it and sends its control map on (`with_control_map`).
"""

from __future__ import annotations

import base64
import time
from dataclasses import replace
from typing import Any

from models_server.errors import BadInput
from models_server.media.encode import encode_file, image_bytes
from models_server.protocols.base import Call, Encoded, RawRequest
from models_server.protocols.openai.forms import base_url, choice, file, number, require_task, text, values_of
from models_server.tasks.base import Task
from models_server.tasks.repeated import repeated

FILES_ROUTE = "/playground/files"
ANNOTATE = "annotate"
TRUE = (True, "true", "1", 1)
KNOBS = ("seed", "num_inference_steps", "guidance_scale", "negative_prompt")


class ImagesProtocol:
    """`route` serves `tasks`; `prompted`: the route's body carries a prompt (the variations' does not)."""

    def __init__(self, route: str, tasks: tuple[str, ...], prompted: bool = True) -> None:
        self.route = route
        self.tasks = tasks
        self.prompted = prompted

    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call:
        require_task(task, request, self.tasks, self.route)
        values = values_of(request, json_body)
        operation = repeated(task)
        declared = {field.name for field in (*operation.inputs, *operation.params)}
        body: dict[str, Any] = {"n": number(values, "n", int) or 1}
        if "img_url" in declared:
            body["img_url"] = file(values, "image")
        if values.get(ANNOTATE) in TRUE:
            raise BadInput("'annotate' runs a ControlNet's annotator on the photo first: it is for ControlNet "
                           "models only", param=ANNOTATE)
        if values.get("mask") is not None:
            raise BadInput("masks are not served: the whole image is the control map or the source",
                           param="mask")
        if self.prompted:
            prompt = text(values, "prompt", required=True)
            if "text" in declared:
                body["text"] = prompt
        body.update(_size(values.get("size"), declared))
        for knob in KNOBS:
            if values.get(knob) is not None and knob in declared:
                body[knob] = number(values, knob, int) if knob in ("seed", "num_inference_steps") else (
                    text(values, knob) if knob == "negative_prompt" else number(values, knob))
        answer_format = choice(values, "response_format", ("url", "b64_json"), "url")
        prefix = base_url(request) + FILES_ROUTE

        def encode(result: list[Any]) -> Encoded:
            if answer_format == "b64_json":
                data = [{"b64_json": base64.b64encode(image_bytes(image, "PNG")).decode("ascii")} for image in result]
                return Encoded({"created": int(time.time()), "data": data})
            return Encoded({"created": int(time.time()), "data": [{"url": encode_file(image)} for image in result]},
                           file_prefix=prefix)

        return Call(body, encode, task=operation)


def photo_to_annotate(request: RawRequest) -> bytes | None:
    """The uploaded image when the request asks for it to be annotated first, else None."""
    values = values_of(request, None)
    return file(values, "image") if values.get(ANNOTATE) in TRUE else None


def with_control_map(request: RawRequest, control_map: bytes) -> RawRequest:
    """The same request, its image replaced by the control map and no `annotate`."""
    values = {key: value for key, value in values_of(request, None).items()
              if key != ANNOTATE and not isinstance(value, bytes)}
    values["image"] = control_map
    return replace(request, values=values)


def _size(value: Any, declared: set[str]) -> dict[str, int]:
    """"WxH" as width and height; "auto" or none: the model's own size."""
    if value in (None, "auto"):
        return {}
    if not isinstance(value, str) or value.count("x") != 1 or not all(part.isdigit() for part in value.split("x")):
        raise BadInput("'size' must be \"WIDTHxHEIGHT\" (e.g. \"512x512\") or \"auto\"", param="size")
    if not {"width", "height"} <= declared:
        raise BadInput("this model makes images of its input's size: omit 'size'", param="size")
    width, height = (int(part) for part in value.split("x"))
    return {"width": width, "height": height}
