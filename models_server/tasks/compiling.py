"""Where torch.compile keeps what it compiled, so the next start reuses it."""

from __future__ import annotations

import os
from pathlib import Path

COMPILE_CACHE = "torch-compile"  # under the server's cache_dir


def use_compile_cache(folder: Path) -> None:
    """Inductor's on-disk caches (compiled graphs and kernels) in `folder`: TORCHINDUCTOR_CACHE_DIR
    is torch's documented setting for them, read whenever inductor looks for a cache entry."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
