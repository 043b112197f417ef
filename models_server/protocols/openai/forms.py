"""Reading an OpenAI request: a JSON object or a multipart form, the model it names, and its values.

The SDK sends JSON to most routes and a multipart form (the file plus string fields) to the
audio and image-edit routes; both become one dict here, files as their bytes.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header

from models_server.errors import BadInput, PayloadTooLarge
from models_server.protocols.base import Call, RawRequest
from models_server.tasks.base import Task

FORM = "multipart/form-data"
MAX_MODEL_NAME = 256  # characters of a `model` field: far above any served id or alias


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value, whatever the case its name was written in."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), "")


def values_of(request: RawRequest, json_body: Any) -> dict[str, Any]:
    """The request's named values: those read already (`request.values`), else read from its body."""
    if request.values is not None:
        return request.values
    if json_body is not None and request.mimetype != FORM:
        if not isinstance(json_body, dict):
            raise BadInput("the body must be a JSON object (Content-Type: application/json) or a multipart form")
        return json_body
    return named_values(request.mimetype, request.headers, request.body)


def named_values(mimetype: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """A body's named values: a JSON object's keys, or a form's fields (strings) and files (bytes).

    A form field sent several times (`timestamp_granularities[]`) is a list under its bare name.
    One parse, whose cost is bounded by the body's size; BadInput for a body of another shape.
    """
    if mimetype == FORM:
        return _form(headers, body)
    json_body: Any = None
    if mimetype == "application/json" and body:
        try:
            json_body = json.loads(body)
        except ValueError:
            raise BadInput("the body is not valid JSON") from None
        except RecursionError:
            raise BadInput("the JSON body is nested too deeply") from None
    if not isinstance(json_body, dict):
        raise BadInput("the body must be a JSON object (Content-Type: application/json) or a multipart form")
    return json_body


def _form(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    _, options = parse_options_header(header(headers, "Content-Type"))
    boundary = options.get("boundary")
    if not boundary:
        raise BadInput("a multipart body needs a boundary in its Content-Type")
    try:
        fields, files = MultiPartParser(max_form_parts=1000).parse(
            io.BytesIO(body), boundary.encode("latin-1"), len(body))
    except RequestEntityTooLarge:
        raise PayloadTooLarge("the form has too many parts") from None
    except ValueError:
        raise BadInput("the multipart body is malformed") from None
    values: dict[str, Any] = {}
    for name in fields:
        items = fields.getlist(name)
        key = name.removesuffix("[]")
        values[key] = items if name.endswith("[]") or len(items) > 1 else items[0]
    for name in files:
        values[name] = files[name].read()
    return values


def requested_model(values: Mapping[str, Any]) -> str:
    """The `model` a request's named values name; a clear 400 when it is missing, no string, or
    longer than any model name (so that no error message repeats a huge one)."""
    model = values.get("model")
    if model is None or model == "":
        raise BadInput("missing field 'model' (GET /v1/models lists the served ids)", param="model")
    if not isinstance(model, str):
        raise BadInput("'model' must be a string: a served model id or alias (GET /v1/models lists them)",
                       param="model")
    if len(model) > MAX_MODEL_NAME:
        raise BadInput(f"'model' is {len(model)} characters long; a model id has at most {MAX_MODEL_NAME} "
                       "(GET /v1/models lists the served ids)", param="model")
    return model


class OpenAIProtocol(Protocol):
    """One route of OpenAI's API: its path, the tasks whose models it serves, its decode."""

    @property
    def route(self) -> str: ...

    @property
    def tasks(self) -> tuple[str, ...]: ...

    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call: ...


def require_task(task: Task, request: RawRequest, served: Iterable[str], route: str) -> None:
    """400 when the model is of another task than the route serves."""
    names = tuple(served)
    if task.name not in names:
        raise BadInput(f"model {request.model_id!r} does {task.name}; {route} serves models of "
                       f"{' or '.join(names)}", param="model", code="model_not_supported")


def choice(values: dict[str, Any], name: str, allowed: Iterable[str], default: str) -> str:
    value = values.get(name)
    if value is None:
        return default
    options = tuple(allowed)
    if value not in options:
        raise BadInput(f"'{name}' must be one of {', '.join(options)}", param=name)
    return str(value)


def number(values: dict[str, Any], name: str, kind: type[int] | type[float] = float) -> Any:
    """A number from JSON, or from a form's string; None when absent."""
    value = values.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadInput(f"'{name}' must be a number", param=name) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"'{name}' must be a number", param=name)
    if kind is int:
        if not float(value).is_integer():
            raise BadInput(f"'{name}' must be an integer", param=name)
        return int(value)
    return float(value)


def text(values: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = values.get(name)
    if value is None:
        if required:
            raise BadInput(f"missing field '{name}'", param=name)
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise BadInput(f"'{name}' must be a string", param=name)
    return value


def file(values: dict[str, Any], name: str) -> bytes:
    """A form's file part, or in a JSON body the file as base64."""
    value = values.get(name)
    if isinstance(value, str) and value:
        try:
            value = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise BadInput(f"'{name}' in a JSON body must be the file as base64", param=name) from None
    if not isinstance(value, bytes) or not value:
        raise BadInput(f"missing file '{name}' (send it as a multipart form part)", param=name)
    return value


def base_url(request: RawRequest) -> str:
    """Where this server is, as the client reached it (for URLs of the files it writes)."""
    host = header(request.headers, "X-Forwarded-Host") or header(request.headers, "Host") or "127.0.0.1"
    scheme = header(request.headers, "X-Forwarded-Proto") or "http"
    return f"{scheme}://{host}"
