"""Shaping a handler's raw result (media still as objects) as the Inference API answers it.

Each function takes `(result, request)` and returns `(content, mimetype)`: JSON-able data
for `application/json`, bytes for any other type. Files travel inline, never under public/.
"""

from __future__ import annotations

import base64
from typing import Any

from PIL import Image

from models_server.media.encode import audio_bytes, image_bytes, video_bytes
from models_server.media.types import Audio, Segmentation, Video
from models_server.protocols.inference_api.requests import HFRequest

JSON = "application/json"
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}  # first: the default
AUDIO_TYPES = {"audio/flac": "FLAC", "audio/wav": "WAV", "audio/x-wav": "WAV", "audio/ogg": "OGG"}


def as_is(result: Any, request: HFRequest) -> tuple[Any, str]:
    """For results that already have the API's shape (QA, NER, detection, similarity, ...)."""
    return _inline_media(result), JSON


def labels(result: list[dict[str, Any]], request: HFRequest) -> tuple[Any, str]:
    return _top_k(result, request), JSON


def labels_per_text(result: list[dict[str, Any]], request: HFRequest) -> tuple[Any, str]:
    """One list of labels per input text, as the API answers text classification."""
    return [_top_k(result, request)], JSON


def caption(result: dict[str, str], request: HFRequest) -> tuple[Any, str]:
    return [{"generated_text": result["generated text"]}], JSON


def transcript(result: dict[str, str], request: HFRequest) -> tuple[Any, str]:
    return {"text": result["text"]}, JSON


def continuation(result: list[dict[str, str]], request: HFRequest) -> tuple[Any, str]:
    """The handler gives prompt + continuation; `return_full_text: false` asks for the new text only."""
    if request.parameters.get("return_full_text") is False:
        prompt = request.body.get("text", "")
        result = [{"generated_text": item["generated_text"].removeprefix(prompt)} for item in result]
    return result, JSON


def chat_continuation(result: dict[str, Any], request: HFRequest) -> tuple[Any, str]:
    """A chat model's continuation as text generation answers: after the prompt unless
    `return_full_text: false` (the API's default is the full text)."""
    full = request.parameters.get("return_full_text") is not False and request.body.get("prompt") is not None
    return [{"generated_text": (request.body["prompt"] if full else "") + result["text"]}], JSON


def image(result: Image.Image, request: HFRequest) -> tuple[bytes, str]:
    mimetype = request.best(list(IMAGE_TYPES))
    return image_bytes(result, IMAGE_TYPES[mimetype]), mimetype


def sound(result: Audio, request: HFRequest) -> tuple[bytes, str]:
    mimetype = request.best(list(AUDIO_TYPES))
    return audio_bytes(result, AUDIO_TYPES[mimetype]), mimetype


def video(result: Video, request: HFRequest) -> tuple[bytes, str]:
    return video_bytes(result), "video/mp4"


def depth(result: Image.Image, request: HFRequest) -> tuple[Any, str]:
    """The map as a file when the client asks for an image, else JSON with `depth` as base64 PNG.

    The API also gives `predicted_depth` (raw values); the handler returns only the 8-bit
    map, so that key is left out rather than made up.
    """
    if request.best([JSON, *IMAGE_TYPES]) != JSON:
        return image(result, request)
    return {"depth": _b64(image_bytes(result, "PNG"))}, JSON


def converted_voice(result: Audio | dict[str, Any], request: HFRequest) -> tuple[Any, str]:
    """The API's labelled base64 blobs, one per output (a separator's speakers are `label_0`,
    `label_1`, ...); a single output as a file when the client asks for audio."""
    outputs = result["sources"] if isinstance(result, dict) else [result]
    if len(outputs) == 1 and request.best([JSON, *AUDIO_TYPES]) != JSON:
        return sound(outputs[0], request)
    labels = ["response"] if len(outputs) == 1 else [f"label_{index}" for index in range(len(outputs))]
    answer = [
        {"label": label, "blob": _b64(audio_bytes(output, "FLAC")), "content-type": "audio/flac"}
        for label, output in zip(labels, outputs, strict=True)
    ]
    return answer, JSON


def segments(result: Segmentation, request: HFRequest) -> tuple[Any, str]:
    """`[{"label", "score", "mask"}]`, each mask a base64 PNG, as the API answers."""
    answer = [
        {"label": item["label"], "score": item["score"], "mask": _b64(image_bytes(mask, "PNG"))}
        for item, mask in zip(result.segments, result.masks, strict=True)
    ]
    return answer, JSON


def _top_k(result: list[dict[str, Any]], request: HFRequest) -> list[dict[str, Any]]:
    """Classifiers return every class; the API's `top_k` cuts the list here."""
    k = request.parameters.get("top_k")
    return result[:k] if isinstance(k, int) and not isinstance(k, bool) and k > 0 else result


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _inline_media(value: Any) -> Any:
    if isinstance(value, Image.Image):
        return _b64(image_bytes(value, "PNG"))
    if isinstance(value, Audio):
        return _b64(audio_bytes(value, "FLAC"))
    if isinstance(value, dict):
        return {key: _inline_media(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_inline_media(item) for item in value]
    return value
