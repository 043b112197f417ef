"""Memory budgets, LRU eviction and lazy loading, with budgets set in bytes."""

import threading

import pytest
from conftest import tiny_settings

from models_server.app import create_app
from models_server.catalog import ModelSpec, catalog_rows
from models_server.runtime import Runtime, State
from models_server.tasks.base import Field, Kind, Task

LINEAR_BYTES = 64 * 64 * 4 + 64 * 4  # one float32 Linear(64, 64): weight + bias


def _load_linear(ctx):
    import torch

    return {"layer": torch.nn.Linear(64, 64), "gate": threading.Event(), "entered": threading.Event()}


def _run(model, inputs, params):
    if inputs["text"] == "hold":
        model["entered"].set()
        assert model["gate"].wait(timeout=60)
    return {"ok": inputs["text"]}


ECHO = Task("echo", (Field("text", Kind.TEXT, required=True),), _run)


def linear_rows(*names: str) -> list[ModelSpec]:
    return [ModelSpec(f"test/{name}", ECHO, "minimal", (), _load_linear) for name in names]


def make_runtime(tiny_root, public_dir, rows, **settings):
    runtime = Runtime(tiny_settings(tiny_root, public_dir, **settings), rows)
    return runtime, create_app(runtime.settings, runtime).test_client()


def states(runtime) -> dict[str, str]:
    return {model_id.removeprefix("test/"): slot.state.value for model_id, slot in runtime.slots.items()}


def test_lazy_model_is_not_loaded_until_its_first_request_which_waits_for_it(tiny_root, public_dir):
    runtime, client = make_runtime(tiny_root, public_dir, linear_rows("a"), preload=False)
    runtime.load_all()
    status = client.get("/status/test/a").get_json()
    assert status["state"] == "not_loaded" and status["placement"] == "unloaded"
    assert status["loaded"] is True  # servable here: the controller should use it, not Hugging Face
    assert client.post("/models/test/a", json={"text": "hi"}).get_json() == {"ok": "hi"}
    status = client.get("/status/test/a").get_json()
    assert (status["state"], status["placement"], status["bytes"]) == ("loaded", "cpu", LINEAR_BYTES)


def test_per_model_preload_false_overrides_the_tier_default(tiny_root, public_dir):
    runtime, _ = make_runtime(tiny_root, public_dir, linear_rows("a", "b"), models={"test/b": {"preload": False}})
    runtime.load_all()
    assert states(runtime) == {"a": "loaded", "b": "not_loaded"}


def test_the_least_recently_used_idle_model_is_unloaded_to_make_room(tiny_root, public_dir):
    runtime, client = make_runtime(
        tiny_root, public_dir, linear_rows("a", "b", "c"), preload=False, max_cpu_memory=2 * LINEAR_BYTES
    )
    runtime.load_all()
    for name in ("a", "b", "a"):  # b is now the least recently used
        assert client.post(f"/models/test/{name}", json={"text": name}).status_code == 200
    assert client.post("/models/test/c", json={"text": "c"}).status_code == 200
    assert states(runtime) == {"a": "loaded", "b": "not_loaded", "c": "loaded"}
    assert runtime.resident_bytes()["cpu"] <= 2 * LINEAR_BYTES
    # an evicted model stays servable: its next request loads it again, evicting the LRU one (a)
    assert client.post("/models/test/b", json={"text": "b"}).status_code == 200
    assert states(runtime) == {"a": "not_loaded", "b": "loaded", "c": "loaded"}


def test_a_busy_model_is_never_evicted(tiny_root, public_dir):
    runtime, client = make_runtime(
        tiny_root, public_dir, linear_rows("a", "b", "c"), preload=False, max_cpu_memory=2 * LINEAR_BYTES
    )
    runtime.load_all()
    for name in ("a", "b"):
        client.post(f"/models/test/{name}", json={"text": name})
    held = runtime.slots["test/a"]  # a is the least recently used ... and about to be busy
    worker = threading.Thread(target=lambda: client.post("/models/test/a", json={"text": "hold"}))
    worker.start()
    try:
        assert held.model["entered"].wait(timeout=60)
        model_a = held.model
        assert client.post("/models/test/c", json={"text": "c"}).status_code == 200
        assert states(runtime) == {"a": "loaded", "b": "not_loaded", "c": "loaded"}
    finally:
        model_a["gate"].set()
        worker.join(timeout=60)


