"""What a task reads from a request, and the handler that runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models_server.kinds import Field, Kind

__all__ = ["Field", "Handler", "Kind", "Task"]


Handler = Callable[[Any, dict[str, Any], dict[str, Any]], Any]


@dataclass(frozen=True)
class Task:
    """A kind of work: `inputs` are the content fields, `params` the optional knobs."""

    name: str
    inputs: tuple[Field, ...]
    handler: Handler
    params: tuple[Field, ...] = ()
