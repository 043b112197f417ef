"""OpenAI's API on the served models: each `/v1/...` route is one protocol (decode/encode pair).

A route names its protocol in `RawRequest.protocol`; the protocol reads OpenAI's body (JSON or
a multipart form) into the fields of the model's task, refuses a model of another task, and
shapes the handler's result as OpenAI answers it.
"""

from __future__ import annotations

from models_server.protocols.base import RequestProtocol
from models_server.protocols.openai.audio import SpeechProtocol, TranscriptionProtocol
from models_server.protocols.openai.embeddings import EmbeddingsProtocol
from models_server.protocols.openai.forms import requested_model

__all__ = ["OPENAI_PROTOCOLS", "requested_model"]

OPENAI_PROTOCOLS: dict[str, RequestProtocol] = {
    "openai.embeddings": EmbeddingsProtocol(),
    "openai.transcriptions": TranscriptionProtocol(translate=False),
    "openai.translations": TranscriptionProtocol(translate=True),
    "openai.speech": SpeechProtocol(),
}
