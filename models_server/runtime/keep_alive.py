"""How long each loaded model stays once idle, and the one thread that unloads it after that.

A model's keep-alive is, in order: what the last load call asked for, its config line's
`keep_alive`, else -1 (never) for a preloaded row and the config's `keep_alive` for a lazy one.
The idle clock starts when the model's last request leaves (or when it loaded, or the load
call touched it). The thread only reads slot snapshots and unloads models no request holds:
nothing on a request's path waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from models_server.config import Settings
from models_server.runtime.slots import SlotTable, SlotView

log = logging.getLogger(__name__)

NEVER = -1.0


@dataclass(frozen=True)
class _Asked:
    """A load call's keep-alive, and when it was asked (the idle clock restarts then)."""

    seconds: float
    at: float


class KeepAlive:
    def __init__(self, settings: Settings, slots: SlotTable, preloaded: Collection[str],
                 unload_idle: Callable[[str], bool], clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.slots = slots
        self.preloaded = frozenset(preloaded)
        self.unload_idle = unload_idle
        self.clock = clock
        self._asked: dict[str, _Asked] = {}
        self._lock = threading.Lock()  # guards `_asked`, written by load calls and the thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def ask(self, model_id: str, seconds: float | None) -> None:
        """A load call's keep-alive for this residency of the model (None: back to the config's)."""
        with self._lock:
            if seconds is None:
                self._asked.pop(model_id, None)
            else:
                self._asked[model_id] = _Asked(seconds, self.clock())

    def forget(self, model_id: str) -> None:
        """The model left memory: a load call's keep-alive ends with it."""
        self.ask(model_id, None)

    def seconds(self, model_id: str) -> float:
        with self._lock:
            asked = self._asked.get(model_id)
        if asked is not None:
            return asked.seconds
        configured = self.settings.override(model_id).keep_alive
        if configured is not None:
            return configured
        return NEVER if model_id in self.preloaded else self.settings.keep_alive

    def expires_in(self, view: SlotView) -> float | None:
        """Seconds until the model unloads: None when it never does, is not loaded or is in use."""
        seconds = self.seconds(view.spec.id)
        since = view.idle_since
        if seconds == NEVER or since is None:
            return None
        with self._lock:
            asked = self._asked.get(view.spec.id)
        if asked is not None:
            since = max(since, asked.at)
        return max(0.0, seconds - (self.clock() - since))

    def check(self) -> list[str]:
        """Unload every model idle past its keep-alive; the ids unloaded."""
        unloaded = []
        for model_id, view in self.slots.views().items():
            remaining = self.expires_in(view)
            if remaining is None or remaining > 0:
                continue
            seconds = self.seconds(model_id)
            if self.unload_idle(model_id):
                self.forget(model_id)
                unloaded.append(model_id)
                log.info("unloaded %s: idle for its keep_alive of %gs", model_id, seconds,
                         extra={"event": "keep_alive_unload", "model": model_id})
        return unloaded

    def start(self, interval: float = 1.0) -> None:
        """Check every `interval` seconds on a daemon thread, until `stop`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, args=(interval,), name="keep-alive", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.check()
            except Exception:  # one failed unload must not end the timer for every model
                log.exception("keep-alive check failed")
