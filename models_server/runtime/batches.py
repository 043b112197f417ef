"""Requests of one shape waiting for their model's turn, taken together as one batch.

A request whose task can batch (`Task.batching`) and whose model allows it (`max_batch` > 1)
waits for its model's turn as a `Member` on the model's `Board`. The request that gets the
turn takes, at that moment, the members already waiting with its shape, up to `max_batch` in
all, and runs them as one call; nothing waits for a batch to fill. A taken member waits for its
own result and still answers for itself: cancelled or past its deadline, it leaves at once with
its own error, and the batch goes on for the others (it stops only once every member has left).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from models_server.catalog import ModelSpec
from models_server.config import Settings
from models_server.errors import TimedOut
from models_server.progress import CancelToken


def max_batch(settings: Settings, spec: ModelSpec) -> int:
    """The most requests the model runs as one call: 1 unless its task can batch."""
    if spec.task.batching is None:
        return 1
    return settings.diffusion_for(spec.id).max_batch


def batch_limits(settings: Settings, rows: Iterable[ModelSpec]) -> dict[str, int]:
    """Each row's `max_batch`, settled at start: requests read it, the config does not change."""
    return {row.id: max_batch(settings, row) for row in rows}


@dataclass(eq=False)
class Member:
    """One request of a batch: its decoded inputs, its own stop signals and, once run, its outcome."""

    model_id: str
    inputs: dict[str, Any]
    params: dict[str, Any]
    key: Hashable
    deadline: float
    token: CancelToken | None
    taken: bool = False  # by a batch (set under the board's lock)
    done: threading.Event = field(default_factory=threading.Event)
    _result: Any = None
    _error: BaseException | None = None

    def gone(self) -> bool:
        """Cancelled or past its deadline: nobody waits for its result any more."""
        return (self.token is not None and self.token.reason() is not None) or time.monotonic() > self.deadline

    def raise_if_gone(self) -> None:
        if self.token is not None:
            self.token.raise_if_cancelled()
        if time.monotonic() > self.deadline:
            raise TimedOut(f"{self.model_id} ran past the request_timeout limit in a batch")

    def succeed(self, result: Any) -> None:
        self._result = result
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self.done.set()

    def outcome(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result


class Board:
    """One model's members waiting for its turn, in the order they came."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards `_waiting` and every member's `taken`
        self._waiting: list[Member] = []

    def add(self, member: Member) -> None:
        with self.lock:
            self._waiting.append(member)

    def discard(self, member: Member) -> None:
        with self.lock:
            if member in self._waiting:
                self._waiting.remove(member)

    def lead(self, leader: Member, limit: int) -> list[Member] | None:
        """The batch `leader` runs now that it has the model's turn: itself first, then the members
        waiting with its shape that have not left, up to `limit` in all. None when another batch
        already took it (its turn came after that batch ran)."""
        with self.lock:
            if leader.taken:
                return None
            self._waiting.remove(leader)
            batch = [leader]
            for member in list(self._waiting):
                if len(batch) >= limit:
                    break
                if member.key == leader.key and not member.gone():
                    member.taken = True
                    self._waiting.remove(member)
                    batch.append(member)
            leader.taken = True
            return batch

    def waiting(self) -> int:
        """Members waiting for the model's turn, not yet taken by a batch."""
        with self.lock:
            return len(self._waiting)

    def is_taken(self, member: Member) -> bool:
        with self.lock:
            return member.taken

    def leave(self, member: Member) -> bool:
        """Take a member that gave up waiting off the board; False when a batch took it first."""
        with self.lock:
            if member.taken:
                return False
            self._waiting.remove(member)
            return True


class Boards:
    def __init__(self) -> None:
        self._boards: dict[str, Board] = {}
        self._lock = threading.Lock()

    def of(self, model_id: str) -> Board:
        with self._lock:
            return self._boards.setdefault(model_id, Board())


def batch_token(members: list[Member]) -> CancelToken:
    """The stop signal of a batch's run: set once every member has left."""
    return CancelToken("batch", client_gone=lambda: all(member.gone() for member in members))
