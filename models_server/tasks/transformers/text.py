"""Understanding tasks on text: extractive QA, classification, NER, sentence similarity.

Outputs keep the shapes the matching `transformers` pipelines (and the Hugging Face
Inference API) return, because the controller hands them to its LLM as they are.
Where transformers 5 still ships the pipeline we use it; extractive QA lost its pipeline,
so the span search is written out here.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput
from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.loading import DOWNLOAD_AGAIN, CannotRun, CheckedLoader
from models_server.tasks.transformers.embeddings import TRUNCATABLE

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext

MAX_ANSWER_TOKENS = 30  # a longer span is not an answer but a paragraph
QA_WINDOW, QA_STRIDE = 384, 128  # long contexts are read in overlapping windows


@dataclass
class TokenizedModel:
    """A tokenizer and the model it feeds, for tasks that drive the model by hand."""

    tokenizer: Any
    model: Any

    def encode(self, *texts: str, **options: Any) -> Any:
        """Tokenize and keep only the inputs `model.forward` accepts (DistilBERT has no segment ids)."""
        batch = self.tokenizer(*texts, return_tensors="pt", **options)
        accepted = set(inspect.signature(self.model.forward).parameters)
        return {k: v.to(self.model.device) for k, v in batch.items() if k in accepted}, batch


def load_tokenized(ctx: LoadContext, model_class: str) -> TokenizedModel:
    """Tokenizer and `transformers.<model_class>` from the first weights folder, in eval mode."""
    import transformers

    folder = ctx.weight_dirs[0]
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = getattr(transformers, model_class).from_pretrained(folder, dtype=ctx.dtype)
    cap_to_positions(tokenizer, model)
    return TokenizedModel(tokenizer, model.to(ctx.device).eval())


def load_transformers_pipeline(ctx: LoadContext, task: str, **options: Any) -> Any:
    """A transformers pipeline over the first weights folder."""
    from transformers import pipeline

    pipe = pipeline(task, model=str(ctx.weight_dirs[0]), device=ctx.device, dtype=ctx.dtype, **options)
    if pipe.tokenizer is not None:
        cap_to_positions(pipe.tokenizer, pipe.model)
    return pipe


def cap_to_positions(tokenizer: Any, model: Any) -> None:
    """Truncate no further than the model's position table reaches.

    A repo that ships only vocab.json and merges.txt (cardiffnlp/twitter-roberta-base-sentiment)
    or a tokenizer_config.json without `model_max_length` leaves the tokenizer's limit at 1e30:
    truncation then passes a long text whole and the position lookup fails. RoBERTa-style
    embeddings number positions from the padding id + 1 (514 rows hold 512 tokens). T5 has no
    position table: its config's legacy `n_positions` (512 in t5-base's, whose repo has no
    tokenizer_config.json) is the length it was trained on, beyond which attention's cost grows
    quadratically for no gain.
    """
    positions = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    if not isinstance(positions, int) or positions <= 0:
        return
    embeddings = getattr(getattr(model, "base_model", None), "embeddings", None)
    padding = getattr(embeddings, "padding_idx", None)
    limit = positions - (padding + 1 if isinstance(padding, int) else 0)
    if tokenizer.model_max_length > limit:
        tokenizer.model_max_length = limit


# --- question answering -------------------------------------------------------------------


def load_question_answering(ctx: LoadContext) -> TokenizedModel:
    return load_tokenized(ctx, "AutoModelForQuestionAnswering")


def answer_question(model: TokenizedModel, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """`{"answer", "score", "start", "end"}`: the most likely span of the context.

    The score is P(start) * P(end) within the window the span was found in, as the
    transformers pipeline scored it; start/end are character offsets in the context.
    """
    import torch

    question, context = inputs["question"].strip(), inputs["context"]
    tokenizer = model.tokenizer
    pad_right = tokenizer.padding_side == "right"
    model_inputs, batch = model.encode(
        question, context, truncation="only_second" if pad_right else "only_first",
        max_length=min(QA_WINDOW, tokenizer.model_max_length), stride=QA_STRIDE,
        return_overflowing_tokens=True, return_offsets_mapping=True, padding=True,
    )
    with torch.inference_mode():
        output = model.model(**model_inputs)
    best: dict[str, Any] = {"answer": "", "score": 0.0, "start": 0, "end": 0}
    for window in range(len(batch["input_ids"])):
        context_ids = [s == 1 for s in batch.sequence_ids(window)]
        in_context = torch.tensor(context_ids, device=output.start_logits.device)
        start = output.start_logits[window].float().masked_fill(~in_context, -1e4).softmax(-1)
        end = output.end_logits[window].float().masked_fill(~in_context, -1e4).softmax(-1)
        scores = torch.triu(start[:, None] * end[None, :]).tril(MAX_ANSWER_TOKENS - 1)
        flat = int(scores.argmax())
        first, last = divmod(flat, scores.shape[1])
        score = float(scores[first, last])
        if score > best["score"]:
            offsets = batch["offset_mapping"][window]
            char_start, char_end = int(offsets[first][0]), int(offsets[last][1])
            answer = context[char_start:char_end]
            best = {"answer": answer, "score": score, "start": char_start, "end": char_end}
    return best


QUESTION_ANSWERING = Task(contracts.QUESTION_ANSWERING, answer_question)


# --- text and token classification --------------------------------------------------------


def load_text_classification(ctx: LoadContext) -> Any:
    return load_transformers_pipeline(ctx, "text-classification")


def classify_text(pipe: Any, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """`[{"label", "score"}]` for every class, most likely first."""
    results = pipe(inputs["text"], top_k=None, truncation=True)
    return [{"label": r["label"], "score": float(r["score"])} for r in results]


TEXT_CLASSIFICATION = Task(contracts.TEXT_CLASSIFICATION, classify_text)


def load_token_classification(ctx: LoadContext) -> Any:
    return load_transformers_pipeline(ctx, "token-classification", aggregation_strategy="simple")


def tag_entities(pipe: Any, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """`[{"entity_group", "word", "score", "start", "end"}]`: word pieces merged into entities.

    A byte-level BPE token that is only the space before a word has an empty span once the
    pipeline trims it; tagged on its own it is no entity, so it is left out.
    """
    return [
        {
            "entity_group": e["entity_group"],
            "word": e["word"],
            "score": float(e["score"]),
            "start": int(e["start"]),
            "end": int(e["end"]),
        }
        for e in pipe(inputs["text"])
        if e["end"] > e["start"]
    ]


TOKEN_CLASSIFICATION = Task(contracts.TOKEN_CLASSIFICATION, tag_entities)


# --- sentence similarity -----------------------------------------------------------------


def foreign_modules(modules: Any) -> list[str]:
    """The modules a modules.json names that sentence-transformers does not ship (only the repo's
    own code, which stays off, would build them); all of it when it is no list of modules."""
    if not isinstance(modules, list):
        return [repr(modules)]
    return [str(m.get("type")) if isinstance(m, dict) else repr(m) for m in modules
            if not (isinstance(m, dict) and str(m.get("type", "")).startswith("sentence_transformers."))]


def modules_refusal(folder: Path) -> CannotRun | None:
    """What sentence-transformers would refuse in the folder's modules.json, read without importing
    it: a module it does not ship. (Whether this release has each module is left to the load:
    sentence-transformers 5 answers `sentence_transformers.models` by an alias made at import, not
    a file.) No modules.json: a plain encoder, which it mean-pools."""
    path = folder / "modules.json"
    if not path.is_file():
        return None
    try:
        modules = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return CannotRun(f"{path} is not readable JSON ({exc})",
                         DOWNLOAD_AGAIN)
    foreign = foreign_modules(modules)
    if foreign:
        return CannotRun(f"{path} names modules sentence-transformers does not ship: {', '.join(foreign)}",
                         "serve a model whose modules.json names only sentence_transformers modules")
    return None


def load_sentence_transformer(ctx: LoadContext, **options: Any) -> Any:
    """sentence-transformers reads its own layout (modules.json, pooling, dense layers, normalisation)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(ctx.weight_dirs[0]), device=ctx.device, local_files_only=True, **options)
    return model.to(ctx.dtype).eval()


