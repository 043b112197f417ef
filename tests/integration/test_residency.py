"""Memory budgets, LRU eviction and lazy loading, with budgets set in bytes."""

import threading

import pytest
from support.serving import tiny_settings
from support.waiting import wait_until

from models_server.catalog import ModelSpec, catalog_rows
from models_server.catalog.sizes import MB, SHARED_REPO_BYTES
from models_server.http.app import create_app
from models_server.runtime import Budgets, Runtime, State, loading
from models_server.tasks.base import Contract, Field, Kind, Task

LINEAR_BYTES = 64 * 64 * 4 + 64 * 4  # one float32 Linear(64, 64): weight + bias


def _load_linear(ctx):
    import torch

    return {"layer": torch.nn.Linear(64, 64), "gate": threading.Event(), "entered": threading.Event()}


def _run(model, inputs, params):
    if inputs["text"] == "probe":  # tells the test the request started on this very model
        model["entered"].set()
    if inputs["text"] == "hold":
        model["entered"].set()
        assert model["gate"].wait(timeout=60)
    return {"ok": inputs["text"]}


ECHO = Task(Contract("echo", (Field("text", Kind.TEXT, required=True),)), _run)


def linear_rows(*names: str) -> list[ModelSpec]:
    return [ModelSpec(f"test/{name}", ECHO, "minimal", (), _load_linear) for name in names]


def make_runtime(tiny_root, public_dir, rows, **settings):
    runtime = Runtime(tiny_settings(tiny_root, public_dir, **settings), rows)
    return runtime, create_app(runtime.settings, runtime).test_client()


def states(runtime) -> dict[str, str]:
    return {model_id.removeprefix("test/"): view.state.value for model_id, view in runtime.views().items()}


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


def two_of_three_resident(tiny_root, public_dir):
    """a, b and c lazy, a budget for two, and a then b used: both resident, a the least recently used."""
    runtime, client = make_runtime(
        tiny_root, public_dir, linear_rows("a", "b", "c"), preload=False, max_cpu_memory=2 * LINEAR_BYTES
    )
    runtime.load_all()
    for name in ("a", "b"):
        client.post(f"/models/test/{name}", json={"text": name})
    return runtime, client


def test_a_busy_model_is_never_evicted(tiny_root, public_dir):
    runtime, client = two_of_three_resident(tiny_root, public_dir)
    model_a = runtime.model("test/a")  # a is the least recently used ... and about to be busy
    worker = threading.Thread(target=lambda: client.post("/models/test/a", json={"text": "hold"}))
    worker.start()
    try:
        assert model_a["entered"].wait(timeout=60)
        assert client.post("/models/test/c", json={"text": "c"}).status_code == 200
        assert states(runtime) == {"a": "loaded", "b": "not_loaded", "c": "loaded"}
    finally:
        model_a["gate"].set()
        worker.join(timeout=60)


def test_a_model_that_fits_once_a_busy_one_finishes_waits_for_it_instead_of_a_503(tiny_root, public_dir):
    runtime, client = two_of_three_resident(tiny_root, public_dir)
    held = [runtime.model(f"test/{name}") for name in ("a", "b")]
    holders = [threading.Thread(target=lambda name=name: client.post(f"/models/test/{name}", json={"text": "hold"}))
               for name in ("a", "b")]
    answer = []
    late = threading.Thread(target=lambda: answer.append(client.post("/models/test/c", json={"text": "c"})))
    try:
        for holder, model in zip(holders, held, strict=True):
            holder.start()
            assert model["entered"].wait(timeout=60)
        late.start()  # every resident model is busy: room for c comes only when one finishes
        late.join(timeout=1.0)  # (long enough for a 503 to have come back, had there been one)
        held[0]["gate"].set()
        late.join(timeout=60)
        assert answer and answer[0].status_code == 200, answer and answer[0].get_json()
        assert states(runtime) == {"a": "not_loaded", "b": "loaded", "c": "loaded"}
    finally:
        for model in held:
            model["gate"].set()
        for holder in holders:
            holder.join(timeout=60)


