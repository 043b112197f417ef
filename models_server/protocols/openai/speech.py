"""Speech as OpenAI sends it: mp3 (its default), opus, aac, flac, wav or raw pcm, at a speed.

`voice` picks a speaker where the model has several (SpeechT5 speaks as any CMU ARCTIC speaker
whose x-vector it has: OpenAI's voice names map onto them by sex and register, and a speaker's own
name works too); a voice it does not know, and any voice on a one-speaker model, speaks with the
model's default speaker.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models_server.media.encode import audio_bytes, compressed_audio_bytes
from models_server.media.types import Audio

PCM_RATE = 24000  # OpenAI's pcm: 24 kHz, 16-bit signed little-endian, no header
COMPRESSED = {"mp3": ("mp3", "libmp3lame", "audio/mpeg"), "opus": ("ogg", "libopus", "audio/ogg"),
              "aac": ("adts", "aac", "audio/aac")}
SPEECH_FORMATS = (*COMPRESSED, "flac", "wav", "pcm")
VOICES = {"alloy": "slt", "coral": "slt", "nova": "clb", "sage": "clb", "shimmer": "clb", "echo": "bdl",
          "ash": "bdl", "onyx": "rms", "ballad": "rms", "fable": "awb", "verse": "jmk"}
ARCTIC = frozenset(VOICES.values()) | {"ksp"}


def speaker_of(voice: str | None) -> str | None:
    """The CMU ARCTIC speaker a voice names, or None for the model's default speaker."""
    if voice is None:
        return None
    return VOICES.get(voice.lower()) or (voice if voice in ARCTIC else None)


def speech_bytes(audio: Audio, answer_format: str, speed: float = 1.0) -> tuple[bytes, str]:
    """`(bytes, mimetype)` of the speech, `speed` times as fast at the same pitch."""
    if speed != 1.0:
        audio = _faster(audio, speed)
    if answer_format in COMPRESSED:
        container, codec, mimetype = COMPRESSED[answer_format]
        return compressed_audio_bytes(audio, container, codec), mimetype
    if answer_format == "flac":
        return audio_bytes(audio, "FLAC"), "audio/flac"
    if answer_format == "wav":
        return audio_bytes(audio, "WAV"), "audio/wav"
    from models_server.media.audio import resample

    samples = np.clip(resample(audio, PCM_RATE).samples, -1.0, 1.0)
    return (samples * 32767).astype("<i2").tobytes(), "audio/pcm"


def _faster(audio: Audio, speed: float) -> Audio:
    """Time-stretched by a phase vocoder (librosa): shorter or longer, the voice's pitch kept."""
    import librosa

    stretched: Any = librosa.effects.time_stretch(audio.samples.astype(np.float32), rate=speed)
    return Audio(np.asarray(stretched, dtype=np.float32), audio.sample_rate)
