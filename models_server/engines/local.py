"""Serving: open the port first, load the tier in the background, stop gracefully on a signal."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from models_server.config import Settings
from models_server.engines.startup import load_tier
from models_server.http.access import warn_if_open
from models_server.http.app import create_app
from models_server.http.server import GuardedServer, ServingOptions, make_server
from models_server.media.outputs import OutputStore
from models_server.runtime import Runtime

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
    runtime.keep_alive.start()
    log.info("serving tier %s on http://%s:%s", settings.tier, settings.host, server.effective_port)
    server.run()
    server.shutdown_lanes(timeout=5)
    log.info("stopped")


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
        """The signal handler: returns at once, the draining goes on in a thread."""
        if self._begin(signal.Signals(signum).name):
            threading.Thread(target=self._drain, name="graceful-stop", daemon=True).start()

    def stop(self, why: str) -> None:
        """The same, returning once the requests in flight are done (or the grace is over)."""
        if self._begin(why):
            self._drain()

    def _begin(self, why: str) -> bool:
        if self.stopping.is_set():
            return False
        self.stopping.set()
        log.info("%s: no new connections; finishing requests in flight (up to %gs)", why, self.grace)
        # The loop may be inside select() with the listening socket: closing it here would make
        # select fail (EBADF) and kill the loop, so the loop's own thread closes it.
        self.server.trigger.pull_trigger(self._stop_accepting)
        return True

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
