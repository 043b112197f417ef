"""Shared fixtures: tiny models built once per session, one loaded runtime, app and server.

The session runtime serves tier "full" from the tiny models on the CPU, so every test talks
to the same loaded models. Set MODELS_SERVER_TINY_CACHE to a folder to reuse tiny models
between runs while developing (CI always builds them fresh into a temporary folder).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from logging.handlers import QueueHandler
from pathlib import Path

import pytest
from PIL import Image
from support.serving import PHOTO_REF, LiveServer, RayCluster, Served, run_live_server, tiny_settings

from models_server.catalog import catalog_rows, unique_repos
from models_server.engines.ray.engine import LOOPBACK_SWITCH
from models_server.http.app import create_app
from models_server.runtime import Runtime
from tiny_models import make_tiny

# The test Ray cluster runs on loopback. Ray reads this switch when it is imported, and collecting
# a test module may import Ray, so it is set here, before any module is collected.
os.environ.setdefault(LOOPBACK_SWITCH, "0")


@pytest.fixture(autouse=True)
def _root_log_handlers_restored() -> Iterator[None]:
    """`models-server` commands run in-process (cli.main) point the root logger at the stderr of
    the moment, which is pytest's capture file; once that closes, every later log line from a
    server thread would print a logging error. Such handlers leave with the test, and our loggers'
    levels are put back."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    # `check` quiets the runtime's logger for the rest of its process: here, for the rest of the test
    levels = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
              if isinstance(logger, logging.Logger) and name.startswith("models_server")}
    yield
    added = [h for h in root.handlers if h not in before]
    for handler in [h for h in added if type(h) is logging.StreamHandler or isinstance(h, QueueHandler)]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and name.startswith("models_server"):
            logger.setLevel(levels.get(name, logging.NOTSET))


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = os.environ.get("MODELS_SERVER_TINY_CACHE")
    root = Path(cache) if cache else tmp_path_factory.mktemp("tiny-models")
    make_tiny(root, unique_repos(catalog_rows()))
    return root


@pytest.fixture(scope="session")
def public_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A public/ folder holding real photos, as the controller's examples folder does."""
    from skimage import data

    public = tmp_path_factory.mktemp("served") / "public"
    examples = public / "examples"
    examples.mkdir(parents=True)
    Image.fromarray(data.astronaut()).save(examples / "photo.jpg", quality=92)
    Image.fromarray(data.chelsea()).save(examples / "cat.jpg", quality=92)
    return public


@pytest.fixture(scope="session")
def photo_ref(public_dir: Path) -> str:
    """A 512x512 real photo, named as the controller names resources."""
    return PHOTO_REF


@pytest.fixture(scope="session")
def served(tiny_root: Path, public_dir: Path) -> Served:
    settings = tiny_settings(tiny_root, public_dir)
    runtime = Runtime(settings)
    runtime.load_all()
    return Served(settings, runtime, create_app(settings, runtime), public_dir)


@pytest.fixture
def client(served: Served):
    return served.app.test_client()


@pytest.fixture(scope="session")
def live_server(served: Served) -> Iterator[LiveServer]:
    """The session app behind waitress on a free loopback port, for tests that need real HTTP."""
    live, server, thread = run_live_server(served.app)
    yield live
    server.close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """Started once for the session, on loopback, one CPU per node (tests/test_ray_*.py)."""
    if os.environ.get(LOOPBACK_SWITCH) != "0":  # Ray read it when imported (collecting a module may import Ray)
        raise RuntimeError(f"{LOOPBACK_SWITCH} must be 0 before Ray is imported: the test cluster would not "
                           "be on loopback")
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"head_node": 1}, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1, resources={"sd_node": 1})
    ray.init(address=cluster.address, namespace="models-server", log_to_driver=False)
    try:
        yield RayCluster(cluster.address, cluster.head_node.node_id, worker.node_id)
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()
        cluster.shutdown()
