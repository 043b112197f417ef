"""The runtime: one object that wires the slot table, residency, loading and admission.

It knows nothing of HTTP: hosts (the Flask app, a Ray Serve replica) ask it for snapshots of
the slots, admit requests and hand it decoded inputs.
"""

from __future__ import annotations

import gc
import logging
import time
from contextlib import AbstractContextManager
from typing import Any

from models_server.catalog import ModelSpec, build_catalog, served_rows
from models_server.config import Settings
from models_server.errors import Busy, ConfigError, NotFound, NotReady, TimedOut, WeightsMissing
from models_server.runtime.admission import Admission, Ticket
from models_server.runtime.batches import batch_limits
from models_server.runtime.device_memory import DeviceMemory, MemorySource, TorchMemory, device_memory
from models_server.runtime.devices import DeviceChoice
from models_server.runtime.keep_alive import KeepAlive
from models_server.runtime.lanes import ComputeLanes
from models_server.runtime.loading import ModelLoader
from models_server.runtime.memory import release_free_memory
from models_server.runtime.residency import Budgets, Residency
from models_server.runtime.slots import SlotTable, SlotView, State
from models_server.tasks.loading import CannotRun, SharedComponents
from models_server.weights.front_end import front_end_refusal
from models_server.weights.locate import weight_dirs
from models_server.weights.problems import repo_problems, setting_repo_problems

log = logging.getLogger(__name__)
# The largest JSON file a lazy row's start-time check parses: configs are small, vocabularies are not.
_START_JSON_BYTES = 64 << 10


