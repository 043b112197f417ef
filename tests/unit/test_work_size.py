"""The working sizes computed before a model runs: bounded whatever the input's aspect ratio."""

from __future__ import annotations

import pytest
from PIL import Image

from models_server.errors import BadInput
from models_server.tasks.work_size import (
    MAX_PROCESSOR_ASPECT,
    MAX_WORK_PIXELS,
    aux_work_size,
    crop_box,
    fit_within,
    processor_input,
)


@pytest.mark.parametrize(
    ("size", "resolution", "expected"),
    [
        ((512, 512), 512, (512, 512)),
        ((4000, 3000), 512, (704, 512)),  # a photo: the short side at the resolution, as before
        ((2048, 512), 512, (2048, 512)),  # 4:1 fits exactly
        ((1, 20), 512, (192, 3840)),  # was 512x10240: the short side comes down until it fits
        ((20, 1), 384, (3840, 192)),
    ],
)
def test_aux_work_size(size, resolution, expected):
    work = aux_work_size(size, resolution)
    assert work == expected
    assert work[0] * work[1] <= MAX_WORK_PIXELS and work[0] % 64 == 0 and work[1] % 64 == 0


def test_a_network_that_rescales_to_its_own_height_is_counted_at_that_height():
    # OpenPose's body net rescales to 184 px high: a 64-high strip 1280 wide becomes 184 x 3680
    assert aux_work_size((1, 20), 512, fixed_height=184) == (192, 3840)
    work = aux_work_size((20, 1), 512, fixed_height=184)
    assert work[0] * 184 / work[1] * 184 <= MAX_WORK_PIXELS
    with pytest.raises(BadInput, match="at most 23:1"):
        aux_work_size((1, 100), 512, fixed_height=184)  # too tall: the net would be under 8 px wide


def test_no_working_size_fits_an_extreme_strip():
    with pytest.raises(BadInput, match=r"image is 1x49000000.*MAX_WORK_PIXELS.*at most 256:1"):
        aux_work_size((1, 49_000_000), 512, name="M-LSD")


@pytest.mark.parametrize(("size", "expected"), [((100, 100), (100, 100)), ((4096, 4096), (1024, 1024)),
                                                 ((1, 49_000_000), (1, 1_048_576))])
def test_fit_within(size, expected):
    assert fit_within(size) == expected


def fixed_size_processor():
    from transformers import DPTImageProcessor

    return DPTImageProcessor(size={"height": 384, "width": 384}, keep_aspect_ratio=False)


def aspect_keeping_processor():
    from transformers import DetrImageProcessor

    return DetrImageProcessor(size={"shortest_edge": 800, "longest_edge": 1333})


def test_a_fixed_size_processor_gets_its_size_made_by_pil():
    processor = fixed_size_processor()
    prepared, canvas = processor_input(Image.new("RGB", (1, 49_000_000)), processor)
    assert prepared.size == (384, 384) and canvas == (1, 49_000_000)
    assert tuple(processor(images=prepared, return_tensors="pt")["pixel_values"].shape) == (1, 3, 384, 384)


def test_an_aspect_keeping_processor_gets_an_elongated_image_padded_and_bounded():
    image = Image.new("RGB", (1, 49_000_000), (255, 255, 255))
    processor = aspect_keeping_processor()
    prepared, canvas = processor_input(image, processor)
    assert canvas == (49_000_000 // MAX_PROCESSOR_ASPECT, 49_000_000)
    assert prepared.size[0] * prepared.size[1] <= MAX_WORK_PIXELS
    assert prepared.size[1] / prepared.size[0] == pytest.approx(MAX_PROCESSOR_ASPECT, rel=0.01)
    assert prepared.getpixel((0, 0)) == (255, 255, 255)  # the image, at the left
    assert prepared.getpixel((prepared.size[0] - 1, 0)) == (0, 0, 0)  # the padding, right of it
    left, top, right, bottom = crop_box(canvas, prepared.size, image.size)
    assert (left, top, right, bottom) == (0, 0, 1, prepared.size[1])
    assert processor(images=prepared, return_tensors="pt")["pixel_values"].shape[-2:] == (1333, 333)


def test_an_ordinary_photo_is_left_alone_by_an_aspect_keeping_processor():
    image = Image.new("RGB", (640, 480))
    prepared, canvas = processor_input(image, aspect_keeping_processor())
    assert prepared is image and canvas == (640, 480)
