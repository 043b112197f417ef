"""Decoding audio resources into mono waveforms, and resampling them to a model's rate.

libsndfile (through soundfile) reads wav, flac, ogg (vorbis, opus) and mp3 from memory.
Containers it cannot read (m4a/aac, webm) go through PyAV's ffmpeg when PyAV is
installed. The duration cap is checked from the header before decoding, so an hour-long
upload is refused without spending memory on it, and again after decoding for formats
whose header does not say.
"""

from __future__ import annotations

import io

import numpy as np

from models_server.errors import BadInput
from models_server.media.types import Audio

UNKNOWN_FORMAT = "the data is not audio in a format this server reads (wav, flac, ogg, mp3, m4a, webm) or is corrupt"


def decode_audio(data: bytes, max_seconds: float) -> Audio:
    """Mono float32 samples at the file's own rate; refuses audio longer than `max_seconds`."""
    if not data:
        raise BadInput("cannot decode audio: the resource is empty")
    audio = _decode_soundfile(data, max_seconds)
    if audio is None:
        audio = _decode_av(data)
    check_duration(audio.seconds, max_seconds)
    return audio


def check_duration(seconds: float, max_seconds: float) -> None:
    if seconds > max_seconds:
        raise BadInput(
            f"audio is {seconds:.1f} s long; the limit max_audio_seconds is {max_seconds:g} s"
        )


def resample(audio: Audio, rate: int) -> Audio:
    """The same sound at `rate` Hz (soxr's high-quality filter); returns `audio` if already there."""
    if audio.sample_rate == rate:
        return audio
    import soxr

    samples = soxr.resample(audio.samples, audio.sample_rate, rate, quality="HQ")
    return Audio(samples=np.ascontiguousarray(samples, dtype=np.float32), sample_rate=rate)


def mono(samples: np.ndarray) -> np.ndarray:
    """Channels (frames, channels) mixed down to one float32 channel by their mean."""
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return np.ascontiguousarray(samples, dtype=np.float32)


def _decode_soundfile(data: bytes, max_seconds: float) -> Audio | None:
    """Audio via libsndfile, or None when libsndfile does not know the format."""
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(data))
    except soundfile.LibsndfileError:
        return None
    if info.samplerate > 0 and info.frames > 0:
        check_duration(info.frames / info.samplerate, max_seconds)
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except soundfile.LibsndfileError:
        raise BadInput(f"cannot decode audio: the {info.format} data is truncated or corrupt") from None
    if len(samples) == 0:
        raise BadInput("cannot decode audio: it holds no samples")
    return Audio(samples=mono(samples), sample_rate=int(rate))


def _decode_av(data: bytes) -> Audio:
    """Audio via ffmpeg (PyAV) for containers libsndfile does not read, mixed to mono by ffmpeg."""
    try:
        import av
    except ImportError:
        raise BadInput("cannot decode audio: not wav, flac, ogg or mp3 (m4a and webm need PyAV)") from None
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                raise BadInput("cannot decode audio: the file has no audio stream")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            to_mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = [
                out.to_ndarray().reshape(-1)
                for frame in container.decode(stream)
                for out in to_mono.resample(frame)
            ]
            chunks += [out.to_ndarray().reshape(-1) for out in to_mono.resample(None)]
    except av.error.InvalidDataError:
        raise BadInput(f"cannot decode audio: {UNKNOWN_FORMAT}") from None
    except av.error.FFmpegError:  # ffmpeg's messages carry its error numbers and "<none>" file names
        raise BadInput("cannot decode audio: the data is truncated or corrupt") from None
    if not chunks:
        raise BadInput("cannot decode audio: it holds no samples")
    return Audio(samples=mono(np.concatenate(chunks)), sample_rate=int(rate))
