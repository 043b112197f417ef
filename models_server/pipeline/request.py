"""One request from its bytes to its answer's bytes: decode, admit, run, encode, deliver.

Any host calls `RequestPipeline.handle`: the Flask route of either engine. What differs by
engine is where the model runs, the pipeline's `Executor`; `answer` stops before delivery, for
a host running the model that sends the encoded answer to the host where public/ lives. A
protocol whose answers may stream (`streams`) is run on a thread of its own (streaming.py), and
its reply then carries the stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from models_server.errors import BadInput, ServerError
from models_server.media.outputs import OutputStore
from models_server.pipeline.executor import Executor
from models_server.pipeline.streaming import PartStream, run_streamable
from models_server.protocols import NAMED_PROTOCOLS, PROTOCOLS
from models_server.protocols.base import JSON, Call, Encoded, RawRequest, RequestProtocol
from models_server.runtime import RuntimeView
from models_server.tasks.base import Task

# a stream goes to its reader as it is made: no cache or proxy may hold it back
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True, kw_only=True)
class Reply:
    content: bytes
    mimetype: str
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None  # a streamed answer's bytes as they come (`content` is then empty)


def json_bytes(value: Any) -> bytes:
    """Compact JSON, as Flask writes it, so every host answers byte for byte the same."""
    return (json.dumps(value, separators=(",", ":")) + "\n").encode()


def error_reply(error: ServerError) -> Reply:
    return Reply(content=json_bytes(error.body()), mimetype=JSON, status=error.status, headers=error.headers)


class RequestPipeline:
    """`runtime` names the models (ids, aliases, tasks); `executor` runs them, here or elsewhere."""

    def __init__(self, runtime: RuntimeView, executor: Executor, store: OutputStore,
                 protocols: tuple[RequestProtocol, ...] = PROTOCOLS) -> None:
        self.runtime = runtime
        self.executor = executor
        self.store = store
        self.protocols = protocols

    def handle(self, request: RawRequest) -> Reply:
        """The answer to `request`; raises ServerError (see `error_reply`) for every refusal."""
        if request.protocol is not None and getattr(NAMED_PROTOCOLS[request.protocol], "streams", False):
            outcome = run_streamable(lambda announce: self.answer(request, announce))
            if isinstance(outcome, PartStream):
                return Reply(content=b"", mimetype=outcome.mimetype, stream=outcome, headers=STREAM_HEADERS)
            return self.deliver(outcome)
        return self.deliver(self.answer(request))

    def answer(self, request: RawRequest, announce: Callable[[Call], None] | None = None) -> Encoded:
        """The answer encoded, not yet delivered: what a host running the model sends back to
        the host that writes public/ (the Ray engine's replicas). `announce` is told the decoded
        call before it runs."""
        model_id = self.runtime.resolve(request.model_id)
        task = self.runtime.catalog[model_id].task

        def decode() -> Call:
            call = self.decode(task, request)
            if announce is not None:
                announce(call)
            return call

        return self.executor.execute(model_id, task, request, decode)

    def decode(self, task: Task, request: RawRequest) -> Call:
        json_body = parse_json(request.mimetype, request.body) if request.values is None else None
        protocols = (NAMED_PROTOCOLS[request.protocol],) if request.protocol else self.protocols
        for protocol in protocols:
            call = protocol.decode(task, request, json_body)
            if call is not None:
                return call
        raise BadInput("the request body is in no protocol this server speaks")

    def deliver(self, encoded: Encoded) -> Reply:
        """Write the answer's files under public/ (the only writer) and serialise the answer."""
        if encoded.mimetype == JSON:
            return Reply(content=json_bytes(self.store.publish(encoded.content, encoded.file_prefix)), mimetype=JSON)
        return Reply(content=encoded.content, mimetype=encoded.mimetype)


def parse_json(mimetype: str, body: bytes) -> Any:
    """The JSON a body of a JSON type holds; None for other types and for malformed JSON."""
    if not (mimetype == JSON or (mimetype.startswith("application/") and mimetype.endswith("+json"))):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
    except RecursionError:
        raise BadInput("the JSON body is nested too deeply") from None
