"""Hugging Face Inference API requests on the controller's `POST /models/<id>` route.

Clients written for the Inference API (`huggingface_hub.InferenceClient` among them) send
`{"inputs": ..., "parameters": {...}}` or the raw file, and read that API's answer shapes.
`parse` renames such a request into the task's own fields, so the usual FieldDecoder and
handler serve it unchanged; `respond` reshapes the handler's raw result. The controller's
bodies never carry `inputs` and never come as raw bytes: `parse` gives None for them and
their path stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models_server.protocols.base import Call, Encoded, RawRequest
from models_server.protocols.inference_api import answers
from models_server.protocols.inference_api.requests import HFRequest, from_envelope, from_file, is_raw_file
from models_server.protocols.inference_api.requests import refuse_unused_generation_knobs as refuse_unused
from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.contracts import Contract

__all__ = ["ADAPTERS", "AS_IS", "Adapter", "HFRequest", "InferenceApiProtocol", "parse", "respond"]


@dataclass(frozen=True)
class Adapter:
    """How one contract speaks the Inference API.

    `answer` shapes the result; `renames` map API parameter names onto the task's fields;
    `check(parameters, envelope)` refuses what the task cannot honour, in words the client reads.
    """

    answer: Callable[[Any, HFRequest], tuple[Any, str]] = answers.as_is
    renames: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[dict[str, Any], dict[str, Any]], None] | None = None


DEFAULT = Adapter()
# Keyed by contract; every contract is here or in AS_IS (tests/unit/test_contracts.py checks it).
ADAPTERS: dict[Contract, Adapter] = {
    contracts.CONTROL_MAP: Adapter(answers.image),
    contracts.CONTROLNET_IMAGE_GENERATION: Adapter(answers.image, renames={"prompt": "text"}),
    contracts.TEXT_TO_IMAGE: Adapter(answers.image),
    contracts.IMAGE_VARIATIONS: Adapter(answers.image),
    contracts.IMAGE_TO_IMAGE: Adapter(answers.image),
    contracts.TEXT_TO_VIDEO: Adapter(answers.video),
    contracts.TEXT_TO_SPEECH: Adapter(answers.sound),
    contracts.DEPTH_ESTIMATION: Adapter(answers.depth),
    contracts.AUDIO_TO_AUDIO: Adapter(answers.converted_voice),
    contracts.IMAGE_SEGMENTATION: Adapter(answers.segments),
    contracts.PROMPTED_IMAGE_SEGMENTATION: Adapter(answers.segments),
    contracts.IMAGE_CLASSIFICATION: Adapter(answers.labels),
    contracts.AUDIO_CLASSIFICATION: Adapter(answers.labels),
    contracts.TEXT_CLASSIFICATION: Adapter(answers.labels_per_text),
    contracts.IMAGE_TO_TEXT: Adapter(answers.caption),
    contracts.AUTOMATIC_SPEECH_RECOGNITION: Adapter(answers.transcript),
    contracts.TEXT_GENERATION: Adapter(answers.continuation, check=refuse_unused),
    contracts.CHAT_COMPLETION: Adapter(answers.chat_continuation),
}
# Contracts whose handler's result already has the Inference API's shape: they take DEFAULT.
AS_IS: frozenset[Contract] = frozenset({
    contracts.OBJECT_DETECTION,
    contracts.ZERO_SHOT_OBJECT_DETECTION,
    contracts.VISUAL_QUESTION_ANSWERING,
    contracts.DOCUMENT_QUESTION_ANSWERING,
    contracts.QUESTION_ANSWERING,
    contracts.TOKEN_CLASSIFICATION,
    contracts.SENTENCE_SIMILARITY,
    contracts.SUMMARIZATION,
    contracts.TRANSLATION,
    contracts.TEXT2TEXT_GENERATION,
    contracts.TABULAR_CLASSIFICATION,
})


def parse(task: Task, mimetype: str, raw: bytes, json_body: Any, accept: str = "*/*") -> HFRequest | None:
    """The request as the task's own fields, or None for a body in the controller's form."""
    adapter = ADAPTERS.get(task.contract, DEFAULT)
    if isinstance(json_body, dict) and "inputs" in json_body:
        request = from_envelope(task, json_body, accept or "*/*", adapter.renames)
        if adapter.check:
            adapter.check(request.parameters, json_body)
        return request
    if is_raw_file(mimetype, raw, json_body):
        return from_file(task, raw, accept or "*/*")
    return None


def respond(task: Task, result: Any, request: HFRequest) -> tuple[Any, str]:
    """`(content, mimetype)`: JSON-able data for application/json, bytes for any other type."""
    return ADAPTERS.get(task.contract, DEFAULT).answer(result, request)


class InferenceApiProtocol:
    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call | None:
        accept = request.headers.get("Accept", "*/*")
        parsed = parse(task, request.mimetype, request.body, json_body, accept)
        if parsed is None:
            return None

        def encode(result: Any) -> Encoded:
            content, mimetype = respond(task, result, parsed)
            return Encoded(content, mimetype)

        return Call(parsed.body, encode)
