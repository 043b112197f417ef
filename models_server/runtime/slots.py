"""Every served model's slot, and the one lock under which any of its fields changes.

A slot's state, model, placement, queue count, pins and running job all change here, under
`SlotTable._lock`. Requests pin a slot before running on it and eviction claims its victims
under that same lock, so a model is never moved or unloaded while a request runs on it.
Readers (status, metrics, the page) get `SlotView`s: immutable snapshots, never live fields.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from models_server.catalog import ModelSpec
from models_server.errors import Busy, NotReady
from models_server.progress import Job
from models_server.runtime.devices import Placement
from models_server.runtime.eviction import Candidate


class State(StrEnum):
    LOADING = "loading"
    LOADED = "loaded"
    NOT_LOADED = "not_loaded"  # servable: loads on its first request (lazy, or moved out to make room)
    FAILED = "failed"
    DISABLED = "disabled"


SERVABLE = (State.LOADED, State.NOT_LOADED)


class DeviceFacts(Protocol):
    """Where a model runs, as `/status` shows it."""

    @property
    def device(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def dtype_name(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class SlotView:
    """A model's slot as it was at one instant."""

    spec: ModelSpec
    state: State
    reason: str | None
    placement: Placement
    bytes: int
    queue: int  # requests admitted and not finished: waiting, or running
    running: bool
    last_used: float | None
    load_seconds: float | None
    progress: tuple[int, int] | None  # (step, total) of the running request, when it reports any
    replicas: int | None = None  # on Ray, how many live replicas of its group hold this view
    devices: DeviceFacts | None = None  # on Ray, its own group's; else the runtime's
    last_error: str | None = None  # why the latest failed request failed, for the operator
    loaded_at: float | None = None  # wall-clock time of its last load, while loaded

    @property
    def idle_since(self) -> float | None:
        """When it last finished a request, or was loaded; None while it runs or waits for requests."""
        if self.queue or self.running or self.loaded_at is None:
            return None
        return max(self.last_used or 0.0, self.loaded_at)

    @property
    def servable(self) -> bool:
        return self.state in SERVABLE


@dataclass
class _Slot:
    spec: ModelSpec
    state: State
    reason: str | None = None
    model: Any = None
    placement: Placement = "unloaded"
    bytes: int = 0
    moved_down: bool = False  # moved off the GPU to make room: must go back before it runs
    moving: bool = False  # claimed by eviction: no request may pin it until the move is done
    queue: int = 0
    pins: int = 0
    last_used: float | None = None
    load_seconds: float | None = None
    loaded_at: float | None = None
    job: Job | None = None
    last_error: str | None = None
    run_lock: threading.Lock = field(default_factory=threading.Lock)

    def view(self) -> SlotView:
        job = self.job
        progress = (job.step, job.total) if job is not None and job.total else None
        return SlotView(spec=self.spec, state=self.state, reason=self.reason, placement=self.placement,
                        bytes=self.bytes, queue=self.queue, running=self.pins > 0, last_used=self.last_used,
                        load_seconds=self.load_seconds, progress=progress,
                        last_error=self.last_error,
                        loaded_at=self.loaded_at if self.model is not None else None)


