"""Stand-ins saved with the key names of their time load through the rows' loaders, every
tensor where transformers' renaming puts it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models_server.catalog import catalog_rows
from models_server.tasks.loading import LoadContext

# repo: the legacy names its stand-in holds
LEGACY = {
    # weight norm before torch's parametrizations: transformers' "legacy" renaming
    "facebook/wav2vec2-base-960h": (".weight_g", ".weight_v"),
    "facebook/wav2vec2-large-960h-lv60-self": (".weight_g", ".weight_v"),  # its model.safetensors too
    "jonatasgrosman/wav2vec2-large-xlsr-53-english": (".weight_g", ".weight_v"),
    "ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition": (".weight_g", ".weight_v"),
    "superb/wav2vec2-base-superb-ks": (".weight_g", ".weight_v"),
    "superb/hubert-base-superb-er": (".weight_g", ".weight_v"),
    # TensorFlow BERT's LayerNorm names: the same "legacy" renaming
    "dslim/bert-base-NER": (".LayerNorm.gamma", ".LayerNorm.beta"),
    "bert-large-uncased-whole-word-masking-finetuned-squad": (".LayerNorm.gamma", ".LayerNorm.beta"),
    # the same renaming on the BERT-style LayerNorms of LayoutLM (v1, v3) and ViLT
    "impira/layoutlm-document-qa": (".LayerNorm.gamma", ".LayerNorm.beta"),
    "xhyi/layoutlmv3_docvqa_t11c5000": (".LayerNorm.gamma", ".LayerNorm.beta"),
    "dandelin/vilt-b32-finetuned-vqa": (".LayerNorm.gamma", ".LayerNorm.beta"),
    # OpenAI's GPT-2 as converted: the base model's keys (no `transformer.` prefix), no lm_head
    "gpt2": ("wte.weight", "h.0.attn.c_attn.weight"),
    # DETR's pre-v5 layout, which save_pretrained writes back by default (save_original_format)
    "facebook/detr-resnet-50-panoptic": ("bbox_attention.q_linear.weight", "mask_head.lay1.weight",
                                         "backbone.conv_encoder.model.layer1.0.conv1.weight"),
    # Table Transformer as converted: DETR's pre-v5 layout, a timm backbone under `conv_encoder.model`
    "microsoft/table-transformer-detection": ("backbone.conv_encoder.model.conv1.0.weight",
                                              "encoder_attn.out_proj.weight", "decoder.layers.0.fc1.weight"),
    # ViT-family attention as saved before transformers 5 (`attention.attention.query`, `intermediate.dense`):
    # ViT, DeiT, BEiT (its layer scale `lambda_1`), DiT, DPT's ViT encoder, each a pytorch_model.bin but ViT's
    "google/vit-base-patch16-224": ("attention.attention.query.weight", "intermediate.dense.weight"),
    "nateraw/vit-age-classifier": ("attention.attention.query.weight", "intermediate.dense.weight"),
    "facebook/deit-base-distilled-patch16-224": ("attention.attention.query.weight", "intermediate.dense.weight"),
    "microsoft/beit-base-patch16-224-pt22k-ft22k": ("attention.attention.query.weight", "lambda_1"),
    "microsoft/dit-base-finetuned-rvlcdip": ("attention.attention.query.weight", "intermediate.dense.weight"),
    "Intel/dpt-large": ("attention.attention.query.weight", "intermediate.dense.weight"),
    # YOLOS's mid-layer position embeddings, which transformers 5 keeps under `interpolation`
    "hustvl/yolos-small": ("vit.encoder.mid_position_embeddings",),
    # MaskFormer's Swin backbone (`attention.self.query`, `intermediate.dense`) and DETR decoder (`fc1`)
    "facebook/maskformer-swin-base-coco": ("attention.self.query.weight", "intermediate.dense.weight",
                                           "decoder.layers.0.fc1.weight"),
    # timm's own layout: keys without the `timm_model.` prefix transformers' wrapper adds
    "timm/vit_large_patch14_clip_224.openai_ft_in12k_in1k": ("patch_embed.proj.weight", "head.weight"),
}


def module_of(loaded: object) -> torch.nn.Module:
    """The network inside what a loader returns (a pipeline, a recognizer, a segmenter)."""
    if isinstance(loaded, torch.nn.Module):
        return loaded
    return next(value for value in vars(loaded).values() if isinstance(value, torch.nn.Module))


def checkpoint(folder: Path) -> dict[str, torch.Tensor]:
    """The weights file the loaders read: model.safetensors when there is one."""
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(folder / "model.safetensors")
    return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)


@pytest.mark.parametrize("repo", sorted(LEGACY))
def test_a_checkpoint_with_legacy_key_names_loads_every_tensor(tiny_root: Path, repo: str):
    names = LEGACY[repo]
    saved = checkpoint(tiny_root / repo)
    legacy = [key for key in saved if key.endswith(names)]
    assert len(legacy) >= len(names)
    row = next(row for row in catalog_rows() if row.id == repo)
    model = module_of(row.loader(LoadContext(repo, (tiny_root / repo,), "cpu", torch.float32)))
    loaded = list(model.state_dict().values())
    for key in legacy:  # each legacy tensor arrived somewhere in the model, unchanged
        assert any(tensor.shape == saved[key].shape and torch.equal(tensor, saved[key]) for tensor in loaded), key
