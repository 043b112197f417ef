"""A first request made at load time, so the first user request is not the slow one.

The first call of a model pays for lazy initialisation (CUDA kernels, cuDNN autotuning,
torch.compile's compilation). Inputs are synthesised from the task's declared fields, so
no task needs a warm-up of its own; generation runs one step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from models_server.media.types import Audio
from models_server.tasks.base import Field, Kind, Task

_SAMPLES = {
    Kind.TEXT: lambda: "A photo of a cat sitting on a table.",
    Kind.TEXT_LIST: lambda: ["cat", "table"],
    Kind.IMAGE: lambda: Image.new("RGB", (64, 64), (128, 96, 64)),
    Kind.AUDIO: lambda: Audio(np.zeros(16000, dtype=np.float32), 16000),
    Kind.INT: lambda: 1,
    Kind.FLOAT: lambda: 0.5,
    Kind.BOOL: lambda: False,
}
_CHEAP_PARAMS = {"num_inference_steps": 1, "num_frames": 2, "max_new_tokens": 2, "width": 64, "height": 64}


def sample_request(task: Task) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs = {field.name: _value(field) for field in task.inputs}
    params = {field.name: _CHEAP_PARAMS.get(field.name, field.default) for field in task.params}
    return inputs, params


def _value(field: Field) -> Any:
    if field.default is not None:
        return field.default
    return _SAMPLES[field.kind]()
