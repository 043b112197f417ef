"""A real server on 127.0.0.1: status and other models answer while a generation runs.

The held request is proven to be inside the model (an event it sets) before the other calls
are made, and released only after they answered: ordering, not wall-clock thresholds.
"""

import threading

import requests
from support.serving import model_replaced

CONTROLNET = "lllyasviel/sd-controlnet-canny"


class HeldPipeline:
    """Wraps the loaded pipeline: signals when a generation starts, then waits to be released."""

    def __init__(self, pipeline):
        self._pipeline = pipeline
        self.started = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name):
        return getattr(self._pipeline, name)

    def __call__(self, *args, **kwargs):
        self.started.set()
        assert self.release.wait(timeout=60), "test never released the generation"
        return self._pipeline(*args, **kwargs)


def test_status_and_other_models_answer_while_a_generation_runs(served, live_server, photo_ref):
    runtime = served.runtime
    held = HeldPipeline(runtime.model(CONTROLNET))
    with model_replaced(runtime, CONTROLNET, held):
        _status_and_other_models_answer(runtime, held, live_server, photo_ref)


def _status_and_other_models_answer(runtime, held, live_server, photo_ref):
    outcome = {}

    def generate():
        body = {"img_url": photo_ref, "text": "a cat", "num_inference_steps": 2}
        outcome["response"] = requests.post(f"{live_server.url}/models/{CONTROLNET}", json=body, timeout=120)

    worker = threading.Thread(target=generate)
    worker.start()
    try:
        assert held.started.wait(timeout=60)
        assert runtime.slots.run_lock(CONTROLNET).locked()
        status = requests.get(f"{live_server.url}/status/{CONTROLNET}", timeout=10)
        assert status.status_code == 200
        assert status.json()["loaded"] is True and status.json()["queue"] == 1
        assert requests.get(f"{live_server.url}/running", timeout=10).status_code == 200
        assert requests.get(f"{live_server.url}/status", timeout=10).status_code == 200
        other = requests.post(f"{live_server.url}/models/canny-control", json={"img_url": photo_ref}, timeout=60)
        assert other.status_code == 200
        assert "response" not in outcome  # the generation is still held
    finally:
        held.release.set()
        worker.join(timeout=120)
    assert outcome["response"].status_code == 200
    assert outcome["response"].json()["path"].startswith("/images/")
    assert runtime.view(CONTROLNET).queue == 0 and not runtime.slots.run_lock(CONTROLNET).locked()


def test_a_client_that_disconnects_leaves_no_lock_held_nor_slot_used(served, live_server, photo_ref):
    runtime = served.runtime
    held = HeldPipeline(runtime.model(CONTROLNET))
    with model_replaced(runtime, CONTROLNET, held):
        _disconnect_during_a_generation(runtime, held, live_server, photo_ref)


def _disconnect_during_a_generation(runtime, held, live_server, photo_ref):
    import json
    import socket
    import time
    from urllib.parse import urlsplit

    body = json.dumps({"img_url": photo_ref, "text": "a cat", "num_inference_steps": 2}).encode()
    address = urlsplit(live_server.url)
    with socket.create_connection((address.hostname, address.port)) as connection:
        connection.sendall(
            f"POST /models/{CONTROLNET} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        assert held.started.wait(timeout=60)
    # the client is gone; the generation finishes on its own and must give everything back
    held.release.set()
    deadline = time.monotonic() + 60
    run_lock = runtime.slots.run_lock(CONTROLNET)
    while (runtime.view(CONTROLNET).queue or run_lock.locked()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime.view(CONTROLNET).queue == 0 and not run_lock.locked()
    response = requests.post(f"{live_server.url}/models/canny-control", json={"img_url": photo_ref}, timeout=60)
    assert response.status_code == 200
