"""Where a decoded request runs: the one step of the request pipeline that differs by engine.

`LocalExecutor` admits and runs on this process's runtime (the single-process server, and each
Ray group's replica); the Ray ingress's executor ships the request to the model's group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from models_server.pipeline.fields import FieldDecoder
from models_server.protocols.base import Call, Encoded, RawRequest
from models_server.runtime import Runtime
from models_server.tasks.base import Task


class Executor(Protocol):
    def execute(self, model_id: str, task: Task, request: RawRequest, decode: Callable[[], Call]) -> Encoded:
        """Admit the request for `model_id` (a served id), refusing it at once when it cannot run;
        only then `decode` its protocol and read its inputs, so a refused request fetches nothing.
        Raises ServerError for every refusal."""


class LocalExecutor:
    """Admit on this process's runtime, decode the fields (fetching what they name), run in the
    model's turn, and encode once the turn is over."""

    def __init__(self, runtime: Runtime, fields: FieldDecoder) -> None:
        self.runtime = runtime
        self.fields = fields

    def execute(self, model_id: str, task: Task, request: RawRequest, decode: Callable[[], Call]) -> Encoded:
        with self.runtime.admit(model_id) as ticket:  # refused at once when full: before any fetch
            call = decode()
            operation = call.task or task  # a protocol may run another contract on the same model
            inputs, params = self.fields.decode(operation, call.body)
            result = ticket.run(inputs, params, operation.handler)
        return call.encode(result)
