"""The ingress's half, without Ray: a runtime façade over the groups, and an executor that ships.

`ClusterRuntime` answers what the Flask app, metrics and the status page ask a runtime (the
`RuntimeView`: `views`, `view`, `resolve`, `devices`, `resident_bytes`, `load`, `unload`,
`reload`, `keep_alive_status`) from a merged view of the replicas' reports, which a poller
replaces as a whole every `ray.status_interval`: reading it never waits on a replica. A load,
unload or reload reaches every replica of the model's group through the `ReportBoard`, and its
answer's reports go into the view at once. A model whose group has no live replica is `loading`
(starting, restarting) or `failed` with the reason (Ray's, or the resources its group asks for
and the cluster's).

`GroupExecutor` is the `RequestPipeline`'s executor at the ingress: the pipeline decodes the
protocol here, the executor reads the resources the request names (public/ is here) and sends
request and bytes to the group, and the pipeline delivers the encoded answer — writing public/ is
done here only. The request's cancel token goes along: the group client stops the request in the
group when it is cancelled here (by DELETE /admin/requests/<id>, or its client leaving).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from models_server.catalog import ModelSpec, build_catalog
from models_server.config import Settings
from models_server.engines.ray.board import ReportBoard
from models_server.engines.ray.grouping import GroupPlan
from models_server.engines.ray.worker import Action, DeviceReport, Failure, GroupReport, SlotReport
from models_server.errors import NotFound, NotReady, ServerError
from models_server.kinds import KINDS
from models_server.media.outputs import OutputStore
from models_server.media.resources import ResourceReader
from models_server.pipeline.request import RequestPipeline
from models_server.progress import CancelToken, request_token
from models_server.protocols.base import Call, Encoded, RawRequest
from models_server.runtime import SlotView, State
from models_server.runtime.batches import batch_limits
from models_server.runtime.device_memory import DeviceMemory, ReplicaMemory, device_memory
from models_server.tasks.base import Task

log = logging.getLogger(__name__)


class GroupClient(Protocol):
    """How the ingress reaches one group's replicas (the Ray layer implements it)."""

    def answer(self, request: RawRequest, resources: dict[str, bytes],
               cancel: CancelToken | None = None) -> Encoded | Failure:
        """The group's answer; once `cancel` is cancelled, the request is stopped in the group,
        and the call returns once it has left the group (or raises Cancelled)."""


@dataclass(frozen=True, kw_only=True)
class GroupCondition:
    """A group as the poller last saw it: its live replicas' reports, else why none is live."""

    reports: tuple[GroupReport, ...] = ()
    state: State = State.LOADING
    reason: str | None = None

    @property
    def live(self) -> bool:
        return bool(self.reports)


def condition_without_replica(plan: GroupPlan, without_for: float, deadline: float, ray_status: str | None,
                              ray_message: str | None, cluster_total: Mapping[str, float],
                              cluster_free: Mapping[str, float], was_live: bool = False) -> GroupCondition:
    """Why a group has no live replica, as a model's state: failed when Ray gave up on it, or when
    it has had none for `deadline` s (since the deploy, or since it lost its last one), naming what
    it asks for and what the cluster has; else loading (starting, or Ray is restarting it)."""
    said = f" (Ray: {ray_status}{': ' + ray_message if ray_message else ''})" if ray_status else ""
    if ray_status in ("DEPLOY_FAILED", "UNHEALTHY"):
        return GroupCondition(state=State.FAILED, reason=f"group {plan.name} has no live replica{said}")
    if without_for > deadline:
        asked = _resources_text(plan.resources())
        missing = [name for name, amount in plan.resources().items() if amount > cluster_total.get(name, 0.0)]
        lacking = f"; the cluster has no {', '.join(missing)} at all" if missing else ""
        return GroupCondition(state=State.FAILED, reason=(
            f"group {plan.name} got no running replica within ray.deploy_timeout ({deadline:g}s): "
            f"each replica asks for {asked}; the cluster has {_resources_text(cluster_total)} in total, "
            f"{_resources_text(cluster_free)} free{lacking}{said}"))
    if was_live:
        return GroupCondition(state=State.LOADING,
                              reason=f"group {plan.name} lost its replica; Ray is starting another{said}")
    return GroupCondition(state=State.LOADING, reason=f"group {plan.name} is starting{said}")


