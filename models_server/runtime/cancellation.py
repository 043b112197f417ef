"""The requests in flight that a person may cancel by their request id (`X-Request-ID`).

Each request's `CancelToken` (progress.py) is registered here for as long as it is served;
cancelling marks the token, and the request stops where the runtime checks it: waiting for
its model's turn, before it runs, or at the next step of a generation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from models_server.progress import CancelToken


@dataclass
class _Entry:
    token: CancelToken
    done: threading.Event = field(default_factory=threading.Event)


class Cancellations:
    def __init__(self) -> None:
        self._entries: dict[str, list[_Entry]] = {}
        self._lock = threading.Lock()  # guards `_entries`: request threads add and remove, cancels read

    @contextmanager
    def tracked(self, token: CancelToken) -> Iterator[CancelToken]:
        entry = _Entry(token)
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