def test_a_model_larger_than_the_budget_fails_with_the_reason(tiny_root, public_dir):
    runtime, client = make_runtime(tiny_root, public_dir, linear_rows("a"), preload=False, max_cpu_memory=1000)
    response = client.post("/models/test/a", json={"text": "x"})
    assert response.status_code == 503
    assert "memory budget" in response.get_json()["error"]["message"]
    assert runtime.view("test/a").state is State.FAILED and runtime.model("test/a") is None


def test_the_shared_sd_base_is_counted_once_and_kept_while_a_user_is_resident(tiny_root, public_dir, photo_ref):
    by_id = {row.id: row for row in catalog_rows()}
    canny, hed = by_id["lllyasviel/sd-controlnet-canny"], by_id["lllyasviel/sd-controlnet-hed"]
    runtime, client = make_runtime(tiny_root, public_dir, [canny, hed, *linear_rows("a")], preload=False)
    body = {"img_url": photo_ref, "text": "x", "num_inference_steps": 1}
    for model_id in (canny.id, hed.id):
        assert client.post(f"/models/{model_id}", json=body).status_code == 200
    both = runtime.resident_bytes()["cpu"]
    assert both < runtime.view(canny.id).bytes + runtime.view(hed.id).bytes  # the base is not counted twice
    unet = runtime.model(hed.id).unet

    # budget: everything resident now, minus a little, plus one small model: canny (LRU) must go
    runtime.residency.budgets = Budgets(cpu=both + LINEAR_BYTES - 1)
    assert client.post("/models/test/a", json={"text": "a"}).status_code == 200
    assert runtime.view(canny.id).state is State.NOT_LOADED and runtime.view(hed.id).state is State.LOADED
    assert runtime.model(hed.id).unet is unet  # the base stayed: hed still uses it
    assert len(runtime.residency.shared.keys()) == 1
    assert client.post(f"/models/{hed.id}", json=body).status_code == 200

    with runtime.residency.lock:
        runtime.residency.unload(hed.id)
    assert runtime.residency.shared.keys() == []  # last user gone: the base goes too


