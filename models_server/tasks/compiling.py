"""Where torch.compile keeps what it compiled, so the next start reuses it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

COMPILE_CACHE = "torch-compile"  # under the server's cache_dir


def warn_compile_failed(model_id: str, failure: BaseException) -> None:
    """The one line a compile that failed (and left the model eager) logs: the error's first line,
    not the compiler's pages of it."""
    log.warning("torch.compile of %s failed, it runs without compiling: %s: %s", model_id,
                type(failure).__name__, (str(failure).strip().splitlines() or [""])[0])


def use_compile_cache(folder: Path) -> None:
    """Inductor's on-disk caches (compiled graphs and kernels) in `folder`: TORCHINDUCTOR_CACHE_DIR
    is torch's documented setting for them, read whenever inductor looks for a cache entry."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
