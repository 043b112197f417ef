"""`POST /v1/chat/completions` and `/v1/completions` on the chat rows, whole or streamed.

A stream is sent as server-sent events in OpenAI's chunk shape, one chunk per token's text as the
model makes it, then each answer's finish reason, the usage when asked, and `data: [DONE]`; an
error after the stream began is one `data: {"error": ...}` event (the SDK raises it). The model
does not wait for a slow reader: what it made waits in the stream. `logit_bias` is ignored: its
ids are token ids of the client's tokenizer (OpenAI's, for every client that sends it) and mean
other tokens here. `presence_penalty`, `frequency_penalty`
and `user` are accepted and not used; tools, logprobs and JSON response formats are refused.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from models_server.errors import BadInput, ServerError
from models_server.protocols.base import Call, Encoded, RawRequest
from models_server.protocols.openai.forms import number, require_task, values_of
from models_server.tasks.base import Task
from models_server.tasks.repeated import repeated
from models_server.tasks.transformers.chat import TextPiece

ROUTES = {True: "/v1/chat/completions", False: "/v1/completions"}
REFUSED = ("tools", "functions", "tool_choice", "function_call", "logprobs", "top_logprobs", "suffix", "echo",
           "audio", "modalities", "prediction")
EVENT_STREAM = "text/event-stream"


class ChatProtocol:
    """`chat`: messages in, a message out; else a prompt in, its continuation out."""

    streams = True  # its answers may stream (`Call.stream`)

    def __init__(self, chat: bool) -> None:
        self.chat = chat
        self.route = ROUTES[chat]
        self.tasks = ("chat-completion",)

    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call:
        require_task(task, request, self.tasks, self.route)
        values = values_of(request, json_body)
        for name in REFUSED:
            if values.get(name) not in (None, False, 0, [], {}):
                raise BadInput(f"'{name}' is not served by {self.route}", param=name)
        answer_format = values.get("response_format")
        if answer_format not in (None, {"type": "text"}):
            raise BadInput("only text answers are served: omit 'response_format'", param="response_format")
        stop = values.get("stop")
        body: dict[str, Any] = {
            "max_tokens": number(values, "max_completion_tokens", int) or number(values, "max_tokens", int),
            "temperature": number(values, "temperature"), "top_p": number(values, "top_p"),
            "stop": [stop] if isinstance(stop, str) else stop, "seed": number(values, "seed", int),
            "n": number(values, "n", int) or 1,
        }
        if self.chat:
            body["messages"] = values.get("messages")
        else:
            body["prompt"] = _prompt(values.get("prompt"))
        stream = values.get("stream") is True
        options = values.get("stream_options")
        usage_chunk = isinstance(options, dict) and options.get("include_usage") is True
        shape = Answer(self.chat, str(values.get("model")), request.model_id)
        if not stream:
            return Call(body, lambda results: Encoded(shape.whole(results)), task=repeated(task))
        events = EventStream(shape, usage_chunk)
        return Call(body, lambda results: Encoded(events.rest(results), EVENT_STREAM), task=repeated(task),
                    stream=events)


def _prompt(value: Any) -> Any:
    """OpenAI's prompt may be a list of prompts: one is served per request."""
    if isinstance(value, list):
        if len(value) != 1 or not isinstance(value[0], str):
            raise BadInput("'prompt' must be a string (or a list of exactly one string)", param="prompt")
        return value[0]
    return value


class Answer:
    """OpenAI's answer shapes for one request; `model` is the name the client asked for."""

    def __init__(self, chat: bool, asked: str, served: str) -> None:
        self.chat = chat
        self.model = asked or served
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())
        self.kind = "chat.completion" if chat else "text_completion"

    def head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    @staticmethod
    def usage(results: list[dict[str, Any]]) -> dict[str, int]:
        prompt = results[0]["prompt_tokens"]
        completion = sum(result["completion_tokens"] for result in results)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def whole(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        choices = []
        for index, result in enumerate(results):
            choice: dict[str, Any] = {"index": index, "finish_reason": result["finish_reason"], "logprobs": None}
            if self.chat:
                choice["message"] = {"role": "assistant", "content": result["text"]}
            else:
                choice["text"] = result["text"]
            choices.append(choice)
        return {**self.head(self.kind), "choices": choices, "usage": self.usage(results)}


def _event(item: dict[str, Any]) -> str:
    return f"data: {json.dumps(item, separators=(',', ':'))}\n\n"


class EventStream:
    """One request's stream: each answer's pieces as chunks when the model makes them (`part`),
    then what they did not carry (`rest`: all of it when no part came, as from another process)."""

    mimetype = EVENT_STREAM

    def __init__(self, shape: Answer, usage_chunk: bool) -> None:
        self.shape = shape
        self.usage_chunk = usage_chunk
        self.kind = "chat.completion.chunk" if shape.chat else "text_completion"
        self.sent: list[int] = []  # pieces sent, per answer begun

    def _chunk(self, index: int, content: str | None, finish: str | None, first: bool = False) -> str:
        if self.shape.chat:
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else (
                {"content": content} if content is not None else {})
            entry: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
        else:
            entry = {"index": index, "text": content or "", "finish_reason": finish, "logprobs": None}
        return _event({**self.shape.head(self.kind), "choices": [entry]})

    def _begin(self, index: int) -> str:
        return self._chunk(index, None, None, first=True) if self.shape.chat else ""

    def part(self, part: TextPiece) -> bytes:
        if part.first:
            self.sent.append(0)
            return self._begin(len(self.sent) - 1).encode()
        self.sent[-1] += 1
        return self._chunk(len(self.sent) - 1, part.text, None).encode()

    def error(self, error: ServerError) -> bytes:
        body = {"message": error.message, "type": "server_error" if error.status >= 500 else error.kind,
                "param": None, "code": error.details.get("code") or error.kind}
        return (_event({"error": body}) + "data: [DONE]\n\n").encode()

    def rest(self, results: list[dict[str, Any]]) -> bytes:
        """Each answer's pieces not sent yet and its finish reason, the usage if asked, `[DONE]`."""
        events: list[str] = []
        for index, result in enumerate(results):
            begun = index < len(self.sent)
            if not begun:
                events.append(self._begin(index))
            events += [self._chunk(index, piece, None) for piece in result["pieces"][self.sent[index] if begun else 0:]]
            events.append(self._chunk(index, None, result["finish_reason"]))
        if self.usage_chunk:
            events.append(_event({**self.shape.head(self.kind), "choices": [], "usage": Answer.usage(results)}))
        return ("".join(events) + "data: [DONE]\n\n").encode()
