"""Models that share a loaded component give the same answers alone and alongside each other.

Besides the SD base (tests/integration/test_controlnet_concurrency.py), three components serve two rows each:
the HED network (hed-control, scribble-control), the DPT depth model and its image processor
(depth-control, normal-control) and the SpeechT5 HiFi-GAN vocoder (text-to-speech, voice
conversion). Their calls change nothing in them (no per-call settings, no caches; checked in
their sources), unlike the fast tokenizer the SD pipelines shared. These tests hold them to
that: waves of all six rows at once, each answer the very file content its row gives alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import soundfile
from PIL import Image
from support.concurrent_clients import Answer, Request, post_together

WAVES = 3  # HED works at 384x384 on the CPU whatever the input: ~1.7 s of CPU per map


@pytest.fixture(scope="module")
def sharing_rows(served) -> dict[str, Request]:
    """One request per row that shares a component, on small inputs."""
    examples = served.public_dir / "examples"
    pattern = (np.indices((96, 128)).sum(axis=0) // 16 % 2 * 200).astype(np.uint8)
    Image.fromarray(pattern).convert("RGB").save(examples / "checks-128x96.png")
    rate = 16000
    t = np.arange(rate // 2) / rate
    soundfile.write(examples / "chirp.wav", 0.3 * np.sin(2 * np.pi * (200 + 400 * t) * t), rate)
    image = {"img_url": "public/examples/checks-128x96.png"}
    return {
        "hed-control": ("hed-control", image),
        "scribble-control": ("scribble-control", image),
        "depth-control": ("depth-control", image),
        "normal-control": ("normal-control", image),
        "text-to-speech": ("microsoft/speecht5_tts", {"text": "the old harbour at dawn"}),
        "voice conversion": ("microsoft/speecht5_vc", {"audio_url": "public/examples/chirp.wav"}),
    }


def content(served, answer: Answer) -> np.ndarray:
    """The pixels or samples of the file an answer names."""
    status, body = answer
    assert status == 200, body
    path = served.public_dir / body["path"].lstrip("/")
    if path.suffix == ".wav":
        samples, _ = soundfile.read(path, dtype="int16")
        return samples
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def test_rows_sharing_a_component_answer_the_same_alone_and_together(served, client, sharing_rows):
    names = list(sharing_rows)
    reference: dict[str, Any] = {}
    for name in names:
        model_id, body = sharing_rows[name]
        response = client.post(f"/models/{model_id}", json=body)
        reference[name] = content(served, (response.status_code, response.get_json()))
    for wave in range(WAVES):
        answers = post_together(served.app, [sharing_rows[name] for name in names])
        for name, answer in zip(names, answers, strict=True):
            assert np.array_equal(content(served, answer), reference[name]), (
                f"wave {wave}: {name} alongside the others differs from its answer alone"
            )
