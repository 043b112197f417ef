"""Admitting requests to a model and running them: queue limit, per-model turn, pin, deadline.

A request is counted in (`admit`) before its inputs are decoded, so a full queue or a model
that cannot serve is refused before any URL is fetched. Different models run concurrently;
requests to one model take turns under its run lock, and each run pins its slot so eviction
leaves it alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from models_server.config import Limits
from models_server.errors import Busy, InferenceFailed, NotReady, ServerError, TimedOut
from models_server.progress import CancelToken, Job, partials_receiver, request_token, tracking
from models_server.redact import redact_urls
from models_server.runtime.lanes import ComputeLanes
from models_server.runtime.loading import ModelLoader
from models_server.runtime.residency import Residency
from models_server.runtime.slots import SlotTable, State
from models_server.tasks.base import Handler

log = logging.getLogger(__name__)


class Run(Protocol):
    """Run the row's task handler on the decoded inputs, or `handler` on the same model."""

    def __call__(self, inputs: dict[str, Any], params: dict[str, Any], handler: Handler | None = None) -> Any: ...


@dataclass(frozen=True)
class Ticket:
    """An admitted request: it may run its model once before `deadline` (monotonic seconds)."""

    model_id: str
    deadline: float
    run: Run


class Admission:
    def __init__(self, slots: SlotTable, residency: Residency, loader: ModelLoader, limits: Limits,
                 resolve_device: Callable[[], bool], lanes: ComputeLanes) -> None:
        self.slots = slots
        self.residency = residency
        self.loader = loader
        self.limits = limits
        self.resolve_device = resolve_device
        self.lanes = lanes

    @contextmanager
    def admit(self, model_id: str) -> Iterator[Ticket]:
        """Count the request in for as long as the block runs (503 when it cannot be)."""
        self.slots.enter(model_id, self.limits.max_queue_per_model)
        deadline = time.monotonic() + self.limits.request_timeout
        try:
            yield Ticket(model_id, deadline, lambda inputs, params, handler=None: self._run(
                model_id, deadline, inputs, params, handler))
        finally:
            self.slots.leave(model_id)

    def _run(self, model_id: str, deadline: float, inputs: dict[str, Any], params: dict[str, Any],
             handler: Handler | None = None) -> Any:
        import torch

        run_lock = self.slots.run_lock(model_id)
        token = request_token()
        if not _take_turn(run_lock, deadline, token):
            raise TimedOut(f"model {model_id} stayed busy for the whole request_timeout")
        try:
            if token is not None:  # its client may have left, or it was cancelled, while it waited
                token.raise_if_cancelled()
            job = Job(model_id, deadline, cancel=token, partial=partials_receiver())
            self._pin(model_id, job)
            try:
                if self.slots.spec(model_id).torch_calls:
                    return self.lanes.run(model_id, self._call, job, inputs, params, handler)
                return self._call(job, inputs, params, handler)
            finally:
                self.slots.unpin(model_id)
        except ServerError:
            raise
        except torch.OutOfMemoryError as exc:
            self.residency.release_cached_memory()
            log.warning("%s ran out of memory: %s", model_id, exc)
            raise Busy(f"{model_id} ran out of memory for this request; try again or with smaller inputs",
                       headers={"Retry-After": "10"}, state=State.LOADED.value) from exc
        except Exception as exc:
            # the library's own text may name this machine's files and packages: it goes to the log
            # and to /status's last_error, for the operator; the caller is told what failed
            log.exception("%s failed on a request", model_id)
            self.slots.request_failed(model_id, redact_urls(f"{type(exc).__name__}: {exc}"))
            raise InferenceFailed(f"model {model_id} failed while running ({type(exc).__name__}); "
                                  "the server log has the details") from exc
        finally:
            run_lock.release()

    def _call(self, job: Job, inputs: dict[str, Any], params: dict[str, Any], handler: Handler | None) -> Any:
        """On the model's lane: inference mode and progress tracking are per thread, so set here."""
        import torch

        handler = handler or self.slots.spec(job.model_id).task.handler
        with tracking(job), torch.inference_mode():
            return handler(self.slots.model(job.model_id), inputs, params)

    def _pin(self, model_id: str, job: Job) -> None:
        """Pin a ready model; load a lazy or evicted one, or bring a moved-down one back, first."""
        if self.slots.pin_if_ready(model_id, job):
            return
        with self.residency.lock:  # no eviction can claim the model between getting ready and the pin
            view = self.slots.view(model_id)
            if view.state is State.NOT_LOADED:
                if not self.resolve_device():
                    raise NotReady(f"model {model_id} cannot load: {self.slots.view(model_id).reason}", state="failed")
                self.loader.load(model_id, on_demand=True)
            elif view.state is State.LOADED and self.slots.moved_down(model_id):
                if not self.residency.make_room(view.bytes, protect=model_id):
                    raise Busy(f"model {model_id} waits for memory held by busy models; try again",
                               headers={"Retry-After": "10"}, state=view.state.value)
                self.residency.bring_back(model_id)
            if not self.slots.pin_if_ready(model_id, job):
                view = self.slots.view(model_id)
                raise NotReady(f"model {model_id} failed to load: {view.reason}", state=view.state.value)


def _take_turn(run_lock: threading.Lock, deadline: float, token: CancelToken | None) -> bool:
    """Wait for the model's run lock until `deadline`; a cancelled request leaves the queue within
    a quarter second (Cancelled) instead of waiting for its turn."""
    while True:
        remaining = deadline - time.monotonic()
        if token is None:
            return run_lock.acquire(timeout=max(0.0, remaining))
        if run_lock.acquire(timeout=max(0.0, min(0.25, remaining))):
            return True
        token.raise_if_cancelled()
        if remaining <= 0.25:
            return False
