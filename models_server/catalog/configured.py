"""Rows for Hub models the catalog does not list, each added by one config line:

    models:
      someone/my-classifier: {task: text-classification}
      someone/other: {task: image-classification, weights: /data/other}

The row serves the id with its task's generic loader (`tasks.generic.GENERIC_TASKS`), which reads
the architecture from the model's own config when it loads. Its weights are found like any
row's: the `weights:` folder, `<model_root>/<org>/<name>`, or the Hugging Face cache.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from models_server.catalog.rows import ModelSpec, Repo
from models_server.errors import ConfigError
from models_server.tasks.generic import GENERIC_TASKS, GenericLoader

if TYPE_CHECKING:
    from models_server.config import Settings

CONFIGURED_FAMILY = "configured"  # no tiny builder: a configured model brings its own files
# A Hub repo id: "name" or "org/name", letters, digits, '-', '_', '.'; no "..", no leading dot.
_HUB_ID = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def configured_rows(settings: Settings, catalog: Sequence[ModelSpec]) -> list[ModelSpec]:
    """A row for each `models:` entry that names a `task:`, in config order.

    Raises ConfigError naming the key: an id that is not a Hub id, an id the catalog serves
    already, a task no generic loader serves (the message lists those that can be added).
    """
    served = {name: row for row in catalog for name in (row.id, *row.aliases)}
    rows = []
    for model_id, override in settings.models.items():
        if override.task is None:
            continue  # settings for a catalog row (the runtime refuses an id it does not serve)
        if not _HUB_ID.match(model_id):
            raise ConfigError(f"config key 'models.{model_id}': expected a Hub model id such as org/name")
        key = f"config key 'models.{model_id}.task'"
        if model_id in served:
            raise ConfigError(f"{key}: {model_id} is in the catalog already (it serves "
                              f"{served[model_id].task.name}); drop `task:` to configure it")
        generic = GENERIC_TASKS.get(override.task)
        if generic is None:
            raise ConfigError(f"{key}: {_unknown_task(override.task, catalog)}")
        repo = Repo(model_id, CONFIGURED_FAMILY)
        rows.append(ModelSpec(model_id, generic.task, "minimal", (repo,), generic.loader(), framework=generic.library))
    return rows


def is_configured(row: ModelSpec) -> bool:
    """Whether the row comes from a config line rather than from the catalog."""
    return isinstance(row.loader, GenericLoader)


def _unknown_task(task: str, catalog: Sequence[ModelSpec]) -> str:
    addable = ", ".join(sorted(GENERIC_TASKS))
    if task in {row.task.name for row in catalog}:
        return (f"{task!r} has no generic loader (its models need more than their own folder, or a recipe "
                f"of their own), so only the catalog's models serve it; a model can be added by one line "
                f"for: {addable}")
    return f"unknown task {task!r}; a model can be added by one line for: {addable}"
