"""A group replica's half, without Ray: one runtime for the group's models, answering in bytes.

The ingress sends a request as it came (`RawRequest`) plus the bytes of the resources it names
(read where public/ is); the worker decodes, admits, runs and encodes with the same
`RequestPipeline` as the single-process server, and sends back an `Encoded` answer whose files
are still bytes. It never writes public/ and never reads it: GPU machines need no shared folder.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from models_server.catalog import ModelSpec
from models_server.config import Settings
from models_server.errors import BadInput, ServerError
from models_server.media.outputs import OutputStore
from models_server.pipeline.fields import FieldDecoder
from models_server.pipeline.protocols import Encoded, RawRequest
from models_server.pipeline.request import RequestPipeline
from models_server.runtime import Runtime, SlotView
from models_server.startup import load_tier


class ShippedResources:
    """A `ResourceSource` over the bytes the ingress read for this request, by reference."""

    def __init__(self, resources: dict[str, bytes]) -> None:
        self.resources = resources

    def read(self, ref: str, field: str) -> bytes:
        data = self.resources.get(ref) if isinstance(ref, str) else None
        if data is None:  # the ingress reads every reference a media field names, so only a bug lands here
            raise BadInput(f"field '{field}': the resource was not sent along with the request")
        return data


@dataclass(frozen=True)
class SlotReport:
    """A `SlotView` as it crosses processes: plain values, the spec stays behind (the ingress has it)."""

    state: str
    reason: str | None
    placement: str
    bytes: int
    queue: int
    running: bool
    last_used: float | None
    load_seconds: float | None
    progress: tuple[int, int] | None

    @classmethod
    def of(cls, view: SlotView) -> SlotReport:
        return cls(view.state.value, view.reason, view.placement, view.bytes, view.queue, view.running,
                   view.last_used, view.load_seconds, view.progress)


@dataclass(frozen=True)
class DeviceReport:
    device: str
    kind: str
    dtype_name: str


@dataclass(frozen=True)
class GroupReport:
    """One replica's state, polled by the ingress."""

    group: str
    replica: str
    node: str  # Ray's id of the node the replica runs on
    pid: int
    slots: dict[str, SlotReport]
    device: DeviceReport
    resident: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """A refusal (a `ServerError`) returned as a value: its status, message and headers cross intact."""

    error: ServerError


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
        self.runtime = Runtime(settings, rows)
        self.limits = settings.limits
        self.store = OutputStore(settings.public_dir)  # never written: `answer` stops before delivery

    def start(self) -> None:
        """Load on a background thread, as the single-process server does (lean imports, pools, trim)."""
        threading.Thread(target=load_tier, args=(self.runtime,), name="model-loader", daemon=True).start()

    def answer(self, request: RawRequest, resources: dict[str, bytes]) -> Encoded | Failure:
        pipeline = RequestPipeline(self.runtime, FieldDecoder(ShippedResources(resources), self.limits), self.store)
        try:
            return pipeline.answer(request)
        except ServerError as exc:
            return Failure(exc)

    def report(self) -> GroupReport:
        devices = self.runtime.devices
        return GroupReport(
            self.name, self.replica, self.node, os.getpid(),
            {model_id: SlotReport.of(view) for model_id, view in self.runtime.views().items()},
            DeviceReport(devices.device, devices.kind, devices.dtype_name),
            self.runtime.resident_bytes(),
        )

    def reload(self, model_id: str) -> dict[str, Any] | Failure:
        try:
            view = self.runtime.reload(model_id)
        except ServerError as exc:
            return Failure(exc)
        return {view.spec.id: SlotReport.of(view)}
