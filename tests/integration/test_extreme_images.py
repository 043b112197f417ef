"""Every image model, through HTTP, on images of extreme aspect ratio: a 400 or an answer, never a 500.

A 75-byte PNG can decode to a 1x20 or 20x1 image that models then scale up, or to a strip
thousands of pixels long; each must either be answered (maps at the input's size) or refused
with a message naming the limit.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from models_server.catalog import catalog_rows
from models_server.tasks.base import Kind

# ControlNet generation (controlnet.py) is tested by its own file; everything else that takes an image:
IMAGE_ROWS = [
    row for row in catalog_rows()
    if any(field.kind is Kind.IMAGE for field in row.task.inputs) and row.task.name != "controlnet-image-generation"
]
SIZES = [(1, 20), (20, 1), (3000, 1)]
MAP_TASKS = frozenset({"control-map", "depth-estimation", "image-segmentation"})


@pytest.fixture(autouse=True)
def _small_work_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A smaller budget keeps 75 requests quick; the limit's value is not what is tested here."""
    from models_server.tasks import work_size

    monkeypatch.setattr(work_size, "MAX_WORK_PIXELS", 128 * 1024)


def png_uri(size: tuple[int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("model_id", [row.id for row in IMAGE_ROWS])
def test_extreme_aspect_ratios_are_answered_or_refused_never_a_500(client, public_dir: Path, model_id, size):
    row = next(row for row in IMAGE_ROWS if row.id == model_id)
    body = {"img_url": png_uri(size)}
    if any(field.name == "text" and field.required for field in row.task.inputs):
        body["text"] = "what is in the picture?"
    response = client.post(f"/models/{model_id}", json=body)
    assert response.status_code in (200, 400), (response.status_code, response.get_json())
    answer = response.get_json()
    if response.status_code == 400:
        message = answer["error"]["message"]
        assert "MAX_WORK_PIXELS" in message or "no text" in message, message
        return
    if row.task.name in MAP_TASKS:
        with Image.open(public_dir / answer["path"].lstrip("/")) as written:
            assert written.size == size  # maps and overlays come back at the input's size


# A strip just under `max_image_pixels`, on the generators that scale their input themselves:
# diffusers and CLIP would allocate gigabytes (a MemoryError, a 500) before the model ran.
GENERATOR_BODIES = {
    "lllyasviel/sd-controlnet-canny": {"text": "a cat", "num_inference_steps": 1},
    "lambdalabs/sd-image-variations-diffusers": {"num_inference_steps": 1},
}


@pytest.mark.parametrize("model_id", GENERATOR_BODIES)
def test_generators_answer_the_longest_strip_the_decoder_admits(client, public_dir: Path, model_id) -> None:
    body = {"img_url": png_uri((1, 49_000_000)), **GENERATOR_BODIES[model_id]}
    response = client.post(f"/models/{model_id}", json=body)
    assert response.status_code == 200, response.get_json()
    with Image.open(public_dir / response.get_json()["path"].lstrip("/")) as generated:
        assert max(generated.size) <= 512  # at the model's own size, not the strip's
