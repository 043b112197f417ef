"""A group replica's half, without Ray: one runtime for the group's models, answering in bytes.

The ingress sends a request as it came (`RawRequest`) plus the bytes of the resources it names
(read where public/ is); the worker decodes, admits, runs and encodes with the same
`RequestPipeline` and `LocalExecutor` as the single-process server, and sends back an `Encoded` answer whose files
are still bytes (a streamed answer: its parts, encoded, as they are made, then its end). It never
writes public/ and never reads it: GPU machines need no shared folder.
A request carries the ingress's request id; the worker lists the ids it serves in its reports, so
the ingress can tell when a request it cancelled has left the group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from models_server.catalog import ModelSpec
from models_server.config import Settings
from models_server.engines.startup import load_tier
from models_server.errors import BadInput, ServerError
from models_server.media.outputs import OutputStore
from models_server.pipeline.executor import LocalExecutor
from models_server.pipeline.fields import FieldDecoder
from models_server.pipeline.request import RequestPipeline
from models_server.pipeline.streaming import PartEncoding
from models_server.progress import CancelToken, cancellable, streaming
from models_server.protocols.base import Encoded, RawRequest
from models_server.runtime import Runtime, SlotView
from models_server.runtime.cancellation import Cancellations
from models_server.runtime.devices import Placement

log = logging.getLogger(__name__)


class ShippedResources:
    """A `ResourceSource` over the bytes the ingress read for this request, by reference."""

    def __init__(self, resources: dict[str, bytes]) -> None:
        self.resources = resources

    def read(self, ref: str, field: str) -> bytes:
        data = self.resources.get(ref) if isinstance(ref, str) else None
        if data is None:  # the ingress reads every reference a media field names, so only a bug lands here
            raise BadInput(f"field '{field}': the resource was not sent along with the request")
        return data


@dataclass(frozen=True, kw_only=True)
class SlotReport:
    """A `SlotView` as it crosses processes: plain values, the spec stays behind (the ingress has it)."""

    state: str
    reason: str | None
    placement: Placement
    bytes: int
    queue: int
    running: bool
    last_used: float | None
    load_seconds: float | None
    progress: tuple[int, int] | None
    last_error: str | None = None
    keep_alive: float | None = None  # seconds idle before the replica unloads it, -1 never
    expires_in: float | None = None  # None: not counting down (never, not loaded, or in use)

    @classmethod
    def of(cls, view: SlotView, keep_alive: Mapping[str, float | None] | None = None) -> SlotReport:
        keep_alive = keep_alive or {}
        return cls(state=view.state.value, reason=view.reason, placement=view.placement, bytes=view.bytes,
                   queue=view.queue, running=view.running, last_used=view.last_used,
                   load_seconds=view.load_seconds, progress=view.progress, last_error=view.last_error,
                   keep_alive=keep_alive.get("keep_alive"), expires_in=keep_alive.get("expires_in"))


@dataclass(frozen=True, kw_only=True)
class DeviceReport:
    device: str
    kind: str
    dtype_name: str


@dataclass(frozen=True)
class Failure:
    """A refusal (a `ServerError`) returned as a value: its status, message and headers cross intact."""

    error: ServerError


Action = Literal["load", "unload", "reload"]


@dataclass(frozen=True, kw_only=True)
class ModelAsk:
    """A person's load, unload or reload of a model, for every replica of its group; generations
    count the asks per model, so a replica carries out each at most once."""

    action: Action
    generation: int
    asked_at: float  # wall clock: a replica whose process started later owes it nothing (it starts from the config)
    keep_alive: float | None = None  # a load's


@dataclass(frozen=True, kw_only=True)
class AskOutcome:
    generation: int  # the latest ask of the model this replica has carried out
    failure: Failure | None = None


@dataclass(frozen=True, kw_only=True)
class GroupReport:
    """One replica's state, posted to the ingress every `ray.status_interval`."""

    group: str
    replica: str
    node: str  # Ray's id of the node the replica runs on
    pid: int
    slots: dict[str, SlotReport]
    device: DeviceReport
    resident: dict[str, int] = field(default_factory=dict)
    started: float = 0.0  # wall clock, when the replica's runtime was made (before it loaded anything)
    outcomes: dict[str, AskOutcome] = field(default_factory=dict)
    requests: frozenset[str] = frozenset()  # ids of the requests it serves (queued or running)


def group_settings(settings: Settings, models: tuple[str, ...], max_gpu_memory: int | None,
                   max_cpu_memory: int | None) -> Settings:
    """The settings a group's runtime runs with: its own budgets, overrides of its models only."""
    return settings.model_copy(update={
        "models": {model_id: override for model_id, override in settings.models.items() if model_id in models},
        "max_gpu_memory": max_gpu_memory if max_gpu_memory is not None else settings.max_gpu_memory,
        "max_cpu_memory": max_cpu_memory if max_cpu_memory is not None else settings.max_cpu_memory,
    })


