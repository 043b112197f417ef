"""Tiny Stable Diffusion 1.5 and ControlNet repositories, in the layout the Hub repos have.

Sizes follow diffusers' own pipeline tests (two UNet blocks of 4 and 8 channels, a 32-wide
CLIP text encoder): big enough to run every step of the real pipeline, small enough to
build in a second.
"""

from __future__ import annotations

from pathlib import Path

CROSS_ATTENTION_DIM = 32
_BLOCK_CHANNELS = (4, 8)


def write_clip_tokenizer(folder: Path) -> None:
    """A byte-level BPE CLIPTokenizer with a tiny vocabulary, written to `folder`."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    symbols = sorted(ByteLevel.alphabet())
    words = ["th", "the</w>", "an", "and</w>", "a</w>", "of</w>", "in</w>", "on</w>"]
    tokens = ["<|startoftext|>", "<|endoftext|>", *symbols, *(s + "</w>" for s in symbols), *words]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    merges = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("an", "d</w>"), ("o", "f</w>"), ("i", "n</w>"),
              ("o", "n</w>")]
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    tokenizer.save_pretrained(folder)


def text_encoder_config(vocab_size: int):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=CROSS_ATTENTION_DIM,
        intermediate_size=37, num_attention_heads=4, num_hidden_layers=5, layer_norm_eps=1e-5,
        vocab_size=vocab_size, max_position_embeddings=77,
    )


def _unet():
    """SD1.5's UNet shape in miniature; the same for the base and the variations model."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=_BLOCK_CHANNELS, layers_per_block=2, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=CROSS_ATTENTION_DIM,
        norm_num_groups=1,
    )


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[4, 8], in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=2,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
    )


def _scheduler():
    """The real repos' scheduler config (PNDM, scaled-linear betas)."""
    from diffusers import PNDMScheduler

    return PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1,
    )


def build_sd15(folder: Path) -> None:
    """model_index.json + unet/vae/text_encoder/tokenizer/scheduler, saved by the pipeline itself."""
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTextModel, CLIPTokenizer

    write_clip_tokenizer(folder / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    unet = _unet()
    vae = _vae()
    text_encoder = CLIPTextModel(text_encoder_config(len(tokenizer)))
    scheduler = _scheduler()
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder)


def build_controlnet(folder: Path) -> None:
    """One ControlNet matching the tiny UNet; make_tiny's per-repo seed makes each one distinct.

    A new ControlNet's "zero convolutions" (the 1x1 convs that add its residuals to the UNet and
    the last conv of the control-map embedding) are all zeros, so an untrained one changes
    nothing and all eight kinds would draw the very same image: a request answered by the wrong
    ControlNet could not be told apart. Here they get a conv's usual random initialisation from
    the repo's seed, so each kind leaves its own mark on the image.
    """
    from diffusers import ControlNetModel

    controlnet = ControlNetModel(
        block_out_channels=_BLOCK_CHANNELS, layers_per_block=2, in_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), cross_attention_dim=CROSS_ATTENTION_DIM,
        conditioning_embedding_out_channels=(16, 32), norm_num_groups=1,
    )
    zero_convs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
                  controlnet.controlnet_cond_embedding.conv_out]
    for conv in zero_convs:
        conv.reset_parameters()
    controlnet.save_pretrained(folder)


def build_image_variations(folder: Path) -> None:
    """lambdalabs/sd-image-variations-diffusers: a CLIP image encoder in place of the text one."""
    from diffusers import StableDiffusionImageVariationPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    unet = _unet()
    vae = _vae()
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=CROSS_ATTENTION_DIM, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, image_size=32, patch_size=4,
    ))
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    scheduler = _scheduler()
    StableDiffusionImageVariationPipeline(
        vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler, safety_checker=None,
        feature_extractor=processor, requires_safety_checker=False,
    ).save_pretrained(folder)
