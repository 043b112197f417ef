"""Stopping the server gracefully: no new connections, the requests in flight answered."""

from __future__ import annotations

import functools
import logging
import signal
import socket
import threading
import time
from typing import Any

from models_server.http.channel import GuardedChannel
from models_server.http.server import GuardedServer

log = logging.getLogger(__name__)


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
