"""Random weights at the REAL size of the minimal tier, in the files the Hub repos have.

`make-tiny --scale real` writes these instead of the miniatures: the published configs, so the
state-dict keys, shapes and dtypes (and so the bytes to load and keep resident) are the real
ones; only the values are random. They exist to measure memory, cold start and step time of the
path a GPU box runs (SD1.5 base + eight ControlNets in fp16, shared), on a machine that cannot
download the real weights.

Which files, key names and configs: exactly the tiny repos' (one code path: the builders here
hand real-size models to the tiny builders' `write_*` functions, which save them and reshape the
folder as `download` leaves the real repo; see tiny_models/stable_diffusion.py and
tiny_models/annotators.py for each fact and its source). So the SD1.5 UNet and VAE are the fp16
variant only with the VAE's pre-0.14 attention names, the text encoder is float32 with
`text_model.` keys, the tokenizer is vocab.json + merges.txt, and the lllyasviel/sd-controlnet-*
repos' only safetensors file is float32 (those repos publish no fp16 variant; the loader casts on load).

Speed: a model is instantiated on the meta device (no memory, no init), given uninitialised
memory, and every tensor is filled from one seeded pool of Gaussian numbers by copying windows
of it at random offsets and scaling (memcpy speed instead of ~30 ns per sampled number), then
saved by its library one repo at a time, so peak memory is about one repo's bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiny_models.annotators import write_annotators, write_dpt_hybrid, write_upernet
from tiny_models.stable_diffusion import write_controlnet, write_sd15

if TYPE_CHECKING:
    import torch

# --- Published configs --------------------------------------------------------------------------
# runwayml/stable-diffusion-v1-5 unet/config.json (the UNet of CompVis' v1 inference yaml:
# model_channels 320, channel_mult 1,2,4,4, attention at 4,2,1, 8 heads, context 768). These are
# also diffusers' UNet2DConditionModel defaults apart from sample_size and attention_head_dim.
SD15_UNET: dict[str, Any] = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "center_input_sample": False,
    "flip_sin_to_cos": True, "freq_shift": 0,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "downsample_padding": 1,
    "mid_block_scale_factor": 1, "act_fn": "silu", "norm_num_groups": 32, "norm_eps": 1e-5,
    "cross_attention_dim": 768, "attention_head_dim": 8,
}
# runwayml/stable-diffusion-v1-5 vae/config.json (the KL-f8 autoencoder: ch 128, ch_mult 1,2,4,4).
SD15_VAE: dict[str, Any] = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "sample_size": 512,
    "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "act_fn": "silu",
    "norm_num_groups": 32,
}
# runwayml/stable-diffusion-v1-5 text_encoder/config.json: the text tower of openai/clip-vit-large-patch14.
SD15_TEXT_ENCODER: dict[str, Any] = {
    "vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "projection_dim": 768,
    "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 77,
    "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "bos_token_id": 0, "eos_token_id": 2,
    "pad_token_id": 1,
}
# lllyasviel/sd-controlnet-{canny,depth,hed,mlsd,normal,openpose,scribble,seg} config.json: the
# encoder half of the SD1.5 UNet above plus the 16-32-96-256 conditioning embedding (all eight
# share this config; diffusers' convert_original_controlnet_to_diffusers derives it from the UNet's).
SD15_CONTROLNET: dict[str, Any] = {
    "in_channels": 4, "flip_sin_to_cos": True, "freq_shift": 0,
    "down_block_types": SD15_UNET["down_block_types"], "only_cross_attention": False,
    "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "downsample_padding": 1,
    "mid_block_scale_factor": 1, "act_fn": "silu", "norm_num_groups": 32, "norm_eps": 1e-5,
    "cross_attention_dim": 768, "attention_head_dim": 8, "use_linear_projection": False,
    "upcast_attention": False, "controlnet_conditioning_channel_order": "rgb",
    "conditioning_embedding_out_channels": [16, 32, 96, 256],
}
# Intel/dpt-hybrid-midas: transformers' convert_dpt_hybrid_to_pytorch.py ("midas" branch) on top of
# DPTConfig's hybrid defaults (BiT bottleneck backbone, depths 3,4,9, same padding; ViT-B/16 at 384).
DPT_HYBRID_MIDAS: dict[str, Any] = {
    "is_hybrid": True, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "image_size": 384, "patch_size": 16, "reassemble_factors": [1, 1, 1, 0.5],
    "neck_hidden_sizes": [256, 512, 768, 768], "backbone_out_indices": [2, 5, 8, 11],
    "fusion_hidden_size": 256, "readout_type": "project", "use_batch_norm_in_fusion_residual": False,
    "backbone_featmap_shape": [1, 1024, 24, 24], "neck_ignore_stages": [0, 1],
}
# openmmlab/upernet-convnext-small: transformers' convert_convnext_upernet_to_pytorch.py, "small":
# ConvNeXt-S (depths 3,3,27,3, widths 96..768), UperNet head 512 wide, auxiliary FCN on stage 3 (384).
UPERNET_CONVNEXT_SMALL_BACKBONE: dict[str, Any] = {
    "depths": [3, 3, 27, 3], "hidden_sizes": [96, 192, 384, 768],
    "out_features": ["stage1", "stage2", "stage3", "stage4"],
}
UPERNET_CONVNEXT_SMALL: dict[str, Any] = {
    "hidden_size": 512, "auxiliary_in_channels": 384, "auxiliary_channels": 256, "num_labels": 150,
}


# --- Random fill ---------------------------------------------------------------------------------
_POOL_SIZE = (1 << 22) + 9973  # a prime-ish length, so windows of repeated tensors don't align


class RandomFill:
    """Seeded, cheap random values shaped like a state dict.

    Matrices and convolutions get N(0, 1/fan_in) (activations keep their scale through the real
    depth, so fp16 runs don't overflow); 1-D weights (norm scales) are ones; biases and running
    means are zeros; running variances ones; integer buffers zeros.
    """

    def __init__(self, dtype: torch.dtype):
        import torch

        self.dtype = dtype
        self.pool = torch.randn(_POOL_SIZE, dtype=torch.float32).to(dtype)

    def tensor(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        import torch

        if not dtype.is_floating_point:
            return torch.zeros(shape, dtype=dtype)
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("running_var",) or (len(shape) == 1 and leaf in ("weight", "gamma")):
            return torch.ones(shape, dtype=self.dtype)
        if leaf in ("bias", "running_mean", "beta") or len(shape) <= 1:
            return torch.zeros(shape, dtype=self.dtype)
        fan_in = math.prod(shape[1:])
        return self._window(math.prod(shape)).mul_(1.0 / math.sqrt(fan_in)).view(shape)

    def _window(self, count: int) -> torch.Tensor:
        import torch

        out = torch.empty(count, dtype=self.dtype)
        start = int(torch.randint(0, _POOL_SIZE, ()).item())
        done = 0
        while done < count:
            take = min(count - done, _POOL_SIZE - start)
            out[done:done + take].copy_(self.pool[start:start + take])
            done += take
            start = 0
        return out

    def state_dict(self, shapes: Iterable[tuple[str, tuple[int, ...], torch.dtype]]) -> dict[str, torch.Tensor]:
        return {name: self.tensor(name, shape, dtype) for name, shape, dtype in shapes}


def meta_shapes(make: Callable[[], torch.nn.Module]) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    """(key, shape, dtype) of the state dict `make()` would have, without allocating it."""
    import torch

    with torch.device("meta"):
        module = make()
    return [(name, tuple(t.shape), t.dtype) for name, t in module.state_dict().items()]


def random_model(make: Callable[[], Any], dtype: torch.dtype) -> Any:
    """`make()`'s model in `dtype` holding RandomFill values: built on the meta device, given
    uninitialised memory, then filled in place (no init, peak memory one model's bytes). Buffers
    outside the state dict are left unset: the model is for saving, not running."""
    import torch

    with torch.device("meta"):
        model = make()
    model = model.to(dtype).to_empty(device="cpu")
    fill = RandomFill(dtype)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            tensor.copy_(fill.tensor(name, tuple(tensor.shape), tensor.dtype))
    return model


# --- Builders: the tiny builders' layout code, given real-size models -----------------------------
def sd15_real_models(vocab_size: int) -> tuple[Any, Any, Any]:
    """SD1.5's fp16 VAE and UNet and float32 CLIP text encoder at the published sizes.

    The text encoder keeps the real 49408-entry embedding although the tokenizer is the offline
    miniature (the real BPE files can't be fetched here): its ids are a subset of that range.
    """
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    vae = random_model(lambda: AutoencoderKL.from_config(SD15_VAE), torch.float16)
    text_encoder = random_model(lambda: CLIPTextModel(CLIPTextConfig(**SD15_TEXT_ENCODER)), torch.float32)
    unet = random_model(lambda: UNet2DConditionModel.from_config(SD15_UNET), torch.float16)
    return vae, text_encoder, unet


def build_sd15_real(folder: Path) -> None:
    """runwayml/stable-diffusion-v1-5 at full size, in the tiny repo's layout (fp16-only UNet and VAE)."""
    write_sd15(folder, sd15_real_models)


def build_controlnet_real(folder: Path) -> None:
    """One lllyasviel/sd-controlnet-* repo at full size, float32 as published."""
    import torch
    from diffusers import ControlNetModel

    write_controlnet(folder, random_model(lambda: ControlNetModel.from_config(SD15_CONTROLNET), torch.float32))


def build_annotators_real(folder: Path) -> None:
    """The three lllyasviel/Annotators checkpoints at their real (fixed) architectures, in their
    published dtypes."""
    write_annotators(folder, lambda network, dtype: RandomFill(dtype).state_dict(meta_shapes(network)))


def build_dpt_hybrid_real(folder: Path) -> None:
    """Intel/dpt-hybrid-midas at full size (float32)."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation

    write_dpt_hybrid(folder, random_model(lambda: DPTForDepthEstimation(DPTConfig(**DPT_HYBRID_MIDAS)), torch.float32))


def build_upernet_real(folder: Path) -> None:
    """openmmlab/upernet-convnext-small at full size (float32)."""
    import torch
    from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation

    config = UperNetConfig(backbone_config=ConvNextConfig(**UPERNET_CONVNEXT_SMALL_BACKBONE), **UPERNET_CONVNEXT_SMALL)
    write_upernet(folder, random_model(lambda: UperNetForSemanticSegmentation(config), torch.float32))