def load_matryoshka_sentence_transformer(ctx: LoadContext) -> Any:
    """A sentence-transformers model trained with a Matryoshka loss (each prefix of its vector is
    an embedding too): OpenAI's `dimensions` may cut its vectors."""
    model = load_sentence_transformer(ctx)
    setattr(model, TRUNCATABLE, True)
    return model


# INSTRUCTOR embeds "instruction + text" and averages over the text's tokens only. The controller
# sends no instruction, so every sentence gets this one, in the "Represent the <what> for <task>:"
# form the INSTRUCTOR authors use.
INSTRUCTOR_INSTRUCTION = "Represent the sentence for semantic similarity: "


def load_instructor(ctx: LoadContext) -> Any:
    """hkunlp/instructor-*: a plain sentence-transformers layout, run with an instruction prompt
    that pooling leaves out (sentence-transformers does that by itself only for the Hub names)."""
    model = load_sentence_transformer(
        ctx, prompts={"similarity": INSTRUCTOR_INSTRUCTION}, default_prompt_name="similarity"
    )
    model.set_pooling_include_prompt(False)
    return model


def compare_sentences(model: Any, inputs: dict[str, Any], params: dict[str, Any]) -> list[float]:
    """Cosine similarity of the source sentence to each sentence, in their order.

    `text2` is one sentence taken whole: read as a list it would be split at its commas.
    """
    from sentence_transformers.util import cos_sim

    sentences = inputs["sentences"] or ([inputs["text2"]] if inputs["text2"] else None)
    if not sentences:
        raise BadInput("missing field 'sentences' (a list of sentences) or 'text2' (one sentence)")
    source = model.encode([inputs["source_sentence"]], convert_to_tensor=True)
    others = model.encode(sentences, convert_to_tensor=True)
    return [float(score) for score in cos_sim(source, others)[0]]


SENTENCE_SIMILARITY = Task(contracts.SENTENCE_SIMILARITY, compare_sentences)
LOAD_SENTENCE_TRANSFORMER = CheckedLoader(load_sentence_transformer, modules_refusal)
LOAD_MATRYOSHKA_SENTENCE_TRANSFORMER = CheckedLoader(load_matryoshka_sentence_transformer, modules_refusal)
LOAD_INSTRUCTOR = CheckedLoader(load_instructor, modules_refusal)
