"""Audio resources to mono waveforms: every format the controller may send, any rate, a cap."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from support.messages import assert_plain

from models_server.errors import BadInput
from models_server.media import Audio
from models_server.media.audio import decode_audio, resample

FORMATS = [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")]


def tone(seconds: float, rate: int, hz: float = 440.0, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.4 * np.sin(2 * np.pi * hz * t)
    # Opposite phases on two channels would cancel; a silent right channel halves the mix.
    return np.stack([wave, np.zeros_like(wave)][:channels], axis=1).astype(np.float32)


def encode(samples: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def dominant_hz(audio: Audio) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples))
    return float(np.fft.rfftfreq(len(audio.samples), 1 / audio.sample_rate)[spectrum.argmax()])


@pytest.mark.parametrize(("fmt", "subtype"), FORMATS)
def test_each_format_decodes_to_mono_float32(fmt: str, subtype: str) -> None:
    audio = decode_audio(encode(tone(1.0, 44100), 44100, fmt, subtype), max_seconds=600)
    assert audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert audio.sample_rate == 44100
    assert audio.seconds == pytest.approx(1.0, abs=0.06)  # mp3 adds encoder padding
    assert dominant_hz(audio) == pytest.approx(440, abs=3)
    assert 0.15 < np.abs(audio.samples).max() < 0.25  # the stereo pair was averaged


def test_mono_input_stays_as_is() -> None:
    samples = tone(0.5, 16000, channels=1)
    audio = decode_audio(encode(samples, 16000, "WAV", "FLOAT"), max_seconds=600)
    np.testing.assert_allclose(audio.samples, samples[:, 0])


def test_resample_keeps_duration_and_pitch() -> None:
    audio = decode_audio(encode(tone(1.0, 44100), 44100, "WAV", "PCM_16"), max_seconds=600)
    at_16k = resample(audio, 16000)
    assert at_16k.sample_rate == 16000 and len(at_16k.samples) == 16000
    assert at_16k.samples.dtype == np.float32
    assert dominant_hz(at_16k) == pytest.approx(440, abs=3)
    assert resample(at_16k, 16000) is at_16k


def test_duration_cap_refuses_before_decoding() -> None:
    data = encode(tone(3.0, 8000, channels=1), 8000, "FLAC", "PCM_16")
    with pytest.raises(BadInput, match="max_audio_seconds"):
        decode_audio(data, max_seconds=2.0)
    assert decode_audio(data, max_seconds=3.5).seconds == pytest.approx(3.0)


def _cut(fmt: str, subtype: str, keep: int) -> bytes:
    return encode(tone(1.0, 16000, channels=1), 16000, fmt, subtype)[:keep]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not audio at all" * 10,
        _cut("WAV", "PCM_16", 30),
        _cut("FLAC", "PCM_16", 100),
        _cut("OGG", "VORBIS", 200),
        _cut("MP3", "MPEG_LAYER_III", 100),
        b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\xff" * 40,
    ],
    ids=["empty", "garbage", "wav-cut", "flac-cut", "ogg-cut", "mp3-cut", "wav-bad-header"],
)
def test_unreadable_audio_is_bad_input_in_plain_words(data: bytes) -> None:
    """libsndfile and ffmpeg messages ("psf_fseek() failed", "[Errno 1094995529] ... '<none>'") stay inside."""
    with pytest.raises(BadInput, match="cannot decode audio") as raised:
        decode_audio(data, max_seconds=600)
    assert_plain(raised.value.message)


def test_m4a_goes_through_ffmpeg() -> None:
    import av
    buffer = io.BytesIO()
    samples = tone(1.0, 44100).T.copy()  # planar (channels, samples)
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100, layout="stereo")
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate = 44100
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    audio = decode_audio(buffer.getvalue(), max_seconds=600)
    assert audio.sample_rate == 44100 and audio.samples.ndim == 1
    assert audio.seconds == pytest.approx(1.0, abs=0.1)
    assert dominant_hz(audio) == pytest.approx(440, abs=5)
