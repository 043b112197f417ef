"""Observability: request ids, one access-log line per request, Prometheus metrics.

Everything hangs off `install_observability(app, runtime)` so the app factory stays about routes.
The hot path only stamps a request id, bumps one counter and one histogram; everything else
(states, queues, memory) is read from the runtime when someone looks: at scrape or page time.

Access-log format (logger `models_server.access`), one line per request, logfmt `key=value` pairs:

    id=3f2a... method=POST path=/models/canny-control model=canny-control status=200 ms=41.7

Values that are not plain tokens are JSON-quoted, so an untrusted path or id can never forge a
second line. The same fields ride on the record as `extra` attributes (`request_id`, `method`,
`path`, `model`, `status`, `ms`) for a JSON formatter. Each value is cut to `FIELD_CHARS`
characters: a client's 200 KB request target costs one short line. Polls (`/status`, `/running`,
`/metrics`, the health routes, the status page) are logged at DEBUG only: the controller polls
`/status` for every candidate of every task, and those lines would drown the ones that matter.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from models_server.errors import NotFound
from models_server.logs.writer import bounded
from models_server.runtime import RuntimeView, State

access_log = logging.getLogger("models_server.access")

EXTENSION = "models_server.observability"
REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._:/@+-]+")
UNKNOWN_MODEL = "(unknown)"  # one label for every id we don't serve: URLs must not grow the metric set
QUIET_PATHS = frozenset({"/", "/metrics", "/status", "/running", "/healthz", "/readyz"})
QUIET_PREFIXES = ("/status/",)
FIELD_CHARS = 256  # per access-line value: a path, an id, a model name
# Status polls take milliseconds, a diffusion request tens of seconds: buckets span both.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# `models_server_device_<field>` per field of runtime.device_memory.DeviceMemory, labelled by device
DEVICE_GAUGES = {
    "models_bytes": "Bytes of the served models' weights on the device, shared weights once",
    "allocated_bytes": "torch.cuda.memory_allocated (CUDA only)",
    "reserved_bytes": "torch.cuda.memory_reserved on CUDA; on the CPU the server process's resident set",
    "free_bytes": "Free memory of the device, torch.cuda.mem_get_info (CUDA only)",
    "total_bytes": "Total memory of the device, torch.cuda.mem_get_info (CUDA only)",
}


@dataclass
class LastRequest:
    """What the status page shows of a model's latest inference; the runtime does not keep it."""

    latency_ms: dict[str, float] = field(default_factory=dict)
    error: dict[str, str] = field(default_factory=dict)


