"""Speech in OpenAI's formats, from fixed audio: every format holds the same sound, speed shortens it."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile

from models_server.media.types import Audio
from models_server.protocols.openai.speech import PCM_RATE, speech_bytes

RATE = 16000
TONE = Audio((0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32), RATE)  # 1 s


def decoded(data: bytes) -> tuple[float, np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        samples = np.concatenate(frames)
        if samples.dtype.kind == "i":  # wav and flac decode to 16-bit integers
            samples = samples / 32768.0
        return len(samples) / stream.rate, samples


# mp3 and AAC add up to three frames (1152 and 1024 samples: priming and the last frame's padding)
@pytest.mark.parametrize(("answer_format", "mimetype", "padding"), [
    ("mp3", "audio/mpeg", 3 * 1152 / RATE), ("opus", "audio/ogg", 0.03), ("aac", "audio/aac", 3 * 1024 / RATE),
    ("flac", "audio/flac", 0.0), ("wav", "audio/wav", 0.0),
])
def test_every_format_holds_the_whole_sound(answer_format, mimetype, padding):
    data, kind = speech_bytes(TONE, answer_format)
    seconds, samples = decoded(data)
    assert kind == mimetype
    assert 1.0 - 0.03 <= seconds <= 1.0 + padding + 1e-3
    assert 0.15 < float(np.sqrt(np.mean(np.square(samples)))) < 0.3  # the tone's loudness (0.3 / sqrt 2)


def test_pcm_is_bare_16_bit_samples_at_24_khz():
    data, kind = speech_bytes(TONE, "pcm")
    samples = np.frombuffer(data, dtype="<i2")
    assert kind == "audio/pcm"
    assert len(samples) == PCM_RATE
    assert abs(int(samples.max()) - round(0.3 * 32767)) < 400


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_speed_changes_the_length_and_keeps_the_pitch(speed):
    data, _ = speech_bytes(TONE, "wav", speed=speed)
    samples, rate = soundfile.read(io.BytesIO(data))
    assert len(samples) / rate == pytest.approx(1.0 / speed, rel=0.02)
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()] == pytest.approx(440, abs=5)
