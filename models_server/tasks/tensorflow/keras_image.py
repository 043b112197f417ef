"""Image-to-image with TensorFlow SavedModels (keras-io's enhancement and super-resolution
models, Google's MAXIM): one loader for all, reading what each model takes from its own
serving signature.

The keras-io repos hold Keras 2 SavedModels. Keras 3 no longer rebuilds those as Keras
objects, but TensorFlow still loads them as SavedModels and runs their `serving_default`
signature; no Python code from the repo runs. The signature says the rest:

- 3 input channels: RGB in [0, 1] (low-light enhancement, deblurring);
- 1 input channel: the luminance (Y of YCbCr) in [0, 1], as ESPCN super-resolution takes it;
  the colour (Cb, Cr) is resized to the output's size and put back;
- a fixed input size is resized to and the result resized back; a free size is padded up to a
  multiple of PAD_TO (by reflection) and the model's output cropped to the image.

The output's size over the input's is the model's scale (1 for enhancement, 3 for ESPCN).

A model may return several images: MAXIM (sayakpaul/maxim-tf) returns every stage's image at
each of three scales, and its evaluation takes the last stage's full-size one. A Keras 2
signature flattens such a nested list into a dict keyed by the output layers' names, which Keras
numbers in the order it built them (`tf.__operators__.add_87`, ..., `add_395`; Keras 3 exports
name them `output_0`, `output_1`, ...). The answer is the largest image built last: names are
ordered with their numbers compared as numbers.

Zero-DCE (keras-io) is saved as its curve network: it returns light-enhancement curves, three
channels per curve, and its callers apply each in turn, x + r(x^2 - x). A row that is such a
network says so by its loader (`load_light_curves`); the curves are applied here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.loading import CannotRun, CheckedLoader
from models_server.tasks.tensorflow.runtime import load_serving_function
from models_server.tasks.tensorflow.saved_model_file import serving_refusal
from models_server.tasks.work_size import MIN_PROCESSOR_SIDE, pad_to_aspect

if TYPE_CHECKING:
    from pathlib import Path

    from PIL import Image

    from models_server.tasks.loading import LoadContext

# Longest side an image is processed at: these models run on the CPU (TensorFlow here takes no
# GPU) and their cost grows with the pixel count; a 12-megapixel photo would take minutes.
MAX_SIDE = 1024
PAD_TO = 64  # U-Net-like models (MAXIM, MIRNet) halve the size several times


@dataclass
class SavedModelImage:
    """A SavedModel's serving function and the input it declares; `saved_model` keeps the
    variables the function reads alive. `output_names` are in the order the model built them;
    `curves` is how many light curves the one output holds (0: the outputs are images)."""

    saved_model: Any
    function: Any
    input_name: str
    channels: int
    height: int | None
    width: int | None
    output_names: tuple[str, ...]
    curves: int = 0


def load_saved_model_image(ctx: LoadContext) -> SavedModelImage:
    """A model whose outputs are images like its input (one, or several stages and scales)."""
    model = _load(ctx.weight_dirs[0])
    outputs = model.function.structured_outputs
    if any(outputs[name].shape.rank != 4 or outputs[name].shape[-1] != model.channels for name in model.output_names):
        raise ValueError(f"{ctx.weight_dirs[0].name}: the model's output ({_shapes(model)}) is not an image like "
                         f"its input (with {model.channels} channels)")
    return model


def load_light_curves(ctx: LoadContext) -> SavedModelImage:
    """A curve network like Zero-DCE's: one output of light curves, the input's channels each."""
    model = _load(ctx.weight_dirs[0])
    (output, *others) = [model.function.structured_outputs[name] for name in model.output_names]
    maps = output.shape[-1]
    if others or output.shape.rank != 4 or maps is None or maps % model.channels:
        raise ValueError(f"{ctx.weight_dirs[0].name}: the model's output ({_shapes(model)}) is not a set of light "
                         f"curves ({model.channels} channels each)")
    model.curves = maps // model.channels
    return model


def _load(folder: Path) -> SavedModelImage:
    loaded, function, inputs = load_serving_function(folder)
    if len(inputs) != 1:
        raise ValueError(f"{folder.name}: the model takes {len(inputs)} inputs, not one image")
    (name, spec), = inputs.items()
    if spec.shape.rank != 4 or spec.shape[-1] not in (1, 3):
        raise ValueError(f"{folder.name}: the model's input {spec.shape} is not a batch of RGB or luminance images")
    output_names = tuple(sorted(function.structured_outputs, key=_build_order))
    return SavedModelImage(loaded, function, name, int(spec.shape[-1]), spec.shape[1], spec.shape[2], output_names)


def _build_order(name: str) -> list[str | int]:
    """`add_87` before `add_117`: the numbers in a name compared as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _shapes(model: SavedModelImage) -> str:
    return ", ".join(str(model.function.structured_outputs[name].shape) for name in model.output_names)


