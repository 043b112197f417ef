"""Each model's queue in the guarded server, on 127.0.0.1: a flood on one model costs the others
nothing, load is shed by expected wait (not by count), and one client cannot fill a model's queue;
OpenAI's routes, which name their model in the body, wait in the same queue as `POST /models/<id>`.

The flooded model is held on an event the test releases (a stand-in app, or a real runtime's
model replaced by a held one), so "answered while the flood waits" is an ordering, never a
duration. Service times are given to the queues explicitly where a test computes what to expect.
Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from support.serving import PHOTO_REF, model_replaced, tiny_settings
from support.waiting import wait_until

from models_server.catalog import ModelSpec, catalog_rows
from models_server.engines.local import serving_options
from models_server.http import body_models, openai_routes
from models_server.http.app import create_app
from models_server.http.model_queues import ModelQueues
from models_server.http.server import GuardedServer, ServingOptions, make_server
from models_server.pipeline import request as request_pipeline
from models_server.protocols.openai import forms
from models_server.runtime import Runtime

WAIT = 30.0  # upper bound of any wait here; reaching it means the behaviour is missing
SLOW = "slow"
ALIASES = {"whisper-1": SLOW}  # as the config's `aliases` name a served row
V1 = "/v1/embeddings"


def v1_body(model_id: str) -> bytes:
    return json.dumps({"input": "hello", "model": model_id}).encode()


@dataclass
class HeldModel:
    """A WSGI app: POST /models/slow (or /v1/... naming it in the body) blocks until `release`;
    any other model answers at once."""

    release: threading.Event = field(default_factory=threading.Event)
    entered: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read()
        path = environ["PATH_INFO"]
        model_id = json.loads(body)["model"] if path.startswith("/v1/") else path.removeprefix("/models/")
        model_id = ALIASES.get(model_id, model_id)
        if model_id == SLOW:
            self.entered.release()
            self.release.wait(timeout=WAIT)
        payload = json.dumps({"model": model_id}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]


def stand_in_queues(deadline: float = 60.0) -> ModelQueues:
    return ModelQueues(lambda model_id: model_id, lambda model_id: 1, deadline, aliases=ALIASES)


@contextlib.contextmanager
def running(app, options: ServingOptions, queues: ModelQueues, release: threading.Event | None = None
            ) -> Iterator[tuple[GuardedServer, int]]:
    server = make_server(app, "127.0.0.1", 0, options, queues)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server, int(server.effective_port)
    finally:
        if release is not None:
            release.set()
        server.close()
        server.shutdown_lanes(timeout=5)
        thread.join(timeout=5)


def call(port: int, method: str, path: str, body: bytes | None = None, source: str = "127.0.0.1"
         ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


class Flood:
    """`count` clients posting once each to `path`, in background threads; their answers' codes."""

    def __init__(self, port: int, path: str, body: bytes, count: int, source: str = "127.0.0.1") -> None:
        self.codes: list[int] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._one, args=(port, path, body, source), daemon=True)
                        for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _one(self, port: int, path: str, body: bytes, source: str) -> None:
        try:
            status = call(port, "POST", path, body, source)[0]
        except (OSError, http.client.HTTPException):
            status = 0
        with self.lock:
            self.codes.append(status)

    def answered(self) -> int:
        with self.lock:
            return len(self.codes)

    def join(self) -> list[int]:
        for thread in self.threads:
            thread.join(timeout=WAIT)
        return sorted(self.codes)


# -- the guarded server over a stand-in app ------------------------------------------------------


def test_a_flood_on_one_model_holds_no_thread_and_another_models_request_is_answered_meanwhile():
    app, queues = HeldModel(), stand_in_queues()
    with running(app, ServingOptions(threads=4, max_pending=4), queues, app.release) as (server, port):
        flood = Flood(port, f"/models/{SLOW}", b"{}", 20)
        wait_until(lambda: queues.waiting() == 18, WAIT, "the flood never waited in its model's queue")
        assert server.task_dispatcher.active_count <= 2  # the flood holds what the model can take, no more
        for model_id in ("quick", "other"):
            status, _, body = call(port, "POST", f"/models/{model_id}", b"{}")
            assert (status, json.loads(body)) == (200, {"model": model_id})
        assert call(port, "GET", "/status")[0] == 200
        assert flood.answered() == 0  # the flood is still held: the others did not wait for it
        app.release.set()
        assert flood.join() == [200] * 20


