"""The loader contract: what a catalog row's loader is handed, and the components loaders share.

It lives beside `Task` because loaders are task code: the runtime builds a `LoadContext` and
calls the loader, but nothing here knows about the runtime or the catalog.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from models_server.config import DiffusionSettings

if TYPE_CHECKING:
    import torch

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
    """Handed to a catalog row's loader: `weight_dirs[i]` is the folder of the row's `weights[i]`.

    `diffusion` is the row's fast-path settings (read by the diffusers loaders only); `cache_dir`
    where compiled kernels are kept between runs; `setting_dirs` the folders of the repos the row's
    catalog entry names for the settings that are on (the TAESD decoder under `tiny_vae`).
    """

    model_id: str
    weight_dirs: tuple[Path, ...]
    device: str
    dtype: torch.dtype
    shared_components: SharedComponents = field(default_factory=SharedComponents)
    diffusion: DiffusionSettings = field(default_factory=DiffusionSettings)
    cache_dir: Path | None = None
    setting_dirs: Mapping[str, Path] = field(default_factory=dict)

    def setting_folder(self, setting: str) -> Path:
        """The folder of the repo the `diffusion:` setting `setting` makes this row read."""
        try:
            return self.setting_dirs[setting]
        except KeyError:
            raise LookupError(f"{self.model_id}'s catalog row names no weights for the {setting} setting") from None

    def shared(self, key: Hashable, build: Callable[[], T]) -> T:
        """The component under `key`, built by `build()` only if no loader built it yet."""
        return self.shared_components.get(key, build, self.model_id)


Loader = Callable[[LoadContext], Any]


# In a fix, the model's id, filled in where the row is known (`ModelSpec.refusal`): the checks
# that find a broken copy read a folder, not a row.
MODEL_ID = "<model id>"
DOWNLOAD_AGAIN = f"download the model again (models-server download --model {MODEL_ID})"


class CannotRun(Exception):
    """What a model needs beyond its weights that this environment lacks (a package, data its
    library would download on first use), found without loading it; `fix` says how to provide it."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.fix = fix

    def naming(self, model_id: str) -> CannotRun:
        """The same refusal, its fix naming the model."""
        return CannotRun(str(self), self.fix.replace(MODEL_ID, model_id))


@runtime_checkable
class Checked(Protocol):
    """A loader that says, from its weights folder and without loading, why it would fail here."""

    def refusal(self, folder: Path) -> Exception | None: ...


@dataclass(frozen=True)
class CheckedLoader:
    """A loader with the check of what its model needs beyond its weights (`Checked`), read from
    its folder; `environment`, when given, is what its rows need whatever the folder holds (a
    row that declares its front end), so it is known before any weights are."""

    load: Loader
    check: Callable[[Path], CannotRun | None]
    environment: Callable[[], CannotRun | None] | None = None

    def __call__(self, ctx: LoadContext) -> Any:
        return self.load(ctx)

    def refusal(self, folder: Path) -> Exception | None:
        return self.check(folder)
