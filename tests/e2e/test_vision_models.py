"""The full tier's vision candidates (catalog/vision_coverage.py) on tiny weights.

Every row answers the controller's body over HTTP in its task's shape; one row of each new family
answers huggingface_hub's InferenceClient. Random weights make the answers arbitrary, so what is
checked is what does not depend on them: shapes, label sets, boxes inside the image, files written,
spans of the OCR'd words. What random weights cannot show (Donut's tag parsing, the default
image processor of a repo saved without one) is checked directly.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest
import requests
from huggingface_hub import InferenceClient
from huggingface_hub.inference._generated import types as hf
from PIL import Image, ImageDraw, ImageFont
from support.answers import post, written

from models_server.catalog import catalog_rows, standard
from models_server.catalog import vision as vision_coverage
from models_server.tasks.transformers import document_qa, donut, vision, vision_text
from models_server.tasks.transformers.hf_models import load_image_processor

CAT_REF = "public/examples/cat.jpg"  # 451x300
CAT_SIZE = (451, 300)
INVOICE_REF = "public/examples/coverage-invoice.png"
INVOICE_LINES = ("INVOICE 1234", "Total amount due: 42.50 USD")
ROWS = vision_coverage.MODELS


def ids_of(*tasks) -> list[str]:
    return [row.id for row in ROWS if row.task in tasks]


def ranked(items: list[dict], key: str = "score") -> bool:
    scores = [item[key] for item in items]
    return scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


@pytest.fixture(scope="module")
def invoice(public_dir: Path) -> Path:
    assert shutil.which("tesseract"), "Debian's tesseract-ocr is not installed: run scripts/setup-env"
    image = Image.new("RGB", (640, 220), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("DejaVuSans.ttf", 28)
    for row, line in enumerate(INVOICE_LINES):
        draw.text((30, 30 + 90 * row), line, fill="black", font=font)
    path = public_dir / INVOICE_REF.removeprefix("public/")
    image.save(path)
    return path


# --- every row, the controller's body -----------------------------------------------------------


@pytest.mark.parametrize("model_id", ids_of(vision.CLASSIFY))
def test_classification(client, tiny_root: Path, photo_ref: str, model_id: str) -> None:
    """Top 5, or every label of a classifier with fewer (cafe_aesthetic's and anime-ai-detect's 2)."""
    result = post(client, model_id, {"img_url": photo_ref, "text": None})
    (repo,) = next(row for row in ROWS if row.id == model_id).weights
    saved = json.loads((tiny_root / repo.name / "config.json").read_text())
    labels = len(saved["id2label"]) if "id2label" in saved else saved["num_classes"]  # timm's own layout
    assert len(result) == min(5, labels) and ranked(result)
    assert all(isinstance(item["label"], str) and item["label"] for item in result)


@pytest.mark.parametrize("model_id", ids_of(vision.DETECT, vision.DETECT_OPEN_VOCABULARY))
def test_detection_boxes_in_input_pixels(client, model_id: str) -> None:
    result = post(client, model_id, {"img_url": CAT_REF, "threshold": 0.0})
    assert result and ranked(result)
    for item in result:
        box = item["box"]
        assert all(isinstance(box[k], int) for k in ("xmin", "ymin", "xmax", "ymax"))
        assert 0 <= box["xmin"] <= box["xmax"] <= CAT_SIZE[0] and 0 <= box["ymin"] <= box["ymax"] <= CAT_SIZE[1]
    if model_id == "google/owlvit-large-patch14":  # no labels asked: COCO's classes
        assert {item["label"] for item in result} <= set(vision.COCO_CLASSES)


@pytest.mark.parametrize("model_id", ids_of(vision.SEGMENT, vision.SEGMENT_BY_PROMPTS))
def test_segmentation_overlay_and_segments(client, public_dir: Path, model_id: str) -> None:
    # Random masks overlap each other, which real ones hardly do: let every query's mask count.
    body = {"img_url": CAT_REF, "threshold": 0.0, "mask_threshold": 0.1, "overlap_mask_area_threshold": 0.0}
    result = post(client, model_id, body)
    assert set(result) == {"path", "segments"}
    assert written(public_dir, result["path"]).size == CAT_SIZE
    assert result["segments"]
    for item in result["segments"]:
        assert set(item) == {"label", "score", "area"} and isinstance(item["label"], str)
        assert 0 <= item["score"] <= 1 and 0 < item["area"] <= 1
    assert sum(item["area"] for item in result["segments"]) <= 1.0001  # segments do not overlap


@pytest.mark.parametrize("model_id", ids_of(vision.ESTIMATE_DEPTH))
def test_depth_map_is_8bit_input_size(client, public_dir: Path, model_id: str) -> None:
    result = post(client, model_id, {"img_url": CAT_REF})
    depth = written(public_dir, result["path"])
    assert depth.mode == "L" and depth.size == CAT_SIZE and depth.getextrema() == (0, 255)


@pytest.mark.parametrize("model_id", ids_of(vision_text.CAPTION))
def test_captioning(client, photo_ref: str, model_id: str) -> None:
    result = post(client, model_id, {"img_url": photo_ref, "text": None, "max_new_tokens": 6})
    assert set(result) == {"generated text"} and isinstance(result["generated text"], str)


@pytest.mark.parametrize("model_id", ids_of(vision_text.ANSWER))
def test_visual_question_answering(client, photo_ref: str, model_id: str) -> None:
    result = post(client, model_id, {"img_url": photo_ref, "text": "What is in the picture?"})
    assert result and ranked(result)
    assert all(set(item) == {"answer", "score"} and isinstance(item["answer"], str) for item in result)


@pytest.mark.parametrize("model_id", ids_of(document_qa.ANSWER_DOCUMENT))
def test_document_question_answering(client, invoice: Path, model_id: str) -> None:
    result = post(client, model_id, {"img_url": INVOICE_REF, "text": "What is the total amount due?", "top_k": 2})
    assert result and ranked(result)
    if "donut" in model_id.lower():  # Donut reads the page itself: no OCR word indices
        assert len(result) == 1 and set(result[0]) == {"answer", "score"}
        return
    words = " ".join(INVOICE_LINES).split()
    for item in result:
        assert 0 <= item["start"] <= item["end"] < len(words)
        assert item["answer"] == " ".join(words[item["start"] : item["end"] + 1])


def test_clipseg_segments_the_things_asked_for_or_its_defaults(client) -> None:
    asked = post(client, "CIDAS/clipseg-rd64-refined", {"img_url": CAT_REF, "text": "cat, sofa", "threshold": 0.0})
    assert asked["segments"] and {item["label"] for item in asked["segments"]} <= {"cat", "sofa"}
    default = post(client, "CIDAS/clipseg-rd64-refined", {"img_url": CAT_REF, "threshold": 0.0})
    assert {item["label"] for item in default["segments"]} <= set(vision.DEFAULT_SEGMENT_PROMPTS)
    assert len(default["segments"]) > 2


def test_clipseg_cuts_a_prompt_longer_than_its_text_positions(client) -> None:
    """CLIPSeg's text model reads 77 tokens; a longer prompt is cut there, not a 500."""
    prompt = "a grey cat with long white whiskers sitting on a soft red cushion " * 8
    body = {"img_url": CAT_REF, "text": f"{prompt}, sofa", "threshold": 0.0}
    result = post(client, "CIDAS/clipseg-rd64-refined", body)
    assert result["segments"] and {item["label"] for item in result["segments"]} <= {prompt.strip(), "sofa"}


