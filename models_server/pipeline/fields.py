"""Turning a JSON request body into the typed inputs and params a task declares."""

from __future__ import annotations

import math
from typing import Any

from models_server.config import Limits
from models_server.errors import BadInput
from models_server.media.audio import decode_audio
from models_server.media.decode import decode_image
from models_server.media.resources import ResourceReader
from models_server.tasks.base import Field, Kind, Task


class FieldDecoder:
    """Validates each declared field and decodes resources; nothing undeclared reaches a model."""

    def __init__(self, reader: ResourceReader, limits: Limits) -> None:
        self.reader = reader
        self.limits = limits

    def decode(self, task: Task, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        inputs = {field.name: self._field(field, body) for field in task.inputs}
        params = {field.name: self._field(field, body) for field in task.params}
        return inputs, params

    def _field(self, field: Field, body: dict[str, Any]) -> Any:
        raw = _first_present(body, (field.name, *field.aliases))
        if raw is None:
            if field.required:
                raise BadInput(f"missing field '{field.name}'")
            return field.default
        value = self._convert(field, raw)
        if field.kind in (Kind.INT, Kind.FLOAT):
            self._check_bounds(field, value)
        return value

    def _convert(self, field: Field, raw: Any) -> Any:
        name = field.name
        match field.kind:
            case Kind.TEXT:
                if not isinstance(raw, str):
                    raise BadInput(f"field '{name}' must be a string")
                self._check_text_length(field, raw)
                return raw
            case Kind.TEXT_LIST:
                items = [part.strip() for part in raw.split(",")] if isinstance(raw, str) else raw
                if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                    raise BadInput(f"field '{name}' must be a list of strings or a comma-separated string")
                items = [item for item in items if item]
                if not items:
                    raise BadInput(f"field '{name}' must not be empty")
                for item in items:
                    self._check_text_length(field, item)
                return items
            case Kind.IMAGE:
                return decode_image(self._resource(raw, name), self.limits.max_image_pixels)
            case Kind.AUDIO:
                return decode_audio(self._resource(raw, name), self.limits.max_audio_seconds)
            case Kind.INT:
                if isinstance(raw, bool) or not isinstance(raw, int):
                    if isinstance(raw, float) and raw.is_integer():
                        return int(raw)
                    raise BadInput(f"field '{name}' must be an integer")
                return raw
            case Kind.FLOAT:
                if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
                    raise BadInput(f"field '{name}' must be a number")
                return float(raw)
            case Kind.BOOL:
                if not isinstance(raw, bool):
                    raise BadInput(f"field '{name}' must be true or false")
                return raw
        raise AssertionError(f"unhandled field kind {field.kind}")

    def _resource(self, raw: Any, name: str) -> bytes:
        """Bytes of a resource: a reference to read, or bytes a raw request body already carried."""
        return raw if isinstance(raw, bytes) else self.reader.read(raw, name)

    def _check_bounds(self, field: Field, value: float) -> None:
        if field.minimum is not None and value < field.minimum:
            raise BadInput(f"field '{field.name}' must be at least {field.minimum:g}")
        maximum, limit_name = field.maximum, None
        if isinstance(maximum, str):
            limit_name, maximum = maximum, getattr(self.limits, maximum)
        if maximum is not None and value > maximum:
            named = f" (limit {limit_name})" if limit_name else ""
            raise BadInput(f"field '{field.name}' must be at most {maximum:g}{named}")
        if field.multiple_of and value % field.multiple_of:
            raise BadInput(f"field '{field.name}' must be a multiple of {field.multiple_of}")

    def _check_text_length(self, field: Field, text: str) -> None:
        limit_name = field.maximum if isinstance(field.maximum, str) else "max_prompt_chars"
        limit = getattr(self.limits, limit_name)
        if len(text) > limit:
            raise BadInput(f"field '{field.name}' is {len(text)} characters; the limit {limit_name} is {limit}")


def _first_present(body: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if body.get(name) is not None:
            return body[name]
    return None
