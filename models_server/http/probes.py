"""Probes for Docker and Kubernetes: `/healthz` (the process serves) and `/readyz` (the tier is up).

Both read in-memory state only, ride the server's status lane and are open without a key
(`access.OPEN_PATHS`): probes send no credentials. Ready means no model is still loading from
the start (or a reload): each preloaded model is loaded, or has failed for good, or waits to
load on its first request because busy models held the budget. A lazy model loading on demand
keeps its state servable, so it never makes the server unready.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from models_server.runtime import RuntimeView, State


def probe_routes(runtime: RuntimeView) -> Blueprint:
    probes = Blueprint("probes", __name__)

    @probes.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @probes.get("/readyz")
    def readyz():
        views = runtime.views()
        loading = [model_id for model_id, view in views.items() if view.state is State.LOADING]
        failed = [model_id for model_id, view in views.items() if view.state is State.FAILED]
        return jsonify(ready=not loading, loading=loading, failed=failed), 503 if loading else 200

    return probes
