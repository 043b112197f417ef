"""Request fields, and each kind of field defined once: how a raw JSON value becomes what a
handler reads, its JSON Schema, a sample value for warm-ups, and the part name the Inference
API uses for it.

Adding a kind is one entry in `KINDS`; tests/unit/test_kinds.py fails if a kind lacks any part.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import numpy as np
from PIL import Image

from models_server.config import Limits
from models_server.errors import BadInput
from models_server.media.audio import decode_audio
from models_server.media.decode import decode_image
from models_server.media.types import Audio

RESOURCE = "an http(s) URL, a data: URI or a path under public/ (e.g. public/examples/a.jpg)"
INT64 = (-(2**63), 2**63 - 1)  # what torch seeds and sizes accept; beyond it a value is no integer we run


class Kind(Enum):
    """How a request field is decoded before it reaches a handler."""

    TEXT = "text"  # a string
    TEXT_LIST = "text_list"  # a list of strings, or one comma-separated string
    IMAGE = "image"  # a resource (URL, public path, data URI) decoded to an RGB PIL image
    AUDIO = "audio"  # a resource decoded to a mono float32 waveform (media.Audio)
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    TABLE = "table"  # columns by name, each a list of cells (the Inference API's `table`)
    MESSAGES = "messages"  # a conversation: [{"role": ..., "content": ...}], as chat models read it


@dataclass(frozen=True)
class Field:
    """One request field. `maximum` is a number or the name of a `Limits` setting.

    For text fields `maximum` caps the length in characters (default: the `max_prompt_chars`
    limit); documents such as a QA context name the larger `max_text_chars` limit instead.
    `non_empty` refuses a blank text: a prompt that would make a silent or empty output.
    """

    name: str
    kind: Kind
    required: bool = False
    default: Any = None
    aliases: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | str | None = None
    multiple_of: int | None = None
    non_empty: bool = False


class ResourceSource(Protocol):
    def read(self, ref: str, field: str) -> bytes: ...


@dataclass(frozen=True)
class DecodeContext:
    """What converting a field may use: where resources come from, and the limits."""

    resources: ResourceSource
    limits: Limits

    def resource(self, raw: Any, name: str) -> bytes:
        """Bytes of a resource: a reference to read, or bytes a raw request body already carried."""
        return raw if isinstance(raw, bytes) else self.resources.read(raw, name)


@dataclass(frozen=True)
class KindSpec:
    """Every part of one kind. `api_part` is the key the Inference API names such a part with
    (`{"inputs": {"image": ...}}`), or None; `numeric` kinds get their bounds checked."""

    convert: Callable[[Field, Any, DecodeContext], Any]
    schema: Callable[[Field, Limits], dict[str, Any]]
    sample: Callable[[], Any]
    api_part: str | None = None
    numeric: bool = False


def text_limit(field: Field, limits: Limits) -> tuple[str, int]:
    """(name, value) of the limit capping a text field: its own `maximum` setting, else max_prompt_chars."""
    name = field.maximum if isinstance(field.maximum, str) else "max_prompt_chars"
    return name, int(getattr(limits, name))


def _checked_text(field: Field, text: str, limits: Limits) -> str:
    name, limit = text_limit(field, limits)
    if len(text) > limit:
        raise BadInput(f"field '{field.name}' is {len(text)} characters; the limit {name} is {limit}")
    if field.non_empty and not text.strip():
        raise BadInput(f"field '{field.name}' must not be empty")
    return text


def _text(field: Field, raw: Any, context: DecodeContext) -> str:
    if not isinstance(raw, str):
        raise BadInput(f"field '{field.name}' must be a string")
    return _checked_text(field, raw, context.limits)


def _text_list(field: Field, raw: Any, context: DecodeContext) -> list[str]:
    items = [part.strip() for part in raw.split(",")] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise BadInput(f"field '{field.name}' must be a list of strings or a comma-separated string")
    items = [item for item in items if item]
    if not items:
        raise BadInput(f"field '{field.name}' must not be empty")
    return [_checked_text(field, item, context.limits) for item in items]


def _image(field: Field, raw: Any, context: DecodeContext) -> Image.Image:
    return decode_image(context.resource(raw, field.name), context.limits.max_image_pixels)


def _audio(field: Field, raw: Any, context: DecodeContext) -> Audio:
    return decode_audio(context.resource(raw, field.name), context.limits.max_audio_seconds)


def _int(field: Field, raw: Any, context: DecodeContext) -> int:
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadInput(f"field '{field.name}' must be an integer")
    if not INT64[0] <= raw <= INT64[1]:
        raise BadInput(f"field '{field.name}' must be an integer between {INT64[0]} and {INT64[1]}")
    return raw


def _float(field: Field, raw: Any, context: DecodeContext) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise BadInput(f"field '{field.name}' must be a number")
    try:
        value = float(raw)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise BadInput(f"field '{field.name}' must be a number, and finite")
    return value


def _bool(field: Field, raw: Any, context: DecodeContext) -> bool:
    if not isinstance(raw, bool):
        raise BadInput(f"field '{field.name}' must be true or false")
    return raw


def _table(field: Field, raw: Any, context: DecodeContext) -> dict[str, list[Any]]:
    shape = f"field '{field.name}' must be an object of columns, each a list of numbers or strings"
    if not isinstance(raw, dict) or not raw:
        raise BadInput(shape)
    lengths = set()
    for name, cells in raw.items():
        if not isinstance(cells, list) or not all(
            cell is None or (isinstance(cell, (str, int, float)) and not isinstance(cell, bool)) for cell in cells
        ):
            raise BadInput(f"{shape}; column '{name}' is not")
        lengths.add(len(cells))
    if len(lengths) != 1 or 0 in lengths:
        raise BadInput(f"field '{field.name}': every column must hold the same number of rows, at least one")
    cells = len(raw) * lengths.pop()
    if cells > context.limits.max_table_cells:
        raise BadInput(f"field '{field.name}' has {cells} cells; the limit max_table_cells is "
                       f"{context.limits.max_table_cells}")
    return raw


ROLES = ("system", "developer", "user", "assistant", "tool")


def _messages(field: Field, raw: Any, context: DecodeContext) -> list[dict[str, str]]:
    """Each message as `{"role", "content"}`, content as text (OpenAI's list of text parts joined).

    The total length is capped by the max_text_chars limit.
    """
    shape = f"field '{field.name}' must be a non-empty list of {{\"role\": ..., \"content\": ...}} messages"
    if not isinstance(raw, list) or not raw:
        raise BadInput(shape)
    messages = []
    for message in raw:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise BadInput(f"{shape}; a role is one of {', '.join(ROLES)}")
        content = message.get("content")
        if isinstance(content, list):
            if not all(isinstance(part, dict) and part.get("type") == "text" for part in content):
                raise BadInput(f"field '{field.name}': only text parts are read (no images or audio)")
            content = "".join(str(part.get("text", "")) for part in content)
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise BadInput(f"{shape}; a content is a string")
        messages.append({"role": message["role"], "content": content})
    total = sum(len(message["content"]) for message in messages)
    if total > context.limits.max_text_chars:
        raise BadInput(f"field '{field.name}' holds {total} characters; the limit max_text_chars is "
                       f"{context.limits.max_text_chars}")
    return messages


def _messages_schema(field: Field, limits: Limits) -> dict[str, Any]:
    message = {"type": "object", "required": ["role", "content"],
               "properties": {"role": {"enum": list(ROLES)}, "content": {"type": "string"}}}
    return {"type": "array", "items": message, "minItems": 1,
            "description": f"A conversation, oldest first; at most {limits.max_text_chars} characters in all."}


def _table_schema(field: Field, limits: Limits) -> dict[str, Any]:
    cell = {"type": ["number", "string", "null"]}
    return {
        "type": "object", "minProperties": 1,
        "additionalProperties": {"type": "array", "items": cell, "minItems": 1},
        "description": f"Columns by name, each a list of cells, all of one length; at most "
                       f"{limits.max_table_cells} cells (max_table_cells).",
    }


def _resource_schema(field: Field, limits: Limits) -> dict[str, Any]:
    return {"type": "string", "description": f"The {field.kind.value}: {RESOURCE}."}


def _text_schema(field: Field, limits: Limits) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": text_limit(field, limits)[1]}
    if field.non_empty:
        schema["minLength"] = 1
    return schema


def _text_list_schema(field: Field, limits: Limits) -> dict[str, Any]:
    item = {"type": "string", "maxLength": text_limit(field, limits)[1]}
    return {
        "anyOf": [{"type": "array", "items": item, "minItems": 1}, item],
        "description": "A list of strings, or one comma-separated string.",
    }


def _number_schema(json_type: str) -> Callable[[Field, Limits], dict[str, Any]]:
    def schema_of(field: Field, limits: Limits) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": json_type}
        if field.minimum is not None:
            schema["minimum"] = field.minimum
        maximum = field.maximum
        if isinstance(maximum, str):
            schema["description"] = f"At most the limit {maximum}."
            maximum = getattr(limits, maximum)
        if maximum is not None:
            schema["maximum"] = maximum
        if field.multiple_of:
            schema["multipleOf"] = field.multiple_of
        return schema

    return schema_of


KINDS: dict[Kind, KindSpec] = {
    Kind.TEXT: KindSpec(_text, _text_schema, lambda: "A photo of a cat sitting on a table."),
    Kind.TEXT_LIST: KindSpec(_text_list, _text_list_schema, lambda: ["cat", "table"]),
    Kind.IMAGE: KindSpec(
        _image, _resource_schema, lambda: Image.new("RGB", (64, 64), (128, 96, 64)), api_part="image"
    ),
    Kind.AUDIO: KindSpec(
        _audio, _resource_schema, lambda: Audio(np.zeros(16000, dtype=np.float32), 16000), api_part="audio"
    ),
    Kind.INT: KindSpec(_int, _number_schema("integer"), lambda: 1, numeric=True),
    Kind.FLOAT: KindSpec(_float, _number_schema("number"), lambda: 0.5, numeric=True),
    Kind.BOOL: KindSpec(_bool, lambda field, limits: {"type": "boolean"}, lambda: False),
    Kind.TABLE: KindSpec(_table, _table_schema, lambda: {"feature": [0.5]}),
    Kind.MESSAGES: KindSpec(_messages, _messages_schema, lambda: [{"role": "user", "content": "Hello!"}]),
}

MEDIA_KINDS = frozenset(kind for kind, spec in KINDS.items() if spec.api_part is not None)
