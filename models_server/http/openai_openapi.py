"""The `/v1` routes in the OpenAPI document: OpenAI's API on the served models.

Each route lists, as the `model` it accepts, the served ids of the tasks its protocol serves and
the aliases naming them; the bodies are OpenAI's, with what this server reads of them.
"""

from __future__ import annotations

from typing import Any

from models_server.catalog import ModelSpec
from models_server.config import Settings
from models_server.protocols.openai import OPENAI_PROTOCOLS

JSON, FORM = "application/json", "multipart/form-data"
STRING, NUMBER, INTEGER = {"type": "string"}, {"type": "number"}, {"type": "integer"}
OPENAI_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["message", "type"],
    "properties": {"message": STRING, "type": STRING, "param": {"type": ["string", "null"]},
                   "code": {"type": ["string", "null"]}}}}}
IMAGE_KNOBS = {"n": {"type": "integer", "minimum": 1, "maximum": 10},
               "size": {"type": "string", "pattern": "^(auto|[0-9]+x[0-9]+)$"},
               "response_format": {"enum": ["url", "b64_json"]}, "seed": INTEGER, "num_inference_steps": INTEGER,
               "guidance_scale": NUMBER, "negative_prompt": STRING}
FILE = {"type": "string", "format": "binary"}
# protocol name -> (summary, content type, properties beside `model`, required, answer's content types)
BODIES: dict[str, tuple[str, str, dict[str, Any], list[str], tuple[str, ...]]] = {
    "openai.embeddings": ("Embeddings of a string or a list of strings.", JSON, {
        "input": {"anyOf": [STRING, {"type": "array", "items": STRING}]},
        "encoding_format": {"enum": ["float", "base64"]}, "dimensions": INTEGER}, ["input"], (JSON,)),
    "openai.transcriptions": ("Transcribe an audio file.", FORM, {
        "file": FILE, "language": STRING, "prompt": STRING,
        "response_format": {"enum": ["json", "text", "srt", "verbose_json", "vtt"]}}, ["file"],
        (JSON, "text/plain", "text/vtt")),
    "openai.translations": ("Translate an audio file into English text (Whisper).", FORM, {
        "file": FILE, "prompt": STRING, "response_format": {"enum": ["json", "text", "srt", "verbose_json", "vtt"]}},
        ["file"], (JSON, "text/plain", "text/vtt")),
    "openai.speech": ("Speak a text; `voice` is accepted, each model has one speaker.", JSON, {
        "input": STRING, "voice": STRING, "speed": {"type": "number", "minimum": 0.25, "maximum": 4},
        "response_format": {"enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"]}}, ["input"],
        ("audio/mpeg", "audio/ogg", "audio/aac", "audio/flac", "audio/wav", "audio/pcm")),
    "openai.chat": ("Answer a conversation; `stream` sends server-sent events.", JSON, {
        "messages": {"type": "array", "items": {"type": "object"}}, "max_tokens": INTEGER,
        "max_completion_tokens": INTEGER, "temperature": NUMBER, "top_p": NUMBER, "n": INTEGER, "seed": INTEGER,
        "stop": {"anyOf": [STRING, {"type": "array", "items": STRING}]}, "stream": {"type": "boolean"}},
        ["messages"], (JSON, "text/event-stream")),
    "openai.completions": ("Continue a prompt; `stream` sends server-sent events.", JSON, {
        "prompt": STRING, "max_tokens": INTEGER, "temperature": NUMBER, "top_p": NUMBER, "n": INTEGER,
        "seed": INTEGER, "stop": {"anyOf": [STRING, {"type": "array", "items": STRING}]},
        "stream": {"type": "boolean"}}, ["prompt"], (JSON, "text/event-stream")),
    "openai.images.generations": ("Images from a prompt.", JSON, {"prompt": STRING, **IMAGE_KNOBS}, ["prompt"],
                                  (JSON,)),
    "openai.images.edits": ("Images from an uploaded image: a ControlNet's control map, or an image-to-image "
                            "model's source.", FORM, {"image": FILE, "prompt": STRING, **IMAGE_KNOBS},
                            ["image", "prompt"], (JSON,)),
    "openai.images.variations": ("Variations of an uploaded image.", FORM, {"image": FILE, **IMAGE_KNOBS},
                                 ["image"], (JSON,)),
}
ERRORS = {"400": "Bad input, or a model of another task.", "401": "No valid API key.",
          "404": "No such model.", "413": "The body is over max_body_bytes.",
          "503": "The model is loading or busy (see Retry-After)."}


def openai_paths(rows: list[ModelSpec], settings: Settings) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/v1/models": {"get": _get("openai.models", "Every served model and alias, as OpenAI lists models.")},
        "/v1/models/{model}": {"get": {**_get("openai.model", "One model or alias; ids may contain slashes."),
                                       "parameters": [{"name": "model", "in": "path", "required": True,
                                                       "schema": STRING}]}},
    }
    for name, protocol in OPENAI_PROTOCOLS.items():
        summary, content_type, properties, required, answers = BODIES[name]
        served = {model_id for row in rows if row.task.name in protocol.tasks for model_id in (row.id, *row.aliases)}
        ids = sorted(served | {alias for alias, target in settings.aliases.items() if target in served})
        schema = {"type": "object", "required": ["model", *required],
                  "properties": {"model": {"enum": ids} if ids else STRING, **properties}}
        paths[protocol.route] = {"post": {
            "operationId": name, "summary": f"{summary} Models of: {', '.join(protocol.tasks)}.", "tags": ["openai"],
            "requestBody": {"required": True, "content": {content_type: {"schema": schema}}},
            "responses": {"200": {"description": "OpenAI's answer.",
                                  "content": {kind: {"schema": {}} for kind in answers}}, **_errors()},
        }}
    return paths


def _get(operation_id: str, summary: str) -> dict[str, Any]:
    return {"operationId": operation_id, "summary": summary, "tags": ["openai"],
            "responses": {"200": {"description": summary, "content": {JSON: {"schema": {"type": "object"}}}},
                          **_errors()}}


def _errors() -> dict[str, Any]:
    return {status: {"description": meaning, "content": {JSON: {"schema": OPENAI_ERROR}}}
            for status, meaning in ERRORS.items()}