class GroupWorker:
    def __init__(self, name: str, replica: str, node: str, settings: Settings, rows: list[ModelSpec]) -> None:
        self.name = name
        self.replica = replica
        self.node = node
        self.started = time.time()
        self.runtime = Runtime(settings, rows)
        self.limits = settings.limits
        self.store = OutputStore(settings.public_dir)  # never written: `answer` stops before delivery
        self.in_flight = Cancellations()
        self._outcomes: dict[str, AskOutcome] = {}
        self._outcomes_lock = threading.Lock()
        self._asks: dict[Action, Callable[[str, ModelAsk], None]] = {
            "load": self._load, "unload": self._unload, "reload": self._reload}

    def start(self) -> None:
        """Load on a background thread, as the single-process server does (lean imports, pools, trim),
        and unload models idle past their keep-alive."""
        threading.Thread(target=load_tier, args=(self.runtime,), name="model-loader", daemon=True).start()
        self.runtime.keep_alive.start()

    def answer(self, request: RawRequest, resources: dict[str, bytes], cancel: CancelToken | None = None,
               send: Callable[[bytes], None] | None = None) -> Encoded | Failure:
        """The encoded answer, or the refusal; `cancel` stops it while it waits for its model's
        turn or at its handler's next step or chunk, as in one process. With `send`, a call that
        streams hands it each part, encoded, as the model makes it; the answer is then the
        stream's end, encoded by the same encoder (it knows what the parts carried)."""
        executor = LocalExecutor(self.runtime, FieldDecoder(ShippedResources(resources), self.limits))
        pipeline = RequestPipeline(self.runtime, executor, self.store)
        parts = PartEncoding(send) if send is not None else None
        try:
            with contextlib.ExitStack() as scope:
                if cancel is not None:
                    scope.enter_context(self.in_flight.tracked(cancel))
                    scope.enter_context(cancellable(cancel))
                if parts is not None:
                    scope.enter_context(streaming(parts.receive))
                return pipeline.answer(request, parts.announce if parts is not None else None)
        except ServerError as exc:
            return Failure(exc)

    def report(self) -> GroupReport:
        devices = self.runtime.devices
        return GroupReport(
            group=self.name, replica=self.replica, node=self.node, pid=os.getpid(),
            slots={model_id: SlotReport.of(view, self.runtime.keep_alive_status(view))
                   for model_id, view in self.runtime.views().items()},
            device=DeviceReport(device=devices.device, kind=devices.kind, dtype_name=devices.dtype_name),
            resident=self.runtime.resident_bytes(),
            started=self.started,
            outcomes=self.outcomes(),
            requests=frozenset(self.in_flight.ids()),
        )

    def outcomes(self) -> dict[str, AskOutcome]:
        with self._outcomes_lock:
            return dict(self._outcomes)

    def carry_out(self, model_id: str, ask: ModelAsk) -> None:
        """Load, unload or reload the model as asked; the outcome goes out with the next reports."""
        try:
            self._asks[ask.action](model_id, ask)
            outcome = AskOutcome(generation=ask.generation)
        except ServerError as exc:
            outcome = AskOutcome(generation=ask.generation, failure=Failure(exc))
        with self._outcomes_lock:
            self._outcomes[model_id] = outcome

    def _load(self, model_id: str, ask: ModelAsk) -> None:
        self.runtime.load(model_id, ask.keep_alive)

    def _unload(self, model_id: str, ask: ModelAsk) -> None:
        self.runtime.unload(model_id)

    def _reload(self, model_id: str, ask: ModelAsk) -> None:
        self.runtime.reload(model_id)


class ReportPusher:
    """A replica's side of the ingress's `ReportBoard`: post the report every `interval`, and
    carry out the loads, unloads and reloads the answer names, one at a time on their own thread,
    so that the reports (a load's `loading` among them) go on meanwhile."""

    def __init__(self, worker: GroupWorker, post: Callable[[GroupReport], dict[str, ModelAsk]],
                 interval: float) -> None:
        self.worker = worker
        self.post = post
        self.interval = interval
        self.stopped = threading.Event()
        self._due = threading.Event()  # post now: an ask was carried out, or a cancelled request left
        self._asks: queue.Queue[tuple[str, ModelAsk]] = queue.Queue()
        self._queued: dict[str, int] = {}  # model -> the newest generation queued; read and written by _post_loop

    def start(self) -> None:
        threading.Thread(target=self._post_loop, name="report-poster", daemon=True).start()
        threading.Thread(target=self._ask_loop, name="model-asks", daemon=True).start()

    def post_soon(self) -> None:
        """Post the next report now rather than at the next interval."""
        self._due.set()

    def _post_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                wanted = self.post(self.worker.report())
            except Exception as exc:  # the ingress not up yet, or restarting: the next post may reach it
                log.debug("posting the report failed: %s", exc)
                wanted = {}
            for model_id, ask in wanted.items():
                if ask.generation > self._queued.get(model_id, 0):
                    self._queued[model_id] = ask.generation
                    self._asks.put((model_id, ask))
            self._due.wait(self.interval)
            self._due.clear()

    def _ask_loop(self) -> None:
        while not self.stopped.is_set():
            model_id, ask = self._asks.get()
            if ask.generation < self._queued.get(model_id, 0):
                continue  # a newer ask of the model is queued behind this one: the latest wins
            self.worker.carry_out(model_id, ask)
            self._due.set()
