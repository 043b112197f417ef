"""The Flask app: routes of the controller's contract, and one mapping of errors to JSON.

Routes do the HTTP work only: read the body, decode fields (media), hand them to the runtime,
and write outputs (media). `/running` and `/status` read in-memory state and never wait.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from models_server import hf_api
from models_server.access import install_access_control
from models_server.config import Settings
from models_server.errors import BadInput, NotFound, ServerError
from models_server.media.outputs import OutputStore
from models_server.media.resources import ResourceReader
from models_server.observability import install_observability
from models_server.openapi import install_openapi
from models_server.pipeline.fields import FieldDecoder
from models_server.runtime import Runtime

log = logging.getLogger(__name__)
EXTENSION = "models_server"


@dataclass(frozen=True)
class Services:
    """What the routes use, kept in `app.extensions` rather than in globals."""

    settings: Settings
    runtime: Runtime
    fields: FieldDecoder
    outputs: OutputStore


def services() -> Services:
    return current_app.extensions[EXTENSION]


routes = Blueprint("models", __name__)


@routes.get("/running")
def running():
    return jsonify(running=True)


@routes.get("/status")
def status_all():
    runtime = services().runtime
    return jsonify(tier=runtime.settings.tier, device=runtime.device, models=runtime.describe_all())


@routes.get("/status/<path:model_id>")
def status(model_id: str):
    runtime = services().runtime
    try:
        slot = runtime.slot(model_id)
    except NotFound as exc:
        return jsonify(loaded=False, **exc.body()), exc.status
    return jsonify(runtime.describe(slot))


@routes.post("/models/<path:model_id>")
def run_model(model_id: str):
    svc = services()
    slot = svc.runtime.slot(model_id)
    svc.runtime.check_ready(slot)
    json_body = request.get_json(silent=True)
    hf_request = hf_api.parse(
        slot.spec.task, request.mimetype, request.get_data(), json_body, request.headers.get("Accept", "*/*")
    )
    body = hf_request.body if hf_request else json_body
    if not isinstance(body, dict):
        raise BadInput("the request body must be a JSON object, e.g. {\"img_url\": \"public/examples/a.jpg\"}")
    inputs, params = svc.fields.decode(slot.spec.task, body)
    result = svc.runtime.run(model_id, inputs, params)
    if hf_request:
        content, mimetype = hf_api.respond(slot.spec.task, result, hf_request)
        if mimetype == "application/json":
            return jsonify(content)
        return current_app.response_class(content, mimetype=mimetype)
    return jsonify(svc.outputs.encode(result))


@routes.post("/admin/reload/<path:model_id>")
def reload_model(model_id: str):
    """Load a model again, e.g. after its weights were fixed; answers with its new status."""
    return jsonify(services().runtime.reload(model_id))


def _server_error(exc: ServerError):
    if exc.status >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.path, exc.status, exc.message)
    return jsonify(exc.body()), exc.status, exc.headers


def _http_error(exc: HTTPException):
    body: dict[str, Any] = {"error": {"message": exc.description, "type": exc.name.lower().replace(" ", "_")}}
    return jsonify(body), exc.code


def _unexpected_error(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    # the exception's text may hold paths of this machine: it goes to the log, not to the caller
    return jsonify({"error": {"message": f"internal error ({type(exc).__name__}); see the server log"}}), 500


def create_app(settings: Settings, runtime: Runtime) -> Flask:
    app = Flask("models_server")
    app.config["MAX_CONTENT_LENGTH"] = settings.limits.max_body_bytes
    app.json.sort_keys = False
    reader = ResourceReader(settings.public_dir, settings.limits, allow_private=settings.allow_private_urls)
    app.extensions[EXTENSION] = Services(
        settings=settings,
        runtime=runtime,
        fields=FieldDecoder(reader, settings.limits),
        outputs=OutputStore(settings.public_dir),
    )
    app.register_blueprint(routes)
    app.register_error_handler(ServerError, _server_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    install_observability(app, runtime)  # first: refused requests still get an id and are counted
    install_access_control(app, settings)
    install_openapi(app, [slot.spec for slot in runtime.slots.values()], settings)
    return app
