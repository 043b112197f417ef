"""TensorFlow, imported through `libraries.import_library` (triton first: see there), and its SavedModels."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

from models_server.logs import native_output_silenced
from models_server.tasks.libraries import import_library


def import_tensorflow() -> ModuleType:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    with native_output_silenced():  # the lines it prints before reading that level
        return import_library("tensorflow")


def import_keras() -> ModuleType:
    import_tensorflow()
    return import_library("keras")


def load_serving_function(folder: Path) -> tuple[Any, Any, dict[str, Any]]:
    """A SavedModel (kept alive: its function reads its variables), its `serving_default`
    function, and the inputs that function declares by name. No Python code from the repo runs."""
    tf = import_tensorflow()
    loaded = tf.saved_model.load(str(folder))
    if "serving_default" not in loaded.signatures:
        raise ValueError(f"{folder.name}: the SavedModel has no serving_default signature")
    function = loaded.signatures["serving_default"]
    _, inputs = function.structured_input_signature
    return loaded, function, inputs
