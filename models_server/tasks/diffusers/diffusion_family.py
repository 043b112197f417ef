"""Any Stable Diffusion checkpoint as a text-to-image pipeline of its own, whatever its layout.

- A diffusers folder (SD 1.x fine-tunes, SD 2/2.1, the SD1.5 inpainting model): every component
  is read from the repo's own configs, so SD2's v-prediction (scheduler config), its 768-px
  native size (UNet config) and its OpenCLIP-derived text encoder come with the weights.
- A single checkpoint file in the original CompVis layout (`sd-v1-4.ckpt`, merged models such as
  OrangeMixs): diffusers' `from_single_file` converts it. Offline that needs the component configs
  and the tokenizer of the same architecture from a local diffusers folder (`config=`), which is
  the row's second weights repo; without one, diffusers would ask the Hub for them.

Nothing is shared between these pipelines: each is its own model (its own UNet, VAE, text
encoder and tokenizer object), so no tokenizer is ever used by two pipelines at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from models_server.tasks.diffusers.stable_diffusion import fp16_variant, native_side

if TYPE_CHECKING:
    import torch

    from models_server.tasks.loading import LoadContext, Loader

# Training bookkeeping that PyTorch Lightning pickled into CompVis's .ckpt files beside the
# weights (`callbacks` is keyed by this class). weights_only loading refuses any class it does
# not know; this one is read as an inert stand-in, everything else stays refused.
LIGHTNING_CALLBACK = "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"
INPAINTING_CHANNELS = 9  # latents + mask + masked-image latents


def load_stable_diffusion(ctx: LoadContext) -> Any:
    """A text-to-image pipeline from a diffusers-format Stable Diffusion folder (`weight_dirs[0]`)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    folder = ctx.weight_dirs[0]

    def diffusers_model(cls, subfolder: str):
        return cls.from_pretrained(
            folder, subfolder=subfolder, torch_dtype=ctx.dtype, local_files_only=True,
            variant=fp16_variant(folder / subfolder, ctx.dtype),
        ).to(ctx.device).eval()

    components = {
        "unet": diffusers_model(UNet2DConditionModel, "unet"),
        "vae": diffusers_model(AutoencoderKL, "vae"),
        "text_encoder": CLIPTextModel.from_pretrained(
            folder, subfolder="text_encoder", dtype=ctx.dtype, local_files_only=True
        ).to(ctx.device).eval(),
        "tokenizer": CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", local_files_only=True),
        "scheduler": _scheduler(_scheduler_config(folder)),
    }
    return _text_to_image_pipeline(components)


def single_file_loader(checkpoint: str) -> Loader:
    """A loader for repos holding one checkpoint file, `checkpoint` (a path inside `weight_dirs[0]`),
    whose configs and tokenizer come from the diffusers folder `weight_dirs[1]`."""

    def load_single_file(ctx: LoadContext) -> Any:
        return _from_single_file(ctx.weight_dirs[0] / checkpoint, ctx.weight_dirs[1], ctx.device, ctx.dtype)

    load_single_file.__doc__ = f"Stable Diffusion from the single checkpoint file {checkpoint}."
    return load_single_file


def _from_single_file(path: Path, config_folder: Path, device: str, dtype: torch.dtype) -> Any:
    import torch
    from diffusers import StableDiffusionPipeline

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path.name} is missing from {path.parent}")
    # `.ckpt` files are torch pickles: diffusers reads them with weights_only=True (no code runs).
    with torch.serialization.safe_globals([(_InertCallback, LIGHTNING_CALLBACK)]):
        pipeline = StableDiffusionPipeline.from_single_file(
            str(path), config=str(config_folder), local_files_only=True, torch_dtype=dtype,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    components = {name: getattr(pipeline, name) for name in ("unet", "vae", "text_encoder", "tokenizer")}
    for name in ("unet", "vae", "text_encoder"):
        components[name] = components[name].to(device).eval()
    components["scheduler"] = _scheduler(pipeline.scheduler.config)
    return _text_to_image_pipeline(components)


class _InertCallback:
    """Stands in for Lightning's ModelCheckpoint class when unpickling: holds nothing, runs nothing."""

    def __setstate__(self, state: Any) -> None:
        pass


def _scheduler_config(folder: Path) -> dict[str, Any]:
    from diffusers import UniPCMultistepScheduler

    return dict(UniPCMultistepScheduler.load_config(folder, subfolder="scheduler", local_files_only=True))


def _scheduler(config: Any):
    """UniPC (good images in 20 steps) on the repo's own noise schedule and prediction type,
    so SD2's `v_prediction` carries over."""
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler.from_config(config)


def _text_to_image_pipeline(components: dict[str, Any]) -> Any:
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    kwargs = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    if components["unet"].config.in_channels == INPAINTING_CHANNELS:
        pipeline = StableDiffusionInpaintPipeline(**components, **kwargs)
        pipeline.set_progress_bar_config(disable=True)
        return WholeCanvasInpainting(pipeline)
    pipeline = StableDiffusionPipeline(**components, **kwargs)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


class WholeCanvasInpainting:
    """An inpainting model used for text-to-image: the hole to fill is the whole canvas.

    That is a case the SD inpainting model was trained on (a share of its training masks cover
    everything), so it generates from the prompt alone. Called like a StableDiffusionPipeline.
    """

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def __call__(self, prompt: str, width: int | None = None, height: int | None = None, **kwargs: Any) -> Any:
        from PIL import Image

        native = native_side(self.pipeline)
        width, height = width or native, height or native
        canvas = Image.new("RGB", (width, height))
        everything = Image.new("L", (width, height), 255)
        return self.pipeline(
            prompt=prompt, image=canvas, mask_image=everything, width=width, height=height, strength=1.0, **kwargs
        )
