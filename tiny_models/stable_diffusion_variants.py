"""Tiny Stable Diffusion 1.x/2.x, inpainting and single-checkpoint-file repositories.

Diffusers-format repos are saved by the pipeline classes themselves and then reshaped as the
2022 Hub repos are once `download` fetched them (`hub_shaped` in tiny_models/stable_diffusion.py:
tokenizer files, transformers-4 text encoder keys, pre-0.14 VAE attention names, fp16-only UNet
and VAE, model_index naming the safety checker and feature extractor). The SD1.x fine-tunes
(v1-4, openjourney, waifu-diffusion, anything-v4) use the tiny SD1.5 builder: the same layout,
each repo with weights of its own (make_tiny seeds every repo by its name). Sources per family:
- stable-diffusion-2 (stabilityai/stable-diffusion-2, -2-1): DDIM with `prediction_type:
  v_prediction`, `use_linear_projection`, per-block `attention_head_dim`, `upcast_attention`, a
  gelu (OpenCLIP) text encoder as CLIPTextModel, a tokenizer padding with "!", no safety checker
  (diffusers' convert_original_stable_diffusion_to_diffusers.py for v2 configs; the 2-1 listing);
- stable-diffusion-inpainting (runwayml): a 9-channel UNet input, SD1.5's other components and
  safety checker (diffusers' StableDiffusionInpaintPipeline docs; the listing);
- compvis-sd1-ckpt (CompVis/stable-diffusion-v-1-4-original `sd-v1-4.ckpt`) and orangemixs
  (`Models/AbyssOrangeMix/AbyssOrangeMix.safetensors`): one file in the LDM key layout
  (`model.diffusion_model.*`, `first_stage_model.*`, `cond_stage_model.transformer.text_model.*`)
  with LatentDiffusion's schedule buffers and EMA scalars, the .ckpt a pickle holding Lightning's
  callback state (CompVis' ldm/models/diffusion/ddpm.py; diffusers' single-file conversion; the
  listings). Their shapes match the tiny SD1.5 repo, where the loader finds configs offline.
"""

from __future__ import annotations

import re
import sys
import tempfile
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tiny_models.stable_diffusion import (
    CROSS_ATTENTION_DIM,
    hub_clip_tokenizer,
    hub_shaped,
    sd15_pipeline,
    text_encoder_config,
)

# SD2's miniature: a native size (48 latents = 96 px with the 2-block VAE) other than SD1's 32,
# so a test can tell the native size is read from the UNet's config.
SD2_SAMPLE_SIZE = 48
# The Lightning callback the CompVis training run pickled into its .ckpt files beside the weights.
LIGHTNING_CALLBACK = ("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[4, 8], in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=2,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
    )


