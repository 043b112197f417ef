"""Importing third-party libraries the way our process needs them: only the parts the rows use,
and with what a library needs around its import.

Implementations import their libraries inside their loaders, so a library is imported only when a
row that uses it loads. Two libraries import far more than we use even then:

- `controlnet_aux/__init__.py` imports every detector it ships (Leres, MediaPipe face, SAM,
  Zoe, ... with timm and their model registries: ~30 MiB of RSS) although the server uses four.
  `aux_module` imports one detector's module without running that `__init__`; the package's
  names still resolve on first use (`from controlnet_aux import X` runs the real `__init__`).
- torch's compiler imports triton (~80 MiB) whenever the package is installed; diffusers imports
  the compiler at import time. Triton compiles GPU kernels only: CPU builds of torch ship
  without it, and `torch.compile` on the CPU generates C++. `skip_gpu_only_libraries` makes a
  CPU server behave like that build.

Others import a heavy package at module level for a path no row of ours takes (a training loss,
a scheduler option): `defer_unused_packages` leaves those packages' `__init__` unrun until their
first real use.

`import_library` runs a library's own before- and after-import steps. TensorFlow needs triton
imported first: once TensorFlow is loaded, importing triton (diffusers and torch's compiler pull
it in) segfaults the process, while the other order is fine (a CPU server makes triton
unimportable instead). `import speechbrain` leaves lazy proxy modules in sys.modules that raise
ImportError on any attribute read, and every path that imports it (the loaders, the tiny
builders, `models-server check`) must leave the process as usable as before.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Literal

_AUX = "controlnet_aux"
_lock = threading.Lock()
GPU_ONLY_LIBRARIES = ("triton",)


def aux_module(name: str) -> ModuleType:
    """`controlnet_aux.<name>` without the package's import-everything `__init__`."""
    with _lock:
        if _AUX not in sys.modules:
            sys.modules[_AUX] = _package_shell(_AUX)
    return importlib.import_module(f"{_AUX}.{name}")


def _package_shell(package: str, early_names: Mapping[str, str] | None = None) -> ModuleType:
    """The package as a module whose `__init__` has not run: its submodules import as usual
    (their relative imports only need the package's `__path__`), and the first attribute that
    is not a loaded submodule runs the real `__init__` in place, once. `early_names` maps names
    that libraries take at import time (`from package import name`) to the submodule that
    defines them: those resolve from that submodule alone, the very object `__init__` exports."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {package!r}", name=package)
    module = importlib.util.module_from_spec(spec)
    initialised = threading.Lock()
    state = {"done": False}
    early = dict(early_names or {})

    def __getattr__(attribute: str) -> Any:
        if attribute in early and not state["done"]:
            value = getattr(importlib.import_module(early[attribute]), attribute)
            module.__dict__.setdefault(attribute, value)
            return value
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


# Packages that libraries import at module level only for paths the server never takes, with
# the names they take at import time and the submodule defining each (checked against the
# packages' own `__init__` by tests/e2e/test_imports.py).
DEFERRED_PACKAGES: dict[str, dict[str, str]] = {
    # diffusers' schedulers (every ControlNet and SD pipeline imports them): `import scipy.stats`,
    # used for `use_beta_sigmas` only. About 21 MiB beyond what the tier needs of scipy.
    "scipy.stats": {},
    # diffusers' LMS scheduler, imported with the others: `from scipy import integrate`, used
    # when an LMS step runs. Its `__init__` brings scipy.optimize, .sparse and .linalg.
    "scipy.integrate": {},
    # transformers' DETR-family training losses, imported by every model class through
    # modeling_utils: `from scipy.optimize import linear_sum_assignment`. About 28 MiB.
    "scipy.optimize": {"linear_sum_assignment": "scipy.optimize._lsap"},
}


def defer_unused_packages() -> list[str]:
    """Install a shell (see `_package_shell`) for each deferred package not imported yet, so
    that importing it costs nothing until a caller really uses it. Returns the names deferred."""
    deferred = []
    with _lock:
        for package, early_names in DEFERRED_PACKAGES.items():
            if package in sys.modules:
                continue
            try:
                shell = _package_shell(package, early_names)
            except ModuleNotFoundError:  # not installed: its importers have their own fallbacks
                continue
            sys.modules[package] = shell
            parent, _, child = package.rpartition(".")
            if parent:
                setattr(sys.modules[parent], child, shell)  # as the import system would
            deferred.append(package)
    return deferred


Framework = Literal[
    "transformers", "diffusers", "controlnet_aux", "sentence-transformers", "scikit-learn", "xgboost",
    "tensorflow", "speechbrain", "espnet", "asteroid",
]
"""The library a catalog row's loader runs on, as `/status` names it (the Inference API's `framework`)."""

# What importing a catalog `framework` means before its first row loads: the package the
# loaders start from (controlnet_aux: its shared helpers, without the package's `__init__`).
_ENTRY_MODULES: dict[Framework, str] = {
    "transformers": "transformers",
    "diffusers": "diffusers",
    "controlnet_aux": f"{_AUX}.util",
    "sentence-transformers": "sentence_transformers",
    "scikit-learn": "sklearn",
}


def missing_library(framework: str) -> str | None:
    """Why a catalog `framework`'s package cannot be imported here, found without importing it."""
    module = {"sentence-transformers": "sentence_transformers", "scikit-learn": "sklearn"}.get(
        framework, framework.replace("-", "_"))
    if importlib.util.find_spec(module) is None:
        return f"the library {module} is not installed"
    return None


