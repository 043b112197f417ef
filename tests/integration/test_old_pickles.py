"""Joblib tabular models pickled by older releases, as the Hub's are (2021-2022): they load and
answer with today's scikit-learn and XGBoost, or fail at load naming the release that saved them.

`xgboost-1.6.2-classifier.joblib` was written by XGBoost 1.6.2 (the release AutoTrain used in July
2022): an XGBClassifier over four feat_* columns, three classes, fitted on random rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from support.paths import DATA

from models_server.tasks.scikit_learn import PickleOutdated, classify_table, load_joblib_table
from tiny_models.tabular import dump_as_saved_by

IRIS = ("a", "b", "c", "d")


def autotrain_folder(folder: Path, estimator_file: Path | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if estimator_file is not None:
        (folder / "model.joblib").write_bytes(estimator_file.read_bytes())
    (folder / "config.json").write_text(json.dumps({"features": list(IRIS), "target": "species"}))
    return folder


def load(folder: Path):
    return load_joblib_table(SimpleNamespace(weight_dirs=(folder,)))  # type: ignore[arg-type]


def test_an_xgboost_1_6_pickle_labels_rows_today(tmp_path):
    table = load(autotrain_folder(tmp_path, DATA / "pickles" / "xgboost-1.6.2-classifier.joblib"))
    labels = classify_table(table, {"table": {name: ["5.1", "0", "-2"] for name in IRIS}}, {})
    assert len(labels) == 3 and set(labels) <= {"0", "1", "2"}


def test_a_pickle_that_misses_what_todays_code_reads_fails_at_load_naming_its_release(tmp_path):
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    frame = pd.DataFrame(np.eye(4), columns=[f"feat_{name}" for name in IRIS])
    pipeline = make_pipeline(StandardScaler(), DecisionTreeClassifier()).fit(frame, [0, 1, 2, 0])
    folder = autotrain_folder(tmp_path)
    dump_as_saved_by(pipeline, folder / "model.joblib", "0.24.2", {"StandardScaler": ("scale_",)})
    with pytest.raises(PickleOutdated, match=r"pickled by scikit-learn 0\.24\.2 and does not run in scikit-learn"):
        load(folder)


def test_hyperparameters_added_since_the_pickle_are_given_their_defaults(tmp_path):
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    frame = pd.DataFrame(np.eye(4), columns=[f"feat_{name}" for name in IRIS])
    pipeline = make_pipeline(StandardScaler(), DecisionTreeClassifier()).fit(frame, [0, 1, 2, 0])
    folder = autotrain_folder(tmp_path)
    dump_as_saved_by(pipeline, folder / "model.joblib", "1.1.1",
                     {"Pipeline": ("transform_input",), "DecisionTreeClassifier": ("monotonic_cst",)})
    estimator = load(folder).estimator
    assert estimator.transform_input is None and estimator.steps[1][1].monotonic_cst is None
    assert estimator.get_params()["transform_input"] is None