def test_a_model_larger_than_the_budget_fails_with_the_reason(tiny_root, public_dir):
    runtime, client = make_runtime(tiny_root, public_dir, linear_rows("a"), preload=False, max_cpu_memory=1000)
    response = client.post("/models/test/a", json={"text": "x"})
    assert response.status_code == 503
    assert "memory budget" in response.get_json()["error"]["message"]
    assert runtime.slots["test/a"].state is State.FAILED and runtime.slots["test/a"].model is None


def test_the_shared_sd_base_is_counted_once_and_kept_while_a_user_is_resident(tiny_root, public_dir, photo_ref):
    by_id = {row.id: row for row in catalog_rows()}
    canny, hed = by_id["lllyasviel/sd-controlnet-canny"], by_id["lllyasviel/sd-controlnet-hed"]
    runtime, client = make_runtime(tiny_root, public_dir, [canny, hed, *linear_rows("a")], preload=False)
    body = {"img_url": photo_ref, "text": "x", "num_inference_steps": 1}
    for model_id in (canny.id, hed.id):
        assert client.post(f"/models/{model_id}", json=body).status_code == 200
    canny_slot, hed_slot = runtime.slots[canny.id], runtime.slots[hed.id]
    both = runtime.resident_bytes()["cpu"]
    assert both < canny_slot.bytes + hed_slot.bytes  # the base is not counted twice
    unet = hed_slot.model.unet

    # budget: everything resident now, minus a little, plus one small model: canny (LRU) must go
    runtime.settings = runtime.settings.model_copy(update={"max_cpu_memory": both + LINEAR_BYTES - 1})
    assert client.post("/models/test/a", json={"text": "a"}).status_code == 200
    assert canny_slot.state is State.NOT_LOADED and hed_slot.state is State.LOADED
    assert hed_slot.model.unet is unet  # the base stayed: hed still uses it
    assert len(runtime.shared.keys()) == 1
    assert client.post(f"/models/{hed.id}", json=body).status_code == 200

    runtime._unload(hed_slot)
    assert runtime.shared.keys() == []  # last user gone: the base goes too


@pytest.mark.parametrize("limit", [1, 2])
def test_queue_limit_answers_503_with_retry_after(tiny_root, public_dir, limit):
    runtime, client = make_runtime(
        tiny_root, public_dir, linear_rows("a"), limits={"max_queue_per_model": limit}
    )
    runtime.load_all()
    slot = runtime.slots["test/a"]
    workers = [threading.Thread(target=lambda: client.post("/models/test/a", json={"text": "hold"}))]
    workers[0].start()
    assert slot.model["entered"].wait(timeout=60)
    try:
        for _ in range(limit - 1):  # fill the queue behind the running request
            workers.append(threading.Thread(target=lambda: client.post("/models/test/a", json={"text": "q"})))
            workers[-1].start()
        while slot.queue < limit:
            threading.Event().wait(0.01)
        response = client.post("/models/test/a", json={"text": "one too many"})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "max_queue_per_model" in response.get_json()["error"]["message"]
    finally:
        slot.model["gate"].set()
        for worker in workers:
            worker.join(timeout=60)
    assert slot.queue == 0


def test_a_request_that_cannot_start_in_time_gets_504(tiny_root, public_dir):
    runtime, client = make_runtime(tiny_root, public_dir, linear_rows("a"), limits={"request_timeout": 0.2})
    runtime.load_all()
    slot = runtime.slots["test/a"]
    worker = threading.Thread(target=lambda: client.post("/models/test/a", json={"text": "hold"}))
    worker.start()
    try:
        assert slot.model["entered"].wait(timeout=60)
        response = client.post("/models/test/a", json={"text": "late"})
        assert response.status_code == 504 and "request_timeout" in response.get_json()["error"]["message"]
    finally:
        slot.model["gate"].set()
        worker.join(timeout=60)
