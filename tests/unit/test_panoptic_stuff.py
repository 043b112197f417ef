"""DETR panoptic's stuff classes come out as one segment each, as DETR's own post-processing
(is_thing_map: ids above 90 are stuff) merges them; things stay one segment per query."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from transformers import DetrConfig, DetrImageProcessor

from models_server.tasks.transformers.vision import Segmenter, stuff_labels
from tiny_models.vision_labels import coco_panoptic

SKY, CAT = 187, 17  # "sky-other-merged", "cat"


def outputs(regions: list[tuple[int, slice, slice]], size: int = 16) -> SimpleNamespace:
    """What DetrForSegmentation returns when query k is sure of label k and of its mask region."""
    logits = torch.full((1, len(regions), 251), -10.0)
    masks = torch.full((1, len(regions), size, size), -10.0)
    for query, (label, rows, columns) in enumerate(regions):
        logits[0, query, label] = 10.0
        masks[0, query, rows, columns] = 10.0
    return SimpleNamespace(logits=logits, pred_masks=masks)


def test_two_queries_of_one_stuff_class_are_one_segment_two_things_are_two() -> None:
    config = DetrConfig(id2label=coco_panoptic(), use_timm_backbone=False)
    fused = stuff_labels(config)
    assert SKY in fused and CAT not in fused and len(fused) == 250 - 91
    top, bottom, left, right = slice(0, 8), slice(8, 16), slice(0, 8), slice(8, 16)
    found = outputs([(SKY, top, left), (SKY, top, right), (CAT, bottom, left), (CAT, bottom, right)])
    segmenter = Segmenter(SimpleNamespace(config=config), DetrImageProcessor(), panoptic=True, fused_labels=fused)
    ids, segments = segmenter._segments(found, (16, 16), 0.5, 0.5, 0.8)
    labels = sorted(segment["label"] for segment in segments.values())
    assert labels == ["cat", "cat", "sky-other-merged"]
    assert len(set(ids[:8].ravel().tolist())) == 1  # the sky is one segment across both queries


def test_only_detr_panoptic_checkpoints_fuse() -> None:
    assert stuff_labels(DetrConfig(id2label={0: "N/A", 1: "person"}, use_timm_backbone=False)) == frozenset()
