"""The status page (`/`): every model's state, memory, queue, progress and last error, each
device's memory and the requests being served, for a person; with buttons to load and unload a
model and to cancel a request.

Read from the runtime's snapshots, the observer's bookkeeping and the in-flight registry when
someone looks; it refreshes itself every few seconds. The buttons call the `/admin` routes, which
obey the access rules: like the playground, the page sends the api_key a person typed (kept in
the tab's sessionStorage, under the playground's name for it), and asks for it on a 401 or 403.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import Flask, Response

from models_server.http.access import refused_page
from models_server.http.admin import in_flight_list
from models_server.http.observability import EXTENSION, Observer
from models_server.http.status_body import model_status
from models_server.redact import redact_urls
from models_server.runtime import RuntimeView, State
from models_server.runtime.cancellation import Cancellations

PAGE_REFRESH_SECONDS = 3
TEMPLATE = Path(__file__).with_name("templates") / "status.html"
# What a person can do to a model in each state: a loading or disabled one takes no action.
ACTIONS = {State.LOADED: ("unload",), State.NOT_LOADED: ("load",), State.FAILED: ("load",)}


def human_bytes(size: int | None) -> str:
    if size is None or size <= 0:
        return "–"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _milliseconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def _progress(status: dict[str, Any]) -> str:
    progress = status.get("progress")
    if not isinstance(progress, dict) or progress.get("total") is None:
        return ""
    return f"{progress.get('step', 0)}/{progress['total']}"


def _error(status: dict[str, Any], last_error: str | None) -> str:
    """A load failure (from the runtime) first, else the latest failed request seen here; any URL
    in it without password or query, since every client can read the page."""
    error = status.get("error")
    if isinstance(error, dict) and error.get("message"):
        return redact_urls(str(error["message"]))
    return redact_urls(str(status.get("last_error") or last_error or ""))


def page_rows(observer: Observer) -> list[dict[str, Any]]:
    """One plain dict per model for the template: all formatting happens here, not in Jinja."""
    runtime, rows = observer.runtime, []
    for model_id, view in runtime.views().items():
        status = model_status(view, runtime)
        latency = status.get("last_latency_ms", observer.last.latency_ms.get(model_id))
        rows.append({
            "id": model_id,
            "task": status.get("task", ""),
            "state": status.get("state", str(view.state.value)),
            "placement": view.placement,
            # an unloaded model's `bytes` is its last measured size (budgets read it), not memory it holds
            "memory": human_bytes(view.bytes if view.placement != "unloaded" else 0),
            "queue": status.get("queue", view.queue),
            "progress": _progress(status),
            "latency": _milliseconds(latency),
            "error": _error(status, observer.last.error.get(model_id)),
            "actions": ACTIONS.get(view.state, ()),
        })
    return rows


def device_rows(runtime: RuntimeView) -> list[dict[str, Any]]:
    """One row per device: the models' bytes raw too (`models_bytes`), for scripts reading the page."""
    return [{"device": device, "models_bytes": memory.models_bytes, "models": human_bytes(memory.models_bytes),
             "allocated": human_bytes(memory.allocated_bytes), "reserved": human_bytes(memory.reserved_bytes),
             "free": human_bytes(memory.free_bytes), "total": human_bytes(memory.total_bytes)}
            for device, memory in runtime.memory().items()]


def request_rows(in_flight: Cancellations) -> list[dict[str, Any]]:
    return [{**entry, "age": f"{entry['age']:.0f} s"} for entry in in_flight_list(in_flight)]


def _summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Model count per state, in the order the runtime declares its states."""
    order = [state.value for state in State]
    counts: dict[str, int] = {}
    for row in sorted(rows, key=lambda row: order.index(row["state"]) if row["state"] in order else len(order)):
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts


def install_status_page(app: Flask, in_flight: Cancellations) -> None:
    """Register `/` on an app that has observability installed (its observer keeps the last
    requests); `in_flight`: the requests being served, which the page offers to cancel."""
    observer: Observer = app.extensions[EXTENSION]
    runtime = observer.runtime
    template = app.jinja_env.from_string(TEMPLATE.read_text(encoding="utf-8"))  # autoescaped: no file name

    def status_page() -> Response:
        refused = refused_page()
        if refused is not None:  # no data: the page asks for the key and its script sends it
            html = template.render(refused=refused, rows=[], summary={}, devices=[], requests=[],
                                   refresh_seconds=PAGE_REFRESH_SECONDS, now=time.strftime("%H:%M:%S"))
            return Response(html, mimetype="text/html")
        rows = page_rows(observer)
        html = template.render(
            rows=rows, summary=_summary(rows), tier=runtime.settings.tier, device=runtime.device,
            devices=device_rows(runtime), requests=request_rows(in_flight),
            refresh_seconds=PAGE_REFRESH_SECONDS, now=time.strftime("%H:%M:%S"),
        )
        return Response(html, mimetype="text/html")

    app.add_url_rule("/", "observability.page", status_page, methods=["GET"])
