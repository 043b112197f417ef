"""Everything a loader needs: where each weights repo is on disk, the device, the dtype,
and the shared components (one Stable Diffusion base for every pipeline that uses it)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from models_server.errors import WeightsMissing

if TYPE_CHECKING:
    import torch

    from models_server.catalog import ModelSpec, Repo

T = TypeVar("T")


class SharedComponents:
    """Builds each shared component once, however many loaders ask for it.

    Keys include the weights folder, device and dtype, so two pipelines share a component
    exactly when they would have loaded identical copies of it.
    """

    def __init__(self) -> None:
        self._items: dict[Hashable, Any] = {}
        self._users: dict[Hashable, set[str]] = {}
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, build: Callable[[], T], user: str) -> T:
        with self._lock:
            if key in self._items:
                self._users[key].add(user)
                return self._items[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                if key in self._items:
                    self._users[key].add(user)
                    return self._items[key]
            item = build()
            with self._lock:
                self._items[key] = item
                self._users[key] = {user}
                return item

    def release(self, user: str) -> None:
        """Forget `user`; a component nobody uses any more is dropped, so its memory can go."""
        with self._lock:
            for key in list(self._users):
                self._users[key].discard(user)
                if not self._users[key]:
                    del self._users[key], self._items[key]
                    self._building.pop(key, None)

    def users(self, key: Hashable) -> set[str]:
        with self._lock:
            return set(self._users.get(key, ()))

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._items)


@dataclass
class LoadContext:
    """Handed to `ModelSpec.loader`: `weight_dirs[i]` is the folder of `spec.weights[i]`."""

    spec: ModelSpec
    weight_dirs: tuple[Path, ...]
    device: str
    dtype: torch.dtype
    shared_components: SharedComponents = field(default_factory=SharedComponents)

    def shared(self, key: Hashable, build: Callable[[], T]) -> T:
        """The component under `key`, built by `build()` only if no loader built it yet."""
        return self.shared_components.get(key, build, self.spec.id)


def locate_weights(repo: Repo, model_root: Path | None, override: Path | None = None) -> Path:
    """The local folder holding `repo`: an override, `<model_root>/<org>/<name>`, or the HF cache.

    Never touches the network; raises WeightsMissing naming every place it looked.
    """
    if override is not None:
        if override.is_dir():
            return override
        raise WeightsMissing(f"weights folder {override} (set in the config for {repo.name}) does not exist")
    looked: list[str] = []
    if model_root is not None:
        for name in repo.names:
            candidate = model_root / name
            if candidate.is_dir():
                return candidate
            looked.append(str(candidate))
    cached = _from_hf_cache(repo.names, repo.repo_type)
    if cached is not None:
        return cached
    looked.append("the Hugging Face cache")
    raise WeightsMissing(
        f"weights of {repo.name} not found (looked in {', '.join(looked)}); "
        f"run `models-server download --model {repo.name}` or set model_root"
    )


def _from_hf_cache(names: tuple[str, ...], repo_type: str) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    for name in names:
        try:
            return Path(snapshot_download(name, repo_type=repo_type, local_files_only=True))
        except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
            continue
    return None
