"""Image + text models: captioning (image-to-text) and visual question answering.

transformers 5 has no pipeline for either, so each task has one generic loader that reads the
architecture from the checkpoint's config and a small class per way of answering: generate and
decode for the generative ones (ViT-GPT2, TrOCR, Donut, BLIP, BLIP-2, Pix2Struct, GIT), a
classifier over a fixed answer list for ViLT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.transformers import donut
from models_server.tasks.transformers.hf_models import load_image_processor, load_pretrained, to_model
from models_server.tasks.transformers.tokenizer_files import named_tokenizer
from models_server.tasks.work_size import processor_input

if TYPE_CHECKING:
    from PIL import Image

    from models_server.tasks.loading import LoadContext

MAX_ANSWER_TOKENS = 20


def _auto(name: str) -> Any:
    import transformers

    return getattr(transformers, name)


def _model_type(ctx: LoadContext) -> str:
    return _auto("AutoConfig").from_pretrained(ctx.weight_dirs[0], local_files_only=True).model_type


def _tokenizer(ctx: LoadContext) -> Any:
    return _auto("AutoTokenizer").from_pretrained(ctx.weight_dirs[0], local_files_only=True)


def _processor(ctx: LoadContext) -> Any:
    """The repo's processor; its tokenizer read through the class tokenizer_config.json names when the
    repo has a SentencePiece model and no tokenizer.json (see `named_tokenizer`)."""
    folder = ctx.weight_dirs[0]
    tokenizer = named_tokenizer(folder)
    extra = {} if tokenizer is None else {"tokenizer": tokenizer}
    return _auto("AutoProcessor").from_pretrained(folder, local_files_only=True, **extra)


@dataclass
class ImagesAndText:
    """An image processor and a tokenizer called as one processor (VisionEncoderDecoder repos
    save the two side by side, with no processor class tying them)."""

    images: Any
    tokenizer: Any

    def __call__(self, images: Any, return_tensors: str = "pt") -> Any:
        return self.images(images=images, return_tensors=return_tensors)

    def batch_decode(self, ids: Any, **options: Any) -> list[str]:
        texts = self.tokenizer.batch_decode(ids, **options)
        if getattr(self.tokenizer, "subword_tokenizer_type", None) == "character":
            # Character-level Japanese (manga-ocr) decodes with a space between characters; Japanese has none.
            texts = ["".join(text.split()) for text in texts]
        return texts


# --- image-to-text ------------------------------------------------------------------------------


@dataclass
class Captioner:
    """`processor` turns image (and prompt) into model inputs and decodes ids into text.

    BLIP and BLIP-2 continue a prompt when one is given ("a photography of"); encoder-decoder
    models start from `decoder_prompt` (Donut's reading task token) or their start token.
    """

    model: Any
    processor: Any
    takes_prompt: bool
    decoder_prompt: Any = None  # token ids, 1 x n

    def __call__(self, image: Image.Image, prompt: str | None, max_new_tokens: int) -> str:
        import torch

        image, _ = processor_input(image, self.processor)
        if prompt and self.takes_prompt:
            inputs = self.processor(images=image, text=prompt, return_tensors="pt")
        else:
            inputs = self.processor(images=image, return_tensors="pt")
        inputs = to_model(inputs, self.model)
        if self.decoder_prompt is not None:
            inputs["decoder_input_ids"] = self.decoder_prompt.to(self.model.device)
        with torch.inference_mode():
            ids = self.model.generate(**inputs, max_new_tokens=max_new_tokens)
        return self.processor.batch_decode(ids, skip_special_tokens=True)[0].strip()


def _encoder_decoder_captioner(ctx: LoadContext, model: Any) -> Captioner:
    """ViT-GPT2, TrOCR, manga-ocr, Donut: image processor and tokenizer saved side by side."""
    processor = ImagesAndText(load_image_processor(ctx.weight_dirs[0], model.config.encoder), _tokenizer(ctx))
    reading = donut.task_of(processor.tokenizer, donut.READING)
    prompt = None
    if reading is not None:
        prompt = processor.tokenizer(reading.prompt, add_special_tokens=False, return_tensors="pt").input_ids
    return Captioner(model, processor, takes_prompt=False, decoder_prompt=prompt)


# How each architecture captions: whether it continues a user's prompt. Pix2Struct's base
# checkpoint is not a VQA model: a prompt would only be decoder text it was never trained on.
PROMPTED_CAPTIONERS = {"blip": True, "blip-2": True, "pix2struct": False}


def load_captioner(ctx: LoadContext) -> Captioner:
    """Any image-to-text checkpoint transformers' AutoModelForImageTextToText loads."""
    model, _ = load_pretrained(ctx, "AutoModelForImageTextToText", None)
    kind = model.config.model_type
    if kind == "vision-encoder-decoder":
        return _encoder_decoder_captioner(ctx, model)
    if kind not in PROMPTED_CAPTIONERS:
        raise ValueError(f"{kind} checkpoints are not captioners this server knows how to run")
    return Captioner(model, _processor(ctx), takes_prompt=PROMPTED_CAPTIONERS[kind])


def caption(model: Captioner, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, str]:
    """`{"generated text": caption}`: the key the controller chains into later tasks."""
    return {"generated text": model(inputs["img_url"], inputs["text"], params["max_new_tokens"])}


CAPTION = Task(contracts.IMAGE_TO_TEXT, caption)


# --- visual question answering ------------------------------------------------------------------


@dataclass
class AnswerClassifier:
    """ViLT: scores every answer of its fixed list; trained with a sigmoid per answer. A question is
    cut at the model's text positions (40), which its tokenizer (bert-base-uncased's, 512) does not know."""

    model: Any
    processor: Any

    def __call__(self, image: Image.Image, question: str, top_k: int) -> list[dict[str, Any]]:
        import torch

        pixels, _ = processor_input(image, self.processor)
        limit = min(self.processor.tokenizer.model_max_length, self.model.config.max_position_embeddings)
        inputs = self.processor(images=pixels, text=question, truncation=True, max_length=limit, return_tensors="pt")
        with torch.inference_mode():
            probs = self.model(**to_model(inputs, self.model)).logits[0].float().sigmoid()
        scores, ids = probs.topk(min(top_k, probs.numel()))
        names = self.model.config.id2label
        return [
            {"answer": names[int(i)], "score": round(float(s), 4)} for s, i in zip(scores, ids, strict=True)
        ]


@dataclass
class AnswerGenerator:
    """BLIP, GIT: write the answer. Its score is the probability of the whole answer (the
    product of its tokens' probabilities under greedy decoding), so one answer only.

    `encode(processor, image, question, limit)` gives the model's inputs, the question cut at `limit`
    tokens (what the text positions hold, as its tokenizer may not know); the answer is the generated
    tokens after them.
    """

    model: Any
    processor: Any
    encode: Callable[[Any, Image.Image, str, int], dict[str, Any]]
    question_limit: int

    def __call__(self, image: Image.Image, question: str, top_k: int) -> list[dict[str, Any]]:
        import torch

        pixels, _ = processor_input(image, self.processor)
        inputs = to_model(self.encode(self.processor, pixels, question, self.question_limit), self.model)
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=MAX_ANSWER_TOKENS, output_scores=True, return_dict_in_generate=True
            )
        generated = out.sequences[0, -len(out.scores):] if out.scores else out.sequences[0, :0]
        answer = self.processor.batch_decode(generated[None], skip_special_tokens=True)[0].strip()
        return [{"answer": answer, "score": round(donut.sequence_probability(out), 4)}]


