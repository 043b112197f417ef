"""Speech recognition through HTTP on tiny weights: every id, every way audio arrives, the cap."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
from support.serving import tiny_settings
from support.speech_clip import speech_like_wav

from models_server.catalog import catalog_rows, standard
from models_server.http.app import create_app
from models_server.media import Audio
from models_server.tasks.transformers import speech

ASR_IDS = [row.id for row in standard.MODELS if row.task is speech.TRANSCRIBE]
# Every speech recogniser of the catalog (the session serves the full tier, lazy rows load on first use).
EVERY_ASR_ID = [row.id for row in catalog_rows() if row.task is speech.TRANSCRIBE]


def tone_bytes(seconds: float, rate: int, fmt: str = "WAV", subtype: str = "PCM_16", channels: int = 2) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([wave] * channels, axis=1), rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "audio/wav") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def check_transcript(response) -> str:
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert set(result) == {"text", "generated text"}
    assert isinstance(result["text"], str) and result["text"] == result["generated text"]
    return result["text"]


@pytest.mark.parametrize("model_id", ASR_IDS)
def test_each_recognizer_transcribes(client, model_id: str) -> None:
    body = {"audio_url": data_uri(tone_bytes(1.0, 44100))}  # stereo, 44.1 kHz: mixed and resampled
    check_transcript(client.post(f"/models/{model_id}", json=body))


@pytest.mark.parametrize("model_id", EVERY_ASR_ID)
def test_every_recognizer_hears_words_in_ordinary_speech(client, model_id: str) -> None:
    """The controller chains a transcript into text tasks: an empty one breaks the chain, so
    no recogniser answers empty (or blank) text for a speech-like clip, by either route."""
    clip = speech_like_wav(2.0)
    text = check_transcript(client.post(f"/models/{model_id}", json={"audio_url": data_uri(clip)}))
    assert text.strip(), model_id
    form = {"model": model_id, "file": (io.BytesIO(clip), "clip.wav"), "response_format": "verbose_json"}
    response = client.post("/v1/audio/transcriptions", data=form, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    timed = response.get_json()
    assert timed["text"].strip() and all(segment["text"].strip() for segment in timed["segments"]), timed


@pytest.mark.parametrize(("fmt", "subtype", "suffix"), [("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "ogg"),
                                                        ("MP3", "MPEG_LAYER_III", "mp3")])
def test_audio_from_a_public_path(client, public_dir: Path, fmt: str, subtype: str, suffix: str) -> None:
    (public_dir / "audios").mkdir(exist_ok=True)
    (public_dir / "audios" / f"tone.{suffix}").write_bytes(tone_bytes(1.0, 22050, fmt, subtype))
    body = {"audio_url": f"public/audios/tone.{suffix}"}
    check_transcript(client.post("/models/facebook/wav2vec2-base-960h", json=body))


def test_missing_audio_is_400(client) -> None:
    response = client.post("/models/openai/whisper-base", json={"text": "hello"})
    assert response.status_code == 400
    assert "audio_url" in response.get_json()["error"]["message"]


def test_duration_cap_is_400(served, tiny_root: Path) -> None:
    settings = tiny_settings(tiny_root, served.public_dir, limits={"max_audio_seconds": 2})
    client = create_app(settings, served.runtime).test_client()
    long = {"audio_url": data_uri(tone_bytes(3.0, 8000, channels=1))}
    response = client.post("/models/openai/whisper-base", json=long)
    assert response.status_code == 400
    assert "max_audio_seconds" in response.get_json()["error"]["message"]
    short = {"audio_url": data_uri(tone_bytes(1.5, 8000, channels=1))}
    check_transcript(client.post("/models/facebook/wav2vec2-base-960h", json=short))


def test_windows_cover_long_audio() -> None:
    rate = 16000
    samples = np.zeros(int(65 * rate), dtype=np.float32)
    pieces = speech.windows(samples, rate)
    assert [len(p) / rate for p in pieces] == [30.0, 30.0, 5.0]
    assert len(speech.windows(samples[: rate * 30 + 10], rate)) == 1  # a 0.6 ms tail is dropped
    assert len(speech.windows(samples[:100], rate)) == 1  # too short still goes through whole


def test_long_audio_is_transcribed_window_by_window() -> None:
    """Every 30 s window reaches the model, in order, and the texts are joined."""
    seen: list[list[int]] = []

    class Stub(speech.Recognizer):
        @property
        def sample_rate(self) -> int:
            return 16000

        def _transcribe(self, pieces, language):
            seen.append([len(p) for p in pieces])
            return [f"w{len(seen)}-{i}" for i in range(len(pieces))]

    recognizer = Stub(model=None, processor=None, ctc=False)
    audio = Audio(np.zeros(16000 * 155, dtype=np.float32), 16000)  # 6 windows: batches of 4 and 2
    assert recognizer(audio) == "w1-0 w1-1 w1-2 w1-3 w2-0 w2-1"
    assert seen == [[480000] * 4, [480000, 5 * 16000]]
