"""TensorFlow, imported the one way that keeps torch's compiler importable in the same process.

Once TensorFlow is loaded, importing triton (which diffusers and torch's compiler pull in) kills
the process with a segmentation fault; the other order is fine. A server that loads a lazy Keras
model before its first diffusers model would otherwise die on that load, taking every model with it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any


def import_tensorflow() -> ModuleType:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401  (first: see the module's docstring)
    import tensorflow

    return tensorflow


def import_keras() -> ModuleType:
    import_tensorflow()
    import keras

    return keras


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
