"""A group replica's half, without Ray: one runtime for the group's models, answering in bytes.

The ingress sends a request as it came (`RawRequest`) plus the bytes of the resources it names
(read where public/ is); the worker decodes, admits, runs and encodes with the same
`RequestPipeline` and `LocalExecutor` as the single-process server, and sends back an `Encoded` answer whose files
are still bytes. It never writes public/ and never reads it: GPU machines need no shared folder.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from models_server.catalog import ModelSpec
from models_server.config import Settings
from models_server.engines.startup import load_tier
from models_server.errors import BadInput, ServerError
from models_server.media.outputs import OutputStore
from models_server.pipeline.executor import LocalExecutor
from models_server.pipeline.fields import FieldDecoder
from models_server.pipeline.request import RequestPipeline
from models_server.protocols.base import Encoded, RawRequest
from models_server.runtime import Runtime, SlotView
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

    @classmethod
    def of(cls, view: SlotView) -> SlotReport:
        return cls(state=view.state.value, reason=view.reason, placement=view.placement, bytes=view.bytes,
                   queue=view.queue, running=view.running, last_used=view.last_used,
                   load_seconds=view.load_seconds, progress=view.progress, last_error=view.last_error)


@dataclass(frozen=True, kw_only=True)
class DeviceReport:
    device: str
    kind: str
    dtype_name: str


@dataclass(frozen=True)
class Failure:
    """A refusal (a `ServerError`) returned as a value: its status, message and headers cross intact."""

    error: ServerError


@dataclass(frozen=True, kw_only=True)
class ReloadOutcome:
    generation: int  # the latest reload generation of the model this replica has carried out
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
    reloads: dict[str, ReloadOutcome] = field(default_factory=dict)


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
        self._reloads: dict[str, ReloadOutcome] = {}
        self._reloads_lock = threading.Lock()

    def start(self) -> None:
        """Load on a background thread, as the single-process server does (lean imports, pools, trim)."""
        threading.Thread(target=load_tier, args=(self.runtime,), name="model-loader", daemon=True).start()

    def answer(self, request: RawRequest, resources: dict[str, bytes]) -> Encoded | Failure:
        executor = LocalExecutor(self.runtime, FieldDecoder(ShippedResources(resources), self.limits))
        pipeline = RequestPipeline(self.runtime, executor, self.store)
        try:
            return pipeline.answer(request)
        except ServerError as exc:
            return Failure(exc)

    def report(self) -> GroupReport:
        devices = self.runtime.devices
        return GroupReport(
            group=self.name, replica=self.replica, node=self.node, pid=os.getpid(),
            slots={model_id: SlotReport.of(view) for model_id, view in self.runtime.views().items()},
            device=DeviceReport(device=devices.device, kind=devices.kind, dtype_name=devices.dtype_name),
            resident=self.runtime.resident_bytes(),
            started=self.started,
            reloads=self.reloaded(),
        )

    def reloaded(self) -> dict[str, ReloadOutcome]:
        with self._reloads_lock:
            return dict(self._reloads)

    def reload(self, model_id: str, generation: int) -> None:
        """Carry out reload `generation` of a model; its outcome goes out with the next reports."""
        try:
            self.runtime.reload(model_id)
            outcome = ReloadOutcome(generation=generation)
        except ServerError as exc:
            outcome = ReloadOutcome(generation=generation, failure=Failure(exc))
        with self._reloads_lock:
            self._reloads[model_id] = outcome


class ReportPusher:
    """A replica's side of the ingress's `ReportBoard`: post the report every `interval`, and
    carry out the reloads the answer names, one at a time on their own thread, so that the
    reports (a reload's `loading` among them) go on meanwhile."""

    def __init__(self, worker: GroupWorker, post: Callable[[GroupReport], dict[str, int]], interval: float) -> None:
        self.worker = worker
        self.post = post
        self.interval = interval
        self.stopped = threading.Event()
        self._due = threading.Event()  # post now: a reload just finished
        self._reloads: queue.Queue[tuple[str, int]] = queue.Queue()
        self._queued: dict[str, int] = {}  # model -> the newest generation queued; read and written by _post_loop

    def start(self) -> None:
        threading.Thread(target=self._post_loop, name="report-poster", daemon=True).start()
        threading.Thread(target=self._reload_loop, name="reloader", daemon=True).start()

    def _post_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                wanted = self.post(self.worker.report())
            except Exception as exc:  # the ingress not up yet, or restarting: the next post may reach it
                log.debug("posting the report failed: %s", exc)
                wanted = {}
            for model_id, generation in wanted.items():
                if generation > self._queued.get(model_id, 0):
                    self._queued[model_id] = generation
                    self._reloads.put((model_id, generation))
            self._due.wait(self.interval)
            self._due.clear()

    def _reload_loop(self) -> None:
        while not self.stopped.is_set():
            model_id, generation = self._reloads.get()
            if generation < self._queued.get(model_id, 0):
                continue  # a newer reload of the model is queued behind this one: one load does
            self.worker.reload(model_id, generation)
            self._due.set()
