"""`models-server download` on the vision families added for the controller's candidates: one reconstructed
Hub listing per family (tests/data/hub_listings/), the files its loader reads and nothing else."""

from __future__ import annotations

import json

import pytest
from support.paths import DATA

from models_server.catalog import unique_repos
from models_server.catalog import vision as vision_coverage
from models_server.weights import download as dl

LISTINGS = DATA / "hub_listings"
REPOS = {repo.name: repo for repo in unique_repos(vision_coverage.MODELS)}

EXPECTED = {
    # safetensors beside .bin: safetensors only; TF, Flax and training leftovers never
    "microsoft/beit-base-patch16-224-pt22k-ft22k": ["config.json", "preprocessor_config.json", "pytorch_model.bin"],
    "facebook/deit-base-distilled-patch16-224": ["config.json", "preprocessor_config.json", "pytorch_model.bin"],
    "timm/vit_large_patch14_clip_224.openai_ft_in12k_in1k": ["config.json", "model.safetensors"],
    "microsoft/table-transformer-structure-recognition": [
        "config.json", "model.safetensors", "preprocessor_config.json",
    ],
    "facebook/maskformer-swin-large-ade": ["config.json", "model.safetensors", "preprocessor_config.json"],
    "CIDAS/clipseg-rd64-refined": [
        "config.json", "merges.txt", "preprocessor_config.json", "pytorch_model.bin", "special_tokens_map.json",
        "tokenizer_config.json", "vocab.json",
    ],
    "vinvino02/glpn-kitti": ["config.json", "preprocessor_config.json", "pytorch_model.bin"],  # not .DS_Store
    "microsoft/trocr-base-handwritten": [
        "config.json", "generation_config.json", "merges.txt", "model.safetensors", "preprocessor_config.json",
        "special_tokens_map.json", "tokenizer_config.json", "vocab.json",
    ],
    # Donut: the sentencepiece model and the task tokens (added_tokens.json) with the weights
    "ivelin/donut-refexp-combined-v1": [
        "added_tokens.json", "config.json", "generation_config.json", "preprocessor_config.json",
        "pytorch_model.bin", "sentencepiece.bpe.model", "special_tokens_map.json", "tokenizer.json",
        "tokenizer_config.json",
    ],
    "google/pix2struct-base": [
        "config.json", "model.safetensors", "preprocessor_config.json", "special_tokens_map.json", "spiece.model",
        "tokenizer.json", "tokenizer_config.json",
    ],
    # both safetensors shards and their index, no .bin shard
    "Salesforce/blip2-opt-2.7b": [
        "added_tokens.json", "config.json", "generation_config.json", "merges.txt",
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json",
        "preprocessor_config.json", "processor_config.json", "special_tokens_map.json", "tokenizer.json",
        "tokenizer_config.json", "vocab.json",
    ],
    "microsoft/git-large-vqav2": [
        "config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json",
        "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
    ],
    "kha-white/manga-ocr-base": [
        "config.json", "preprocessor_config.json", "pytorch_model.bin", "special_tokens_map.json",
        "tokenizer_config.json", "vocab.txt",
    ],
    "xhyi/layoutlmv3_docvqa_t11c5000": [
        "config.json", "merges.txt", "pytorch_model.bin", "special_tokens_map.json", "tokenizer.json",
        "tokenizer_config.json", "vocab.json",
    ],
}


def listing(name: str) -> dl.Listing:
    data = json.loads((LISTINGS / (name.replace("/", "--") + ".json")).read_text())
    return [(path, size) for path, size in data["files"]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_download_selects_what_the_familys_loader_reads(name: str) -> None:
    assert dl.select_files(listing(name), REPOS[name]) == EXPECTED[name]


def test_every_new_vision_family_has_a_reconstructed_listing() -> None:
    """Families that differ only in config values share a listed family's layout: Donut's three the
    RefExp listing, the BEiT fine-tunes and DiT the BEiT one, Table Transformer's two repos one."""
    listed = {REPOS[name].family for name in EXPECTED}
    same_layout = {"donut-base", "donut-docvqa", "dit-classification", "beit-aesthetic", "beit-anime-ai-detect",
                   "table-transformer-detection"}
    existing = {"vit-classification", "vit-age-classification", "vit-facial-emotion", "detr", "yolos", "owlvit",
                "segformer", "segformer-cityscapes", "segformer-face-parsing", "blip-captioning", "blip-vqa",
                "vilt-vqa", "layoutlm-qa"}
    assert {repo.family for repo in REPOS.values()} - existing - same_layout == listed
