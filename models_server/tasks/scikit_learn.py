"""Tabular classification by scikit-learn estimators saved with joblib: a table (columns by name,
one list of cells each) in, one class label per row out, as the Inference API's
`tabular_classification` answers.

Two layouts: the Hub's scikit-learn one (`config.json` with a `sklearn` section naming the file and
the columns) and AutoTrain's (`model.joblib`, with `config.json`'s `features`; AutoTrain trained on
columns renamed `feat_<name>`). Estimators from XGBoost are unpickled by XGBoost's own classes.
joblib files are Python pickles, scikit-learn's own format: loading one runs what the file says,
so serve only repos you trust (README).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput
from models_server.tasks import contracts
from models_server.tasks.base import Task

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext


@dataclass
class JoblibTable:
    """A scikit-learn estimator and the columns it was trained on, by the names the table uses."""

    estimator: Any
    columns: tuple[str, ...] | None  # None: whatever the table holds, in its order
    prefix: str = ""  # what training prepended to each column name (AutoTrain: "feat_")


def load_joblib_table(ctx: LoadContext) -> JoblibTable:
    import joblib

    folder = ctx.weight_dirs[0]
    config = _json(folder / "config.json")
    if "features" in config:  # AutoTrain
        return JoblibTable(joblib.load(folder / "model.joblib"), tuple(config["features"]), "feat_")
    section = config.get("sklearn", {})
    file = section.get("model", {}).get("file", "sklearn_model.joblib")
    columns = section.get("columns")
    return JoblibTable(joblib.load(folder / file), tuple(columns) if columns else None)


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def classify_table(model: JoblibTable, inputs: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """The estimator's label for each row."""
    import pandas as pd

    table: dict[str, list[Any]] = inputs["table"]
    columns = model.columns if model.columns is not None else tuple(table)
    missing = [name for name in columns if name not in table]
    if missing:
        raise BadInput(f"the table lacks the column(s) this model takes: {', '.join(missing)}")
    frame = pd.DataFrame({model.prefix + name: _cells(table[name]) for name in columns})
    try:
        labels = model.estimator.predict(frame)
    except (ValueError, TypeError):
        raise BadInput(f"the table's cells do not fit this model; it takes the columns {', '.join(columns)}") from None
    return [str(label) for label in labels]


def _cells(cells: list[Any]) -> list[Any]:
    """Numbers where every cell reads as one (the Inference API sends them as strings), else as sent."""
    try:
        return [math.nan if cell is None else float(cell) for cell in cells]
    except ValueError:
        return cells


CLASSIFY_TABLE = Task(contracts.TABULAR_CLASSIFICATION, classify_table)
