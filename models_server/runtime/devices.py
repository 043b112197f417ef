"""Choosing the device and dtype the settings ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


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
