"""Which models make room when a memory budget is short: least recently used, idle ones only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Candidate:
    model_id: str
    last_used: float  # 0 for a model loaded but never used: it goes first
    busy: bool  # running or queued: never evicted
    freed_bytes: int  # what moving it down would free on the device in question


def choose_victims(candidates: Iterable[Candidate], needed: int) -> list[str] | None:
    """The fewest least-recently-used idle models whose moving frees `needed` bytes.

    None when even all idle models together cannot free that much.
    """
    if needed <= 0:
        return []
    chosen: list[str] = []
    freed = 0
    for candidate in sorted(candidates, key=lambda c: c.last_used):
        if candidate.busy or candidate.freed_bytes <= 0:
            continue
        chosen.append(candidate.model_id)
        freed += candidate.freed_bytes
        if freed >= needed:
            return chosen
    return None
