"""A lazy Keras row is checked at start from its saved_model.pb, read without TensorFlow: no
`serving_default`, or an image model whose `serving_default` does not take one input, is `failed`
with the fix; the reading agrees with TensorFlow's own on a SavedModel TensorFlow wrote."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.protobuf_wire import saved_model
from support.serving import tiny_settings

from models_server.catalog import ModelSpec, catalog_rows
from models_server.runtime import Runtime, State
from models_server.tasks.tensorflow.saved_model_file import signatures


def row(model_id: str) -> ModelSpec:
    found = next(row for row in catalog_rows() if row.id == model_id)
    assert not found.preload
    return found


def test_the_signatures_read_are_tensorflows(tiny_root):
    from models_server.tasks.tensorflow.runtime import import_tensorflow

    tf = import_tensorflow()
    folder = tiny_root / "keras-io/tab_transformer"
    loaded = tf.saved_model.load(str(folder))
    read = signatures(folder / "saved_model.pb")
    assert set(read) >= set(loaded.signatures) and "serving_default" in read
    function = loaded.signatures["serving_default"]
    assert set(read["serving_default"].inputs) == set(function.structured_input_signature[1])
    assert set(read["serving_default"].outputs) == set(function.structured_outputs)


@pytest.mark.parametrize(("model_id", "signature", "reason"), [
    ("keras-io/tab_transformer", {"serve": (["age"], ["output_0"])},
     "has no serving_default signature (it has: serve)"),
    ("keras-io/super-resolution", {"serving_default": (["image", "mask"], ["output_0"])},
     "serving_default takes 2 inputs (image, mask), not 1"),
])
def test_a_saved_model_its_loader_would_refuse_is_failed_at_start(tiny_root, public_dir, tmp_path: Path, model_id,
                                                                   signature, reason):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_root / model_id, folder)
    (folder / "saved_model.pb").write_bytes(saved_model(signature))
    settings = tiny_settings(tiny_root, public_dir, models={model_id: {"weights": str(folder)}})
    view = Runtime(settings, [row(model_id)]).view(model_id)
    assert view.state is State.FAILED
    assert reason in (view.reason or "") and "fix: " in view.reason


def test_a_truncated_saved_model_is_failed_at_start(tiny_root, public_dir, tmp_path):
    model_id = "keras-io/imbalanced_classification"
    folder = tmp_path / "copy"
    shutil.copytree(tiny_root / model_id, folder)
    data = (folder / "saved_model.pb").read_bytes()
    (folder / "saved_model.pb").write_bytes(data[: len(data) // 2])
    view = Runtime(tiny_settings(tiny_root, public_dir, models={model_id: {"weights": str(folder)}}),
                   [row(model_id)]).view(model_id)
    assert view.state is State.FAILED and "is not a readable SavedModel" in (view.reason or "")


def test_the_tiny_keras_rows_pass(tiny_root, public_dir):
    keras = [row for row in catalog_rows() if row.framework == "tensorflow"]
    runtime = Runtime(tiny_settings(tiny_root, public_dir), keras)
    assert {row.id: runtime.view(row.id).state for row in keras} == {row.id: State.NOT_LOADED for row in keras}
