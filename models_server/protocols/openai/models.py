"""The model objects of `GET /v1/models`: OpenAI's shape, with the task and state beside it."""

from __future__ import annotations

from typing import Any


def model_object(model_id: str, task: str, state: str, created: int, alias_of: str | None = None) -> dict[str, Any]:
    """`owned_by` is the Hub organisation of the id (the part before its slash), when it has one."""
    served = alias_of or model_id
    owner = served.split("/", 1)[0] if "/" in served else "models-server"
    entry: dict[str, Any] = {"id": model_id, "object": "model", "created": created, "owned_by": owner,
                             "task": task, "state": state}
    if alias_of is not None:
        entry["alias_of"] = alias_of
    return entry
