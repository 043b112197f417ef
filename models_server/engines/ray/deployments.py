"""The Ray Serve deployments: one per group (replicas own a `GroupWorker`) and the ingress.

The ingress serves HTTP itself, with the project's guarded server (the single-process server's:
status lane, connection caps, body limits, slow-client deadlines) over the project's Flask app
(a ClusterRuntime, and a pipeline whose GroupExecutor ships to the groups). Serve's own HTTP
proxy is not started: it would add a process and two hops to every request, and under load those
hops, not the app, were most of `/status`'s time. Serve still places, starts, health-checks and restarts the ingress.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray
from ray import serve

from models_server.catalog import served_rows
from models_server.config import Settings
from models_server.engines.ray.board import ReportBoard
from models_server.engines.ray.cluster import (
    ClusterRuntime,
    GroupCondition,
    Poller,
    condition_without_replica,
    error_for,
    ingress_pipeline,
)
from models_server.engines.ray.grouping import GroupPlan, plan_groups
from models_server.engines.ray.worker import Failure, GroupReport, GroupWorker, ModelAsk, ReportPusher, group_settings
from models_server.errors import InferenceFailed, TimedOut
from models_server.progress import CancelToken, partials_receiver
from models_server.protocols.base import Encoded, EncodedPart, RawRequest

log = logging.getLogger(__name__)
APP_NAME = "models-server"
INGRESS_NAME = "ingress"
CANCEL_CHECK_SECONDS = 0.1  # how often the ingress looks at a request's cancel token while its group runs it
LEAVE_WAIT_SECONDS = 30.0  # how long the ingress waits for a cancelled request to leave its group


def deployment_name(group: str) -> str:
    return f"group-{group}" if not group.startswith("group-") else group


class GroupDeployment:
    """A replica of one group: a runtime for its models, loading in the background from the start."""

    def __init__(self, name: str, settings: Settings, models: tuple[str, ...], max_gpu_memory: int | None,
                 max_cpu_memory: int | None) -> None:
        from models_server.logs import configure

        configure("info")
        keep_internal_port_on_loopback()
        niceness = min(19, os.getpriority(os.PRIO_PROCESS, 0) + settings.ray.group_niceness)
        lower_priority(niceness)
        wanted = set(models)
        rows = [row for row in served_rows(settings) if row.id in wanted]
        replica = serve.get_replica_context().replica_id.unique_id
        node = ray.get_runtime_context().get_node_id()
        self.worker = GroupWorker(name, replica, node, group_settings(settings, models, max_gpu_memory,
                                                                      max_cpu_memory), rows)
        self.pool = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix=f"{name}-work",
                                       initializer=lower_priority, initargs=(niceness,))
        self.worker.start()
        self.post_timeout = max(2.0, settings.ray.status_interval)
        self._ingress: Any = None
        self.pusher = ReportPusher(self.worker, self.post, settings.ray.status_interval)
        self.pusher.start()

    def post(self, report: GroupReport) -> dict[str, ModelAsk]:
        """To the ingress's board (from the pusher's thread, never the replica's event loop)."""
        if self._ingress is None:
            self._ingress = serve.get_deployment_handle(INGRESS_NAME, app_name=APP_NAME)
        return self._ingress.post_report.remote(report).result(timeout_s=self.post_timeout)

    async def answer(self, request: RawRequest, resources: dict[str, bytes], request_id: str) -> Encoded | Failure:
        """Run on a work thread. The ingress cancelling its call (Serve raises CancelledError here,
        in the replica that holds it) cancels the request's token: it stops at its next step or
        chunk, or leaves its model's queue; the next report, posted once it has, no longer lists it."""
        token = CancelToken(request_id)
        running = asyncio.get_running_loop().run_in_executor(self.pool, self.worker.answer, request, resources, token)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            token.cancel("cancelled at the ingress")
            await asyncio.wait([running])
            self.pusher.post_soon()
            raise

    async def answer_in_parts(self, request: RawRequest, resources: dict[str, bytes],
                              request_id: str) -> AsyncIterator[EncodedPart | Encoded | Failure]:
        """`answer` for a request whose answer streams (Serve streams what this yields): each
        part, encoded, as the model makes it, then the answer's end or the refusal. Cancelled
        at the ingress, or closed early, it cancels the request's token as `answer` does."""
        loop = asyncio.get_running_loop()
        parts: asyncio.Queue[EncodedPart] = asyncio.Queue()
        token = CancelToken(request_id)

        def send(data: bytes) -> None:  # on the model's thread; ordered before the run's own end
            loop.call_soon_threadsafe(parts.put_nowait, EncodedPart(data))

        running = loop.run_in_executor(self.pool, self.worker.answer, request, resources, token, send)
        try:
            while True:
                next_part = asyncio.ensure_future(parts.get())
                either: set[asyncio.Future[Any]] = {next_part, running}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if not next_part.done():
                    next_part.cancel()
                    break
                yield next_part.result()
            while not parts.empty():
                yield parts.get_nowait()
            yield running.result()
        finally:
            if not running.done():
                token.cancel("cancelled at the ingress")
                await asyncio.wait([running])
                self.pusher.post_soon()

    async def report(self) -> GroupReport:
        """This replica's report, on demand (the ingress reads the posted ones; this is for people)."""
        return self.worker.report()  # snapshots under a lock held only while copying: never waits on a model

    def __del__(self) -> None:
        self.pusher.stopped.set()


