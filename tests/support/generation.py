"""A text generation held mid-way: the model's forward passes counted, one of them made to wait."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def forward_held(model: Any, before: int, hold: Callable[[], object]) -> Iterator[list[int]]:
    """The model's forward passes (one per generated token) counted in the list yielded; the
    `before`th calls `hold()` before it runs. The model's own forward is back afterwards."""
    passes: list[int] = []
    original = model.forward

    def forward(*args, **kwargs):
        passes.append(len(passes))
        if len(passes) == before:
            hold()
        return original(*args, **kwargs)

    model.forward = forward
    try:
        yield passes
    finally:
        del model.forward
