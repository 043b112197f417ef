"""Start (or join) Ray, deploy the ingress and the groups, and keep serving until stopped.

Safe defaults: a Ray this command starts listens on loopback when the server does (Ray otherwise
takes the machine's address), with no dashboard unless `ray.dashboard`; Serve's HTTP proxy is not
started (the ingress serves `host:port` itself, on this node). Deploying never waits on groups: the
ingress comes up first, and a group Ray cannot place shows `failed` once `ray.deploy_timeout` passes.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from models_server.config import Settings
from models_server.media.outputs import OutputStore

log = logging.getLogger(__name__)
INGRESS_START_TIMEOUT = 120.0  # seconds
# Ray's switch for "this node is part of a multi-machine cluster": off, a local Ray takes loopback
LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def start_ray(settings: Settings, address: str | None) -> None:
    """Join `address`, or start a local Ray bound like the server; idempotent within a process."""
    if address is None and is_loopback(settings.host):
        os.environ.setdefault(LOOPBACK_SWITCH, "0")  # read when ray is imported: before the import
    import ray

    if ray.is_initialized():
        return
    options: dict[str, Any] = {"namespace": "models-server", "log_to_driver": True}
    if address is None:
        options.update(include_dashboard=settings.ray.dashboard, num_cpus=settings.ray.num_cpus)
    else:
        options["address"] = address
    ray.init(**options)


@dataclass(frozen=True)
class Deployed:
    """The running app, and the thread still inside `serve.run` while a group has not started."""

    app: Any
    runner: threading.Thread

    def shutdown(self, timeout: float = 30.0) -> None:
        """Delete the app, then shut Serve down, and let `serve.run` return before anyone shuts Ray
        down: Ray ends the whole process (exit code 1) when a thread calls into it after
        `ray.shutdown()`. Deleting first waits up to a minute for the replicas' graceful shutdown
        (requests in flight answered, `shutdown_grace_seconds`); `serve.shutdown` alone gives its
        controller 30 s and then kills everything."""
        from ray import serve

        from models_server.engines.ray.deployments import APP_NAME

        try:
            serve.delete(APP_NAME)
        except Exception as exc:  # no Serve running (shut down already), or Ray gone: nothing to drain
            log.debug("deleting the Serve app: %s", exc)
        serve.shutdown()
        self.runner.join(timeout)


def deploy(settings: Settings, address: str | None = None) -> Deployed:
    """Deploy the app without waiting for the groups; returns once the ingress answers `/running`."""
    start_ray(settings, address)
    from ray import serve

    from models_server.engines.ray.deployments import APP_NAME, build_app

    OutputStore(settings.public_dir).remove_leftovers()
    serve.start(proxy_location="Disabled")  # the ingress listens on host:port itself
    app, plans = build_app(settings, ingress_node=this_node_resource())
    for plan in plans:
        log.info("group %s asks for %s per replica (x%d): %s", plan.name, plan.resources(), plan.config.replicas,
                 ", ".join(plan.models))
    # serve.run waits for every deployment to run, forever if a group cannot be placed: on a thread
    runner = threading.Thread(target=_run_app, args=(app, APP_NAME), name="serve-run", daemon=True)
    runner.start()
    # the ingress holds no model: it is up in seconds, but a loaded machine may take a minute or two
    # to start Ray's and Serve's processes, whatever deadline a config gives its groups
    wait_for_ingress(settings, max(settings.ray.deploy_timeout, INGRESS_START_TIMEOUT))
    return Deployed(app, runner)


def _run_app(app: Any, name: str) -> None:
    """`serve.run`, which returns only once every group runs: the groups' state is the poller's to
    report, so its outcome here is only logged (it fails when Serve shuts down while it waits)."""
    from ray import serve

    try:
        serve.run(app, name=name, route_prefix=None)
        log.info("every group of %s is running", name)
    except Exception as exc:
        log.debug("serve.run ended without every group running: %s", exc)


def this_node_resource() -> str:
    """Ray's resource naming the node this command runs on (where public/ is): the head's own
    name when it is the head, as several nodes of one machine share an address."""
    import ray

    here = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node["NodeID"] == here and "node:__internal_head__" in node["Resources"]:
            return "node:__internal_head__"
    return f"node:{ray.util.get_node_ip_address()}"


def wait_for_ingress(settings: Settings, timeout: float) -> None:
    """Until the ingress answers `/running`; RuntimeError when Ray gave up on it, or at `timeout`."""
    from models_server.engines.ray.deployments import INGRESS_NAME, deployment_statuses

    url = f"http://{_connectable(settings.host)}:{settings.port}/running"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        status, message, _ = deployment_statuses().get(INGRESS_NAME, ("", "", {}))
        if status in ("DEPLOY_FAILED", "UNHEALTHY"):
            raise RuntimeError(f"Ray could not start the ingress: {message}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Ray ingress did not answer {url} within {timeout:g}s")
        time.sleep(0.2)


def _connectable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host


def serve_on_ray(settings: Settings, address: str | None = None) -> None:
    """`models-server serve --engine ray`: deploy, then wait for SIGTERM/SIGINT and shut Serve down."""
    deployed = deploy(settings, address)  # first: a local Ray's binding is chosen before ray is imported
    log.info("serving tier %s on Ray at http://%s:%s", settings.tier, settings.host, settings.port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(timeout=1.0):  # a timed wait: signal handlers run in between
        pass
    log.info("stopping: shutting down the Serve app")
    deployed.shutdown()
