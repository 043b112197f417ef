"""Several results of one task from one request: its handler run `n` times on the same model.

A seed, when given, counts up from one result to the next, so result i of a request with seed s
is the single result of the same request with seed s + i: the same seed, the same images.
"""

from __future__ import annotations

from typing import Any

from models_server.tasks.base import Handler, Task
from models_server.tasks.contracts import Contract, Field, Kind

MAX_RESULTS = 10
COUNT = Field("n", Kind.INT, default=1, minimum=1, maximum=MAX_RESULTS)


def repeated(task: Task) -> Task:
    """`task` with a param `n` (1 to MAX_RESULTS) whose handler returns a list of n results."""
    contract = task.contract
    counted = Contract(contract.name, contract.inputs, (*contract.params, COUNT))
    return Task(counted, _several(task.handler))


def _several(handler: Handler) -> Handler:
    def run(model: Any, inputs: dict[str, Any], params: dict[str, Any]) -> list[Any]:
        params = dict(params)
        count, seed = params.pop("n"), params.get("seed")
        return [handler(model, inputs, params if seed is None else {**params, "seed": seed + index})
                for index in range(count)]

    return run
