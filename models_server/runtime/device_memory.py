"""What each device holds: the models' weights by the runtime's own accounting, beside what torch
and the driver say of the same device.

The readings come from a `MemorySource`: `TorchMemory` in a server. It never imports torch and
never opens a CUDA context: a status read must stay cheap, and must not cost a card the server
does not use a context's worth of memory. On the CPU, `reserved_bytes` is the server process's
resident set (weights, activations, allocator caches, libraries: what it holds of the machine's
RAM), the nearest thing to the CUDA caching allocator's reserve; CPU free and total are null.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class CudaReading:
    device: str  # "cuda:0"
    allocated: int  # torch.cuda.memory_allocated: bytes in live tensors
    reserved: int  # torch.cuda.memory_reserved: bytes torch's caching allocator holds
    free: int | None  # torch.cuda.mem_get_info: the driver's free and total; None when not asked
    total: int | None


class MemorySource(Protocol):
    def cuda(self, in_use: str) -> list[CudaReading]:
        """One reading per CUDA device torch has in use; `in_use` is the runtime's device."""

    def process_rss(self) -> int | None:
        """This process's resident set in bytes; None where it cannot be read."""


class TorchMemory:
    """The readings of this process: torch's allocator and the driver for CUDA, the OS for RSS."""

    def cuda(self, in_use: str) -> list[CudaReading]:
        torch = sys.modules.get("torch")
        if torch is None or not torch.cuda.is_initialized():
            return []
        readings = []
        for index in range(torch.cuda.device_count()):
            device, reserved = f"cuda:{index}", torch.cuda.memory_reserved(index)
            # mem_get_info opens a context on a card that has none: ask only cards already in use
            free, total = torch.cuda.mem_get_info(index) if device == in_use or reserved else (None, None)
            readings.append(CudaReading(device=device, allocated=torch.cuda.memory_allocated(index),
                                        reserved=reserved, free=free, total=total))
        return readings

    def process_rss(self) -> int | None:
        import psutil

        try:
            return int(psutil.Process(os.getpid()).memory_info().rss)
        except psutil.Error:
            return None


class ReplicaMemory:
    """For a host whose models live in other processes (Ray's replicas): this process's torch and
    RSS say nothing of them, so only the models' bytes are reported."""

    def cuda(self, in_use: str) -> list[CudaReading]:
        return []

    def process_rss(self) -> int | None:
        return None


@dataclass(frozen=True, kw_only=True)
class DeviceMemory:
    """One device, as `/status` and `/metrics` report it; None where there is no such figure."""

    models_bytes: int  # weights of the server's models on it, a tensor shared by several counted once
    allocated_bytes: int | None
    reserved_bytes: int | None
    free_bytes: int | None
    total_bytes: int | None

    def as_json(self) -> dict[str, int | None]:
        return asdict(self)


def device_memory(resident: Mapping[str, int], device: str, source: MemorySource) -> dict[str, DeviceMemory]:
    """`resident`: the models' bytes per kind ("cpu", "gpu"); a runtime's GPU weights are all on
    its one `device`. The CPU first, then every CUDA device the source reads."""
    report = {"cpu": DeviceMemory(models_bytes=resident.get("cpu", 0), allocated_bytes=None,
                                  reserved_bytes=source.process_rss(), free_bytes=None, total_bytes=None)}
    gpu_bytes = resident.get("gpu", 0)
    for reading in source.cuda(device):
        report[reading.device] = DeviceMemory(
            models_bytes=gpu_bytes if reading.device == device else 0, allocated_bytes=reading.allocated,
            reserved_bytes=reading.reserved, free_bytes=reading.free, total_bytes=reading.total)
    if device.startswith("cuda") and device not in report:  # nothing read of it: the models' share alone
        report[device] = DeviceMemory(models_bytes=gpu_bytes, allocated_bytes=None, reserved_bytes=None,
                                      free_bytes=None, total_bytes=None)
    return report
