"""Document question answering: OCR the page with Tesseract, then let LayoutLM pick a span.

LayoutLM reads words with their boxes (0-1000 page coordinates) and scores, per token,
where the answer starts and ends. The answer is always a run of the OCR'd words, which is
why `start` and `end` are word indices, as in transformers' pipeline output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput
from models_server.tasks.base import Field, Kind, Task
from models_server.tasks.hf_models import load_pretrained
from models_server.tasks.vision import IMAGE

if TYPE_CHECKING:
    from PIL import Image

    from models_server.tasks.loading import LoadContext

MAX_ANSWER_TOKENS = 15
Box = tuple[int, int, int, int]
# Tesseract's time grows with the pixels it reads, and it refuses sides over ~30,000 px (a 500
# before): pages are read at most at 8 MP (an A4 page at about 300 dpi) and 16,384 px a side.
OCR_MAX_PIXELS = 8 * 2**20
OCR_MAX_SIDE = 16_384


def ocr_words(image: Image.Image, language: str = "eng") -> list[tuple[str, Box]]:
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
    model: Any
    tokenizer: Any

    def __call__(self, words: list[tuple[str, Box]], question: str, top_k: int) -> list[dict[str, Any]]:
        import torch

        encoding = self.tokenizer(
            question.split(), [word for word, _ in words], is_split_into_words=True,
            truncation="only_second", max_length=self.tokenizer.model_max_length, return_tensors="pt",
        )
        word_ids, sequence_ids = encoding.word_ids(0), encoding.sequence_ids(0)
        tokens = encoding["input_ids"][0].tolist()
        boxes = [
            _token_box(words, word, sequence, token == self.tokenizer.sep_token_id)
            for word, sequence, token in zip(word_ids, sequence_ids, tokens, strict=True)
        ]
        inputs = {key: value.to(self.model.device) for key, value in encoding.items()}
        inputs["bbox"] = torch.tensor([boxes], device=self.model.device)
        with torch.inference_mode():
            output = self.model(**inputs)
        in_page = torch.tensor([s == 1 for s in sequence_ids], device=self.model.device)
        start = output.start_logits[0].float().masked_fill(~in_page, -1e4).softmax(-1)
        end = output.end_logits[0].float().masked_fill(~in_page, -1e4).softmax(-1)
        return _best_spans(start.cpu(), end.cpu(), word_ids, words, top_k)


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


def load_document_reader(ctx: LoadContext) -> DocumentReader:
    """The model and its tokenizer. OCR words arrive one by one, so a byte-level BPE tokenizer
    (RoBERTa's, as impira's repo ships) must add the space each word had on the page;
    WordPiece tokenizers ignore the flag."""
    from transformers import AutoTokenizer

    model, _ = load_pretrained(ctx, "AutoModelForDocumentQuestionAnswering", None)
    tokenizer = AutoTokenizer.from_pretrained(ctx.weight_dirs[0], add_prefix_space=True, local_files_only=True)
    return DocumentReader(model, tokenizer)


def answer_document(model: DocumentReader, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict]:
    """`[{"score", "answer", "start", "end"}]`, best first; start/end index the OCR'd words."""
    words = ocr_words(inputs["img_url"])
    if not words:
        raise BadInput("document question answering found no text in the image")
    return model(words, inputs["text"], params["top_k"])


ANSWER_DOCUMENT = Task(
    "document-question-answering",
    (IMAGE, Field("text", Kind.TEXT, required=True, aliases=("question",))),
    answer_document,
    params=(Field("top_k", Kind.INT, default=1, minimum=1, maximum=20),),
)
