"""Donut: OCR-free document models that answer in their own tag markup, asked by a task prompt.

A Donut checkpoint is a VisionEncoderDecoderModel whose decoder starts from a task prompt
(`<s_docvqa><s_question>…</s_question><s_answer>`); which tasks it was trained on shows in its
tokenizer, which holds those task tokens. The answer comes back as tags
(`<s_answer>42</s_answer>`), parsed with DonutProcessor's own `token2json`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.tasks.transformers.hf_models import to_model
from models_server.tasks.work_size import MIN_PROCESSOR_SIDE, pad_to_aspect

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class DonutTask:
    """`start` is the task token a tokenizer must hold; `prompt` takes the question, if the task
    has one; the answer is `token2json(output)[answer_key]`."""

    start: str
    prompt: str
    answer_key: str


READING = (
    DonutTask("<s_synthdog>", "<s_synthdog>", "text_sequence"),  # donut-base's pretraining: read the page
    DonutTask("<s_iitcdip>", "<s_iitcdip>", "text_sequence"),
)
DOCVQA = DonutTask("<s_docvqa>", "<s_docvqa><s_question>{}</s_question><s_answer>", "answer")
# Referring expressions over UI screenshots: the answer is the described element's box.
REFEXP = DonutTask("<s_refexp>", "<s_refexp><s_prompt>{}</s_prompt><s_target_bounding_box>", "target_bounding_box")
QUESTIONS = (DOCVQA, REFEXP)


def task_of(tokenizer: Any, tasks: tuple[DonutTask, ...]) -> DonutTask | None:
    """The first of `tasks` whose start token the checkpoint's tokenizer knows."""
    vocabulary = tokenizer.get_vocab()
    return next((task for task in tasks if task.start in vocabulary), None)


@dataclass
class DonutGenerator:
    model: Any
    processor: Any  # DonutProcessor: image processor, tokenizer, token2json
    task: DonutTask
    max_new_tokens: int = 64

    def __call__(self, image: Image.Image, question: str | None) -> tuple[str, float]:
        """The answer as text and its probability (the product of its tokens' probabilities)."""
        import torch

        tokenizer = self.processor.tokenizer
        prompt = self.task.prompt.format(question or "")
        prompt_ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        image = pad_to_aspect(image, min_side=MIN_PROCESSOR_SIDE)  # a 3000x1 strip would resize to nothing
        inputs = to_model({"pixel_values": self.processor(images=image, return_tensors="pt").pixel_values,
                           "decoder_input_ids": prompt_ids}, self.model)
        # The decoder has learnt this many positions (128 for Donut's DocVQA checkpoint), prompt included.
        room = getattr(self.model.config.decoder, "max_position_embeddings", None) or 2**31
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=max(1, min(self.max_new_tokens, room - prompt_ids.shape[1])),
                output_scores=True, return_dict_in_generate=True,
            )
        generated = tokenizer.decode(out.sequences[0, prompt_ids.shape[1]:], skip_special_tokens=False)
        return parse_answer(self.processor, self.task, generated), sequence_probability(out)


def parse_answer(processor: Any, task: DonutTask, generated: str) -> str:
    """The answer in the text a Donut model wrote after `task`'s prompt, as plain text.

    The prompt's last tag opens the answer (`<s_answer>`), so it is put back before parsing; a
    model that wrote no such tag gets its plain text back.
    """
    tokenizer = processor.tokenizer
    for marker in (tokenizer.eos_token, tokenizer.pad_token):
        generated = generated.replace(marker, "")
    parsed = processor.token2json(task.prompt.split("{}")[-1] + generated)
    if isinstance(parsed, list):
        parsed = parsed[0] if parsed else {}
    value = parsed.get(task.answer_key, parsed.get("text_sequence", "")) if isinstance(parsed, dict) else parsed
    return _as_text(value)


def _as_text(value: Any) -> str:
    """Nested tags (a box's `xmin`, `ymin`, ...) as `key: value` pairs; lists joined."""
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_as_text(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_as_text(item) for item in value)
    return re.sub(r"</?s_[^>]*>|<sep/>", " ", str(value)).strip()  # tags a malformed answer left over


def sequence_probability(out: Any) -> float:
    """exp(sum of log-probabilities of the chosen tokens), from `generate`'s per-step scores."""
    import torch

    if not out.scores:
        return 0.0
    generated = out.sequences[0, -len(out.scores):]
    steps = zip(out.scores, generated, strict=True)
    total = sum(torch.log_softmax(step[0].float(), -1)[token] for step, token in steps)
    return float(torch.exp(torch.as_tensor(total)))
