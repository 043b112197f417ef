"""Finding the tensors a loaded model holds: to count its bytes and to move it between devices.

Models are whatever loaders return (pipelines, small wrappers holding a model and a
processor), so this walks attributes, dicts and lists down to `torch.nn.Module`s. Tensors are
identified by their storage, so a module shared by several pipelines is counted once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterable, Iterator, Set
from typing import Any

_MAX_DEPTH = 4
_SKIP = (str, bytes, int, float, bool, type(None))


def modules_of(obj: Any) -> list[Any]:
    """The top-level torch modules reachable from `obj` (a module's children are not listed)."""
    import torch

    found: dict[int, torch.nn.Module] = {}
    _walk(obj, found, seen=set(), depth=0, module_type=torch.nn.Module)
    return list(found.values())


def _walk(obj: Any, found: dict, seen: set[int], depth: int, module_type: type) -> None:
    if isinstance(obj, _SKIP) or id(obj) in seen or depth > _MAX_DEPTH:
        return
    seen.add(id(obj))
    if isinstance(obj, module_type):
        found[id(obj)] = obj
        return
    if isinstance(obj, dict):
        children: Iterable[Any] = obj.values()
    elif isinstance(obj, (list, tuple, set)):
        children = obj
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        children = vars(obj).values()
    else:
        return
    for child in children:
        _walk(child, found, seen, depth + 1, module_type)


def storages(obj: Any) -> dict[int, tuple[int, str]]:
    """storage address -> (bytes, device type) for every parameter and buffer `obj` holds."""
    result: dict[int, tuple[int, str]] = {}
    for module in modules_of(obj):
        for tensor in _tensors(module):
            if tensor.device.type == "meta":
                continue
            storage = tensor.untyped_storage()
            result[storage.data_ptr()] = (storage.nbytes(), tensor.device.type)
    return result


def _tensors(module: Any) -> Iterator[Any]:
    yield from module.parameters()
    yield from module.buffers()


def move(obj: Any, device: str, keep: Set[int] = frozenset()) -> None:
    """Move every module of `obj` to `device`, except those whose id is in `keep`."""
    for module in modules_of(obj):
        if id(module) not in keep:
            module.to(device)


def release_free_memory() -> None:
    """Hand the heap pages freed by loading (state dicts read then copied) or unloading back to the
    system: glibc keeps them otherwise, and the process looks that much bigger for as long as it runs."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
