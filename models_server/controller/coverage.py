"""How many of the controller's candidates this catalog serves, per task."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from models_server.catalog import ModelSpec
from models_server.config import Tier
from models_server.controller.candidates import CANDIDATES, HYBRID_FLOOR


@dataclass(frozen=True)
class TaskCoverage:
    task: str
    candidates: tuple[str, ...]
    served: tuple[str, ...]  # the candidates a row serves (by id or alias), in the controller's order

    @property
    def enough_for_hybrid(self) -> bool:
        return len(self.served) >= min(HYBRID_FLOOR, len(self.candidates))


def coverage(rows: Iterable[ModelSpec], tier: Tier | None = None) -> list[TaskCoverage]:
    """Per controller task, which of its first ten candidates `rows` serve (in `tier`, when given)."""
    names = {name for row in rows if tier is None or row.in_tier(tier) for name in (row.id, *row.aliases)}
    return [
        TaskCoverage(task, candidates, tuple(name for name in candidates if name in names))
        for task, candidates in CANDIDATES.items()
    ]


def coverage_table(entries: list[TaskCoverage]) -> str:
    width = max(len(entry.task) for entry in entries)
    lines = [f"{'task'.ljust(width)}  served of the first ten  hybrid-safe"]
    for entry in entries:
        verdict = "yes" if entry.enough_for_hybrid else "NO"
        lines.append(f"{entry.task.ljust(width)}  {len(entry.served):>2} / {len(entry.candidates):<2}"
                     f"{'':18}{verdict}")
    total = sum(len(entry.served) for entry in entries)
    lines.append(f"{'total'.ljust(width)}  {total} / {sum(len(entry.candidates) for entry in entries)}")
    return "\n".join(lines)
