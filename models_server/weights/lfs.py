"""Recognise git-lfs pointer files where weights should be.

A repo cloned without git-lfs (or with `GIT_LFS_SKIP_SMUDGE=1`) holds ~130-byte text stubs in place
of its weights. Loaders then fail with unpickling or header errors that say nothing about the
cause, so when a loader raises, the runtime asks `lfs_pointer_reason` for a message that names
the stub and the fix instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from models_server.weights.locate import WEIGHT_SUFFIXES

POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
# Real weights are never this small; a pointer is ~130 bytes. Keeps the scan to a stat per file.
MAX_POINTER_BYTES = 1024


def is_lfs_pointer(path: Path) -> bool:
    """Whether `path` is a small file that starts like a git-lfs pointer."""
    try:
        if path.stat().st_size > MAX_POINTER_BYTES:
            return False
        with path.open("rb") as handle:
            return handle.read(len(POINTER_PREFIX)) == POINTER_PREFIX
    except OSError:
        return False


def find_lfs_pointers(folder: Path) -> list[Path]:
    """Weight-like files under `folder` that are git-lfs pointers, sorted; `.git/` is skipped."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [name for name in dirs if name != ".git"]
        for name in files:
            path = Path(root) / name
            if path.suffix in WEIGHT_SUFFIXES and is_lfs_pointer(path):
                found.append(path)
    return sorted(found)


def lfs_pointer_reason(repo_names: Sequence[str], folders: Sequence[Path]) -> str | None:
    """A one-line failure reason for the first folder holding pointers, or None if none does.

    `repo_names[i]` names the Hub repo whose weights are in `folders[i]` (a model's `weights`
    and the folders `locate_weights` found for them).
    """
    for name, folder in zip(repo_names, folders, strict=False):
        pointers = find_lfs_pointers(folder)
        if not pointers:
            continue
        more = f" (and {len(pointers) - 1} more)" if len(pointers) > 1 else ""
        return (
            f"{pointers[0]}{more} is a git-lfs pointer, not the weights: run `git lfs pull` in {folder} "
            f"or `models-server download --model {name}`"
        )
    return None
