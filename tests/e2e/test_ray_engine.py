"""`serve --engine ray` against the contract: the same answers, errors, status, access rules and
limits as the single-process server, on a two-node Ray on this machine (conftest `ray_cluster`).

One deployment for the module: the minimal tier in two groups, the SD group on the node that
offers `sd_node`, the annotators on the head. Ray is imported inside the fixtures only, so
collecting this file imports no Ray.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from support.serving import RayCluster, tiny_settings
from support.waiting import wait_until

from models_server.catalog import catalog_rows
from models_server.config import Settings
from models_server.http.app import create_app
from models_server.runtime import Runtime

if TYPE_CHECKING:
    from models_server.engines.ray.engine import Deployed

KEY = "ray-test-key"
SD_GROUP = [f"lllyasviel/sd-controlnet-{name}" for name in
            ("canny", "depth", "hed", "mlsd", "normal", "openpose", "scribble", "seg")]
ANNOTATORS = ["canny-control", "hed-control", "scribble-control", "mlsd-control", "openpose-control"]
TWINNED = ["depth-control", "normal-control"]  # their group runs two replicas
UNPLACEABLE = "seg-control"  # its group asks for a resource no node has
CHAT = "Qwen/Qwen2.5-0.5B-Instruct"  # lazy: loads in its group on its first request
READY_WITHIN = 240.0  # seconds for the groups to load on a busy 2-core machine: a wait, not a figure
STEPS = 1000  # a generation that runs for minutes unless it is stopped


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class RayServed:
    url: str
    settings: Settings
    session: requests.Session
    cluster: RayCluster
    deployed: Deployed

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, timeout: float = 60, **kwargs) -> requests.Response:
        return self.session.post(self.url + path, timeout=timeout, **kwargs)


def ray_settings(tiny_root: Path, public_dir: Path, port: int) -> Settings:
    # the minimal tier and one chat model: every other row of the full tier off
    off = {row.id: {"enabled": False} for row in catalog_rows() if not row.in_tier("minimal") and row.id != CHAT}
    return tiny_settings(
        tiny_root, public_dir, tier="full", port=port, engine="ray", models=off,
        api_key=KEY, allowed_clients=["10.0.0.0/8"], limits={"max_body_bytes": "1MiB", "max_steps": STEPS},
        shutdown_grace_seconds=30,  # also how long Serve waits for the unplaceable group's replica
        ray={
            "status_interval": 0.2,
            "deploy_timeout": 20,
            "groups": {
                "sd": {"models": SD_GROUP, "num_cpus": 0, "resources": {"sd_node": 0.01}},
                "annotators": {"models": ANNOTATORS, "num_cpus": 0, "resources": {"head_node": 0.01}},
                "twins": {"models": TWINNED, "replicas": 2, "num_cpus": 0, "resources": {"head_node": 0.01}},
                "unplaceable": {"models": [UNPLACEABLE], "num_cpus": 0, "resources": {"nowhere": 1}},
                "chat": {"models": [CHAT], "num_cpus": 0, "resources": {"head_node": 0.01}},
            },
        },
    )


def wait_until_loaded(served: RayServed, model_ids: list[str], within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        models = served.get("/status").json()["models"]
        if all(models[model_id]["state"] == "loaded" for model_id in model_ids):
            return
        assert time.monotonic() < deadline, {m: models[m]["state"] for m in model_ids}
        time.sleep(0.2)


@pytest.fixture(scope="module")
def ray_served(ray_cluster: RayCluster, tiny_root: Path, public_dir: Path) -> Iterator[RayServed]:
    from models_server.engines.ray.engine import deploy

    settings = ray_settings(tiny_root, public_dir, free_port())
    deployed = deploy(settings, ray_cluster.address)
    session = requests.Session()
    session.headers["X-API-Key"] = KEY
    served = RayServed(f"http://127.0.0.1:{settings.port}", settings, session, ray_cluster, deployed)
    wait_until_loaded(served, [*SD_GROUP, *ANNOTATORS, *TWINNED], READY_WITHIN)
    yield served
    deployed.shutdown()  # also ends serve.run's wait for the unplaceable group before Ray goes
    assert not deployed.runner.is_alive()


@pytest.fixture(scope="module")
def single(ray_served: RayServed):
    """The single-process app with the same settings, for answers to compare (canny loaded only)."""
    settings = ray_served.settings.model_copy(update={"engine": "single"})
    runtime = Runtime(settings)
    runtime.reload("canny-control")
    return create_app(settings, runtime).test_client(), runtime


def test_canny_then_the_controlnet_fed_its_output(ray_served: RayServed, single, photo_ref: str) -> None:
    client, _ = single
    canny = ray_served.post("/models/canny-control", json={"img_url": photo_ref})
    assert canny.status_code == 200, canny.text
    path = canny.json()["path"]
    here = client.post("/models/canny-control", json={"img_url": photo_ref}, headers={"X-API-Key": KEY})
    written = ray_served.settings.public_dir / path.lstrip("/")
    assert written.read_bytes() == (ray_served.settings.public_dir / here.json["path"].lstrip("/")).read_bytes()

    generated = ray_served.post("/models/lllyasviel/sd-controlnet-canny", json={
        "img_url": path, "text": "a cat", "num_inference_steps": 2, "width": 64, "height": 64})
    assert generated.status_code == 200, generated.text
    image = ray_served.settings.public_dir / generated.json()["path"].lstrip("/")
    assert image.read_bytes().startswith(b"\x89PNG")


def test_errors_keep_their_status_and_message(ray_served: RayServed, single) -> None:
    client, _ = single
    cases = [
        ("/models/canny-control", {"img_url": "public/examples/missing.jpg"}),
        ("/models/canny-control", {}),
        ("/models/no/such-model", {"img_url": "x"}),
        ("/models/canny-control", ["not", "an", "object"]),
    ]
    for path, body in cases:
        there = ray_served.post(path, json=body)
        here = client.post(path, json=body, headers={"X-API-Key": KEY})
        assert (there.status_code, there.json()) == (here.status_code, here.json), path
    assert {there.status_code for there in (ray_served.post(p, json=b) for p, b in cases)} == {400, 404}


def test_status_lists_every_model_as_the_single_process_server_does(ray_served: RayServed, single) -> None:
    _, runtime = single
    models = ray_served.get("/status").json()["models"]
    assert set(models) == {row.id for row in catalog_rows()}
    for model_id in [*SD_GROUP, *ANNOTATORS, *TWINNED]:
        assert models[model_id]["loaded"] is True and models[model_id]["placement"] == "cpu"
    for model_id, view in runtime.views().items():
        if view.state.value == "disabled":
            assert models[model_id]["state"] == "disabled"
            assert models[model_id]["reason"] == view.reason
    one = ray_served.get("/status/lllyasviel/sd-controlnet-canny").json()
    assert one["state"] == "loaded" and one["compute_type"] == "cpu"


def test_both_replicas_of_a_group_report_and_a_reload_reaches_both(ray_served: RayServed) -> None:
    status = ray_served.get("/status/depth-control").json()
    assert (status["state"], status["replicas"]) == ("loaded", 2)
    reloaded = ray_served.post("/admin/reload/depth-control")
    assert reloaded.status_code == 200, reloaded.text
    assert (reloaded.json()["state"], reloaded.json()["replicas"]) == ("loaded", 2)  # applied by both
    assert ray_served.get("/status/canny-control").json()["replicas"] == 1


def test_load_unload_and_keep_alive_act_on_every_replica_of_the_group(ray_served: RayServed) -> None:
    model = TWINNED[0]
    unloaded = ray_served.post(f"/admin/models/{model}/unload", timeout=300)
    assert unloaded.status_code == 200, unloaded.text
    assert (unloaded.json()["state"], unloaded.json()["placement"], unloaded.json()["replicas"]) == (
        "not_loaded", "unloaded", 2)
    assert ray_served.get(f"/status/{model}").json()["state"] == "not_loaded"  # at once
    loaded = ray_served.post(f"/admin/models/{model}/load", json={"keep_alive": 1}, timeout=300)
    assert loaded.status_code == 200, loaded.text
    assert (loaded.json()["state"], loaded.json()["keep_alive"], loaded.json()["replicas"]) == ("loaded", 1, 2)
    # idle past its keep-alive of a second, each replica unloads it
    wait_until(lambda: ray_served.get(f"/status/{model}").json()["state"] == "not_loaded", 60,
               "the keep-alive unloaded it", interval=0.1)
    back = ray_served.post(f"/admin/models/{model}/load", json={"keep_alive": -1}, timeout=300)
    assert (back.json()["state"], back.json()["keep_alive"]) == ("loaded", -1)
    missing = ray_served.post("/admin/models/no/such-model/load")
    assert missing.status_code == 404 and "no/such-model" in missing.json()["error"]["message"]


def generation(photo_ref: str, steps: int) -> dict:
    return {"img_url": photo_ref, "text": "a long one", "num_inference_steps": steps, "width": 64, "height": 64}


def wait_running(served: RayServed, model_id: str, queue: int = 1) -> dict:
    """The model's status once a request runs on it in its group (its progress shows) and `queue` are in."""
    def running() -> dict | None:
        status = served.get(f"/status/{model_id}").json()
        return status if status.get("progress") and status["queue"] >= queue else None

    return wait_until(running, READY_WITHIN, f"{queue} request(s) in, one running", interval=0.02)


