"""The runtime: loads the configured tier in the background and runs requests on it.

It owns every model's state, the device and dtype, the shared components and one lock per
model. It knows nothing of HTTP: the app asks it for states and hands it decoded inputs.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from models_server.catalog import ModelSpec, build_catalog, catalog_rows
from models_server.config import Settings
from models_server.errors import ConfigError, InferenceFailed, NotFound, NotReady, ServerError, WeightsMissing
from models_server.runtime.devices import dtype_name, resolve_device, resolve_dtype
from models_server.runtime.loading import LoadContext, SharedComponents, locate_weights

log = logging.getLogger(__name__)


class State(StrEnum):
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"
    DISABLED = "disabled"


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
        self.slots: dict[str, Slot] = {row.id: Slot(row, *self._initial_state(row)) for row in rows}

    def _initial_state(self, row: ModelSpec) -> tuple[State, str | None]:
        if not row.in_tier(self.settings.tier):
            return State.DISABLED, f"in tier {row.tier}; this server runs tier {self.settings.tier}"
        if not self.settings.override(row.id).enabled:
            return State.DISABLED, "disabled in the config"
        return State.LOADING, None

    # -- loading -------------------------------------------------------------------------

    def start_loading(self) -> threading.Thread:
        """Load the tier on a background thread, so the port can open first."""
        thread = threading.Thread(target=self.load_all, name="model-loader", daemon=True)
        thread.start()
        return thread

    def load_all(self) -> None:
        _quiet_progress_bars()
        try:
            self.device = resolve_device(self.settings.device)
            self.dtype = resolve_dtype(self.settings.dtype, self.device)
        except RuntimeError as exc:
            for slot in self._pending():
                self._fail(slot, str(exc))
            return
        started = time.perf_counter()
        for slot in self._pending():
            self._load(slot)
        loaded = sum(slot.state is State.LOADED for slot in self.slots.values())
        log.info("tier %s: %d models loaded in %.1fs", self.settings.tier, loaded, time.perf_counter() - started)

    def _pending(self) -> list[Slot]:
        return [slot for slot in self.slots.values() if slot.state is State.LOADING]

    def _load(self, slot: Slot) -> None:
        spec, started = slot.spec, time.perf_counter()
        override = self.settings.override(spec.id).weights
        try:
            weight_dirs = tuple(
                locate_weights(repo, self.settings.model_root, override if index == 0 else None)
                for index, repo in enumerate(spec.weights)
            )
            context = LoadContext(spec, weight_dirs, self.device, self.dtype, self.shared)
            slot.model = spec.loader(context)
        except WeightsMissing as exc:
            self._fail(slot, str(exc))
            return
        except Exception as exc:  # a broken model must not stop the others from loading
            log.exception("loading %s failed", spec.id)
            self._fail(slot, f"{type(exc).__name__}: {exc}")
            return
        slot.load_seconds = time.perf_counter() - started
        slot.state = State.LOADED
        log.info("loaded %s in %.2fs", spec.id, slot.load_seconds)

    def _fail(self, slot: Slot, reason: str) -> None:
        log.warning("%s failed to load: %s", slot.spec.id, reason)
        slot.state, slot.reason = State.FAILED, reason

    # -- serving -------------------------------------------------------------------------

    def slot(self, model_id: str) -> Slot:
        spec = self.catalog.get(model_id)
        if spec is None:
            raise NotFound(f"model {model_id!r} is not served here; GET /status lists the models")
        return self.slots[spec.id]

    def check_ready(self, slot: Slot) -> None:
        if slot.state is not State.LOADED:
            detail = f": {slot.reason}" if slot.reason else ""
            raise NotReady(f"model {slot.spec.id} is {slot.state.value}{detail}", state=slot.state.value)

    def run(self, model_id: str, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
        """Run the model's handler under its lock; different models run concurrently."""
        import torch

        slot = self.slot(model_id)
        self.check_ready(slot)
        with self._counters:
            slot.queue += 1
        try:
            with slot.lock, torch.inference_mode():
                return slot.spec.task.handler(slot.model, inputs, params)
        except ServerError:
            raise
        except Exception as exc:
            log.exception("%s failed on a request", slot.spec.id)
            raise InferenceFailed(f"{slot.spec.id} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            with self._counters:
                slot.queue -= 1
                slot.last_used = time.time()

    # -- status --------------------------------------------------------------------------

    def describe(self, slot: Slot) -> dict[str, Any]:
        """The /status answer: the Hugging Face shape (loaded, compute_type, framework) and more."""
        status: dict[str, Any] = {
            "loaded": slot.state is State.LOADED,
            "state": slot.state.value,
            "task": slot.spec.task.name,
            "tier": slot.spec.tier,
            "compute_type": "gpu" if self.device.startswith("cuda") else "cpu",
            "device": self.device,
            "dtype": dtype_name(self.dtype) or self.settings.dtype,
            "framework": slot.spec.framework,
            "queue": slot.queue,
            "last_used": slot.last_used,
            "load_seconds": slot.load_seconds,
        }
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
