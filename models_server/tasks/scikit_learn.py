"""Tabular classification by scikit-learn estimators saved with joblib: a table (columns by name,
one list of cells each) in, one class label per row out, as the Inference API's
`tabular_classification` answers.

Two layouts: the Hub's scikit-learn one (`config.json` with a `sklearn` section naming the file and
the columns) and AutoTrain's (`model.joblib`, with `config.json`'s `features`; AutoTrain trained on
columns renamed `feat_<name>`). Estimators from XGBoost are unpickled by XGBoost's own classes.
The Hub's pickles are years old (a 2021 scikit-learn pipeline, a 2022 AutoTrain XGBoost model):
hyperparameters added since are set to their defaults, and a model that still cannot run here
fails at load, naming the release that saved it, rather than on every request.
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
from models_server.tasks.loading import DOWNLOAD_AGAIN, CannotRun, CheckedLoader
from models_server.tasks.pickled_estimators import estimator_refusal

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext


class PickleOutdated(Exception):
    """A pickled estimator that today's scikit-learn (or XGBoost) unpickles but cannot run, or cannot
    unpickle at all: the release that saved it is named when the pickle says so."""


@dataclass
class JoblibTable:
    """A scikit-learn estimator, the columns a table must hold and the names the estimator was fitted
    on for them (the same order)."""

    estimator: Any
    columns: tuple[str, ...] | None  # None: whatever the table holds, in its order
    fitted: tuple[str, ...] | None = None  # None: the columns' own names


def _layout(folder: Path) -> tuple[Path, tuple[str, ...] | None, str]:
    """The pickle's path, the columns a table must hold (None: any) and the prefix the estimator
    was fitted on them with, as the folder's config.json says."""
    config = _json(folder / "config.json")
    if "features" in config:  # AutoTrain trained on its columns renamed feat_<name>
        return folder / "model.joblib", tuple(config["features"]), "feat_"
    section = config.get("sklearn", {})
    path = folder / section.get("model", {}).get("file", "sklearn_model.joblib")
    return path, tuple(section.get("columns") or ()) or None, ""


def joblib_table_refusal(folder: Path) -> CannotRun | None:
    """Why `load_joblib_table` would fail on `folder`, found without unpickling anything: the
    config's layout, the pickle it names, and what that pickle imports and stores."""
    config = folder / "config.json"
    try:
        path, columns, _ = _layout(folder)
    except (ValueError, TypeError, AttributeError) as exc:
        return CannotRun(f"{config} is not a scikit-learn or AutoTrain config ({type(exc).__name__}: {exc})",
                         DOWNLOAD_AGAIN)
    if columns is not None and not all(isinstance(name, str) for name in columns):
        return CannotRun(f"{config} names columns that are not strings: {list(columns)}",
                         "give config.json's columns as a list of names")
    if not path.is_file():
        said = ("names it" if path.name != "sklearn_model.joblib"
                else "has neither AutoTrain's `features` nor a `sklearn` section naming the model file")
        return CannotRun(f"{path} is not there ({config.name} {said})",
                         DOWNLOAD_AGAIN)
    return estimator_refusal(path)


def load_joblib_table(ctx: LoadContext) -> JoblibTable:
    path, columns, prefix = _layout(ctx.weight_dirs[0])
    estimator, saved_by = _unpickle(path)
    fitted = None if columns is None else _fitted_names(estimator, tuple(prefix + name for name in columns))
    table = JoblibTable(estimator, columns, fitted)
    _check_runs(table, path, saved_by)
    return table


def _unpickle(path: Path) -> tuple[Any, str]:
    """The estimator and which scikit-learn release pickled it ("" when the same as ours), with the
    hyperparameters releases since then added set to their defaults (older pickles lack them, and
    XGBoost's and scikit-learn's `get_params` read every one at predict time)."""
    import warnings

    import joblib
    import sklearn
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        try:
            estimator = joblib.load(path)
        except (AttributeError, ImportError, TypeError, ValueError, EOFError) as exc:
            raise PickleOutdated(f"{path} does not unpickle in scikit-learn {sklearn.__version__}{_xgboost_note()}: "
                                 f"{type(exc).__name__}: {exc}; re-save it with these releases") from exc
    versions = sorted({w.message.original_sklearn_version for w in caught
                       if isinstance(w.message, InconsistentVersionWarning)})
    _fill_new_parameters(estimator, set())
    return estimator, f"scikit-learn {', '.join(versions)}" if versions else ""


def _xgboost_note() -> str:
    import sys

    xgboost = sys.modules.get("xgboost")
    return f" with XGBoost {xgboost.__version__}" if xgboost is not None else ""


def _fill_new_parameters(estimator: Any, seen: set[int]) -> None:
    """Give `estimator` and every estimator inside it each constructor parameter it lacks, at its default."""
    import inspect

    from sklearn.base import BaseEstimator

    if id(estimator) in seen:
        return
    seen.add(id(estimator))
    if isinstance(estimator, BaseEstimator):
        for cls in type(estimator).__mro__:
            if "__init__" not in vars(cls):
                continue
            for name, parameter in inspect.signature(vars(cls)["__init__"]).parameters.items():
                if parameter.default is not inspect.Parameter.empty and name not in vars(estimator):
                    setattr(estimator, name, parameter.default)
        inner = list(vars(estimator).values())
    elif isinstance(estimator, (list, tuple)):
        inner = list(estimator)
    else:
        return
    for value in inner:
        _fill_new_parameters(value, seen)


def _fitted_names(estimator: Any, names: tuple[str, ...]) -> tuple[str, ...]:
    """The names the estimator recorded at fit for `names`, matched without regard to case, spaces
    or underscores (a repo's config may say `fixed_acidity` where its data said `fixed acidity`)."""
    recorded = [str(name) for name in getattr(estimator, "feature_names_in_", ())]
    by_key = {_name_key(name): name for name in recorded}
    if not recorded or set(names) == set(recorded) or any(_name_key(name) not in by_key for name in names):
        return names
    return tuple(by_key[_name_key(name)] for name in names)


def _name_key(name: str) -> str:
    return "_".join(name.replace("_", " ").lower().split())


def _check_runs(table: JoblibTable, path: Path, saved_by: str) -> None:
    """Predict one row of zeros: an estimator pickled by an older release may unpickle and then
    miss an attribute its code reads today, which would fail every request."""
    import pandas as pd
    import sklearn

    names = table.fitted or [str(name) for name in getattr(table.estimator, "feature_names_in_", ())]
    if not names:
        return
    try:
        table.estimator.predict(pd.DataFrame({name: [0.0] for name in names}))
    except (ValueError, TypeError):
        return  # zeros do not fit this model's columns (strings, categories): the requests will say
    except (AttributeError, ImportError) as exc:
        saved = f" was pickled by {saved_by} and" if saved_by else ""
        raise PickleOutdated(f"{path}{saved} does not run in scikit-learn {sklearn.__version__}{_xgboost_note()}: "
                             f"{type(exc).__name__}: {exc}; re-save it with these releases") from exc


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
    fitted = model.fitted or columns
    frame = pd.DataFrame({fitted_name: _cells(table[name]) for name, fitted_name in zip(columns, fitted, strict=True)})
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
LOAD_JOBLIB_TABLE = CheckedLoader(load_joblib_table, joblib_table_refusal)
