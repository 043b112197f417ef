"""TensorFlow, imported the one way that keeps torch's compiler importable in the same process.

Once TensorFlow is loaded, importing triton (which diffusers and torch's compiler pull in) kills
the process with a segmentation fault; the other order is fine. A server that loads a lazy Keras
model before its first diffusers model would otherwise die on that load, taking every model with it.
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType


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
