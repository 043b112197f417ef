"""Importing a third-party library together with what our process needs right after its import.

Most libraries need nothing. speechbrain does: `import speechbrain` leaves lazy proxy modules in
sys.modules that raise ImportError on any attribute read, and every path that imports it (the
loaders, the tiny builders, `models-server check`) must leave the process as usable as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any


def quiet_speechbrain_lazy_modules() -> None:
    """Make speechbrain's lazy modules answer dunder lookups they cannot import with AttributeError.

    `import speechbrain` puts lazy proxies in sys.modules (deprecated redirects, the optional k2,
    spacy and flair integrations). Reading any attribute imports the target, and when that
    dependency is missing the proxy raises ImportError, even for `getattr(module, "__file__",
    None)`, which tools that scan sys.modules rely on (hypothesis does, and crashed the server's
    fuzz tests). For dunder names only, the ImportError becomes the AttributeError Python's
    getattr protocol expects; every other attribute behaves as before. Idempotent.
    """
    from speechbrain.utils.importutils import LazyModule

    original = LazyModule.__getattr__
    if getattr(original, "answers_dunders", False):
        return

    def __getattr__(self: Any, attr: str) -> Any:
        try:
            return original(self, attr)
        except ImportError:
            if attr.startswith("__") and attr.endswith("__"):
                raise AttributeError(attr) from None
            raise

    __getattr__.answers_dunders = True  # type: ignore[attr-defined]
    LazyModule.__getattr__ = __getattr__


# library module name -> what to run once it is imported
AFTER_IMPORT: dict[str, Callable[[], None]] = {"speechbrain": quiet_speechbrain_lazy_modules}


def import_library(name: str) -> ModuleType:
    """`importlib.import_module(name)`, then the library's after-import step if it has one."""
    module = importlib.import_module(name)
    settle = AFTER_IMPORT.get(name.split(".")[0])
    if settle is not None:
        settle()
    return module
