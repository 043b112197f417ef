"""Media to bytes: the one place images, sounds and videos become file contents.

Used both for files written under public/ (the controller's answers) and for inline answers
(the Inference API's), so a host can encode where the model ran and write elsewhere.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from models_server.media.types import Audio, Video

Media = Image.Image | Audio | Video


@dataclass(frozen=True)
class EncodedFile:
    """A file's bytes and where it belongs: `public/<folder>/<name>.<extension>`."""

    folder: str
    extension: str
    data: bytes


def is_media(value: object) -> bool:
    return isinstance(value, (Image.Image, Audio, Video))


def image_bytes(picture: Image.Image, image_format: str = "PNG", compress_level: int | None = None) -> bytes:
    if image_format == "JPEG" and picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    buffer = io.BytesIO()
    options = {} if compress_level is None else {"compress_level": compress_level}
    picture.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def audio_bytes(audio: Audio, audio_format: str = "WAV") -> bytes:
    import soundfile

    buffer = io.BytesIO()
    subtype = "VORBIS" if audio_format == "OGG" else "PCM_16"
    soundfile.write(buffer, audio.samples, audio.sample_rate, format=audio_format, subtype=subtype)
    return buffer.getvalue()


def video_bytes(video: Video) -> bytes:
    from models_server.media.video import write_mp4

    buffer = io.BytesIO()
    write_mp4(video, buffer)
    return buffer.getvalue()


def encode_file(media: Media) -> EncodedFile:
    """The file the controller gets for a media result: PNG, 16-bit WAV or H.264 mp4."""
    if isinstance(media, Image.Image):
        # level 1: 2-3x faster than the default 6 for files that stay on a local disk
        return EncodedFile("images", "png", image_bytes(media, "PNG", compress_level=1))
    if isinstance(media, Audio):
        return EncodedFile("audios", "wav", audio_bytes(media, "WAV"))
    return EncodedFile("videos", "mp4", video_bytes(media))


def compressed_audio_bytes(audio: Audio, container: str, codec: str) -> bytes:
    """Audio through PyAV's ffmpeg encoders (mp3, opus, aac): mono, at a rate the codec accepts."""
    import av
    import numpy as np

    from models_server.media.audio import resample

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=_codec_rate(codec, audio.sample_rate))
        stream.layout = "mono"
        audio = resample(audio, stream.rate)
        samples = np.clip(audio.samples, -1.0, 1.0).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = audio.sample_rate
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


def _codec_rate(codec: str, rate: int) -> int:
    """Opus encodes at 48 kHz only; mp3 and aac at the usual rates from 8 kHz up."""
    if codec == "libopus":
        return 48000
    usual = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    return rate if rate in usual else min(usual, key=lambda candidate: abs(candidate - rate))
