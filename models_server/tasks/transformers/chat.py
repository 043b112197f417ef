"""Chat and completion by causal language models (Qwen2, Llama, ... read from each repo's config)
through transformers, with the conversation laid out by the model's own chat template.

Generation stops at the model's end of turn, at a stop string, or after `max_tokens` new tokens;
`max_tokens` beyond what the context has room for is clipped to that room. Temperature 0 is
greedy decoding; otherwise tokens are sampled (temperature, top_p), repeatably with a `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput
from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.transformers.hf_models import load_pretrained

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext


@dataclass
class ChatModel:
    model: Any
    tokenizer: Any

    @property
    def context(self) -> int:
        """How many tokens (prompt and answer) the model reads."""
        return int(getattr(self.model.config, "max_position_embeddings", None) or self.tokenizer.model_max_length)


def load_causal_lm(ctx: LoadContext) -> ChatModel:
    return ChatModel(*load_pretrained(ctx, "AutoModelForCausalLM", "AutoTokenizer"))


def prompt_of(chat: ChatModel, inputs: dict[str, Any]) -> str:
    """The text the model continues: the conversation in its chat template, or the plain prompt."""
    if inputs["messages"] is not None:
        if not chat.tokenizer.chat_template:
            raise BadInput("this model has no chat template: send a plain prompt to /v1/completions", param="messages")
        return chat.tokenizer.apply_chat_template(inputs["messages"], add_generation_prompt=True, tokenize=False)
    if inputs["prompt"] is None:
        raise BadInput("missing field 'messages' (a conversation) or 'prompt' (a text to continue)")
    return inputs["prompt"]


def complete(chat: ChatModel, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """`{"text", "pieces", "finish_reason", "prompt_tokens", "completion_tokens"}`.

    `pieces` is the text token by token (what a stream sends); `finish_reason` is "stop" (end of
    turn or a stop string) or "length" (out of `max_tokens` or of context).
    """
    import torch

    prompt = prompt_of(chat, inputs)
    encoded = chat.tokenizer(prompt, return_tensors="pt", add_special_tokens=inputs["messages"] is None)
    prompt_tokens = int(encoded["input_ids"].shape[1])
    if prompt_tokens == 0:
        raise BadInput("the prompt is empty", param="prompt")
    room = chat.context - prompt_tokens
    if room < 1:
        raise BadInput(f"the prompt is {prompt_tokens} tokens; this model reads at most {chat.context}")
    budget = min(params["max_tokens"] or room, room)
    options: dict[str, Any] = {"max_new_tokens": budget, "do_sample": False,
                               "pad_token_id": chat.tokenizer.pad_token_id or chat.tokenizer.eos_token_id}
    temperature = 1.0 if params["temperature"] is None else params["temperature"]
    if temperature > 0:
        options.update(do_sample=True, temperature=temperature, top_p=params["top_p"] or 1.0, top_k=0)
        if params["seed"] is not None:
            torch.manual_seed(params["seed"])
    stops = params["stop"] or []
    if stops:
        options["stopping_criteria"] = [_stop_strings(chat.tokenizer, stops, prompt_tokens)]
    encoded = {key: value.to(chat.model.device) for key, value in encoded.items()}
    output = chat.model.generate(**encoded, **options)[0][prompt_tokens:]
    pieces = _pieces(chat.tokenizer, output.tolist())
    text = "".join(pieces)
    cut = min((text.find(stop) for stop in stops if stop in text), default=-1)
    if cut >= 0:
        text, pieces = text[:cut], _cut(pieces, cut)
    ended = cut >= 0 or (len(output) > 0 and int(output[-1]) in _end_ids(chat))
    return {"text": text, "pieces": pieces, "finish_reason": "stop" if ended or len(output) < budget else "length",
            "prompt_tokens": prompt_tokens, "completion_tokens": len(output)}


def _stop_strings(tokenizer: Any, stops: list[str], prompt_tokens: int) -> Any:
    """Stop once the new text holds a stop string (transformers' own `stop_strings` also matches
    one that begins in the prompt, which OpenAI's `stop` does not)."""
    from transformers import StoppingCriteria

    class StopStrings(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            text = tokenizer.decode(input_ids[0, prompt_tokens:], skip_special_tokens=True)
            done = any(stop in text for stop in stops)
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return StopStrings()


def _end_ids(chat: ChatModel) -> set[int]:
    ids = chat.model.generation_config.eos_token_id
    return set(ids) if isinstance(ids, list) else {ids} if ids is not None else set()


def _pieces(tokenizer: Any, ids: list[int]) -> list[str]:
    """The decoded text split where each token adds to it (a character spread over tokens waits)."""
    pieces, done = [], ""
    for end in range(1, len(ids) + 1):
        text = tokenizer.decode(ids[:end], skip_special_tokens=True)
        if text.endswith("\ufffd"):
            continue
        if len(text) > len(done):
            pieces.append(text[len(done):])
            done = text
    return pieces


def _cut(pieces: list[str], length: int) -> list[str]:
    kept, used = [], 0
    for piece in pieces:
        if used >= length:
            break
        kept.append(piece[: length - used])
        used += len(kept[-1])
    return [piece for piece in kept if piece]


CHAT = Task(contracts.CHAT_COMPLETION, complete)