class SlotTable:
    """The one owner of slot transitions."""

    def __init__(self, initial: Iterable[tuple[ModelSpec, State, str | None]]) -> None:
        self._lock = threading.Lock()
        self._unpinned = threading.Condition(self._lock)  # notified when a run ends or a request leaves
        self._slots = {spec.id: _Slot(spec, state, reason) for spec, state, reason in initial}

    # -- reading -------------------------------------------------------------------------

    def ids(self) -> list[str]:
        return list(self._slots)

    def view(self, model_id: str) -> SlotView:
        with self._lock:
            return self._slots[model_id].view()

    def views(self) -> dict[str, SlotView]:
        with self._lock:
            return {model_id: slot.view() for model_id, slot in self._slots.items()}

    def spec(self, model_id: str) -> ModelSpec:
        """The model's catalog row: fixed for the slot's life, so read without a snapshot."""
        return self._slots[model_id].spec

    def model(self, model_id: str) -> Any:
        return self._slots[model_id].model

    def moved_down(self, model_id: str) -> bool:
        return self._slots[model_id].moved_down

    def run_lock(self, model_id: str) -> threading.Lock:
        return self._slots[model_id].run_lock

    def residency_key(self) -> tuple[tuple[str, float | None, Placement], ...]:
        """Which models are resident, from which load, placed where: it changes whenever a model
        loads, moves or leaves, so what is computed from their tensors can be kept until it does."""
        with self._lock:
            return tuple((model_id, slot.loaded_at, slot.placement)
                         for model_id, slot in self._slots.items() if slot.model is not None)

    def resident(self) -> dict[str, Any]:
        """id -> model of every slot holding one."""
        with self._lock:
            return {model_id: slot.model for model_id, slot in self._slots.items() if slot.model is not None}

    # -- admission -----------------------------------------------------------------------

    def enter(self, model_id: str, limit: int) -> None:
        """Count a request in, or refuse it: the model cannot serve, or `limit` are already in."""
        with self._lock:
            slot = self._slots[model_id]
            if slot.state not in SERVABLE:
                detail = f": {slot.reason}" if slot.reason else ""
                raise NotReady(f"model {model_id} is {slot.state.value}{detail}", state=slot.state.value)
            if slot.queue >= limit:
                raise Busy(f"model {model_id} has {slot.queue} requests queued (limit max_queue_per_model)",
                           headers={"Retry-After": "5"}, state=slot.state.value)
            slot.queue += 1

    def leave(self, model_id: str) -> None:
        with self._lock:
            slot = self._slots[model_id]
            slot.queue -= 1
            slot.last_used = time.time()
            self._unpinned.notify_all()

    def pin_if_ready(self, model_id: str, job: Job) -> bool:
        """Pin a loaded, in-place model for a run; False when it must be loaded or moved back
        first, or is being moved (the caller then waits for the residency lock, which the move holds)."""
        with self._lock:
            slot = self._slots[model_id]
            if slot.state is not State.LOADED or slot.moved_down or slot.moving:
                return False
            slot.pins, slot.job = slot.pins + 1, job
            return True

    def unpin(self, model_id: str) -> None:
        with self._lock:
            slot = self._slots[model_id]
            slot.pins -= 1
            slot.job = None
            self._unpinned.notify_all()

    def wait_for_unpin(self, other_than: str, timeout: float) -> bool:
        """Wait until a busy model finishes a run, or `timeout`; False at once, without waiting,
        when no model but `other_than` is busy, as then waiting changes nothing."""
        with self._lock:
            if not any(slot.pins for model_id, slot in self._slots.items() if model_id != other_than):
                return False
            self._unpinned.wait(timeout)
            return True

    def wait_idle(self, model_id: str, timeout: float) -> bool:
        """Wait until no request is queued for or running on the model; False if `timeout` passes first."""
        with self._lock:
            slot = self._slots[model_id]
            return self._unpinned.wait_for(lambda: not slot.queue and not slot.pins, timeout)

    def claim_idle(self, model_id: str) -> bool:
        """Claim an idle model for unloading, as eviction claims its victims; False when a request
        is queued or running, or a move has it. True (nothing claimed) when it holds no model."""
        with self._lock:
            slot = self._slots[model_id]
            if slot.model is None:
                return True
            if slot.queue or slot.pins or slot.moving:
                return False
            slot.moving = True
            return True

    # -- loading -------------------------------------------------------------------------

    def loading(self, model_id: str) -> None:
        self._set(model_id, state=State.LOADING, reason=None)

    def loaded(self, model_id: str, model: Any, seconds: float) -> None:
        self._set(model_id, model=model, state=State.LOADED, reason=None, load_seconds=seconds, moved_down=False,
                  loaded_at=time.time())

    def failed(self, model_id: str, reason: str) -> None:
        self._set(model_id, state=State.FAILED, reason=reason, model=None, placement="unloaded", bytes=0,
                  moved_down=False)

    def request_failed(self, model_id: str, reason: str) -> None:
        """A request raised in the model's handler; the model itself stays as it is."""
        self._set(model_id, last_error=reason)

    def measured(self, model_id: str, size: int, placement: Placement) -> None:
        self._set(model_id, bytes=size, placement=placement)

    def set_state(self, model_id: str, state: State, reason: str | None = None) -> None:
        self._set(model_id, state=state, reason=reason)

    # -- residency -----------------------------------------------------------------------

    def claim_victims(self, freed_bytes: Mapping[str, int], protect: str | None,
                      choose: Callable[[list[Candidate]], list[str] | None]) -> list[str] | None:
        """Choose idle models to move down and mark them moving, in one step under the lock.

        A model queued, running or `protect`ed is busy: never chosen. None when the idle ones
        cannot free enough; nothing is claimed then.
        """
        with self._lock:
            candidates = [
                Candidate(model_id=model_id, last_used=slot.last_used or 0.0,
                          busy=slot.queue > 0 or slot.pins > 0 or model_id == protect,
                          freed_bytes=freed_bytes.get(model_id, 0))
                for model_id, slot in self._slots.items() if slot.model is not None and not slot.moving
            ]
            victims = choose(candidates)
            for model_id in victims or ():
                self._slots[model_id].moving = True
            return victims

    def unclaim(self, model_id: str) -> None:
        """A claimed move that failed: the model stays where it is, and may run again."""
        self._set(model_id, moving=False)

    def moved(self, model_id: str, placement: Placement, moved_down: bool) -> None:
        self._set(model_id, placement=placement, moved_down=moved_down, moving=False)

    def unloaded(self, model_id: str) -> None:
        """The model is gone (evicted or unloaded for a reload): servable again by loading it."""
        self._set(model_id, model=None, placement="unloaded", moved_down=False, moving=False, state=State.NOT_LOADED)

    def _set(self, model_id: str, **changes: Any) -> None:
        with self._lock:
            slot = self._slots[model_id]
            for name, value in changes.items():
                setattr(slot, name, value)
