"""Decoding image bytes safely: pixel cap before decoding, EXIF orientation, RGB."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from models_server.errors import BadInput

UNKNOWN_FORMAT = "the data is not an image in a format this server reads (e.g. PNG, JPEG, WebP, GIF, BMP, TIFF)"


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """An RGB image, upright as the camera saw it; refuses images over `max_pixels`.

    The size is checked from the header before any pixel is decoded, so a decompression
    bomb costs nothing. Transparent areas are laid on white, as viewers show them. Errors say
    what is wrong with the data in our words: Pillow's own messages name Python objects
    ("<_io.BytesIO object at 0x...>") and decoder internals.
    """
    if not data:
        raise BadInput("cannot decode image: the resource is empty")
    image_format: str | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            image_format = image.format
            width, height = image.size
            if width * height > max_pixels:
                raise BadInput(
                    f"image is {width}x{height} = {width * height} pixels; "
                    f"the limit max_image_pixels is {max_pixels}"
                )
            image.load()
            image = ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise BadInput(f"cannot decode image: {UNKNOWN_FORMAT}") from None
    except Image.DecompressionBombError:
        raise BadInput("cannot decode image: it declares more pixels than the decoder accepts") from None
    except (OSError, SyntaxError, ValueError):
        raise BadInput(f"cannot decode image: the {image_format or 'image'} data is truncated or corrupt") from None
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16/32-bit greyscale: stretch to 8 bits, or a plain convert would clip everything above 255
        import numpy as np

        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
