"""Each model's queue at the HTTP layer: what starts, what waits, what is refused and when to retry;
and the model an OpenAI request names in its body, read before it queues.

The queues are plain data under one lock: these tests give them service times and clocks
explicitly, so every expectation is computed, never measured.
"""

from __future__ import annotations

import math

import pytest

from models_server.errors import BadInput
from models_server.http.body_models import names_model_in_body, read_body
from models_server.http.model_queues import ModelQueues, ServiceTimes
from models_server.protocols.openai import requested_model

ALIASES = {"midas-control": "depth-control"}
SERVED = {"canny-control", "depth-control", "a", "b"}


def resolve(model_id: str) -> str | None:
    model_id = ALIASES.get(model_id, model_id)
    return model_id if model_id in SERVED else None


def queues(deadline: float = 10.0, parallelism: int = 1, share: float = 0.5) -> ModelQueues[str]:
    return ModelQueues(resolve, lambda model_id: parallelism, deadline, client_share=share,
                       aliases={"whisper-1": "a", "gpt-4": "nobody/served"})


def test_a_request_is_queued_by_the_served_id_its_path_names():
    q = queues()
    assert q.model_of("POST", "/models/midas-control") == "depth-control"
    assert q.model_of("POST", "/models/canny-control") == "canny-control"
    assert q.model_of("POST", "/models/unknown") is None  # the app answers 404
    assert q.model_of("GET", "/models/canny-control") is None
    assert q.model_of("POST", "/v1/chat/completions") is None  # its model is in the body: see model_named


def test_a_model_named_in_an_openai_body_is_queued_by_the_same_served_id():
    q = queues()
    assert q.model_named("canny-control") == "canny-control"
    assert q.model_named("midas-control") == "depth-control"  # the catalog's alias
    assert q.model_named("whisper-1") == "a"  # a name of the config's `aliases`
    assert q.model_named("gpt-4") is None  # an alias of a row this server does not serve
    assert q.model_named("unknown") is None


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/v1/embeddings",
                                  "/v1/images/generations", "/v1/images/edits", "/v1/images/variations",
                                  "/v1/audio/speech", "/v1/audio/transcriptions", "/v1/audio/translations"])
def test_every_openai_route_that_runs_a_model_names_it_in_its_body(path):
    assert names_model_in_body("POST", path)
    assert not names_model_in_body("GET", path)


def test_routes_that_run_no_model_are_not_read_for_one():
    for method, path in (("GET", "/v1/models"), ("GET", "/v1/models/whisper-1"), ("POST", "/v1/no/such/route"),
                         ("POST", "/models/canny-control")):
        assert not names_model_in_body(method, path)


def multipart(fields: dict[str, str], files: dict[str, bytes]) -> tuple[str, bytes]:
    boundary = "b0undary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="f"\r\n'
              f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
              for name, data in files.items()]
    return f"multipart/form-data; boundary={boundary}", b"".join(parts) + f"--{boundary}--\r\n".encode()


def test_a_body_is_read_once_into_the_values_the_route_decodes():
    read = read_body("application/json; charset=utf-8", b'{"input": "hello", "model": "whisper-1"}')
    assert read.model_name() == "whisper-1"
    assert read.named_values() == {"input": "hello", "model": "whisper-1"}
    content_type, body = multipart({"model": "whisper-1", "language": "en"}, {"file": b"RIFF...."})
    read = read_body(content_type, body)
    assert read.model_name() == "whisper-1"
    assert read.named_values() == {"model": "whisper-1", "language": "en", "file": b"RIFF...."}


@pytest.mark.parametrize(("content_type", "body", "says"), [
    ("application/json", b'{"input": "hello"}', "missing field 'model'"),
    ("application/json", b'{"model": ["a"]}', "'model' must be a string"),
    ("application/json", b'{"model": "' + b"x" * 2_000_000 + b'"}', "characters long"),
    ("application/json", b'{"model": "a", ', "not valid JSON"),
    ("application/json", b"[" * 200_000, "nested too deeply"),
    ("application/json", b'["model", "a"]', "must be a JSON object"),
    ("text/plain", b"model=a", "must be a JSON object"),
    ("multipart/form-data", b"--x\r\n", "boundary"),
])
def test_a_body_naming_no_model_to_queue_by_names_none_and_keeps_a_short_clear_400(content_type, body, says):
    read = read_body(content_type, body)
    assert read.model_name() is None  # not queued: the route answers it from what was read
    with pytest.raises(BadInput) as caught:
        requested_model(read.named_values())
    assert says in caught.value.message and len(caught.value.message) < 300
    assert caught.value.status == 400


def test_a_model_takes_one_request_more_than_it_runs_and_the_rest_wait_without_costing_other_models():
    q = queues()
    for index in range(10):
        assert q.offer("a", f"client-{index}", f"a{index}", now=0.0) is None
    assert q.ready("a") == ["a0", "a1"]  # one running, one reading its inputs
    assert q.ready("a") == []
    assert q.offer("b", "client-0", "b0", now=0.0) is None
    assert q.ready("b") == ["b0"]  # another model's request starts at once
    q.finished("a", "client-0", started=0.0, now=1.0, answered=True)
    assert q.ready("a") == ["a2"]
    assert q.waiting() == 7


def test_a_model_on_replicas_takes_as_many_more():
    q = queues(parallelism=3)
    for index in range(6):
        q.offer("a", f"client-{index}", f"a{index}", now=0.0)
    assert q.ready("a") == ["a0", "a1", "a2", "a3"]