def keep_internal_port_on_loopback() -> None:
    """Serve starts a gRPC server in every replica for calls between deployments, bound to every
    interface (`[::]:0`) whatever the node's address. On a node whose address is loopback (a local
    Ray the command started for a loopback `--host`), bind it to loopback too: Serve reaches it at
    the node's address only. Called in a replica's constructor, which Serve runs before it starts
    that server; if Ray no longer has the function, this changes nothing."""
    if not ipaddress.ip_address(ray.util.get_node_ip_address()).is_loopback:
        return
    from ray.serve._private import replica

    bind = getattr(replica, "add_port_to_grpc_server", None)
    if bind is None or getattr(bind, "keeps_loopback", False):
        return

    def bind_on_loopback(server: Any, address: str) -> Any:
        return bind(server, "127.0.0.1:" + address.removeprefix("[::]:") if address.startswith("[::]:") else address)

    bind_on_loopback.keeps_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = bind_on_loopback


def lower_priority(niceness: int) -> None:
    """Raise the nice value of every thread of this process to `niceness` (Linux keeps it per
    thread; threads started later — torch's among them — inherit their creator's)."""
    for task in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else [str(os.getpid())]:
        try:
            if os.getpriority(os.PRIO_PROCESS, int(task)) < niceness:
                os.setpriority(os.PRIO_PROCESS, int(task), niceness)
        except OSError:  # a thread that ended meanwhile
            pass


class RayGroupClient:
    """A group through its deployment handle, from the ingress's worker threads (never its event loop)."""

    def __init__(self, name: str, handle: Any, timeout: float, board: ReportBoard) -> None:
        self.name = name
        self.handle = handle
        self.streaming = handle.options(stream=True)  # the same deployment, its calls streamed
        self.timeout = timeout
        self.board = board

    def answer(self, request: RawRequest, resources: dict[str, bytes],
               cancel: CancelToken | None = None) -> Encoded | Failure:
        """The group's answer. While it runs, the request's token is read every
        CANCEL_CHECK_SECONDS; once cancelled, Serve cancels the call in the replica holding it,
        and this returns (Cancelled) when the group's reports say the request has left it.
        A request whose answer streams here (`progress.streaming`) is streamed from the group:
        each part goes on to this thread's receiver as it comes."""
        request_id = cancel.request_id if cancel is not None else ""
        receive = partials_receiver()
        try:
            if receive is None:
                response = self.handle.answer.remote(request, resources, request_id)
                return self._wait(response, request_id, cancel, lambda timeout: response.result(timeout_s=timeout))
            stream = self.streaming.answer_in_parts.remote(request, resources, request_id)
            return self._wait(stream, request_id, cancel, PartRelay(stream, receive, self.name).outcome_within)
        except ray.exceptions.RayTaskError:
            raise  # the replica's own code failed: the app's handler logs it and answers 500
        except (ray.exceptions.RayError, serve.exceptions.RayServeException) as exc:
            raise error_for(exc, self.name) from None

    def _wait(self, response: Any, request_id: str, cancel: CancelToken | None,
              outcome_within: Callable[[float], Encoded | Failure]) -> Encoded | Failure:
        """`outcome_within(seconds)` (TimeoutError when not yet) until the group's timeout, the
        request's token read every CANCEL_CHECK_SECONDS meanwhile."""
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                response.cancel()
                raise TimedOut(f"group {self.name} did not answer within {self.timeout:g}s")
            try:
                return outcome_within(min(remaining, CANCEL_CHECK_SECONDS) if cancel else remaining)
            except TimeoutError:
                if cancel is not None and cancel.reason() is not None:
                    self._stop(response, request_id)
                    cancel.raise_if_cancelled()

    def _stop(self, response: Any, request_id: str) -> None:
        since = self.board.clock()
        response.cancel()
        if not self.board.wait_left(self.name, request_id, since, LEAVE_WAIT_SECONDS):
            log.warning("request %s was cancelled but group %s still lists it after %gs", request_id, self.name,
                        LEAVE_WAIT_SECONDS)


