"""Tiny tabular classifiers in their repos' layouts: Keras SavedModels and joblib estimators.

The Keras ones are exported by Keras 3 as SavedModels with a `serving_default` signature, as the
keras-io repos' Keras 2 SavedModels have; the signature's shape (named columns of numbers and
strings, or one matrix) is what the loader depends on. Column names follow the Keras examples the
repos come from (census income; credit-card fraud's 30 numeric features). The estimators are
fitted on a few random rows: labels are random, the files and classes are the real ones.

The joblib repos are old pickles (julien-c/wine-quality 2021, abhishek/autotrain-iris-xgboost July
2022, per their Hub commit histories), and which releases wrote them is not published. Each
stand-in is pickled as an older release writes it: stamped with that scikit-learn version and
without the constructor parameters added since (which the loader must then supply).
"""

from __future__ import annotations

import json
from pathlib import Path

from models_server.tasks.tensorflow.runtime import import_keras

# The census columns of Keras' TabTransformer and GRN/VSN examples (a few of each kind).
CENSUS_NUMBERS = ("age", "education_num", "hours_per_week")
CENSUS_STRINGS = {"workclass": ("Private", "State-gov", "Self-emp-inc"), "gender": ("Male", "Female")}
FRAUD_FEATURES = 30  # keras-io/imbalanced_classification: 30 numeric features, one matrix input
# The config's columns, as the repo's widget names them; the data (winequality-red.csv) names them
# with spaces ("fixed acidity"), and a pipeline fitted on that frame records those names.
WINE_COLUMNS = ("fixed_acidity", "volatile_acidity", "citric_acid", "residual_sugar", "chlorides",
                "free_sulfur_dioxide", "total_sulfur_dioxide", "density", "pH", "sulphates", "alcohol")
IRIS_COLUMNS = ("SepalLengthCm", "SepalWidthCm", "PetalLengthCm", "PetalWidthCm")
AUTOTRAIN_DEMO_COLUMNS = ("feature_a", "feature_b", "feature_c")


def _keras():
    return import_keras()


def build_keras_census_classifier(folder: Path) -> None:
    """One input per column, string columns looked up inside the model, one sigmoid out."""
    keras = _keras()
    inputs = {name: keras.Input(shape=(), name=name) for name in CENSUS_NUMBERS}
    encoded = [keras.layers.Reshape((1,))(tensor) for tensor in inputs.values()]
    for name, vocabulary in CENSUS_STRINGS.items():
        column = keras.Input(shape=(), dtype="string", name=name)
        inputs[name] = column
        encoded.append(keras.layers.StringLookup(vocabulary=list(vocabulary), output_mode="one_hot")(column))
    features = keras.layers.Concatenate()(encoded)
    hidden = keras.layers.Dense(4, activation="relu")(features)
    keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden)).export(str(folder), verbose=False)


def build_keras_matrix_classifier(folder: Path) -> None:
    """keras-io/imbalanced_classification's shape: a (rows, 30) matrix in, one sigmoid out."""
    keras = _keras()
    features = keras.Input(shape=(FRAUD_FEATURES,))
    hidden = keras.layers.Dense(4, activation="relu")(features)
    keras.Model(features, keras.layers.Dense(1, activation="sigmoid")(hidden)).export(str(folder), verbose=False)


def _fit(estimator, columns: tuple[str, ...], classes: int, prefix: str = ""):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(24, len(columns))), columns=[prefix + name for name in columns])
    return estimator.fit(frame, np.arange(24) % classes)


def dump_as_saved_by(estimator, path: Path, sklearn_version: str, added_since: dict[str, tuple[str, ...]]) -> None:
    """joblib.dump `estimator` as `sklearn_version` wrote it: each inner estimator whose class is
    in `added_since` lacks those constructor parameters, and every one carries the old version."""
    import copyreg

    import joblib
    from sklearn.base import BaseEstimator

    def restamp(item) -> None:
        if not isinstance(item, BaseEstimator):
            return
        absent = added_since.get(type(item).__name__, ())
        state = {k: v for k, v in item.__getstate__().items() if k not in absent}
        state["_sklearn_version"] = sklearn_version
        cls, new_object = type(item), copyreg.__newobj__  # type: ignore[attr-defined]  # pickle writes NEWOBJ
        item.__reduce_ex__ = lambda protocol, state=state, cls=cls: (new_object, (cls,), state)

    for _, step in getattr(estimator, "steps", ()):
        restamp(step)
    restamp(estimator)
    joblib.dump(estimator, path)


def build_sklearn_wine_pipeline(folder: Path) -> None:
    """julien-c/wine-quality: sklearn_model.joblib, a Pipeline (its model card: "model is a
    sklearn.pipeline.Pipeline", after a scaler + SVC pipeline example it cites), and config.json's
    `sklearn` section naming the file and the columns. Fitted on the data's spaced names, pickled
    as scikit-learn 1.0 (2021, the first release to record feature names) wrote a Pipeline."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    folder.mkdir(parents=True, exist_ok=True)
    pipeline = _fit(Pipeline([("scaler", StandardScaler()), ("SVM", SVC())]),
                    tuple(name.replace("_", " ") if name != "pH" else name for name in WINE_COLUMNS), 3)
    dump_as_saved_by(pipeline, folder / "sklearn_model.joblib", "1.0.1", {"Pipeline": ("transform_input",)})
    config = {"sklearn": {"columns": list(WINE_COLUMNS), "model": {"file": "sklearn_model.joblib"},
                          "task": "tabular-classification"}}
    (folder / "config.json").write_text(json.dumps(config, indent=2))


def _autotrain(folder: Path, estimator, columns: tuple[str, ...], classes: int,
               added_since: dict[str, tuple[str, ...]]) -> None:
    """AutoTrain's tabular layout (its model cards' usage): model.joblib fitted on the columns
    renamed feat_<name>, and config.json's `features` (the columns) and `target`."""
    folder.mkdir(parents=True, exist_ok=True)
    dump_as_saved_by(_fit(estimator, columns, classes, prefix="feat_"), folder / "model.joblib", "1.1.1", added_since)
    (folder / "config.json").write_text(json.dumps({"features": list(columns), "target": "target"}, indent=2))


def build_autotrain_sklearn(folder: Path) -> None:
    """omarques/autotrain-in-class-test-demo-1659958767 (its id is the Unix time of August 2022):
    a Pipeline over feat_* columns, pickled as scikit-learn 1.1 (mid-2022) wrote it."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _autotrain(folder, make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=2, max_depth=2,
                                                                              random_state=0)),
               AUTOTRAIN_DEMO_COLUMNS, 2, {"Pipeline": ("transform_input",)})


def build_autotrain_xgboost(folder: Path) -> None:
    """abhishek/autotrain-iris-xgboost (committed by AutoTrain on 5 July 2022; model.joblib 608 kB,
    config.json 209 bytes): an XGBClassifier pickled as XGBoost 1.6 / scikit-learn 1.1 wrote it,
    without the parameters XGBoost added since (device, multi_strategy, max_cat_threshold,
    feature_types, feature_weights)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBClassifier

    _autotrain(folder, make_pipeline(StandardScaler(), XGBClassifier(n_estimators=2, max_depth=2, n_jobs=1)),
               IRIS_COLUMNS, 3, {"Pipeline": ("transform_input",), "XGBClassifier": (
                   "device", "multi_strategy", "max_cat_threshold", "feature_types", "feature_weights")})
