"""A first request made at load time, so the first user request is not the slow one.

The first call of a model pays for lazy initialisation (CUDA kernels, cuDNN autotuning,
torch.compile's compilation). Inputs are synthesised from the task's declared fields, so
no task needs a warm-up of its own; generation runs one step.
"""

from __future__ import annotations

from typing import Any

from models_server.kinds import KINDS
from models_server.tasks.base import Field, Task

_CHEAP_PARAMS = {"num_inference_steps": 1, "num_frames": 2, "max_new_tokens": 2, "width": 64, "height": 64}


def sample_request(task: Task) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {field.name: _value(field) for field in task.inputs}
    params = {field.name: _CHEAP_PARAMS.get(field.name, field.default) for field in task.params}
    return inputs, params


def _value(field: Field) -> Any:
    if field.default is not None:
        return field.default
    return KINDS[field.kind].sample()