def is_free(status: dict) -> bool:
    """Nothing queued or running, as a live replica reports it (a replica whose reports are late
    on a busy machine shows as `loading` with an empty queue meanwhile)."""
    return status["state"] == "loaded" and status["queue"] == 0


def test_a_client_that_leaves_stops_its_request_in_the_group_and_nothing_is_written(
        ray_served: RayServed, photo_ref: str) -> None:
    model = SD_GROUP[0]
    images = ray_served.settings.public_dir / "images"
    before = set(images.iterdir()) if images.is_dir() else set()
    body = json.dumps(generation(photo_ref, STEPS)).encode()
    client = socket.create_connection(("127.0.0.1", ray_served.settings.port))
    client.sendall(f"POST /models/{model} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    running = wait_running(ray_served, model)
    client.close()  # the client gives up
    left_at, steps = running["progress"]["step"], [running["progress"]["step"]]
    deadline = time.monotonic() + READY_WITHIN
    while not is_free(now := ray_served.get(f"/status/{model}").json()):
        assert time.monotonic() < deadline, now
        steps.append(now.get("progress", {}).get("step", steps[-1]))
        time.sleep(0.02)
    assert max(steps) <= left_at + 20 < STEPS  # stopped within a few steps (the reports lag 0.2 s)
    assert (set(images.iterdir()) if images.is_dir() else set()) == before


def test_delete_cancels_a_queued_and_a_running_request_in_the_group(ray_served: RayServed, photo_ref: str) -> None:
    model = SD_GROUP[0]
    answers: dict[str, requests.Response] = {}

    def post(request_id: str) -> threading.Thread:
        def send() -> None:
            answers[request_id] = requests.post(f"{ray_served.url}/models/{model}", json=generation(photo_ref, STEPS),
                                                headers={"X-API-Key": KEY, "X-Request-ID": request_id}, timeout=600)
        thread = threading.Thread(target=send)
        thread.start()
        return thread

    def queue_is(length: int) -> bool:
        status = ray_served.get(f"/status/{model}").json()
        return status["state"] == "loaded" and status["queue"] == length

    running = post("ray-run-a")
    wait_running(ray_served, model)
    queued = post("ray-queued-b")
    wait_running(ray_served, model, queue=2)

    cancelled = ray_served.session.delete(f"{ray_served.url}/admin/requests/ray-queued-b", timeout=60)
    assert cancelled.status_code == 200 and cancelled.json() == {"request_id": "ray-queued-b", "cancelled": 1,
                                                                 "stopped": True}
    queued.join(timeout=60)
    assert answers["ray-queued-b"].status_code == 409
    assert "ray-queued-b was cancelled" in answers["ray-queued-b"].json()["error"]["message"]
    wait_until(lambda: queue_is(1), 30, "the group's queue down to the running one")
    assert running.is_alive()  # the running one goes on

    stopped = ray_served.session.delete(f"{ray_served.url}/admin/requests/ray-run-a", timeout=60)
    assert stopped.json()["stopped"] is True
    running.join(timeout=60)
    assert answers["ray-run-a"].status_code == 409 and answers["ray-run-a"].json()["error"]["type"] == "cancelled"
    wait_until(lambda: queue_is(0), 30, "the group free")
    missing = ray_served.session.delete(f"{ray_served.url}/admin/requests/ray-run-a", timeout=60)
    assert missing.status_code == 404


def serve_processes(role: str) -> list[int]:
    """Pids of this app's Serve replicas of one deployment ("": of all), by their command line."""
    import psutil

    return [process.pid for process in psutil.process_iter(["cmdline"])
            if f"ServeReplica:models-server:{role}" in " ".join(process.info["cmdline"] or [])]


def listeners_on(port: int) -> list[int]:
    import psutil

    return [connection.pid for connection in psutil.net_connections("tcp")
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port]


def test_no_replica_listens_beyond_loopback(ray_served: RayServed) -> None:
    """Serve binds each replica's gRPC server for calls between deployments to every interface;
    on this loopback cluster the replicas keep it on loopback (deployments.py)."""
    import psutil

    replicas = set(serve_processes(""))
    listening = [connection for connection in psutil.net_connections("tcp")
                 if connection.status == psutil.CONN_LISTEN and connection.pid in replicas]
    assert replicas and listening
    beyond = [(connection.laddr, " ".join(psutil.Process(connection.pid).cmdline())) for connection in listening
              if not _is_loopback(ipaddress.ip_address(connection.laddr.ip))]
    assert beyond == []


def _is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def test_the_ingress_serves_the_port_itself_and_no_serve_proxy_runs(ray_served: RayServed) -> None:
    import psutil

    ingress = serve_processes("ingress")
    assert len(ingress) == 1
    assert listeners_on(ray_served.settings.port) == ingress
    commands = [" ".join(process.info["cmdline"] or []) for process in psutil.process_iter(["cmdline"])]
    assert not [command for command in commands if "ProxyActor" in command]


def test_openapi_and_metrics_come_from_the_same_app(ray_served: RayServed, single) -> None:
    client, _ = single
    assert ray_served.get("/openapi.json").json() == client.get("/openapi.json", headers={"X-API-Key": KEY}).json
    metrics = ray_served.get("/metrics").text
    assert 'models_server_model_state{model="canny-control",state="loaded"} 1.0' in metrics


def test_openais_routes_run_on_the_groups_and_files_come_from_the_ingress(ray_served: RayServed) -> None:
    """An image edit with `annotate`: the annotator's group, then the SD group, the URL served here."""
    import openai

    client = openai.OpenAI(base_url=f"{ray_served.url}/v1", api_key=KEY, max_retries=0)
    assert "lllyasviel/sd-controlnet-canny" in {model.id for model in client.models.list()}
    photo = (ray_served.settings.public_dir / "examples" / "photo.jpg").read_bytes()
    answer = client.images.edit(model="lllyasviel/sd-controlnet-canny", image=("photo.jpg", photo), prompt="a cat",
                                size="64x64", extra_body={"annotate": True, "num_inference_steps": 2})
    url = (answer.data or [])[0].url or ""
    assert url.startswith(f"{ray_served.url}/playground/files/images/")
    assert ray_served.get(url.removeprefix(ray_served.url)).content.startswith(b"\x89PNG")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{ray_served.url}/v1", api_key="wrong", max_retries=0).models.list()


def test_a_chat_streams_from_its_group_an_http_chunk_per_piece(ray_served: RayServed) -> None:
    """Serve streams the group's parts to the ingress, which sends each as its own chunk: the
    stream is the answer not streamed, in one answer's chunks."""
    import openai

    client = openai.OpenAI(base_url=f"{ray_served.url}/v1", api_key=KEY, max_retries=0)
    hello = [{"role": "user", "content": "Hello!"}]
    whole = client.chat.completions.create(model=CHAT, messages=hello, max_tokens=12, temperature=0)  # type: ignore[arg-type]
    chunks = list(client.chat.completions.create(model=CHAT, messages=hello, max_tokens=12, temperature=0,  # type: ignore[arg-type]
                                                 stream=True, stream_options={"include_usage": True}))
    assert len({chunk.id for chunk in chunks}) == 1
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == \
        whole.choices[0].message.content
    assert chunks[-1].usage == whole.usage
    with ray_served.post("/v1/completions", stream=True, json={
            "model": CHAT, "prompt": "Once upon a time", "max_tokens": 12, "temperature": 0, "stream": True}) as raw:
        assert raw.status_code == 200 and "Content-Length" not in raw.headers
        sent = [chunk for chunk in raw.raw.read_chunked() if chunk]
    assert len(sent) >= 12 and b"".join(sent).endswith(b"data: [DONE]\n\n")  # a chunk per token, then the end


def test_a_request_id_comes_back_once_and_as_sent(ray_served: RayServed) -> None:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", ray_served.settings.port, timeout=30)
    connection.request("GET", "/status/canny-control", headers={"X-Request-ID": "abc-123", "X-API-Key": KEY})
    answer = connection.getresponse()
    assert answer.status == 200
    assert [value for name, value in answer.getheaders() if name.lower() == "x-request-id"] == ["abc-123"]


def test_the_access_rule_sees_the_real_client(ray_served: RayServed) -> None:
    refused = requests.get(ray_served.url + "/status", timeout=30)
    assert refused.status_code == 403
    assert "client 127.0.0.1 is not in allowed_clients" in refused.json()["error"]["message"]
    assert requests.get(ray_served.url + "/running", timeout=30).status_code == 200


def test_a_body_over_the_limit_is_a_413(ray_served: RayServed) -> None:
    answer = ray_served.post("/models/canny-control", data=b"x" * (2 * 2**20),
                             headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "payload_too_large"


def test_a_group_ray_cannot_place_is_failed_with_what_it_asks_and_what_there_is(ray_served: RayServed) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while (status := ray_served.get(f"/status/{UNPLACEABLE}").json())["state"] != "failed":
        assert status["state"] == "loading" and "group unplaceable is starting" in status["reason"], status
        assert time.monotonic() < deadline
        time.sleep(0.2)
    message = status["error"]["message"]
    assert "each replica asks for {CPU: 0, nowhere: 1}" in message
    assert "the cluster has {CPU: 2, head_node: 1, sd_node: 1} in total" in message
    assert "the cluster has no nowhere at all" in message
    refused = ray_served.post(f"/models/{UNPLACEABLE}", json={"img_url": "public/examples/photo.jpg"})
    assert refused.status_code == 503 and refused.json()["error"]["message"].startswith(
        f"model {UNPLACEABLE} is failed: group unplaceable got no running replica")


def test_ten_status_requests_at_once(ray_served: RayServed) -> None:
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: ray_served.get("/status"), range(10)))
    assert [answer.status_code for answer in answers] == [200] * 10
    assert all(answer.json()["models"]["canny-control"]["state"] == "loaded" for answer in answers)


