"""`POST /v1/embeddings` on the sentence-similarity rows: one vector per input string."""

from __future__ import annotations

import base64
from typing import Any

from models_server.errors import BadInput
from models_server.protocols.base import Call, Encoded, RawRequest
from models_server.protocols.openai.forms import choice, number, require_task, values_of
from models_server.tasks.base import Task
from models_server.tasks.transformers.embeddings import SENTENCE_EMBEDDING

MAX_INPUTS = 2048  # as OpenAI's own limit


def input_texts(value: Any) -> list[str]:
    """`input` as a list of non-empty strings (OpenAI's token-id arrays are another tokenizer's ids)."""
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(item, str) for item in texts):
        raise BadInput("'input' must be a string or a non-empty list of strings (token-id arrays are not "
                       "accepted: they are ids of another tokenizer)", param="input")
    if len(texts) > MAX_INPUTS:
        raise BadInput(f"'input' holds {len(texts)} strings; at most {MAX_INPUTS}", param="input")
    if any(not item for item in texts):
        raise BadInput("'input' must not contain an empty string", param="input")
    return texts


class EmbeddingsProtocol:
    route = "/v1/embeddings"
    tasks = ("sentence-similarity",)

    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call:
        require_task(task, request, self.tasks, self.route)
        values = values_of(request, json_body)
        texts = input_texts(values.get("input"))
        encoding = choice(values, "encoding_format", ("float", "base64"), "float")
        model = request.model_id

        def encode(result: dict[str, Any]) -> Encoded:
            data = [{"object": "embedding", "index": index, "embedding": _vector(row, encoding)}
                    for index, row in enumerate(result["embeddings"])]
            usage = {"prompt_tokens": result["tokens"], "total_tokens": result["tokens"]}
            return Encoded({"object": "list", "data": data, "model": model, "usage": usage})

        return Call({"texts": texts, "dimensions": number(values, "dimensions", int)}, encode,
                    task=SENTENCE_EMBEDDING)


def _vector(row: Any, encoding: str) -> Any:
    """Floats, or base64 of little-endian float32 as OpenAI sends them."""
    if encoding == "base64":
        return base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
    return [float(value) for value in row]
