"""An OpenAPI 3.1 description of the server, built from the routes and the catalog's Fields.

Generated rather than written by hand so that it cannot drift from what the server decodes:
each task's declared fields become its request body, with the bounds the field decoder
enforces (limits named in a Field are read from the settings). Model ids contain slashes,
which an OpenAPI path parameter cannot carry, so every served id gets its own
`POST /models/<id>` path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, jsonify

from models_server.catalog import ModelSpec
from models_server.config import Settings
from models_server.http.admin_openapi import MEMORY, requests_in_flight
from models_server.http.openai_openapi import openai_paths
from models_server.kinds import KINDS
from models_server.tasks.base import Field, Task

JSON = "application/json"
ERROR_REF = {"$ref": "#/components/schemas/Error"}
STATUS_REF = {"$ref": "#/components/schemas/ModelStatus"}
ERROR_MEANINGS = {
    400: "The body is wrong: a missing field, a wrong type, a value out of range, an unreadable resource.",
    403: "Refused by allowed_clients / api_key.",
    404: "No such model id.",
    413: "The body is larger than the limit max_body_bytes.",
    500: "The model failed on this input.",
    503: "The model is loading, failed, disabled, or its queue is full (see Retry-After).",
    504: "The request waited longer than the limit request_timeout.",
}


def build_openapi(catalog_rows: Iterable[ModelSpec], settings: Settings) -> dict[str, Any]:
    """The whole document; `catalog_rows` are the rows this server serves."""
    rows = list(catalog_rows)
    paths: dict[str, Any] = {
        "/running": {"get": _running()},
        "/healthz": {"get": _healthz()},
        "/readyz": {"get": _readyz()},
        "/status": {"get": _status_all()},
        "/status/{model_id}": {"get": _status_one(rows)},
        "/openapi.json": {"get": _plain_get("This document.", JSON, {"type": "object"}, "openapi")},
        "/metrics": {"get": _plain_get("Prometheus metrics.", "text/plain", {"type": "string"}, "metrics")},
        "/": {"get": _plain_get("A human-readable status page with load, unload and cancel buttons; without "
                                "the key it asks for one (no data).", "text/html", {"type": "string"}, "index")},
        "/admin/reload/{model_id}": {"post": _reload()},
        "/admin/models/{model_id}/load": {"post": _load()},
        "/admin/models/{model_id}/unload": {"post": _unload()},
        "/admin/requests": {"get": requests_in_flight(_errors(403)["403"])},
        "/admin/requests/{request_id}": {"delete": _cancel()},
    }
    for row in rows:
        for model_id in (row.id, *row.aliases):
            paths[f"/models/{model_id}"] = {"post": _run_model(row, model_id, settings)}
    paths.update(openai_paths(rows, settings))
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "models_server",
            "version": _version(),
            "description": "Local model inference for a HuggingGPT-style controller. "
            "Every error body is {\"error\": {\"message\": ...}}. OpenAI's API is under /v1.",
        },
        "paths": paths,
        "components": {"schemas": _shared_schemas(), "securitySchemes": _security_schemes()},
    }
    if settings.api_key:
        # Either scheme is enough (or a client network in allowed_clients, which OpenAPI cannot say).
        document["security"] = [{"bearer": []}, {"apiKey": []}]
    return document


def install_openapi(app: Flask, rows: Iterable[ModelSpec], settings: Settings) -> None:
    """Serve the document at GET /openapi.json; built once, since rows and settings are fixed."""
    if "openapi" in app.view_functions:  # installed already (create_app does it)
        return
    document = build_openapi(rows, settings)
    app.add_url_rule("/openapi.json", "openapi", lambda: jsonify(document), methods=["GET"])


# -- operations -------------------------------------------------------------------------------


def _running() -> dict[str, Any]:
    schema = {"type": "object", "properties": {"running": {"const": True}}, "required": ["running"]}
    return {
        "operationId": "running",
        "summary": "Liveness; open to every client, the controller calls it first.",
        "security": [],
        "responses": {"200": _json("The server is up.", schema)},
    }


def _healthz() -> dict[str, Any]:
    schema = {"type": "object", "properties": {"status": {"const": "ok"}}, "required": ["status"]}
    return {
        "operationId": "healthz",
        "summary": "Liveness probe: the process serves. Open to every client.",
        "security": [],
        "responses": {"200": _json("The server is up.", schema)},
    }


def _readyz() -> dict[str, Any]:
    ids = {"type": "array", "items": {"type": "string"}}
    schema = {"type": "object", "properties": {"ready": {"type": "boolean"}, "loading": ids, "failed": ids},
              "required": ["ready", "loading", "failed"]}
    return {
        "operationId": "readyz",
        "summary": "Readiness probe: 200 once no preloaded model is still loading. Open to every client.",
        "security": [],
        "responses": {"200": _json("Every preloaded model is loaded or has failed.", schema),
                      "503": _json("Models still loading (listed).", schema)},
    }


def _status_all() -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "tier": {"type": "string"},
            "device": {"type": "string"},
            "models": {"type": "object", "additionalProperties": STATUS_REF},
            "memory": MEMORY,
        },
        "required": ["models"],
    }
    return {
        "operationId": "statusAll",
        "summary": "Every model and its state.",
        "responses": {"200": _json("The state of every model.", schema), **_errors(403)},
    }


def _status_one(rows: list[ModelSpec]) -> dict[str, Any]:
    return {
        "operationId": "status",
        "summary": "One model's state; `loaded: true` means it can serve now.",
        "parameters": [_model_id_parameter(rows)],
        "responses": {"200": _json("The model's state.", STATUS_REF), **_errors(403, 404)},
    }


def _reload() -> dict[str, Any]:
    return {
        "operationId": "reload",
        "summary": "Unload and load one model again.",
        "parameters": [_model_id_parameter([])],
        "responses": {"200": _json("The model's state after the reload.", STATUS_REF), **_errors(403, 404)},
    }


def _load() -> dict[str, Any]:
    keep_alive = {"type": "number", "description": "seconds idle before it unloads; -1 never"}
    body = {"type": "object", "properties": {"keep_alive": keep_alive}, "additionalProperties": False}
    return {
        "operationId": "load",
        "summary": "Load a model now (lazy or evicted), within the memory budgets; answers once it is loaded.",
        "parameters": [_model_id_parameter([])],
        "requestBody": {"required": False, "content": {JSON: {"schema": body}}},
        "responses": {"200": _json("The model's state, loaded.", STATUS_REF), **_errors(400, 403, 404, 503)},
    }


def _unload() -> dict[str, Any]:
    return {
        "operationId": "unload",
        "summary": "Free a model's memory once its running and queued requests finish; the next request loads it.",
        "parameters": [_model_id_parameter([])],
        "responses": {"200": _json("The model's state, unloaded.", STATUS_REF), **_errors(403, 404, 504)},
    }


def _cancel() -> dict[str, Any]:
    answer = {"type": "object", "properties": {"request_id": {"type": "string"}, "cancelled": {"type": "integer"},
                                                "stopped": {"type": "boolean"}}}
    return {
        "operationId": "cancel",
        "summary": "Cancel a queued or running request by its X-Request-ID; its client gets 409 cancelled.",
        "parameters": [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json("How many requests had the id, and whether they stopped.", answer),
                      **_errors(403, 404)},
    }


def _plain_get(summary: str, media_type: str, schema: dict[str, Any], operation_id: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "responses": {"200": {"description": summary, "content": {media_type: {"schema": schema}}}, **_errors(403)},
    }


def _run_model(row: ModelSpec, model_id: str, settings: Settings) -> dict[str, Any]:
    alias = "" if model_id == row.id else f" (an alias of {row.id})"
    return {
        "operationId": f"run:{model_id}",
        "summary": f"Run {model_id}{alias}: {row.task.name}.",
        "tags": [row.task.name],
        "requestBody": {"required": True, "content": {JSON: {"schema": task_body_schema(row.task, settings)}}},
        "responses": {
            "200": _json(
                "The task's result: {\"path\": \"/images/...\"} for a produced file, else the task's JSON.", {}
            ),
            **_errors(400, 403, 404, 413, 500, 503, 504),
        },
    }


def _model_id_parameter(rows: list[ModelSpec]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    served = [name for row in rows for name in (row.id, *row.aliases)]
    if served:
        schema["examples"] = served[:5]
    return {
        "name": "model_id",
        "in": "path",
        "required": True,
        "description": "A served model id; it may contain slashes (lllyasviel/sd-controlnet-canny).",
        "schema": schema,
    }


# -- request bodies ---------------------------------------------------------------------------


def task_body_schema(task: Task, settings: Settings) -> dict[str, Any]:
    """A JSON object with one property per declared field and alias; undeclared keys are ignored."""
    properties: dict[str, Any] = {}
    alternatives: list[list[str]] = []
    for field in (*task.inputs, *task.params):
        field_body = field_schema(field, settings)
        properties[field.name] = field_body if field.required else _nullable(field_body)
        for alias in field.aliases:
            properties[alias] = {**properties[field.name], "description": f"Same as '{field.name}'."}
        if field.required:
            alternatives.append([field.name, *field.aliases])
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    # A required field may arrive under any of its names: say so as "one of these is present".
    for names in alternatives:
        if len(names) == 1:
            schema.setdefault("required", []).append(names[0])
        else:
            schema.setdefault("allOf", []).append({"anyOf": [{"required": [name]} for name in names]})
    return schema


def field_schema(field: Field, settings: Settings) -> dict[str, Any]:
    """The JSON Schema of one field, with the bounds FieldDecoder checks."""
    schema = KINDS[field.kind].schema(field, settings.limits)
    if field.default is not None:
        schema["default"] = field.default
    return schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Optional fields may be null: the controller sends `"text": null` and the server reads it as absent."""
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}


# -- shared pieces ----------------------------------------------------------------------------


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _json(ERROR_MEANINGS[status], ERROR_REF) for status in statuses}


def _shared_schemas() -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {"message": {"type": "string"}, "type": {"type": "string"}},
                }
            },
        },
        "ModelStatus": {
            "type": "object",
            "required": ["loaded", "state"],
            "properties": {
                "loaded": {"type": "boolean"},
                "state": {"type": "string", "examples": ["loaded", "loading", "failed", "disabled"]},
                "task": {"type": "string"},
                "compute_type": {"enum": ["gpu", "cpu"]},
                "framework": {"type": "string"},
                "device": {"type": "string"},
                "queue": {"type": "integer"},
                "replicas": {"type": "integer", "description": "--engine ray: live replicas holding the model"},
            },
        },
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <api_key>"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("models-server")
    except PackageNotFoundError:
        return "0"
