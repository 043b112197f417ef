"""Audio classification (speech emotion, keyword spotting) through transformers' pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from models_server.tasks import contracts
from models_server.tasks.base import Task

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext


def load_audio_classification(ctx: LoadContext) -> Any:
    from transformers import pipeline

    return pipeline("audio-classification", model=str(ctx.weight_dirs[0]), device=ctx.device, dtype=ctx.dtype)


def classify_audio(pipe: Any, inputs: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """`[{"label", "score"}]` for every class, most likely first.

    The waveform is brought to the model's rate here, so the pipeline never resamples.
    """
    from models_server.media.audio import resample

    audio = resample(inputs["audio"], pipe.feature_extractor.sampling_rate)
    every_class = len(pipe.model.config.id2label)
    results = pipe({"raw": audio.samples, "sampling_rate": audio.sample_rate}, top_k=every_class)
    return [{"label": r["label"], "score": float(r["score"])} for r in results]


AUDIO_CLASSIFICATION = Task(contracts.AUDIO_CLASSIFICATION, classify_audio)
