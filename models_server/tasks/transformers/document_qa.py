"""Document question answering: OCR the page with Tesseract, then let LayoutLM pick a span;
or let Donut read the page and write the answer.

LayoutLM (v1, and v3 which also sees the page image) reads words with their boxes (0-1000 page
coordinates) and scores, per token, where the answer starts and ends. Its answer is always a
run of the OCR'd words, which is why `start` and `end` are word indices, as in transformers'
pipeline output. Donut needs no OCR; its answers carry no word indices, as in the pipeline.
LayoutLMv2 is not served: its visual backbone needs detectron2, which is not on PyPI.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput
from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.loading import CannotRun, CheckedLoader
from models_server.tasks.transformers import donut
from models_server.tasks.transformers.hf_models import load_image_processor, load_pretrained, to_model
from models_server.tasks.transformers.vision_text import PromptedAnswerer, load_donut

if TYPE_CHECKING:
    from PIL import Image

    from models_server.tasks.loading import LoadContext

MAX_ANSWER_TOKENS = 15
MAX_INPUT_TOKENS = 512  # LayoutLM's positions; some tokenizers save no limit of their own
Box = tuple[int, int, int, int]
# Tesseract's time grows with the pixels it reads, and it refuses sides over ~30,000 px (a 500
# before): pages are read at most at 8 MP (an A4 page at about 300 dpi) and 16,384 px a side.
OCR_MAX_PIXELS = 8 * 2**20
OCR_MAX_SIDE = 16_384


OCR_LANGUAGE = "eng"
# The architectures that read words OCR'd by Tesseract (Donut reads the page's pixels itself).
OCR_MODEL_TYPES = ("layoutlm", "layoutlmv3")
TESSERACT_FIX = ("install the Debian package tesseract-ocr (with tesseract-ocr-eng) and pip install pytesseract; "
                 "or set models.<id>.enabled: false")


def tesseract_missing() -> str | None:
    """Why Tesseract cannot OCR an English page here (pytesseract not installed, its program not
    found, no English data), found without reading a page."""
    if importlib.util.find_spec("pytesseract") is None:
        return "the package pytesseract is not installed"
    program = _tesseract_program()
    command = shutil.which(program)
    if command is None:
        return f"the program {program} is not on PATH"
    if OCR_LANGUAGE not in _languages(command):
        return f"{command} has no data for the language {OCR_LANGUAGE!r}"
    return None


def _tesseract_program() -> str:
    """The program pytesseract runs: its `tesseract_cmd` once it is imported (where code may set
    it), else its default; importing it only to read that would import pandas (0.3 s)."""
    module = sys.modules.get("pytesseract.pytesseract")
    return str(getattr(module, "tesseract_cmd", "tesseract"))


@functools.cache
def _languages(command: str) -> frozenset[str]:
    """The languages `command --list-langs` names (its first line is a heading); none if it fails."""
    try:
        listed = subprocess.run([command, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(line.strip() for line in listed.stdout.splitlines()[1:] if line.strip())


def ocr_refusal(folder: Path) -> CannotRun | None:
    """Why a reader of OCR'd words (LayoutLM) cannot run here, read from its config without loading;
    such a model would load and then fail every request."""
    try:
        kind = json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None  # the weights check says so
    return tesseract_refusal() if kind in OCR_MODEL_TYPES else None


def tesseract_refusal() -> CannotRun | None:
    reason = tesseract_missing()
    return None if reason is None else CannotRun(f"it reads words OCR'd by Tesseract, which cannot run: {reason}",
                                                 TESSERACT_FIX)


def ocr_words(image: Image.Image, language: str = OCR_LANGUAGE) -> list[tuple[str, Box]]:
    """The page's words in reading order, each with its box in 0-1000 page coordinates."""
    import pytesseract

    page = ocr_page(image)
    try:
        data = pytesseract.image_to_data(page, lang=language, output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractNotFoundError:
        raise RuntimeError("document QA needs Tesseract: install the Debian package tesseract-ocr") from None
    except pytesseract.TesseractError:
        raise BadInput(f"Tesseract could not read this {image.width}x{image.height} image as a page") from None
    width, height = page.size
    words = []
    for text, left, top, w, h in zip(
        data["text"], data["left"], data["top"], data["width"], data["height"], strict=True
    ):
        if text.strip():
            box = (left * 1000 // width, top * 1000 // height,
                   (left + w) * 1000 // width, (top + h) * 1000 // height)
            words.append((text.strip(), tuple(min(max(v, 0), 1000) for v in box)))
    return words


def ocr_page(image: Image.Image) -> Image.Image:
    """`image` scaled down, keeping its aspect, to OCR_MAX_PIXELS and OCR_MAX_SIDE at most;
    word boxes are relative to the page, so they do not change."""
    from PIL import Image

    from models_server.tasks.work_size import fit_within

    width, height = fit_within(image.size, OCR_MAX_PIXELS)
    longest = max(width, height)
    if longest > OCR_MAX_SIDE:
        width, height = max(1, width * OCR_MAX_SIDE // longest), max(1, height * OCR_MAX_SIDE // longest)
    if (width, height) == image.size:
        return image
    return image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)


@dataclass
class DocumentReader:
    """LayoutLM on OCR'd words. `images` is set for LayoutLMv3, which also reads the page's pixels
    (its tokenizer takes the words' boxes itself)."""

    model: Any
    tokenizer: Any
    images: Any = None

    def __call__(self, image: Image.Image, question: str, top_k: int) -> list[dict[str, Any]]:
        import torch

        words = ocr_words(image)
        if not words:
            raise BadInput("document question answering found no text in the image")
        encoding, inputs = self._encode(image, words, question)
        word_ids, sequence_ids = encoding.word_ids(0), encoding.sequence_ids(0)
        with torch.inference_mode():
            output = self.model(**to_model(inputs, self.model))
        in_page = torch.tensor([s == 1 for s in sequence_ids], device=self.model.device)
        text = len(sequence_ids)  # LayoutLMv3 also scores its image patches, which follow the text
        start = output.start_logits[0, :text].float().masked_fill(~in_page, -1e4).softmax(-1)
        end = output.end_logits[0, :text].float().masked_fill(~in_page, -1e4).softmax(-1)
        return _best_spans(start.cpu(), end.cpu(), word_ids, words, top_k)

    def _encode(self, image: Image.Image, words: list[tuple[str, Box]], question: str) -> tuple[Any, dict]:
        import torch

        length = min(self.tokenizer.model_max_length, MAX_INPUT_TOKENS)
        limit = {"truncation": "only_second", "max_length": length, "return_tensors": "pt"}
        if self.images is not None:
            encoding = self.tokenizer(question, [word for word, _ in words], boxes=[box for _, box in words], **limit)
            pixels = self.images(images=image, return_tensors="pt").pixel_values
            return encoding, {**encoding, "pixel_values": pixels}
        encoding = self.tokenizer(question.split(), [word for word, _ in words], is_split_into_words=True, **limit)
        tokens = encoding["input_ids"][0].tolist()
        boxes = [
            _token_box(words, word, sequence, token == self.tokenizer.sep_token_id)
            for word, sequence, token in zip(encoding.word_ids(0), encoding.sequence_ids(0), tokens, strict=True)
        ]
        return encoding, {**encoding, "bbox": torch.tensor([boxes])}


def _token_box(words: list[tuple[str, Box]], word: int | None, sequence: int | None, separator: bool) -> Box:
    """A page token carries its word's box; [SEP] the whole page, as LayoutLM was trained;
    question and other special tokens zeros."""
    if sequence == 1 and word is not None:
        return words[word][1]
    return (1000, 1000, 1000, 1000) if separator else (0, 0, 0, 0)


def _best_spans(start, end, word_ids, words, top_k: int) -> list[dict[str, Any]]:
    """The `top_k` spans (start <= end, at most MAX_ANSWER_TOKENS) by start x end probability."""
    import torch

    scores = torch.triu(start[:, None] * end[None, :]) - torch.triu(
        start[:, None] * end[None, :], diagonal=MAX_ANSWER_TOKENS
    )
    answers: dict[tuple[int, int], float] = {}
    for flat in scores.flatten().argsort(descending=True)[: top_k * 20].tolist():
        first, last = divmod(flat, scores.shape[1])
        if word_ids[first] is None or word_ids[last] is None or scores[first, last] <= 0:
            continue
        span = (word_ids[first], word_ids[last])
        answers.setdefault(span, float(scores[first, last]))
        if len(answers) == top_k:
            break
    return [
        {"score": round(score, 4), "answer": " ".join(w for w, _ in words[a : b + 1]), "start": a, "end": b}
        for (a, b), score in answers.items()
    ]


def _layoutlm(ctx: LoadContext) -> DocumentReader:
    """OCR words arrive one by one, so a byte-level BPE tokenizer (RoBERTa's, as impira's repos
    ship) must add the space each word had on the page; WordPiece tokenizers ignore the flag."""
    from transformers import AutoTokenizer

    refusal = ocr_refusal(ctx.weight_dirs[0])
    if refusal is not None:
        raise refusal
    model, _ = load_pretrained(ctx, "AutoModelForDocumentQuestionAnswering", None)
    tokenizer = AutoTokenizer.from_pretrained(ctx.weight_dirs[0], add_prefix_space=True, local_files_only=True)
    images = None
    if model.config.model_type == "layoutlmv3":
        images = load_image_processor(ctx.weight_dirs[0], model.config)
        images.apply_ocr = False  # the words come from our OCR, with the boxes LayoutLM was given
    return DocumentReader(model, tokenizer, images)


def _donut(ctx: LoadContext) -> PromptedAnswerer:
    return PromptedAnswerer(load_donut(ctx, (donut.DOCVQA,)))


def _needs_detectron2(ctx: LoadContext) -> Any:
    raise RuntimeError("LayoutLMv2 checkpoints need detectron2 for their visual backbone; it is not on PyPI")


# Model type -> loader: the architectures that read documents (the generic loader accepts these).
READERS: dict[str, Callable[[LoadContext], Any]] = {
    "layoutlm": _layoutlm,
    "layoutlmv3": _layoutlm,
    "layoutlmv2": _needs_detectron2,
    "vision-encoder-decoder": _donut,
}


def read_documents(ctx: LoadContext) -> DocumentReader | PromptedAnswerer:
    """LayoutLM (v1, v3) or a DocVQA Donut, chosen by the checkpoint's model type."""
    from transformers import AutoConfig

    kind = AutoConfig.from_pretrained(ctx.weight_dirs[0], local_files_only=True).model_type
    if kind not in READERS:
        raise ValueError(f"{kind} checkpoints cannot answer questions about documents here; "
                         f"known: {', '.join(sorted(READERS))}")
    return READERS[kind](ctx)


def answer_document(model: DocumentReader | PromptedAnswerer, inputs: dict[str, Any], params: dict[str, Any]) -> list:
    """`[{"score", "answer", "start", "end"}]`, best first; start/end index the OCR'd words.
    Donut, which reads the page itself, answers `[{"answer", "score"}]`."""
    return model(inputs["img_url"], inputs["text"], params["top_k"])


# A LayoutLM checkpoint needs Tesseract: without it its row is failed from the start, with the fix.
load_document_reader = CheckedLoader(read_documents, ocr_refusal)
# For rows whose published config is LayoutLM's: known without their weights, so `list --coverage`
# counts them only where Tesseract runs.
load_ocr_document_reader = CheckedLoader(read_documents, ocr_refusal, environment=tesseract_refusal)


ANSWER_DOCUMENT = Task(contracts.DOCUMENT_QUESTION_ANSWERING, answer_document)
