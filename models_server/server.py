"""Serving: open the port first, then load the tier in the background."""

from __future__ import annotations

import logging

from models_server.app import create_app
from models_server.config import Settings
from models_server.runtime import Runtime

log = logging.getLogger(__name__)


def serve(settings: Settings) -> None:
    import waitress

    runtime = Runtime(settings)
    app = create_app(settings, runtime)
    server = waitress.create_server(app, host=settings.host, port=settings.port, threads=settings.threads)
    runtime.start_loading()
    log.info("serving tier %s on http://%s:%s", settings.tier, settings.host, server.effective_port)
    server.run()