def test_the_sd_group_runs_on_the_sd_node_and_the_rest_on_the_head(ray_served: RayServed) -> None:
    from ray import serve

    sd = serve.get_deployment_handle("group-sd", app_name="models-server").report.remote().result(timeout_s=30)
    rest = serve.get_deployment_handle("group-annotators", app_name="models-server").report.remote().result(
        timeout_s=30)
    assert sd.node == ray_served.cluster.sd_node
    assert rest.node == ray_served.cluster.head_node
    assert set(sd.slots) == set(SD_GROUP) and set(rest.slots) == set(ANNOTATORS)


def test_a_killed_replica_gives_503s_until_ray_restarts_it(ray_served: RayServed, photo_ref: str) -> None:
    from ray import serve

    handle = serve.get_deployment_handle("group-annotators", app_name="models-server")
    os.kill(handle.report.remote().result(timeout_s=30).pid, signal.SIGKILL)
    seen: list[int] = []
    states: set[str] = set()
    reasons: set[str] = set()
    deadline = time.monotonic() + READY_WITHIN
    while not seen or seen[-1] != 200:
        assert time.monotonic() < deadline, seen[-20:]
        answer = ray_served.post("/models/canny-control", json={"img_url": photo_ref})  # times out: a hang fails
        seen.append(answer.status_code)
        if answer.status_code != 200:
            assert answer.status_code == 503 and answer.json()["error"]["type"] == "not_ready", answer.text
            status = ray_served.get("/status/canny-control").json()
            states.add(status["state"])
            reasons.add(status.get("reason") or status.get("error", {}).get("message") or "")
            time.sleep(0.2)
    assert 503 in seen
    assert "loading" in states  # (failed too, should the restart take longer than ray.deploy_timeout)
    # while no replica runs: "group annotators lost its replica..."; once a new one runs, its models load
    assert all(not reason or reason.startswith("group annotators ") for reason in reasons), reasons


