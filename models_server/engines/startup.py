"""Bringing a runtime's tier up in a process: torch sized to its cores, only the libraries the
rows use, the models, and the heap handed back. The single-process server and each Ray
group replica start the same way."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Iterator

from models_server.runtime import Runtime
from models_server.runtime.memory import release_free_memory
from models_server.runtime.slots import State
from models_server.tasks.libraries import defer_unused_packages, import_library_of, skip_gpu_only_libraries

log = logging.getLogger(__name__)


class CollectorPause:
    """Python's cyclic garbage collector paused while a tier starts in this process.

    Importing torch, diffusers and transformers and building the models creates a few million
    objects, nearly all of which live as long as the process; the collector, run every few
    hundred allocations, traverses them again and again: a fifth of the start-up's time. Paused
    while any tier of the process starts (Ray replicas may start two), then one full collection
    (in the loading thread, not in a request's) and the collector runs as before.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starting = 0
        self._was_enabled = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._starting == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._starting += 1
        try:
            yield
        finally:
            with self._lock:
                self._starting -= 1
                if self._starting == 0:
                    gc.collect()
                    if self._was_enabled:
                        gc.enable()


collector_paused = CollectorPause()


def load_tier(runtime: Runtime) -> dict[str, float]:
    """Load the tier's preloaded models, timing the steps: torch, the rows' libraries, the
    models (with their warm-ups when `warmup` is on). Logged, and returned for the benchmarks."""
    with collector_paused():
        steps = _load_tier(runtime)
    release_free_memory()
    return steps


def _load_tier(runtime: Runtime) -> dict[str, float]:
    started = time.perf_counter()
    steps: dict[str, float] = {}
    if runtime.devices.resolve():  # imports torch
        skipped = skip_gpu_only_libraries(runtime.device)
        if skipped:
            log.debug("not importing %s: GPU-only, and the device is the CPU", ", ".join(skipped))
        size_thread_pools()
    deferred = defer_unused_packages()
    if deferred:
        log.debug("deferred until first use: %s", ", ".join(deferred))
    steps["torch_s"] = time.perf_counter() - started
    frameworks = {view.spec.framework for view in runtime.views().values() if view.state is State.LOADING}
    for framework in sorted(frameworks):
        began = time.perf_counter()
        try:
            import_library_of(framework)
        except Exception as exc:
            log.warning("importing %s failed: %s", framework, exc)
        steps[f"import_{framework}_s"] = time.perf_counter() - began
    began = time.perf_counter()
    runtime.load_all()
    steps["models_s"] = time.perf_counter() - began
    steps["total_s"] = time.perf_counter() - started
    log.info("tier %s ready in %.1fs: %s", runtime.settings.tier, steps["total_s"],
             ", ".join(f"{name.removesuffix('_s')} {value:.2f}s" for name, value in steps.items() if name != "total_s"),
             extra={"event": "tier_ready", **steps})
    return steps


def size_thread_pools() -> None:
    """torch's pools sized to the cores this process may use (cgroup/affinity aware, unlike
    torch's default), and one inter-op thread: requests already run in parallel on the server's
    threads, and every extra pool thread competes with them for the same cores."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(cores)
    with contextlib.suppress(RuntimeError):  # already started (a model ran here): it keeps its size
        torch.set_num_interop_threads(1)
