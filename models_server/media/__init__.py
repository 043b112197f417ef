"""Turning request resources into images and waveforms, and outputs into files under public/."""

from models_server.media.types import Audio, Segmentation, Video

__all__ = ["Audio", "Segmentation", "Video"]
