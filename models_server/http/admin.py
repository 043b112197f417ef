"""`/admin`: a person's hands on what is resident. Behind the access rules like every route but
the probes; each answers once the change is done, with the model's status.

- `POST /admin/models/<id>/load` (optional JSON `{"keep_alive": seconds, -1 for never}`)
- `POST /admin/models/<id>/unload`: its running and queued requests finish first
- `POST /admin/reload/<id>`: unload and load again (after its weights were fixed)
- `GET /admin/requests`: the requests being served (id, model, path, age), each one cancellable
- `DELETE /admin/requests/<request-id>`: cancel a queued or running request; its client gets a
  409 `cancelled` error. A request whose client closes the connection is cancelled the same way
  (waitress tells through `waitress.client_disconnected`, as it reads on while a request runs).
  A streamed answer stays cancellable until its stream ends (`cancellable_while_streaming`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from flask import Blueprint, g, jsonify, request

from models_server.config import check_keep_alive
from models_server.errors import BadInput, NotFound
from models_server.http.body_models import BODY_VALUES, ReadBody, names_model_in_body, read_naming_model
from models_server.http.model_queues import ModelQueues
from models_server.http.observability import REQUEST_ID_HEADER, request_id_from
from models_server.http.status_body import model_status
from models_server.progress import CancelToken, cancellable
from models_server.runtime import RuntimeView
from models_server.runtime.cancellation import Cancellations

# How long DELETE /admin/requests/<id> waits for the request to stop before it answers anyway.
CANCEL_WAIT_SECONDS = 30.0


def admin_routes(runtime: RuntimeView, queues: ModelQueues[Any], in_flight: Cancellations) -> Blueprint:
    """`in_flight`: where every POST is registered while it is served (the status page reads it too)."""
    admin = Blueprint("admin", __name__, url_prefix="/admin")

    @admin.post("/models/<path:model_id>/load")
    def load_model(model_id: str):
        keep_alive = _keep_alive(_json_object())
        return jsonify(model_status(runtime.load(model_id, keep_alive), runtime, queues))

    @admin.post("/models/<path:model_id>/unload")
    def unload_model(model_id: str):
        return jsonify(model_status(runtime.unload(model_id), runtime, queues))

    @admin.post("/reload/<path:model_id>")
    def reload_model(model_id: str):
        return jsonify(model_status(runtime.reload(model_id), runtime, queues))

    @admin.get("/requests")
    def requests_in_flight():
        return jsonify(requests=in_flight_list(in_flight))

    @admin.delete("/requests/<request_id>")
    def cancel_request(request_id: str):
        ended = in_flight.cancel(request_id, "cancelled by DELETE /admin/requests")
        if not ended:
            raise NotFound(f"no request {request_id!r} is queued or running")
        stopped = all(event.wait(CANCEL_WAIT_SECONDS) for event in ended)
        return jsonify(request_id=request_id, cancelled=len(ended), stopped=stopped)

    @admin.before_app_request
    def _track_cancellable():
        """Every POST can be cancelled, by its id or by its client leaving, while it is served."""
        if request.method != "POST":
            return
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = CancelToken(g.request_id, request.environ.get("waitress.client_disconnected"))
        scope = g.cancel_scope = ExitStack()
        model = (request.view_args or {}).get("model_id") or _model_in_body(queues)
        scope.enter_context(in_flight.tracked(token, model=model, path=request.path))
        scope.enter_context(cancellable(token))

    @admin.teardown_app_request
    def _untrack(exc: BaseException | None) -> None:
        scope = g.pop("cancel_scope", None)
        if scope is not None:
            scope.close()

    return admin


def _model_in_body(queues: ModelQueues[Any]) -> str | None:
    """The served model an OpenAI request's body names, as the body lane found it; read here (once:
    the route reads it from the environ) when the app runs behind a server without that lane."""
    if not names_model_in_body(request.method, request.path):
        return None
    read = request.environ.get(BODY_VALUES)
    if not isinstance(read, ReadBody):
        read = read_naming_model(request.headers.get("Content-Type", ""), request.get_data(), queues.model_named)
        request.environ[BODY_VALUES] = read
    return read.model_id


def in_flight_list(in_flight: Cancellations) -> list[dict[str, Any]]:
    """`GET /admin/requests`'s list: `age` in seconds since the request came in."""
    now = time.time()
    return [{"request_id": entry.request_id, "model": entry.model, "path": entry.path,
             "age": round(max(0.0, now - entry.started), 1), "cancelled": entry.cancelled}
            for entry in in_flight.in_flight()]


class _ScopedStream:
    """A streamed body that holds its request's cancel scope until the server closes it."""

    def __init__(self, body: Iterator[bytes], scope: ExitStack) -> None:
        self.body = body
        self.scope = scope

    def __iter__(self) -> Iterator[bytes]:
        return self.body

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.scope.close()


def cancellable_while_streaming(body: Iterator[bytes]) -> _ScopedStream | Iterator[bytes]:
    """`body`, holding the request's cancel scope (which the request's end would close) until the
    stream is over: `DELETE /admin/requests/<id>` finds it for as long as it streams."""
    scope = g.pop("cancel_scope", None)
    return body if scope is None else _ScopedStream(body, scope)


def _json_object() -> dict[str, Any]:
    """The body as a JSON object; an empty body is `{}`."""
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object such as {\"keep_alive\": 600}, or empty")
    return body


def _keep_alive(body: dict[str, Any]) -> float | None:
    unknown = sorted(set(body) - {"keep_alive"})
    if unknown:
        raise BadInput(f"unknown field {unknown[0]!r}; the body takes keep_alive only")
    value = body.get("keep_alive")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput(f"keep_alive must be a number of seconds or -1 for never, not {value!r}")
    try:
        return check_keep_alive(float(value))
    except ValueError as exc:
        raise BadInput(str(exc)) from None