def build_sd2(folder: Path) -> None:
    """SD 2/2.1 in miniature: v-prediction, linear attention projections, per-block head sizes,
    an OpenCLIP-style text encoder (gelu, converted to CLIPTextModel as the real repos are) and
    a tokenizer padding with "!"; the real scheduler config is DDIM with `prediction_type: v_prediction`."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    tokenizer = hub_clip_tokenizer(folder / "tokenizer", pad_token="!")
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=2, sample_size=SD2_SAMPLE_SIZE, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=CROSS_ATTENTION_DIM,
        attention_head_dim=(2, 4), use_linear_projection=True, upcast_attention=True, norm_num_groups=2,
    )
    config = text_encoder_config(len(tokenizer))
    config.hidden_act = "gelu"
    config.pad_token_id = tokenizer.pad_token_id
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction",
    )
    StableDiffusionPipeline(
        vae=_vae(), text_encoder=CLIPTextModel(config), tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(folder)
    hub_shaped(folder, safety_checker=False, fp16_only=True, pad_token="!")


def build_sd_inpainting(folder: Path) -> None:
    """runwayml/stable-diffusion-inpainting: SD1.5 whose UNet reads 9 channels (latents, mask,
    masked-image latents), saved as a StableDiffusionInpaintPipeline like the real repo."""
    from diffusers import PNDMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    tokenizer = hub_clip_tokenizer(folder / "tokenizer")
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=2, sample_size=32, in_channels=9, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CROSS_ATTENTION_DIM, norm_num_groups=1,
    )
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1,
    )
    StableDiffusionInpaintPipeline(
        vae=_vae(), text_encoder=CLIPTextModel(text_encoder_config(len(tokenizer))), tokenizer=tokenizer,
        unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(folder)
    hub_shaped(folder, safety_checker=True, fp16_only=True)


# --- single checkpoint files in the original (CompVis / LDM) key layout ---------------------------


def build_compvis_sd1_ckpt(folder: Path) -> None:
    """CompVis/stable-diffusion-v-1-4-original: `sd-v1-4.ckpt`, a torch pickle of
    {"state_dict": ..., "global_step": ..., "callbacks": {Lightning's ModelCheckpoint class: its state}},
    the callbacks keyed by class as pytorch-lightning 1.x saved them."""
    import torch

    state = _ldm_state_dict()
    module_name, class_name = LIGHTNING_CALLBACK
    callback_state = {"monitor": None, "best_model_score": None, "best_model_path": "", "current_score": None}
    with _importable_class(module_name, class_name) as callback_class:
        torch.save({"state_dict": state, "global_step": 470000, "callbacks": {callback_class: callback_state}},
                   folder / "sd-v1-4.ckpt")


def build_orangemixs(folder: Path) -> None:
    """WarriorMama777/OrangeMixs: merged SD1 checkpoints as .safetensors under Models/<name>/."""
    from safetensors.torch import save_file

    target = folder / "Models" / "AbyssOrangeMix" / "AbyssOrangeMix.safetensors"
    target.parent.mkdir(parents=True)
    save_file({key: value.contiguous() for key, value in _ldm_state_dict().items()}, target)


@contextmanager
def _importable_class(module_name: str, class_name: str) -> Iterator[type]:
    """A plain class importable under `module_name.class_name` while pickling, so the file names
    the real class as the real checkpoint does; the modules are removed again afterwards."""
    added = []
    parts = module_name.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
            added.append(name)
    cls = type(class_name, (), {"__module__": module_name})
    setattr(sys.modules[module_name], class_name, cls)
    try:
        yield cls
    finally:
        for name in reversed(added):
            del sys.modules[name]


def _ldm_state_dict() -> dict[str, Any]:
    """A tiny SD1.5's UNet, VAE and text encoder under the original checkpoint's key names, with the
    non-weight entries LatentDiffusion saved beside them: its noise schedule buffers, the EMA
    bookkeeping scalars and the text model's `position_ids` (CompVis' ldm/models/diffusion/ddpm.py
    `register_schedule` and `LitEma`; transformers 4's CLIPTextEmbeddings buffer)."""
    import torch

    with tempfile.TemporaryDirectory() as scratch:
        pipeline = sd15_pipeline(Path(scratch))
    unet, vae, text_encoder = pipeline.unet, pipeline.vae, pipeline.text_encoder
    state = {f"model.diffusion_model.{_ldm_unet_key(k, unet.config)}": v for k, v in unet.state_dict().items()}
    state |= {f"first_stage_model.{key}": value for key, value in _ldm_vae(vae).items()}
    for key, value in text_encoder.state_dict().items():
        # The original files name the text model as transformers 4 did: `text_model.` inside the wrapper.
        inner = key if key.startswith("text_model.") else f"text_model.{key}"
        state[f"cond_stage_model.transformer.{inner}"] = value
    positions = text_encoder.config.max_position_embeddings
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(positions)[None]
    state |= _ldm_schedule(pipeline.scheduler.config)
    state |= {"model_ema.decay": torch.tensor(0.9999), "model_ema.num_updates": torch.tensor(0, dtype=torch.int)}
    return state


def _ldm_schedule(config: Any) -> dict[str, Any]:
    """LatentDiffusion's DDPM buffers for SD's scaled-linear betas (float32, 1000 steps)."""
    import torch

    steps = config.num_train_timesteps
    betas = torch.linspace(config.beta_start**0.5, config.beta_end**0.5, steps, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    variance = betas * (1 - previous) / (1 - alphas_cumprod)
    buffers = {
        "betas": betas, "alphas_cumprod": alphas_cumprod, "alphas_cumprod_prev": previous,
        "sqrt_alphas_cumprod": alphas_cumprod.sqrt(), "sqrt_one_minus_alphas_cumprod": (1 - alphas_cumprod).sqrt(),
        "log_one_minus_alphas_cumprod": (1 - alphas_cumprod).log(),
        "sqrt_recip_alphas_cumprod": (1 / alphas_cumprod).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1 / alphas_cumprod - 1).sqrt(),
        "posterior_variance": variance, "posterior_log_variance_clipped": variance.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * previous.sqrt() / (1 - alphas_cumprod),
        "posterior_mean_coef2": (1 - previous) * (1 - betas).sqrt() / (1 - alphas_cumprod),
    }
    return {name: value.float() for name, value in buffers.items()}


_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
           "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_FIXED_UNET = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
               "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}


def _ldm_unet_key(key: str, config: Any) -> str:
    """A diffusers UNet2DConditionModel key under the LDM UNetModel's name (input/middle/output blocks)."""
    per_block = config.layers_per_block + 1
    for diffusers_name, ldm_name in _FIXED_UNET.items():
        if key.startswith(diffusers_name + "."):
            return ldm_name + key[len(diffusers_name):]
    if match := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
        index = 1 + block * per_block + layer
        return _layer("input_blocks", index, kind, rest)
    if match := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{(int(match[1]) + 1) * per_block}.0.op.{match[2]}"
    if match := re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", key):
        kind, layer, rest = match[1], int(match[2]), match[3]
        return f"middle_block.{2 * layer}.{_resnet_part(rest)}" if kind == "resnets" else f"middle_block.1.{rest}"
    if match := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
        index = block * per_block + layer
        return _layer("output_blocks", index, kind, rest)
    if match := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        block = int(match[1])
        has_attention = "CrossAttn" in config.up_block_types[block]
        return f"output_blocks.{block * per_block + per_block - 1}.{2 if has_attention else 1}.conv.{match[2]}"
    raise ValueError(f"no LDM name for the UNet key {key}")


def _layer(blocks: str, index: int, kind: str, rest: str) -> str:
    """A resnet is sub-module 0 of an LDM block, its attention (if any) sub-module 1."""
    return f"{blocks}.{index}.0.{_resnet_part(rest)}" if kind == "resnets" else f"{blocks}.{index}.1.{rest}"


def _resnet_part(rest: str) -> str:
    name, _, tail = rest.partition(".")
    return f"{_RESNET[name]}.{tail}"


_VAE_RESNET = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _ldm_vae(vae: Any) -> dict[str, Any]:
    """The VAE's weights under the LDM AutoencoderKL names; attention projections become 1x1 convs."""
    blocks = len(vae.config.block_out_channels)
    renamed = {}
    for key, value in vae.state_dict().items():
        new = key.replace("conv_norm_out", "norm_out")
        if match := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)\.(weight|bias)$", new):
            part = _VAE_ATTENTION[match[2]]
            new = f"{match[1]}.mid.attn_1.{part}.{match[3]}"
            if match[3] == "weight" and part != "norm":
                value = value[:, :, None, None]
        elif match := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", new):
            new = f"{match[1]}.mid.block_{int(match[2]) + 1}.{match[3]}"
        elif match := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(.*)", new):
            new = f"encoder.down.{match[1]}.block.{match[2]}.{_VAE_RESNET.get(match[3], match[3])}.{match[4]}"
        elif match := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", new):
            new = f"encoder.down.{match[1]}.downsample.conv.{match[2]}"
        elif match := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)\.(.*)", new):
            level = blocks - 1 - int(match[1])
            new = f"decoder.up.{level}.block.{match[2]}.{_VAE_RESNET.get(match[3], match[3])}.{match[4]}"
        elif match := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", new):
            new = f"decoder.up.{blocks - 1 - int(match[1])}.upsample.conv.{match[2]}"
        renamed[new] = value
    return renamed
