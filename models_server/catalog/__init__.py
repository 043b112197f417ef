"""The catalog: every model the server can serve, one row each, in one table per tier.

A row says which task a served id runs, in which tier, which weight repositories it reads
(as the Hub names them), which loader builds it and how big its weights are. Adding a model is
adding a row, written with `rows.row`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from models_server.catalog.rows import ModelSpec, Repo

__all__ = ["ModelSpec", "Repo", "build_catalog", "catalog_rows", "served_rows", "unique_repos"]

if TYPE_CHECKING:
    from models_server.config import Settings


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
    from models_server.catalog import audio, chat, full, generation, minimal, standard, tabular, text, vision

    return [*minimal.MODELS, *standard.MODELS, *full.MODELS, *text.MODELS, *vision.MODELS,
            *generation.MODELS, *tabular.MODELS, *audio.MODELS, *chat.MODELS]


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
