"""ControlNet-conditioned Stable Diffusion 1.5: a control map and a prompt make an image."""

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
    requested_size,
    sd_base,
    shape_key,
)

if TYPE_CHECKING:
    from PIL import Image

    from models_server.tasks.loading import LoadContext


def load_controlnet_pipeline(ctx: LoadContext):
    """A pipeline of its own ControlNet and scheduler around the one shared SD base, with the
    row's fast paths (`fast_paths.py`)."""
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    controlnet_dir, base_dir = ctx.weight_dirs
    base = sd_base(ctx, base_dir)
    controlnet = ControlNetModel.from_pretrained(
        controlnet_dir, torch_dtype=ctx.dtype, variant=fp16_variant(controlnet_dir, ctx.dtype)
    ).to(ctx.device).eval()
    fast_paths.prepare(ctx.diffusion, controlnet)
    pipeline = StableDiffusionControlNetPipeline(
        **base.components(ctx), controlnet=controlnet, scheduler=new_scheduler(base),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    return fast_paths.finish(pipeline, ctx, warm_up)


def warm_up(pipeline) -> None:
    """One call at the model's default size (a square control map), with guidance as a request's
    default (a batch of two); two steps, so a step cache runs a full step and a cached one."""
    import torch
    from PIL import Image

    native = native_side(pipeline)
    with torch.inference_mode():
        pipeline(prompt="", image=Image.new("RGB", (native, native)), num_inference_steps=2,
                 width=native, height=native, generator=torch.Generator("cpu").manual_seed(0))


def generate(pipeline, inputs: dict[str, Any], params: dict[str, Any]) -> Image.Image:
    """The image the prompt describes, laid out along the control map."""
    control = inputs["img_url"]
    kwargs = generation_kwargs(params)
    kwargs["width"], kwargs["height"] = output_size(pipeline, control.size, kwargs)
    result = pipeline(prompt=inputs["text"], image=scaled_control(control, kwargs), **kwargs)
    return result.images[0]


def batch_key(pipeline, inputs: dict[str, Any], params: dict[str, Any]) -> tuple[int, int, int, float]:
    return shape_key(params, output_size(pipeline, inputs["img_url"].size, requested_size(params)))


def generate_batch(pipeline, inputs: list[dict[str, Any]], params: list[dict[str, Any]]) -> list[Image.Image]:
    """Requests of one `batch_key` as one call: a prompt, a control map and a generator each."""
    kwargs = batch_kwargs(params)
    kwargs["width"], kwargs["height"] = output_size(pipeline, inputs[0]["img_url"].size, kwargs)
    controls = [scaled_control(each["img_url"], kwargs) for each in inputs]
    return pipeline(prompt=[each["text"] for each in inputs], image=controls, **kwargs).images


def output_size(pipeline, control: tuple[int, int], kwargs: dict[str, Any]) -> tuple[int, int]:
    """The size asked for; a side not asked for is the model's own, as diffusers would pick it."""
    if "width" not in kwargs and "height" not in kwargs:
        return native_size(pipeline, control)
    native = native_side(pipeline)
    return kwargs.get("width", native), kwargs.get("height", native)


def scaled_control(control: Image.Image, kwargs: dict[str, Any]) -> Image.Image:
    """The control map at the output's size, scaled by PIL before diffusers sees it.

    diffusers would scale it too (with the same Lanczos filter), but only after turning the whole
    decoded map into arrays: a 1x49,000,000 strip runs out of memory there. PIL's reducing gap
    shrinks it by whole factors first, so the cost stays that of the decoded image.
    """
    from PIL import Image

    size = (kwargs["width"], kwargs["height"])
    if control.size == size:
        return control
    return control.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def native_size(pipeline, size: tuple[int, int]) -> tuple[int, int]:
    """The control map's aspect at the model's own resolution (512 for SD1.5), multiples of 8.

    Without this the pipeline would generate at the photo's full size: a 12-megapixel
    control photo would cost minutes and most of the GPU's memory.
    """
    native = native_side(pipeline)
    scale = native / max(size)
    width, height = (max(8, round(side * scale / 8) * 8) for side in size)
    return width, height


GENERATE = Task(contracts.CONTROLNET_IMAGE_GENERATION, generate, Batching(batch_key, generate_batch))
