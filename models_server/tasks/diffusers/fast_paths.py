"""The Stable Diffusion pipelines' fast paths, each chosen by a `DiffusionSettings` key:

- `channels_last`: the UNet, ControlNet and VAE weights in NHWC order, the layout convolution
  kernels (cuDNN's tensor-core paths, oneDNN on the CPU) run fastest on;
- `compile`: the UNet and ControlNet through `torch.compile`, compiled and warmed up at load by one
  call at the row's default size; its kernels are kept under `<cache_dir>/torch-compile`, so a
  restart reads them instead of compiling again; a compile that fails leaves the model eager and
  says so in one warning line;
- `tiny_vae`: TAESD (madebyollin/taesd, diffusers' `AutoencoderTiny`) decodes the latents in place
  of the SD VAE;
- `step_cache_interval`: the step cache of `step_cache.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from models_server.config import DiffusionSettings
from models_server.tasks.compiling import COMPILE_CACHE, use_compile_cache, warn_compile_failed
from models_server.tasks.diffusers import step_cache

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext

COMPILED = ("unet", "controlnet")


def base_variant(settings: DiffusionSettings) -> tuple[bool, bool]:
    """What of the settings changes the shared UNet and VAE themselves: rows that differ in it
    cannot share one SD base."""
    return settings.channels_last, settings.step_cache_interval > 1


def prepare(settings: DiffusionSettings, *models: Any) -> None:
    """Put models (UNet, ControlNet, VAE) in the memory format and wrapping the settings ask for."""
    import torch

    for model in models:
        if settings.channels_last:
            model.to(memory_format=torch.channels_last)
        if settings.step_cache_interval > 1 and hasattr(model, "mid_block") and hasattr(model, "down_blocks"):
            step_cache.install(model)


def tiny_vae(ctx: LoadContext) -> Any:
    """TAESD from its own repo's folder, loaded once per (folder, device, dtype, memory format)."""
    folder = ctx.setting_folder("tiny_vae")

    def load() -> Any:
        from diffusers import AutoencoderTiny

        vae = AutoencoderTiny.from_pretrained(folder, torch_dtype=ctx.dtype, local_files_only=True)
        vae = vae.to(ctx.device).eval()
        prepare(ctx.diffusion, vae)
        return vae

    key = ("taesd", str(folder), ctx.device, str(ctx.dtype), ctx.diffusion.channels_last)
    return ctx.shared(key, load)


def finish(pipeline: Any, ctx: LoadContext, warm_up: Callable[[Any], object]) -> Any:
    """The pipeline to serve: compiled (and warmed up by `warm_up(served)`) when asked, and behind
    the step cache when its interval is above 1."""
    settings = ctx.diffusion
    served = pipeline
    if settings.step_cache_interval > 1:
        served = step_cache.StepCachedPipeline(pipeline, settings.step_cache_interval)
    if settings.compile:
        _compile(pipeline, served, ctx, warm_up)
    return served


def _compile(pipeline: Any, served: Any, ctx: LoadContext, warm_up: Callable[[Any], object]) -> None:
    import torch

    eager = {name: getattr(pipeline, name) for name in COMPILED if getattr(pipeline, name, None) is not None}
    settings = ctx.diffusion
    try:
        if ctx.cache_dir is not None:
            use_compile_cache(ctx.cache_dir / COMPILE_CACHE)
        for name, model in eager.items():
            setattr(pipeline, name, torch.compile(model, backend=settings.compile_backend, mode=settings.compile_mode))
        warm_up(served)
    except Exception as exc:  # any compiler failure: the eager model still serves
        for name, model in eager.items():
            setattr(pipeline, name, model)
        warn_compile_failed(ctx.model_id, exc)
