"""TAESD (madebyollin/taesd) served on its own: an image through its encoder and decoder, which
shows what the tiny decoder keeps of a picture when the SD pipelines decode with it (`tiny_vae`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.diffusers import fast_paths

if TYPE_CHECKING:
    from PIL import Image

    from models_server.tasks.loading import LoadContext

MAX_SIDE = 1024  # the round trip's cost grows with the pixels; SD's own images are 512-768 px


def load_tiny_autoencoder(ctx: LoadContext) -> Any:
    """The same AutoencoderTiny object the SD pipelines decode with when `tiny_vae` is on."""
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny.from_pretrained(ctx.weight_dirs[0], torch_dtype=ctx.dtype, local_files_only=True)
    vae = vae.to(ctx.device).eval()
    fast_paths.prepare(ctx.diffusion, vae)
    return vae


def round_trip(vae: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Image.Image:
    """The image encoded to TAESD's latents (1/8 of each side, 4 channels) and decoded back."""
    import numpy as np
    import torch
    from PIL import Image

    image = inputs["img_url"].convert("RGB")
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    scale = min(1.0, MAX_SIDE / max(image.size))
    size = tuple(max(factor, int(side * scale) // factor * factor) for side in image.size)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = torch.from_numpy(np.asarray(image, np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    pixels = pixels.to(vae.device, vae.dtype)
    with torch.inference_mode():
        decoded = vae.decode(vae.encode(pixels).latents).sample
    array = ((decoded[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array)


ROUND_TRIP = Task(contracts.IMAGE_TO_IMAGE, round_trip)
