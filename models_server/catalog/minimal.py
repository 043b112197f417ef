"""The minimal tier: ControlNet annotators and ControlNet-conditioned Stable Diffusion 1.5.

All eight ControlNet pipelines read the same base repository; the runtime loads that base
once and every pipeline references it.
"""

from __future__ import annotations

from models_server.catalog.rows import ModelSpec, Repo, row
from models_server.catalog.sizes import MB, SHARED_REPO_BYTES
from models_server.tasks import controlnet_aux
from models_server.tasks.diffusers import controlnet

SD15 = Repo(
    "runwayml/stable-diffusion-v1-5",
    "stable-diffusion",
    aliases=("stable-diffusion-v1-5/stable-diffusion-v1-5",),
)
# The real repo holds ~20 GB of checkpoints; the annotators read these three files only.
# TAESD, the tiny decoder of SD's latents, which the SD1.5 pipelines decode with under
# `diffusion: {tiny_vae: true}` (served on its own in the full tier). 2,445,063 parameters.
TAESD = Repo("madebyollin/taesd", "taesd", files=("config.json", "diffusion_pytorch_model.safetensors"))
DECODES_SD15_LATENTS = (("tiny_vae", TAESD),)
ANNOTATORS = Repo(
    "lllyasviel/Annotators", "controlnet-annotators",
    files=("ControlNetHED.pth", "mlsd_large_512_fp32.pth", "body_pose_model.pth"),
)
DPT_HYBRID = Repo("Intel/dpt-hybrid-midas", "dpt-hybrid")
UPERNET = Repo("openmmlab/upernet-convnext-small", "upernet")

CONTROLNET_KINDS = ("canny", "depth", "hed", "mlsd", "normal", "openpose", "scribble", "seg")
CONTROLNET_FP16_BYTES = 723 * MB  # 361 M parameters, the SD1.5 ControlNet
SD15_FP16_BYTES = SHARED_REPO_BYTES[SD15.name]

ANNOTATE = controlnet_aux.ANNOTATE
MODELS: list[ModelSpec] = [
    # Sizes: the published parameter counts of each architecture (model cards and papers) x 2 bytes.
    row((), ANNOTATE, controlnet_aux.load_canny, served_as="canny-control", fp16_bytes=0, tier="minimal",
        framework="controlnet_aux", torch_calls=False),
    row(ANNOTATORS, ANNOTATE, controlnet_aux.load_hed, served_as="hed-control", fp16_bytes=29 * MB, tier="minimal",
        framework="controlnet_aux"),
    row(ANNOTATORS, ANNOTATE, controlnet_aux.load_scribble, served_as="scribble-control", fp16_bytes=29 * MB,
        tier="minimal", framework="controlnet_aux"),
    row(ANNOTATORS, ANNOTATE, controlnet_aux.load_mlsd, served_as="mlsd-control", fp16_bytes=3 * MB, tier="minimal",
        framework="controlnet_aux"),
    row(ANNOTATORS, ANNOTATE, controlnet_aux.load_openpose, served_as="openpose-control", fp16_bytes=105 * MB,
        tier="minimal", framework="controlnet_aux"),
    row(DPT_HYBRID, ANNOTATE, controlnet_aux.load_depth, served_as="depth-control", aliases=("midas-control",),
        fp16_bytes=246 * MB, tier="minimal", framework="controlnet_aux"),
    row(DPT_HYBRID, ANNOTATE, controlnet_aux.load_normal, served_as="normal-control", fp16_bytes=246 * MB,
        tier="minimal", framework="controlnet_aux"),
    # UperNet ConvNeXt-small, 82 M parameters.
    row(UPERNET, ANNOTATE, controlnet_aux.load_seg, served_as="seg-control", fp16_bytes=164 * MB, tier="minimal",
        framework="controlnet_aux"),
    *(
        row((Repo(f"lllyasviel/sd-controlnet-{kind}", "controlnet"), SD15), controlnet.GENERATE,
            controlnet.load_controlnet_pipeline, fp16_bytes=CONTROLNET_FP16_BYTES + SD15_FP16_BYTES, tier="minimal",
            framework="diffusers", setting_weights=DECODES_SD15_LATENTS)
        for kind in CONTROLNET_KINDS
    ),
]
