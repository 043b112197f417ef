"""Tiny random-weight models of the real classes, built offline in the Hub's layout.

Each catalog `Repo` names its architecture family and `registry.TINY_BUILDERS` maps that to a
builder; `make_tiny` calls the builder of every repo once, seeded from
the repo name, so the same command always writes the same weights. Builders save with each
library's own `save_pretrained` (or the checkpoint format the real repo uses), so the real
loaders read them exactly as they read real weights.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from models_server.catalog import Repo
from tiny_models.registry import TINY_BUILDERS, Builder, builder_for

log = logging.getLogger(__name__)


def seed_for(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


def make_tiny(
    out: Path, repos: Iterable[Repo], force: bool = False, builders: dict[str, Builder] = TINY_BUILDERS
) -> list[Path]:
    """Build each repo into `out/<org>/<name>` with `builders[repo.family]`; skip folders already
    complete unless `force`.
    """
    import numpy as np
    import torch

    written: list[Path] = []
    for repo in repos:
        folder = out / repo.name
        done_marker = folder / ".tiny-complete"
        if done_marker.exists() and not force:
            continue
        if folder.exists():
            shutil.rmtree(folder)
        staging = folder.with_name(folder.name + ".building")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        started = time.perf_counter()
        torch.manual_seed(seed_for(repo.name))
        np.random.seed(seed_for(repo.name))
        builder_for(repo.family, builders)(staging)
        (staging / ".tiny-complete").write_text("random weights built by models-server make-tiny\n")
        staging.rename(folder)
        log.debug("built %s in %.1fs", repo.name, time.perf_counter() - started)
        written.append(folder)
    return written
