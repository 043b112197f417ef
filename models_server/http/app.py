"""The Flask app: routes of the controller's contract, and one mapping of errors to JSON.

Routes are thin: they hand the request's bytes to the request pipeline (which knows no Flask)
and send back its reply. `/running` and `/status` read in-memory snapshots and never wait.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, overload

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from models_server.config import Settings
from models_server.errors import NotFound, ServerError
from models_server.http.access import install_access_control
from models_server.http.admin import admin_routes
from models_server.http.model_queues import ModelQueues
from models_server.http.observability import install_observability
from models_server.http.openai_routes import openai_routes
from models_server.http.openapi import install_openapi
from models_server.http.playground import install_playground
from models_server.http.probes import probe_routes
from models_server.http.status_body import all_statuses, memory_status, model_status
from models_server.http.status_page import install_status_page
from models_server.media.outputs import OutputStore
from models_server.media.resources import ResourceReader
from models_server.pipeline.executor import LocalExecutor
from models_server.pipeline.fields import FieldDecoder
from models_server.pipeline.request import Reply, RequestPipeline, error_reply
from models_server.protocols.base import RawRequest
from models_server.runtime import Runtime, RuntimeView
from models_server.runtime.cancellation import Cancellations

log = logging.getLogger(__name__)
EXTENSION = "models_server"


@dataclass(frozen=True)
class Services:
    """What the routes use, kept in `app.extensions` rather than in globals."""

    settings: Settings
    runtime: RuntimeView
    pipeline: RequestPipeline
    queues: ModelQueues[Any]  # each model's queue at the HTTP layer, read for its estimated wait


def services() -> Services:
    return current_app.extensions[EXTENSION]


routes = Blueprint("models", __name__)


@routes.get("/running")
def running():
    return jsonify(running=True)


@routes.get("/status")
def status_all():
    runtime, queues = services().runtime, services().queues
    return jsonify(tier=runtime.settings.tier, device=runtime.device, models=all_statuses(runtime, queues),
                   memory=memory_status(runtime))


@routes.get("/status/<path:model_id>")
def status(model_id: str):
    runtime = services().runtime
    try:
        view = runtime.view(model_id)
    except NotFound as exc:
        return jsonify(loaded=False, **exc.body()), exc.status
    return jsonify(model_status(view, runtime, services().queues))


@routes.post("/models/<path:model_id>")
def run_model(model_id: str):
    raw = RawRequest(model_id, request.mimetype, request.get_data(), dict(request.headers))
    return _response(services().pipeline.handle(raw))


def _response(reply: Reply):
    return current_app.response_class(reply.content, status=reply.status, headers=dict(reply.headers),
                                      mimetype=reply.mimetype)


def _server_error(exc: ServerError):
    if exc.status >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.path, exc.status, exc.message)
    return _response(error_reply(exc))


def _http_error(exc: HTTPException):
    body: dict[str, Any] = {"error": {"message": exc.description, "type": exc.name.lower().replace(" ", "_")}}
    return jsonify(body), exc.code


def _unexpected_error(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    # the exception's text may hold paths of this machine: it goes to the log, not to the caller
    body = {"error": {"message": f"internal error ({type(exc).__name__}); see the server log", "type": "server_error"}}
    return jsonify(body), 500


@overload
def create_app(settings: Settings, runtime: Runtime, *, queues: ModelQueues[Any] | None = None) -> Flask: ...


@overload
def create_app(settings: Settings, runtime: RuntimeView, pipeline: RequestPipeline, *,
               queues: ModelQueues[Any] | None = None) -> Flask: ...


def create_app(settings: Settings, runtime: RuntimeView, pipeline: RequestPipeline | None = None, *,
               queues: ModelQueues[Any] | None = None) -> Flask:
    """`pipeline`: another engine's (the Ray ingress runs models elsewhere); default: run them on
    `runtime`, in this process. `queues`: the ones the guarded server in front of the app keeps
    (default: queues of its own, which nothing fills, when the app runs behind another server)."""
    app = Flask("models_server")
    app.config["MAX_CONTENT_LENGTH"] = settings.limits.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider's setting
    if pipeline is None:
        if not isinstance(runtime, Runtime):
            raise TypeError("a runtime whose models run elsewhere needs its engine's pipeline")
        reader = ResourceReader(settings.public_dir, settings.limits, allow_private=settings.allow_private_urls)
        executor = LocalExecutor(runtime, FieldDecoder(reader, settings.limits))
        pipeline = RequestPipeline(runtime, executor, OutputStore(settings.public_dir))
    if queues is None:
        queues = ModelQueues.for_runtime(runtime)
    app.extensions[EXTENSION] = Services(settings=settings, runtime=runtime, pipeline=pipeline, queues=queues)
    app.register_blueprint(routes)
    app.register_blueprint(openai_routes(settings, runtime, pipeline))
    app.register_blueprint(probe_routes(runtime))
    in_flight = Cancellations()
    app.register_blueprint(admin_routes(runtime, queues, in_flight))
    app.register_error_handler(ServerError, _server_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    install_observability(app, runtime)  # first: refused requests still get an id and are counted
    install_status_page(app, in_flight)
    install_playground(app, settings.public_dir)
    install_access_control(app, settings)
    install_openapi(app, [view.spec for view in runtime.views().values()], settings)
    return app
