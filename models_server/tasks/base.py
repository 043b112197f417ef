"""What a task reads from a request, and the handler that runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Kind(Enum):
    """How a request field is decoded before it reaches a handler."""

    TEXT = "text"  # a string
    TEXT_LIST = "text_list"  # a list of strings, or one comma-separated string
    IMAGE = "image"  # a resource (URL, public path, data URI) decoded to an RGB PIL image
    AUDIO = "audio"  # a resource decoded to a mono float32 waveform (media.Audio)
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"


@dataclass(frozen=True)
class Field:
    """One request field. `maximum` is a number or the name of a `Limits` setting.

    For text fields `maximum` caps the length in characters (default: the `max_prompt_chars`
    limit); documents such as a QA context name the larger `max_text_chars` limit instead.
    """

    name: str
    kind: Kind
    required: bool = False
    default: Any = None
    aliases: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | str | None = None
    multiple_of: int | None = None


Handler = Callable[[Any, dict[str, Any], dict[str, Any]], Any]


@dataclass(frozen=True)
class Task:
    """A kind of work: `inputs` are the content fields, `params` the optional knobs."""

    name: str
    inputs: tuple[Field, ...]
    handler: Handler
    params: tuple[Field, ...] = ()
