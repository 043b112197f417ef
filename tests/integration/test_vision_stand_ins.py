"""The vision stand-ins carry what their real repos publish and the loaders read: the label map at its
real size, the preprocessor config in the form of its time, the weights file, the config values that
choose a code path. The builders' docstrings (tiny_models/vision.py, vision_architectures.py,
vision_labels.py) name where each fact comes from; here each is checked on the built folders, and the
row's loader reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from models_server.catalog import catalog_rows
from models_server.tasks.loading import LoadContext

BIN, SAFETENSORS = "pytorch_model.bin", "model.safetensors"
SEGFORMER_ADE = {"labels": 150, "preprocessor": "SegformerFeatureExtractor", "weights": BIN,
                 "processor_values": {"reduce_labels": True}, "label": (0, "wall")}
GLPN = {"preprocessor": "GLPNFeatureExtractor", "weights": BIN,
        "processor_values": {"size_divisor": 32, "do_rescale": True}, "config": {"max_depth": 10}}
BEIT_FINE_TUNE = {"preprocessor": "BeitFeatureExtractor", "weights": BIN,
                  "processor_values": {"do_center_crop": False, "image_mean": [0.5] * 3},
                  "config": {"use_relative_position_bias": True, "use_absolute_position_embeddings": False,
                             "use_mean_pooling": True}}

# repo: what its real files say (labels: len(id2label), for heads that have labels; label: one (id, name)
# pair of the real map)
REAL: dict[str, dict[str, Any]] = {
    "google/vit-base-patch16-224": {"labels": 1000, "preprocessor": "ViTFeatureExtractor", "weights": SAFETENSORS,
                                    "processor_values": {"image_mean": [0.5] * 3, "resample": 2},
                                    "label": (281, "tabby, tabby cat")},
    "nateraw/vit-age-classifier": {"labels": 9, "preprocessor": "ViTFeatureExtractor", "weights": BIN,
                                   "label": (8, "more than 70")},
    "Rajaram1996/FacialEmoRecog": {"labels": 8, "preprocessor": "ViTFeatureExtractor", "weights": BIN},
    "microsoft/resnet-50": {"labels": 1000, "preprocessor": "ConvNextFeatureExtractor", "weights": SAFETENSORS,
                            "processor_values": {"crop_pct": 0.875, "resample": 3},
                            "config": {"layer_type": "bottleneck", "hidden_act": "relu",
                                       "downsample_in_first_stage": False}},
    "microsoft/beit-base-patch16-224-pt22k-ft22k": {**BEIT_FINE_TUNE, "labels": 21841,
                                                    "label": (2397, "tabby, tabby cat")},
    "cafeai/cafe_aesthetic": {**BEIT_FINE_TUNE, "labels": 2, "label": (0, "aesthetic")},
    "saltacc/anime-ai-detect": {**BEIT_FINE_TUNE, "labels": 2},
    "microsoft/dit-base-finetuned-rvlcdip": {**BEIT_FINE_TUNE, "labels": 16, "label": (11, "invoice"),
                                             "config": {"use_absolute_position_embeddings": True,
                                                        "use_relative_position_bias": False}},
    "facebook/deit-base-distilled-patch16-224": {
        "labels": 1000, "preprocessor": "DeiTFeatureExtractor", "weights": BIN,
        "processor_values": {"do_center_crop": True, "resample": 3, "size": 36, "crop_size": 32},
        "config": {"architectures": ["DeiTForImageClassificationWithTeacher"]}},
    "nvidia/segformer-b0-finetuned-ade-512-512": SEGFORMER_ADE,
    "nvidia/segformer-b5-finetuned-ade-640-640": SEGFORMER_ADE,
    "nvidia/segformer-b1-finetuned-cityscapes-1024-1024": {
        "labels": 19, "preprocessor": "SegformerFeatureExtractor", "weights": BIN,
        "processor_values": {"reduce_labels": False}, "label": (18, "bicycle")},
    "jonathandinu/face-parsing": {"labels": 19, "preprocessor": "SegformerImageProcessor", "weights": SAFETENSORS,
                                  "processor_values": {"do_reduce_labels": False}, "label": (13, "hair")},
    "Intel/dpt-large": {"preprocessor": "DPTFeatureExtractor", "weights": BIN,
                        "processor_values": {"keep_aspect_ratio": False, "image_mean": [0.5] * 3},
                        "config": {"is_hybrid": False, "readout_type": "project"}},
    "vinvino02/glpn-nyu": GLPN,
    "vinvino02/glpn-kitti": GLPN,
    "sayakpaul/glpn-nyu-finetuned-diode-221122-044810": GLPN,
    "microsoft/table-transformer-detection": {
        "labels": 2, "preprocessor": "DetrFeatureExtractor", "weights": SAFETENSORS,
        "processor_values": {"format": "coco_detection"}, "label": (1, "table rotated"),
        "config": {"num_queries": 15, "use_timm_backbone": True}},
    "microsoft/table-transformer-structure-recognition": {
        "labels": 6, "preprocessor": "DetrFeatureExtractor", "weights": SAFETENSORS,
        "processor_values": {"format": "coco_detection"}, "label": (5, "table spanning cell"),
        "config": {"num_queries": 125, "use_timm_backbone": True}},
    "facebook/detr-resnet-50-panoptic": {
        "labels": 250, "preprocessor": "DetrFeatureExtractor", "weights": BIN,
        "processor_values": {"format": "coco_panoptic"}, "label": (199, "wall-other-merged"),
        "config": {"architectures": ["DetrForSegmentation"]}},
}


def read(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / name).read_text())


@pytest.mark.parametrize("repo", sorted(REAL))
def test_a_vision_stand_in_carries_its_real_repos_files_and_values(tiny_root: Path, repo: str) -> None:
    facts, folder = REAL[repo], tiny_root / repo
    config, processor = read(folder, "config.json"), read(folder, "preprocessor_config.json")
    if "labels" in facts:  # a depth model's head has no labels
        assert len(config["id2label"]) == facts["labels"]
    if "label" in facts:
        number, name = facts["label"]
        assert config["id2label"][str(number)] == name
    kind = processor.get("feature_extractor_type") or processor.get("image_processor_type")
    assert kind == facts["preprocessor"]
    assert {key: processor.get(key) for key in facts.get("processor_values", {})} == facts.get("processor_values", {})
    assert {key: config.get(key) for key in facts.get("config", {})} == facts.get("config", {})
    weights = {path.name for path in folder.glob("*.bin")} | {path.name for path in folder.glob("*.safetensors")}
    assert weights == {facts["weights"]}


@pytest.mark.parametrize("repo", sorted(REAL))
def test_the_rows_loader_reads_the_real_shaped_stand_in(tiny_root: Path, repo: str) -> None:
    row = next(row for row in catalog_rows() if row.weights and row.weights[0].name == repo)
    loaded = row.loader(LoadContext(row.id, (tiny_root / repo,), "cpu", torch.float32))
    assert len(loaded.model.config.id2label) == REAL[repo].get("labels", 2)  # transformers' default: 2
