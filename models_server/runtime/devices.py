"""Choosing the device and dtype the settings ask for."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

DeviceKind = Literal["gpu", "cpu"]
"""A kind of device memory: each has its own budget."""
Placement = Literal["gpu", "cpu", "unloaded"]
"""Where a model's weights are."""


def resolve_device(requested: str) -> str:
    """"auto" is the first GPU when there is one, else the CPU; "cuda" means "cuda:0"."""
    import torch

    if requested == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        requested = "cuda:0"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested} was asked for, but torch sees no CUDA device")
    return requested


def resolve_dtype(requested: str, device: str) -> torch.dtype:
    """"auto" is float16 on CUDA (half the memory, tensor cores) and float32 on the CPU."""
    import torch

    if requested == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, requested)


def dtype_name(dtype: torch.dtype | None) -> str | None:
    return None if dtype is None else str(dtype).removeprefix("torch.")


class DeviceChoice:
    """The device and dtype the settings ask for, resolved once, when the first model loads.

    Resolving imports torch and may initialise CUDA, so it waits until loading starts rather
    than slowing the port's opening. `error` says why it failed, for every model's status.
    """

    def __init__(self, requested_device: str, requested_dtype: str) -> None:
        self.requested_dtype = requested_dtype
        self.device = requested_device
        self.dtype: torch.dtype | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._resolved = False

    def resolve(self) -> bool:
        with self._lock:
            if not self._resolved and self.error is None:
                try:
                    self.device = resolve_device(self.device)
                    self.dtype = resolve_dtype(self.requested_dtype, self.device)
                    self._resolved = True
                except RuntimeError as exc:
                    self.error = str(exc)
            return self._resolved

    @property
    def kind(self) -> DeviceKind:
        """Which memory budget the models' weights count against."""
        return "gpu" if self.device.startswith("cuda") else "cpu"

    @property
    def dtype_name(self) -> str:
        return dtype_name(self.dtype) or self.requested_dtype
