"""Encoding `Video` frames into an H.264 mp4 that browsers play, in-process with PyAV.

PyAV's wheels bundle FFmpeg with libx264, so no ffmpeg binary has to be installed or found.
yuv420p is the pixel format every browser decodes; it needs even frame sizes, so odd ones
are padded by one row or column (repeating the edge) rather than scaled.
"""

from __future__ import annotations

from fractions import Fraction
from typing import BinaryIO

import numpy as np

from models_server.media.types import Video

CODEC = "libx264"
PIXEL_FORMAT = "yuv420p"


def write_mp4(video: Video, fileobj: BinaryIO) -> None:
    """Write `video` to `fileobj` (opened for binary writing) as H.264 in an mp4 container."""
    import av

    if not video.frames:
        raise ValueError("a video needs at least one frame")
    frames = [_even_sized(np.asarray(frame, dtype=np.uint8)) for frame in video.frames]
    height, width = frames[0].shape[:2]
    with av.open(fileobj, mode="w", format="mp4") as container:
        stream = container.add_stream(CODEC, rate=Fraction(video.fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, PIXEL_FORMAT
        stream.options = {"crf": "20", "preset": "medium"}
        for array in frames:
            if array.shape[:2] != (height, width):
                raise ValueError(f"frames differ in size: {array.shape[:2]} after {(height, width)}")
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())  # flush the frames the encoder still holds


def _even_sized(frame: np.ndarray) -> np.ndarray:
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be (height, width, 3) RGB arrays, got shape {frame.shape}")
    pad_rows, pad_cols = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_rows or pad_cols:
        frame = np.pad(frame, ((0, pad_rows), (0, pad_cols), (0, 0)), mode="edge")
    return np.ascontiguousarray(frame)