def test_a_killed_ingress_comes_back_on_the_same_port_with_the_groups_status(ray_served: RayServed) -> None:
    """Near the end of the module: Serve restarts the ingress, which takes the port again and
    rebuilds its view from the replicas' next reports (no group restarts)."""
    (ingress,) = serve_processes("ingress")
    os.kill(ingress, signal.SIGKILL)
    deadline = time.monotonic() + READY_WITHIN
    while True:
        assert time.monotonic() < deadline
        try:
            if ray_served.get("/status/canny-control").json()["state"] == "loaded":
                break
        except requests.RequestException:
            pass  # refused while no ingress runs, or reset as it goes
        time.sleep(0.2)

    def the_restarted_one() -> int | None:
        """Its pid once it is the only ingress: the killed one may be listed until it is reaped."""
        ingresses = serve_processes("ingress")
        return ingresses[0] if len(ingresses) == 1 and ingresses[0] != ingress else None

    restarted = wait_until(the_restarted_one, READY_WITHIN, "one ingress, not the killed one")
    assert listeners_on(ray_served.settings.port) == [restarted]


def test_a_generation_in_flight_is_answered_when_serve_shuts_down(ray_served: RayServed, photo_ref: str) -> None:
    """Last in the module (it shuts the app down; the fixture's shutdown then finds it gone): the
    ingress stops taking connections and answers the requests it has, as one process does."""
    model = SD_GROUP[0]
    canny = ray_served.post("/models/canny-control", json={"img_url": photo_ref}).json()["path"]
    # Small enough to finish within the grace on a busy machine, and in flight at shutdown, which
    # is called as soon as /status shows its first step. On a quiet machine a short generation can
    # end before a report shows it running: then a longer one is sent.
    with ThreadPoolExecutor(1) as pool:
        for steps in (20, 80, 320):
            body = {"img_url": canny, "text": "a photo", "num_inference_steps": steps, "width": 64, "height": 64}
            answer = pool.submit(ray_served.post, f"/models/{model}", json=body, timeout=300)
            deadline = time.monotonic() + 60
            while "progress" not in ray_served.get(f"/status/{model}").json() and not answer.done():
                assert time.monotonic() < deadline, "the generation neither got in flight nor ended"
                time.sleep(0.05)
            if not answer.done():
                break
            assert answer.result().status_code == 200, answer.result().text
        else:
            pytest.fail("no generation was still in flight when /status showed it")
        ray_served.deployed.shutdown()
        assert answer.result().status_code == 200, answer.result().text
    image = ray_served.settings.public_dir / answer.result().json()["path"].lstrip("/")
    assert image.read_bytes().startswith(b"\x89PNG")

