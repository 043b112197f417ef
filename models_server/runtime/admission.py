"""Admitting requests to a model and running them: queue limit, per-model turn, pin, deadline.

A request is counted in (`admit`) before its inputs are decoded, so a full queue or a model
that cannot serve is refused before any URL is fetched. Different models run concurrently;
requests to one model take turns under its run lock, and each run pins its slot so eviction
leaves it alone. A model whose task batches runs the requests of one shape waiting for its turn
as one call (batches.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from models_server.config import Limits
from models_server.errors import Busy, Cancelled, InferenceFailed, NotReady, ServerError, TimedOut
from models_server.progress import CancelToken, Job, partials_receiver, request_token, tracking
from models_server.redact import redact_urls
from models_server.runtime.batches import Boards, Member, batch_token
from models_server.runtime.lanes import ComputeLanes
from models_server.runtime.loading import ModelLoader
from models_server.runtime.residency import Residency
from models_server.runtime.slots import SlotTable, State
from models_server.tasks.base import Batching, Handler

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
                 resolve_device: Callable[[], bool], lanes: ComputeLanes,
                 max_batch: Callable[[str], int] = lambda model_id: 1) -> None:
        self.slots = slots
        self.residency = residency
        self.loader = loader
        self.limits = limits
        self.resolve_device = resolve_device
        self.lanes = lanes
        self.max_batch = max_batch  # the most requests a model runs as one call (batches.py)
        self.boards = Boards()

    @contextmanager
    def admit(self, model_id: str) -> Iterator[Ticket]:
        """Count the request in for as long as the block runs (503 when it cannot be); a model
        that batches admits at least a running batch and a whole next one."""
        batch = self.max_batch(model_id)
        limit = self.limits.max_queue_per_model
        self.slots.enter(model_id, limit if batch == 1 else max(limit, 2 * batch))
        deadline = time.monotonic() + self.limits.request_timeout
        try:
            yield Ticket(model_id, deadline, lambda inputs, params, handler=None: self._run(
                model_id, deadline, inputs, params, handler))
        finally:
            self.slots.leave(model_id)

    def _run(self, model_id: str, deadline: float, inputs: dict[str, Any], params: dict[str, Any],
             handler: Handler | None = None) -> Any:
        spec = self.slots.spec(model_id)
        limit = self.max_batch(model_id) if handler in (None, spec.task.handler) else 1  # not another contract's
        if limit > 1:
            return self._run_batched(model_id, deadline, inputs, params, limit)
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
                if spec.torch_calls:
                    return self.lanes.run(model_id, self._call, job, inputs, params, handler)
                return self._call(job, inputs, params, handler)
            finally:
                self.slots.unpin(model_id)
        except ServerError:
            raise
        except Exception as exc:
            raise self._failure(model_id, exc) from exc
        finally:
            run_lock.release()

    def _failure(self, model_id: str, exc: Exception) -> Exception:
        """What the caller is told of an exception a run raised (a ServerError as it is)."""
        import torch

        if isinstance(exc, ServerError):
            return exc
        if isinstance(exc, torch.OutOfMemoryError):
            self.residency.release_cached_memory()
            log.warning("%s ran out of memory: %s", model_id, exc)
            return Busy(f"{model_id} ran out of memory for this request; try again or with smaller inputs",
                        headers={"Retry-After": "10"}, state=State.LOADED.value)
        # the library's own text may name this machine's files and packages: it goes to the log
        # and to /status's last_error, for the operator; the caller is told what failed
        log.error("%s failed on a request", model_id, exc_info=exc)
        self.slots.request_failed(model_id, redact_urls(f"{type(exc).__name__}: {exc}"))
        return InferenceFailed(f"model {model_id} failed while running ({type(exc).__name__}); "
                               "the server log has the details")

    def _run_batched(self, model_id: str, deadline: float, inputs: dict[str, Any], params: dict[str, Any],
                     limit: int) -> Any:
        """Wait for the model's turn on its board; with the turn, run the members of this shape
        waiting then as one batch; taken by another's batch, wait for this request's result."""
        board = self.boards.of(model_id)
        member = Member(model_id, inputs, params, self._batch_key(model_id, inputs, params), deadline, request_token())
        run_lock = self.slots.run_lock(model_id)
        board.add(member)
        try:
            while not board.is_taken(member):
                if run_lock.acquire(timeout=max(0.0, min(0.25, deadline - time.monotonic()))):
                    batch = None if member.gone() else board.lead(member, limit)
                    if batch is None:  # it left (it raises below), or an earlier batch ran it (its result is there)
                        run_lock.release()
                        if board.leave(member):
                            member.raise_if_gone()
                        break
                    self._start_batch(model_id, batch, run_lock)
                    break
                if member.gone() and board.leave(member):
                    if member.token is not None:
                        member.token.raise_if_cancelled()
                    raise TimedOut(f"model {model_id} stayed busy for the whole request_timeout")
            while not member.done.wait(0.25):
                member.raise_if_gone()
            try:
                return member.outcome()
            except (Cancelled, TimedOut):
                member.raise_if_gone()  # the batch stopped because every member had left: this one's own reason
                raise
        finally:
            board.discard(member)

    def _batch_key(self, model_id: str, inputs: dict[str, Any], params: dict[str, Any]) -> Hashable:
        """The request's shape, read off the loaded model; a model not loaded yet gives a key no
        other request shares, so this request runs alone (and loads it)."""
        batching = self.slots.spec(model_id).task.batching
        assert batching is not None
        model = self.slots.model(model_id)
        if model is not None and self.slots.view(model_id).state is State.LOADED:
            try:
                return batching.key(model, inputs, params)
            except Exception:  # inputs the handler will refuse, alone, with its own error
                log.debug("%s: no batch key for a request", model_id, exc_info=True)
        return object()

    def _start_batch(self, model_id: str, batch: list[Member], run_lock: threading.Lock) -> None:
        """With the model's turn held: pin the model and hand the batch to its lane, which gives
        the turn back once the batch has run. A failure before it runs is every member's."""
        try:
            job = Job(model_id, max(member.deadline for member in batch), cancel=batch_token(batch))
            self._pin(model_id, job)
        except Exception as exc:
            failure = self._failure(model_id, exc)
            for member in batch:
                member.fail(failure)
            run_lock.release()
            return
        try:
            self.lanes.submit(model_id, self._call_batch, job, batch, run_lock)
        except BaseException:
            self.slots.unpin(model_id)
            run_lock.release()
            raise

    def _call_batch(self, job: Job, batch: list[Member], run_lock: threading.Lock) -> None:
        """On the model's lane: the members still waiting run as one call; each gets its own result
        or the call's failure. A batch that runs out of memory runs its members one by one."""
        import torch

        model_id = job.model_id
        batching = self.slots.spec(model_id).task.batching
        assert batching is not None
        try:
            live = [member for member in batch if not member.gone()]
            if not live:
                return
            model = self.slots.model(model_id)
            with tracking(job), torch.inference_mode():
                try:
                    results = self._batch_results(model, batching, live)
                except torch.OutOfMemoryError as exc:
                    if len(live) < 2:
                        raise
                    self.residency.release_cached_memory()
                    log.warning("%s ran out of memory on a batch of %d; running them one by one: %s",
                                model_id, len(live), exc)
                    results = [self._batch_results(model, batching, [member])[0] for member in live]
            for member, result in zip(live, results, strict=True):
                member.succeed(result)
        except Exception as exc:
            failure = self._failure(model_id, exc)
            for member in batch:
                member.fail(failure)
        finally:
            for member in batch:  # left before the batch ran: nobody reads it, but nobody hangs
                if not member.done.is_set():
                    member.fail(Cancelled("it left before its batch ran"))
            self.slots.unpin(model_id)
            run_lock.release()

    def _batch_results(self, model: Any, batching: Batching, members: list[Member]) -> list[Any]:
        handler = self.slots.spec(members[0].model_id).task.handler
        if len(members) == 1:
            return [handler(model, members[0].inputs, members[0].params)]
        return batching.run(model, [member.inputs for member in members], [member.params for member in members])

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
