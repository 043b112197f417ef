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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.tensorflow.runtime import load_serving_function
from models_server.tasks.work_size import MIN_PROCESSOR_SIDE, pad_to_aspect

if TYPE_CHECKING:
    from PIL import Image

    from models_server.tasks.loading import LoadContext

# Longest side an image is processed at: these models run on the CPU (TensorFlow here takes no
# GPU) and their cost grows with the pixel count; a 12-megapixel photo would take minutes.
MAX_SIDE = 1024
PAD_TO = 64  # U-Net-like models (MAXIM, MIRNet) halve the size several times


@dataclass
class SavedModelImage:
    """A SavedModel's serving function and the input it declares; `saved_model` keeps the
    variables the function reads alive."""

    saved_model: Any
    function: Any
    input_name: str
    channels: int
    height: int | None
    width: int | None


def load_saved_model_image(ctx: LoadContext) -> SavedModelImage:
    folder = ctx.weight_dirs[0]
    loaded, function, inputs = load_serving_function(folder)
    if len(inputs) != 1:
        raise ValueError(f"{folder.name}: the model takes {len(inputs)} inputs, not one image")
    (name, spec), = inputs.items()
    if spec.shape.rank != 4 or spec.shape[-1] not in (1, 3):
        raise ValueError(f"{folder.name}: the model's input {spec.shape} is not a batch of RGB or luminance images")
    outputs = list(function.structured_outputs.values())
    if len(outputs) != 1 or outputs[0].shape.rank != 4 or outputs[0].shape[-1] != spec.shape[-1]:
        shapes = ", ".join(str(output.shape) for output in outputs)
        raise ValueError(f"{folder.name}: the model's output ({shapes}) is not an image like its input {spec.shape}")
    return SavedModelImage(loaded, function, name, int(spec.shape[-1]), spec.shape[1], spec.shape[2])


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
    import numpy as np

    (output,) = model.function(**{model.input_name: batch}).values()  # one output, checked at load
    return np.asarray(output[0], np.float32)


def _to_uint8(pixels):
    import numpy as np

    return (np.clip(pixels, 0.0, 1.0) * 255.0).round().astype(np.uint8)


TRANSFORM_IMAGE = Task(contracts.IMAGE_TO_IMAGE, transform)
