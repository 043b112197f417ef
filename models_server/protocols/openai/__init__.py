"""OpenAI's API on the served models: each `/v1/...` route is one protocol (decode/encode pair).

A route names its protocol in `RawRequest.protocol`; the protocol reads OpenAI's body (JSON or
a multipart form) into the fields of the model's task, refuses a model of another task, and
shapes the handler's result as OpenAI answers it.
"""

from __future__ import annotations

from models_server.protocols.openai.audio import SpeechProtocol, TranscriptionProtocol
from models_server.protocols.openai.chat import ChatProtocol
from models_server.protocols.openai.embeddings import EmbeddingsProtocol
from models_server.protocols.openai.forms import OpenAIProtocol, requested_model
from models_server.protocols.openai.images import ImagesProtocol

__all__ = ["OPENAI_PROTOCOLS", "OpenAIProtocol", "requested_model"]

# name (RawRequest.protocol) -> the protocol of one route
OPENAI_PROTOCOLS: dict[str, OpenAIProtocol] = {
    "openai.embeddings": EmbeddingsProtocol(),
    "openai.transcriptions": TranscriptionProtocol(translate=False),
    "openai.translations": TranscriptionProtocol(translate=True),
    "openai.speech": SpeechProtocol(),
    "openai.chat": ChatProtocol(chat=True),
    "openai.completions": ChatProtocol(chat=False),
    "openai.images.generations": ImagesProtocol("/v1/images/generations", ("text-to-image",)),
    "openai.images.edits": ImagesProtocol("/v1/images/edits", ("controlnet-image-generation", "image-to-image")),
    "openai.images.variations": ImagesProtocol("/v1/images/variations", ("image-to-image",), prompted=False),
}
