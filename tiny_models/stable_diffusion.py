"""Tiny Stable Diffusion 1.5 and ControlNet repositories, in the layout the Hub repos have.

Sizes follow diffusers' own pipeline tests (two UNet blocks of 4 and 8 channels, a 32-wide
CLIP text encoder): big enough to run every step of the real pipeline, small enough to
build in a second. The layout code (`write_sd15`, `write_controlnet`, `hub_shaped`) takes models
of any size: `make-tiny --scale real` writes the real-size repos through it (tiny_models/real_size.py).

What the SD repos of 2022 (runwayml/stable-diffusion-v1-5, its inpainting model, stabilityai's
SD2/2.1, lambdalabs' variations model) hold, and `hub_shaped` reproduces. Where not said otherwise,
SD1.5's component configs are known from open-mmlab/mmagic's transcription of them (its
StableDiffuser config: text encoder, scheduler, feature extractor, UNet and VAE), the file names
from the reconstructed listings in tests/data/hub_listings:
- tokenizer/ as vocab.json + merges.txt + tokenizer_config.json + special_tokens_map.json, no
  tokenizer.json (the repos' file listings, tests/data/hub_listings; openai/clip-vit-large-patch14's
  tokenizer files, which the SD1 repos copied);
- text_encoder/ saved by transformers 4: keys under `text_model.` with the `position_ids` buffer,
  `torch_dtype`, and CLIPTextConfig's old defaults bos 0 / eos 2 / pad 1 rather than the
  tokenizer's ids (diffusers' convert_original_stable_diffusion_to_diffusers.py, which wrote these
  repos from `cond_stage_model.transformer.text_model.*`; transformers' modeling_clip.py, whose
  `eos_token_id == 2` branch exists for exactly these configs);
- the VAE's mid-block attention under the names diffusers used before 0.14 (`query`, `key`,
  `value`, `proj_attn`), which diffusers still renames on load
  (diffusers modeling_utils.py `_convert_deprecated_attention_blocks`);
- model_index.json naming the safety checker (SD1; SD2 has none) and the feature extractor as
  `CLIPFeatureExtractor`, a class transformers 5 no longer has, with its 224-px CLIP
  preprocessor_config.json; `download` skips the safety_checker folder, so a downloaded repo
  names a component it does not hold (the listings; diffusers' `_optional_components`);
- scheduler_config.json with only the keys of 2022 (no `timestep_spacing`, `prediction_type`
  only for SD2's v-prediction), so UniPC built from it takes its own defaults as with the real
  file;
- unet/ and vae/ as the fp16 variant only, where the repo has one: `download` prefers
  `diffusion_pytorch_model.fp16.safetensors` (models_server/weights/download.py over the listings).
The sd-controlnet-* repos hold `config.json` + `diffusion_pytorch_model.{bin,safetensors}`, no
fp16 file (the listing), with `conditioning_embedding_out_channels` one entry per VAE downsampling
(lllyasviel's config.json: [16, 32, 96, 256] for SD's 8x VAE).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

CROSS_ATTENTION_DIM = 32
_BLOCK_CHANNELS = (4, 8)
# openai/clip-vit-large-patch14's image preprocessing, which the SD repos' feature_extractor copies.
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SAFETY_CHECKER = ["stable_diffusion", "StableDiffusionSafetyChecker"]


def _clip_vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A tiny byte-level CLIP vocabulary (whole words end in `</w>`) and its merges."""
    from tokenizers.pre_tokenizers import ByteLevel

    symbols = sorted(ByteLevel.alphabet())
    words = ["th", "the</w>", "an", "and</w>", "a</w>", "of</w>", "in</w>", "on</w>"]
    tokens = ["<|startoftext|>", "<|endoftext|>", *symbols, *(s + "</w>" for s in symbols), *words]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    merges = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("an", "d</w>"), ("o", "f</w>"), ("i", "n</w>"),
              ("o", "n</w>")]
    return vocab, merges


def write_clip_tokenizer(folder: Path) -> None:
    """A byte-level BPE CLIPTokenizer with a tiny vocabulary, written to `folder` by transformers."""
    from transformers import CLIPTokenizer

    vocab, merges = _clip_vocabulary()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    tokenizer.save_pretrained(folder)


