"""Each model's queue of requests at the HTTP layer: waiting holds no thread, load is shed by expected wait.

The guarded server knows a request's model from its path (`POST /models/<id>`, an alias
resolved to its served id) before the app runs. Such a request waits in its model's queue,
holding no work thread, and goes to one only when its model can take it: as many at once as the
model runs in parallel (one here; its live replicas on Ray), plus one whose inputs are read
meanwhile; for a model that runs batches (`diffusion.max_batch`), that many batches' worth, so
that a whole next batch is read and waiting when the model's turn comes. A flood on one model so
occupies at most that many threads; every other model's requests go to theirs as if it were not
there.

A request is refused (503, Retry-After saying when it would fit) only when the work ahead of it
cannot finish within `request_timeout`, or when its client's own work on that model would pass
`CLIENT_SHARE` of it, so that one client cannot fill a model's queue. Work is estimated from the
model's own recent service time (`ServiceTimes`): how long each answered request held the model,
from its start or the model's previous answer, whichever is later (the members of a batch,
answered together, give its time and about zero each: their mean is its time per request). A
request started beside a running one first waits for the model's turn, which is the other's
time, not its own; on replicas, this is the time between answers, so the queue's length times it
is the wait. Before a model has answered once there is no estimate and nothing is refused. A
request still waiting at its deadline is answered 504.
OpenAI's routes name their model in the body: the server reads it first (body_models.py), then
queues the request here by `model_named`, in the same queue as `POST /models/<id>`.
Requests naming no model (other routes, unknown ids) are not queued here.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from models_server.errors import NotFound
from models_server.runtime import RuntimeView

T = TypeVar("T")
MODEL_PATH = "/models/"
CLIENT_SHARE = 0.5  # of request_timeout: the most of a model's queue one client address may hold
SMOOTHING = 0.3  # weight of the newest service time in a model's estimate


class ServiceTimes:
    """Each model's recent service time: an exponentially weighted mean over its answered requests'."""

    def __init__(self, smoothing: float = SMOOTHING) -> None:
        self.smoothing = smoothing
        self._means: dict[str, float] = {}
        self._lock = threading.Lock()  # one job: a read-modify-write of one mean at a time

    def record(self, model_id: str, seconds: float) -> None:
        with self._lock:
            mean = self._means.get(model_id)
            self._means[model_id] = seconds if mean is None else mean + self.smoothing * (seconds - mean)

    def estimate(self, model_id: str) -> float | None:
        """Seconds one request to the model is expected to take; None before it answered once."""
        return self._means.get(model_id)


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after: int  # seconds until the work ahead would fit, as now estimated


@dataclass
class _Waiting(Generic[T]):
    item: T
    client: str
    since: float


@dataclass
class _Queue(Generic[T]):
    waiting: collections.deque[_Waiting[T]] = field(default_factory=collections.deque)
    started: int = 0  # handed to a work thread, not finished
    last_finished: float | None = None  # when the model last finished a request
    clients: collections.Counter[str] = field(default_factory=collections.Counter)  # waiting or started


class ModelQueues(Generic[T]):
    """One queue per served model id; `T` is what the server queues (its connection)."""

    def __init__(self, resolve: Callable[[str], str | None], parallelism: Callable[[str], int],
                 deadline: float, times: ServiceTimes | None = None, client_share: float = CLIENT_SHARE,
                 aliases: Mapping[str, str] | None = None, batch: Callable[[str], int] = lambda model_id: 1) -> None:
        self.resolve = resolve
        self.batch = batch  # the most requests the model runs as one call
        self.aliases = aliases or {}  # names OpenAI's clients hard-code -> served id (the config's `aliases`)
        self.parallelism = parallelism
        self.deadline = deadline
        self.times = times or ServiceTimes()
        self.client_share = client_share
        self._queues: dict[str, _Queue[T]] = collections.defaultdict(_Queue)
        self._lock = threading.Lock()  # one job: every queue's fields change together under it

    @classmethod
    def for_runtime(cls, runtime: RuntimeView) -> ModelQueues[T]:
        """Queues keyed by `runtime`'s served ids, a model running on as many replicas as it has;
        the config's `aliases` name them too on OpenAI's routes."""
        def resolve(model_id: str) -> str | None:
            try:
                return runtime.resolve(model_id)
            except NotFound:
                return None

        def parallelism(model_id: str) -> int:
            return max(1, runtime.view(model_id).replicas or 1)

        return cls(resolve, parallelism, runtime.settings.limits.request_timeout, aliases=runtime.settings.aliases,
                   batch=runtime.batch_limit)

    def model_of(self, method: str, path: str) -> str | None:
        """The served id a request runs, when its path names one; None: not queued here."""
        if method != "POST" or not path.startswith(MODEL_PATH):
            return None
        return self.resolve(path[len(MODEL_PATH):])

    def model_named(self, name: str) -> str | None:
        """The served id a model name in an OpenAI body runs (an id, an alias, or one of the
        config's `aliases`), as the route resolves it; None: not queued here."""
        return self.resolve(self.aliases.get(name, name))

    # -- the server's side ------------------------------------------------------------------

    def offer(self, model_id: str, client: str, item: T, now: float) -> Refusal | None:
        """Queue `item`, or say why not; `ready` then hands out what may start."""
        service = self.times.estimate(model_id)
        with self._lock:
            queue = self._queues[model_id]
            if service is not None:
                ahead = (len(queue.waiting) + queue.started) * service
                over = ahead + service - self.deadline
                if over > 0:
                    return Refusal(f"model {model_id} is busy: the work queued for it takes about {ahead:.0f} s, "
                                   f"and this request would not finish within request_timeout "
                                   f"({self.deadline:g} s); retry later", _seconds(over))
                own = queue.clients[client] * service
                over = own + service - self.deadline * self.client_share
                if over > 0:
                    return Refusal(f"this client's requests already queued for model {model_id} take about "
                                   f"{own:.0f} s, its share of the queue ({self.client_share:.0%} of "
                                   f"request_timeout); retry once some are answered", _seconds(over))
            queue.waiting.append(_Waiting(item, client, now))
            queue.clients[client] += 1
        return None

    def ready(self, model_id: str) -> list[T]:
        """The queued items that may start now (each counted started until `finished`)."""
        capacity = (self.parallelism(model_id) + 1) * self.batch(model_id)
        with self._lock:
            queue = self._queues[model_id]
            starting = []
            while queue.waiting and queue.started < capacity:
                starting.append(queue.waiting.popleft().item)
                queue.started += 1
            return starting

    def finished(self, model_id: str, client: str, started: float, now: float, answered: bool) -> None:
        """A started item is over (monotonic `started` and `now`); an `answered` one (a 2xx) is a
        sample of the model's service time: how long it held the model."""
        with self._lock:
            queue = self._queues[model_id]
            queue.started -= 1
            _forget(queue, client)
            held_from = started if queue.last_finished is None else max(started, queue.last_finished)
            queue.last_finished = now
        if answered:
            self.times.record(model_id, now - held_from)

    def sweep(self, now: float, gone: Callable[[T], bool]) -> list[T]:
        """Drop the waiting items that are `gone`, and remove and return those waiting past the deadline."""
        overdue: list[T] = []
        with self._lock:
            for queue in self._queues.values():
                kept: collections.deque[_Waiting[T]] = collections.deque()
                for waiting in queue.waiting:
                    if gone(waiting.item):
                        _forget(queue, waiting.client)
                    elif now - waiting.since > self.deadline:
                        _forget(queue, waiting.client)
                        overdue.append(waiting.item)
                    else:
                        kept.append(waiting)
                queue.waiting = kept
        return overdue

    def clear(self) -> list[T]:
        """Remove and return every waiting item (the server is stopping)."""
        with self._lock:
            items = [waiting.item for queue in self._queues.values() for waiting in queue.waiting]
            for queue in self._queues.values():
                for waiting in queue.waiting:
                    _forget(queue, waiting.client)
                queue.waiting.clear()
        return items

    # -- readers ----------------------------------------------------------------------------

    def waiting(self) -> int:
        with self._lock:
            return sum(len(queue.waiting) for queue in self._queues.values())

    def estimated_wait(self, model_id: str) -> float | None:
        """Seconds the work ahead of a request arriving now is expected to take; None when some
        is ahead but the model has not answered yet (no estimate)."""
        with self._lock:
            queue = self._queues.get(model_id)
            ahead = len(queue.waiting) + queue.started if queue is not None else 0
        if not ahead:
            return 0.0
        service = self.times.estimate(model_id)
        return None if service is None else ahead * service


def _forget(queue: _Queue[T], client: str) -> None:
    queue.clients[client] -= 1
    if queue.clients[client] <= 0:
        del queue.clients[client]


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))
