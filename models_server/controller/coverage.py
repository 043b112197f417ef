"""How many of the controller's candidates this catalog serves, per task."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from models_server.catalog import ModelSpec
from models_server.config import Tier
from models_server.controller.candidates import CANDIDATES, HYBRID_FLOOR


@dataclass(frozen=True)
class TaskCoverage:
    task: str
    candidates: tuple[str, ...]
    served: tuple[str, ...]  # the candidates a row serves and can run (by id or alias), in the controller's order
    cannot_run: tuple[tuple[str, str], ...] = ()  # candidates a row serves that this environment cannot run: why

    @property
    def enough_for_hybrid(self) -> bool:
        return len(self.served) >= min(HYBRID_FLOOR, len(self.candidates))


def coverage(
    rows: Iterable[ModelSpec],
    tier: Tier | None = None,
    cannot_run: Callable[[ModelSpec], Exception | None] | None = None,
) -> list[TaskCoverage]:
    """Per controller task, which of its first ten candidates `rows` serve (in `tier`, when given)
    and this environment can run: `cannot_run(row)` says why a row cannot (a row that cannot is
    `failed`), by default `ModelSpec.missing_here` (what the row needs whatever its weights)."""
    served = [row for row in rows if tier is None or row.in_tier(tier)]
    why = cannot_run or ModelSpec.missing_here
    missing = {row.id: why(row) for row in served}
    reasons = {name: str(missing[row.id]) for row in served if missing[row.id] is not None
               for name in (row.id, *row.aliases)}
    names = {name for row in served if missing[row.id] is None for name in (row.id, *row.aliases)}
    return [
        TaskCoverage(task, candidates, tuple(name for name in candidates if name in names),
                     tuple((name, reasons[name]) for name in candidates if name in reasons))
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


def coverage_ids(entries: list[TaskCoverage]) -> str:
    """Per task, the candidates counted (they can run here), then those served that cannot, with why."""
    lines = []
    for entry in entries:
        lines.append(f"{entry.task}: {len(entry.served)} / {len(entry.candidates)}")
        lines.extend(f"  {name}" for name in entry.served)
        lines.extend(f"  not counted: {name} ({reason})" for name, reason in entry.cannot_run)
    return "\n".join(lines)
