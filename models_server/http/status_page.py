"""The status page (`/`): every model's state, memory, queue, progress and last error, for a person.

Read from the runtime's snapshots and the observer's bookkeeping when someone looks; it refreshes
itself every few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import Flask, Response

from models_server.http.observability import EXTENSION, Observer, cuda_memory
from models_server.http.status_body import model_status
from models_server.redact import redact_urls
from models_server.runtime import State

PAGE_REFRESH_SECONDS = 3
TEMPLATE = Path(__file__).with_name("templates") / "status.html"



def human_bytes(size: int) -> str:
    if size <= 0:
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
            "memory": human_bytes(view.bytes),
            "queue": status.get("queue", view.queue),
            "progress": _progress(status),
            "latency": _milliseconds(latency),
            "error": _error(status, observer.last.error.get(model_id)),
        })
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Model count per state, in the order the runtime declares its states."""
    order = [state.value for state in State]
    counts: dict[str, int] = {}
    for row in sorted(rows, key=lambda row: order.index(row["state"]) if row["state"] in order else len(order)):
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts


def install_status_page(app: Flask) -> None:
    """Register `/` on an app that has observability installed (its observer keeps the last requests)."""
    observer: Observer = app.extensions[EXTENSION]
    runtime = observer.runtime
    template = app.jinja_env.from_string(TEMPLATE.read_text(encoding="utf-8"))  # autoescaped: no file name

    def status_page() -> Response:
        rows = page_rows(observer)
        html = template.render(
            rows=rows, summary=_summary(rows), tier=runtime.settings.tier, device=runtime.device,
            resident={kind: human_bytes(size) for kind, size in runtime.resident_bytes().items()},
            cuda=[(device, human_bytes(used), human_bytes(held)) for device, used, held in cuda_memory()],
            refresh_seconds=PAGE_REFRESH_SECONDS, now=time.strftime("%H:%M:%S"),
        )
        return Response(html, mimetype="text/html")

    app.add_url_rule("/", "observability.page", status_page, methods=["GET"])
