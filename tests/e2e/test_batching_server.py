"""Batching behind the guarded HTTP server on 127.0.0.1: the model's queue hands it a whole next
batch while one runs, so requests sent at once over HTTP meet on the model's board and run as one
call. The test holds the model's turn while they queue (an ordering, not a duration)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from support.batching import CONTROLNET, Server, assert_same_image, controlnet_body
from support.waiting import wait_until

from models_server.engines.local import serving_options
from models_server.http.model_queues import ModelQueues
from models_server.http.server import make_server

MAX_BATCH = 4


@pytest.fixture(scope="module")
def control_ref(public_dir: Path) -> str:
    edges = (np.random.default_rng(22).random((64, 64)) > 0.85).astype(np.uint8) * 255
    Image.fromarray(edges).convert("RGB").save(public_dir / "examples" / "batch-http-64.png")
    return "public/examples/batch-http-64.png"


def test_requests_sent_at_once_over_http_run_as_one_batch_each_with_its_own_image(tiny_root, public_dir,
                                                                                  control_ref):
    server = Server(tiny_root, public_dir, max_batch=MAX_BATCH)
    bodies = [controlnet_body(control_ref, seed) for seed in range(1, MAX_BATCH + 1)]
    references = [server.alone(CONTROLNET, body) for body in bodies]
    settings = server.runtime.settings
    http = make_server(server.app, "127.0.0.1", 0, serving_options(settings), ModelQueues.for_runtime(server.runtime))
    thread = threading.Thread(target=http.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{http.effective_port}/models/{CONTROLNET}"
    answers: list[requests.Response | None] = [None] * len(bodies)

    def send(index: int) -> None:
        answers[index] = requests.post(url, json=bodies[index], timeout=120)

    clients = [threading.Thread(target=send, args=(index,)) for index in range(len(bodies))]
    board = server.runtime.admission.boards.of(CONTROLNET)
    try:
        with server.spied(CONTROLNET) as spy:
            with server.runtime.slots.run_lock(CONTROLNET):
                for client in clients:
                    client.start()
                wait_until(lambda: board.waiting() == MAX_BATCH, 60, f"{MAX_BATCH} requests past the HTTP queue")
            for client in clients:
                client.join(timeout=120)
        assert spy.calls == [MAX_BATCH]
        for index, (answer, reference) in enumerate(zip(answers, references, strict=True)):
            assert answer is not None and answer.status_code == 200, answer and answer.text
            assert_same_image(server.image(answer.json()), reference, f"request {index} over HTTP")
    finally:
        http.close()
        thread.join(timeout=10)
