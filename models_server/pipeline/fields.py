"""Turning a JSON request body into the typed inputs and params a task declares."""

from __future__ import annotations

from typing import Any

from models_server.config import Limits
from models_server.errors import BadInput
from models_server.kinds import KINDS, DecodeContext, ResourceSource
from models_server.tasks.base import Field, Task


class FieldDecoder:
    """Validates each declared field and decodes resources; nothing undeclared reaches a model."""

    def __init__(self, resources: ResourceSource, limits: Limits) -> None:
        self.context = DecodeContext(resources, limits)
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
        kind = KINDS[field.kind]
        value = kind.convert(field, raw, self.context)
        if kind.numeric:
            self._check_bounds(field, value)
        return value

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


def _first_present(body: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if body.get(name) is not None:
            return body[name]
    return None
