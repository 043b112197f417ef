"""Stable Diffusion 1.5 from a prompt (on the shared base), and image variations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from models_server.tasks import contracts
from models_server.tasks.base import Batching, Task
from models_server.tasks.diffusers import fast_paths
from models_server.tasks.diffusers.stable_diffusion import (
    batch_kwargs,
    fp16_variant,
    generation_kwargs,
    native_side,
    new_scheduler,
    sd_base,
    shape_key,
)
from models_server.tasks.work_size import processor_input

if TYPE_CHECKING:
    from PIL import Image

    from models_server.tasks.loading import LoadContext


def load_text_to_image(ctx: LoadContext):
    """The same UNet, VAE and text encoder objects the ControlNet pipelines use: no second SD1.5;
    the row's fast paths (`fast_paths.py`) on top."""
    from diffusers import StableDiffusionPipeline

    base = sd_base(ctx, ctx.weight_dirs[0])
    pipeline = StableDiffusionPipeline(
        **base.components(ctx), scheduler=new_scheduler(base),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    return fast_paths.finish(pipeline, ctx, warm_up)


def warm_up(pipeline) -> None:
    """One call at the model's default size, with a request's default guidance (a batch of two);
    two steps, so a step cache runs a full step and a cached one."""
    import torch

    with torch.inference_mode():
        pipeline(prompt="", num_inference_steps=2, generator=torch.Generator("cpu").manual_seed(0))


def text_to_image(pipeline, inputs: dict[str, Any], params: dict[str, Any]) -> Image.Image:
    return pipeline(prompt=inputs["text"], **generation_kwargs(params)).images[0]


def batch_key(pipeline, inputs: dict[str, Any], params: dict[str, Any]) -> tuple[int, int, int, float]:
    """A side not asked for is the model's own, as the pipeline picks it."""
    native = native_side(pipeline)
    return shape_key(params, (params.get("width") or native, params.get("height") or native))


def text_to_image_batch(pipeline, inputs: list[dict[str, Any]], params: list[dict[str, Any]]) -> list[Image.Image]:
    return pipeline(prompt=[each["text"] for each in inputs], **batch_kwargs(params)).images


TEXT_TO_IMAGE = Task(contracts.TEXT_TO_IMAGE, text_to_image, Batching(batch_key, text_to_image_batch))


def load_image_variations(ctx: LoadContext):
    """lambdalabs' variations model: its own UNet conditioned on CLIP image embeddings."""
    from diffusers import StableDiffusionImageVariationPipeline

    folder = ctx.weight_dirs[0]
    pipeline = StableDiffusionImageVariationPipeline.from_pretrained(
        folder, torch_dtype=ctx.dtype, variant=fp16_variant(folder / "unet", ctx.dtype),
        safety_checker=None, requires_safety_checker=False,
    ).to(ctx.device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def image_variation(pipeline, inputs: dict[str, Any], params: dict[str, Any]) -> Image.Image:
    kwargs = generation_kwargs(params, legacy_callback=True)
    kwargs.pop("negative_prompt")  # the variations pipeline has no text to negate
    # Its CLIP feature extractor scales the short side up to 224 with torch: PIL bounds the cost first.
    image, _ = processor_input(inputs["img_url"], pipeline.feature_extractor)
    return pipeline(image=image, **kwargs).images[0]


IMAGE_VARIATIONS = Task(contracts.IMAGE_VARIATIONS, image_variation)
