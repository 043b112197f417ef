"""Tiny damo-vilab/text-to-video-ms-1.7b: the real pipeline classes at diffusers' test sizes.

The pipeline saves itself, so model_index.json and the unet/vae/text_encoder/tokenizer/
scheduler folders are laid out as on the Hub. The CLIP tokenizer and text encoder shape
are the tiny Stable Diffusion ones (the real model also uses SD's CLIP text side).
As on the Hub, the tokenizer is CLIP's vocab.json + merges.txt, and every weight file has an fp16
variant beside the full-precision one: diffusers' own example loads the repo with
`variant="fp16"` (pipeline_text_to_video_synth.py's docstring).
"""

from __future__ import annotations

from pathlib import Path

from tiny_models.hub_layout import rewrite_as_hub_layout
from tiny_models.stable_diffusion import CROSS_ATTENTION_DIM, text_encoder_config, write_clip_tokenizer


def build_text_to_video(folder: Path) -> None:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    write_clip_tokenizer(folder / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    unet = UNet3DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=CROSS_ATTENTION_DIM, attention_head_dim=4, norm_num_groups=2,
    )
    # Two VAE blocks: latents are half the frame size, so frames are 32x32 pixels.
    vae = AutoencoderKL(
        block_out_channels=(4, 8), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=2,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
        sample_size=32,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False,
    )
    pipeline = TextToVideoSDPipeline(
        vae=vae, text_encoder=CLIPTextModel(text_encoder_config(len(tokenizer))), tokenizer=tokenizer,
        unet=unet, scheduler=scheduler,
    )
    pipeline.save_pretrained(folder)
    pipeline.to(torch.float16).save_pretrained(folder, variant="fp16")
    rewrite_as_hub_layout(folder / "tokenizer")
