"""Loading one model: find its weights, make room, call its loader, compile and warm it up."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from models_server.catalog import ModelSpec
from models_server.catalog.sizes import SHARED_REPO_BYTES
from models_server.config import Settings
from models_server.errors import Busy, WeightsMissing
from models_server.runtime import memory
from models_server.runtime.devices import DeviceChoice
from models_server.runtime.residency import Residency
from models_server.runtime.slots import SlotTable
from models_server.runtime.warmup import sample_request
from models_server.tasks.compiling import COMPILE_CACHE, use_compile_cache, warn_compile_failed
from models_server.tasks.loading import LoadContext
from models_server.weights.lfs import lfs_pointer_reason
from models_server.weights.locate import disk_bytes, setting_dirs, weight_dirs

log = logging.getLogger(__name__)


class ModelLoader:
    def __init__(self, settings: Settings, slots: SlotTable, residency: Residency, device: DeviceChoice) -> None:
        self.settings = settings
        self.slots = slots
        self.residency = residency
        self.device = device

    def load(self, model_id: str, on_demand: bool = False) -> None:
        """Load one model; the caller holds `residency.lock` and has resolved the device.

        A broken model ends `failed` with the reason and never stops the others. Raises Busy
        (the model stays `not_loaded`) when it fits the budget only once busy models finish.
        A load `on_demand` (a request's, for a lazy or evicted model) keeps the state servable,
        so requests arriving meanwhile queue for the model instead of being refused.
        """
        spec = self.slots.view(model_id).spec
        started = time.perf_counter()
        if not on_demand:
            self.slots.loading(model_id)
        try:
            folders = weight_dirs(spec, self.settings)
            extra_folders = setting_dirs(spec, self.settings)
        except WeightsMissing as exc:
            self._fail(model_id, str(exc))
            return
        # before loading, so the weights never land beyond the budget first; the measured size
        # after loading is what the budget then enforces
        self._wait_for_room(model_id, self._needed(spec, folders))
        try:
            assert self.device.dtype is not None, "the device is resolved before any load"
            context = LoadContext(
                spec.id, folders, self.device.device, self.device.dtype, self.residency.shared,
                diffusion=self.settings.diffusion_for(spec.id), cache_dir=self.settings.cache_dir,
                setting_dirs=extra_folders,
            )
            model = spec.loader(context)
        except WeightsMissing as exc:  # files or data the loader reads are not here: the reason says which
            self._fail(model_id, str(exc))
            return
        except Exception as exc:  # a broken model must not stop the others from loading
            log.exception("loading %s failed", spec.id)
            pointers = lfs_pointer_reason([repo.name for repo in spec.weights], folders)
            self._fail(model_id, pointers or f"{type(exc).__name__}: {exc}")
            return
        self._compile_and_warm_up(spec, model)
        self.slots.loaded(model_id, model, time.perf_counter() - started)
        self.residency.measure(model_id)
        view = self.slots.view(model_id)
        log.info("loaded %s in %.2fs (%s, %d bytes)", spec.id, view.load_seconds, view.placement, view.bytes)
        self._enforce_budget(model_id, view.bytes)

    def _needed(self, spec: ModelSpec, folders: tuple[Path, ...]) -> int:
        """Bytes loading this model will add: its size when last loaded here, else its real fp16
        size at the configured dtype, else its weight files; less the shared repos a resident model
        already holds. A ControlNet next to a loaded SD base adds its own 0.7 GB, not 2.9 GB: counting
        the base again moved three to six more models out than the budget needed."""
        itemsize = self.device.dtype.itemsize if self.device.dtype is not None else 2
        measured = self.slots.view(spec.id).bytes
        if measured:
            size = measured
        elif spec.fp16_bytes is not None:
            size = spec.fp16_bytes * itemsize // 2
        else:
            return disk_bytes(folders)
        held = {repo.name for other in self.slots.resident() for repo in self.slots.view(other).spec.weights}
        shared = sum(SHARED_REPO_BYTES.get(repo.name, 0) for repo in spec.weights if repo.name in held)
        return max(0, size - shared * itemsize // 2)

    def _wait_for_room(self, model_id: str, needed: int) -> None:
        """Move idle models out until `needed` bytes fit. When only busy ones would free enough,
        wait for them to finish a run (seconds, as a rule) rather than answer 503 at once, up to
        `request_timeout`. Best effort: it gives up when nothing is busy or the wait ends."""
        deadline = time.monotonic() + self.settings.limits.request_timeout
        while not self.residency.make_room(needed, protect=model_id):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.slots.wait_for_unpin(model_id, min(1.0, remaining)):
                return

    def _enforce_budget(self, model_id: str, size: int) -> None:
        kind = self.device.kind
        self._wait_for_room(model_id, 0)  # a model with no size known before loading overshoots here
        if self.residency.over_budget(kind) <= 0:
            return
        budget = self.residency.budgets.of(kind)
        self.residency.unload(model_id)
        if budget is not None and size > budget:
            self._fail(model_id, f"needs {size} bytes; the memory budget of {budget} bytes cannot hold it")
            return
        raise Busy(f"model {model_id} needs {size} bytes; the memory budget of {budget} bytes holds it only "
                   "after the models now busy finish", headers={"Retry-After": "10"}, state="not_loaded")

    def _fail(self, model_id: str, reason: str) -> None:
        log.warning("%s failed to load: %s", model_id, reason)
        self.slots.failed(model_id, reason)
        self.residency.shared.release(model_id)

    def _compile_and_warm_up(self, spec: ModelSpec, model: object) -> None:
        """`compile: true` compiles the model's modules (torch.compile, its kernels kept under
        `cache_dir` for the next start); the warm-up pays for it now.

        A warm-up that fails only compiled leaves the model eager, with one warning: a compiler
        failure must not fail every request after it. Any other failed warm-up is logged, not
        fatal: the model may still serve real inputs.
        """
        compiled = []
        if self.settings.override(spec.id).compile:
            if self.settings.cache_dir is not None:
                use_compile_cache(self.settings.cache_dir / COMPILE_CACHE)
            compiled = memory.modules_of(model)
            for module in compiled:
                module.compile()
        if not (self.settings.warmup or compiled):
            return
        failure = _warm_up(spec, model)
        if failure is not None and compiled:
            for module in compiled:
                module._compiled_call_impl = None  # what Module.compile set: the module runs eagerly again
            eager_failure = _warm_up(spec, model)
            if eager_failure is None:
                warn_compile_failed(spec.id, failure)
                return
            for module in compiled:  # eager fails too: the sample, not the compiler, is at fault
                module.compile()
            failure = eager_failure
        if failure is not None:
            log.warning("warm-up of %s failed; it stays loaded", spec.id, exc_info=failure)


def _warm_up(spec: ModelSpec, model: object) -> Exception | None:
    """One call of the model's handler with its task's cheap sample; how it failed, if it did."""
    import torch

    inputs, params = sample_request(spec.task)
    try:
        with torch.inference_mode():
            spec.task.handler(model, inputs, params)
    except Exception as exc:
        return exc
    return None
