"""A runtime of the SD rows under `diffusion.max_batch`, a spy on its pipeline calls, and
requests queued while the test holds the model's turn, so which requests share a batch is certain."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from models_server.catalog import served_rows
from models_server.http.app import create_app
from models_server.runtime import Runtime
from support.answers import post, written
from support.serving import model_replaced, tiny_settings
from support.waiting import wait_until

CONTROLNET = "lllyasviel/sd-controlnet-canny"
SD15 = "runwayml/stable-diffusion-v1-5"
STEPS = 2
MAX_LEVELS = 1  # of 255: the most a pixel may move in a batch (the CPU GEMM's rounding at a larger row count)


class Spy:
    """The pipeline, recording each call's number of prompts; `hold` keeps a call from starting;
    a call of more than `out_of_memory_above` prompts runs out of memory, as torch says it."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.calls: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.out_of_memory_above: int | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        prompt = kwargs.get("prompt")
        self.calls.append(len(prompt) if isinstance(prompt, list) else 1)
        self.entered.set()
        assert self.hold.wait(120), "the test never let the call go on"
        if self.out_of_memory_above is not None and self.calls[-1] > self.out_of_memory_above:
            raise torch.OutOfMemoryError("CUDA out of memory (the test's spy)")
        return self.pipeline(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipeline, name)


class Server:
    """The SD rows under `diffusion.max_batch`, its test client, and ways to queue requests."""

    def __init__(self, tiny_root: Path, public_dir: Path, max_batch: int, limits: dict[str, Any] | None = None,
                 **diffusion: Any) -> None:
        settings = tiny_settings(tiny_root, public_dir, diffusion={"max_batch": max_batch, **diffusion},
                                 limits=limits or {})
        self.runtime = Runtime(settings, [row for row in served_rows(settings) if row.id in (CONTROLNET, SD15)])
        self.runtime.load_all()
        self.app = create_app(settings, self.runtime)
        self.public_dir = public_dir

    def image(self, answer: dict[str, Any]) -> np.ndarray:
        with written(self.public_dir, answer["path"]) as image:
            return np.asarray(image.convert("RGB")).copy()

    def alone(self, model_id: str, body: dict[str, Any]) -> np.ndarray:
        return self.image(post(self.app.test_client(), model_id, body))

    @contextmanager
    def spied(self, model_id: str) -> Iterator[Spy]:
        spy = Spy(self.runtime.model(model_id))
        with model_replaced(self.runtime, model_id, spy):
            yield spy

    def queue(self, model_id: str, bodies: list[dict[str, Any]], ids: list[str] | None = None) -> None:
        """With the model's turn held by the caller: send every body, and wait until all wait for the turn."""
        self.answers: list[tuple[int, dict[str, Any]] | None] = [None] * len(bodies)
        board = self.runtime.admission.boards.of(model_id)

        def send(index: int) -> None:
            headers = {"X-Request-ID": ids[index]} if ids else {}
            response = self.app.test_client().post(f"/models/{model_id}", json=bodies[index], headers=headers)
            self.answers[index] = (response.status_code, response.get_json())

        self.threads = [threading.Thread(target=send, args=(index,)) for index in range(len(bodies))]
        for thread in self.threads:
            thread.start()
        wait_until(lambda: board.waiting() == len(bodies), 60, f"{len(bodies)} requests queued for {model_id}")

    def queued_together(self, model_id: str, bodies: list[dict[str, Any]], ids: list[str] | None = None) -> None:
        """Every body queued while the model's turn is held, then the turn let go."""
        with self.runtime.slots.run_lock(model_id):
            self.queue(model_id, bodies, ids)

    def answered(self) -> list[tuple[int, dict[str, Any]]]:
        for thread in self.threads:
            thread.join(timeout=120)
        assert all(answer is not None for answer in self.answers), "a request got no answer"
        return self.answers  # type: ignore[return-value]


def controlnet_body(control_ref: str, seed: int, **extra: Any) -> dict[str, Any]:
    return {"text": f"a house by a lake, take {seed}", "img_url": control_ref, "seed": seed,
            "num_inference_steps": STEPS, **extra}


def assert_same_image(batched: np.ndarray, alone: np.ndarray, what: str) -> None:
    """Within MAX_LEVELS of its image alone, and most values exactly equal."""
    assert batched.shape == alone.shape, what
    levels = np.abs(batched.astype(int) - alone.astype(int))
    assert levels.max() <= MAX_LEVELS, f"{what}: a pixel moved {levels.max()} levels from its image alone"
    assert (levels == 0).mean() > 0.95, f"{what}: only {(levels == 0).mean():.0%} of values equal its image alone"
