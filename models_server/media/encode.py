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