def write_hub_clip_tokenizer(folder: Path, pad_token: str = "<|endoftext|>") -> None:
    """The tiny CLIP tokenizer in the files the SD repos hold: vocab.json, merges.txt,
    tokenizer_config.json, special_tokens_map.json; no tokenizer.json. SD2's pads with "!"."""
    vocab, merges = _clip_vocabulary()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))

    def special(content: str) -> dict[str, Any]:
        return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
                "rstrip": False, "single_word": False}

    config = {
        "add_prefix_space": False, "bos_token": special("<|startoftext|>"), "do_lower_case": True,
        "eos_token": special("<|endoftext|>"), "errors": "replace", "model_max_length": 77,
        "name_or_path": "openai/clip-vit-large-patch14", "pad_token": pad_token,
        "tokenizer_class": "CLIPTokenizer", "unk_token": special("<|endoftext|>"),
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    special_map = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad_token,
                   "unk_token": "<|endoftext|>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2))


def hub_clip_tokenizer(folder: Path, pad_token: str = "<|endoftext|>"):
    """`write_hub_clip_tokenizer`, then the tokenizer read back from those files."""
    from transformers import CLIPTokenizer

    write_hub_clip_tokenizer(folder, pad_token)
    return CLIPTokenizer.from_pretrained(folder)


def hub_shaped(folder: Path, *, safety_checker: bool, fp16_only: bool, pad_token: str = "<|endoftext|>") -> None:
    """Reshape a diffusers SD folder saved by today's libraries into what the 2022 repo holds
    once `download` fetched it (see the module docstring for each fact and its source)."""
    if (folder / "text_encoder").exists():
        write_hub_clip_tokenizer(folder / "tokenizer", pad_token)
        _legacy_text_encoder(folder / "text_encoder")
    _legacy_vae_attention(folder / "vae")
    if fp16_only:
        for sub in ("unet", "vae"):
            _to_fp16_variant(folder / sub)
    _scheduler_of_2022(folder / "scheduler" / "scheduler_config.json")
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    if index.get("image_encoder") == [None, None]:  # written by today's diffusers, absent from 2022's
        del index["image_encoder"]
    index["safety_checker"] = SAFETY_CHECKER if safety_checker else [None, None]
    index["requires_safety_checker"] = safety_checker
    index["feature_extractor"] = ["transformers", "CLIPFeatureExtractor"]
    index_path.write_text(json.dumps(index, indent=2))
    processor = folder / "feature_extractor" / "preprocessor_config.json"
    if not processor.exists():
        processor.parent.mkdir(exist_ok=True)
        processor.write_text(json.dumps({
            "crop_size": 224, "do_center_crop": True, "do_convert_rgb": True, "do_normalize": True,
            "do_resize": True, "image_mean": CLIP_MEAN, "image_std": CLIP_STD, "resample": 3, "size": 224,
        }, indent=2))
    config = json.loads(processor.read_text())
    config.pop("image_processor_type", None)
    config["feature_extractor_type"] = "CLIPFeatureExtractor"
    processor.write_text(json.dumps(config, indent=2))


# The keys the 2022 repos' scheduler_config.json hold; later keys such as `timestep_spacing` are
# absent, so a scheduler built `from_config` (our UniPC) takes its own default for them.
_SCHEDULER_KEYS_2022 = frozenset({
    "_class_name", "_diffusers_version", "beta_end", "beta_schedule", "beta_start", "clip_sample",
    "num_train_timesteps", "set_alpha_to_one", "skip_prk_steps", "steps_offset", "trained_betas",
})


def _scheduler_of_2022(path: Path) -> None:
    """Only the keys of that time; `prediction_type` only where it is not the default (SD2's v)."""
    config = json.loads(path.read_text())
    kept = {key: value for key, value in config.items() if key in _SCHEDULER_KEYS_2022}
    kept.setdefault("clip_sample", False)
    if config.get("prediction_type", "epsilon") != "epsilon":
        kept["prediction_type"] = config["prediction_type"]
    path.write_text(json.dumps(kept, indent=2, sort_keys=True))


def _legacy_text_encoder(folder: Path) -> None:
    """Keys under `text_model.` with the `position_ids` buffer, and the config of transformers 4."""
    import torch
    from safetensors.torch import load_file, save_file

    weights = folder / "model.safetensors"
    state = {key if key.startswith("text_model.") else f"text_model.{key}": value
             for key, value in load_file(weights).items()}
    config = json.loads((folder / "config.json").read_text())
    state["text_model.embeddings.position_ids"] = torch.arange(config["max_position_embeddings"])[None]
    save_file(state, weights, metadata={"format": "pt"})
    config |= {"bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "torch_dtype": config.pop("dtype", "float32"),
               "transformers_version": "4.22.0.dev0"}
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))


