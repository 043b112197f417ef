"""Serving: open the port first, load the tier in the background, stop gracefully on a signal."""

from __future__ import annotations

import logging
import signal
import threading

from models_server.config import Settings
from models_server.engines.startup import load_tier
from models_server.http.access import warn_if_open
from models_server.http.app import create_app
from models_server.http.channel import GuardedChannel
from models_server.http.model_queues import ModelQueues
from models_server.http.server import ServingOptions, make_server
from models_server.http.stop import GracefulStop
from models_server.media.outputs import OutputStore
from models_server.runtime import Runtime

log = logging.getLogger(__name__)


def serving_options(settings: Settings) -> ServingOptions:
    """The HTTP server's knobs from the settings; the one place that reads them."""
    return ServingOptions(
        threads=settings.threads,
        max_body_bytes=settings.limits.max_body_bytes,
        status_threads=settings.status_threads,
        max_pending=settings.max_pending,
        connection_limit=settings.connection_limit,
        connections_per_client=settings.connections_per_client or settings.threads + settings.max_pending + 32,
        header_timeout=settings.header_timeout,
        request_read_timeout=settings.request_read_timeout,
        idle_timeout=settings.idle_timeout,
        send_timeout=settings.send_timeout,
    )


def serve(settings: Settings) -> None:
    runtime = Runtime(settings)
    OutputStore(settings.public_dir).remove_leftovers()  # of a process killed mid-write
    queues: ModelQueues[GuardedChannel] = ModelQueues.for_runtime(runtime)
    app = create_app(settings, runtime, queues=queues)
    server = make_server(app, settings.host, settings.port, serving_options(settings), queues)
    stopper = GracefulStop(server, settings.shutdown_grace_seconds)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stopper.request)
    warn_if_open(settings, log)
    threading.Thread(target=load_tier, args=(runtime,), name="model-loader", daemon=True).start()
    runtime.keep_alive.start()
    log.info("serving tier %s on http://%s:%s", settings.tier, settings.host, server.effective_port)
    server.run()
    server.shutdown_lanes(timeout=5)
    log.info("stopped")
