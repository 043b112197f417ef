"""The minimal tier: ControlNet annotators and ControlNet-conditioned Stable Diffusion 1.5.

All eight ControlNet pipelines read the same base repository; the runtime loads that base
once and every pipeline references it.
"""

from __future__ import annotations

from models_server.catalog.rows import ModelSpec, Repo
from models_server.tasks import controlnet_aux as annotators
from models_server.tasks.diffusers import controlnet

SD15 = Repo(
    "runwayml/stable-diffusion-v1-5",
    "stable-diffusion",
    aliases=("stable-diffusion-v1-5/stable-diffusion-v1-5",),
)
# The real repo holds ~20 GB of checkpoints; the annotators read these three files only.
ANNOTATORS = Repo(
    "lllyasviel/Annotators", "controlnet-annotators",
    files=("ControlNetHED.pth", "mlsd_large_512_fp32.pth", "body_pose_model.pth"),
)
DPT_HYBRID = Repo("Intel/dpt-hybrid-midas", "dpt-hybrid")
UPERNET = Repo("openmmlab/upernet-convnext-small", "upernet")

CONTROLNET_KINDS = ("canny", "depth", "hed", "mlsd", "normal", "openpose", "scribble", "seg")


def _annotator(model_id: str, weights: tuple[Repo, ...], loader, aliases=()) -> ModelSpec:
    return ModelSpec(
        model_id, annotators.ANNOTATE, "minimal", weights, loader,
        framework="controlnet_aux", aliases=aliases,
    )


MODELS: list[ModelSpec] = [
    _annotator("canny-control", (), annotators.load_canny),
    _annotator("hed-control", (ANNOTATORS,), annotators.load_hed),
    _annotator("scribble-control", (ANNOTATORS,), annotators.load_scribble),
    _annotator("mlsd-control", (ANNOTATORS,), annotators.load_mlsd),
    _annotator("openpose-control", (ANNOTATORS,), annotators.load_openpose),
    _annotator("depth-control", (DPT_HYBRID,), annotators.load_depth, aliases=("midas-control",)),
    _annotator("normal-control", (DPT_HYBRID,), annotators.load_normal),
    _annotator("seg-control", (UPERNET,), annotators.load_seg),
    *(
        ModelSpec(
            f"lllyasviel/sd-controlnet-{kind}",
            controlnet.GENERATE,
            "minimal",
            (Repo(f"lllyasviel/sd-controlnet-{kind}", "controlnet"), SD15),
            controlnet.load_controlnet_pipeline,
            framework="diffusers",
        )
        for kind in CONTROLNET_KINDS
    ),
]
