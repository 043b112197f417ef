"""Tiny TensorFlow SavedModels of the keras-io image models and Google's MAXIM.

The real repos are Keras 2 SavedModels (`saved_model.pb`, `variables/`, plus Keras metadata our
loader does not read); Keras 3 exports the same SavedModel format with a `serving_default`
signature, which is all the loader uses. Two convolutions stand in for each network: the
signature's shape (channels, fixed or free size, output scale) is what the loader depends on.
"""

from __future__ import annotations

from pathlib import Path

from models_server.tasks.tensorflow.runtime import import_keras

MAXIM_SIZE = 256  # MAXIM's TensorFlow ports take fixed 256x256 patches
SUPER_RESOLUTION_SCALE = 3


def _keras():
    return import_keras()


def _export(model, folder: Path) -> None:
    model.export(str(folder), verbose=False)


def _enhancer(size: int | None):
    keras = _keras()
    image = keras.Input(shape=(size, size, 3))
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    residual = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(features)
    return keras.Model(image, keras.layers.Add()([image, residual]))


def build_keras_enhancement(folder: Path) -> None:
    """RGB in, RGB out, any size: keras-io's MIRNet and Zero-DCE low-light models."""
    _export(_enhancer(None), folder)


def build_maxim(folder: Path) -> None:
    """RGB in, RGB out at a fixed 256x256: google/maxim-s3-deblurring-gopro."""
    _export(_enhancer(MAXIM_SIZE), folder)


def build_keras_super_resolution(folder: Path) -> None:
    """keras-io/super-resolution (ESPCN): luminance in, luminance 3x larger out (depth-to-space)."""
    keras = _keras()
    import tensorflow as tf

    luma = keras.Input(shape=(None, None, 1))
    features = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(luma)
    subpixels = keras.layers.Conv2D(SUPER_RESOLUTION_SCALE**2, 3, padding="same")(features)
    upscaled = keras.layers.Lambda(lambda x: tf.nn.depth_to_space(x, SUPER_RESOLUTION_SCALE))(subpixels)
    _export(keras.Model(luma, upscaled), folder)