class PartRelay:
    """A streamed call's items as they come from its group, read on a thread of its own (Serve's
    stream has no timeout of its own): parts go to `receive` on the waiting thread, in order,
    and the last item is the outcome."""

    def __init__(self, stream: Iterable[EncodedPart | Encoded | Failure], receive: Callable[[Any], None],
                 group: str) -> None:
        self.receive = receive
        self.items: queue.SimpleQueue[EncodedPart | Encoded | Failure | BaseException] = queue.SimpleQueue()
        self.group = group
        threading.Thread(target=self._read, args=(stream,), name=f"{group}-stream", daemon=True).start()

    def _read(self, stream: Iterable[EncodedPart | Encoded | Failure]) -> None:
        try:
            for item in stream:
                self.items.put(item)
        except BaseException as exc:  # raised on the waiting thread
            self.items.put(exc)
            return
        self.items.put(InferenceFailed(f"group {self.group} ended the stream without an answer"))

    def outcome_within(self, seconds: float) -> Encoded | Failure:
        """The outcome, each part before it received; TimeoutError when it has not come in `seconds`."""
        until = time.monotonic() + seconds
        while True:
            try:
                item = self.items.get(timeout=max(0.0, until - time.monotonic()))
            except queue.Empty:
                raise TimeoutError from None
            if isinstance(item, EncodedPart):
                self.receive(item)
            elif isinstance(item, BaseException):
                raise item
            else:
                return item


class GroupPoller:
    """One poll: Ray's view of each group's deployment, and the reports its replicas posted."""

    def __init__(self, plans: list[GroupPlan], board: ReportBoard, deadline: float) -> None:
        self.plans = {plan.name: plan for plan in plans}
        self.board = board
        self.deadline = deadline
        started = time.monotonic()
        self.live_at = {name: started for name in self.plans}  # when each group last reported (or deploy)
        self.was_live: set[str] = set()

    def __call__(self) -> dict[str, GroupCondition]:
        deployments = deployment_statuses()
        conditions: dict[str, GroupCondition] = {}
        cluster_total: dict[str, float] | None = None
        cluster_free: dict[str, float] | None = None
        for name in self.plans:
            reports = self.board.live(name)
            known = deployments.get(deployment_name(name))
            if known is not None:
                # a killed replica's last report stays fresh a while, and a starting one posts before
                # Ray routes to it: only as many as Ray runs count, the freshest
                reports = reports[:known[2].get("RUNNING", 0)]
            if reports:
                conditions[name] = GroupCondition(reports=tuple(reports))
                self.live_at[name] = time.monotonic()
                self.was_live.add(name)
                continue
            if cluster_total is None:
                cluster_total, cluster_free = ray.cluster_resources(), ray.available_resources()
            status, message, _ = known or (None, None, {})
            conditions[name] = condition_without_replica(
                self.plans[name], time.monotonic() - self.live_at[name], self.deadline, status, message,
                cluster_total, cluster_free or {}, was_live=name in self.was_live)
        return conditions


def deployment_statuses() -> dict[str, tuple[str, str, dict[str, int]]]:
    """name -> (status, message, replica counts by state) of this app's deployments."""
    try:
        application = serve.status().applications.get(APP_NAME)
    except Exception:
        log.warning("could not read Serve's status", exc_info=True)
        return {}
    if application is None:
        return {}
    return {name: (str(getattr(overview.status, "value", overview.status)), overview.message,
                   {str(getattr(state, "value", state)): count
                    for state, count in (overview.replica_states or {}).items()})
            for name, overview in application.deployments.items()}


