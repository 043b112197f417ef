"""The `/status` answer for one model, built from a slot snapshot: the HTTP side's shape.

The Hugging Face shape (`loaded`, `compute_type`, `framework`) that the controller reads, and
more for people and tools. `loaded` is true when a request will be served here — for a lazy
(`not_loaded`) model after a load wait: that is what the controller reads it for (use this
server, or go to Hugging Face).
"""

from __future__ import annotations

from typing import Any

from models_server.http.model_queues import ModelQueues
from models_server.runtime import RuntimeView, SlotView, State


def model_status(view: SlotView, runtime: RuntimeView, queues: ModelQueues[Any] | None = None) -> dict[str, Any]:
    """`estimated_wait`: seconds the work ahead of a request arriving now in the model's queue
    is expected to take (null while work is ahead and the model has not answered yet)."""
    devices = view.devices or runtime.devices
    status: dict[str, Any] = {
        "loaded": view.servable,
        "state": view.state.value,
        "task": view.spec.task.name,
        "tier": view.spec.tier,
        "compute_type": devices.kind,
        "device": devices.device,
        "dtype": devices.dtype_name,
        "framework": view.spec.framework,
        "placement": view.placement,
        "bytes": view.bytes,
        "queue": view.queue,
        "estimated_wait": _rounded(queues.estimated_wait(view.spec.id) if queues is not None else 0.0),
        "last_used": view.last_used,
        "load_seconds": view.load_seconds,
        **runtime.keep_alive_status(view),
    }
    if view.progress is not None:
        status["progress"] = {"step": view.progress[0], "total": view.progress[1]}
    if view.replicas is not None:
        status["replicas"] = view.replicas
    if view.spec.aliases:
        status["aliases"] = list(view.spec.aliases)
    if view.last_error:
        status["last_error"] = view.last_error
    if view.state is State.FAILED:
        status["error"] = {"message": view.reason}
    elif view.reason:
        status["reason"] = view.reason
    return status


def memory_status(runtime: RuntimeView) -> dict[str, dict[str, int | None]]:
    """`/status`'s `memory`: per device, the bytes of the models' weights on it (`models_bytes`, from
    the runtime's accounting), torch's `allocated_bytes` and `reserved_bytes` (on the CPU: null, and
    the process's resident set), and on CUDA the driver's `free_bytes` / `total_bytes`."""
    return {device: memory.as_json() for device, memory in runtime.memory().items()}


def all_statuses(runtime: RuntimeView, queues: ModelQueues[Any] | None = None) -> dict[str, dict[str, Any]]:
    return {model_id: model_status(view, runtime, queues) for model_id, view in runtime.views().items()}


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
