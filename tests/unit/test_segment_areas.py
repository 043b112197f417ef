"""A segment's `area` is its share of the image, as a number the controller can compare: a segment
that is listed is never 0, however small."""

from __future__ import annotations

import numpy as np
from PIL import Image

from models_server.tasks.transformers.vision import _segmentation


def test_a_few_pixels_of_a_large_photo_have_an_area_above_zero() -> None:
    ids = np.ones((1200, 1600), dtype=np.int32)
    ids[:2, :2] = 2  # 4 of 1.92 million pixels
    found = _segmentation(Image.new("RGB", (1600, 1200)), ids, {1: {"label": "wall", "score": 0.9},
                                                                  2: {"label": "vase", "score": 0.5}})
    areas = {item["label"]: item["area"] for item in found.segments}
    assert 0 < areas["vase"] < 1e-5
    assert abs(areas["wall"] + areas["vase"] - 1) < 1e-3
