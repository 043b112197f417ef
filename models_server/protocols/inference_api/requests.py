"""Renaming an Inference API request (`{"inputs", "parameters"}` or a raw file) into a task's fields."""

from __future__ import annotations

import base64
import binascii
import codecs
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from models_server.errors import BadInput
from models_server.kinds import KINDS, MEDIA_KINDS
from models_server.tasks.base import Field, Task

RAW_BODY_TYPES = ("image/", "audio/", "application/octet-stream")
UNTYPED = ""  # InferenceClient sends bare `bytes` with no Content-Type at all
ENVELOPE = frozenset({"inputs", "parameters", "options", "stream"})
# Generation knobs the Inference API nests one level down; our tasks declare them flat.
NESTED_KNOBS = ("generate_kwargs", "generation_parameters", "generate_parameters")
MEDIA_KEYS = {spec.api_part: kind for kind, spec in KINDS.items() if spec.api_part}
GENERATION_KNOBS = frozenset({"max_new_tokens", "return_full_text"})  # what text generation honours


@dataclass(frozen=True)
class HFRequest:
    """A request in the Inference API's form, renamed to the task's own fields.

    `parameters` are kept as sent: some answers depend on them (top_k, return_full_text).
    """

    body: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    accept: str = "*/*"

    def best(self, offered: list[str]) -> str:
        """The offered type the client's Accept header prefers; the first one when it has no say."""
        return parse_accept_header(self.accept, MIMEAccept).best_match(offered, default=offered[0])


def is_raw_file(mimetype: str, raw: bytes, json_body: Any) -> bool:
    """A typed media body, or an untyped one that is not text (a form or a stray string is no file)."""
    if json_body is not None or not raw:
        return False
    return mimetype.startswith(RAW_BODY_TYPES) or (mimetype == UNTYPED and not _is_text(raw[:4096]))


def _is_text(sample: bytes) -> bool:
    try:  # incremental: a character cut at the end of the sample is not an error
        text = codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char.isspace() for char in text)


def from_file(task: Task, raw: bytes, accept: str) -> HFRequest:
    """A raw body is the task's image or audio; FieldDecoder takes the bytes as they are."""
    media = media_field(task)
    if media is None:
        raise BadInput(f"a {task.name} model reads text: send JSON {{\"inputs\": ...}}, not a file")
    return HFRequest({media.name: raw}, accept=accept)


def from_envelope(task: Task, envelope: dict[str, Any], accept: str, renames: Mapping[str, str]) -> HFRequest:
    """`inputs` (a value or a dict of named parts) and `parameters`, as the task's field names.

    Names the task does not declare are dropped here, as FieldDecoder would ignore them anyway.
    """
    parameters = envelope.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadInput("'parameters' must be a JSON object")
    inputs = envelope["inputs"]
    named = inputs if isinstance(inputs, dict) else {primary_field(task).name: inputs}
    # Content first, then what the client put beside `inputs` (VQA's question), then knobs.
    extras = {key: value for key, value in envelope.items() if key not in ENVELOPE}
    knobs = {renames.get(key, key): value for key, value in _flatten(parameters).items()}
    names = _field_names(task)
    body: dict[str, Any] = {}
    for source in (named, extras, knobs):
        for key, value in source.items():
            name = names.get(key) or _media_key(task, key)
            if name is not None:
                body.setdefault(name, value)
    for item in (*task.inputs, *task.params):
        if item.kind in MEDIA_KINDS and isinstance(body.get(item.name), str):
            body[item.name] = _media_bytes(body[item.name])
    return HFRequest(body, parameters, accept)


def media_field(task: Task) -> Field | None:
    return next((item for item in task.inputs if item.kind in MEDIA_KINDS), None)


def primary_field(task: Task) -> Field:
    """Where a bare `inputs` goes: the image or audio of a media task, else the first input."""
    return media_field(task) or task.inputs[0]


def _field_names(task: Task) -> dict[str, str]:
    """Every name a task's field answers to, mapped to the field's own name."""
    return {alias: item.name for item in (*task.inputs, *task.params) for alias in (item.name, *item.aliases)}


def _media_key(task: Task, key: str) -> str | None:
    """The API names parts `image` / `audio`; our fields may be called `img_url` / `audio_url`."""
    kind = MEDIA_KEYS.get(key)
    matching = next((item for item in task.inputs if item.kind is kind), None) if kind else None
    return matching.name if matching else None


def _flatten(parameters: dict[str, Any]) -> dict[str, Any]:
    flat = {key: value for key, value in parameters.items() if key not in NESTED_KNOBS}
    for key in NESTED_KNOBS:
        if isinstance(parameters.get(key), dict):
            flat = {**parameters[key], **flat}
    size = flat.pop("target_size", None)
    if isinstance(size, dict):
        flat.setdefault("width", size.get("width"))
        flat.setdefault("height", size.get("height"))
    return flat


def _media_bytes(value: str) -> bytes | str:
    """Base64 (the Inference API's way) to bytes; a URL, data: URI or public/ path stays a reference."""
    if value.startswith(("http://", "https://", "data:")):
        return value
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return value  # not base64: FieldDecoder reads it as a reference, or says why it cannot


def refuse_unused_generation_knobs(parameters: dict[str, Any], envelope: dict[str, Any]) -> None:
    """TGI's sampling knobs and streaming are not served here. Said in the words transformers
    uses, because InferenceClient.text_generation reads them, retries without the listed
    parameters and warns its user, instead of failing."""
    asked = {**parameters, "stream": envelope.get("stream")}
    unused = [key for key, value in asked.items() if key not in GENERATION_KNOBS and value not in (None, False)]
    if unused:
        raise BadInput(
            f"The following `model_kwargs` are not used by the model: {unused} "
            f"(this server's text generation reads {sorted(GENERATION_KNOBS)} only)"
        )