def _resources_text(resources: Mapping[str, float]) -> str:
    shown = {name: amount for name, amount in resources.items()
             if not name.startswith("node:") and name not in ("memory", "object_store_memory")}
    return "{" + ", ".join(f"{name}: {amount:g}" for name, amount in sorted(shown.items())) + "}"


_STATE_RANK = {State.LOADED: 0, State.NOT_LOADED: 1, State.LOADING: 2, State.FAILED: 3, State.DISABLED: 4}


def merge_slot(spec: ModelSpec, reports: Iterable[SlotReport], devices: MergedDevices | None = None) -> SlotView:
    """One model over its group's replicas: the best state any has, queues summed."""
    reports = list(reports)
    best = min(reports, key=lambda report: _STATE_RANK[State(report.state)])
    progress = next((report.progress for report in reports if report.progress is not None), None)
    used = [report.last_used for report in reports if report.last_used is not None]
    latest_first = sorted(reports, key=lambda report: report.last_used or 0.0, reverse=True)
    last_error = next((report.last_error for report in latest_first if report.last_error), None)
    return SlotView(spec=spec, state=State(best.state), reason=best.reason, placement=best.placement,
                    bytes=best.bytes, queue=sum(report.queue for report in reports),
                    running=any(report.running for report in reports), last_used=max(used) if used else None,
                    load_seconds=best.load_seconds, progress=progress, replicas=len(reports), devices=devices,
                    last_error=last_error)


def merge_keep_alive(reports: list[SlotReport]) -> dict[str, float | None]:
    """A model's keep-alive over its group's replicas: each is asked the same; it expires when the
    last replica holding it would unload it (None while any of them is not counting down)."""
    if not reports or reports[0].keep_alive is None:
        return {}
    counting = [report.expires_in for report in reports if report.state == State.LOADED.value]
    expires_in = None if not counting or None in counting else max(value for value in counting if value is not None)
    return {"keep_alive": reports[0].keep_alive, "expires_in": expires_in}


def unloaded_view(spec: ModelSpec, state: State, reason: str, replicas: int | None = None) -> SlotView:
    """A model no live replica reports: nothing resident, nothing queued."""
    return SlotView(spec=spec, state=state, reason=reason, placement="unloaded", bytes=0, queue=0, running=False,
                    last_used=None, load_seconds=None, progress=None, replicas=replicas)


@dataclass(frozen=True, kw_only=True)
class MergedDevices:
    """What `status_body` reads of a runtime's devices; over groups on different devices, the
    list of them (a model's own group may be on any of them)."""

    device: str
    kind: str
    dtype_name: str

    @classmethod
    def of(cls, reports: list[DeviceReport], fallback: Settings) -> MergedDevices:
        if not reports:
            return cls(device=fallback.device, kind="gpu" if fallback.device.startswith("cuda") else "cpu",
                       dtype_name=fallback.dtype)

        def joined(values: Iterable[str]) -> str:
            return ",".join(dict.fromkeys(values))

        kinds = [report.kind for report in reports]
        return cls(device=joined(report.device for report in reports), kind="gpu" if "gpu" in kinds else "cpu",
                   dtype_name=joined(report.dtype_name for report in reports))


