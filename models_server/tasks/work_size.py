"""The size a model actually works at, computed before it runs, so one request's cost is bounded.

`max_image_pixels` caps what is decoded, but models resize again: the controlnet_aux detectors
scale the *short* side up to their resolution, so a 1x20 PNG would become 512x10240 and cost
gigabytes. Every image model here therefore works at a size computed up front, at most
`MAX_WORK_PIXELS` at any stage; what it returns is scaled back to the input's size, which costs
no more than the decoded input itself.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput

if TYPE_CHECKING:
    from PIL import Image

# The largest image, in pixels, any stage of an image model works at: 1024x1024. A 16:9 photo at
# the detectors' 512 short side is 896x512 (0.46 MP), a 4:1 panorama 2048x512 (1 MP), so real
# photos are not affected; the detectors cost at most ~0.85 KiB per working pixel (OpenPose, the
# largest), so ~1 GiB and a few seconds of CPU at this size (see benchmarks/availability.py).
MAX_WORK_PIXELS = 1024 * 1024

# controlnet_aux rounds both sides to multiples of this; below it a side would round to nothing.
AUX_MULTIPLE = 64

Size = tuple[int, int]


def fit_within(size: Size, max_pixels: int | None = None) -> Size:
    """`size` scaled down (never up), keeping its aspect, to at most `max_pixels`
    (default MAX_WORK_PIXELS); sides >= 1."""
    max_pixels = MAX_WORK_PIXELS if max_pixels is None else max_pixels
    width, height = size
    if width * height <= max_pixels:
        return size
    scale = math.sqrt(max_pixels / (width * height))
    fitted = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    while fitted[0] * fitted[1] > max_pixels:  # a side clamped to 1 can leave the other too long
        fitted = (max(1, fitted[0] - 1), fitted[1]) if fitted[0] >= fitted[1] else (fitted[0], max(1, fitted[1] - 1))
    return fitted


def aux_work_size(size: Size, resolution: int, fixed_height: int | None = None,
                  max_pixels: int | None = None, name: str = "this model") -> Size:
    """The size (multiples of 64) a controlnet_aux detector should see an image of `size` at.

    The short side is `resolution`, as the detector would make it, lowered in steps of 64 until
    every stage fits `max_pixels`. `fixed_height` is for a network that rescales the image to a
    height of its own (OpenPose's body net: 184 px), whatever the detector was given.
    Raises BadInput naming the limit when even a 64-pixel short side does not fit.
    """
    max_pixels = MAX_WORK_PIXELS if max_pixels is None else max_pixels
    width, height = size
    short, long = min(width, height), max(width, height)
    start = max(AUX_MULTIPLE, resolution // AUX_MULTIPLE * AUX_MULTIPLE)
    for side in range(start, 0, -AUX_MULTIPLE):
        long_side = max(AUX_MULTIPLE, round(long * side / short / AUX_MULTIPLE) * AUX_MULTIPLE)
        work = (side, long_side) if width <= height else (long_side, side)
        if _stage_pixels(work, fixed_height) <= max_pixels and _fits_network(work, fixed_height):
            return work
    raise BadInput(
        f"image is {width}x{height}: at that aspect ratio {name} would work at more than the limit of "
        f"{max_pixels} pixels (MAX_WORK_PIXELS) even at its smallest resolution; crop or pad it "
        f"to an aspect ratio of at most {_max_aspect(max_pixels, fixed_height)}:1"
    )


def _stage_pixels(work: Size, fixed_height: int | None) -> int:
    width, height = work
    pixels = width * height
    if fixed_height:
        pixels = max(pixels, math.ceil(width * fixed_height / height) * fixed_height)
    return pixels


def _fits_network(work: Size, fixed_height: int | None) -> bool:
    """A network that rescales to `fixed_height` needs the width to stay at least 8 px (its stride)."""
    if not fixed_height:
        return True
    width, height = work
    return width * fixed_height / height >= 8


def _max_aspect(max_pixels: int, fixed_height: int | None) -> int:
    side = max(AUX_MULTIPLE, fixed_height or 0)
    widest = max(1, max_pixels // (side * side))
    return min(widest, fixed_height // 8) if fixed_height else widest


# Aspect-keeping processors (DETR, YOLOS, ViLT) round the short side to their patch or stride
# size; past a few to one it rounds to nothing and they raise. Images beyond this are padded.
MAX_PROCESSOR_ASPECT = 4


def processor_input(image: Image.Image, processor: Any) -> tuple[Image.Image, Size]:
    """`image` prepared with PIL so that a transformers image processor cannot blow up on it, and
    the size of the canvas it shows, in `image`'s pixels (larger than `image` when padded).

    A processor with a fixed output size (DPT 384x384, SegFormer 512x512, ViT 224x224, ...) gets
    the image at exactly that size: the geometry it would produce itself, but resized by PIL, whose
    cost does not grow with the aspect ratio (the torchvision resize with antialiasing allocates
    input x output weights: 75 GB for a 1x49,000,000 image). Any other processor gets the image
    padded (right or bottom, black) to at most MAX_PROCESSOR_ASPECT to 1 and scaled down to
    MAX_WORK_PIXELS at most; outputs in canvas coordinates map back to `image` by `crop_box`.
    """
    from PIL import Image

    fixed = _fixed_size(processor)
    if fixed is not None:
        resized = image if fixed == image.size else image.resize(fixed, Image.Resampling.BICUBIC, reducing_gap=3.0)
        return resized, image.size
    width, height = image.size
    canvas = (
        max(width, math.ceil(height / MAX_PROCESSOR_ASPECT)),
        max(height, math.ceil(width / MAX_PROCESSOR_ASPECT)),
    )
    target = fit_within(canvas)
    if min(target) < MIN_PROCESSOR_SIDE:  # a few pixels wide: scale the canvas up (bounded by the aspect cap)
        up = MIN_PROCESSOR_SIDE / min(target)
        target = (math.ceil(target[0] * up), math.ceil(target[1] * up))
    if target == canvas == image.size:
        return image, canvas
    scale = target[0] / canvas[0]
    part = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = image.resize(part, Image.Resampling.BICUBIC, reducing_gap=3.0) if part != image.size else image
    if part == target:
        return resized, canvas
    padded = Image.new(image.mode, target)
    padded.paste(resized, (0, 0))
    return padded, canvas


# Processors that round sizes to their stride (GLPN: 32) make nothing of a side of a few pixels.
MIN_PROCESSOR_SIDE = 64


def pad_to_aspect(image: Image.Image, max_aspect: int = MAX_PROCESSOR_ASPECT,
                  min_side: int = 0) -> Image.Image:
    """`image` on a black canvas (at the top left) of at most `max_aspect` to 1 and a short side of
    at least `min_side`; the image itself is not resized. Crop results back with its own size."""
    from PIL import Image

    width, height = image.size
    canvas = (max(width, math.ceil(height / max_aspect), min_side),
              max(height, math.ceil(width / max_aspect), min_side))
    if canvas == image.size:
        return image
    padded = Image.new(image.mode, canvas)
    padded.paste(image, (0, 0))
    return padded


def crop_box(canvas: Size, work: Size, image: Size) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) of `image` inside a map of `canvas` drawn at `work` size."""
    right = max(1, min(work[0], math.ceil(image[0] * work[0] / canvas[0])))
    bottom = max(1, min(work[1], math.ceil(image[1] * work[1] / canvas[1])))
    return 0, 0, right, bottom


def _fixed_size(processor: Any) -> Size | None:
    """(width, height) a processor resizes every image to, or None when it keeps the aspect."""
    processor = getattr(processor, "image_processor", processor)  # a multimodal processor's image part
    if not getattr(processor, "do_resize", True) or getattr(processor, "keep_aspect_ratio", False):
        return None
    size = getattr(processor, "size", None)
    if size is None:
        return None
    height = size.get("height") if isinstance(size, dict) else getattr(size, "height", None)
    width = size.get("width") if isinstance(size, dict) else getattr(size, "width", None)
    return (int(width), int(height)) if height and width else None


# PIL precomputes ~40 bytes of filter weights per output row and column: for a side of tens of
# millions of pixels (a 1x49,000,000 strip) that is gigabytes. Past this side, scale by NEAREST,
# which needs none; such a strip's map has nothing a filter could improve.
FILTERED_MAX_SIDE = 2**16


def scale_to(image: Image.Image, size: Size, resample: int) -> Image.Image:
    """`image` at `size`, with `resample` unless a side is too long for its filter weights."""
    from PIL import Image

    if image.size == size:
        return image
    if max(size) > FILTERED_MAX_SIDE:
        resample = Image.Resampling.NEAREST
    return image.resize(size, resample)
