"""Polling with a deadline: a condition that never comes true fails the test instead of hanging it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], within: float, what: str, interval: float = 0.01) -> T:
    """Call `condition` until it returns something truthy, and return that; fail naming `what`
    (the awaited event, e.g. "the queue filled") once `within` seconds have passed without it."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        assert time.monotonic() < deadline, f"waited {within:g} s, and still not: {what}"
        time.sleep(interval)
    return value
