"""Image + text models: captioning (image-to-text) and visual question answering.

transformers 5 has no pipeline for either, so each family is a small class over the model
class itself: generate and decode for the generative ones (ViT-GPT2, BLIP), a classifier
over a fixed answer list for ViLT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.tasks.base import Field, Kind, Task
from models_server.tasks.hf_models import load_pretrained, to_model
from models_server.tasks.vision import IMAGE, TOP_K
from models_server.tasks.work_size import processor_input

if TYPE_CHECKING:
    from PIL import Image

    from models_server.tasks.loading import LoadContext

MAX_NEW_TOKENS = Field("max_new_tokens", Kind.INT, default=30, minimum=1, maximum=256)


# --- image-to-text ------------------------------------------------------------------------------


@dataclass
class Captioner:
    """`processor` turns image (and prompt) into model inputs; `decoder` turns ids into text.

    ViT-GPT2 has an image processor plus a GPT-2 tokenizer and no prompt; BLIP has one
    processor for both and continues a prompt when one is given ("a photography of").
    """

    model: Any
    processor: Any
    decoder: Any
    takes_prompt: bool

    def __call__(self, image: Image.Image, prompt: str | None, max_new_tokens: int) -> str:
        import torch

        image, _ = processor_input(image, self.processor)
        if prompt and self.takes_prompt:
            inputs = self.processor(images=image, text=prompt, return_tensors="pt")
        else:
            inputs = self.processor(images=image, return_tensors="pt")
        with torch.inference_mode():
            ids = self.model.generate(**to_model(inputs, self.model), max_new_tokens=max_new_tokens)
        return self.decoder.batch_decode(ids, skip_special_tokens=True)[0].strip()


def load_encoder_decoder_captioner(ctx: LoadContext) -> Captioner:
    """A VisionEncoderDecoderModel repo: image processor and tokenizer saved side by side."""
    from transformers import AutoTokenizer

    model, processor = load_pretrained(ctx, "VisionEncoderDecoderModel", "AutoImageProcessor")
    tokenizer = AutoTokenizer.from_pretrained(ctx.weight_dirs[0], local_files_only=True)
    return Captioner(model, processor, tokenizer, takes_prompt=False)


def load_blip_captioner(ctx: LoadContext) -> Captioner:
    model, processor = load_pretrained(ctx, "BlipForConditionalGeneration", "BlipProcessor")
    return Captioner(model, processor, processor, takes_prompt=True)


def caption(model: Captioner, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, str]:
    """`{"generated text": caption}`: the key the controller chains into later tasks."""
    return {"generated text": model(inputs["img_url"], inputs["text"], params["max_new_tokens"])}


CAPTION = Task("image-to-text", (IMAGE, Field("text", Kind.TEXT)), caption, params=(MAX_NEW_TOKENS,))


# --- visual question answering ------------------------------------------------------------------


@dataclass
class AnswerClassifier:
    """ViLT: scores every answer of its fixed list; trained with a sigmoid per answer."""

    model: Any
    processor: Any

    def __call__(self, image: Image.Image, question: str, top_k: int) -> list[dict[str, Any]]:
        import torch

        pixels, _ = processor_input(image, self.processor)
        inputs = self.processor(images=pixels, text=question, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            probs = self.model(**to_model(inputs, self.model)).logits[0].float().sigmoid()
        scores, ids = probs.topk(min(top_k, probs.numel()))
        names = self.model.config.id2label
        return [
            {"answer": names[int(i)], "score": round(float(s), 4)} for s, i in zip(scores, ids, strict=True)
        ]


@dataclass
class AnswerGenerator:
    """BLIP VQA: writes the answer. Its score is the probability of the whole answer sequence
    (the product of its tokens' probabilities under greedy decoding), so one answer only."""

    model: Any
    processor: Any

    def __call__(self, image: Image.Image, question: str, top_k: int) -> list[dict[str, Any]]:
        import torch

        pixels, _ = processor_input(image, self.processor)
        inputs = to_model(self.processor(images=pixels, text=question, return_tensors="pt"), self.model)
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=20, output_scores=True, return_dict_in_generate=True
            )
        answer = self.processor.batch_decode(out.sequences, skip_special_tokens=True)[0].strip()
        return [{"answer": answer, "score": round(_sequence_probability(out), 4)}]


def _sequence_probability(out: Any) -> float:
    """exp(sum of log-probabilities of the chosen tokens), from the per-step scores."""
    import torch

    generated = out.sequences[0, -len(out.scores):]
    steps = zip(out.scores, generated, strict=True)
    total = sum(torch.log_softmax(step[0].float(), -1)[token] for step, token in steps)
    return float(torch.exp(torch.as_tensor(total)))


def load_vilt(ctx: LoadContext) -> AnswerClassifier:
    return AnswerClassifier(*load_pretrained(ctx, "ViltForQuestionAnswering", "ViltProcessor"))


def load_blip_vqa(ctx: LoadContext) -> AnswerGenerator:
    return AnswerGenerator(*load_pretrained(ctx, "BlipForQuestionAnswering", "BlipProcessor"))


def answer(model: AnswerClassifier | AnswerGenerator, inputs: dict[str, Any], params: dict[str, Any]) -> list:
    """`[{"answer", "score"}]`, best first."""
    return model(inputs["img_url"], inputs["text"], params["top_k"])


ANSWER = Task(
    "visual-question-answering",
    (IMAGE, Field("text", Kind.TEXT, required=True, aliases=("question",))),
    answer,
    params=(TOP_K,),
)
