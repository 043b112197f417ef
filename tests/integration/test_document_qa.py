"""Document QA: real Tesseract OCR on a rendered invoice, its words and boxes into LayoutLM.

The tiny model's choice is random; the words it chooses from are not: every answer must be
a run of the OCR'd words, and `start`/`end` must index that run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from models_server.tasks.transformers import document_qa


@pytest.fixture(autouse=True)
def _tesseract_installed():
    """Document QA is real OCR: without Tesseract the feature is missing, so the test fails."""
    assert shutil.which("tesseract"), "Debian's tesseract-ocr is not installed: run scripts/setup-env"

LINES = ("INVOICE 1234", "Date: 2024-05-01", "Total amount due: 42.50 USD")
MODEL_ID = "impira/layoutlm-document-qa"


@pytest.fixture(scope="module")
def invoice() -> Image.Image:
    image = Image.new("RGB", (640, 300), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("DejaVuSans.ttf", 28)  # Debian's fonts-dejavu-core
    for row, line in enumerate(LINES):
        draw.text((30, 30 + 80 * row), line, fill="black", font=font)
    return image


def test_ocr_reads_words_and_page_boxes(invoice: Image.Image) -> None:
    words = document_qa.ocr_words(invoice)
    assert [word for word, _ in words] == " ".join(LINES).split()
    for _, (x0, y0, x1, y1) in words:
        assert 0 <= x0 < x1 <= 1000 and 0 <= y0 < y1 <= 1000
    boxes = dict(words)
    assert boxes["INVOICE"][1] < boxes["Date:"][1] < boxes["Total"][1]  # top to bottom
    assert boxes["Total"][0] < boxes["amount"][0] < boxes["42.50"][0]  # left to right


def test_answer_is_a_span_of_the_ocr_words(client, public_dir: Path, invoice: Image.Image) -> None:
    invoice.save(public_dir / "examples" / "invoice.png")
    body = {"img_url": "public/examples/invoice.png", "text": "What is the total amount due?", "top_k": 3}
    response = client.post(f"/models/{MODEL_ID}", json=body)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    words = " ".join(LINES).split()
    assert 1 <= len(result) <= 3
    for item in result:
        assert set(item) == {"answer", "score", "start", "end"}
        assert 0 <= item["start"] <= item["end"] < len(words)
        assert item["answer"] == " ".join(words[item["start"] : item["end"] + 1])
    scores = [item["score"] for item in result]
    assert scores == sorted(scores, reverse=True)


def test_default_is_the_single_best_answer(client, public_dir: Path, invoice: Image.Image) -> None:
    invoice.save(public_dir / "examples" / "invoice.png")
    body = {"img_url": "public/examples/invoice.png", "text": "What is the date?"}
    result = client.post(f"/models/{MODEL_ID}", json=body).get_json()
    assert len(result) == 1 and result[0]["answer"]


def test_blank_page_is_400(client, public_dir: Path) -> None:
    Image.new("RGB", (200, 100), "white").save(public_dir / "examples" / "blank.png")
    body = {"img_url": "public/examples/blank.png", "text": "What is the total?"}
    response = client.post(f"/models/{MODEL_ID}", json=body)
    assert response.status_code == 400
    assert "no text" in response.get_json()["error"]["message"]


def test_a_page_larger_than_ocr_reads_is_scaled_down_keeping_its_aspect(invoice) -> None:
    """Tesseract refuses a side over ~30,000 px (it was a 500) and takes time per pixel: the page
    is read at OCR_MAX_PIXELS / OCR_MAX_SIDE at most; word boxes are relative to the page."""
    tall = Image.new("RGB", (640, 40_000), "white")
    page = document_qa.ocr_page(tall)
    assert max(page.size) <= document_qa.OCR_MAX_SIDE
    assert page.size[0] * page.size[1] <= document_qa.OCR_MAX_PIXELS
    assert page.size[1] / page.size[0] == pytest.approx(40_000 / 640, rel=0.02)  # the aspect is kept
    assert document_qa.ocr_page(invoice) is invoice  # an ordinary page is read as it is


def test_a_strip_tesseract_cannot_read_is_400_not_500(client) -> None:
    import base64
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (1, 49_000_000), "white").save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    response = client.post(f"/models/{MODEL_ID}", json={"img_url": uri, "text": "total?"})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["message"]


OCR_READERS = (MODEL_ID, "xhyi/layoutlmv3_docvqa_t11c5000")
PAGE_READER = "naver-clova-ix/donut-base-finetuned-docvqa"


@pytest.mark.parametrize("preload", [True, False], ids=["preloaded", "lazy"])
def test_without_tesseract_a_layoutlm_row_is_failed_with_the_fix(tiny_root, public_dir, monkeypatch, preload):
    """LayoutLM would load and then fail every request without Tesseract: its rows are failed from
    the start, saying what is missing and the fix, preloaded or lazy, and `list --coverage` does not
    count them; Donut, which reads the page itself, is not failed and is counted."""
    import dataclasses

    import pytesseract
    from support.serving import tiny_settings

    from models_server.catalog import catalog_rows
    from models_server.controller.coverage import coverage
    from models_server.runtime.runtime import Runtime

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    wanted = (*OCR_READERS, PAGE_READER)
    rows = [dataclasses.replace(row, preload=preload) for row in catalog_rows() if row.id in wanted]
    runtime = Runtime(tiny_settings(tiny_root, public_dir), rows)
    for model_id in OCR_READERS:
        view = runtime.view(model_id)
        assert view.state.value == "failed", model_id
        assert "Tesseract" in (view.reason or "") and "/nonexistent/tesseract is not on PATH" in view.reason
        assert "fix: install the Debian package tesseract-ocr" in view.reason
    assert runtime.view(PAGE_READER).state.value != "failed"
    (documents,) = [entry for entry in coverage(rows) if entry.task == "document-question-answering"]
    assert documents.served == (PAGE_READER,) and {name for name, _ in documents.cannot_run} == set(OCR_READERS)


def test_tesseract_without_english_data_is_reported_missing(monkeypatch, tmp_path: Path) -> None:
    """A Tesseract that lists no English data would refuse every page: said at the start too."""
    import pytesseract

    program = tmp_path / "tesseract"
    program.write_text("#!/bin/sh\necho 'List of available languages in \"/usr/share/tessdata/\" (1):'\necho osd\n")
    program.chmod(0o755)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(program))
    assert document_qa.tesseract_missing() == f"{program} has no data for the language 'eng'"
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "tesseract")
    assert document_qa.tesseract_missing() is None


def test_a_layoutlmv3_repo_with_its_processors_own_ocr_still_reads_our_words(
    tiny_root: Path, tmp_path: Path, monkeypatch, invoice: Image.Image
) -> None:
    """A LayoutLMv3 repo saved with its processor (layoutlmv3-base's way) names an image processor
    whose `apply_ocr` is on: the loader turns it off, so the page is OCR'd once, by us, and the
    answer is a run of our words."""
    import shutil as files

    import torch
    from transformers import LayoutLMv3ImageProcessor

    from models_server.tasks.loading import LoadContext

    folder = tmp_path / "layoutlmv3-with-processor"
    files.copytree(tiny_root / "xhyi/layoutlmv3_docvqa_t11c5000", folder)
    LayoutLMv3ImageProcessor(apply_ocr=True).save_pretrained(folder)
    reader = document_qa.load_document_reader(LoadContext("x", (folder,), "cpu", torch.float32))
    assert reader.images.apply_ocr is False
    ocr, reads = document_qa.ocr_words, []
    monkeypatch.setattr(document_qa, "ocr_words", lambda image: reads.append(image) or ocr(image))
    (answer,) = reader(invoice, "What is the total?", 1)
    words = [word for word, _ in ocr(invoice)]
    assert len(reads) == 1 and answer["answer"] == " ".join(words[answer["start"] : answer["end"] + 1])