def test_a_real_overload_gets_503_at_once_with_a_retry_after_from_the_models_estimate():
    app, queues = HeldModel(), stand_in_queues(deadline=20.0)
    queues.times.record(SLOW, 4.0)  # the model's recent service time: 4 s a request
    with running(app, ServingOptions(), queues, app.release) as (_, port):
        floods = []
        for index in range(5):  # five clients, one request each: 0..16 s of work ahead, each fits in 20 s
            floods.append(Flood(port, f"/models/{SLOW}", b"{}", 1, source=f"127.0.0.{index + 2}"))
            wait_until(lambda index=index: queues.estimated_wait(SLOW) == 4.0 * (index + 1), WAIT, "not queued")
        status, headers, body = call(port, "POST", f"/models/{SLOW}", b"{}", source="127.0.0.9")
        assert status == 503
        assert int(headers["Retry-After"]) == 4  # 20 s ahead + 4 s of its own is 4 s over the deadline
        error = json.loads(body)["error"]
        assert error["type"] == "busy" and "request_timeout" in error["message"]
        app.release.set()
        assert [code for flood in floods for code in flood.join()] == [200] * 5


def test_one_client_cannot_fill_a_models_queue_and_another_client_still_gets_in():
    app, queues = HeldModel(), stand_in_queues(deadline=20.0)
    queues.times.record(SLOW, 4.0)
    with running(app, ServingOptions(), queues, app.release) as (_, port):
        flooder = "127.0.0.2"
        first = Flood(port, f"/models/{SLOW}", b"{}", 1, source=flooder)
        wait_until(lambda: queues.estimated_wait(SLOW) == 4.0, WAIT, "not queued")
        second = Flood(port, f"/models/{SLOW}", b"{}", 1, source=flooder)
        wait_until(lambda: queues.estimated_wait(SLOW) == 8.0, WAIT, "not queued")
        status, headers, body = call(port, "POST", f"/models/{SLOW}", b"{}", source=flooder)
        assert status == 503 and "share" in json.loads(body)["error"]["message"]
        assert int(headers["Retry-After"]) == 2  # 8 s of its own + 4 s is 2 s over half of 20 s
        other = Flood(port, f"/models/{SLOW}", b"{}", 1, source="127.0.0.3")
        wait_until(lambda: queues.estimated_wait(SLOW) == 12.0, WAIT, "the other client was not queued")
        app.release.set()
        assert first.join() + second.join() + other.join() == [200] * 3


def test_a_request_still_waiting_for_its_model_at_request_timeout_gets_504():
    app, queues = HeldModel(), stand_in_queues(deadline=0.5)
    with running(app, ServingOptions(), queues, app.release) as (_, port):
        held = Flood(port, f"/models/{SLOW}", b"{}", 2)  # the model's two places, held
        for _ in range(2):  # both inside the app: the next request can only wait
            assert app.entered.acquire(timeout=WAIT), "not started"
        status, _, body = call(port, "POST", f"/models/{SLOW}", b"{}")
        assert status == 504 and json.loads(body)["error"]["type"] == "timeout"
        assert held.answered() == 0
        app.release.set()
        assert held.join() == [200, 200]


def test_requests_naming_no_model_in_their_path_keep_the_max_pending_admission():
    app, queues = HeldModel(), stand_in_queues()
    with running(app, ServingOptions(threads=1, max_pending=1), queues, app.release) as (server, port):
        queues.resolve = lambda model_id: None  # ids the server does not serve: the app answers 404
        first = Flood(port, f"/models/{SLOW}", b"{}", 1)
        assert app.entered.acquire(timeout=WAIT)  # the one work thread is inside the app
        held = Flood(port, f"/models/{SLOW}", b"{}", 1)
        wait_until(lambda: len(server.task_dispatcher.queue) == 1, WAIT, "the second request never waited for a thread")
        status, _, body = call(port, "POST", f"/models/{SLOW}", b"{}")
        assert status == 503 and "max_pending" in json.loads(body)["error"]["message"]
        app.release.set()
        assert first.join() + held.join() == [200, 200]