def transform(model: SavedModelImage, inputs: dict[str, Any], params: dict[str, Any]) -> Image.Image:
    import numpy as np
    from PIL import Image

    original = _fit(inputs["img_url"].convert("RGB"))
    # a strip a pixel or two wide would scale to nothing: the model sees it on a padded canvas
    image = pad_to_aspect(original, min_side=MIN_PROCESSOR_SIDE)
    if model.channels == 3:
        result = Image.fromarray(_to_uint8(_run(model, np.asarray(image, np.float32) / 255.0)))
    else:
        luma, blue, red = image.convert("YCbCr").split()
        out = _run(model, np.asarray(luma, np.float32)[..., None] / 255.0)
        size = (out.shape[1], out.shape[0])
        colour = [channel.resize(size, Image.Resampling.BICUBIC) for channel in (blue, red)]
        result = Image.merge("YCbCr", (Image.fromarray(_to_uint8(out[..., 0])), *colour)).convert("RGB")
    if image is original:
        return result
    scale = result.width / image.width
    return result.crop((0, 0, max(1, round(original.width * scale)), max(1, round(original.height * scale))))


def _fit(image: Image.Image) -> Image.Image:
    from PIL import Image

    scale = MAX_SIDE / max(image.size)
    if scale >= 1:
        return image
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                        Image.Resampling.LANCZOS)


def _run(model: SavedModelImage, pixels):
    """The model's output for one (H, W, C) float image, cropped or resized to the image's extent."""
    import numpy as np
    import tensorflow as tf

    height, width = pixels.shape[:2]
    if model.height is not None and model.width is not None:
        batch = tf.image.resize(pixels[None], (model.height, model.width), method="bicubic")
        out = _output(model, batch)
        scale = out.shape[0] / model.height
        size = (round(height * scale), round(width * scale))
        return np.asarray(tf.image.resize(out[None], size, method="bicubic")[0])
    padded = np.pad(pixels, ((0, -height % PAD_TO), (0, -width % PAD_TO), (0, 0)), mode="reflect")
    out = _output(model, tf.constant(padded[None]))
    scale = out.shape[0] / padded.shape[0]
    return out[: round(height * scale), : round(width * scale)]


def _output(model: SavedModelImage, batch):
    """The model's image for a batch of one: the largest output built last, or the input with
    the model's light curves applied."""
    import numpy as np

    results = model.function(**{model.input_name: batch})
    outputs = [results[name] for name in model.output_names]
    largest = max(output.shape[1] * output.shape[2] for output in outputs)
    output = np.asarray([output for output in outputs if output.shape[1] * output.shape[2] == largest][-1][0],
                        np.float32)
    if not model.curves:
        return output
    image = np.asarray(batch[0], np.float32)
    for curve in np.split(output, model.curves, axis=-1):
        image = image + curve * (image * image - image)
    return image


def _to_uint8(pixels):
    import numpy as np

    return (np.clip(pixels, 0.0, 1.0) * 255.0).round().astype(np.uint8)


TRANSFORM_IMAGE = Task(contracts.IMAGE_TO_IMAGE, transform)


def one_image_refusal(folder: Path) -> CannotRun | None:
    """What `_load` refuses, read from saved_model.pb without TensorFlow: no serving_default, or
    a serving_default that does not take one input."""
    return serving_refusal(folder, inputs=1)


LOAD_SAVED_MODEL_IMAGE = CheckedLoader(load_saved_model_image, one_image_refusal)
LOAD_LIGHT_CURVES = CheckedLoader(load_light_curves, one_image_refusal)
