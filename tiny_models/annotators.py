"""Miniatures of the annotator weights: `lllyasviel/Annotators`, `Intel/dpt-hybrid-midas`,
`openmmlab/upernet-convnext-small`.

The controlnet_aux networks (HED, M-LSD, OpenPose body) have fixed architectures, so their
miniatures are full-size networks with fresh random weights; the transformers models get tiny
configs of the real classes. `make_tiny` seeds torch before each builder, so output is deterministic.
Sources: lllyasviel/Annotators' file names from controlnet_aux's `from_pretrained` calls and the
repo's listing (tests/data/hub_listings); DPT-Hybrid from transformers' convert_dpt_hybrid_to_pytorch.py;
UperNet from transformers' convert_convnext_upernet_to_pytorch.py (ConvNeXt stages 1-4, the
auxiliary head on stage 3, 150 ADE20K labels).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# network, dtype as published -> its state dict as written to the file
AnnotatorWeights = Callable[[Callable[[], Any], Any], dict[str, Any]]


def write_annotators(folder: Path, weights: AnnotatorWeights) -> None:
    """The three checkpoints our loaders read from `lllyasviel/Annotators`, under their Hub names
    and key names, with `weights(network, published dtype)` for each network.

    The published dtypes, judged by the files' sizes on the Hub: ControlNetHED.pth is float16
    (29.4 MB for 14.7 M parameters), mlsd_large_512_fp32.pth (6.3 MB) and body_pose_model.pth
    (209 MB) are float32. The real repo also holds hand/face OpenPose nets and many other
    annotators; we load only the body network, so only it is written.
    """
    import torch
    from controlnet_aux.hed import ControlNetHED_Apache2
    from controlnet_aux.mlsd.models.mbv2_mlsd_large import MobileV2_MLSD_Large
    from controlnet_aux.open_pose.model import bodypose_model

    torch.save(weights(ControlNetHED_Apache2, torch.float16), folder / "ControlNetHED.pth")
    torch.save(weights(MobileV2_MLSD_Large, torch.float32), folder / "mlsd_large_512_fp32.pth")
    # The original OpenPose checkpoint names keys without the stage prefix ("conv1_1.weight", not
    # "model0.conv1_1.weight"); controlnet_aux's `transfer` maps them back on load.
    body = weights(bodypose_model, torch.float32)
    torch.save({name.split(".", 1)[1]: tensor for name, tensor in body.items()}, folder / "body_pose_model.pth")


def build_annotators(folder: Path) -> None:
    """The annotator networks with their own initialisation, stored as float16 to halve the files:
    every controlnet_aux loader copies them into its float32 network with `load_state_dict`.

    Random OpenPose weights could flood the heatmaps with peaks and make the limb matching
    (quadratic in peaks per part) slow. Checked: default init answers heatmaps of at most ~0.1,
    at OpenPose's peak threshold; with this repo's seed the photo gives 58 peaks, no person, and
    detection costs no more than the network itself. So the weights are left as initialized.
    """
    write_annotators(folder, lambda network, _published: _half(network().state_dict()))


DPT_IMAGE_SIZE = 384  # the hybrid embeddings accept only this size: the processor must resize to it


def build_dpt_hybrid(folder: Path) -> None:
    """DPT-Hybrid (ViT on a BiT backbone), the architecture of the real MiDaS v3 hybrid, tiny.

    As transformers' convert_dpt_hybrid_to_pytorch.py wrote Intel/dpt-hybrid-midas: a bottleneck
    BiT with "same" padding feeding stages 1-2, ViT layers 2/5/8/11 read out by projection,
    reassemble factors [1, 1, 1, 0.5], no batch norm in the fusion residuals, and a
    DPTImageProcessor at 384x384 with mean/std 0.5.
    """
    import torch
    from transformers import BitConfig, DPTConfig, DPTForDepthEstimation

    image_size = DPT_IMAGE_SIZE
    backbone = BitConfig(
        global_padding="same",
        layer_type="bottleneck",
        depths=[1, 1, 1],
        hidden_sizes=[16, 16, 32],
        embedding_size=16,
        num_groups=2,
        out_features=["stage1", "stage2", "stage3"],
        embedding_dynamic_padding=True,
    )
    config = DPTConfig(
        is_hybrid=True,
        backbone_config=backbone,
        backbone_featmap_shape=[1, 32, image_size // 16, image_size // 16],
        image_size=image_size,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=12,
        num_attention_heads=4,
        intermediate_size=37,
        backbone_out_indices=[2, 5, 8, 11],
        reassemble_factors=[1, 1, 1, 0.5],
        readout_type="project",
        use_batch_norm_in_fusion_residual=False,
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=32,
        head_in_index=-1,
    )
    model = DPTForDepthEstimation(config)
    # MiDaS answers relative inverse depth in the hundreds; this random head answers ~1e-4. The
    # normal annotator compares depth slopes with a fixed z (as the original did), so at 1e-4 every
    # normal would face the camera. Scaling the last conv puts the miniature on MiDaS's scale.
    with torch.no_grad():
        model.head.head[4].weight.mul_(1e6)
        model.head.head[4].bias.mul_(1e6)
    write_dpt_hybrid(folder, model)


def write_dpt_hybrid(folder: Path, model: Any) -> None:
    """Intel/dpt-hybrid-midas around `model` of any size: its config.json and model.safetensors,
    and the conversion script's `DPTImageProcessor(size=384)`: 384x384 whatever the aspect, mean
    and std 0.5."""
    from transformers import DPTImageProcessor

    model.save_pretrained(folder)
    DPTImageProcessor(
        size={"height": DPT_IMAGE_SIZE, "width": DPT_IMAGE_SIZE},
        keep_aspect_ratio=False,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    ).save_pretrained(folder)


def build_upernet(folder: Path) -> None:
    """UperNet on a ConvNeXt backbone with the 150 ADE20K classes, tiny."""
    from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation

    backbone = ConvNextConfig(
        hidden_sizes=[8, 16, 24, 32],
        depths=[1, 1, 1, 1],
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = UperNetConfig(
        backbone_config=backbone,
        hidden_size=16,
        auxiliary_in_channels=24,
        auxiliary_channels=8,
        num_labels=150,
    )
    write_upernet(folder, UperNetForSemanticSegmentation(config))


def write_upernet(folder: Path, model: Any) -> None:
    """openmmlab/upernet-convnext-small around `model` of any size: config.json, model.safetensors
    and the repo's SegformerImageProcessor at 512x512 with ImageNet mean/std."""
    from transformers import SegformerImageProcessor

    model.save_pretrained(folder)
    SegformerImageProcessor(size={"height": 512, "width": 512}, do_reduce_labels=False).save_pretrained(folder)


def _half(state: dict) -> dict:
    """Floating tensors as float16, others (BatchNorm counters) unchanged."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
