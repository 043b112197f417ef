"""Progress of the request a thread is running, reported by handlers without knowing the runtime.

A handler calls `report_progress(step, total)` (diffusion pipelines do it from their step
callback); the runtime shows it in /status and enforces the request's deadline there, which
is the one place a long generation can be stopped cleanly. Outside a request it does nothing,
so a handler hosted elsewhere (Ray Serve) runs unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from models_server.errors import TimedOut


@dataclass
class Job:
    model_id: str
    deadline: float
    step: int = 0
    total: int = 0


_current: ContextVar[Job | None] = ContextVar("models_server_job", default=None)


@contextmanager
def tracking(job: Job) -> Iterator[Job]:
    token = _current.set(job)
    try:
        yield job
    finally:
        _current.reset(token)


def report_progress(step: int, total: int) -> None:
    job = _current.get()
    if job is None:
        return
    job.step, job.total = step, total
    if time.monotonic() > job.deadline:
        raise TimedOut(f"{job.model_id} ran past the request_timeout limit at step {step} of {total}")


def diffusers_callback(total: int):
    """A `callback_on_step_end` for diffusers pipelines that reports each finished step."""

    def on_step_end(pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        report_progress(step + 1, total)
        return tensors

    return on_step_end


def legacy_callback(total: int):
    """The older `callback(step, timestep, latents)` form some diffusers pipelines still take."""

    def on_step(step: int, timestep: Any, latents: Any) -> None:
        report_progress(step + 1, total)

    return on_step
