"""Tabular classification (catalog/tabular.py) on tiny weights: Keras SavedModels and joblib
estimators, over HTTP with the controller-style body and with huggingface_hub's InferenceClient.

Random weights make the labels arbitrary: what is checked is one label per row, from the model's
classes, and the refusals a table can earn (a missing column, a cell that is no number, ragged or
oversized tables).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from huggingface_hub import InferenceClient
from support.hub_listings import reconstructed_listing

from models_server.catalog import tabular as catalog
from models_server.config import Limits
from models_server.errors import BadInput
from models_server.kinds import KINDS, DecodeContext, Kind
from models_server.tasks.tensorflow.tabular import CLASSIFY_TABLE
from models_server.weights import download
from tiny_models import tabular as tiny

ROWS = 3


def table_for(family: str) -> dict[str, list]:
    """A table of ROWS rows in the columns the family's tiny model takes, cells as the API sends them."""
    if family == "keras-census-classifier":
        table: dict[str, list] = {name: ["39", "50", "38"] for name in tiny.CENSUS_NUMBERS}
        table |= {name: [values[0], values[-1], "never-seen"] for name, values in tiny.CENSUS_STRINGS.items()}
        return table | {"unused": ["x", "y", "z"]}
    if family == "keras-matrix-classifier":
        return {f"V{index}": [0.1 * index, -1.0, 2.5] for index in range(tiny.FRAUD_FEATURES)}
    columns = {"sklearn-pipeline": tiny.WINE_COLUMNS, "autotrain-sklearn": tiny.AUTOTRAIN_DEMO_COLUMNS,
               "autotrain-xgboost": tiny.IRIS_COLUMNS}[family]
    return {name: ["7.4", "0.7", "3.51"] for name in columns}


CLASSES = {"sklearn-pipeline": 3, "autotrain-sklearn": 2, "autotrain-xgboost": 3,
           "keras-census-classifier": 2, "keras-matrix-classifier": 2}


@pytest.mark.parametrize("row", catalog.MODELS, ids=lambda row: row.id)
def test_every_row_labels_each_row_of_the_table(client, row) -> None:
    family = row.weights[0].family
    response = client.post(f"/models/{row.id}", json={"table": table_for(family)})
    assert response.status_code == 200, response.get_json()
    labels = response.get_json()
    assert len(labels) == ROWS and set(labels) <= {str(label) for label in range(CLASSES[family])}


FAMILY_ROWS = list({row.weights[0].family: row for row in catalog.MODELS}.values())


@pytest.mark.parametrize("row", FAMILY_ROWS, ids=lambda row: row.weights[0].family)
def test_each_family_answers_the_inference_client(live_server, row) -> None:
    hub = InferenceClient(model=f"{live_server.url}/models/{row.id}", timeout=60)
    labels = hub.tabular_classification(table_for(row.weights[0].family))
    assert len(labels) == ROWS and all(isinstance(label, str) for label in labels)


@pytest.mark.parametrize("model_id", ["keras-io/tab_transformer", "julien-c/wine-quality"])
def test_a_missing_column_is_named(client, model_id) -> None:
    family = next(row.weights[0].family for row in catalog.MODELS if row.id == model_id)
    table = table_for(family)
    table.pop("age" if "keras" in model_id else "alcohol")
    response = client.post(f"/models/{model_id}", json={"table": table})
    assert response.status_code == 400
    assert "lacks the column(s)" in response.get_json()["error"]["message"]
    assert ("age" if "keras" in model_id else "alcohol") in response.get_json()["error"]["message"]


def test_a_cell_that_is_no_number_in_a_number_column_is_a_400(client) -> None:
    table = table_for("keras-matrix-classifier") | {"V3": ["1", "lots", "2"]}
    response = client.post("/models/keras-io/imbalanced_classification", json={"table": table})
    assert response.status_code == 400
    assert "column 'V3' must hold numbers" in response.get_json()["error"]["message"]


def test_a_matrix_model_counts_the_columns(client) -> None:
    table = table_for("keras-matrix-classifier")
    table.pop("V0")
    response = client.post("/models/keras-io/imbalanced_classification", json={"table": table})
    assert response.status_code == 400
    assert f"takes {tiny.FRAUD_FEATURES} columns; the table has {tiny.FRAUD_FEATURES - 1}" in \
        response.get_json()["error"]["message"]


@pytest.mark.parametrize(("table", "message"), [
    ({"a": [1, 2], "b": [1]}, "same number of rows"),
    ({"a": []}, "same number of rows"),
    ({}, "must be an object of columns"),
    ({"a": [[1]]}, "column 'a' is not"),
    ({"a": [True]}, "column 'a' is not"),
    ([1, 2], "must be an object of columns"),
])
def test_malformed_tables_are_refused(client, table, message) -> None:
    response = client.post("/models/julien-c/wine-quality", json={"table": table})
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]


def test_a_table_over_the_cell_limit_is_refused() -> None:
    field = CLASSIFY_TABLE.inputs[0]
    context = DecodeContext(resources=None, limits=Limits(max_table_cells=10))  # type: ignore[arg-type]
    table = {name: ["1"] * 3 for name in tiny.WINE_COLUMNS}
    with pytest.raises(BadInput, match="33 cells; the limit max_table_cells is 10"):
        KINDS[Kind.TABLE].convert(field, table, context)
    assert KINDS[Kind.TABLE].convert(field, {"a": ["1"] * 10}, context) == {"a": ["1"] * 10}


def test_torch_compiler_still_imports_after_a_keras_model_loaded() -> None:
    """TensorFlow first and triton second segfaults: every TensorFlow import goes through the
    helper, so a lazy Keras row loading before a diffusers one cannot kill the server."""
    script = ("from models_server.tasks.tensorflow.runtime import import_tensorflow\n"
              "import_tensorflow()\nimport torch._dynamo, triton\nprint('alive')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "alive" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize(("name", "expected"), [
    ("julien-c/wine-quality", ["config.json", "sklearn_model.joblib"]),
    ("abhishek/autotrain-iris-xgboost", ["config.json", "model.joblib"]),
])
def test_download_takes_the_estimator_and_its_config_not_the_data(name, expected) -> None:
    repo = next(row.weights[0] for row in catalog.MODELS if row.id == name)
    assert download.select_files(reconstructed_listing(name), repo) == expected
