"""A streamed answer crossing from a group to the ingress, without a Ray cluster: the ingress's
`RayGroupClient` over a stand-in for Serve's streaming handle, which runs a real `GroupWorker`
(the object a replica holds) with the tiny chat model on a thread of its own, as a replica does.
tests/e2e/test_ray_engine.py streams through a real Serve deployment."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from support.generation import forward_held
from support.serving import tiny_settings
from support.waiting import wait_until

from models_server.catalog import catalog_rows
from models_server.config import Settings
from models_server.engines.ray.board import ReportBoard
from models_server.engines.ray.cluster import ClusterRuntime, GroupCondition, ingress_pipeline
from models_server.engines.ray.grouping import plan_groups
from models_server.engines.ray.worker import GroupWorker, ReportPusher
from models_server.http.app import create_app
from models_server.progress import CancelToken
from models_server.protocols.base import RawRequest

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}]
WAIT = 60.0  # seconds any one wait may take before the test fails


class StreamedCall:
    """One streamed call as Serve hands it to the ingress: iterated for the replica's items (each
    part, then the outcome); `cancel` stops the run in the worker."""

    def __init__(self, worker: GroupWorker, request: RawRequest, resources: dict[str, bytes], request_id: str) -> None:
        self.token = CancelToken(request_id)
        self.items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        threading.Thread(target=lambda: self.items.put(
            worker.answer(request, resources, self.token, send=self._send)), daemon=True).start()

    def _send(self, data: bytes) -> None:
        from models_server.protocols.base import EncodedPart

        self.items.put(EncodedPart(data))

    def __iter__(self):
        from models_server.protocols.base import EncodedPart

        while True:
            item = self.items.get(timeout=WAIT)
            yield item
            if not isinstance(item, EncodedPart):
                return

    def cancel(self) -> None:
        self.token.cancel("cancelled at the ingress")


class ServeHandle:
    """What RayGroupClient uses of a deployment handle, answered in this process."""

    def __init__(self, worker: GroupWorker) -> None:
        self.worker = worker
        self.streamed: list[StreamedCall] = []
        self.answer = SimpleNamespace(remote=self._whole)
        self.answer_in_parts = SimpleNamespace(remote=self._streamed)

    def options(self, stream: bool) -> ServeHandle:
        assert stream
        return self

    def _whole(self, request: RawRequest, resources: dict[str, bytes], request_id: str):
        """Run on a thread of its own, as in a replica: nothing of the ingress thread's context."""
        outcome: queue.SimpleQueue[Any] = queue.SimpleQueue()
        threading.Thread(target=lambda: outcome.put(self.worker.answer(request, resources, CancelToken(request_id))),
                         daemon=True).start()

        def result(timeout_s: float | None = None) -> Any:
            try:
                return outcome.get(timeout=timeout_s)
            except queue.Empty:
                raise TimeoutError from None

        return SimpleNamespace(result=result, cancel=lambda: None)

    def _streamed(self, request: RawRequest, resources: dict[str, bytes], request_id: str) -> StreamedCall:
        call = StreamedCall(self.worker, request, resources, request_id)
        self.streamed.append(call)
        return call


@pytest.fixture(scope="module")
def chat_settings(tiny_root: Path, public_dir: Path) -> Settings:
    return tiny_settings(tiny_root, public_dir, ray={"groups": {"chat": {"models": [QWEN]}}})


@pytest.fixture(scope="module")
def chat_worker(chat_settings: Settings) -> GroupWorker:
    return GroupWorker("chat", "replica-1", "node-1", chat_settings, [row for row in catalog_rows() if row.id == QWEN])


