"""The answer of an audio-to-audio model, and waveform tensors made into `Audio`.

One output is a bare `Audio`: the controller protocol files it under `path` and `generated audio`
(the key through which the controller chains audio into a later task, PROTOCOL.md). A separator's
speakers all come under `sources`, the first one (the same object, so the same file) also under
`path`; the Inference API answers one labelled blob per source.
"""

from __future__ import annotations

from typing import Any

from models_server.media import Audio


def audio_answer(sources: list[Audio]) -> Audio | dict[str, Any]:
    """The single output as is; several as `{"path": first, "sources": [all]}`."""
    if len(sources) == 1:
        return sources[0]
    return {"path": sources[0], "sources": list(sources)}


def clipped(waveform: Any, sample_rate: int) -> Audio:
    """A 1-D torch tensor as mono float32 `Audio`, clipped to [-1, 1]."""
    import numpy as np

    samples = waveform.detach().float().cpu().numpy().reshape(-1)
    return Audio(samples=np.clip(samples, -1.0, 1.0).astype(np.float32), sample_rate=sample_rate)