def test_a_flood_of_v1_requests_on_one_model_holds_no_thread_and_other_models_are_answered_meanwhile():
    app, queues = HeldModel(), stand_in_queues()
    with running(app, ServingOptions(threads=4, max_pending=4), queues, app.release) as (server, port):
        flood = Flood(port, V1, v1_body(SLOW), 20)
        wait_until(lambda: queues.waiting() == 18, WAIT, "the /v1 flood never waited in its model's queue")
        assert server.task_dispatcher.active_count <= 2  # the flood holds what the model can take, no more
        for model_id in ("quick", "other"):
            status, _, body = call(port, "POST", V1, v1_body(model_id))
            assert (status, json.loads(body)) == (200, {"model": model_id})
            status, _, body = call(port, "POST", f"/models/{model_id}", b"{}")
            assert (status, json.loads(body)) == (200, {"model": model_id})
        assert call(port, "GET", "/status")[0] == 200
        assert flood.answered() == 0  # the flood is still held: the others did not wait for it
        app.release.set()
        assert flood.join() == [200] * 20


def test_v1_and_models_requests_share_their_models_queue_its_shedding_and_each_clients_share():
    app, queues = HeldModel(), stand_in_queues(deadline=20.0)
    queues.times.record(SLOW, 4.0)
    with running(app, ServingOptions(), queues, app.release) as (_, port):
        routes = [(f"/models/{SLOW}", b"{}"), (V1, v1_body(SLOW)), (V1, v1_body("whisper-1"))]
        floods = []
        for index in range(5):  # five clients, one request each, by either route: 0..16 s ahead, each fits
            path, body = routes[index % len(routes)]
            floods.append(Flood(port, path, body, 1, source=f"127.0.0.{index + 2}"))
            wait_until(lambda index=index: queues.estimated_wait(SLOW) == 4.0 * (index + 1), WAIT, "not queued")
        status, headers, body = call(port, "POST", V1, v1_body("whisper-1"), source="127.0.0.9")
        assert status == 503
        assert int(headers["Retry-After"]) == 4  # 20 s ahead + 4 s of its own is 4 s over the deadline
        error = json.loads(body)["error"]
        assert set(error) == {"message", "type", "param", "code"}  # OpenAI's shape, as its SDK reads it
        assert (error["type"], error["code"]) == ("server_error", "busy") and "request_timeout" in error["message"]
        status, _, body = call(port, "POST", f"/models/{SLOW}", b"{}", source="127.0.0.9")
        assert status == 503 and json.loads(body)["error"]["type"] == "busy"  # the controller's shape there
        app.release.set()
        assert [code for flood in floods for code in flood.join()] == [200] * 5


def test_a_clients_v1_and_models_requests_count_together_in_its_share_of_the_queue():
    app, queues = HeldModel(), stand_in_queues(deadline=20.0)
    queues.times.record(SLOW, 4.0)
    with running(app, ServingOptions(), queues, app.release) as (_, port):
        flooder = "127.0.0.2"
        first = Flood(port, f"/models/{SLOW}", b"{}", 1, source=flooder)
        wait_until(lambda: queues.estimated_wait(SLOW) == 4.0, WAIT, "not queued")
        second = Flood(port, V1, v1_body("whisper-1"), 1, source=flooder)
        wait_until(lambda: queues.estimated_wait(SLOW) == 8.0, WAIT, "not queued")
        status, _, body = call(port, "POST", V1, v1_body(SLOW), source=flooder)
        assert status == 503 and "share" in json.loads(body)["error"]["message"]
        other = Flood(port, V1, v1_body(SLOW), 1, source="127.0.0.3")
        wait_until(lambda: queues.estimated_wait(SLOW) == 12.0, WAIT, "the other client was not queued")
        app.release.set()
        assert first.join() + second.join() + other.join() == [200] * 3


