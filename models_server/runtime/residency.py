"""Keeping resident models within the memory budgets.

Loads, moves and evictions happen one at a time under `Residency.lock`. The least recently
used idle model moves down (GPU -> CPU -> unloaded) when a budget is short; victims are
claimed in the slot table, under the lock requests pin with, so a running model never moves.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass

from models_server.runtime import memory
from models_server.runtime.devices import DeviceChoice, DeviceKind, Placement
from models_server.runtime.eviction import choose_victims
from models_server.runtime.slots import SlotTable
from models_server.tasks.loading import SharedComponents

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budgets:
    """Bytes of weights allowed on each device kind; None is no limit."""

    cpu: int | None = None
    gpu: int | None = None

    def of(self, kind: DeviceKind) -> int | None:
        return self.gpu if kind == "gpu" else self.cpu


@dataclass(frozen=True, kw_only=True)
class Storage:
    size: int
    kind: DeviceKind
    holders: frozenset[str]  # ids of the resident models holding it


class Residency:
    def __init__(self, slots: SlotTable, budgets: Budgets, device: DeviceChoice, shared: SharedComponents) -> None:
        self.slots = slots
        self.budgets = budgets
        self.device = device
        self.shared = shared
        self.lock = threading.RLock()
        # resident_bytes' last answer and the slots' residency_key it was counted at: walking every
        # tensor of every model takes a quarter second for a tier, too long for each status read
        self._counted: tuple[tuple[object, ...], dict[str, int]] | None = None

    def storages(self) -> dict[int, Storage]:
        """Every tensor storage the resident models hold, each once."""
        table: dict[int, tuple[int, DeviceKind, set[str]]] = {}
        for model_id, model in self.slots.resident().items():
            for pointer, (size, kind) in memory.storages(model).items():
                table.setdefault(pointer, (size, "cpu" if kind == "cpu" else "gpu", set()))[2].add(model_id)
        return {pointer: Storage(size=size, kind=kind, holders=frozenset(ids))
                for pointer, (size, kind, ids) in table.items()}

    def resident_bytes(self) -> dict[str, int]:
        """Bytes held on each device kind, every shared tensor counted once; counted again only
        once a model has loaded, moved or left since the last count."""
        key = self.slots.residency_key()
        counted = self._counted
        if counted is not None and counted[0] == key:
            return dict(counted[1])
        totals = {"cpu": 0, "gpu": 0}
        for storage in self.storages().values():
            totals[storage.kind] += storage.size
        self._counted = (key, totals)
        return dict(totals)

    def over_budget(self, kind: DeviceKind, extra: int = 0) -> int:
        budget = self.budgets.of(kind)
        return 0 if budget is None else self.resident_bytes()[kind] + extra - budget

    def make_room(self, needed: int, protect: str | None) -> bool:
        """Move least recently used idle models down until `needed` more bytes fit; False (and
        nothing moved) when the idle models cannot free enough."""
        kind = self.device.kind
        shortfall = self.over_budget(kind, needed)
        if shortfall <= 0:
            return True
        freed: dict[str, int] = {}
        for storage in self.storages().values():
            if storage.kind == kind and len(storage.holders) == 1:
                (only,) = storage.holders
                freed[only] = freed.get(only, 0) + storage.size
        victims = self.slots.claim_victims(freed, protect, lambda candidates: choose_victims(candidates, shortfall))
        if victims is None:
            return False
        for index, model_id in enumerate(victims):
            try:
                self._move_down(model_id, kind)
            except BaseException:
                for claimed in victims[index:]:
                    self.slots.unclaim(claimed)
                raise
        return self.over_budget(kind, needed) <= 0

    def _move_down(self, model_id: str, kind: str) -> None:
        """GPU -> CPU when the GPU is short (and the CPU budget allows), else unload."""
        view = self.slots.view(model_id)
        if kind == "gpu" and view.placement == "gpu" and self.over_budget("cpu", view.bytes) <= 0:
            resident = self.slots.resident()
            keep = {  # modules another GPU-resident model still uses stay on the GPU
                id(module)
                for other, model in resident.items()
                if other != model_id and self.slots.view(other).placement == "gpu"
                for module in memory.modules_of(model)
            }
            memory.move(resident[model_id], "cpu", keep=keep)
            self.slots.moved(model_id, "cpu", moved_down=True)
            log.info("moved %s to the CPU to make room on the GPU", model_id)
            return
        self.unload(model_id)
        log.info("unloaded %s to make room", model_id)

    def bring_back(self, model_id: str) -> None:
        """A model moved down to make room goes back to the device before it runs."""
        memory.move(self.slots.model(model_id), self.device.device)
        self.measure(model_id)
        self.slots.moved(model_id, self.slots.view(model_id).placement, moved_down=False)

    def measure(self, model_id: str) -> None:
        storages = memory.storages(self.slots.model(model_id))
        placement: Placement = "gpu" if any(kind != "cpu" for _, kind in storages.values()) else "cpu"
        self.slots.measured(model_id, sum(size for size, _ in storages.values()), placement)

    def unload(self, model_id: str) -> None:
        if self.slots.model(model_id) is None:
            return
        self.slots.unloaded(model_id)
        self.shared.release(model_id)
        self.release_cached_memory()

    def release_cached_memory(self) -> None:
        """Give freed GPU memory back to the driver: after an unload, or an out-of-memory request.

        On the CPU, reference counting frees an unloaded model's tensors at once; a full garbage
        collection (a tenth of a second or more, under the residency lock) only pays on CUDA,
        where the cache is emptied of what cycles still held.
        """
        if self.device.kind == "gpu":
            import torch

            gc.collect()
            torch.cuda.empty_cache()
