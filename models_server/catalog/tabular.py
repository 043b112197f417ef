"""The controller's tabular-classification candidates that a maintained library loads.

Not served, each for its reason (README, docs/coverage-notes.md): `templates/tabular-classification`
(a template whose serving code lives in the repo), `keras-io/TF_Decision_Trees` (needs
tensorflow_decision_forests, which pins TensorFlow 2.19 exactly; we run 2.21), and the two ML
Console models (TensorFlow.js networks no Python library serves as table classifiers).
"""

from __future__ import annotations

from models_server.catalog.generation import SAVED_MODEL_FILES
from models_server.catalog.rows import ModelSpec, Repo, row
from models_server.tasks import scikit_learn
from models_server.tasks.tensorflow import tabular

JOBLIB_FILES = ("config.json", "*.joblib")
KB = 1024

# Lazy: the controller never sends this task to a local server (its local_model_inference has no
# branch for it), but it does ask /status, where a served row counts; TensorFlow loads on first use.
# Sizes are estimates, not Hub file sizes: Keras rows from their Keras examples' parameter counts
# (TabTransformer ~90k, GRN/VSN ~60k, the fraud MLP ~140k; two bytes each, rounded up); joblib rows
# are small scikit-learn pipelines (under 1 MB as pickles).
MODELS: list[ModelSpec] = [
    row(Repo("julien-c/wine-quality", "sklearn-pipeline", files=JOBLIB_FILES),
        scikit_learn.CLASSIFY_TABLE, scikit_learn.LOAD_JOBLIB_TABLE, fp16_bytes=1024 * KB,
        framework="scikit-learn", preload=False),
    row(Repo("omarques/autotrain-in-class-test-demo-1659958767", "autotrain-sklearn", files=JOBLIB_FILES),
        scikit_learn.CLASSIFY_TABLE, scikit_learn.LOAD_JOBLIB_TABLE, fp16_bytes=1024 * KB,
        framework="scikit-learn", preload=False),
    row(Repo("keras-io/tab_transformer", "keras-census-classifier", files=SAVED_MODEL_FILES),
        tabular.CLASSIFY_TABLE, tabular.LOAD_KERAS_TABLE, fp16_bytes=180 * KB, framework="tensorflow", preload=False),
    row(Repo("keras-io/imbalanced_classification", "keras-matrix-classifier", files=SAVED_MODEL_FILES),
        tabular.CLASSIFY_TABLE, tabular.LOAD_KERAS_TABLE, fp16_bytes=280 * KB, framework="tensorflow", preload=False),
    row(Repo("abhishek/autotrain-iris-xgboost", "autotrain-xgboost", files=JOBLIB_FILES),
        scikit_learn.CLASSIFY_TABLE, scikit_learn.LOAD_JOBLIB_TABLE, fp16_bytes=1024 * KB,
        framework="xgboost", preload=False),
    row(Repo("keras-io/structured-data-classification-grn-vsn", "keras-census-classifier", files=SAVED_MODEL_FILES),
        tabular.CLASSIFY_TABLE, tabular.LOAD_KERAS_TABLE, fp16_bytes=120 * KB, framework="tensorflow", preload=False),
]
