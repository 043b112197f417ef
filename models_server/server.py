"""Serving: open the port first, load the tier in the background, stop gracefully on a signal."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import threading
import time
from typing import Any

from models_server.access import warn_if_open
from models_server.app import create_app
from models_server.config import Settings
from models_server.http_server import GuardedServer, ServingOptions, make_server
from models_server.media.outputs import OutputStore
from models_server.runtime import Runtime
from models_server.runtime.slots import State
from models_server.tasks.libraries import import_family, skip_gpu_only_libraries

log = logging.getLogger(__name__)


def serving_options(settings: Settings) -> ServingOptions:
    """The HTTP server's knobs from the settings; the one place that reads them."""
    return ServingOptions(
        threads=settings.threads,
        max_body_bytes=settings.limits.max_body_bytes,
        status_threads=settings.status_threads,
        max_pending=settings.max_pending,
        connection_limit=settings.connection_limit,
        connections_per_client=settings.connections_per_client or settings.threads + settings.max_pending + 32,
        header_timeout=settings.header_timeout,
        request_read_timeout=settings.request_read_timeout,
        idle_timeout=settings.idle_timeout,
    )


def serve(settings: Settings) -> None:
    runtime = Runtime(settings)
    OutputStore(settings.public_dir).remove_leftovers()  # of a process killed mid-write
    app = create_app(settings, runtime)
    server = make_server(app, settings.host, settings.port, serving_options(settings))
    stopper = GracefulStop(server, settings.shutdown_grace_seconds)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stopper.request)
    warn_if_open(settings, log)
    threading.Thread(target=load_tier, args=(runtime,), name="model-loader", daemon=True).start()
    log.info("serving tier %s on http://%s:%s", settings.tier, settings.host, server.effective_port)
    server.run()
    server.shutdown_lanes(timeout=5)
    log.info("stopped")


def load_tier(runtime: Runtime) -> dict[str, float]:
    """Load the tier's preloaded models, timing the steps: torch, the families' libraries, the
    models (with their warm-ups when `warmup` is on). Logged, and returned for the benchmarks."""
    started = time.perf_counter()
    steps: dict[str, float] = {}
    if runtime.devices.resolve():  # imports torch
        skipped = skip_gpu_only_libraries(runtime.device)
        if skipped:
            log.debug("not importing %s: GPU-only, and the device is the CPU", ", ".join(skipped))
        size_thread_pools()
    steps["torch_s"] = time.perf_counter() - started
    frameworks = {view.spec.framework for view in runtime.views().values() if view.state is State.LOADING}
    for framework in sorted(frameworks):
        began = time.perf_counter()
        try:
            import_family(framework)
        except Exception as exc:
            log.warning("importing %s failed: %s", framework, exc)
        steps[f"import_{framework}_s"] = time.perf_counter() - began
    began = time.perf_counter()
    runtime.load_all()
    steps["models_s"] = time.perf_counter() - began
    release_free_memory()
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


def release_free_memory() -> None:
    """Hand the heap pages freed by loading (state dicts read then copied) back to the system:
    glibc keeps them otherwise, and the process looks that much bigger for as long as it runs."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


class GracefulStop:
    """SIGTERM/SIGINT: stop accepting, let in-flight requests finish (up to `grace` s), then end.

    waitress's loop ends when its socket map is empty, so ending is closing every channel —
    done on the loop's own thread through its trigger.
    """

    def __init__(self, server: GuardedServer, grace: float) -> None:
        self.server = server
        self.grace = grace
        self.stopping = threading.Event()

    def request(self, signum: int, frame: Any) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        log.info("%s: no new connections; finishing requests in flight (up to %gs)",
                 signal.Signals(signum).name, self.grace)
        # The loop may be inside select() with the listening socket: closing it here would make
        # select fail (EBADF) and kill the loop, so the loop's own thread closes it.
        self.server.trigger.pull_trigger(self._stop_accepting)
        threading.Thread(target=self._drain, name="graceful-stop", daemon=True).start()

    def _stop_accepting(self) -> None:
        from waitress import wasyncore

        wasyncore.dispatcher.close(self.server)  # the listening socket only; the trigger stays

    def _drain(self) -> None:
        deadline = time.monotonic() + self.grace
        while self._busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._busy():
            log.warning("grace period over with %d requests still running", self.server.task_dispatcher.active_count)
        self.server.trigger.pull_trigger(self._close_all)

    def _busy(self) -> bool:
        """Requests running or queued, or answers not yet sent: a finished task's response can
        still sit in its channel's output buffer, and closing the channel would lose it."""
        unsent = any(getattr(channel, "total_outbufs_len", 0) for channel in list(self.server._map.values()))
        return self.server.busy() or unsent

    def _close_all(self) -> None:
        for channel in list(self.server._map.values()):
            channel.close()