def test_a_model_that_batches_takes_a_running_batch_and_a_whole_next_one():
    q = ModelQueues(resolve, lambda model_id: 1, 10.0, batch=lambda model_id: 4 if model_id == "a" else 1)
    for index in range(10):
        q.offer("a", f"client-{index}", f"a{index}", now=0.0)
        q.offer("b", f"client-{index}", f"b{index}", now=0.0)
    assert q.ready("a") == [f"a{index}" for index in range(8)]  # a batch of 4 running, 4 more reading their inputs
    assert q.ready("b") == ["b0", "b1"]  # a model that does not batch: as before


def test_before_a_model_answered_once_nothing_is_refused():
    q = queues(deadline=1.0)
    assert all(q.offer("a", "one client", index, now=0.0) is None for index in range(100))
    assert q.estimated_wait("a") is None  # work is ahead, of unknown length
    assert q.estimated_wait("b") == 0.0


@pytest.mark.parametrize(("service", "deadline", "parallelism"), [(1.0, 10.0, 1), (2.5, 30.0, 1), (3.0, 20.0, 2)])
def test_a_request_is_refused_only_when_the_work_ahead_cannot_finish_within_the_deadline(service, deadline,
                                                                                          parallelism):
    """`service` is the time between answers (on replicas too), so the wait is the queue's length times it."""
    q = queues(deadline=deadline, parallelism=parallelism, share=1.0)
    q.times.record("a", service)
    admitted = 0
    while (refusal := q.offer("a", f"client-{admitted}", admitted, now=0.0)) is None:
        admitted += 1
        assert admitted < 1000
    # every admitted request finishes within the deadline; the next one would not
    assert (admitted - 1) * service + service <= deadline
    ahead = admitted * service
    assert ahead + service > deadline
    assert q.estimated_wait("a") == pytest.approx(ahead)
    assert refusal.retry_after == max(1, math.ceil(ahead + service - deadline))
    assert "request_timeout" in refusal.message
    q.ready("a")
    q.finished("a", "client-0", started=0.0, now=0.0, answered=False)  # one is over: the next fits again
    assert q.offer("a", "late client", "late", now=0.0) is None


def test_retry_after_says_when_the_work_ahead_would_fit():
    q = queues(deadline=20.0, share=1.0)
    q.times.record("a", 4.0)
    for index in range(5):  # 5 x 4 s ahead, and 4 s of its own: 24 s, 4 over the deadline
        assert q.offer("a", f"client-{index}", index, now=0.0) is None
    refusal = q.offer("a", "client-5", 5, now=0.0)
    assert refusal is not None and refusal.retry_after == 4


def test_one_client_cannot_fill_a_models_queue_and_others_still_get_in():
    q = queues(deadline=20.0, share=0.5)
    q.times.record("a", 4.0)
    assert q.offer("a", "flooder", 0, now=0.0) is None
    assert q.offer("a", "flooder", 1, now=0.0) is None  # 4 s of its own ahead + 4 s <= 10 s, its share
    refusal = q.offer("a", "flooder", 2, now=0.0)
    assert refusal is not None and "share" in refusal.message and refusal.retry_after == 2
    assert q.offer("a", "controller", 3, now=0.0) is None
    q.ready("a")
    q.finished("a", "flooder", started=0.0, now=0.0, answered=False)
    assert q.offer("a", "flooder", 4, now=0.0) is None  # its share frees as its requests are answered


def test_the_service_time_follows_the_models_recent_answers_and_each_model_has_its_own():
    times = ServiceTimes(smoothing=0.5)
    times.record("a", 10.0)
    times.record("a", 2.0)
    times.record("b", 1.0)
    assert times.estimate("a") == pytest.approx(6.0)
    assert times.estimate("b") == pytest.approx(1.0)
    assert times.estimate("c") is None


def test_a_request_that_was_not_answered_2xx_is_no_sample():
    q = queues()
    q.offer("a", "c", "x", now=0.0)
    q.ready("a")
    q.finished("a", "c", started=0.0, now=0.5, answered=False)
    assert q.times.estimate("a") is None


def test_a_sample_is_the_time_a_request_held_the_model_not_its_wait_for_the_turn_of_the_one_before():
    q = queues()
    for name in ("first", "second"):
        q.offer("a", name, name, now=0.0)
    assert q.ready("a") == ["first", "second"]  # both start at 0; the second waits for the model's turn
    q.finished("a", "first", started=0.0, now=4.0, answered=True)
    q.finished("a", "second", started=0.0, now=8.0, answered=True)
    assert q.times.estimate("a") == pytest.approx(4.0)
    q.offer("a", "third", "third", now=20.0)
    q.ready("a")
    q.finished("a", "third", started=20.0, now=23.0, answered=True)  # the model was idle: from its start
    assert q.times.estimate("a") == pytest.approx(4.0 + 0.3 * (3.0 - 4.0))


def test_requests_waiting_past_the_deadline_are_handed_back_and_gone_ones_dropped():
    q = queues(deadline=10.0)
    for name, since in (("running", 0.0), ("reading", 0.0), ("old", 1.0), ("gone", 2.0), ("young", 9.0)):
        q.offer("a", name, name, now=since)
    assert q.ready("a") == ["running", "reading"]
    assert q.sweep(11.5, gone=lambda item: item == "gone") == ["old"]
    assert q.waiting() == 1
    assert q.clear() == ["young"]
    assert q.waiting() == 0
