"""Plain containers for audio and video, so handlers return media without writing files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at `sample_rate` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Segmentation:
    """Segments of an image: an overlay for people, and one mask per segment for programs.

    The controller gets `{"path": <overlay>, "segments": [...]}`; Hugging Face API clients get
    each segment with its own mask. `masks[i]` is an "L" image, 255 inside `segments[i]`.
    """

    overlay: Any
    segments: list[dict[str, Any]]
    masks: list[Any]


@dataclass(frozen=True)
class Video:
    """Frames as uint8 RGB arrays of one size (height, width, 3), played at `fps`."""

    frames: list[np.ndarray]
    fps: float = 8.0
