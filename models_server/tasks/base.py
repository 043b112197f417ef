"""An implementation of a task: the contract it fulfils and the handler that runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models_server.kinds import Field, Kind
from models_server.tasks.contracts import Contract

__all__ = ["Contract", "Field", "Handler", "Kind", "Task"]


Handler = Callable[[Any, dict[str, Any], dict[str, Any]], Any]


@dataclass(frozen=True)
class Task:
    """`handler(model, inputs, params)` fulfils `contract`: it reads the contract's fields only."""

    contract: Contract
    handler: Handler

    @property
    def name(self) -> str:
        return self.contract.name

    @property
    def inputs(self) -> tuple[Field, ...]:
        return self.contract.inputs

    @property
    def params(self) -> tuple[Field, ...]:
        return self.contract.params
