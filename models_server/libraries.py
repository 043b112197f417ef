"""Importing a third-party library together with what our process needs around its import.

Most libraries need nothing. TensorFlow needs triton imported first: once TensorFlow is loaded,
importing triton (diffusers and torch's compiler pull it in) segfaults the process, while the
other order is fine (a CPU server makes triton unimportable instead: tasks/libraries.py).
speechbrain does too: `import speechbrain` leaves lazy proxy modules in
sys.modules that raise ImportError on any attribute read, and every path that imports it (the
loaders, the tiny builders, `models-server check`) must leave the process as usable as before.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from types import ModuleType
from typing import Any


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
