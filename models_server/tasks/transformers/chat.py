"""Chat and completion by causal language models (Qwen2, Llama, ... read from each repo's config)
through transformers, with the conversation laid out by the model's own chat template.

Generation stops at the model's end of turn, at a stop string, or after `max_tokens` new tokens;
`max_tokens` beyond what the context has room for is clipped to that room. Temperature 0 is
greedy decoding; otherwise tokens are sampled (temperature, top_p), repeatably with a `seed`.
After each token the request's progress is reported (a cancelled request, or one past its
deadline, stops there) and the text that became final is handed on to a stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput
from models_server.progress import report_partial, report_progress
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


@dataclass(frozen=True)
class TextPiece:
    """A part of a streamed answer: text that follows what came before; `first` opens a new answer
    (one per result of a request for several, its text empty)."""

    text: str
    first: bool = False


def complete(chat: ChatModel, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """`{"text", "pieces", "finish_reason", "prompt_tokens", "completion_tokens"}`.

    `pieces` is the text token by token, each reported (`report_partial`) as soon as no stop
    string can take it back, so a stream sends what the whole answer holds; `finish_reason` is
    "stop" (end of turn or a stop string) or "length" (out of `max_tokens` or of context).
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
    text = StreamedText(chat.tokenizer, params["stop"] or [])
    report_partial(TextPiece("", first=True))
    options["stopping_criteria"] = [_each_token(text, prompt_tokens, budget)]
    encoded = {key: value.to(chat.model.device) for key, value in encoded.items()}
    output = chat.model.generate(**encoded, **options)[0][prompt_tokens:]
    text.finish(output.tolist())
    ended = text.stopped or (len(output) > 0 and int(output[-1]) in _end_ids(chat))
    return {"text": text.sent, "pieces": text.pieces,
            "finish_reason": "stop" if ended or len(output) < budget else "length",
            "prompt_tokens": prompt_tokens, "completion_tokens": len(output)}


class StreamedText:
    """The answer's text as it grows token by token: the part no stop string can take back is
    reported at once; at a stop string the text ends before it (OpenAI's `stop` matches in the
    answer only, not in the prompt)."""

    def __init__(self, tokenizer: Any, stops: list[str]) -> None:
        self.tokenizer = tokenizer
        self.stops = [stop for stop in stops if stop]
        self.sent = ""
        self.pieces: list[str] = []
        self.stopped = False

    def update(self, ids: list[int]) -> bool:
        """Read the answer's tokens so far; True once it holds a stop string."""
        if self.stopped:
            return True
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a character spread over tokens waits for the rest
            return False
        cut = min((text.find(stop) for stop in self.stops if stop in text), default=-1)
        if cut >= 0:
            self._send(text[:cut])
            self.stopped = True
            return True
        held = max((size for stop in self.stops for size in range(1, len(stop)) if text.endswith(stop[:size])),
                   default=0)
        self._send(text[: len(text) - held])
        return False

    def finish(self, ids: list[int]) -> None:
        """The generation is over: what was held back for a stop string that never came goes out."""
        if not self.update(ids):
            self._send(self.tokenizer.decode(ids, skip_special_tokens=True).rstrip("\ufffd"))

    def _send(self, text: str) -> None:
        if len(text) > len(self.sent):
            piece = text[len(self.sent):]
            self.pieces.append(piece)
            self.sent += piece
            report_partial(TextPiece(piece))


def _each_token(text: StreamedText, prompt_tokens: int, budget: int) -> Any:
    """A stopping criterion called after each new token: the request's progress (where a cancel or
    the deadline stops the generation), the new text handed on, and a stop at a stop string."""
    from transformers import StoppingCriteria

    class EachToken(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            new = input_ids[0, prompt_tokens:].tolist()
            report_progress(len(new), budget)
            done = text.update(new)
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return EachToken()


def _end_ids(chat: ChatModel) -> set[int]:
    ids = chat.model.generation_config.eos_token_id
    return set(ids) if isinstance(ids, list) else {ids} if ids is not None else set()


CHAT = Task(contracts.CHAT_COMPLETION, complete)
