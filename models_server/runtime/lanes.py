"""One long-lived thread per model, on which its model calls run.

torch's OpenMP keeps a team of pool threads per calling thread. Calls made on whichever server
thread took the request built or woke a different team each time: teams whose idle threads spin
take the cores from the one working, and teams whose threads sleep pay a wake-up at every op (a
tiny ControlNet step took 3x as long). A model's calls take turns anyway (its run lock), so
running them on one thread of its own costs nothing in parallelism, and its team stays warm.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class ComputeLanes:
    def __init__(self) -> None:
        self._lanes: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def run(self, model_id: str, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` on the model's own thread; returns or raises as the call did."""
        return self._lane(model_id).submit(call, *args).result()

    def submit(self, model_id: str, call: Callable[..., T], *args: Any) -> Future[T]:
        """`call(*args)` on the model's own thread, not waiting for it."""
        return self._lane(model_id).submit(call, *args)

    def _lane(self, model_id: str) -> ThreadPoolExecutor:
        with self._lock:
            lane = self._lanes.get(model_id)
            if lane is None:
                name = f"compute-{model_id.rsplit('/', 1)[-1][:24]}"
                lane = self._lanes[model_id] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
            return lane
