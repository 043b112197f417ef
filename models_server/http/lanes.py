"""The server's lanes of threads, and each model's queue handing requests to the work lane.

- **Lanes.** A request goes to the *status lane*, a small pool of its own threads, when it
  is a cheap read of in-memory state (`GET /running`, `/status`, `/status/<id>`, `/`, `/metrics`)
  or an answer the server makes itself (protocol errors, "busy"); everything else goes to the
  *work lane* (inference, URL fetches). Work can never occupy a status thread.
- **Each model's queue.** A request naming a model waits in that model's queue, holding no
  thread, and goes to the work lane only when its model can take it; it is refused (503 +
  Retry-After) only when the work ahead of it cannot finish within `request_timeout` (see
  model_queues.py). A busy model so never costs another model its answer. `POST /models/<id>`
  names its model in the path; OpenAI's routes name it in the body, read first on the *body
  lane*, a thread or two of its own (see body_models.py).
- **Admission of the rest.** When `max_pending` requests already wait for a work thread, the next
  request that no model queue took is answered 503 + Retry-After at once (on the status lane),
  instead of queueing without bound.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from waitress.channel import HTTPChannel
from waitress.task import ThreadedTaskDispatcher

from models_server.http.body_models import names_model_in_body, read_naming_model
from models_server.http.channel import GuardedChannel
from models_server.http.framing import ServerBusy
from models_server.http.model_queues import ModelQueues

if TYPE_CHECKING:
    from models_server.http.server import ServingOptions

# Cheap reads of in-memory state, served on the status lane (GET and HEAD only).
STATUS_PATHS = frozenset({"/running", "/healthz", "/readyz", "/status", "/", "/metrics"})
STATUS_PREFIXES = ("/status/",)


def is_status_request(command: str, path: str) -> bool:
    return command in ("GET", "HEAD") and (path in STATUS_PATHS or path.startswith(STATUS_PREFIXES))


class ModelTask:
    """A request from a model's queue on the work lane; tells the queues when it is over, and how
    long it took when that is a sample of the model's service time (a 2xx answer)."""

    def __init__(self, server: Lanes, channel: GuardedChannel, model_id: str) -> None:
        self.server = server
        self.channel = channel
        self.model_id = model_id

    def service(self) -> None:
        started = time.monotonic()
        try:
            self.channel.service()
        finally:
            self.server.model_finished(self.model_id, self.channel.addr[0], started, self.channel.answered_ok)

    def cancel(self) -> None:
        self.channel.cancel()


class BodyTask:
    """A request on the body lane: its body read, it goes on to the queue of the model it names
    (or, naming none, as requests naming no model go)."""

    def __init__(self, server: Lanes, channel: GuardedChannel) -> None:
        self.server = server
        self.channel = channel

    def service(self) -> None:
        if not self.channel.requests:  # cancelled meanwhile (the server is stopping)
            return
        model_id = None
        try:
            model_id = self.server.read_model(self.channel)
        finally:  # even when reading raised: the route then reads the body itself and answers
            self.server.dispatch(self.channel, model_id)

    def cancel(self) -> None:
        self.channel.cancel()


class Lanes:
    """GuardedServer's dispatch: which lane (or model queue) each complete request goes to."""

    options: ServingOptions
    queues: ModelQueues[GuardedChannel] | None
    task_dispatcher: ThreadedTaskDispatcher  # the work lane
    status_dispatcher: ThreadedTaskDispatcher
    body_dispatcher: ThreadedTaskDispatcher  # the body lane

    def add_task(self, channel: HTTPChannel) -> None:
        if isinstance(channel, GuardedChannel) and channel.hold_until_flushed():
            return
        request = channel.requests[0]
        if request.error or is_status_request(request.command, request.path):
            self.status_dispatcher.add_task(channel)
        elif self.queues is None or not isinstance(channel, GuardedChannel):
            self.dispatch(channel, None)
        elif names_model_in_body(request.command, request.path):
            self.body_dispatcher.add_task(BodyTask(self, channel))
        else:
            self.dispatch(channel, self.queues.model_of(request.command, request.path))

    def read_model(self, channel: GuardedChannel) -> str | None:
        """On the body lane: read the request's body (kept on the request for the app) and
        resolve the model it names; None when it names none to queue by."""
        assert self.queues is not None
        request = channel.requests[0]
        stream = request.get_body_stream()
        start = stream.tell()
        body = stream.read()
        stream.seek(start)  # the body stays readable as it came
        request.body_values = read = read_naming_model(request.headers.get("CONTENT_TYPE", ""), body,
                                                       self.queues.model_named)
        return read.model_id

    def dispatch(self, channel: HTTPChannel, model_id: str | None) -> None:
        """Into the model's queue, or (naming no model) to the work lane while it has room."""
        request = channel.requests[0]
        if model_id is not None and isinstance(channel, GuardedChannel):
            self._queue(channel, model_id)
        elif len(self.task_dispatcher.queue) >= self.options.max_pending:
            request.error = ServerBusy(
                f"the server is busy: {self.options.threads} requests are running and "
                f"{self.options.max_pending} more wait (max_pending); retry shortly"
            )
            self.status_dispatcher.add_task(channel)
        else:
            self.task_dispatcher.add_task(channel)

    def _queue(self, channel: GuardedChannel, model_id: str) -> None:
        """Into the model's queue (503 on the status lane when refused), then start what may start."""
        assert self.queues is not None
        refusal = self.queues.offer(model_id, channel.addr[0], channel, time.monotonic())
        if refusal is not None:
            channel.requests[0].error = ServerBusy(refusal.message, refusal.retry_after)
            self.status_dispatcher.add_task(channel)
            return
        self._start_ready(model_id)

    def _start_ready(self, model_id: str) -> None:
        assert self.queues is not None
        for channel in self.queues.ready(model_id):
            self.task_dispatcher.add_task(ModelTask(self, channel, model_id))

    def model_finished(self, model_id: str, client: str, started: float, answered: bool) -> None:
        """On the work thread whose model task is over: the model may take its next request."""
        assert self.queues is not None
        self.queues.finished(model_id, client, started, time.monotonic(), answered)
        self._start_ready(model_id)

    def busy(self) -> bool:
        """Requests running or queued in any lane, or waiting in a model's queue."""
        lanes = (self.task_dispatcher, self.status_dispatcher, self.body_dispatcher)
        return (any(d.active_count or d.queue for d in lanes)
                or (self.queues is not None and self.queues.waiting() > 0))

    def shutdown_lanes(self, timeout: float = 5) -> None:
        self.body_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        if self.queues is not None:
            for channel in self.queues.clear():
                channel.cancel()
        self.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        self.status_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