class ClusterRuntime:
    """The runtime the ingress's Flask app reads: every field from the last merged snapshot."""

    def __init__(self, settings: Settings, rows: list[ModelSpec], plans: list[GroupPlan],
                 clients: Mapping[str, GroupClient], board: ReportBoard) -> None:
        self.settings = settings
        self.rows = rows
        self.catalog = build_catalog(rows)
        self._batch_limits = batch_limits(settings, rows)
        self.plans = {plan.name: plan for plan in plans}
        self.group_of = {model_id: plan.name for plan in plans for model_id in plan.models}
        self.clients = clients
        self.board = board
        self.conditions: dict[str, GroupCondition] = {name: GroupCondition() for name in self.plans}
        self._seen_at: dict[str, float] = {}  # group -> when the board was read for its condition
        self._snapshot = self._merge(self.conditions)
        self._lock = threading.Lock()  # writers only (poller, asks); readers take the snapshot as is

    # -- the snapshot ----------------------------------------------------------------------

    def update(self, conditions: Mapping[str, GroupCondition], seen_at: float | None = None) -> None:
        """Replace the groups' conditions (the poller, an ask's answer); readers see the old snapshot
        or the new one. `seen_at` (monotonic): when the board was read for them; a group's condition
        read before the one it has now is dropped, so a slow poll cannot undo an ask's answer."""
        seen_at = time.monotonic() if seen_at is None else seen_at
        with self._lock:
            newer = {name: condition for name, condition in conditions.items()
                     if seen_at >= self._seen_at.get(name, float("-inf"))}
            self._seen_at.update({name: seen_at for name in newer})
            self.conditions = {**self.conditions, **newer}
            self._snapshot = self._merge(self.conditions)

    def _merge(self, conditions: Mapping[str, GroupCondition]) -> _Snapshot:
        views: dict[str, SlotView] = {}
        keep_alive: dict[str, dict[str, float | None]] = {}
        group_devices = {name: MergedDevices.of([report.device for report in condition.reports], self.settings)
                         for name, condition in conditions.items()}
        for row in self.rows:
            group = self.group_of.get(row.id)
            if group is None:
                views[row.id] = unloaded_view(row, State.DISABLED, self._unserved_reason(row))
                continue
            condition = conditions[group]
            reports = [report.slots[row.id] for report in condition.reports if row.id in report.slots]
            if reports:
                views[row.id] = merge_slot(row, reports, group_devices[group])
                keep_alive[row.id] = merge_keep_alive(reports)
            else:
                views[row.id] = unloaded_view(row, condition.state, condition.reason or f"group {group} is starting",
                                              replicas=0)
        resident: dict[str, int] = {}
        devices = []
        for condition in conditions.values():
            for report in condition.reports:
                devices.append(report.device)
                for placement, size in report.resident.items():
                    resident[placement] = resident.get(placement, 0) + size
        return _Snapshot(views=views, resident=resident, devices=MergedDevices.of(devices, self.settings),
                         keep_alive=keep_alive)

    def _unserved_reason(self, row: ModelSpec) -> str:
        if not row.in_tier(self.settings.tier):
            return f"in tier {row.tier}; this server runs tier {self.settings.tier}"
        return "disabled in the config"

    # -- what the app reads ----------------------------------------------------------------

    def resolve(self, model_id: str) -> str:
        spec = self.catalog.get(model_id)
        if spec is None:
            raise NotFound(f"model {model_id!r} is not served here; GET /status lists the models")
        return spec.id

    def batch_limit(self, model_id: str) -> int:
        return self._batch_limits.get(model_id, 1)

    def view(self, model_id: str) -> SlotView:
        return self._snapshot.views[self.resolve(model_id)]

    def views(self) -> dict[str, SlotView]:
        return dict(self._snapshot.views)

    def resident_bytes(self) -> dict[str, int]:
        return dict(self._snapshot.resident)

    def memory(self) -> dict[str, DeviceMemory]:
        """The replicas' models' bytes, their GPU weights together as "cuda" (on whichever cards)."""
        return device_memory(self.resident_bytes(), "cuda" if self.devices.kind == "gpu" else "cpu", ReplicaMemory())

    @property
    def devices(self) -> MergedDevices:
        return self._snapshot.devices

    @property
    def device(self) -> str:
        return self._snapshot.devices.device

    def reload(self, model_id: str) -> SlotView:
        """Reload on every live replica of the model's group; the first refusal is the answer."""
        model_id = self.resolve(model_id)
        self.refuse_unless_live(model_id)
        reports = self._ask(model_id, "reload")
        slots = [report.slots[model_id] for report in reports]
        failed = [slot for slot in slots if slot.state == State.FAILED.value]
        devices = MergedDevices.of([report.device for report in reports], self.settings)
        return merge_slot(self.catalog[model_id], failed or slots, devices)  # a replica it failed on shows

    def load(self, model_id: str, keep_alive: float | None = None) -> SlotView:
        """Load on every live replica of the model's group, within each one's budgets."""
        self._ask(model_id, "load", keep_alive)
        return self.view(model_id)

    def unload(self, model_id: str) -> SlotView:
        """Unload on every live replica of the model's group, once its requests there are done."""
        self._ask(model_id, "unload")
        return self.view(model_id)

    def _ask(self, model_id: str, action: Action, keep_alive: float | None = None) -> list[GroupReport]:
        """Carry the ask out on every live replica of the model's group; the reports they posted
        after it are in the view when this returns. A refusal on any replica is the answer."""
        model_id = self.resolve(model_id)
        group = self.group_of.get(model_id)
        if group is None:
            view = self.view(model_id)
            raise NotReady(f"model {model_id} is disabled: {view.reason}", state=view.state.value)
        if not self.conditions[group].live:
            view = self.view(model_id)
            raise NotReady(f"model {model_id} is {view.state.value}: {view.reason}", state=view.state.value)
        # the replica's own wait (an unload's for its requests, a load's turn) ends first
        reports = self.board.ask(group, model_id, action, self.settings.limits.request_timeout + 30, keep_alive)
        self.update({group: GroupCondition(reports=tuple(self.board.live(group)))})
        for report in reports:
            outcome = report.outcomes.get(model_id)
            if outcome is not None and outcome.failure is not None:
                raise outcome.failure.error
        return reports

    def keep_alive_status(self, view: SlotView) -> dict[str, float | None]:
        """`keep_alive` and `expires_in` as the group's replicas report them."""
        return dict(self._snapshot.keep_alive.get(view.spec.id, {}))

    def refuse_unless_live(self, model_id: str) -> None:
        """NotReady at once when the model's group has no live replica, or the model cannot serve."""
        view = self.view(model_id)
        if not view.servable:
            detail = f": {view.reason}" if view.reason else ""
            raise NotReady(f"model {model_id} is {view.state.value}{detail}", state=view.state.value)