def importable(module: str) -> bool:
    """Whether `module` can be imported here, found from the installed files without importing it
    (or any package above it). A module a package makes only by aliasing it at import (as
    sentence-transformers 5 does `sentence_transformers.models`) is not found: ask only about
    packages laid out as files (scikit-learn, XGBoost, NumPy, joblib, pandas are). A module set to
    None in `sys.modules` is one made unimportable here (`import` raises ImportError for it)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    prefix = top
    for part in rest:
        if spec is None or not spec.submodule_search_locations:
            return False
        prefix = f"{prefix}.{part}"
        spec = importlib.machinery.PathFinder.find_spec(prefix, list(spec.submodule_search_locations))
    return spec is not None


def import_library_of(framework: Framework) -> None:
    """Import the entry module of a row's library (the loaders import their own parts on top)."""
    if framework == "tensorflow":
        from models_server.tasks.tensorflow.runtime import import_tensorflow

        import_tensorflow()
        return
    module = _ENTRY_MODULES.get(framework)
    if module is None:
        return
    if module.startswith(f"{_AUX}."):
        aux_module(module.removeprefix(f"{_AUX}."))
    else:
        importlib.import_module(module)


def quiet_speechbrain_lazy_modules() -> None:
    """Make speechbrain's lazy modules answer `__file__` and failed dunder lookups as modules do.

    `import speechbrain` puts lazy proxies in sys.modules (deprecated redirects, the optional k2,
    spacy, flair and huggingface integrations). Reading any attribute imports the target: for
    `getattr(module, "__file__", None)`, which tools that scan sys.modules use (hypothesis does),
    that meant importing every integration (~40 s on a cold install) and, when its dependency is
    missing, an ImportError that crashed the scan. Now a proxy not yet loaded has no `__file__`
    (AttributeError, nothing imported), and any other dunder whose import fails is the
    AttributeError Python's getattr protocol expects; every other lookup behaves as before.
    Idempotent.
    """
    from speechbrain.utils.importutils import LazyModule

    original = LazyModule.__getattr__
    if getattr(original, "answers_dunders", False):
        return

    def __getattr__(self: Any, attr: str) -> Any:
        if attr == "__file__" and self.lazy_module is None:
            raise AttributeError(attr)
        try:
            return original(self, attr)
        except ImportError:
            if attr.startswith("__") and attr.endswith("__"):
                raise AttributeError(attr) from None
            raise

    __getattr__.answers_dunders = True  # type: ignore[attr-defined]
    LazyModule.__getattr__ = __getattr__


def import_triton_if_installed() -> None:
    if importlib.util.find_spec("triton") is not None:  # None too when made unimportable
        importlib.import_module("triton")


# library module name -> what to run before it is imported, and once it is imported
BEFORE_IMPORT: dict[str, Callable[[], None]] = {
    "tensorflow": import_triton_if_installed, "keras": import_triton_if_installed,
}
AFTER_IMPORT: dict[str, Callable[[], None]] = {"speechbrain": quiet_speechbrain_lazy_modules}


def import_library(name: str) -> ModuleType:
    """`importlib.import_module(name)`, with the library's before- and after-import steps."""
    prepare = BEFORE_IMPORT.get(name.split(".")[0])
    if prepare is not None:
        prepare()
    module = importlib.import_module(name)
    settle = AFTER_IMPORT.get(name.split(".")[0])
    if settle is not None:
        settle()
    return module