def test_a_controlnet_next_to_a_resident_base_makes_room_for_itself_only(tiny_root, public_dir, monkeypatch):
    """Real sizes scaled down 2**16: the base and each ControlNet as buffers, the base shared.
    Five ControlNets resident, a budget with room for half a sixth: loading the sixth, or bringing
    back one moved out, must move one ControlNet down, not as many as the base's size again would free."""
    scale = 2**16
    base_repo = "runwayml/stable-diffusion-v1-5"
    base, own = SHARED_REPO_BYTES[base_repo] // scale, 723 * MB // scale
    monkeypatch.setattr(loading, "SHARED_REPO_BYTES", {base_repo: base})

    def buffer(size: int):
        import torch

        module = torch.nn.Module()
        module.register_buffer("weights", torch.zeros(size, dtype=torch.uint8))
        return module

    def load(ctx):
        return {"base": ctx.shared(("stand-in", base_repo), lambda: buffer(base)), "own": buffer(own)}

    by_id = {row.id: row for row in catalog_rows()}
    kinds = ("canny", "depth", "hed", "mlsd", "normal", "seg")
    rows = [ModelSpec(f"lllyasviel/sd-controlnet-{kind}", ECHO, "minimal",
                      by_id[f"lllyasviel/sd-controlnet-{kind}"].weights, load, fp16_bytes=base + own)
            for kind in kinds]
    last = rows[-1].id
    runtime, client = make_runtime(tiny_root, public_dir, rows, dtype="float16", models={last: {"preload": False}},
                                   max_cpu_memory=base + 5 * own + own // 2)
    runtime.load_all()
    for row in rows[:-1]:  # used in order: canny is the least recently used
        assert runtime.run(row.id, {"text": "x"}, {}) == {"ok": "x"}
    assert client.post(f"/models/{last}", json={"text": "x"}).status_code == 200
    unloaded = [row.id for row in rows if runtime.view(row.id).state is State.NOT_LOADED]
    assert unloaded == ["lllyasviel/sd-controlnet-canny"]
    assert runtime.resident_bytes()["cpu"] == base + 5 * own

    # canny comes back: its measured size includes the base, which is still resident
    assert client.post("/models/lllyasviel/sd-controlnet-canny", json={"text": "x"}).status_code == 200
    unloaded = [row.id for row in rows if runtime.view(row.id).state is State.NOT_LOADED]
    assert unloaded == ["lllyasviel/sd-controlnet-depth"]
    assert runtime.resident_bytes()["cpu"] == base + 5 * own


@pytest.mark.parametrize("limit", [1, 2])
def test_queue_limit_answers_503_with_retry_after(tiny_root, public_dir, limit):
    runtime, client = make_runtime(
        tiny_root, public_dir, linear_rows("a"), limits={"max_queue_per_model": limit}
    )
    runtime.load_all()
    model = runtime.model("test/a")
    workers = [threading.Thread(target=lambda: client.post("/models/test/a", json={"text": "hold"}))]
    workers[0].start()
    assert model["entered"].wait(timeout=60)
    try:
        for _ in range(limit - 1):  # fill the queue behind the running request
            workers.append(threading.Thread(target=lambda: client.post("/models/test/a", json={"text": "q"})))
            workers[-1].start()
        wait_until(lambda: runtime.view("test/a").queue >= limit, 60, f"{limit} requests queued")
        response = client.post("/models/test/a", json={"text": "one too many"})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "max_queue_per_model" in response.get_json()["error"]["message"]
        unread = client.post("/models/test/a", json={})  # refused before its fields are decoded (no fetch)
        assert unread.status_code == 503 and "max_queue_per_model" in unread.get_json()["error"]["message"]
    finally:
        model["gate"].set()
        for worker in workers:
            worker.join(timeout=60)
    assert runtime.view("test/a").queue == 0


def test_a_request_that_cannot_start_in_time_gets_504(tiny_root, public_dir):
    runtime, client = make_runtime(tiny_root, public_dir, linear_rows("a"), limits={"request_timeout": 0.2})
    runtime.load_all()
    model = runtime.model("test/a")
    worker = threading.Thread(target=lambda: client.post("/models/test/a", json={"text": "hold"}))
    worker.start()
    try:
        assert model["entered"].wait(timeout=60)
        response = client.post("/models/test/a", json={"text": "late"})
        assert response.status_code == 504 and "request_timeout" in response.get_json()["error"]["message"]
    finally:
        model["gate"].set()
        worker.join(timeout=60)


class WatchedLock:
    """The residency lock, telling when the thread named `watched` starts waiting for it, and
    holding that thread back until `proceed` is set."""

    def __init__(self, lock, watched: str) -> None:
        self.lock, self.watched = lock, watched
        self.waiting, self.proceed = threading.Event(), threading.Event()

    def __enter__(self):
        if threading.current_thread().name == self.watched:
            self.waiting.set()
            assert self.proceed.wait(timeout=60)
        self.lock.acquire()
        return self

    def __exit__(self, *exc_info):
        self.lock.release()


def test_eviction_never_takes_a_model_a_request_started_on_after_the_decision(tiny_root, public_dir, monkeypatch):
    """The eviction race, by ordering. b's load decides to evict the idle a; before the eviction
    acts, a request for a arrives. It must not start on a (it waits for the eviction, then loads a
    again); on racy code it starts at once on the model that is about to be unloaded under it."""
    runtime, client = make_runtime(
        tiny_root, public_dir, linear_rows("a", "b"), preload=False, max_cpu_memory=LINEAR_BYTES + LINEAR_BYTES // 2
    )
    runtime.load_all()
    assert client.post("/models/test/a", json={"text": "a"}).status_code == 200  # a resident and idle
    model_a = runtime.model("test/a")
    runtime.residency.lock = WatchedLock(runtime.residency.lock, watched="request-a")
    decided, go = threading.Event(), threading.Event()
    move_down = type(runtime.residency)._move_down

    def paused_move_down(residency, model_id, kind):
        decided.set()  # a is chosen; the move has not happened yet
        assert go.wait(timeout=60)
        move_down(residency, model_id, kind)

    monkeypatch.setattr(type(runtime.residency), "_move_down", paused_move_down)
    answers = {}

    def post(name: str, text: str) -> None:
        answers[name] = client.post(f"/models/test/{name}", json={"text": text})

    load_b = threading.Thread(target=post, args=("b", "b"), name="request-b")
    request_a = threading.Thread(target=post, args=("a", "probe"), name="request-a")
    load_b.start()
    try:
        assert decided.wait(timeout=60)
        request_a.start()
        events = (model_a["entered"], runtime.residency.lock.waiting)
        deadline = threading.Event()
        for _ in range(6000):  # until the request either started on a, or waits for the eviction
            if any(event.is_set() for event in events):
                break
            deadline.wait(0.01)
        started_on_a_being_evicted = model_a["entered"].is_set()
        go.set()
        load_b.join(timeout=60)
        assert not started_on_a_being_evicted, "a request started on a model claimed for eviction"
        assert runtime.residency.lock.waiting.is_set()
        assert answers["b"].status_code == 200
    finally:
        go.set()
        load_b.join(timeout=60)
        runtime.residency.lock.proceed.set()  # b is done and idle: a may load again, evicting b
        request_a.join(timeout=60)
    assert answers["a"].status_code == 200 and answers["a"].get_json() == {"ok": "probe"}
    assert runtime.model("test/a") is not model_a  # it ran on a again loaded, after the eviction
    assert runtime.resident_bytes()["cpu"] <= LINEAR_BYTES + LINEAR_BYTES // 2


def test_a_pinned_model_is_never_claimed_and_a_claimed_one_is_never_pinned(tiny_root, public_dir):
    from models_server.progress import Job
    from models_server.runtime.eviction import choose_victims

    runtime, client = make_runtime(tiny_root, public_dir, linear_rows("a"), preload=False)
    assert client.post("/models/test/a", json={"text": "a"}).status_code == 200
    slots = runtime.slots

    def everything(candidates):
        return choose_victims(candidates, 1)

    assert slots.pin_if_ready("test/a", Job("test/a", deadline=0.0))
    assert slots.claim_victims({"test/a": LINEAR_BYTES}, None, everything) is None  # pinned: busy
    slots.unpin("test/a")
    assert slots.claim_victims({"test/a": LINEAR_BYTES}, None, everything) == ["test/a"]
    assert not slots.pin_if_ready("test/a", Job("test/a", deadline=0.0))  # being moved: wait for residency
    slots.unclaim("test/a")
    assert slots.pin_if_ready("test/a", Job("test/a", deadline=0.0))


def test_requests_arriving_while_a_lazy_model_loads_wait_for_it_instead_of_503(tiny_root, public_dir):
    loading, gate = threading.Event(), threading.Event()

    def slow_load(ctx):
        loading.set()
        assert gate.wait(timeout=60)
        return _load_linear(ctx)

    rows = [ModelSpec("test/slow", ECHO, "minimal", (), slow_load)]
    runtime, client = make_runtime(tiny_root, public_dir, rows, preload=False)
    answers = []
    first = threading.Thread(target=lambda: answers.append(client.post("/models/test/slow", json={"text": "1"})))
    first.start()
    try:
        assert loading.wait(timeout=60)
        second = threading.Thread(target=lambda: answers.append(client.post("/models/test/slow", json={"text": "2"})))
        second.start()
        for _ in range(6000):  # until the second request is admitted (it then waits for its turn)
            if runtime.view("test/slow").queue == 2 or len(answers) == 1:
                break
            threading.Event().wait(0.01)
    finally:
        gate.set()
        first.join(timeout=60)
        second.join(timeout=60)
    assert sorted(answer.status_code for answer in answers) == [200, 200]


def test_resident_bytes_are_counted_again_only_once_a_model_loads_moves_or_leaves(tiny_root, public_dir,
                                                                                   monkeypatch):
    runtime, client = make_runtime(tiny_root, public_dir, linear_rows("a", "b"), models={"test/b": {"preload": False}})
    runtime.load_all()
    walks: list[int] = []
    walk_all = runtime.residency.storages
    monkeypatch.setattr(runtime.residency, "storages", lambda: walks.append(1) or walk_all())
    assert runtime.resident_bytes()["cpu"] == LINEAR_BYTES
    assert client.get("/status").get_json()["memory"]["cpu"]["models_bytes"] == LINEAR_BYTES
    assert len(walks) == 1  # the status read took the count as it was
    runtime.load("test/b")
    assert runtime.resident_bytes()["cpu"] == 2 * LINEAR_BYTES
    runtime.unload("test/a")
    assert runtime.resident_bytes()["cpu"] == client.get("/status").get_json()["memory"]["cpu"]["models_bytes"] \
        == LINEAR_BYTES
    assert len(walks) == 3
