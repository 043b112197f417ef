"""Tasks that write text: summarization, translation, text generation, text-to-text.

transformers 5 dropped the summarization, translation and text2text pipelines, so the
sequence-to-sequence tasks call `generate()` on the model classes; GPT-2 style generation
keeps its pipeline. As under the old pipelines, decoding follows the model's generation_config,
overridden by the config's `task_specific_params` for the task (t5-base's translation
entries raise max_length from 20 to 300 tokens and carry the prompt prefix).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput
from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.transformers.text import TokenizedModel, load_tokenized, load_transformers_pipeline

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext


# Language names T5 was trained on, by the codes callers tend to send.
LANGUAGES = {"en": "English", "de": "German", "fr": "French", "ro": "Romanian"}


def load_seq2seq(ctx: LoadContext) -> TokenizedModel:
    return load_tokenized(ctx, "AutoModelForSeq2SeqLM")


def _generate(model: TokenizedModel, task: str, text: str, params: dict[str, Any]) -> str:
    import torch

    task_options = _task_params(model, task)
    model_inputs, _ = model.encode(task_options.pop("prefix", "") + text, truncation=True)
    options = {k: v for k, v in task_options.items() if k in model.model.generation_config.to_dict()}
    if params.get("max_new_tokens") is not None:
        options.pop("max_length", None)
        options["max_new_tokens"] = params["max_new_tokens"]
    with torch.inference_mode():
        output = model.model.generate(**model_inputs, **options)
    return model.tokenizer.decode(output[0], skip_special_tokens=True).strip()


def summarize(model: TokenizedModel, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict[str, str]]:
    """`[{"summary_text"}]`."""
    return [{"summary_text": _generate(model, "summarization", inputs["text"], params)}]


SUMMARIZATION = Task(contracts.SUMMARIZATION, summarize)


def language_name(value: str) -> str:
    text = value.strip()
    name = LANGUAGES.get(text.lower(), text.title())
    if not name.isalpha():
        raise BadInput(f"unknown language {value!r}; use a code such as 'de' or a name such as 'German'")
    return name


def translate(model: TokenizedModel, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict[str, str]]:
    """`[{"translation_text"}]`; T5 is told the language pair by its trained prompt prefix."""
    source, target = language_name(params["src_lang"]), language_name(params["tgt_lang"])
    codes = {name: code for code, name in LANGUAGES.items()}
    task = f"translation_{codes.get(source, source)}_to_{codes.get(target, target)}"
    if "prefix" not in _task_params(model, task):  # a pair T5 was not trained on: same wording
        text = f"translate {source} to {target}: {inputs['text']}"
    else:
        text = inputs["text"]
    return [{"translation_text": _generate(model, task, text, params)}]


TRANSLATION = Task(contracts.TRANSLATION, translate)


def _task_params(model: TokenizedModel, task: str) -> dict[str, Any]:
    """A copy of the config's settings for `task` (prefix and generation options), or {}."""
    return dict((getattr(model.model.config, "task_specific_params", None) or {}).get(task, {}))


def generate_text2text(
    model: TokenizedModel, inputs: dict[str, Any], params: dict[str, Any]
) -> list[dict[str, str]]:
    """`[{"generated_text"}]`: the model's answer to an instruction (FLAN-T5)."""
    return [{"generated_text": _generate(model, "text2text-generation", inputs["text"], params)}]


TEXT2TEXT_GENERATION = Task(contracts.TEXT2TEXT_GENERATION, generate_text2text)


def load_text_generation(ctx: LoadContext) -> Any:
    return load_transformers_pipeline(ctx, "text-generation")


def continue_text(pipe: Any, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict[str, str]]:
    """`[{"generated_text"}]`: the prompt followed by its continuation, as the pipeline gives it."""
    options: dict[str, Any] = {"max_new_tokens": params.get("max_new_tokens") or 50}
    if pipe.tokenizer.pad_token_id is None:
        options["pad_token_id"] = pipe.tokenizer.eos_token_id
    results = pipe(inputs["text"], **options)
    return [{"generated_text": r["generated_text"]} for r in results]


TEXT_GENERATION = Task(contracts.TEXT_GENERATION, continue_text)
