"""The catalog: every model the server can serve, one row each, in one table per tier.

A row says which task a served id runs, in which tier, which weight repositories it reads
(as the Hub names them) and which loader builds it. Adding a model is adding a row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from models_server.config import TIERS, Tier
from models_server.tasks.base import Task
from models_server.tasks.loading import Loader

if TYPE_CHECKING:
    from models_server.config import Settings


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
    """

    id: str
    task: Task
    tier: Tier
    weights: tuple[Repo, ...]
    loader: Loader
    framework: str = "transformers"
    aliases: tuple[str, ...] = ()
    preload: bool = True
    fp16_bytes: int | None = None

    def in_tier(self, tier: Tier) -> bool:
        return TIERS.index(self.tier) <= TIERS.index(tier)


def build_catalog(rows: Iterable[ModelSpec]) -> dict[str, ModelSpec]:
    """Index rows by id, refusing a duplicate id or alias (two rows can't answer one id)."""
    catalog: dict[str, ModelSpec] = {}
    for row in rows:
        for name in (row.id, *row.aliases):
            if name in catalog:
                raise ValueError(f"catalog: {name!r} is served twice")
            catalog[name] = row
    return catalog


def catalog_rows() -> list[ModelSpec]:
    """All rows, minimal tier first."""
    from models_server.catalog import (
        audio_coverage,
        diffusion_coverage,
        full,
        minimal,
        standard,
        tabular,
        text_coverage,
        vision_coverage,
    )
    from models_server.catalog.sizes import FP16_BYTES

    rows = [*minimal.MODELS, *standard.MODELS, *full.MODELS, *text_coverage.MODELS, *vision_coverage.MODELS,
            *diffusion_coverage.MODELS, *tabular.MODELS, *audio_coverage.MODELS]
    return [row if row.fp16_bytes is not None or row.id not in FP16_BYTES
            else dataclasses.replace(row, fp16_bytes=FP16_BYTES[row.id]) for row in rows]


def served_rows(settings: Settings) -> list[ModelSpec]:
    """The catalog's rows, then the Hub models the config adds by naming a task (`configured.py`)."""
    from models_server.catalog.configured import configured_rows

    rows = catalog_rows()
    return [*rows, *configured_rows(settings, rows)]


def unique_repos(rows: Iterable[ModelSpec]) -> list[Repo]:
    """Every weights repository the rows read, once each, in catalog order."""
    seen: dict[str, Repo] = {}
    for row in rows:
        for repo in row.weights:
            seen.setdefault(repo.name, repo)
    return list(seen.values())
