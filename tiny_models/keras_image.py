"""Tiny TensorFlow SavedModels of the keras-io image models and Google's MAXIM, shaped and saved
like the Hub repos.

The Hub repos were pushed with huggingface_hub's `push_to_hub_keras`, whose
`save_pretrained_keras` writes a Keras 2 SavedModel (`tf.keras.models.save_model`): a
`serving_default` signature whose outputs are a flat dict keyed by the output layers' names.
These builders save with tf_keras (Keras 2, the package `tf.keras` was) the same way, so the
signature the loader reads has the real repos' structure: a few small convolutions stand in for
each network, with the real input (channels, fixed or free size) and the real outputs.

Sources per family:
- MAXIM (google/maxim-*): sayakpaul/maxim-tf, which converted the JAX checkpoints.
  `convert_to_tf.py` builds `create_maxim_model.Model` (input 256x256x3 in the 2022 version the Hub
  repos came from; its README: "exported with (256, 256, 3) resolution") with
  `num_supervision_scales=3`, and `maxim/maxim.py` returns `outputs_all`: per stage, one image per
  scale in decoder order (1/4, 1/2, full), each a convolution plus that scale's input
  (`tf.__operators__.add_N` layers in the saved signature); its `run_eval.py` takes `[-1][-1]`.
- Zero-DCE (keras-io/low-light-image-enhancement): keras-io `examples/vision/zero_dce.py`,
  `build_dce_net`: seven 3x3 convolutions with three concatenated skips, the last with 24 tanh
  channels (8 curves x RGB) on a free-size RGB input; the enhancement is done by the caller
  (`ZeroDCE.get_enhanced_image`). The catalog's 79,416 parameters are exactly that network's.
- MIRNet and ESPCN (keras-io/lowlight-enhance-mirnet, keras-io/super-resolution): free-size RGB
  in and out; luminance in, depth-to-space 3x luminance out.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from models_server.tasks.libraries import import_library
from models_server.tasks.tensorflow.runtime import import_tensorflow

MAXIM_SIZE = 256  # maxim-tf's 2022 exports take fixed 256x256 patches
MAXIM_STAGES = 3  # MAXIM-3S
MAXIM_SCALES = 3  # num_supervision_scales in convert_to_tf.py
ZERO_DCE_CURVES = 8
SUPER_RESOLUTION_SCALE = 3


def _keras2() -> ModuleType:
    """tf_keras in a fresh session, as each Hub repo was converted in a process of its own: layer
    names (which key the signature's outputs) count from the start; weights seeded from numpy's
    generator, which `make_tiny` seeds per repo."""
    import numpy as np

    import_tensorflow()
    keras = import_library("tf_keras")
    keras.backend.clear_session()
    keras.utils.set_random_seed(int(np.random.randint(2**31)))
    return keras


def _save(model, folder: Path) -> None:
    """As `save_pretrained_keras` did: a Keras 2 SavedModel, without optimizer."""
    model.save(str(folder), include_optimizer=False)


def _conv(keras: ModuleType, filters: int, activation: str | None = None):
    return keras.layers.Conv2D(filters, 3, padding="same", activation=activation)


def build_keras_enhancement(folder: Path) -> None:
    """keras-io/lowlight-enhance-mirnet: RGB in, RGB out, any size."""
    keras = _keras2()
    image = keras.Input(shape=(None, None, 3))
    features = _conv(keras, 4, "relu")(image)
    _save(keras.Model(image, image + _conv(keras, 3, "tanh")(features)), folder)


def build_zero_dce(folder: Path) -> None:
    """keras-io/low-light-image-enhancement: Zero-DCE's curve network (DCE-Net), any size; 8 light
    curves out (24 channels, tanh), which the caller applies to the image."""
    keras = _keras2()
    image = keras.Input(shape=[None, None, 3])
    conv1 = _conv(keras, 4, "relu")(image)
    conv2 = _conv(keras, 4, "relu")(conv1)
    conv3 = _conv(keras, 4, "relu")(conv2)
    conv4 = _conv(keras, 4, "relu")(conv3)
    conv5 = _conv(keras, 4, "relu")(keras.layers.Concatenate(axis=-1)([conv4, conv3]))
    conv6 = _conv(keras, 4, "relu")(keras.layers.Concatenate(axis=-1)([conv5, conv2]))
    curves = _conv(keras, 3 * ZERO_DCE_CURVES, "tanh")(keras.layers.Concatenate(axis=-1)([conv6, conv1]))
    _save(keras.Model(inputs=image, outputs=curves), folder)


def build_maxim(folder: Path) -> None:
    """google/maxim-s3-deblurring-gopro: a fixed 256x256 RGB input and, per stage (3), an image per
    scale (1/4, 1/2, full) as a nested list; each image is a convolution plus its scale's input,
    after a residual block (MAXIM's own additions number the output layers past ten)."""
    keras = _keras2()
    image = keras.Input((MAXIM_SIZE, MAXIM_SIZE, 3))
    shortcuts = [image, *(keras.layers.AveragePooling2D(2**scale)(image) for scale in range(1, MAXIM_SCALES))]
    stages = []
    for _ in range(MAXIM_STAGES):
        outputs = []
        for scale in reversed(range(MAXIM_SCALES)):
            features = _conv(keras, 4, "relu")(shortcuts[scale])
            features = features + _conv(keras, 4)(features)
            outputs.append(_conv(keras, 3)(features) + shortcuts[scale])
        stages.append(outputs)
    _save(keras.Model(image, stages), folder)


def build_keras_super_resolution(folder: Path) -> None:
    """keras-io/super-resolution (ESPCN): luminance in, luminance 3x larger out (depth-to-space)."""
    keras = _keras2()
    tf = import_tensorflow()

    luma = keras.Input(shape=(None, None, 1))
    features = _conv(keras, 8, "relu")(luma)
    subpixels = _conv(keras, SUPER_RESOLUTION_SCALE**2)(features)
    _save(keras.Model(luma, tf.nn.depth_to_space(subpixels, SUPER_RESOLUTION_SCALE)), folder)
