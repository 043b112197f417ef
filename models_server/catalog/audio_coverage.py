"""The controller's audio candidates (issue 12): speech recognition, audio classification,
audio-to-audio (enhancement, separation) and text-to-speech.

One generic loader per task and library, the architecture read from each repo's own files
(transformers' config.json, speechbrain's hyperparams.yaml, asteroid's serialized model
config, espnet's config.yaml), so a row is an id, a task and a family.

`fp16_bytes` per family:
- transformers: 2 bytes x the parameter count of the real architecture (its published
  dimensions instantiated on PyTorch's meta device);
- speechbrain, asteroid, espnet: half the size of the real checkpoint files on the Hub (they
  are stored in fp32), rounded; each figure's source is in a comment beside it.
Candidates past the fifth of their task, and anything over ~1 GB in fp16, are lazy: they
answer `loaded: true` and load on first use.
"""

from __future__ import annotations

from models_server.catalog import ModelSpec, Repo
from models_server.tasks import audio_classification as audio_cls
from models_server.tasks import speech
from models_server.tasks.base import Task
from models_server.tasks.loading import Loader

ONE_GB = 1_000_000_000
EAGER_CANDIDATES = 5  # the first five of each task's ten load at startup (when small enough)

_TASKS: dict[str, tuple[Task, Loader, str]] = {
    # key: (task, loader, framework)
    "whisper": (speech.TRANSCRIBE, speech.load_whisper, "transformers"),
    "ctc": (speech.TRANSCRIBE, speech.load_ctc, "transformers"),
    "classify": (audio_cls.AUDIO_CLASSIFICATION, audio_cls.load_audio_classification, "transformers"),
}

# (controller's id, task key, family, place in the controller's first ten, fp16 bytes, extra weight repos)
_ROWS: tuple[tuple[str, str, str, int, int], ...] = (
    # automatic-speech-recognition (4 and 6 are in catalog/standard.py; 3 and 10 are pyannote pipelines)
    ("openai/whisper-large-v2", "whisper", "whisper", 1, 3_086_609_920),
    ("openai/whisper-large", "whisper", "whisper", 2, 3_086_609_920),
    ("facebook/wav2vec2-large-960h-lv60-self", "ctc", "wav2vec2-large-ctc", 5, 630_943_040),
    ("openai/whisper-tiny", "whisper", "whisper", 7, 75_521_280),
    ("jonatasgrosman/wav2vec2-large-xlsr-53-english", "ctc", "wav2vec2-large-ctc", 8, 630_945_090),
    ("openai/whisper-medium", "whisper", "whisper", 9, 1_527_715_840),
    # audio-classification (1 is in catalog/full.py)
    ("MIT/ast-finetuned-audioset-10-10-0.4593", "classify", "ast-classification", 8, 173_188_126),
    ("superb/hubert-base-superb-er", "classify", "hubert-classification", 10, 189_139_234),
)


def _spec(model_id: str, task_key: str, family: str, place: int, fp16_bytes: int) -> ModelSpec:
    task, loader, framework = _TASKS[task_key]
    return ModelSpec(
        model_id, task, "full", (Repo(model_id, family),), loader, framework=framework,
        preload=place <= EAGER_CANDIDATES and fp16_bytes < ONE_GB, fp16_bytes=fp16_bytes,
    )


MODELS: list[ModelSpec] = [_spec(*row) for row in _ROWS]
