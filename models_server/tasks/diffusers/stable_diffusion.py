"""The Stable Diffusion 1.5 base that every SD pipeline shares, and the generation knobs."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models_server import progress
from models_server.config import DiffusionSettings
from models_server.tasks.diffusers import fast_paths

if TYPE_CHECKING:
    import torch

    from models_server.tasks.loading import LoadContext

@dataclass(frozen=True)
class SDBase:
    """The heavy, read-only modules of SD1.5; pipelines hold references, never copies.

    The tokenizer is the exception: `components()` hands each pipeline a copy of its own.
    """

    vae: Any
    text_encoder: Any
    tokenizer: Any
    unet: Any
    scheduler_config: dict[str, Any]

    def components(self, ctx: LoadContext) -> dict[str, Any]:
        """The modules for one new pipeline: the shared UNet, VAE and text encoder, its own tokenizer.

        A fast tokenizer is not read-only: every call first sets its padding and truncation
        (the pipeline asks for "pad to 77, truncate", then "longest, don't truncate" to warn
        about cut prompts), then encodes. Pipelines of different models run at the same time,
        so a shared tokenizer would encode one request's prompt with another's settings (prompts
        not cut to 77 tokens, or not padded). A copy of a tokenizer of CLIP's size (49,408 tokens)
        costs ~8 MB and ~0.2 s of CPU at load; a lock would save that but make the nine pipelines
        take turns at every prompt.

        With `tiny_vae` on, the pipeline decodes with TAESD instead of the base's VAE.
        """
        return {
            "vae": fast_paths.tiny_vae(ctx) if ctx.diffusion.tiny_vae else self.vae,
            "text_encoder": self.text_encoder,
            "tokenizer": copy.deepcopy(self.tokenizer),
            "unet": self.unet,
        }


def sd_base(ctx: LoadContext, folder: Path) -> SDBase:
    """The base in `folder`, loaded once per (folder, device, dtype, fast-path variant) for every pipeline."""
    key = ("sd-base", str(folder), ctx.device, str(ctx.dtype), fast_paths.base_variant(ctx.diffusion))
    return ctx.shared(key, lambda: _load_base(folder, ctx.device, ctx.dtype, ctx.diffusion))


def _load_base(folder: Path, device: str, dtype: torch.dtype, settings: DiffusionSettings) -> SDBase:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    def diffusers_model(cls, subfolder: str):
        return cls.from_pretrained(
            folder, subfolder=subfolder, torch_dtype=dtype, variant=fp16_variant(folder / subfolder, dtype)
        ).to(device).eval()

    text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", dtype=dtype).to(device).eval()
    vae, unet = diffusers_model(AutoencoderKL, "vae"), diffusers_model(UNet2DConditionModel, "unet")
    fast_paths.prepare(settings, vae, unet)
    return SDBase(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer"),
        unet=unet,
        scheduler_config=_scheduler_config(folder),
    )


def _scheduler_config(folder: Path) -> dict[str, Any]:
    from diffusers import UniPCMultistepScheduler

    return dict(UniPCMultistepScheduler.load_config(folder, subfolder="scheduler"))


def new_scheduler(base: SDBase):
    """A scheduler of the pipeline's own: schedulers keep per-run state, so none is shared.

    UniPC gives good images in 20 steps, which is why the ControlNet examples use it.
    """
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler.from_config(base.scheduler_config)


def fp16_variant(subfolder: Path, dtype: torch.dtype) -> str | None:
    """"fp16" when half-precision weights are there and either wanted or the only ones.

    Loading fp16 files into a float16 model reads half the bytes; a float32 server reads them
    too when `download` fetched only those (diffusers upcasts them).
    """
    import torch

    names = [path.name for path in subfolder.glob("diffusion_pytorch_model*")]
    has_fp16 = any(".fp16." in name for name in names)
    has_full = any(name.endswith((".safetensors", ".bin")) and ".fp16." not in name for name in names)
    return "fp16" if has_fp16 and (dtype == torch.float16 or not has_full) else None


def generator(params: dict[str, Any]):
    """A CPU generator when a seed is given: the same seed gives the same image on any device."""
    import torch

    seed = params.get("seed")
    return None if seed is None else torch.Generator("cpu").manual_seed(seed)


def generation_kwargs(params: dict[str, Any], legacy_callback: bool = False) -> dict[str, Any]:
    """The pipeline call's keyword arguments for the shared generation knobs.

    Each finished step is reported as progress; older pipelines take the `callback` form.
    """
    steps = params["num_inference_steps"]
    kwargs: dict[str, Any] = (
        {"callback": progress.legacy_callback(steps), "callback_steps": 1}
        if legacy_callback
        else {"callback_on_step_end": progress.diffusers_callback(steps)}
    )
    kwargs |= {
        "num_inference_steps": params["num_inference_steps"],
        "guidance_scale": params["guidance_scale"],
        "negative_prompt": params.get("negative_prompt"),
        "generator": generator(params),
    }
    return kwargs | requested_size(params)


def requested_size(params: dict[str, Any]) -> dict[str, int]:
    """The `width` and `height` a request asks for (either, both or none)."""
    return {key: params[key] for key in ("width", "height") if params.get(key) is not None}


def native_side(pipeline: Any) -> int:
    """The side the model generates at when none is asked for (512 for SD1.5)."""
    return int(pipeline.unet.config.sample_size * pipeline.vae_scale_factor)


def batch_kwargs(params: list[dict[str, Any]]) -> dict[str, Any]:
    """`generation_kwargs` for requests of one shape run as one call: the shared knobs (steps,
    guidance, size) from the first, a generator and a negative prompt for each.

    A request without a seed gets a generator seeded at random, as its draw from the global
    generator alone would be; an absent negative prompt is the empty one, which is what the
    pipeline uses for it alone.
    """
    import torch

    kwargs = generation_kwargs(params[0])
    kwargs["generator"] = [generator(each) or _randomly_seeded(torch.Generator("cpu")) for each in params]
    negatives = [each.get("negative_prompt") for each in params]
    kwargs["negative_prompt"] = None if all(text is None for text in negatives) else [text or "" for text in negatives]
    return kwargs


def _randomly_seeded(generator: torch.Generator) -> torch.Generator:
    generator.seed()
    return generator


def shape_key(params: dict[str, Any], size: tuple[int, int]) -> tuple[int, int, int, float]:
    """What requests must share to run as one call: the output size, steps and guidance."""
    return size[0], size[1], params["num_inference_steps"], params["guidance_scale"]
