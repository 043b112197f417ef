"""TAESD, the tiny autoencoder of Stable Diffusion's latents (madebyollin/taesd), in the layout of
its Hub repo, for diffusers' `AutoencoderTiny`.

Where each fact comes from:
- The config (`TAESD_CONFIG`): diffusers' `AutoencoderTiny.__init__` defaults, which its docs
  (`docs/source/en/api/models/autoencoder_tiny.md`) load madebyollin/taesd with and which are that
  repo's published `config.json` values: 4 encoder and 4 decoder levels of 64 channels, blocks
  (1, 3, 3, 3) and (3, 3, 3, 1), ReLU, 4 latent channels (SD's), upsampling by 2, latent magnitude
  3 and shift 0.5, scaling factor 1.0 (TAESD's README: its latents need no scaling).
- The files: the repo's diffusers weights are `config.json` and `diffusion_pytorch_model.safetensors`
  (beside the original `taesd_encoder.*` / `taesd_decoder.*`, which the loader does not read), as
  tools that fetch the repo file by file list them (e.g. Capsize-Games/airunner's bootstrap list).

The miniature keeps every key and the number of levels of a tiny SD VAE (two, so it decodes the
tiny SD's latents to the same size its own VAE does), with 8 channels; `build_taesd_real` writes the
published config, 2.4 M parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TAESD_CONFIG: dict[str, Any] = {
    "in_channels": 3, "out_channels": 3, "act_fn": "relu", "upsample_fn": "nearest", "latent_channels": 4,
    "encoder_block_out_channels": [64, 64, 64, 64], "decoder_block_out_channels": [64, 64, 64, 64],
    "num_encoder_blocks": [1, 3, 3, 3], "num_decoder_blocks": [3, 3, 3, 1], "upsampling_scaling_factor": 2,
    "latent_magnitude": 3, "latent_shift": 0.5, "force_upcast": False, "scaling_factor": 1.0,
}
# The tiny SD VAE has two levels (tiny_models/stable_diffusion.py): so has its tiny TAESD.
TINY_TAESD_CONFIG: dict[str, Any] = {
    **TAESD_CONFIG,
    "encoder_block_out_channels": [8, 8], "decoder_block_out_channels": [8, 8],
    "num_encoder_blocks": [1, 2], "num_decoder_blocks": [2, 1],
}


def _write(folder: Path, config: dict[str, Any]) -> None:
    from diffusers import AutoencoderTiny

    AutoencoderTiny(**config).save_pretrained(folder, safe_serialization=True)


def build_taesd(folder: Path) -> None:
    """config.json + diffusion_pytorch_model.safetensors, as the Hub repo holds them."""
    _write(folder, TINY_TAESD_CONFIG)


def build_taesd_real(folder: Path) -> None:
    """The published config at its real size (2.4 M parameters, ~10 MB in float32)."""
    _write(folder, TAESD_CONFIG)
