"""Real-size random weights (`make-tiny --scale real`): the published configs' keys and shapes,
checked on the meta device (no gigabytes), and one real-size model made in memory as the builders
make it. Their files are the tiny repos' (tests/integration/test_real_size_layout.py)."""

from __future__ import annotations

import math

import pytest
import torch

from models_server.catalog import unique_repos
from models_server.catalog.minimal import MODELS
from tiny_models import real_size
from tiny_models.registry import REAL_SIZE_BUILDERS


def _count(shapes) -> int:
    return sum(math.prod(shape) for _, shape, _ in shapes)


@pytest.fixture(scope="module")
def unet_shapes():
    from diffusers import UNet2DConditionModel

    return real_size.meta_shapes(lambda: UNet2DConditionModel.from_config(real_size.SD15_UNET))


def test_every_minimal_tier_repo_has_a_real_size_builder():
    assert sorted({repo.family for repo in unique_repos(MODELS)} - set(REAL_SIZE_BUILDERS)) == []


def test_sd15_parts_have_the_published_parameter_counts(unet_shapes):
    """859.5 M (UNet), 83.7 M (VAE), 123.1 M (CLIP ViT-L/14 text tower): the figures the SD1.5
    model card and diffusers quote; a wrong width or depth anywhere changes them."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel

    vae = real_size.meta_shapes(lambda: AutoencoderKL.from_config(real_size.SD15_VAE))
    text = real_size.meta_shapes(lambda: CLIPTextModel(CLIPTextConfig(**real_size.SD15_TEXT_ENCODER)))
    assert _count(unet_shapes) == 859_520_964
    assert _count(vae) == 83_653_863
    assert _count(text) == 123_060_480
    shapes = {name: shape for name, shape, _ in unet_shapes + text}
    assert shapes["conv_in.weight"] == (320, 4, 3, 3)
    assert shapes["down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"] == (320, 768)
    assert shapes["embeddings.token_embedding.weight"] == (49408, 768)


def test_controlnet_is_the_unet_encoder_plus_its_conditioning_and_zero_convs(unet_shapes):
    """The ControlNet copies the UNet's encoder: every key they share has the same shape, and the
    only keys of its own are the conditioning embedding and the 1x1 zero convolutions."""
    from diffusers import ControlNetModel

    controlnet = real_size.meta_shapes(lambda: ControlNetModel.from_config(real_size.SD15_CONTROLNET))
    unet = {name: shape for name, shape, _ in unet_shapes}
    own = [name for name, _, _ in controlnet if name not in unet]
    assert all(name.startswith(("controlnet_cond_embedding.", "controlnet_down_blocks.", "controlnet_mid_block."))
               for name in own)
    assert all(unet[name] == shape for name, shape, _ in controlnet if name in unet)
    shapes = {name: shape for name, shape, _ in controlnet}
    assert shapes["controlnet_cond_embedding.conv_in.weight"] == (16, 3, 3, 3)
    assert shapes["controlnet_cond_embedding.conv_out.weight"] == (320, 256, 3, 3)
    assert len([n for n in own if n.startswith("controlnet_down_blocks.") and n.endswith("weight")]) == 12
    # 1.445 GB as float32: the size of the published diffusion_pytorch_model.safetensors
    assert round(_count(controlnet) * 4 / 1e9, 2) == 1.45


def test_annotator_transformers_models_have_their_published_sizes():
    """~490 MB (DPT-hybrid) and ~328 MB (UperNet-ConvNeXt-S) of float32 weights, as the Hub lists them."""
    from transformers import (
        ConvNextConfig,
        DPTConfig,
        DPTForDepthEstimation,
        UperNetConfig,
        UperNetForSemanticSegmentation,
    )

    dpt = real_size.meta_shapes(lambda: DPTForDepthEstimation(DPTConfig(**real_size.DPT_HYBRID_MIDAS)))
    backbone = ConvNextConfig(**real_size.UPERNET_CONVNEXT_SMALL_BACKBONE)
    config = UperNetConfig(backbone_config=backbone, **real_size.UPERNET_CONVNEXT_SMALL)
    upernet = real_size.meta_shapes(lambda: UperNetForSemanticSegmentation(config))
    assert round(_count(dpt) * 4 / 1e6, -1) == 490
    assert round(_count(upernet) * 4 / 1e6, -1) == 330


def test_random_fill_is_seeded_and_shaped():
    torch.manual_seed(1)
    first = real_size.RandomFill(torch.float16).state_dict([("a.weight", (64, 32, 3, 3), torch.float32),
                                                            ("a.bias", (64,), torch.float32),
                                                            ("norm.weight", (64,), torch.float32),
                                                            ("bn.num_batches_tracked", (), torch.int64)])
    torch.manual_seed(1)
    again = real_size.RandomFill(torch.float16).tensor("a.weight", (64, 32, 3, 3), torch.float32)
    assert first["a.weight"].dtype == torch.float16 and first["a.weight"].shape == (64, 32, 3, 3)
    assert torch.equal(first["a.weight"], again)
    assert 0.5 < first["a.weight"].float().std().item() * math.sqrt(32 * 9) < 2
    assert torch.equal(first["a.bias"], torch.zeros(64, dtype=torch.float16))
    assert torch.equal(first["norm.weight"], torch.ones(64, dtype=torch.float16))
    assert first["bn.num_batches_tracked"].dtype == torch.int64


def test_a_random_model_has_the_published_shapes_in_its_dtype_with_random_fill_values():
    """The 84 M-parameter VAE as the real-size SD1.5 builder makes it before the tiny layout code
    saves it: every tensor allocated, filled, in float16."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = real_size.random_model(lambda: AutoencoderKL.from_config(real_size.SD15_VAE), torch.float16)
    state = vae.state_dict()
    expected = real_size.meta_shapes(lambda: AutoencoderKL.from_config(real_size.SD15_VAE))
    assert {name: tuple(t.shape) for name, t in state.items()} == {name: shape for name, shape, _ in expected}
    assert {t.dtype for t in state.values()} == {torch.float16}
    conv = state["decoder.conv_in.weight"].float()
    assert 0.5 < conv.std().item() * math.sqrt(math.prod(conv.shape[1:])) < 2
    assert torch.equal(state["decoder.conv_in.bias"], torch.zeros_like(state["decoder.conv_in.bias"]))
    assert torch.equal(state["decoder.conv_norm_out.weight"], torch.ones_like(state["decoder.conv_norm_out.weight"]))
