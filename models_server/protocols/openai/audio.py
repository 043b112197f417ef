"""`POST /v1/audio/transcriptions` and `/v1/audio/translations` on the ASR rows, and
`POST /v1/audio/speech` on the text-to-speech rows."""

from __future__ import annotations

from typing import Any

from models_server.errors import BadInput
from models_server.protocols.base import Call, Encoded, RawRequest
from models_server.protocols.openai.forms import choice, file, number, require_task, text, values_of
from models_server.protocols.openai.speech import SPEECH_FORMATS, speaker_of, speech_bytes
from models_server.tasks.base import Task
from models_server.tasks.transformers.transcripts import TIMED_TRANSCRIPT

TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
PLAIN = "text/plain"


class TranscriptionProtocol:
    """`translate`: Whisper's translation into English (the translations route)."""

    def __init__(self, translate: bool) -> None:
        self.translate = translate
        self.route = "/v1/audio/translations" if translate else "/v1/audio/transcriptions"
        self.tasks = ("automatic-speech-recognition",)

    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call:
        require_task(task, request, self.tasks, self.route)
        values = values_of(request, json_body)
        audio = file(values, "file")
        answer_format = choice(values, "response_format", TRANSCRIPT_FORMATS, "json")
        granularities = values.get("timestamp_granularities") or []
        if "word" in (granularities if isinstance(granularities, list) else [granularities]):
            raise BadInput("word timestamps are not served; ask for segment timestamps",
                           param="timestamp_granularities")
        body = {"audio": audio, "prompt": text(values, "prompt") or None, "translate": self.translate,
                "language": None if self.translate else text(values, "language") or None}
        task_name = "translate" if self.translate else "transcribe"

        def encode(result: dict[str, Any]) -> Encoded:
            return transcript_answer(result, answer_format, task_name)

        return Call(body, encode, task=TIMED_TRANSCRIPT)


def transcript_answer(result: dict[str, Any], answer_format: str, task_name: str) -> Encoded:
    segments = result["segments"]
    if answer_format == "text":
        return Encoded((result["text"] + "\n").encode(), PLAIN)
    if answer_format == "srt":
        return Encoded("\n".join(f"{index}\n{_clock(item['start'], ',')} --> {_clock(item['end'], ',')}\n"
                                 f"{item['text']}\n" for index, item in enumerate(segments, 1)).encode(), PLAIN)
    if answer_format == "vtt":
        cues = "".join(f"{_clock(item['start'], '.')} --> {_clock(item['end'], '.')}\n{item['text']}\n\n"
                       for item in segments)
        return Encoded(f"WEBVTT\n\n{cues}".encode(), "text/vtt")
    if answer_format == "verbose_json":
        return Encoded({
            "task": task_name, "language": result["language"] or "unknown", "duration": result["duration"],
            "text": result["text"],
            "segments": [{"id": index, "seek": 0, "start": item["start"], "end": item["end"], "text": item["text"],
                          "tokens": [], "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0,
                          "no_speech_prob": 0.0} for index, item in enumerate(segments)],
        })
    return Encoded({"text": result["text"]})


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


class SpeechProtocol:
    route = "/v1/audio/speech"
    tasks = ("text-to-speech",)

    def decode(self, task: Task, request: RawRequest, json_body: Any) -> Call:
        require_task(task, request, self.tasks, self.route)
        values = values_of(request, json_body)
        answer_format = choice(values, "response_format", SPEECH_FORMATS, "mp3")
        speed = number(values, "speed")
        if speed is not None and not 0.25 <= speed <= 4.0:
            raise BadInput("'speed' must be between 0.25 and 4.0", param="speed")
        body = {"text": text(values, "input", required=True)}
        speaker = speaker_of(text(values, "voice"))
        if speaker is not None and any(field.name == "speaker" for field in task.params):
            body["speaker"] = speaker  # see speech.py: which voices a model honours

        def encode(result: Any) -> Encoded:
            return Encoded(*speech_bytes(result, answer_format, speed or 1.0))

        return Call(body, encode)
