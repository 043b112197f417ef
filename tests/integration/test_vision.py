"""Standard-tier vision models through HTTP on tiny weights: every id, every response shape.

Random weights make the answers arbitrary, so the tests check what does not depend on the
weights: shapes, label vocabularies, box coordinates in the image as sent, files written.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from support.answers import post, written

from models_server.catalog import standard
from models_server.tasks.transformers import vision, vision_text
from tiny_models import vision as tiny_vision
from tiny_models import vision_labels

CAT_REF = "public/examples/cat.jpg"  # 451x300
CAT_SIZE = (451, 300)


def ids_of(*tasks) -> list[str]:
    return [row.id for row in standard.MODELS if row.task in tasks]


@pytest.mark.parametrize("model_id", ids_of(vision.CLASSIFY))
def test_classification_top5(client, photo_ref: str, model_id: str) -> None:
    result = post(client, model_id, {"img_url": photo_ref, "text": None})
    assert len(result) == 5
    assert {item["label"] for item in result} <= set(vision_labels.imagenet_1k().values())
    scores = [item["score"] for item in result]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


@pytest.mark.parametrize("model_id", ids_of(vision.DETECT))
def test_detection_boxes_in_input_pixels(client, model_id: str) -> None:
    result = post(client, model_id, {"img_url": CAT_REF, "threshold": 0.0})
    assert result, "threshold 0 keeps every query"
    for item in result:
        assert set(item) == {"box", "label", "score"}
        assert item["label"] in tiny_vision.COCO_DETECTION
        box = item["box"]
        assert all(isinstance(box[k], int) for k in ("xmin", "ymin", "xmax", "ymax"))
        assert 0 <= box["xmin"] <= box["xmax"] <= CAT_SIZE[0]
        assert 0 <= box["ymin"] <= box["ymax"] <= CAT_SIZE[1]


def test_detection_default_threshold_and_body_shape(client, photo_ref: str) -> None:
    """Without a threshold, DETR keeps the boxes scored above 0.5 (transformers' default for it)."""
    every_box = post(client, "facebook/detr-resnet-101", {"img_url": photo_ref, "threshold": 0.0})
    assert every_box, "threshold 0 keeps every query"
    assert all(set(item) == {"box", "label", "score"} for item in every_box)
    assert any(item["score"] <= 0.5 for item in every_box)  # so the default has something to drop
    result = post(client, "facebook/detr-resnet-101", {"img_url": photo_ref})
    assert result == [item for item in every_box if item["score"] > 0.5]


def test_detection_uses_the_upright_image(client, public_dir: Path) -> None:
    """A photo stored sideways with an EXIF rotation is boxed in its upright size."""
    sideways = Image.new("RGB", (120, 60), "orange")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    sideways.save(public_dir / "examples" / "sideways.jpg", exif=exif)
    result = post(client, "hustvl/yolos-tiny", {"img_url": "public/examples/sideways.jpg", "threshold": 0})
    assert result
    assert all(item["box"]["xmax"] <= 60 and item["box"]["ymax"] <= 120 for item in result)


@pytest.mark.parametrize(
    ("body", "labels"),
    [
        ({"text": "cat, dog"}, {"cat", "dog"}),
        ({"candidate_labels": ["remote control", "sofa"]}, {"remote control", "sofa"}),
        ({"text": None}, set(vision.COCO_CLASSES)),
    ],
)
def test_open_vocabulary_detection(client, body: dict, labels: set[str]) -> None:
    result = post(client, "google/owlvit-base-patch32", {"img_url": CAT_REF, "threshold": 0.0, **body})
    assert result
    assert {item["label"] for item in result} <= labels
    assert all(0 <= item["box"]["xmax"] <= CAT_SIZE[0] for item in result)


def test_a_label_longer_than_the_text_positions_is_cut_to_them(client) -> None:
    """OWL-ViT's text model reads 16 tokens; a longer label is cut there, not a 500."""
    label = "a small grey cat with long white whiskers sitting on a soft red cushion by the window"
    result = post(client, "google/owlvit-base-patch32", {"img_url": CAT_REF, "threshold": 0.0, "text": f"{label}, dog"})
    assert result and {item["label"] for item in result} <= {label, "dog"}


@pytest.mark.parametrize("model_id", ids_of(vision.SEGMENT))
def test_segmentation_overlay_and_segments(client, public_dir: Path, model_id: str) -> None:
    # Low thresholds so that random weights still produce segments.
    result = post(client, model_id, {"img_url": CAT_REF, "threshold": 0.0, "mask_threshold": 0.1})
    assert set(result) == {"path", "segments"}
    overlay = written(public_dir, result["path"])
    assert overlay.size == CAT_SIZE and overlay.mode == "RGB"
    assert result["segments"]
    for item in result["segments"]:
        assert {"label", "score"} <= set(item)
        assert item["label"] in set(vision_labels.coco_panoptic().values()) | set(vision_labels.ADE20K_150)


def test_segmentation_always_has_a_path(client, public_dir: Path) -> None:
    """Real thresholds on random weights find nothing: the controller still gets a picture."""
    result = post(client, "facebook/detr-resnet-50-panoptic", {"img_url": CAT_REF})
    assert written(public_dir, result["path"]).size == CAT_SIZE
    assert isinstance(result["segments"], list)


@pytest.mark.parametrize("model_id", ids_of(vision.ESTIMATE_DEPTH))
def test_depth_map_is_8bit_input_size(client, public_dir: Path, model_id: str) -> None:
    result = post(client, model_id, {"img_url": CAT_REF})
    assert set(result) == {"path"}
    depth = written(public_dir, result["path"])
    assert depth.mode == "L" and depth.size == CAT_SIZE
    assert depth.getextrema() == (0, 255)


@pytest.mark.parametrize("model_id", ids_of(vision_text.CAPTION))
def test_captioning(client, photo_ref: str, model_id: str) -> None:
    result = post(client, model_id, {"img_url": photo_ref, "text": None, "max_new_tokens": 8})
    assert set(result) == {"generated text"} and isinstance(result["generated text"], str)


def test_blip_continues_a_prompt(client, photo_ref: str) -> None:
    body = {"img_url": photo_ref, "text": "a photo of", "max_new_tokens": 4}
    result = post(client, "Salesforce/blip-image-captioning-base", body)
    assert result["generated text"].startswith("a photo of")


@pytest.mark.parametrize("model_id", ids_of(vision_text.ANSWER))
def test_visual_question_answering(client, photo_ref: str, model_id: str) -> None:
    result = post(client, model_id, {"img_url": photo_ref, "text": "What is in the picture?"})
    assert result and all(set(item) == {"answer", "score"} for item in result)
    scores = [item["score"] for item in result]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    if model_id == "dandelin/vilt-b32-finetuned-vqa":
        assert len(result) == 5 and {item["answer"] for item in result} <= set(tiny_vision.vqa_answers())


@pytest.mark.parametrize("model_id", [
    *(row.id for row in standard.MODELS if row.weights[0].family == "vilt-vqa"),
    "Salesforce/blip-vqa-base", "microsoft/git-base-vqav2",
])
def test_a_question_longer_than_the_text_positions_is_answered(client, photo_ref: str, model_id: str) -> None:
    """ViLT reads 40 tokens while its tokenizer (bert-base-uncased's) allows 512; the BLIP and GIT
    stand-ins' text positions (64) are fewer than the question's tokens too: the question is cut at
    the model's positions, not the tokenizer's (GIT's less the answer that follows it)."""
    question = "is the cat on the table next to the dog in the park under the blue sky " * 6 + "?"
    result = post(client, model_id, {"img_url": photo_ref, "text": question})
    assert result and all(item["answer"].strip() for item in result)


def test_vqa_needs_a_question(client, photo_ref: str) -> None:
    response = client.post("/models/dandelin/vilt-b32-finetuned-vqa", json={"img_url": photo_ref, "text": None})
    assert response.status_code == 400
    assert "text" in response.get_json()["error"]["message"]


def test_image_as_data_uri_rgba(client) -> None:
    """Transparent PNGs sent inline decode like any photo."""
    import base64

    buffer = io.BytesIO()
    Image.new("RGBA", (64, 48), (10, 200, 30, 128)).save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    result = post(client, "facebook/detr-resnet-50", {"img_url": uri, "threshold": 0.0})
    assert result, "threshold 0 keeps every query"
    assert all(item["box"]["xmax"] <= 64 and item["box"]["ymax"] <= 48 for item in result)
