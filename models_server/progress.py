"""Progress of the request a thread is running, reported by handlers without knowing the runtime.

A handler calls `report_progress(step, total)` (diffusion pipelines do it from their step
callback, long audio after each chunk, text generation after each token); the runtime shows it in
/status and enforces the request's deadline and its cancellation there, which is where a long task
can be stopped cleanly. `checkpoint()` does the enforcing alone, for a loop inside a library (a
decoder's steps) whose progress is not worth showing. A handler whose result comes in parts (a
generated text) hands each part on with `report_partial` as soon as it is final, for a request
that streams its answer. Outside a request all of them do nothing, so a handler hosted elsewhere
(Ray Serve) runs unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from models_server.errors import Cancelled, TimedOut


class CancelToken:
    """One request's stop signal: a person cancelled it, or its client closed the connection
    (`client_gone`, asked each time, as cheap as reading a flag)."""

    def __init__(self, request_id: str, client_gone: Callable[[], bool] | None = None) -> None:
        self.request_id = request_id
        self.client_gone = client_gone
        self._reason: str | None = None  # written once, by a cancel or the first check that finds the client gone

    def cancel(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason

    def reason(self) -> str | None:
        if self._reason is None and self.client_gone is not None and self.client_gone():
            self._reason = "its client closed the connection"
        return self._reason

    def raise_if_cancelled(self) -> None:
        reason = self.reason()
        if reason is not None:
            raise Cancelled(f"request {self.request_id} was cancelled: {reason}", request_id=self.request_id)


@dataclass
class Job:
    model_id: str
    deadline: float
    step: int = 0
    total: int = 0
    cancel: CancelToken | None = None
    partial: Callable[[Any], None] | None = None  # receives the result's parts as they are made


_current: ContextVar[Job | None] = ContextVar("models_server_job", default=None)
_request: ContextVar[CancelToken | None] = ContextVar("models_server_request", default=None)
_partials: ContextVar[Callable[[Any], None] | None] = ContextVar("models_server_partials", default=None)


@contextmanager
def cancellable(token: CancelToken) -> Iterator[CancelToken]:
    """The request this thread serves can be stopped through `token` (the runtime reads it when
    it admits the request's run)."""
    reset = _request.set(token)
    try:
        yield token
    finally:
        _request.reset(reset)


def request_token() -> CancelToken | None:
    return _request.get()


@contextmanager
def streaming(receive: Callable[[Any], None]) -> Iterator[None]:
    """The parts of the result of the request this thread serves go to `receive` as its handler
    reports them, on the model's own thread (the runtime reads it when it admits the request's run)."""
    reset = _partials.set(receive)
    try:
        yield
    finally:
        _partials.reset(reset)


def partials_receiver() -> Callable[[Any], None] | None:
    return _partials.get()


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
    _enforce(job, f"at step {step} of {total}")


def checkpoint() -> None:
    """Stop here (Cancelled, TimedOut) if the request this thread runs was cancelled or is past
    its deadline; cheap enough for every step of a decoder."""
    job = _current.get()
    if job is not None:
        _enforce(job, "")


def _enforce(job: Job, where: str) -> None:
    if job.cancel is not None:
        job.cancel.raise_if_cancelled()
    if time.monotonic() > job.deadline:
        raise TimedOut(f"{job.model_id} ran past the request_timeout limit{' ' + where if where else ''}")


def report_partial(part: Any) -> None:
    """A part of the result that is final before the rest is (a generated token's text)."""
    job = _current.get()
    if job is not None and job.partial is not None:
        job.partial(part)


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