# -- the real app and runtime ------------------------------------------------------------------


class HeldAnnotator:
    """A loaded annotator that signals each call and waits to be released."""

    def __init__(self, annotator) -> None:
        self.annotator = annotator
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, image):
        self.entered.set()
        assert self.release.wait(timeout=WAIT), "the test never released the model"
        return self.annotator(image)


def rows(*ids: str) -> list[ModelSpec]:
    by_id = {row.id: row for row in catalog_rows()}
    return [by_id[model_id] for model_id in ids]


@pytest.fixture(scope="module")
def annotators(tiny_root, public_dir) -> Runtime:
    runtime = Runtime(tiny_settings(tiny_root, public_dir), rows("canny-control", "hed-control", "depth-control"))
    runtime.load_all()
    return runtime


@contextlib.contextmanager
def served_like_the_engine(runtime: Runtime, **flags) -> Iterator[tuple[GuardedServer, ModelQueues, int]]:
    """The app and guarded server over `runtime`, wired as `models-server serve` wires them."""
    settings = tiny_settings(runtime.settings.model_root, runtime.settings.public_dir, **flags)
    queues: ModelQueues = ModelQueues.for_runtime(runtime)
    app = create_app(settings, runtime, queues=queues)
    with running(app, serving_options(settings), queues) as (server, port):
        yield server, queues, port


PHOTO = json.dumps({"img_url": PHOTO_REF}).encode()


def test_forty_clients_on_one_model_cost_other_models_and_status_nothing(annotators):
    held = HeldAnnotator(annotators.model("canny-control"))
    with model_replaced(annotators, "canny-control", held), \
            served_like_the_engine(annotators, threads=4, max_pending=4) as (_, queues, port):
        try:
            flood = Flood(port, "/models/canny-control", PHOTO, 40, source="127.0.0.2")  # other clients
            assert held.entered.wait(timeout=WAIT)
            wait_until(lambda: queues.waiting() == 38, WAIT, "the flood never waited in its model's queue")
            for model_id in ("hed-control", "depth-control", "midas-control"):
                status, _, body = call(port, "POST", f"/models/{model_id}", PHOTO)
                assert status == 200 and json.loads(body)["path"].startswith("/images/"), body
            status, _, body = call(port, "GET", "/status")
            models = json.loads(body)["models"]
            assert status == 200 and models["canny-control"]["loaded"] is True
            assert models["canny-control"]["estimated_wait"] is None  # work ahead, no answer yet to estimate by
            assert models["hed-control"]["estimated_wait"] == 0.0
            assert flood.answered() == 0
        finally:
            held.release.set()
        assert flood.join() == [200] * 40
        wait_until(lambda: queues.times.estimate("canny-control") is not None, WAIT, "its answers gave it no estimate")
        wait_until(lambda: json.loads(call(port, "GET", "/status/canny-control")[2])["estimated_wait"] == 0.0, WAIT,
                   "work still ahead of a new request once every request was answered")


def test_sixteen_clients_at_once_on_one_model_are_all_answered_none_refused_by_count(annotators):
    """Default settings (16 work threads, max_queue_per_model 8): the queue sheds by expected wait,
    and 16 small requests finish well within request_timeout."""
    held = HeldAnnotator(annotators.model("canny-control"))
    with model_replaced(annotators, "canny-control", held), \
            served_like_the_engine(annotators) as (_, queues, port):
        try:
            flood = Flood(port, "/models/canny-control", PHOTO, 16)
            assert held.entered.wait(timeout=WAIT)
            wait_until(lambda: queues.waiting() + flood.answered() == 14, WAIT, "the requests never arrived")
        finally:
            held.release.set()
        assert flood.join() == [200] * 16


# -- OpenAI's routes on the real app and runtime -----------------------------------------------

EMBEDDER, OTHER_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2"


class HeldEmbedder:
    """A loaded sentence embedder whose `encode` signals each call and waits to be released."""

    def __init__(self, model) -> None:
        self.model = model
        self.entered = threading.Event()
        self.release = threading.Event()

    def encode(self, *args, **kwargs):
        self.entered.set()
        assert self.release.wait(timeout=WAIT), "the test never released the model"
        return self.model.encode(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.model, name)


