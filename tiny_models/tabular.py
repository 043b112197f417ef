"""Tiny tabular classifiers in their repos' layouts: Keras SavedModels and joblib estimators.

The Keras ones are exported by Keras 3 as SavedModels with a `serving_default` signature, as the
keras-io repos' Keras 2 SavedModels have; the signature's shape (named columns of numbers and
strings, or one matrix) is what the loader depends on. Column names follow the Keras examples the
repos come from (census income; credit-card fraud's 30 numeric features). The estimators are
fitted on a few random rows: labels are random, the files and classes are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from models_server.tasks.tensorflow.runtime import import_keras

# The census columns of Keras' TabTransformer and GRN/VSN examples (a few of each kind).
CENSUS_NUMBERS = ("age", "education_num", "hours_per_week")
CENSUS_STRINGS = {"workclass": ("Private", "State-gov", "Self-emp-inc"), "gender": ("Male", "Female")}
FRAUD_FEATURES = 30  # keras-io/imbalanced_classification: 30 numeric features, one matrix input
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


def build_sklearn_wine_pipeline(folder: Path) -> None:
    """julien-c/wine-quality's layout: a scaler + classifier Pipeline in sklearn_model.joblib."""
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(_fit(make_pipeline(StandardScaler(), LogisticRegression()), WINE_COLUMNS, 3),
                folder / "sklearn_model.joblib")
    config = {"sklearn": {"columns": list(WINE_COLUMNS), "model": {"file": "sklearn_model.joblib"},
                          "task": "tabular-classification"}}
    (folder / "config.json").write_text(json.dumps(config, indent=2))


def _autotrain(folder: Path, estimator, columns: tuple[str, ...], classes: int) -> None:
    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(_fit(estimator, columns, classes, prefix="feat_"), folder / "model.joblib")
    (folder / "config.json").write_text(json.dumps({"features": list(columns), "target": "target"}, indent=2))


def build_autotrain_sklearn(folder: Path) -> None:
    """AutoTrain's tabular layout: model.joblib (a Pipeline over feat_* columns) and config.json."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _autotrain(folder, make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=2, max_depth=2,
                                                                              random_state=0)),
               AUTOTRAIN_DEMO_COLUMNS, 2)


def build_autotrain_xgboost(folder: Path) -> None:
    """AutoTrain's layout around an XGBoost classifier (abhishek/autotrain-iris-xgboost)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBClassifier

    _autotrain(folder, make_pipeline(StandardScaler(), XGBClassifier(n_estimators=2, max_depth=2, n_jobs=1)),
               IRIS_COLUMNS, 3)