@dataclass
class PromptedAnswerer:
    """Donut checkpoints fine-tuned on a question task (DocVQA, UI referring expressions)."""

    generator: donut.DonutGenerator

    def __call__(self, image: Image.Image, question: str, top_k: int) -> list[dict[str, Any]]:
        answer, score = self.generator(image, question)
        return [{"answer": answer, "score": round(score, 4)}]


def _blip_inputs(processor: Any, image: Image.Image, question: str, limit: int) -> dict[str, Any]:
    return dict(processor(images=image, text=question, truncation=True, max_length=limit, return_tensors="pt"))


def _git_inputs(processor: Any, image: Image.Image, question: str, limit: int) -> dict[str, Any]:
    """GIT reads [CLS] + the question (no [SEP]) after the image and continues with the answer."""
    import torch

    tokenizer = processor.tokenizer
    ids = [tokenizer.cls_token_id, *tokenizer(question, add_special_tokens=False).input_ids[:limit - 1]]
    pixels = processor(images=image, return_tensors="pt").pixel_values
    return {"pixel_values": pixels, "input_ids": torch.tensor([ids])}


def _vilt(ctx: LoadContext) -> AnswerClassifier:
    return AnswerClassifier(*load_pretrained(ctx, "AutoModelForVisualQuestionAnswering", "AutoProcessor"))


