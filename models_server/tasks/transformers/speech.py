"""Automatic speech recognition: Whisper and SpeechT5 (generative), wav2vec2 (CTC).

Audio arrives as mono float32 at its own rate and is resampled to the model's. Long audio
is cut into 30 s windows, transcribed window by window in small batches, and the texts
joined: Whisper sees at most 30 s at a time anyway, and the windows keep memory bounded
for the others. A word cut by a window edge may be misheard; nothing is truncated. Each batch
done is reported as progress (in windows), where a cancelled request stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models_server.media.audio import resample
from models_server.progress import report_progress
from models_server.tasks import contracts
from models_server.tasks.base import Task
from models_server.tasks.transformers.hf_models import load_pretrained, to_model

if TYPE_CHECKING:
    import numpy as np

    from models_server.media import Audio
    from models_server.tasks.loading import LoadContext

WINDOW_SECONDS = 30.0
BATCH = 4


def windows(samples: np.ndarray, rate: int, seconds: float = WINDOW_SECONDS) -> list[np.ndarray]:
    """Consecutive pieces of at most `seconds`; a trailing piece under 0.1 s joins nothing (dropped)."""
    size = int(seconds * rate)
    pieces = [samples[i : i + size] for i in range(0, max(len(samples), 1), size)]
    return [piece for piece in pieces if len(piece) >= rate // 10] or [samples]


@dataclass
class Recognizer:
    model: Any
    processor: Any
    ctc: bool

    @property
    def sample_rate(self) -> int:
        return int(self.processor.feature_extractor.sampling_rate)

    def __call__(self, audio: Audio, language: str | None = None) -> str:
        audio = resample(audio, self.sample_rate)
        pieces = windows(audio.samples, self.sample_rate)
        texts: list[str] = []
        for start in range(0, len(pieces), BATCH):
            texts += self._transcribe(pieces[start : start + BATCH], language)
            report_progress(min(start + BATCH, len(pieces)), len(pieces))
        return " ".join(text.strip() for text in texts if text.strip())

    def _transcribe(self, pieces: list[np.ndarray], language: str | None) -> list[str]:
        import torch

        # Whisper's encoder takes exactly 30 s of features; the others take the longest piece.
        padding = "max_length" if self.whisper else True
        inputs = self.processor(
            audio=pieces, sampling_rate=self.sample_rate, return_tensors="pt", padding=padding
        )
        inputs = to_model(inputs, self.model)
        with torch.inference_mode():
            if self.ctc:
                ids = self.model(**inputs).logits.argmax(-1)
            else:
                ids = self.model.generate(**inputs, **self._generate_options(language))
        return self.processor.batch_decode(ids, skip_special_tokens=True)

    @property
    def whisper(self) -> bool:
        return self.model.config.model_type == "whisper"

    def _generate_options(self, language: str | None) -> dict[str, Any]:
        if not self.whisper:
            return {}
        return {"task": "transcribe", "language": language} if language else {"task": "transcribe"}


def load_whisper(ctx: LoadContext) -> Recognizer:
    return Recognizer(*load_pretrained(ctx, "WhisperForConditionalGeneration", "AutoProcessor"), ctc=False)


def load_speech_to_text(ctx: LoadContext) -> Recognizer:
    return Recognizer(*load_pretrained(ctx, "AutoModelForSpeechSeq2Seq", "AutoProcessor"), ctc=False)


@dataclass
class CtcProcessor:
    """A CTC model's feature extractor and tokenizer: the model's argmax is decoded greedily.

    The two parts, not the repo's processor: a repo that ships an n-gram language model names
    `Wav2Vec2ProcessorWithLM` (jonatasgrosman/wav2vec2-large-xlsr-53-english, its `language_model/`
    beside the model), which needs pyctcdecode and kenlm and decodes logits by beam search. Every
    CTC repo has both parts; with a language model or without, they read the same.
    """

    feature_extractor: Any
    tokenizer: Any

    def __call__(self, audio: Any, **options: Any) -> Any:
        return self.feature_extractor(audio, **options)

    def batch_decode(self, ids: Any, **options: Any) -> list[str]:
        return self.tokenizer.batch_decode(ids, **options)


def load_ctc(ctx: LoadContext) -> Recognizer:
    import transformers

    model, _ = load_pretrained(ctx, "AutoModelForCTC", None)
    folder = ctx.weight_dirs[0]
    processor = CtcProcessor(transformers.AutoFeatureExtractor.from_pretrained(folder, local_files_only=True),
                             transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True))
    return Recognizer(model, processor, ctc=True)


def transcribe(model: Recognizer, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, str]:
    """`{"text", "generated text"}`: the same transcript under the ASR key and the key the
    controller chains into later tasks."""
    text = model(inputs["audio_url"], params["language"])
    return {"text": text, "generated text": text}


TRANSCRIBE = Task(contracts.AUTOMATIC_SPEECH_RECOGNITION, transcribe)
