"""Settings, a loaded app and live servers over the tiny models, as the tests build them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from models_server.config import Settings, load_settings
from models_server.runtime import Runtime

PHOTO_REF = "public/examples/photo.jpg"


def tiny_settings(tiny_root: Path, public_dir: Path, **overrides) -> Settings:
    flags = {"tier": "full", "model_root": tiny_root, "public_dir": public_dir, "device": "cpu", **overrides}
    return load_settings(None, flags, environ={})


@contextmanager
def model_replaced(runtime: Runtime, model_id: str, replacement: object) -> Iterator[None]:
    """Serve `replacement` (e.g. a wrapper that holds a request) in place of the loaded model, then
    put the original back: through the slot table's own transition, as a reload would."""
    original, seconds = runtime.model(model_id), runtime.view(model_id).load_seconds or 0.0
    runtime.slots.loaded(model_id, replacement, seconds)
    try:
        yield
    finally:
        runtime.slots.loaded(model_id, original, seconds)


@dataclass(frozen=True)
class Served:
    settings: Settings
    runtime: Runtime
    app: Flask
    public_dir: Path


@dataclass(frozen=True)
class LiveServer:
    url: str


def run_live_server(app: Flask, threads: int = 8) -> tuple[LiveServer, object, threading.Thread]:
    import waitress

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return LiveServer(f"http://127.0.0.1:{server.effective_port}"), server, thread


@dataclass(frozen=True)
class RayCluster:
    """A two-node Ray on this machine: the head (this process's node) and a node offering `sd_node`."""

    address: str
    head_node: str
    sd_node: str