@pytest.fixture(scope="module")
def embedders(tiny_root, public_dir) -> Runtime:
    runtime = Runtime(tiny_settings(tiny_root, public_dir), rows(EMBEDDER, OTHER_EMBEDDER, "canny-control"))
    runtime.load_all()
    return runtime


def embeddings(model: str) -> bytes:
    return json.dumps({"input": ["a cat sits on the mat", "dogs bark"], "model": model}).encode()


def test_forty_v1_clients_on_one_model_cost_other_models_nothing_and_status_shows_their_wait(embedders):
    held = HeldEmbedder(embedders.model(EMBEDDER))
    with served_like_the_engine(embedders, threads=4, max_pending=4) as (_, queues, port):
        status, _, body = call(port, "POST", V1, embeddings(EMBEDDER))
        assert status == 200, body
        # a /v1 answer is a sample of its model's service time, taken once its work thread is done
        # with it, which may be just after the client has read the answer
        wait_until(lambda: queues.times.estimate(EMBEDDER) is not None, WAIT, "a /v1 answer gave its model no estimate")
        service = queues.times.estimate(EMBEDDER)
        with model_replaced(embedders, EMBEDDER, held):
            try:  # by the name OpenAI's clients hard-code: the aliased row's queue
                flood = Flood(port, V1, embeddings("text-embedding-3-small"), 40, source="127.0.0.2")
                assert held.entered.wait(timeout=WAIT)
                wait_until(lambda: queues.waiting() == 38, WAIT, "the /v1 flood never waited in its model's queue")
                status, _, body = call(port, "POST", V1, embeddings(OTHER_EMBEDDER))
                assert status == 200 and len(json.loads(body)["data"]) == 2, body
                status, _, body = call(port, "POST", "/models/canny-control", PHOTO)
                assert status == 200 and json.loads(body)["path"].startswith("/images/"), body
                models = json.loads(call(port, "GET", "/status")[2])["models"]
                assert models[EMBEDDER]["estimated_wait"] == pytest.approx(40 * service, abs=1e-3)
                assert models[OTHER_EMBEDDER]["estimated_wait"] == 0.0
                assert flood.answered() == 0
            finally:
                held.release.set()
            assert flood.join() == [200] * 40


def test_a_v1_body_is_parsed_once_before_it_queues_and_not_again(embedders, monkeypatch):
    parsed: list[str] = []
    parse = forms.named_values

    def counted(mimetype, headers, body):
        parsed.append(mimetype)
        return parse(mimetype, headers, body)

    def again(*args):
        raise AssertionError("the body was parsed again")

    monkeypatch.setattr(body_models, "named_values", counted)
    for module, name in ((openai_routes, "named_values"), (forms, "named_values"), (request_pipeline, "parse_json")):
        monkeypatch.setattr(module, name, again)
    with served_like_the_engine(embedders) as (_, _, port):
        status, _, body = call(port, "POST", V1, embeddings(EMBEDDER))
    assert status == 200 and len(json.loads(body)["data"]) == 2, body
    assert parsed == ["application/json"]


def test_a_v1_body_naming_no_model_to_queue_by_gets_a_short_clear_answer_in_openais_shape(embedders):
    cases = [
        (b'{"input": "hello"}', 400, "missing field 'model'", "model"),
        (b'{"input": "hello", "model": "' + b"x" * 2_000_000 + b'"}', 400, "characters long", "model"),
        (b'{"input": "hello", "model": ', 400, "not valid JSON", None),
        (b"[" * 100_000, 400, "nested too deeply", None),
        (embeddings("nobody/nothing"), 404, "not served here", "model"),
    ]
    with served_like_the_engine(embedders) as (_, queues, port):
        for body, code, says, param in cases:
            status, _, answer = call(port, "POST", V1, body)
            error = json.loads(answer)["error"]
            assert (status, set(error)) == (code, {"message", "type", "param", "code"}), answer[:300]
            assert says in error["message"] and len(error["message"]) < 300 and error["param"] == param
        assert queues.waiting() == 0
