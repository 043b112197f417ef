"""The Ray engine's two halves without Ray: the ingress's ClusterRuntime/GroupExecutor over a
real in-process GroupWorker (the object a replica holds), and the status rules for groups."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from support.serving import tiny_settings
from support.waiting import wait_until

from models_server.catalog import catalog_rows
from models_server.config import Settings
from models_server.engines.ray.board import ReportBoard
from models_server.engines.ray.cluster import (
    ClusterRuntime,
    GroupCondition,
    GroupExecutor,
    condition_without_replica,
    ingress_pipeline,
    merge_slot,
)
from models_server.engines.ray.grouping import plan_groups
from models_server.engines.ray.worker import (
    AskOutcome,
    DeviceReport,
    Failure,
    GroupReport,
    GroupWorker,
    ReportPusher,
    SlotReport,
)
from models_server.errors import NotReady
from models_server.http.app import create_app
from models_server.media.resources import ResourceReader
from models_server.runtime import State


@pytest.fixture(scope="module")
def cluster_settings(tiny_root: Path, public_dir: Path) -> Settings:
    return tiny_settings(tiny_root, public_dir, tier="minimal",
                         ray={"groups": {"annotators": {"models": ["canny-control"]}}})


@pytest.fixture(scope="module")
def worker(cluster_settings: Settings) -> GroupWorker:
    rows = [row for row in catalog_rows() if row.id == "canny-control"]
    worker = GroupWorker("annotators", "replica-1", "node-1", cluster_settings, rows)
    worker.runtime.load_all()
    return worker


def make_cluster(settings: Settings, worker: GroupWorker, board: ReportBoard | None = None) -> ClusterRuntime:
    plans = [plan for plan in plan_groups(catalog_rows(), settings) if plan.name == "annotators"]
    return ClusterRuntime(settings, catalog_rows(), plans, {"annotators": worker}, board or ReportBoard(60))


def ingress_client(settings: Settings, cluster: ClusterRuntime):
    return create_app(settings, cluster, ingress_pipeline(cluster, settings)).test_client()


def test_models_of_a_group_not_yet_reporting_are_loading_and_refused_at_once(cluster_settings, worker) -> None:
    cluster = make_cluster(cluster_settings, worker)
    client = ingress_client(cluster_settings, cluster)
    status = client.get("/status/canny-control").json
    assert (status["state"], status["reason"]) == ("loading", "group annotators is starting")
    refused = client.post("/models/canny-control", json={"img_url": "public/examples/photo.jpg"})
    assert refused.status_code == 503 and refused.json["error"]["state"] == "loading"
    unread = client.post("/models/canny-control", json={"img_url": "public/examples/none.jpg"})
    assert unread.status_code == 503  # refused before the resources it names are read
    assert client.get("/status/hed-control").json["state"] == "disabled"  # in no group here


def test_the_ingress_ships_bytes_and_writes_the_answer_itself(cluster_settings, worker, public_dir) -> None:
    cluster = make_cluster(cluster_settings, worker)
    cluster.update({"annotators": GroupCondition(reports=(worker.report(),))})
    client = ingress_client(cluster_settings, cluster)
    assert client.get("/status/canny-control").json["state"] == "loaded"
    answer = client.post("/models/canny-control", json={"img_url": "public/examples/photo.jpg"})
    assert answer.status_code == 200, answer.json
    assert (public_dir / answer.json["path"].lstrip("/")).read_bytes().startswith(b"\x89PNG")
    # what crossed to the worker: the request and the photo's bytes, never a path it would have to read
    reader = ResourceReader(cluster_settings.public_dir, cluster_settings.limits)
    task = cluster.catalog["canny-control"].task
    shipped = GroupExecutor(cluster, reader).ship(task, {"img_url": "public/examples/photo.jpg"})
    assert shipped == {"public/examples/photo.jpg": (public_dir / "examples" / "photo.jpg").read_bytes()}
    missing = client.post("/models/canny-control", json={"img_url": "public/examples/none.jpg"})
    assert missing.status_code == 400 and "no file" in missing.json["error"]["message"]


def test_a_group_past_the_deadline_names_what_it_asks_and_what_the_cluster_has(cluster_settings) -> None:
    plan = plan_groups(catalog_rows(), cluster_settings.model_copy(update={"ray": cluster_settings.ray.model_copy(
        update={"groups": {}})}))[0]
    waiting = condition_without_replica(plan, 5, 60, "UPDATING", "", {"CPU": 2}, {"CPU": 1})
    assert waiting.state is State.LOADING and "is starting (Ray: UPDATING)" in waiting.reason
    late = condition_without_replica(replace(plan, config=plan.config.model_copy(update={"num_gpus": 1})),
                                     61, 60, "UPDATING", None, {"CPU": 2, "memory": 9}, {"CPU": 1})
    assert late.state is State.FAILED
    assert "asks for {CPU: 0, GPU: 1}; the cluster has {CPU: 2} in total, {CPU: 1} free" in late.reason
    assert "the cluster has no GPU at all" in late.reason
    restarting = condition_without_replica(plan, 5, 60, "HEALTHY", None, {"CPU": 2}, {"CPU": 2}, was_live=True)
    assert restarting.state is State.LOADING and "lost its replica; Ray is starting another" in restarting.reason
    given_up = condition_without_replica(plan, 1, 60, "DEPLOY_FAILED", "the constructor raised", {}, {})
    assert given_up.state is State.FAILED and "the constructor raised" in given_up.reason


def test_replicas_merge_to_the_best_state_and_summed_queues(worker) -> None:
    loaded = SlotReport.of(worker.runtime.view("canny-control"))
    other = replace(loaded, state="loading", queue=3, running=True, progress=(1, 4))
    merged = merge_slot(worker.runtime.catalog["canny-control"], [other, replace(loaded, queue=2)])
    assert (merged.state, merged.queue, merged.running, merged.progress) == (State.LOADED, 5, True, (1, 4))


def test_a_group_runs_with_its_own_budgets_and_only_its_models_overrides(cluster_settings: Settings) -> None:
    from models_server.engines.ray.worker import group_settings

    settings = Settings.model_validate({**cluster_settings.model_dump(), "max_cpu_memory": 10**9,
                                        "models": {"canny-control": {"preload": False}, "gpt2": {"enabled": False}}})
    mine = group_settings(settings, ("canny-control",), max_gpu_memory=2**30, max_cpu_memory=None)
    assert (mine.max_gpu_memory, mine.max_cpu_memory) == (2**30, 10**9)  # its own, else the top-level one
    assert set(mine.models) == {"canny-control"}  # another group's model would be unknown to its runtime


@pytest.fixture
def twin_workers(cluster_settings: Settings) -> list[GroupWorker]:
    """Two replicas of one group, as Serve would run them on two processes."""
    rows = [row for row in catalog_rows() if row.id == "canny-control"]
    workers = [GroupWorker("annotators", f"replica-{n}", "node-1", cluster_settings, rows) for n in (1, 2)]
    for worker in workers:
        worker.runtime.load_all()
    return workers


def pushing(workers: list[GroupWorker], board: ReportBoard, interval: float = 0.05) -> list[ReportPusher]:
    pushers = [ReportPusher(worker, board.post, interval) for worker in workers]
    for pusher in pushers:
        pusher.start()
    return pushers


def poll(cluster: ClusterRuntime, board: ReportBoard, replicas: int) -> None:
    """What the ingress's poller does, once the group's replicas have posted."""
    wait_until(lambda: len(board.live("annotators")) >= replicas, 60, f"{replicas} replicas reported")
    cluster.update({"annotators": GroupCondition(reports=tuple(board.live("annotators")))})


def test_a_reload_reaches_every_replica_of_the_group(cluster_settings, twin_workers) -> None:
    board = ReportBoard(stale_after=5)
    cluster = make_cluster(cluster_settings, twin_workers[0], board)
    pushers = pushing(twin_workers, board)
    poll(cluster, board, 2)
    try:
        before = [worker.runtime.slots.model("canny-control") for worker in twin_workers]
        view = cluster.reload("canny-control")
        after = [worker.runtime.slots.model("canny-control") for worker in twin_workers]
    finally:
        for pusher in pushers:
            pusher.stopped.set()
    assert (view.state, view.replicas) == (State.LOADED, 2)
    assert all(new is not None and new is not old for new, old in zip(after, before, strict=True))  # both loaded anew
    assert [worker.outcomes()["canny-control"].generation for worker in twin_workers] == [1, 1]


def test_status_counts_the_replicas_that_report(cluster_settings, twin_workers) -> None:
    board = ReportBoard(stale_after=5)
    for worker in twin_workers:
        board.post(worker.report())
    cluster = make_cluster(cluster_settings, twin_workers[0], board)
    cluster.update({"annotators": GroupCondition(reports=tuple(board.live("annotators")))})
    status = ingress_client(cluster_settings, cluster).get("/status/canny-control").json
    assert (status["state"], status["replicas"]) == ("loaded", 2)


def test_a_reload_stops_waiting_for_a_replica_that_went_quiet(cluster_settings, twin_workers) -> None:
    board = ReportBoard(stale_after=0.3)
    cluster = make_cluster(cluster_settings, twin_workers[0], board)
    board.post(twin_workers[1].report())  # replica-2 reports once, then never again (killed)
    pushers = pushing(twin_workers[:1], board)
    poll(cluster, board, 2)
    try:
        started = time.monotonic()
        view = cluster.reload("canny-control")
    finally:
        pushers[0].stopped.set()
    assert view.replicas == 1 and time.monotonic() - started < 5
    assert "canny-control" not in twin_workers[1].outcomes()


def test_a_refusal_on_any_replica_is_the_reloads_answer(cluster_settings, twin_workers) -> None:
    board = ReportBoard(stale_after=5)
    cluster = make_cluster(cluster_settings, twin_workers[0], board)
    pushers = pushing(twin_workers[:1], board)
    refused = NotReady("model canny-control stayed busy", state="loading")

    def replica_2_refuses() -> None:  # a replica whose reload was refused reports how it went
        wanted = wait_until(lambda: board.post(twin_workers[1].report()), 60, "replica-2 was asked to reload",
                            interval=0.02)
        board.post(replace(twin_workers[1].report(),
                           outcomes={"canny-control": AskOutcome(generation=wanted["canny-control"].generation,
                                                                 failure=Failure(refused))}))

    board.post(twin_workers[1].report())
    poll(cluster, board, 2)
    other = threading.Thread(target=replica_2_refuses)
    other.start()
    try:
        with pytest.raises(NotReady, match="stayed busy"):
            cluster.reload("canny-control")
    finally:
        other.join(timeout=60)
        pushers[0].stopped.set()
    assert not other.is_alive(), "replica-2 never reported its refusal"


def test_a_replica_started_after_a_reload_was_asked_owes_none() -> None:
    now = [100.0]
    board = ReportBoard(stale_after=1, clock=lambda: now[0])
    report = make_report("old", started=time.time() - 60)
    board.post(report)
    asked = threading.Thread(target=lambda: board.ask("annotators", "canny-control", "reload", timeout=30), daemon=True)
    asked.start()
    wait_until(lambda: board.post(report), 30, "the reload ask reached the board")
    assert board.post(make_report("new", started=time.time() + 1)) == {}  # started later: loaded the new weights
    assert {model: ask.generation for model, ask in board.post(report).items()} == {"canny-control": 1}  # owed


def make_report(replica: str, started: float) -> GroupReport:
    return GroupReport(group="annotators", replica=replica, node="node-1", pid=1, slots={},
                       device=DeviceReport(device="cpu", kind="cpu", dtype_name="float32"), started=started)


def test_a_models_status_names_its_own_groups_device(cluster_settings, worker) -> None:
    plans = plan_groups(catalog_rows(), cluster_settings)
    other = next(plan.name for plan in plans if plan.name != "annotators")
    cluster = ClusterRuntime(cluster_settings, catalog_rows(), plans, {}, ReportBoard(60))
    on_gpu = replace(worker.report(), device=DeviceReport(device="cuda:1", kind="gpu", dtype_name="float16"))
    on_cpu = replace(worker.report(), group=other, slots={},
                     device=DeviceReport(device="cpu", kind="cpu", dtype_name="float32"))
    cluster.update({"annotators": GroupCondition(reports=(on_gpu,)), other: GroupCondition(reports=(on_cpu,))})
    status = ingress_client(cluster_settings, cluster).get("/status/canny-control").json
    assert (status["device"], status["compute_type"], status["dtype"]) == ("cuda:1", "gpu", "float16")
    assert cluster.devices.device == "cuda:1,cpu"  # the server as a whole runs on both


def test_the_ingress_reports_the_replicas_models_bytes_and_no_figure_of_its_own_process(cluster_settings,
                                                                                      worker) -> None:
    cluster = make_cluster(cluster_settings, worker)
    report = replace(worker.report(), resident={"cpu": 1234, "gpu": 0})
    cluster.update({"annotators": GroupCondition(reports=(report,))})
    memory = ingress_client(cluster_settings, cluster).get("/status").json["memory"]
    assert memory == {"cpu": {"models_bytes": 1234, "allocated_bytes": None, "reserved_bytes": None,
                              "free_bytes": None, "total_bytes": None}}
    on_cards = replace(report, resident={"cpu": 0, "gpu": 5678},
                       device=DeviceReport(device="cuda:0", kind="gpu", dtype_name="float16"))
    cluster.update({"annotators": GroupCondition(reports=(on_cards,))})
    assert cluster.memory()["cuda"].models_bytes == 5678  # every replica's GPU weights, whichever card


def test_load_and_unload_reach_every_replica_and_show_on_status_at_once(cluster_settings, twin_workers) -> None:
    board = ReportBoard(stale_after=5)
    cluster = make_cluster(cluster_settings, twin_workers[0], board)
    client = ingress_client(cluster_settings, cluster)
    pushers = pushing(twin_workers, board)
    poll(cluster, board, 2)
    try:
        unloaded = client.post("/admin/models/canny-control/unload")
        at_once = client.get("/status/canny-control").json  # no poll in between
        states = [worker.runtime.view("canny-control").state for worker in twin_workers]
        loaded = client.post("/admin/models/canny-control/load", json={"keep_alive": 120})
        after = client.get("/status/canny-control").json
        kept = [worker.runtime.keep_alive.seconds("canny-control") for worker in twin_workers]
        missing = client.post("/admin/models/no/such-model/unload")
    finally:
        for pusher in pushers:
            pusher.stopped.set()
    assert unloaded.status_code == 200, unloaded.json
    assert (unloaded.json["state"], unloaded.json["placement"], unloaded.json["replicas"]) == ("not_loaded",
                                                                                              "unloaded", 2)
    assert at_once["state"] == "not_loaded" and states == [State.NOT_LOADED, State.NOT_LOADED]
    assert loaded.status_code == 200 and loaded.json["state"] == "loaded" and loaded.json["keep_alive"] == 120
    assert after["state"] == "loaded" and 0 < after["expires_in"] <= 120 and kept == [120, 120]
    assert missing.status_code == 404 and "no/such-model" in missing.json["error"]["message"]


def test_the_board_sees_a_request_leave_its_group_once_every_replica_posted_without_it() -> None:
    now = [100.0]
    board = ReportBoard(stale_after=1, clock=lambda: now[0])
    holding = replace(make_report("a", started=0.0), requests=frozenset({"req-1"}))
    board.post(holding)
    board.post(make_report("b", started=0.0))
    since = now[0]
    assert not board.wait_left("annotators", "req-1", since, timeout=0)  # nobody posted since
    now[0] += 0.1
    board.post(make_report("b", started=0.0))
    board.post(holding)
    assert not board.wait_left("annotators", "req-1", since, timeout=0)  # replica a still serves it
    board.post(make_report("a", started=0.0))
    assert board.wait_left("annotators", "req-1", since, timeout=0)