_VAE_ATTENTION_LEGACY = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def _legacy_vae_attention(folder: Path) -> None:
    """The VAE's mid-block attention weights under diffusers' pre-0.14 names."""
    from safetensors.torch import load_file, save_file

    weights = folder / "diffusion_pytorch_model.safetensors"
    renamed = {}
    for key, value in load_file(weights).items():
        for new, old in _VAE_ATTENTION_LEGACY.items():
            key = key.replace(f".attentions.0.{new}.", f".attentions.0.{old}.")
        renamed[key] = value
    save_file(renamed, weights, metadata={"format": "pt"})


def _to_fp16_variant(folder: Path) -> None:
    """`diffusion_pytorch_model.safetensors` replaced by its fp16 variant, as `download` leaves it."""
    from safetensors.torch import load_file, save_file

    weights = folder / "diffusion_pytorch_model.safetensors"
    half = {key: value.half() if value.is_floating_point() else value for key, value in load_file(weights).items()}
    save_file(half, folder / "diffusion_pytorch_model.fp16.safetensors", metadata={"format": "pt"})
    weights.unlink()


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


# vocabulary size -> the VAE, CLIP text encoder and UNet of an SD1.5 repo, at some size.
SD15Models = Callable[[int], tuple[Any, Any, Any]]


def tiny_sd15_models(vocab_size: int) -> tuple[Any, Any, Any]:
    """The miniatures, made in this order: the seeded weights depend on it."""
    from transformers import CLIPTextModel

    return _vae(), CLIPTextModel(text_encoder_config(vocab_size)), _unet()


def sd15_pipeline(tokenizer_folder: Path, models: SD15Models = tiny_sd15_models):
    """An SD1.5 pipeline (no safety checker) of `models`, whose tokenizer is written to `tokenizer_folder`."""
    from diffusers import StableDiffusionPipeline

    tokenizer = hub_clip_tokenizer(tokenizer_folder)
    vae, text_encoder, unet = models(len(tokenizer))
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def write_sd15(folder: Path, models: SD15Models) -> None:
    """runwayml/stable-diffusion-v1-5 as `download` leaves it, around `models` of any size: saved by
    the pipeline, then hub-shaped. The real-size builder writes through this too."""
    sd15_pipeline(folder / "tokenizer", models).save_pretrained(folder)
    hub_shaped(folder, safety_checker=True, fp16_only=True)


def build_sd15(folder: Path) -> None:
    write_sd15(folder, tiny_sd15_models)


def write_controlnet(folder: Path, controlnet: Any) -> None:
    """An lllyasviel/sd-controlnet-* repo, at any size: `config.json` + the float32
    `diffusion_pytorch_model.safetensors` as the library saves them."""
    controlnet.save_pretrained(folder)


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
    write_controlnet(folder, controlnet)


def build_image_variations(folder: Path) -> None:
    """lambdalabs/sd-image-variations-diffusers: a CLIP image encoder in place of the text one
    (model card and diffusers' pipeline_stable_diffusion_image_variation.py); its feature extractor
    is at the tiny encoder's 32 px, not the real 224."""
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
    # Ported in 2022 like the others, with a safety checker. No listing of this repo is at hand,
    # so its full-precision weights are kept.
    hub_shaped(folder, safety_checker=True, fp16_only=False)
