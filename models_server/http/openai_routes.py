"""OpenAI's API under `/v1`: the model list, and one route per protocol of `protocols/openai`.

Each inference route reads which model the body names (resolving the names clients hard-code
through the config's `aliases`) and hands the body's values to the same request pipeline as
`POST /models/<id>`: the same admission, limits, URL rules, budgets and outputs. Behind the
guarded server the body was read already, before the request waited in its model's queue
(`BODY_VALUES`, body_models.py), and is not read again.
Every error here has OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so the
SDK raises its typed exceptions.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from models_server.catalog import build_catalog, served_rows
from models_server.catalog.minimal import CONTROLNET_KINDS
from models_server.config import Settings
from models_server.errors import ConfigError, NotFound, ServerError
from models_server.http.admin import cancellable_while_streaming
from models_server.http.body_models import BODY_VALUES, ReadBody
from models_server.pipeline.request import Reply, RequestPipeline
from models_server.protocols.base import RawRequest
from models_server.protocols.openai import OPENAI_PROTOCOLS, requested_model
from models_server.protocols.openai.forms import named_values
from models_server.protocols.openai.images import photo_to_annotate, with_control_map
from models_server.protocols.openai.models import model_object
from models_server.runtime import RuntimeView
from models_server.runtime.slots import State

log = logging.getLogger(__name__)
PREFIX = "/v1"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error"}
EDITS = "openai.images.edits"
# a ControlNet's annotator: what `annotate` on an image edit runs on the photo first
CONTROL_ANNOTATORS = {f"lllyasviel/sd-controlnet-{kind}": f"{kind}-control" for kind in CONTROLNET_KINDS}


def openai_error(status: int, message: str, code: str | None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    response = jsonify({"error": {"message": message, "type": kind, "param": param, "code": code}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _server_error(exc: ServerError) -> Response:
    if exc.status >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.path, exc.status, exc.message)
    code = exc.details.get("code") or ("model_not_found" if isinstance(exc, NotFound) else exc.kind)
    return openai_error(exc.status, exc.message, code, exc.details.get("param"), exc.headers)


def _http_error(exc: HTTPException) -> Response:
    code = exc.name.lower().replace(" ", "_")
    return openai_error(exc.code or 500, exc.description or exc.name, code)


def _unexpected_error(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return openai_error(500, f"internal error ({type(exc).__name__}); see the server log", "internal_error")


def check_aliases(settings: Settings) -> None:
    """Every alias names a model id of the catalog: a typo fails at start, not on a client's call.
    (A runtime may serve fewer rows; an alias of a row it lacks is then simply not served.)"""
    known = build_catalog(served_rows(settings))
    for name, target in settings.aliases.items():
        if target not in known:
            raise ConfigError(f"config key 'aliases.{name}': {target!r} is no model id in the catalog")


def openai_routes(settings: Settings, runtime: RuntimeView, pipeline: RequestPipeline) -> Blueprint:
    """The `/v1` blueprint over this app's runtime and pipeline."""
    check_aliases(settings)
    routes = Blueprint("openai", __name__, url_prefix=PREFIX)
    started = int(time.time())

    def entry(name: str) -> dict[str, Any] | None:
        """The model object of a served id or alias; None when it is not served (unknown, disabled)."""
        target = settings.aliases.get(name)
        try:
            view = runtime.view(target or name)
        except NotFound:
            return None
        if view.state is State.DISABLED:
            return None
        return model_object(name, view.spec.task.name, view.state.value, started, alias_of=view.spec.id if target
                            else None)

    @routes.get("/models")
    def list_models():
        names = [*runtime.views(), *settings.aliases]
        data = [item for item in map(entry, names) if item is not None]
        return jsonify(object="list", data=data)

    @routes.get("/models/<path:model_id>")
    def retrieve_model(model_id: str):
        item = entry(model_id)
        if item is None:
            raise NotFound(f"model {model_id!r} is not served here; GET /v1/models lists the models",
                           param="model", code="model_not_found")
        return jsonify(item)

    def run(protocol: str):
        read = request.environ.get(BODY_VALUES)
        values = (read.named_values() if isinstance(read, ReadBody)
                  else named_values(request.mimetype, dict(request.headers), request.get_data()))
        name = requested_model(values)
        model_id = settings.aliases.get(name, name)
        if model_id not in runtime.catalog:
            raise NotFound(f"model {name!r} is not served here; GET /v1/models lists the models",
                           param="model", code="model_not_found")
        g.model_id = model_id  # the metrics' model label, as a `/models/<id>` route's path gives it
        raw = RawRequest(model_id, request.mimetype, b"", dict(request.headers), protocol, values=values)
        annotator = CONTROL_ANNOTATORS.get(runtime.catalog[model_id].id) if protocol == EDITS else None
        photo = photo_to_annotate(raw) if annotator else None
        if annotator and photo is not None:  # the annotator's map, as the Inference API answers it (PNG)
            control_map = pipeline.handle(RawRequest(annotator, "application/octet-stream", photo,
                                                     {"Accept": "image/png"}))
            raw = with_control_map(raw, control_map.content)
        return _response(pipeline.handle(raw))

    for name, protocol in OPENAI_PROTOCOLS.items():
        routes.add_url_rule(protocol.route.removeprefix(PREFIX), name.replace(".", "_"),
                            lambda name=name: run(name), methods=["POST"])

    @routes.route("/<path:rest>", methods=["GET", "POST"])
    def unknown(rest: str):
        raise NotFound(f"{PREFIX}/{rest} is not a route of this server's OpenAI API", code="unknown_url")

    routes.register_error_handler(ServerError, _server_error)
    routes.register_error_handler(HTTPException, _http_error)
    routes.register_error_handler(Exception, _unexpected_error)
    return routes


def _response(reply: Reply) -> Response:
    body = reply.content if reply.stream is None else cancellable_while_streaming(reply.stream)
    return current_app.response_class(body, status=reply.status, headers=dict(reply.headers),
                                      mimetype=reply.mimetype)
