"""Serving: open the port first, load the tier in the background, stop gracefully on a signal."""

from __future__ import annotations

import functools
import logging
import signal
import socket
import threading
import time
from typing import Any

from models_server.config import Settings
from models_server.engines.startup import load_tier
from models_server.http.access import warn_if_open
from models_server.http.app import create_app
from models_server.http.model_queues import ModelQueues
from models_server.http.server import GuardedChannel, GuardedServer, ServingOptions, make_server
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
        send_timeout=settings.send_timeout,
    )


def serve(settings: Settings) -> None:
    runtime = Runtime(settings)
    OutputStore(settings.public_dir).remove_leftovers()  # of a process killed mid-write
    queues: ModelQueues[GuardedChannel] = ModelQueues.for_runtime(runtime)
    app = create_app(settings, runtime, queues=queues)
    server = make_server(app, settings.host, settings.port, serving_options(settings), queues)
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
    """SIGTERM/SIGINT: stop accepting, answer every request in flight (up to `grace` s), then end.

    A request is in flight from its first byte until its answer is written: one still arriving,
    waiting in a lane, running, or with its answer unsent. Connections with none close as soon
    as they are found so (a keep-alive one whose client sends again gets a refused connection,
    not a cut request); the loop ends when none is left. waitress's loop ends when its socket
    map is empty, and every socket is closed on the loop's own thread, through its trigger.
    """

    def __init__(self, server: GuardedServer, grace: float) -> None:
        self.server = server
        self.grace = grace
        self.stopping = threading.Event()
        self.in_flight = True  # as the loop's thread last saw it (see _close_idle)

    def request(self, signum: int, frame: Any) -> None:
        """The signal handler: only starts the stop. It runs on the loop's thread between any two
        of its steps, where taking a lock the loop may hold (the trigger's) could deadlock."""
        if not self.stopping.is_set():
            self.stopping.set()
            why = signal.Signals(signum).name
            threading.Thread(target=self._drain, args=(why,), name="graceful-stop", daemon=True).start()

    def stop(self, why: str) -> None:
        """The same, returning once the requests in flight are answered (or the grace is over)."""
        if not self.stopping.is_set():
            self.stopping.set()
            self._drain(why)

    def _drain(self, why: str) -> None:
        log.info("%s: no new connections; answering requests in flight (up to %gs)", why, self.grace)
        trigger = self.server.trigger
        # The loop may be inside poll() with the listening socket: closing it here would make
        # poll fail (EBADF) and kill the loop, so the loop's own thread closes it.
        trigger.pull_trigger(self._stop_accepting)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            swept = threading.Event()
            trigger.pull_trigger(functools.partial(self._close_idle, swept))
            if swept.wait(timeout=1.0) and not self.in_flight:
                break
            time.sleep(0.05)
        else:
            log.warning("grace period over with requests in flight (%d running)",
                        self.server.task_dispatcher.active_count)
        trigger.pull_trigger(self._close_all)

    def _stop_accepting(self) -> None:
        from waitress import wasyncore

        wasyncore.dispatcher.close(self.server)  # the listening socket only; the trigger stays

    def _close_idle(self, swept: threading.Event) -> None:
        """On the loop's thread: close the connections with nothing in flight and nothing unread
        (bytes the loop has not read yet are a request beginning: it reads them next pass), and
        note whether any request is in flight."""
        in_flight = self.server.busy()
        for channel in list(self.server.active_channels.values()):
            if not isinstance(channel, GuardedChannel) or channel.lingering_until is not None:
                continue
            if channel.in_progress() or _has_unread_bytes(channel.socket):
                in_flight = True
            else:
                channel.abort()
        self.in_flight = in_flight
        swept.set()

    def _close_all(self) -> None:
        for channel in list(self.server._map.values()):
            if isinstance(channel, GuardedChannel):
                channel.abort()  # also wakes a thread still writing to it
            else:
                channel.close()


def _has_unread_bytes(sock: socket.socket | None) -> bool:
    if sock is None:
        return False
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))  # b"": the client closed, nothing to read
    except OSError:  # BlockingIOError: nothing there
        return False