@dataclass(frozen=True, kw_only=True)
class _Snapshot:
    views: dict[str, SlotView]
    resident: dict[str, int]
    devices: MergedDevices
    keep_alive: dict[str, dict[str, float | None]]


def ingress_pipeline(cluster: ClusterRuntime, settings: Settings) -> RequestPipeline:
    """The request pipeline of the ingress: decode and deliver here, run in the model's group."""
    reader = ResourceReader(settings.public_dir, settings.limits, allow_private=settings.allow_private_urls)
    return RequestPipeline(cluster, GroupExecutor(cluster, reader), OutputStore(settings.public_dir))


class GroupExecutor:
    """Run in the model's group: refused at once here when it has no live replica; the resources
    the request names are read here and travel with it."""

    def __init__(self, cluster: ClusterRuntime, reader: ResourceReader) -> None:
        self.cluster = cluster
        self.reader = reader

    def execute(self, model_id: str, task: Task, request: RawRequest, decode: Callable[[], Call]) -> Encoded:
        self.cluster.refuse_unless_live(model_id)  # before any fetch, as admission is in one process
        call = decode()
        resources = self.ship(call.task or task, call.body)
        cancel = request_token()
        if cancel is not None:  # cancelled while its resources were read: it need not reach the group
            cancel.raise_if_cancelled()
        outcome = self.cluster.clients[self.cluster.group_of[model_id]].answer(request, resources, cancel)
        if isinstance(outcome, Failure):
            raise outcome.error
        return outcome

    def ship(self, task: Task, body: dict[str, Any]) -> dict[str, bytes]:
        """The bytes of every resource the request names, by reference (bytes a raw body carries
        travel in the body). A reference that cannot be read is refused here, as it would be there."""
        resources: dict[str, bytes] = {}
        for field in (*task.inputs, *task.params):
            if KINDS[field.kind].api_part is None:
                continue
            raw = next((body[name] for name in (field.name, *field.aliases) if body.get(name) is not None), None)
            if raw is None or isinstance(raw, bytes):
                continue
            data = self.reader.read(raw, field.name)
            if isinstance(raw, str):
                resources[raw] = data
        return resources


class Poller:
    """Every `interval` s: ask `poll()` for the groups' conditions and hand them to the cluster."""

    def __init__(self, cluster: ClusterRuntime, poll: Callable[[], Mapping[str, GroupCondition]],
                 interval: float) -> None:
        self.cluster = cluster
        self.poll = poll
        self.interval = interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ray-status-poller", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                self.cluster.update(self.poll(), seen_at=started)
            except Exception:  # a poll that failed leaves the last snapshot; the next one may succeed
                log.exception("polling the groups failed")
            self.stopped.wait(max(0.0, self.interval - (time.monotonic() - started)))


def error_for(exc: BaseException, group: str) -> ServerError:
    """A Ray failure reaching a group, as the 503 a client can retry."""
    return NotReady(f"group {group} has no live replica right now ({type(exc).__name__}); retry shortly",
                    headers={"Retry-After": "5"}, state="loading")