@pytest.fixture
def ingress(chat_settings: Settings, chat_worker: GroupWorker) -> Iterator[tuple[Any, ServeHandle]]:
    """The ingress's app over one chat group reached through `ServeHandle`; the worker posts its
    reports to the ingress's board, as a replica's pusher does. deployments.py imports Ray: here,
    not when the module is collected (conftest's `ray_cluster`)."""
    from models_server.engines.ray.deployments import RayGroupClient

    board = ReportBoard(60)
    handle = ServeHandle(chat_worker)
    plans = [plan for plan in plan_groups(catalog_rows(), chat_settings) if plan.name == "chat"]
    cluster = ClusterRuntime(chat_settings, catalog_rows(), plans,
                             {"chat": RayGroupClient("chat", handle, WAIT, board)}, board)
    cluster.update({"chat": GroupCondition(reports=(chat_worker.report(),))})
    pusher = ReportPusher(chat_worker, board.post, 0.05)
    pusher.start()
    client = create_app(chat_settings, cluster, ingress_pipeline(cluster, chat_settings)).test_client()
    client.post("/v1/completions", json={"model": QWEN, "prompt": "Once", "max_tokens": 1})  # loads the model
    yield client, handle
    # a cancelled request's ingress thread waits for a report without it: the pusher posts until then
    wait_until(lambda: not any(thread.name == "request-run" for thread in threading.enumerate()), WAIT,
               "the ingress's requests ended")
    pusher.stopped.set()


def held(worker: GroupWorker, before: int, until: Callable[[], bool]) -> contextlib.AbstractContextManager[list[int]]:
    """The chat model's forward passes (one per token) counted; the `before`th waits until
    `until()` (at most WAIT s) before it runs."""
    return forward_held(worker.runtime.model(QWEN).model, before,
                        lambda: wait_until(until, WAIT, "the held pass was let go"))


def events(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix(b"data: ")) for line in body.split(b"\n\n")
            if line.startswith(b"data: {")]


def test_a_stream_from_a_group_is_the_whole_answer_in_one_answers_chunks(ingress) -> None:
    """The parts the replica encoded and the end it encoded after them make one stream: one id,
    each piece once, the same text and usage as the answer not streamed."""
    client, handle = ingress
    options = {"model": QWEN, "messages": HELLO, "max_tokens": 12, "temperature": 0}
    whole = client.post("/v1/chat/completions", json=options)
    assert whole.status_code == 200, whole.json
    streamed = client.post("/v1/chat/completions", json={**options, "stream": True,
                                                          "stream_options": {"include_usage": True}})
    assert streamed.headers["Content-Type"].startswith("text/event-stream")
    chunks = events(streamed.data)
    assert streamed.data.endswith(b"data: [DONE]\n\n")
    assert len({chunk["id"] for chunk in chunks}) == 1
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
    assert text == whole.json["choices"][0]["message"]["content"]
    assert chunks[-1]["usage"] == whole.json["usage"]
    assert len(handle.streamed) == 3  # a streaming protocol's calls go through the stream, streamed or not


def test_each_piece_reaches_the_client_while_the_groups_model_still_generates(ingress, chat_worker) -> None:
    """The model is held before its 5th token until the client has read the first four pieces:
    a stream relayed only once the run is over would never let it go."""
    client, _ = ingress
    options = {"model": QWEN, "prompt": "Once upon a time", "max_tokens": 16, "temperature": 0}
    whole = client.post("/v1/completions", json=options).json["choices"][0]["text"]
    received = [b""]
    with held(chat_worker, 5, lambda: received[0].count(b'"text":') >= 4) as passes:
        answer = client.post("/v1/completions", json={**options, "stream": True}, buffered=False)
        for data in answer.response:
            received[0] += data
    pieces = [chunk["choices"][0]["text"] for chunk in events(received[0]) if chunk["choices"]]
    assert "".join(pieces) == whole and len(pieces) > 5 and len(passes) >= 5
    assert received[0].endswith(b"data: [DONE]\n\n")


def test_a_client_leaving_the_stream_stops_the_run_in_the_group(ingress, chat_worker) -> None:
    """The client leaves while the model is held before its 3rd token; the model is let go only
    once the cancel has reached the group's run, and makes no token more."""
    client, handle = ingress
    with held(chat_worker, 3, lambda: handle.streamed[-1].token.reason() is not None) as passes:
        answer = client.post("/v1/completions", json={"model": QWEN, "prompt": "Once upon a time",
                                                      "max_tokens": 200, "temperature": 0, "stream": True},
                             buffered=False)
        next(iter(answer.response))
        answer.close()
        wait_until(lambda: not chat_worker.in_flight.ids(), WAIT, "the request left the group")
    assert len(passes) == 3
