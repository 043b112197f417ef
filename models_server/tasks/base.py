"""An implementation of a task: the contract it fulfils and the handler that runs it."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from models_server.kinds import Field, Kind
from models_server.tasks.contracts import Contract

__all__ = ["Batching", "Contract", "Field", "Handler", "Kind", "Task"]


Handler = Callable[[Any, dict[str, Any], dict[str, Any]], Any]


@dataclass(frozen=True)
class Batching:
    """How a task runs several requests as one call of its model.

    `key(model, inputs, params)` is the shape a request runs at: requests with equal keys can
    share a call. `run(model, inputs, params)` takes one list entry per request and returns their
    results in the same order, each what the task's handler gives that request alone (up to the
    rounding a larger batch may change in the library's kernels).
    """

    key: Callable[[Any, dict[str, Any], dict[str, Any]], Hashable]
    run: Callable[[Any, list[dict[str, Any]], list[dict[str, Any]]], list[Any]]


@dataclass(frozen=True)
class Task:
    """`handler(model, inputs, params)` fulfils `contract`: it reads the contract's fields only."""

    contract: Contract
    handler: Handler
    batching: Batching | None = None  # None: every request is a call of its own

    @property
    def name(self) -> str:
        return self.contract.name

    @property
    def inputs(self) -> tuple[Field, ...]:
        return self.contract.inputs

    @property
    def params(self) -> tuple[Field, ...]:
        return self.contract.params
