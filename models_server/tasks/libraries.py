"""Importing only the parts of a library family that the configured rows use.

Task modules import their libraries inside their loaders, so a family is imported only when a
row of it loads. Two libraries import far more than we use even then:

- `controlnet_aux/__init__.py` imports every detector it ships (Leres, MediaPipe face, SAM,
  Zoe, ... with timm and their model registries: ~30 MiB of RSS) although the server uses four.
  `aux_module` imports one detector's module without running that `__init__`; the package's
  names still resolve on first use (`from controlnet_aux import X` runs the real `__init__`).
- torch's compiler imports triton (~80 MiB) whenever the package is installed; diffusers imports
  the compiler at import time. Triton compiles GPU kernels only: CPU builds of torch ship
  without it, and `torch.compile` on the CPU generates C++. `skip_gpu_only_libraries` makes a
  CPU server behave like that build.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

_AUX = "controlnet_aux"
_lock = threading.Lock()
GPU_ONLY_LIBRARIES = ("triton",)


def aux_module(name: str) -> ModuleType:
    """`controlnet_aux.<name>` without the package's import-everything `__init__`."""
    with _lock:
        if _AUX not in sys.modules:
            sys.modules[_AUX] = _package_shell(_AUX)
    return importlib.import_module(f"{_AUX}.{name}")


def _package_shell(package: str) -> ModuleType:
    """The package as a module whose `__init__` has not run: its submodules import as usual
    (their relative imports only need the package's `__path__`), and the first attribute that
    is not a loaded submodule runs the real `__init__` in place, once."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {package!r}", name=package)
    module = importlib.util.module_from_spec(spec)
    initialised = threading.Lock()
    state = {"done": False}

    def __getattr__(attribute: str) -> Any:
        with initialised:
            if not state["done"]:
                state["done"] = True
                del module.__dict__["__getattr__"]
                spec.loader.exec_module(module)  # type: ignore[union-attr]
        try:
            return module.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {attribute!r}") from None

    module.__dict__["__getattr__"] = __getattr__
    return module


def skip_gpu_only_libraries(device: str) -> list[str]:
    """On the CPU, make the GPU-only libraries unimportable (ImportError, as when they are not
    installed; torch and diffusers check for that). Those already imported stay. Returns the
    names skipped."""
    if device != "cpu":
        return []
    skipped = [name for name in GPU_ONLY_LIBRARIES if name not in sys.modules]
    for name in skipped:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not importable"
    return skipped


# What importing a catalog `framework` means before its first row loads: the package the
# loaders start from (controlnet_aux: its shared helpers, without the package's `__init__`).
_FAMILY_MODULES = {
    "transformers": "transformers",
    "diffusers": "diffusers",
    "controlnet_aux": f"{_AUX}.util",
    "sentence-transformers": "sentence_transformers",
    "scikit-learn": "sklearn",
}


def import_family(framework: str) -> None:
    """Import a family's entry module (the loaders import their own parts on top)."""
    if framework == "tensorflow":
        from models_server.tasks.tensorflow_runtime import import_tensorflow

        import_tensorflow()
        return
    module = _FAMILY_MODULES.get(framework)
    if module is None:
        return
    if module.startswith(f"{_AUX}."):
        aux_module(module.removeprefix(f"{_AUX}."))
    else:
        importlib.import_module(module)
