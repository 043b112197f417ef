"""The answer of an audio-to-audio model, and waveform tensors made into `Audio`.

The controller reads an audio-to-audio answer's file under `path` and chains it into a later
task only through `generated audio` (PROTOCOL.md): both keys carry the same sound. A
separator's speakers all come under `sources`, the first one also under those two keys.
"""

from __future__ import annotations

from typing import Any

from models_server.media import Audio


def audio_answer(sources: list[Audio]) -> dict[str, Any]:
    """`{"path", "generated audio"}` for the (first) output; `sources` too when there are several."""
    first = sources[0]
    answer: dict[str, Any] = {"path": first, "generated audio": first}
    if len(sources) > 1:
        answer["sources"] = list(sources)
    return answer


def clipped(waveform: Any, sample_rate: int) -> Audio:
    """A 1-D torch tensor as mono float32 `Audio`, clipped to [-1, 1]."""
    import numpy as np

    samples = waveform.detach().float().cpu().numpy().reshape(-1)
    return Audio(samples=np.clip(samples, -1.0, 1.0).astype(np.float32), sample_rate=sample_rate)
