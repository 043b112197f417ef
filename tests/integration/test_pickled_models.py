"""A joblib tabular row whose pickle cannot run here is `failed` from the start, lazy or preloaded,
with the reason and the fix in `/status`, and `check` and `list --coverage` do not count it; one
that can run answers `loaded: true` and then loads. Each refused stand-in is also shown to fail in
joblib itself, so the check is measured against the library, not against itself."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support import pickles
from support.paths import DATA
from support.serving import tiny_settings

from models_server import cli
from models_server.catalog import ModelSpec, catalog_rows
from models_server.check import Target, check_offline
from models_server.http.app import create_app
from models_server.runtime import Runtime, State

MODEL_ID = "omarques/autotrain-in-class-test-demo-1659958767"  # AutoTrain's layout: model.joblib + features


def autotrain_row(preload: bool = False) -> ModelSpec:
    row = next(row for row in catalog_rows() if row.id == MODEL_ID)
    return dataclasses.replace(row, preload=preload)


def moved_module(path: Path) -> None:
    path.write_bytes(pickles.naming("sklearn.ensemble.forest", "RandomForestClassifier"))


def absent_library(path: Path) -> None:
    path.write_bytes(pickles.naming("no_such_library.estimators", "Classifier"))


def pre_1_3_trees(path: Path) -> None:
    pickles.dump_with_pre_1_3_trees(pickles.fitted_tree_pipeline(), path)


REFUSED: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # stand-in: (writes model.joblib, in the reason, the fix)
    "module-moved": (moved_module, "imports sklearn.ensemble.forest, which this environment does not have",
                     "fix: re-save the model with the installed scikit-learn"),
    "library-absent": (absent_library, "imports no_such_library.estimators", "fix: pip install no_such_library"),
    "trees-before-1.3": (pre_1_3_trees, "pickled by scikit-learn 1.2.2) holds decision trees whose nodes lack",
                         "fix: train and save the model again with scikit-learn >= 1.3"),
    "xgboost-binary-format": (pickles.dump_with_binary_booster, "pickled by XGBoost 1.2.1 in the binary model format",
                              "fix: unpickle it with xgboost 3.0 and pickle it again"),
}


def model_root(tmp_path: Path, write: Callable[[Path], None]) -> Path:
    root = tmp_path / "models"
    folder = pickles.autotrain_folder(root / MODEL_ID)
    write(folder / "model.joblib")
    return root


@pytest.mark.parametrize("preload", [False, True], ids=["lazy", "preloaded"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_pickle_that_cannot_run_here_is_failed_at_start_with_the_fix(tmp_path, case, preload):
    import joblib

    write, reason, fix = REFUSED[case]
    root = model_root(tmp_path, write)
    with pytest.raises(Exception):  # noqa: B017 - each library refuses in its own words (ImportError, ValueError, XGBoostError)
        joblib.load(root / MODEL_ID / "model.joblib")
    settings = tiny_settings(root, tmp_path / "public")
    runtime = Runtime(settings, [autotrain_row(preload)])
    assert runtime.view(MODEL_ID).state is State.FAILED
    status = create_app(settings, runtime).test_client().get(f"/status/{MODEL_ID}").get_json()
    assert status["state"] == "failed" and status["loaded"] is False
    assert reason in status["error"]["message"] and fix in status["error"]["message"]


@pytest.mark.parametrize("case", ["trees-before-1.3", "module-moved"])
def test_check_and_the_coverage_listing_do_not_count_it(tmp_path, capsys, case):
    write, reason, fix = REFUSED[case]
    root = model_root(tmp_path, write)
    settings = tiny_settings(root, tmp_path / "public")
    result = check_offline(autotrain_row(), settings, Target.of(settings))
    assert result.problems and reason in result.problems[0] and fix.removeprefix("fix: ") in result.fixes[0]
    config = tmp_path / "server.yaml"
    config.write_text(json.dumps({"model_root": str(root)}))
    assert cli.main(["list", "--config", str(config), "--coverage", "--ids"]) == 0
    listing = capsys.readouterr().out
    assert f"  not counted: {MODEL_ID} (" in listing and f"\n  {MODEL_ID}\n" not in listing


def today_pipeline(path: Path) -> None:
    import joblib

    joblib.dump(pickles.fitted_tree_pipeline(), path)


def xgboost_1_6(path: Path) -> None:
    path.write_bytes((DATA / "pickles" / "xgboost-1.6.2-classifier.joblib").read_bytes())


@pytest.mark.parametrize("write", [today_pipeline, xgboost_1_6], ids=["scikit-learn-today", "xgboost-1.6.2-ubjson"])
def test_a_pickle_that_runs_here_answers_loaded_and_then_loads(tmp_path, write):
    root = model_root(tmp_path, write)
    settings = tiny_settings(root, tmp_path / "public")
    runtime = Runtime(settings, [autotrain_row()])
    assert runtime.view(MODEL_ID).state is State.NOT_LOADED
    assert runtime.load(MODEL_ID).state is State.LOADED


def test_a_config_that_names_no_pickle_present_is_failed(tmp_path):
    root = model_root(tmp_path, today_pipeline)
    (root / MODEL_ID / "config.json").write_text(json.dumps({"target": "target"}))  # AutoTrain's `features` lost
    runtime = Runtime(tiny_settings(root, tmp_path / "public"), [autotrain_row()])
    view = runtime.view(MODEL_ID)
    assert view.state is State.FAILED
    assert "sklearn_model.joblib is not there (config.json has neither AutoTrain's `features`" in (view.reason or "")
