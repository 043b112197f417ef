"""A catalog row: a served model id, its task, tier, weight repositories, loader and size; `row` writes one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models_server.config import TIERS, DiffusionSettings, Tier
from models_server.tasks.base import Task
from models_server.tasks.libraries import Framework, missing_library
from models_server.tasks.loading import CannotRun, Checked, CheckedLoader, Loader
from models_server.tasks.transformers.tokenizer_files import conversion_refusal


@dataclass(frozen=True)
class Repo:
    """A weights repository as the Hub names it, and the architecture family its files belong to.

    `family` names how the files are laid out and built (`tiny.registry` maps it to the builder
    of a random-weight miniature); `aliases` are other Hub names for the same weights (a repo that moved);
    `files` are glob patterns of the only files the loaders read, for repos where the general
    download rules would fetch far too much (e.g. lllyasviel/Annotators); empty means "by the rules";
    `repo_type` is "dataset" for the speaker-embedding repo.
    """

    name: str
    family: str
    aliases: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    repo_type: str = "model"  # or "dataset", as the Hub names them

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class ModelSpec:
    """One served model id. `weights[i]` is resolved to a folder for `loader(ctx)`.

    `preload=False` makes a rare or heavy model lazy by default (it still answers `loaded: true`
    and loads on its first request); the config can say otherwise per model. `fp16_bytes` is the
    real weights' size in half precision, for planning memory budgets before anything is downloaded.
    `torch_calls=False` marks a model whose calls run no torch ops (OpenCV's canny): they run on
    the request's own thread, without the hand-off to a model thread that torch's needs.
    `setting_weights` pairs a boolean `diffusion:` setting with the repo it makes the loader read.
    """

    id: str
    task: Task
    tier: Tier
    weights: tuple[Repo, ...]
    loader: Loader
    framework: Framework = "transformers"
    aliases: tuple[str, ...] = ()
    preload: bool = True
    fp16_bytes: int | None = None
    torch_calls: bool = True
    setting_weights: tuple[tuple[str, Repo], ...] = ()

    def weights_under(self, diffusion: DiffusionSettings) -> dict[str, Repo]:
        """The repos the row reads beside its weights when a `diffusion:` setting asks (the TAESD
        decoder under `tiny_vae`), by setting: `download` fetches them, the start-up check looks
        for them, the loader reads them."""
        return {setting: repo for setting, repo in self.setting_weights if getattr(diffusion, setting)}

    def in_tier(self, tier: Tier) -> bool:
        return TIERS.index(self.tier) <= TIERS.index(tier)

    def missing_here(self) -> CannotRun | None:
        """What this environment lacks for the row whatever its weights (its library, a front end
        its loader declares), found without importing or loading anything."""
        library = missing_library(self.framework)
        if library is not None:
            return CannotRun(library, f"pip install {self.framework}")
        if isinstance(self.loader, CheckedLoader) and self.loader.environment is not None:
            return self.loader.environment()
        return None

    def refusal(self, folder: Path) -> Exception | None:
        """Why loading from `folder` (its first weights) would fail here, found without loading: what
        its loader checks (`Checked`), then a tokenizer its library cannot read here."""
        refusal = self.loader.refusal(folder) if isinstance(self.loader, Checked) else None
        if refusal is None and self.framework in ("transformers", "sentence-transformers"):
            refusal = conversion_refusal(folder)
        return refusal.naming(self.id) if isinstance(refusal, CannotRun) else refusal


def row(
    weights: Repo | tuple[Repo, ...],
    task: Task,
    loader: Loader,
    *,
    fp16_bytes: int,
    tier: Tier = "full",
    framework: Framework = "transformers",
    preload: bool = True,
    served_as: str | None = None,
    aliases: tuple[str, ...] = (),
    torch_calls: bool = True,
    setting_weights: tuple[tuple[str, Repo], ...] = (),
) -> ModelSpec:
    """The row serving `weights` (one repo, or the first of several) under its Hub name and the
    names it moved to; `served_as` gives a row an id of its own (an annotator's `canny-control`),
    with `aliases` beside it.

    `fp16_bytes` is the real weights' size in half precision (two bytes per parameter of the real
    architecture unless a comment says otherwise), known before anything is downloaded.
    """
    repos = (weights,) if isinstance(weights, Repo) else weights
    unknown = [setting for setting, _ in setting_weights if setting not in DiffusionSettings.model_fields]
    if unknown:
        raise ValueError(f"setting_weights names {unknown[0]!r}, which is not a `diffusion:` setting")
    if served_as is None:
        served_as, aliases = repos[0].name, repos[0].aliases
    return ModelSpec(served_as, task, tier, repos, loader, framework=framework, aliases=aliases,
                     preload=preload, fp16_bytes=fp16_bytes, torch_calls=torch_calls, setting_weights=setting_weights)