def _question_limit(tokenizer: Any, positions: int, answer_tokens: int = 0) -> int:
    """The question's most tokens: the text positions, less those the answer takes when it follows
    the question in the same sequence (GIT); the tokenizer's own limit when it is lower."""
    return max(1, min(tokenizer.model_max_length, positions - answer_tokens))


def _blip(ctx: LoadContext) -> AnswerGenerator:
    """The question goes to BLIP's text encoder; the answer to its decoder, positions of its own."""
    model, processor = load_pretrained(ctx, "AutoModelForVisualQuestionAnswering", "AutoProcessor")
    limit = _question_limit(processor.tokenizer, model.config.text_config.max_position_embeddings)
    return AnswerGenerator(model, processor, _blip_inputs, limit)


def _git(ctx: LoadContext) -> AnswerGenerator:
    model, processor = load_pretrained(ctx, "AutoModelForImageTextToText", "AutoProcessor")
    limit = _question_limit(processor.tokenizer, model.config.max_position_embeddings, MAX_ANSWER_TOKENS)
    return AnswerGenerator(model, processor, _git_inputs, limit)


def _donut(ctx: LoadContext) -> PromptedAnswerer:
    return PromptedAnswerer(load_donut(ctx, donut.QUESTIONS))


def load_donut(ctx: LoadContext, tasks: tuple[donut.DonutTask, ...]) -> donut.DonutGenerator:
    """A Donut checkpoint asked with the first of `tasks` its tokenizer was trained for."""
    model, processor = load_pretrained(ctx, "VisionEncoderDecoderModel", "AutoProcessor")
    task = donut.task_of(processor.tokenizer, tasks)
    if task is None:
        known = ", ".join(task.start for task in tasks)
        raise ValueError(f"this encoder-decoder checkpoint's tokenizer has none of the task tokens {known}")
    return donut.DonutGenerator(model, processor, task)


# Model type -> loader: the architectures that answer questions about images (the generic loader accepts these).
ANSWERERS: dict[str, Callable[[LoadContext], Any]] = {
    "vilt": _vilt,
    "blip": _blip,
    "git": _git,
    "vision-encoder-decoder": _donut,
}


def load_visual_question_answerer(ctx: LoadContext) -> AnswerClassifier | AnswerGenerator | PromptedAnswerer:
    """ViLT, BLIP, GIT or a question-answering Donut, chosen by the checkpoint's model type."""
    kind = _model_type(ctx)
    if kind not in ANSWERERS:
        raise ValueError(f"{kind} checkpoints cannot answer questions about images here; "
                         f"known: {', '.join(sorted(ANSWERERS))}")
    return ANSWERERS[kind](ctx)


def answer(model: Any, inputs: dict[str, Any], params: dict[str, Any]) -> list:
    """`[{"answer", "score"}]`, best first."""
    return model(inputs["img_url"], inputs["text"], params["top_k"])


ANSWER = Task(contracts.VISUAL_QUESTION_ANSWERING, answer)
