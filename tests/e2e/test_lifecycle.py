"""A person's hands on a live server: probes, and (behind the key) what is loaded and until when."""

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.cli import running_server

pytestmark = pytest.mark.slow

KEY = "lifecycle-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
LAZY = "lllyasviel/sd-controlnet-seg"  # loaded on its first request or a load call
SHORT_LIVED = "mlsd-control"  # lazy, with a keep_alive of one second
LONG = "lllyasviel/sd-controlnet-canny"
STEPS = 1000  # a generation that runs for minutes unless it is stopped
# One keep-alive connection for the polling: a new one per poll would reach connections_per_client.
http = requests.Session()


@pytest.fixture(scope="module")
def server(tiny_root: Path, public_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The minimal tier from the tiny models, behind a key; one model broken, two lazy."""
    folder = tmp_path_factory.mktemp("lifecycle")
    config = folder / "config.yaml"
    config.write_text(f"api_key: {KEY}\nlimits: {{max_steps: {STEPS}}}\nmodels:\n"
                      f"  seg-control: {{weights: {folder / 'absent'}}}\n"
                      f"  {LAZY}: {{preload: false}}\n  {SHORT_LIVED}: {{preload: false, keep_alive: 1}}\n")
    with running_server(["--config", str(config), "--tier", "minimal", "--model-root", str(tiny_root),
                        "--public-dir", str(public_dir), "--device", "cpu"], folder / "server.log") as base:
        yield base


def wait_ready(base: str, seconds: float = 300) -> list[requests.Response]:
    """Every /readyz answer, polled until the first 200."""
    answers = []
    deadline = time.monotonic() + seconds
    while not answers or answers[-1].status_code != 200:
        assert time.monotonic() < deadline, answers[-1].json()
        answers.append(http.get(f"{base}/readyz", timeout=10))
        time.sleep(0.1)
    return answers


def test_probes_answer_without_a_key_and_readiness_waits_for_the_preloaded_models(server):
    assert http.get(f"{server}/status", timeout=10).status_code == 403  # the key is needed elsewhere
    health = http.get(f"{server}/healthz", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    answers = wait_ready(server)
    first, last = answers[0], answers[-1]
    assert first.status_code == 503 and first.json()["ready"] is False
    assert first.json()["loading"]  # the port opens before the models load: they are listed
    assert last.json() == {"ready": True, "loading": [], "failed": ["seg-control"]}  # failed for good is done
    models = http.get(f"{server}/status", headers=AUTH, timeout=10).json()["models"]
    states = {model_id: status["state"] for model_id, status in models.items()}
    assert "loading" not in states.values() and states["lllyasviel/sd-controlnet-canny"] == "loaded"
    assert http.get(f"{server}/running", timeout=10).json() == {"running": True}


def status(base: str, model_id: str) -> dict:
    return http.get(f"{base}/status/{model_id}", headers=AUTH, timeout=30).json()


def resident_cpu_bytes(base: str) -> int:
    metrics = http.get(f"{base}/metrics", headers=AUTH, timeout=30).text
    return int(float(re.search(r'^models_server_resident_bytes\{placement="cpu"\} (\S+)$', metrics, re.M).group(1)))


def admin(base: str, model_id: str, action: str, **kwargs) -> requests.Response:
    return http.post(f"{base}/admin/models/{model_id}/{action}", headers=AUTH, timeout=300, **kwargs)


def test_load_and_unload_show_on_status_at_once_and_unload_frees_the_memory(server, photo_ref):
    wait_ready(server)
    before = status(server, LAZY)
    assert (before["state"], before["placement"], before["keep_alive"], before["expires_in"]) == (
        "not_loaded", "unloaded", 600, None)
    resident = resident_cpu_bytes(server)

    loaded = admin(server, LAZY, "load", json={"keep_alive": 120})
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["state"] == "loaded" and loaded.json()["keep_alive"] == 120
    now = status(server, LAZY)
    assert now["state"] == "loaded" and now["bytes"] > 0 and 0 < now["expires_in"] <= 120
    assert resident_cpu_bytes(server) > resident  # its ControlNet; the SD base it shares was resident already

    unloaded = admin(server, LAZY, "unload")
    assert unloaded.status_code == 200, unloaded.text
    assert (unloaded.json()["state"], unloaded.json()["placement"]) == ("not_loaded", "unloaded")
    assert status(server, LAZY)["state"] == "not_loaded"
    assert resident_cpu_bytes(server) == resident  # its weights left memory
    body = {"img_url": photo_ref, "text": "again", "num_inference_steps": 1, "width": 64, "height": 64}
    answer = http.post(f"{server}/models/{LAZY}", json=body, headers=AUTH, timeout=300)
    assert answer.status_code == 200, answer.text  # loaded on demand, as a lazy row
    assert status(server, LAZY)["keep_alive"] == 600  # the load call's keep_alive left with the model


def test_unload_lets_the_running_request_finish_first(server, photo_ref, public_dir):
    wait_ready(server)
    finished: list[str] = []
    outcome: dict[str, requests.Response] = {}
    body = {"img_url": photo_ref, "text": "a long one", "num_inference_steps": 40, "width": 64, "height": 64}

    def generate():
        outcome["generation"] = requests.post(f"{server}/models/{LONG}", json=body, headers=AUTH, timeout=600)
        finished.append("generation")

    worker = threading.Thread(target=generate)
    worker.start()
    deadline = time.monotonic() + 300
    while status(server, LONG).get("progress") is None:
        assert time.monotonic() < deadline and worker.is_alive(), "the generation never started"
        time.sleep(0.05)
    unloaded = admin(server, LONG, "unload")
    finished.append("unload")
    worker.join(timeout=600)
    assert finished == ["generation", "unload"]
    assert outcome["generation"].status_code == 200
    assert (public_dir / outcome["generation"].json()["path"].lstrip("/")).is_file()
    assert unloaded.status_code == 200 and unloaded.json()["state"] == "not_loaded"
    assert admin(server, LONG, "load").json()["state"] == "loaded"  # back for the other tests
    assert status(server, LONG)["keep_alive"] == -1  # a preloaded row stays


def test_admin_routes_follow_the_access_rules_and_name_what_is_wrong(server):
    refused = http.post(f"{server}/admin/models/{LAZY}/load", timeout=30)
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "forbidden"
    assert http.post(f"{server}/admin/models/{LAZY}/unload", timeout=30).status_code == 403
    for action in ("load", "unload"):
        missing = admin(server, "no/such-model", action)
        assert missing.status_code == 404 and "no/such-model" in missing.json()["error"]["message"]
    for body in ({"keep_alive": -5}, {"keep_alive": "long"}, {"keep_alive": 5, "other": 1}, [1]):
        wrong = admin(server, LAZY, "load", json=body)
        assert wrong.status_code == 400 and wrong.json()["error"]["type"] == "bad_input", body
    disabled = admin(server, "gpt2", "load")  # tier full, this server runs minimal
    assert disabled.status_code == 503 and "disabled" in disabled.json()["error"]["message"]
    broken = admin(server, "seg-control", "load")
    assert broken.status_code == 503 and "failed to load" in broken.json()["error"]["message"]


def test_a_lazy_model_idle_past_its_keep_alive_leaves_memory(server, photo_ref):
    wait_ready(server)
    answer = http.post(f"{server}/models/{SHORT_LIVED}", json={"img_url": photo_ref}, headers=AUTH, timeout=300)
    assert answer.status_code == 200, answer.text
    assert status(server, SHORT_LIVED)["keep_alive"] == 1
    deadline = time.monotonic() + 60
    while status(server, SHORT_LIVED)["state"] != "not_loaded":
        assert time.monotonic() < deadline, status(server, SHORT_LIVED)
        time.sleep(0.2)
    assert status(server, SHORT_LIVED)["placement"] == "unloaded"


def wait_running(base: str, model_id: str, queue: int = 1) -> dict:
    """The model's status once a request runs on it (its progress shows) and `queue` are in."""
    deadline = time.monotonic() + 120
    while True:
        now = status(base, model_id)
        if now.get("progress") and now["queue"] >= queue:
            return now
        assert time.monotonic() < deadline, now
        time.sleep(0.02)


def generation(photo_ref: str, steps: int) -> dict:
    return {"img_url": photo_ref, "text": "a long one", "num_inference_steps": steps, "width": 64, "height": 64}


def test_a_client_that_leaves_frees_its_model_within_a_step_and_nothing_is_written(server, photo_ref, public_dir):
    wait_ready(server)
    images = public_dir / "images"
    before = set(images.iterdir()) if images.is_dir() else set()
    body = json.dumps(generation(photo_ref, STEPS)).encode()
    host, port = server.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)))
    client.sendall(f"POST /models/{LONG} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    running = wait_running(server, LONG)
    client.close()  # the client gives up
    left_at, steps = running["progress"]["step"], [running["progress"]["step"]]
    deadline = time.monotonic() + 300
    while (now := status(server, LONG))["queue"]:
        assert time.monotonic() < deadline, now
        steps.append(now.get("progress", {}).get("step", steps[-1]))
        time.sleep(0.02)
    assert max(steps) <= left_at + 5 < STEPS  # it stopped at the next step or so
    assert (set(images.iterdir()) if images.is_dir() else set()) == before
    assert status(server, LONG)["state"] == "loaded"  # free for the next request


def test_delete_cancels_a_queued_and_a_running_request_and_their_clients_are_told(server, photo_ref):
    wait_ready(server)
    answers: dict[str, requests.Response] = {}

    def post(request_id: str) -> threading.Thread:
        def send():
            answers[request_id] = requests.post(f"{server}/models/{LONG}", json=generation(photo_ref, STEPS),
                                                headers={**AUTH, "X-Request-ID": request_id}, timeout=600)
        thread = threading.Thread(target=send)
        thread.start()
        return thread

    running = post("run-a")
    wait_running(server, LONG)
    queued = post("queued-b")
    wait_running(server, LONG, queue=2)

    cancelled = http.delete(f"{server}/admin/requests/queued-b", headers=AUTH, timeout=60)
    assert cancelled.status_code == 200 and cancelled.json() == {"request_id": "queued-b", "cancelled": 1,
                                                                 "stopped": True}
    queued.join(timeout=60)
    assert answers["queued-b"].status_code == 409
    assert answers["queued-b"].json()["error"]["type"] == "cancelled"
    assert "queued-b was cancelled" in answers["queued-b"].json()["error"]["message"]
    assert running.is_alive() and status(server, LONG)["queue"] == 1  # the running one goes on

    assert http.delete(f"{server}/admin/requests/run-a", headers=AUTH, timeout=60).json()["stopped"] is True
    running.join(timeout=60)
    assert answers["run-a"].status_code == 409 and answers["run-a"].headers["X-Request-ID"] == "run-a"
    assert status(server, LONG)["queue"] == 0

    missing = http.delete(f"{server}/admin/requests/run-a", headers=AUTH, timeout=60)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    assert http.delete(f"{server}/admin/requests/run-a", timeout=60).status_code == 403


def device_memory(base: str) -> dict:
    return http.get(f"{base}/status", headers=AUTH, timeout=30).json()["memory"]


def device_gauge(base: str, name: str, device: str) -> float:
    metrics = http.get(f"{base}/metrics", headers=AUTH, timeout=30).text
    found = re.search(rf'^models_server_device_{name}\{{device="{device}"\}} (\S+)$', metrics, re.M)
    assert found, f"no models_server_device_{name} for {device}"
    return float(found.group(1))


def test_each_device_s_memory_shows_and_moves_with_a_load_and_an_unload(server):
    wait_ready(server)
    deadline = time.monotonic() + 60
    while status(server, SHORT_LIVED)["state"] == "loaded":  # its keep-alive would move the figures meanwhile
        assert time.monotonic() < deadline, status(server, SHORT_LIVED)
        time.sleep(0.2)
    admin(server, LAZY, "unload")
    before = device_memory(server)
    assert set(before) == {"cpu"}  # no CUDA here
    cpu = before["cpu"]
    assert cpu["reserved_bytes"] > cpu["models_bytes"] > 0  # the process's RSS holds the weights and more
    assert cpu["allocated_bytes"] is cpu["free_bytes"] is cpu["total_bytes"] is None
    assert device_gauge(server, "models_bytes", "cpu") == cpu["models_bytes"]
    assert device_gauge(server, "reserved_bytes", "cpu") > 0

    loaded = admin(server, LAZY, "load")
    assert loaded.status_code == 200, loaded.text
    with_it = device_memory(server)["cpu"]["models_bytes"]
    # its ControlNet: the SD base it shares was resident already
    assert cpu["models_bytes"] < with_it <= cpu["models_bytes"] + loaded.json()["bytes"]
    assert device_gauge(server, "models_bytes", "cpu") == with_it

    assert admin(server, LAZY, "unload").status_code == 200
    assert device_memory(server)["cpu"]["models_bytes"] == cpu["models_bytes"]
    assert device_gauge(server, "models_bytes", "cpu") == cpu["models_bytes"]