class Ingress:
    """The HTTP side: the project's Flask app over the groups, on `host:port`, in this replica."""

    def __init__(self, settings: Settings, plans: list[GroupPlan], handles: dict[str, Any]) -> None:
        from models_server.engines.local import serving_options
        from models_server.http.app import create_app
        from models_server.http.channel import GuardedChannel
        from models_server.http.model_queues import ModelQueues
        from models_server.http.server import make_server
        from models_server.http.stop import GracefulStop
        from models_server.logs import configure

        configure("info")
        keep_internal_port_on_loopback()
        timeout = settings.limits.request_timeout + 30
        # silent this long, a replica is not live (a killed one drops out sooner: see GroupPoller)
        self.board = ReportBoard(stale_after=max(3.0, 5 * settings.ray.status_interval))
        clients = {name: RayGroupClient(name, handle, timeout, self.board) for name, handle in handles.items()}
        self.cluster = ClusterRuntime(settings, served_rows(settings), plans, clients, self.board)
        queues: ModelQueues[GuardedChannel] = ModelQueues.for_runtime(self.cluster)
        app = create_app(settings, self.cluster, pipeline=ingress_pipeline(self.cluster, settings), queues=queues)
        poll = GroupPoller(plans, self.board, settings.ray.deploy_timeout)
        self.poller = Poller(self.cluster, poll, settings.ray.status_interval)
        self.poller.start()
        self.server = make_server(app, settings.host, settings.port, serving_options(settings), queues)
        self.stopper = GracefulStop(self.server, settings.shutdown_grace_seconds)
        self.serving = threading.Thread(target=self.server.run, name="ingress-http", daemon=True)
        self.serving.start()

    async def post_report(self, report: GroupReport) -> dict[str, ModelAsk]:
        """A replica's report (every `ray.status_interval`); answers the loads, unloads and reloads it owes."""
        return self.board.post(report)

    def check_health(self) -> None:
        """Serve restarts the ingress when this raises: an ingress that no longer serves HTTP."""
        if not self.serving.is_alive():
            raise RuntimeError("the ingress's HTTP server stopped")

    def __del__(self) -> None:
        """Serve's graceful shutdown: no new connections, requests in flight answered (up to
        `shutdown_grace_seconds`; the deployment's own timeout is longer), as in one process."""
        stopper = getattr(self, "stopper", None)
        if stopper is not None:
            stopper.stop("the ingress is shutting down")
        self.poller.stopped.set()


def build_app(settings: Settings, ingress_node: str) -> tuple[Any, list[GroupPlan]]:
    """The Serve application for these settings (not yet running), and its groups; the ingress
    goes on the node whose resource `ingress_node` is (this machine's), where public/ is."""
    plans = plan_groups(served_rows(settings), settings)
    handles = {}
    for plan in plans:
        group = plan.config
        options: dict[str, Any] = {"num_cpus": group.num_cpus, "num_gpus": group.num_gpus}
        if group.resources:
            options["resources"] = dict(group.resources)
        deployment = serve.deployment(
            name=deployment_name(plan.name),
            num_replicas=group.replicas,
            ray_actor_options=options,
            max_ongoing_requests=settings.ray.group_max_ongoing_requests,
            health_check_period_s=5,
            health_check_timeout_s=30,
            # finish what the ingress waits on (a replica Ray never placed waits this long too)
            graceful_shutdown_timeout_s=settings.shutdown_grace_seconds,
            logging_config={"enable_access_log": False},  # the ingress polls every status_interval
        )(GroupDeployment)
        handles[plan.name] = deployment.bind(plan.name, settings, plan.models, group.max_gpu_memory,
                                             group.max_cpu_memory)
    ingress = serve.deployment(
        name=INGRESS_NAME,
        num_replicas=1,  # the one writer of public/, on the machine that has it
        ray_actor_options={"num_cpus": 0, "resources": {ingress_node: 0.01}},
        max_ongoing_requests=settings.ray.ingress_max_ongoing_requests,  # the replicas' report posts
        graceful_shutdown_timeout_s=settings.shutdown_grace_seconds + 5,  # the HTTP drain in __del__, then out
        logging_config={"enable_access_log": False},  # posted reports only: the app logs each request
    )(Ingress)
    return ingress.bind(settings, plans, handles), plans