class Runtime:
    def __init__(self, settings: Settings, rows: list[ModelSpec] | None = None) -> None:
        rows = served_rows(settings) if rows is None else rows
        self.settings = settings
        self.catalog = build_catalog(rows)
        unknown = sorted(set(settings.models) - set(self.catalog))
        if unknown:
            raise ConfigError(f"config key 'models.{unknown[0]}': no such model id in the catalog "
                              "(to serve a Hub model it lacks, give its task: `{task: image-classification}`)")
        self.devices = DeviceChoice(settings.device, settings.dtype)
        self.slots = SlotTable((row, *self._initial_state(row)) for row in rows)
        budgets = Budgets(cpu=settings.max_cpu_memory, gpu=settings.max_gpu_memory)
        self.residency = Residency(self.slots, budgets, self.devices, SharedComponents())
        self.loader = ModelLoader(settings, self.slots, self.residency, self.devices)
        self._batch_limits = batch_limits(settings, rows)
        self.admission = Admission(self.slots, self.residency, self.loader, settings.limits, self._resolve_device,
                                   ComputeLanes(), self.batch_limit)
        preloaded = [row.id for row in rows if settings.preloads(row.id, row.preload)]
        self.keep_alive = KeepAlive(settings, self.slots, preloaded, self.unload_idle)
        self.memory_source: MemorySource = TorchMemory()

    def _initial_state(self, row: ModelSpec) -> tuple[State, str | None]:
        override = self.settings.override(row.id)
        if not row.in_tier(self.settings.tier):
            return State.DISABLED, f"in tier {row.tier}; this server runs tier {self.settings.tier}"
        if not override.enabled:
            return State.DISABLED, "disabled in the config"
        preload = self.settings.preloads(row.id, row.preload)
        # A model that cannot run here must not answer "loaded" and then fail: checked without loading
        # (its library, its weights for a lazy one, what its loader needs beyond them), preloaded or lazy.
        missing = row.missing_here()
        if missing is not None:
            return State.FAILED, f"{type(missing).__name__}: {missing}; fix: {missing.fix}"
        try:
            folders = weight_dirs(row, self.settings)
        except WeightsMissing as exc:  # a preloaded model's loading says so
            return (State.LOADING, None) if preload else (State.FAILED, str(exc))
        for repo, folder in zip(row.weights, folders, strict=True):
            # a lazy row's copy is checked as `check` does (a preloaded model's loading says so),
            # but without parsing a large JSON file (a tokenizer's vocabulary): start-up stays short
            problem = None if preload else next(iter(repo_problems(repo, folder, largest_json=_START_JSON_BYTES)), None)
            if problem is not None:
                return State.FAILED, f"{problem[0]}; fix: {problem[1]}"
        setting_problems = setting_repo_problems(row, self.settings, largest_json=_START_JSON_BYTES)
        if setting_problems:
            what, fix = setting_problems[0]
            return State.FAILED, f"{what}; fix: {fix}"
        refusal = row.refusal(folders[0]) if folders else None
        if refusal is not None:  # a front end or tokenizer that cannot run, or a config line's wrong architecture
            fix = f"; fix: {refusal.fix}" if isinstance(refusal, CannotRun) else ""
            return State.FAILED, f"{type(refusal).__name__}: {refusal}{fix}"
        front_end = front_end_refusal(row, folders[0], without_import=True) if folders else None
        if front_end is not None:
            return State.FAILED, f"{front_end}; fix: {front_end.fix}"
        return (State.LOADING, None) if preload else (State.NOT_LOADED, None)

    # -- loading -------------------------------------------------------------------------

    def load_all(self) -> None:
        if not self._resolve_device():
            return
        started = time.perf_counter()
        for model_id, view in self.slots.views().items():
            if view.state is not State.LOADING:
                continue
            with self.residency.lock:
                if self.slots.view(model_id).state is not State.LOADING:  # a load call came first
                    continue
                try:
                    self.loader.load(model_id)
                except Busy as exc:  # room only once busy models finish: it loads on its first request
                    log.info("%s not preloaded: %s", model_id, exc.message)
        loaded = sum(view.state is State.LOADED for view in self.slots.views().values())
        log.info("tier %s: %d models loaded in %.1fs", self.settings.tier, loaded, time.perf_counter() - started,
                 extra={"event": "tier_loaded"})

    def _resolve_device(self) -> bool:
        if self.devices.resolve():
            _quiet_progress_bars()
            return True
        for model_id, view in self.slots.views().items():
            if view.state in (State.LOADING, State.NOT_LOADED):
                self.slots.failed(model_id, self.devices.error or "no device")
        return False

    def reload(self, model_id: str) -> SlotView:
        """Load a model again (after a failure, or to pick up new weights); waits for its turn."""
        model_id = self.resolve(model_id)
        view = self.slots.view(model_id)
        if view.state is State.DISABLED:
            raise NotReady(f"model {model_id} is disabled: {view.reason}", state=view.state.value)
        if not self._resolve_device():
            raise NotReady(f"model {model_id} cannot load: {self.slots.view(model_id).reason}", state="failed")
        run_lock = self.slots.run_lock(model_id)
        if not run_lock.acquire(timeout=self.settings.limits.request_timeout):
            raise TimedOut(f"model {model_id} stayed busy; try the reload again later")
        try:
            with self.residency.lock:
                self.residency.unload(model_id)
                self.loader.load(model_id)
        finally:
            run_lock.release()
        return self.slots.view(model_id)

    def load(self, model_id: str, keep_alive: float | None = None) -> SlotView:
        """Make a model resident on its device now (lazy, evicted, moved down or failed before),
        moving idle models down if the budget needs it; `keep_alive` holds until it unloads.

        Raises NotReady when it is disabled or fails to load (with the reason), Busy when only
        busy models hold the memory it needs.
        """
        model_id = self.resolve(model_id)
        if self.slots.view(model_id).state is State.DISABLED:
            raise NotReady(f"model {model_id} is disabled: {self.slots.view(model_id).reason}", state="disabled")
        if not self._resolve_device():
            raise NotReady(f"model {model_id} cannot load: {self.slots.view(model_id).reason}", state="failed")
        with self.residency.lock:
            view = self.slots.view(model_id)
            if view.state in (State.NOT_LOADED, State.FAILED, State.LOADING):
                self.loader.load(model_id, on_demand=view.state is State.NOT_LOADED)
            elif self.slots.moved_down(model_id):
                if not self.residency.make_room(view.bytes, protect=model_id):
                    raise Busy(f"model {model_id} waits for memory held by busy models; try again",
                               headers={"Retry-After": "10"}, state=view.state.value)
                self.residency.bring_back(model_id)
        view = self.slots.view(model_id)
        if view.state is not State.LOADED:
            raise NotReady(f"model {model_id} failed to load: {view.reason}", state=view.state.value)
        self.keep_alive.ask(model_id, keep_alive)
        return view

    def unload(self, model_id: str) -> SlotView:
        """Let the model's running and queued requests finish, then free its memory; a later
        request loads it again. TimedOut when requests keep it busy for `request_timeout`."""
        model_id = self.resolve(model_id)
        deadline = time.monotonic() + self.settings.limits.request_timeout
        while not self.unload_idle(model_id):
            if not self.slots.wait_idle(model_id, max(0.0, deadline - time.monotonic())):
                raise TimedOut(f"model {model_id} stayed busy; unload it again later")
        self.keep_alive.forget(model_id)
        gc.collect()  # what reference cycles still hold (pipelines' hooks), so the memory is free on return
        release_free_memory()
        return self.slots.view(model_id)

    def unload_idle(self, model_id: str) -> bool:
        """Unload the model if no request holds it (True, also when it held nothing); else False."""
        with self.residency.lock:
            if not self.slots.claim_idle(model_id):
                return False
            self.residency.unload(model_id)
            return True

    # -- serving -------------------------------------------------------------------------

    def resolve(self, model_id: str) -> str:
        """The served id for an id or alias; NotFound for anything else."""
        spec = self.catalog.get(model_id)
        if spec is None:
            raise NotFound(f"model {model_id!r} is not served here; GET /status lists the models")
        return spec.id

    def batch_limit(self, model_id: str) -> int:
        """The most requests the model runs as one call (1 unless its task batches)."""
        return self._batch_limits.get(model_id, 1)

    def admit(self, model_id: str) -> AbstractContextManager[Ticket]:
        """Count a request in (503 when the model cannot serve or its queue is full)."""
        return self.admission.admit(self.resolve(model_id))

    def run(self, model_id: str, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
        with self.admit(model_id) as ticket:
            return ticket.run(inputs, params)

    # -- reading -------------------------------------------------------------------------

    def view(self, model_id: str) -> SlotView:
        return self.slots.view(self.resolve(model_id))

    def views(self) -> dict[str, SlotView]:
        return self.slots.views()

    def model(self, model_id: str) -> Any:
        """The live loaded object (tests and tools look inside it; requests go through `run`)."""
        return self.slots.model(self.resolve(model_id))

    def resident_bytes(self) -> dict[str, int]:
        return self.residency.resident_bytes()

    def memory(self) -> dict[str, DeviceMemory]:
        return device_memory(self.resident_bytes(), self.device, self.memory_source)

    def keep_alive_status(self, view: SlotView) -> dict[str, float | None]:
        """`keep_alive` (seconds idle before it unloads, -1 never) and `expires_in` (None: not counting down)."""
        return {"keep_alive": self.keep_alive.seconds(view.spec.id), "expires_in": self.keep_alive.expires_in(view)}

    @property
    def device(self) -> str:
        return self.devices.device


def _quiet_progress_bars() -> None:
    """A server writes log lines; the libraries' loading bars would only garble them."""
    import diffusers
    import transformers

    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.disable_progress_bar()
