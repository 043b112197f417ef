"""Transcripts with times: the text of an ASR model cut into segments, each with its start and end.

Runs on the recognizers `tasks/speech.py` loads. Whisper gives its own segment times (its
timestamp tokens), takes a prompt and a language, and translates into English; the other
models give text per 30 s window, and each window is a segment with the window's times. Each
window done is reported as progress, where a cancelled request stops.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput
from models_server.media.audio import resample
from models_server.media.types import Audio
from models_server.progress import report_progress
from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.transformers.speech import WINDOW_SECONDS, Recognizer, windows

if TYPE_CHECKING:
    import numpy as np

LANGUAGE_TOKEN = re.compile(r"<\|([a-z]{2,3})\|>")


def transcribe_segments(model: Recognizer, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """`{"text", "language", "duration", "segments": [{"start", "end", "text"}]}`, seconds from the start.

    `language` is what was asked for, else what Whisper detected (Whisper's as its name: "english"),
    else None.
    """
    audio = resample(inputs["audio"], model.sample_rate)
    if not model.whisper and params["translate"]:
        raise BadInput("this model transcribes only; translation into English needs a Whisper model", param="model")
    segments: list[dict[str, Any]] = []
    language = params["language"]
    pieces = windows(audio.samples, model.sample_rate)
    for index, piece in enumerate(pieces):
        offset = index * WINDOW_SECONDS
        if model.whisper:
            found, detected = _whisper_window(model, piece, params)
            language = language or detected
        else:
            text = model(Audio(piece, model.sample_rate))  # one window: its own text
            found = [{"start": 0.0, "end": len(piece) / model.sample_rate, "text": text}]
        segments += [{**item, "start": item["start"] + offset, "end": item["end"] + offset}
                     for item in found if item["text"].strip()]
        report_progress(index + 1, len(pieces))
    text = " ".join(item["text"].strip() for item in segments)
    if language and model.whisper:
        from transformers.models.whisper.tokenization_whisper import LANGUAGES

        language = LANGUAGES.get(language, language)
    return {"text": text, "language": language, "duration": len(audio.samples) / audio.sample_rate,
            "segments": [{**item, "text": item["text"].strip()} for item in segments]}


def _whisper_window(model: Recognizer, piece: np.ndarray,
                    params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The window's segments by Whisper's timestamp tokens, and the language token it chose."""
    import torch

    from models_server.tasks.transformers.hf_models import to_model

    features = to_model(model.processor(audio=[piece], sampling_rate=model.sample_rate, return_tensors="pt",
                                        padding="max_length"), model.model)
    options: dict[str, Any] = {"task": "translate" if params["translate"] else "transcribe", "return_timestamps": True}
    if params["language"]:
        options["language"] = params["language"]
    if params["prompt"]:
        options["prompt_ids"] = torch.as_tensor(_prompt_ids(model.processor.tokenizer, params["prompt"]),
                                                device=model.model.device)
    with torch.inference_mode():
        ids = model.model.generate(**features, **options)
    tokenizer = model.processor.tokenizer
    decoded = tokenizer.decode(ids[0], output_offsets=True, skip_special_tokens=True)
    detected = LANGUAGE_TOKEN.search(tokenizer.decode(ids[0], skip_special_tokens=False))
    length = len(piece) / model.sample_rate
    found = [{"start": min(float(start), length), "end": min(float(end or length), length), "text": item["text"]}
             for item in decoded.get("offsets", []) for start, end in [item["timestamp"]]]
    if not found:  # no timestamp tokens came out: the window is one segment
        found = [{"start": 0.0, "end": length, "text": decoded["text"]}]
    return found, detected.group(1) if detected else None


def _prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """`<|startofprev|>` and the prompt's tokens, as Whisper reads earlier text; tokens that are
    special to the tokenizer are left out (the tokenizer's own `get_prompt_ids` refuses them)."""
    special = set(tokenizer.all_special_ids)
    ids = tokenizer(" " + prompt.strip(), add_special_tokens=False).input_ids
    return [tokenizer.convert_tokens_to_ids("<|startofprev|>"), *(id_ for id_ in ids if id_ not in special)]


TIMED_TRANSCRIPT = Task(contracts.TIMED_TRANSCRIPTION, transcribe_segments)
