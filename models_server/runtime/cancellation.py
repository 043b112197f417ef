"""The requests in flight that a person may cancel by their request id (`X-Request-ID`).

Each request's `CancelToken` (progress.py) is registered here for as long as it is served;
cancelling marks the token, and the request stops where the runtime checks it: waiting for
its model's turn, before it runs, or at the next step of a generation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from models_server.progress import CancelToken


@dataclass(frozen=True, kw_only=True)
class InFlight:
    """A request being served, as a person picking one to cancel sees it."""

    request_id: str
    model: str | None  # the model its path or body names; None when it names none served here
    path: str
    started: float  # wall-clock time it came in
    cancelled: bool


@dataclass
class _Entry:
    token: CancelToken
    model: str | None
    path: str
    started: float = field(default_factory=time.time)
    done: threading.Event = field(default_factory=threading.Event)


class Cancellations:
    def __init__(self) -> None:
        self._entries: dict[str, list[_Entry]] = {}
        self._lock = threading.Lock()  # guards `_entries`: request threads add and remove, cancels read

    @contextmanager
    def tracked(self, token: CancelToken, model: str | None = None, path: str = "") -> Iterator[CancelToken]:
        entry = _Entry(token, model, path)
        with self._lock:
            self._entries.setdefault(token.request_id, []).append(entry)
        try:
            yield token
        finally:
            entry.done.set()
            with self._lock:
                entries = self._entries[token.request_id]
                entries.remove(entry)
                if not entries:
                    del self._entries[token.request_id]

    def ids(self) -> list[str]:
        """The request ids in flight."""
        with self._lock:
            return list(self._entries)

    def cancel(self, request_id: str, reason: str) -> list[threading.Event]:
        """Cancel every request in flight with this id; each one's event is set once it has ended.
        An empty list: no such request (finished, or never here)."""
        with self._lock:
            entries = list(self._entries.get(request_id, ()))
        for entry in entries:
            entry.token.cancel(reason)
        return [entry.done for entry in entries]

    def in_flight(self) -> list[InFlight]:
        """Every request being served, oldest first."""
        with self._lock:
            entries = [entry for listed in self._entries.values() for entry in listed]
        return sorted((InFlight(request_id=entry.token.request_id, model=entry.model, path=entry.path,
                                started=entry.started, cancelled=entry.token.reason() is not None)
                       for entry in entries), key=lambda request: request.started)