def test_clipseg_resizes_a_photo_once_whatever_the_number_of_prompts(tiny_root: Path) -> None:
    """The processor gets the photo at its own fixed size, so twelve prompts cost one resize of a
    large photo, not twelve (2.9 s against 0.2 s for a 12-megapixel one at 352 px)."""
    import torch

    from models_server.tasks.loading import LoadContext

    repo = "CIDAS/clipseg-rd64-refined"
    segmenter = vision.load_prompted_segmenter(LoadContext(repo, (tiny_root / repo,), "cpu", torch.float32))
    images = segmenter.processor.image_processor
    fixed = (images.size["width"], images.size["height"])
    seen: list[tuple[int, int]] = []

    class Recording:
        def __call__(self, pictures, *args, **kwargs):
            seen.extend(picture.size for picture in pictures)
            return images(pictures, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(images, name)

    segmenter.processor.image_processor = Recording()
    photo = Image.new("RGB", (1200, 900), "white")
    ids, _ = segmenter(photo, list(vision.DEFAULT_SEGMENT_PROMPTS), 0.0)
    assert ids.shape == (900, 1200) and seen == [fixed] * len(vision.DEFAULT_SEGMENT_PROMPTS)


def test_the_original_servers_vision_models_are_served() -> None:
    served = {name for row in catalog_rows() for name in (row.id, *row.aliases)}
    assert {
        "Salesforce/blip-image-captioning-large", "microsoft/trocr-base-printed", "microsoft/trocr-base-handwritten",
        "facebook/maskformer-swin-large-ade", "facebook/maskformer-swin-base-coco",
    } <= served


# --- one row per new family, the Hugging Face client --------------------------------------------

_STANDARD_FAMILIES = {repo.family for row in standard.MODELS for repo in row.weights}
FAMILY_ROWS = list({row.weights[0].family: row for row in reversed(ROWS)}.values())
NEW_FAMILY_ROWS = [row for row in FAMILY_ROWS if row.weights[0].family not in _STANDARD_FAMILIES]


@pytest.mark.parametrize("row", NEW_FAMILY_ROWS, ids=lambda row: row.weights[0].family)
def test_each_new_family_answers_the_inference_client(live_server, public_dir: Path, invoice: Path, row) -> None:
    hub = InferenceClient(model=f"{live_server.url}/models/{row.id}", timeout=60)
    photo = public_dir / "examples" / "photo.jpg"
    task = row.task.name
    if task == "image-classification":
        labels = hub.image_classification(photo, top_k=2)
        assert len(labels) == 2 and all(isinstance(item, hf.ImageClassificationOutputElement) for item in labels)
    elif task == "object-detection":
        found = hub.object_detection(photo, threshold=0.0)
        assert found and all(0 <= item.box.xmax <= 512 for item in found)
    elif task == "image-segmentation":
        segments = hub.image_segmentation(photo, threshold=0.0, overlap_mask_area_threshold=0.0)
        assert segments and all(segment.mask.size == (512, 512) for segment in segments)
    elif task == "depth-estimation":  # the client has no depth method: the API's raw request
        response = requests.post(hub.model, data=photo.read_bytes(), headers={"Content-Type": "image/jpeg"}, timeout=60)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
        assert Image.open(io.BytesIO(base64.b64decode(response.json()["depth"]))).size == (512, 512)
    elif task == "image-to-text":
        assert isinstance(hub.image_to_text(photo).generated_text, str)
    elif task == "visual-question-answering":
        (answer,) = hub.visual_question_answering(photo, "What is this?")
        assert isinstance(answer, hf.VisualQuestionAnsweringOutputElement) and isinstance(answer.answer, str)
    elif task == "document-question-answering":
        answers = hub.document_question_answering(invoice.read_bytes(), "What is the total?")
        assert len(answers) == 1 and isinstance(answers[0].answer, str)
    else:
        pytest.fail(f"no client call for {task}")


# --- what random weights cannot show -------------------------------------------------------------


def test_donut_answers_are_read_from_its_tags(tiny_root: Path) -> None:
    from transformers import AutoProcessor

    docvqa = AutoProcessor.from_pretrained(tiny_root / "naver-clova-ix/donut-base-finetuned-docvqa")
    assert donut.task_of(docvqa.tokenizer, donut.QUESTIONS) is donut.DOCVQA
    assert donut.parse_answer(docvqa, donut.DOCVQA, " 42.50 USD</s_answer></s>") == "42.50 USD"
    refexp = AutoProcessor.from_pretrained(tiny_root / "ivelin/donut-refexp-combined-v1")
    assert donut.task_of(refexp.tokenizer, donut.QUESTIONS) is donut.REFEXP
    box = "<s_xmin>0.1</s_xmin><s_ymin>0.2</s_ymin><s_xmax>0.5</s_xmax><s_ymax>0.6</s_ymax></s_target_bounding_box>"
    assert donut.parse_answer(refexp, donut.REFEXP, box) == "xmin: 0.1, ymin: 0.2, xmax: 0.5, ymax: 0.6"
    assert donut.parse_answer(refexp, donut.REFEXP, "</s_ymax>the OK button</s>") == "the OK button"


def test_a_repo_saved_without_an_image_processor_gets_its_model_types_defaults(tiny_root: Path) -> None:
    """xhyi/layoutlmv3_docvqa_t11c5000 has no preprocessor_config.json on the Hub, nor in miniature."""
    from transformers import AutoConfig

    folder = tiny_root / "xhyi/layoutlmv3_docvqa_t11c5000"
    assert not list(folder.glob("*processor_config.json"))
    images = load_image_processor(folder, AutoConfig.from_pretrained(folder))
    assert type(images).__name__.startswith("LayoutLMv3ImageProcessor")
    assert images(Image.new("RGB", (300, 200)), return_tensors="pt").pixel_values.shape[-2:] == (224, 224)


def test_a_checkpoint_that_cannot_do_the_task_fails_with_the_reason(tiny_root: Path) -> None:
    import torch

    from models_server.tasks.loading import LoadContext

    classifier = LoadContext("x", (tiny_root / "google/vit-base-patch16-224",), "cpu", torch.float32)
    with pytest.raises(ValueError, match="vit checkpoints cannot answer questions about images"):
        vision_text.load_visual_question_answerer(classifier)
    with pytest.raises(ValueError, match="vit checkpoints cannot answer questions about documents"):
        document_qa.load_document_reader(classifier)


def test_table_transformers_timm_backbone_is_built_without_downloading() -> None:
    """The real repos name a timm ResNet-18 with `use_pretrained_backbone: true`; transformers builds
    it empty and fills it from the checkpoint, so loading stays offline."""
    from transformers import TableTransformerConfig

    config = TableTransformerConfig(use_timm_backbone=True, backbone="resnet18", use_pretrained_backbone=True)
    assert config.backbone_config.backbone == "resnet18"
    assert config.backbone_config.use_pretrained_backbone is False


def test_japanese_character_tokens_decode_without_spaces(tiny_root: Path) -> None:
    """manga-ocr's character-level tokenizer joins characters with spaces; its text has none."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_root / "kha-white/manga-ocr-base")
    ids = tokenizer(["漫画を読む"]).input_ids
    assert tokenizer.batch_decode(ids, skip_special_tokens=True) == ["漫 画 を 読 む"]
    decoded = vision_text.ImagesAndText(None, tokenizer).batch_decode(ids, skip_special_tokens=True)
    assert decoded == ["漫画を読む"]
