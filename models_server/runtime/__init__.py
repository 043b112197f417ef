"""The runtime: loads the configured tier, keeps it within memory budgets, runs requests on it.

It owns every model's state and placement, the device and dtype, the shared components and
one lock per model. It knows nothing of HTTP: the app asks it for states and hands it
decoded inputs. Loads, moves and evictions happen one at a time under `_residency`.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from models_server.catalog import ModelSpec, build_catalog, catalog_rows
from models_server.config import Settings
from models_server.errors import (
    Busy,
    ConfigError,
    InferenceFailed,
    NotFound,
    NotReady,
    ServerError,
    TimedOut,
    WeightsMissing,
)
from models_server.lfs import lfs_pointer_reason
from models_server.progress import Job, tracking
from models_server.runtime import memory
from models_server.runtime.devices import dtype_name, resolve_device, resolve_dtype
from models_server.runtime.eviction import Candidate, choose_victims
from models_server.runtime.warmup import sample_request
from models_server.tasks.loading import LoadContext, SharedComponents
from models_server.weights import disk_bytes, weight_dirs

log = logging.getLogger(__name__)


class State(StrEnum):
    LOADING = "loading"
    LOADED = "loaded"
    NOT_LOADED = "not_loaded"  # servable: loads on its first request (lazy, or moved out to make room)
    FAILED = "failed"
    DISABLED = "disabled"


SERVABLE = (State.LOADED, State.NOT_LOADED)


@dataclass
class Slot:
    """One served model: its state, the loaded object, and the lock requests take in turn."""

    spec: ModelSpec
    state: State
    reason: str | None = None
    model: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    queue: int = 0
    last_used: float | None = None
    load_seconds: float | None = None
    placement: str = "unloaded"  # gpu | cpu | unloaded
    bytes: int = 0
    moved_down: bool = False  # moved off the GPU to make room: must go back before it runs
    job: Job | None = None


class Runtime:
    def __init__(self, settings: Settings, rows: list[ModelSpec] | None = None) -> None:
        rows = catalog_rows() if rows is None else rows
        self.settings = settings
        self.catalog = build_catalog(rows)
        unknown = sorted(set(settings.models) - set(self.catalog))
        if unknown:
            raise ConfigError(f"config key 'models.{unknown[0]}': no such model id in the catalog")
        self.device: str = settings.device
        self.dtype = None
        self.shared = SharedComponents()
        self._counters = threading.Lock()
        self._residency = threading.RLock()
        self._resolved = threading.Event()
        self.slots: dict[str, Slot] = {row.id: Slot(row, *self._initial_state(row)) for row in rows}

    def _initial_state(self, row: ModelSpec) -> tuple[State, str | None]:
        override = self.settings.override(row.id)
        if not row.in_tier(self.settings.tier):
            return State.DISABLED, f"in tier {row.tier}; this server runs tier {self.settings.tier}"
        if not override.enabled:
            return State.DISABLED, "disabled in the config"
        preload = (self.settings.preload and row.preload) if override.preload is None else override.preload
        if not preload:
            try:  # a lazy model whose weights are missing must not answer "loaded" now and fail later
                self._weight_dirs(row)
            except WeightsMissing as exc:
                return State.FAILED, str(exc)
            return State.NOT_LOADED, None
        return State.LOADING, None

    # -- loading -------------------------------------------------------------------------

    def start_loading(self) -> threading.Thread:
        """Load the tier on a background thread, so the port can open first."""
        thread = threading.Thread(target=self.load_all, name="model-loader", daemon=True)
        thread.start()
        return thread

    def load_all(self) -> None:
        if not self._resolve_device():
            return
        started = time.perf_counter()
        for slot in [slot for slot in self.slots.values() if slot.state is State.LOADING]:
            with self._residency:
                self._load(slot)
        loaded = sum(slot.state is State.LOADED for slot in self.slots.values())
        log.info("tier %s: %d models loaded in %.1fs", self.settings.tier, loaded, time.perf_counter() - started)

    def _resolve_device(self) -> bool:
        if self._resolved.is_set():
            return True
        _quiet_progress_bars()
        try:
            self.device = resolve_device(self.settings.device)
            self.dtype = resolve_dtype(self.settings.dtype, self.device)
        except RuntimeError as exc:
            for slot in self.slots.values():
                if slot.state in (State.LOADING, State.NOT_LOADED):
                    self._fail(slot, str(exc))
            return False
        self._resolved.set()
        return True

    def _weight_dirs(self, spec: ModelSpec):
        return weight_dirs(spec, self.settings)

    def _load(self, slot: Slot) -> None:
        """Load one model (caller holds `_residency`), making room first when a budget is set."""
        spec, started = slot.spec, time.perf_counter()
        slot.state, slot.reason = State.LOADING, None
        weight_dirs: tuple[Path, ...] = ()
        try:
            weight_dirs = self._weight_dirs(spec)
            self._make_room(self._target_kind(), slot.bytes or disk_bytes(weight_dirs), protect=slot)
            context = LoadContext(spec.id, weight_dirs, self.device, self.dtype, self.shared)
            slot.model = spec.loader(context)
        except WeightsMissing as exc:
            self._fail(slot, str(exc))
            return
        except Exception as exc:  # a broken model must not stop the others from loading
            log.exception("loading %s failed", spec.id)
            pointers = lfs_pointer_reason([repo.name for repo in spec.weights], weight_dirs)
            self._fail(slot, pointers or f"{type(exc).__name__}: {exc}")
            return
        self._compile_and_warm_up(slot)
        slot.load_seconds = time.perf_counter() - started
        slot.state = State.LOADED
        self._measure(slot)
        log.info("loaded %s in %.2fs (%s, %d bytes)", spec.id, slot.load_seconds, slot.placement, slot.bytes)
        shortfall = self._over_budget(self._target_kind())
        if shortfall > 0 and not self._make_room(self._target_kind(), 0, protect=slot):
            budget = self._budget(self._target_kind())
            self._unload(slot)
            self._fail(slot, f"needs {slot.bytes} bytes; the memory budget of {budget} bytes cannot hold it "
                             "beside the models that are busy")

    def _compile_and_warm_up(self, slot: Slot) -> None:
        """`compile: true` compiles the model's modules (torch.compile); the warm-up pays for it now.

        A failed warm-up is logged, not fatal: the model may still serve real inputs.
        """
        override = self.settings.override(slot.spec.id)
        if override.compile:
            for module in memory.modules_of(slot.model):
                module.compile()
        if not (self.settings.warmup or override.compile):
            return
        import torch

        inputs, params = sample_request(slot.spec.task)
        try:
            with torch.inference_mode():
                slot.spec.task.handler(slot.model, inputs, params)
        except Exception:
            log.exception("warm-up of %s failed; it stays loaded", slot.spec.id)

    def _fail(self, slot: Slot, reason: str) -> None:
        log.warning("%s failed to load: %s", slot.spec.id, reason)
        slot.state, slot.reason = State.FAILED, reason
        slot.model, slot.placement = None, "unloaded"
        self.shared.release(slot.spec.id)

    def reload(self, model_id: str) -> dict[str, Any]:
        """Load a model again (after a failure, or to pick up new weights); waits for its lock."""
        slot = self.slot(model_id)
        if slot.state is State.DISABLED:
            raise NotReady(f"model {slot.spec.id} is disabled: {slot.reason}", state=slot.state.value)
        if not self._resolve_device():
            raise NotReady(f"model {slot.spec.id} cannot load: {slot.reason}", state=slot.state.value)
        if not slot.lock.acquire(timeout=self.settings.limits.request_timeout):
            raise TimedOut(f"model {slot.spec.id} stayed busy; try the reload again later")
        try:
            with self._residency:
                self._unload(slot)
                self._load(slot)
        finally:
            slot.lock.release()
        return self.describe(slot)

    # -- memory --------------------------------------------------------------------------

    def _target_kind(self) -> str:
        return "gpu" if self.device.startswith("cuda") else "cpu"

    def _budget(self, kind: str) -> int | None:
        return self.settings.max_gpu_memory if kind == "gpu" else self.settings.max_cpu_memory

    def _measure(self, slot: Slot) -> None:
        storages = memory.storages(slot.model)
        slot.bytes = sum(size for size, _ in storages.values())
        slot.placement = "gpu" if any(kind != "cpu" for _, kind in storages.values()) else "cpu"

    def _resident(self) -> dict[int, tuple[int, str, set[str]]]:
        """storage -> (bytes, device kind, ids of the resident models holding it)."""
        table: dict[int, tuple[int, str, set[str]]] = {}
        for slot in self.slots.values():
            if slot.model is None:
                continue
            for pointer, (size, kind) in memory.storages(slot.model).items():
                kind = "cpu" if kind == "cpu" else "gpu"
                table.setdefault(pointer, (size, kind, set()))[2].add(slot.spec.id)
        return table

    def resident_bytes(self) -> dict[str, int]:
        """Bytes held on each device kind, every shared tensor counted once."""
        totals = {"cpu": 0, "gpu": 0}
        for size, kind, _ in self._resident().values():
            totals[kind] += size
        return totals

    def _over_budget(self, kind: str, extra: int = 0) -> int:
        budget = self._budget(kind)
        return 0 if budget is None else self.resident_bytes()[kind] + extra - budget

    def _make_room(self, kind: str, needed: int, protect: Slot) -> bool:
        """Move least recently used idle models down until `needed` more bytes fit on `kind`."""
        shortfall = self._over_budget(kind, needed)
        if shortfall <= 0:
            return True
        resident = self._resident()
        candidates = [
            Candidate(
                model_id=slot.spec.id,
                last_used=slot.last_used or 0.0,
                busy=slot.queue > 0 or slot is protect,
                freed_bytes=sum(
                    size for size, k, holders in resident.values() if k == kind and holders == {slot.spec.id}
                ),
            )
            for slot in self.slots.values()
            if slot.model is not None
        ]
        victims = choose_victims(candidates, shortfall)
        for model_id in victims or [c.model_id for c in sorted(candidates, key=lambda c: c.last_used) if not c.busy]:
            self._move_down(self.slots[model_id], kind)
            if self._over_budget(kind, needed) <= 0:
                return True
        return self._over_budget(kind, needed) <= 0

    def _move_down(self, slot: Slot, kind: str) -> None:
        """GPU -> CPU when the GPU is short (and the CPU budget allows), else unload."""
        if kind == "gpu" and slot.placement == "gpu":
            keep = {
                id(module)
                for other in self.slots.values()
                if other is not slot and other.model is not None and other.placement == "gpu"
                for module in memory.modules_of(other.model)
            }
            if self._over_budget("cpu", slot.bytes) <= 0:
                memory.move(slot.model, "cpu", keep=keep)
                slot.placement, slot.moved_down = "cpu", True
                log.info("moved %s to the CPU to make room on the GPU", slot.spec.id)
                return
        self._unload(slot)
        log.info("unloaded %s to make room", slot.spec.id)

    def _unload(self, slot: Slot) -> None:
        if slot.model is None:
            return
        slot.model = None
        slot.placement, slot.moved_down = "unloaded", False
        slot.state = State.NOT_LOADED
        self.shared.release(slot.spec.id)
        self._release_cached_memory()

    def _release_cached_memory(self) -> None:
        """Give freed memory back: after an unload, or after an out-of-memory request."""
        gc.collect()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def _ensure_ready(self, slot: Slot) -> None:
        """Load a lazy or evicted model, or bring a moved-down one back, before it runs."""
        if slot.state is State.LOADED and not slot.moved_down:
            return
        with self._residency:
            if slot.state is State.NOT_LOADED:
                if not self._resolve_device():
                    raise NotReady(f"model {slot.spec.id} cannot load: {slot.reason}", state="failed")
                self._load(slot)
                if slot.state is not State.LOADED:
                    raise NotReady(f"model {slot.spec.id} failed to load: {slot.reason}", state=slot.state.value)
            elif slot.moved_down:
                self._make_room(self._target_kind(), slot.bytes, protect=slot)
                memory.move(slot.model, self.device)
                slot.moved_down = False
                self._measure(slot)

    # -- serving -------------------------------------------------------------------------

    def slot(self, model_id: str) -> Slot:
        spec = self.catalog.get(model_id)
        if spec is None:
            raise NotFound(f"model {model_id!r} is not served here; GET /status lists the models")
        return self.slots[spec.id]

    def check_ready(self, slot: Slot) -> None:
        if slot.state not in SERVABLE:
            detail = f": {slot.reason}" if slot.reason else ""
            raise NotReady(f"model {slot.spec.id} is {slot.state.value}{detail}", state=slot.state.value)

    def run(self, model_id: str, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
        """Run the model's handler under its lock; different models run concurrently.

        At most `max_queue_per_model` requests wait for one model (503 + Retry-After beyond);
        a request that cannot start within `request_timeout` seconds gets a 504.
        """
        import torch

        slot = self.slot(model_id)
        self.check_ready(slot)
        limits = self.settings.limits
        with self._counters:
            if slot.queue >= limits.max_queue_per_model:
                raise Busy(
                    f"model {slot.spec.id} has {slot.queue} requests queued (limit max_queue_per_model)",
                    headers={"Retry-After": "5"}, state=slot.state.value,
                )
            slot.queue += 1
        deadline = time.monotonic() + limits.request_timeout
        try:
            if not slot.lock.acquire(timeout=limits.request_timeout):
                raise TimedOut(f"model {slot.spec.id} stayed busy for the whole request_timeout")
            try:
                self._ensure_ready(slot)
                slot.job = Job(slot.spec.id, deadline)
                with tracking(slot.job), torch.inference_mode():
                    return slot.spec.task.handler(slot.model, inputs, params)
            finally:
                slot.job = None
                slot.lock.release()
        except ServerError:
            raise
        except torch.OutOfMemoryError as exc:
            self._release_cached_memory()
            log.warning("%s ran out of memory: %s", slot.spec.id, exc)
            raise Busy(f"{slot.spec.id} ran out of memory for this request; try again or with smaller inputs",
                       headers={"Retry-After": "10"}, state=slot.state.value) from exc
        except Exception as exc:
            log.exception("%s failed on a request", slot.spec.id)
            raise InferenceFailed(f"{slot.spec.id} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            with self._counters:
                slot.queue -= 1
                slot.last_used = time.time()

    # -- status --------------------------------------------------------------------------

    def describe(self, slot: Slot) -> dict[str, Any]:
        """The /status answer: the Hugging Face shape (loaded, compute_type, framework) and more.

        `loaded` is true when a request will be served here: for a lazy (`not_loaded`) model
        after a load wait. That is what the controller reads it for: use local, or go to Hugging Face.
        """
        status: dict[str, Any] = {
            "loaded": slot.state in SERVABLE,
            "state": slot.state.value,
            "task": slot.spec.task.name,
            "tier": slot.spec.tier,
            "compute_type": "gpu" if self.device.startswith("cuda") else "cpu",
            "device": self.device,
            "dtype": dtype_name(self.dtype) or self.settings.dtype,
            "framework": slot.spec.framework,
            "placement": slot.placement,
            "bytes": slot.bytes,
            "queue": slot.queue,
            "last_used": slot.last_used,
            "load_seconds": slot.load_seconds,
        }
        job = slot.job
        if job is not None and job.total:
            status["progress"] = {"step": job.step, "total": job.total}
        if slot.spec.aliases:
            status["aliases"] = list(slot.spec.aliases)
        if slot.state is State.FAILED:
            status["error"] = {"message": slot.reason}
        elif slot.reason:
            status["reason"] = slot.reason
        return status

    def describe_all(self) -> dict[str, dict[str, Any]]:
        return {model_id: self.describe(slot) for model_id, slot in self.slots.items()}


def _quiet_progress_bars() -> None:
    """A server writes log lines; the libraries' loading bars would only garble them."""
    import diffusers
    import transformers

    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.disable_progress_bar()