class Observer:
    """Per-app metrics and request bookkeeping; one per app, so test apps never share a registry."""

    def __init__(self, runtime: RuntimeView) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "models_server_requests", "HTTP requests answered, by route, served model and status code",
            ["endpoint", "model", "code"], registry=self.registry,
        )
        self.latency = Histogram(
            "models_server_request_seconds", "Time from request start to response, by route and served model",
            ["endpoint", "model"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.registry.register(RuntimeCollector(runtime))
        self.last = LastRequest()

    def canonical_id(self, model_id: str | None) -> str | None:
        """The served id for an id or alias; None when no such model (so it can't become a label)."""
        if model_id is None:
            return None
        try:
            return self.runtime.resolve(model_id)
        except NotFound:
            return None


# -- metrics read at scrape time -----------------------------------------------------------


class RuntimeCollector(Collector):
    """Gauges computed from the runtime's slot snapshots on each scrape, so serving never updates them."""

    def __init__(self, runtime: RuntimeView) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        states = GaugeMetricFamily(
            "models_server_model_state", "1 for the state each model is in, 0 for the others", labels=["model", "state"]
        )
        queue = GaugeMetricFamily(
            "models_server_model_queue", "Requests holding or waiting for the model's lock", labels=["model"]
        )
        model_bytes = GaugeMetricFamily(
            "models_server_model_resident_bytes", "Bytes of weights the model holds where it is placed",
            labels=["model", "placement"],
        )
        known_states = [state.value for state in State]
        for model_id, view in self.runtime.views().items():
            current = str(view.state.value)
            for state in dict.fromkeys([*known_states, current]):
                states.add_metric([model_id, state], 1.0 if state == current else 0.0)
            queue.add_metric([model_id], view.queue)
            model_bytes.add_metric([model_id, view.placement], view.bytes)
        resident = GaugeMetricFamily(
            "models_server_resident_bytes", "Bytes of model weights held on each device kind, shared weights once",
            labels=["placement"],
        )
        for placement, size in self.runtime.resident_bytes().items():
            resident.add_metric([placement], size)
        yield from (states, queue, model_bytes, resident)
        yield from self._devices()

    def _devices(self) -> Iterator[Metric]:
        """Per device, as `/status`'s `memory`; a figure a device lacks (CUDA's on the CPU) has no sample."""
        gauges = {
            name: GaugeMetricFamily(f"models_server_device_{name}", text, labels=["device"])
            for name, text in DEVICE_GAUGES.items()
        }
        for device, memory in self.runtime.memory().items():
            for name, value in memory.as_json().items():
                if value is not None:
                    gauges[name].add_metric([device], value)
        yield from gauges.values()


# -- request ids and the access line -------------------------------------------------------


def request_id_from(header: str | None) -> str:
    """Echo the caller's id when it is a plain token (so it can go in logs), else make one."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def logfmt(fields: dict[str, Any]) -> str:
    return " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())


def _logfmt_value(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text if _PLAIN_VALUE.fullmatch(text) else json.dumps(text)


def is_poll(method: str, path: str) -> bool:
    """A read of state that pollers repeat: logged at DEBUG."""
    return method in ("GET", "HEAD") and (path in QUIET_PATHS or path.startswith(QUIET_PREFIXES))


def _before_request() -> None:
    if "request_id" not in g:  # the cancellation hook (http/admin.py), which runs first, names it too
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()


def _after_request(response: Response) -> Response:
    observer: Observer = _observer()
    request_id = g.get("request_id") or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    raw_id = (request.view_args or {}).get("model_id") or g.get("model_id")  # routes naming it in the body
    model = observer.canonical_id(raw_id)
    label = model or (UNKNOWN_MODEL if raw_id is not None else "")
    endpoint = request.endpoint or "unmatched"
    observer.requests.labels(endpoint, label, str(response.status_code)).inc()
    observer.latency.labels(endpoint, label).observe(seconds)
    if model and request.method == "POST":
        _remember(observer.last, model, response, seconds)
    fields = {
        "id": request_id, "method": bounded(request.method, FIELD_CHARS), "path": bounded(request.path, FIELD_CHARS),
        "model": None if raw_id is None else bounded(raw_id, FIELD_CHARS),
        "status": response.status_code, "ms": round(seconds * 1000, 1),
    }
    level = logging.DEBUG if is_poll(request.method, request.path) else logging.INFO
    extra = {"request_id": request_id, **{key: value for key, value in fields.items() if key != "id"}}
    access_log.log(level, logfmt(fields), extra=extra)
    return response


def _remember(last: LastRequest, model: str, response: Response, seconds: float) -> None:
    last.latency_ms[model] = round(seconds * 1000, 1)
    if response.status_code >= 400:
        body = response.get_json(silent=True) if response.is_json else None
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        last.error[model] = f"{time.strftime('%H:%M:%S')} {response.status_code}: {message or response.status}"


def _observer() -> Observer:
    return current_app.extensions[EXTENSION]


def install_observability(app: Flask, runtime: RuntimeView) -> None:
    """Register `/metrics` and the per-request hooks on `app`; once per app."""
    if EXTENSION in app.extensions:
        return
    observer = Observer(runtime)
    app.extensions[EXTENSION] = observer

    def metrics() -> Response:
        return Response(generate_latest(observer.registry), content_type=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "observability.metrics", metrics, methods=["GET"])
    app.before_request(_before_request)
    app.after_request(_after_request)
