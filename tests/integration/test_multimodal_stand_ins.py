"""The multimodal stand-ins (OWL-ViT, CLIPSeg, ViLT, LayoutLM, LayoutLMv3) hold the facts of the
real repos that choose a loader's code path (tiny_models/vision*.py say where each comes from), so
a loader that could only read a stand-in built to suit it fails the other tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def read(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text())


@pytest.mark.parametrize("repo", ["google/owlvit-base-patch32", "CIDAS/clipseg-rd64-refined",
                                  "dandelin/vilt-b32-finetuned-vqa", "impira/layoutlm-document-qa",
                                  "xhyi/layoutlmv3_docvqa_t11c5000"])
def test_weights_are_a_pytorch_state_dict_as_saved_in_2022(tiny_root: Path, repo: str) -> None:
    files = {path.name for path in (tiny_root / repo).iterdir()}
    assert "pytorch_model.bin" in files and "model.safetensors" not in files


def test_owlvit_pads_queries_with_id_0_at_its_16_positions(tiny_root: Path) -> None:
    folder = tiny_root / "google/owlvit-base-patch32"
    tokenizer = read(folder, "tokenizer_config.json")
    assert tokenizer["pad_token"] == "!" and read(folder, "vocab.json")["!"] == 0
    assert tokenizer["model_max_length"] == read(folder, "config.json")["text_config"]["max_position_embeddings"] == 16
    images = read(folder, "preprocessor_config.json")
    assert images["feature_extractor_type"] == "OwlViTFeatureExtractor"
    assert isinstance(images["size"], int) and isinstance(images["crop_size"], int)


def test_clipseg_is_the_refined_rd64_decoder_on_interpolated_positions(tiny_root: Path) -> None:
    folder = tiny_root / "CIDAS/clipseg-rd64-refined"
    config = read(folder, "config.json")
    assert config["use_complex_transposed_convolution"] is True and config["reduce_dim"] == 64
    assert config["extract_layers"] == [3, 6, 9] and config["vision_config"]["num_hidden_layers"] == 12
    assert config["text_config"]["eos_token_id"] == 2  # the pooling path of configs saved before the fix
    images = read(folder, "preprocessor_config.json")
    assert images["feature_extractor_type"] == "ViTFeatureExtractor"
    assert images["size"] > config["vision_config"]["image_size"]  # 352 px into a 224 px ViT


def test_vilt_answers_from_3129_and_reads_fewer_tokens_than_its_tokenizer_allows(tiny_root: Path) -> None:
    folder = tiny_root / "dandelin/vilt-b32-finetuned-vqa"
    config = read(folder, "config.json")
    assert len(config["id2label"]) == 3129 and config["patch_size"] == 32
    assert read(folder, "tokenizer_config.json")["model_max_length"] > config["max_position_embeddings"] == 40
    images = read(folder, "preprocessor_config.json")
    assert images["feature_extractor_type"] == "ViltFeatureExtractor"
    assert images["size"] == 384 and images["size_divisor"] == 32  # the shortest edge, as one number
    assert (folder / "vocab.txt").is_file()


def test_layoutlm_reads_roberta_bpe_that_adds_no_prefix_space_itself(tiny_root: Path) -> None:
    folder = tiny_root / "impira/layoutlm-document-qa"
    tokenizer = read(folder, "tokenizer_config.json")
    assert tokenizer["tokenizer_class"] == "RobertaTokenizer" and not tokenizer.get("add_prefix_space")
    assert {"vocab.json", "merges.txt"} <= {path.name for path in folder.iterdir()}
    config = read(folder, "config.json")
    assert (config["model_type"], config["type_vocab_size"], config["pad_token_id"]) == ("layoutlm", 1, 1)
    assert not (folder / "preprocessor_config.json").exists()


def test_layoutlmv3_has_no_image_processor_of_its_own(tiny_root: Path) -> None:
    folder = tiny_root / "xhyi/layoutlmv3_docvqa_t11c5000"
    assert not (folder / "preprocessor_config.json").exists()
    assert read(folder, "tokenizer_config.json")["tokenizer_class"] == "LayoutLMv3Tokenizer"
    assert read(folder, "config.json")["visual_embed"] is True
