"""Metrics, request ids, the access line and the status page, on a small runtime in every state.

The runtime holds a handful of annotator rows and an empty model root: canny needs no weights
and loads; the others fail, and the fixture then puts them in the other states by hand.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from support.observed import EVIL_ERROR, EXPECTED_STATES, expected_states, observed_app, page_rows

from models_server.http.observability import install_observability, logfmt, request_id_from
from models_server.runtime import State
from models_server.runtime.device_memory import CudaReading


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, public_dir: Path) -> Flask:
    return observed_app(tmp_path_factory.mktemp("empty-model-root"), public_dir)


@pytest.fixture
def client(app: Flask):
    return app.test_client()


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def sample(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_fixture_covers_every_state(app):
    states = expected_states(app)
    for model_id, state in EXPECTED_STATES.items():
        assert states[model_id] == state


def test_metrics_count_a_post_and_time_it(client, photo_ref):
    run = {"endpoint": "models.run_model", "model": "canny-control"}
    before = scrape(client)
    response = client.post("/models/canny-control", json={"img_url": photo_ref})
    assert response.status_code == 200, response.get_json()
    after = scrape(client)
    assert sample(after, "models_server_requests_total", code="200", **run) == (
        sample(before, "models_server_requests_total", code="200", **run) + 1
    )
    assert sample(after, "models_server_request_seconds_count", **run) == (
        sample(before, "models_server_request_seconds_count", **run) + 1
    )
    assert sample(after, "models_server_request_seconds_sum", **run) > sample(
        before, "models_server_request_seconds_sum", **run
    )


def test_metrics_read_states_queues_and_memory_from_the_runtime(app, client):
    samples = scrape(client)
    for model_id, state in expected_states(app).items():
        assert sample(samples, "models_server_model_state", model=model_id, state=state) == 1
        assert sample(samples, "models_server_model_queue", model=model_id) == 0
        others = [s.value for s in State if s.value != state]
        assert all(sample(samples, "models_server_model_state", model=model_id, state=s) == 0 for s in others)
    for placement in ("gpu", "cpu"):
        assert ("models_server_resident_bytes", (("placement", placement),)) in samples
    assert ("models_server_model_resident_bytes", (("model", "canny-control"), ("placement", "cpu"))) in samples
    assert ("models_server_model_resident_bytes", (("model", "hed-control"), ("placement", "unloaded"))) in samples

    runtime = app.extensions["models_server"].runtime
    assert sample(samples, "models_server_device_models_bytes", device="cpu") == runtime.resident_bytes()["cpu"]
    assert sample(samples, "models_server_device_reserved_bytes", device="cpu") > 0  # the process's RSS
    devices = {dict(key).get("device") for name, key in samples if name.startswith("models_server_device_")}
    assert devices == {"cpu"}  # CPU only: no card, and no CUDA-only figure for the CPU
    assert ("models_server_device_free_bytes", (("device", "cpu"),)) not in samples


def test_status_metrics_and_page_show_each_device_the_memory_source_reads(app, client, monkeypatch):
    """The CUDA figures flow from the runtime's memory source to every reader (a fake card here)."""
    runtime = app.extensions["models_server"].runtime
    card = CudaReading(device="cuda:0", allocated=5 << 30, reserved=6 << 30, free=10 << 30, total=24 << 30)
    monkeypatch.setattr(runtime, "memory_source", FakeSource(card))
    memory = client.get("/status").get_json()["memory"]
    assert memory["cpu"] == {"models_bytes": runtime.resident_bytes()["cpu"], "allocated_bytes": None,
                             "reserved_bytes": 1234, "free_bytes": None, "total_bytes": None}
    assert memory["cuda:0"] == {"models_bytes": 0, "allocated_bytes": 5 << 30, "reserved_bytes": 6 << 30,
                                "free_bytes": 10 << 30, "total_bytes": 24 << 30}  # this runtime runs on the CPU
    samples = scrape(client)
    assert sample(samples, "models_server_device_free_bytes", device="cuda:0") == 10 << 30
    assert sample(samples, "models_server_device_total_bytes", device="cuda:0") == 24 << 30
    assert sample(samples, "models_server_device_reserved_bytes", device="cpu") == 1234
    html = client.get("/").get_data(as_text=True)
    assert 'data-device="cuda:0"' in html and "24.0 GiB" in html and "10.0 GiB" in html


@dataclass
class FakeSource:
    card: CudaReading

    def cuda(self, in_use: str) -> list[CudaReading]:
        return [self.card]

    def process_rss(self) -> int | None:
        return 1234


def test_unknown_model_ids_share_one_label(client):
    for index in range(3):
        assert client.get(f"/status/no/such-model-{index}").status_code == 404
    samples = scrape(client)
    labels = {dict(key)["model"] for name, key in samples if name == "models_server_requests_total"}
    assert "(unknown)" in labels and not any(label.startswith("no/") for label in labels)
    assert sample(samples, "models_server_requests_total", endpoint="models.status", model="(unknown)", code="404") >= 3


def test_aliases_count_under_the_served_id(client):
    client.get("/status/midas-control")
    samples = scrape(client)
    assert sample(samples, "models_server_requests_total", endpoint="models.status", model="depth-control", code="200")
    assert not any(dict(key).get("model") == "midas-control" for _, key in samples)


def test_request_id_is_echoed_when_sane(client):
    response = client.get("/running", headers={"X-Request-ID": "ctrl-42.a_b"})
    assert response.headers["X-Request-ID"] == "ctrl-42.a_b"


@pytest.mark.parametrize("sent", ["has space", "x" * 129, "semi;colon", "new\\nline", ""])
def test_request_id_is_replaced_when_not_sane(client, sent):
    returned = client.get("/running", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    assert returned != sent and len(returned) == 32 and int(returned, 16) >= 0


def test_generated_request_ids_are_unique_and_on_errors_too(client):
    ids = {client.get("/status/canny-control").headers["X-Request-ID"] for _ in range(20)}
    assert len(ids) == 20
    assert client.get("/no/route").headers["X-Request-ID"]
    assert client.post("/models/canny-control", data="not json").headers["X-Request-ID"]
    assert request_id_from("a" * 128) == "a" * 128


def access_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "models_server.access"]


def test_one_access_line_per_request(client, caplog, photo_ref):
    caplog.set_level(logging.DEBUG, logger="models_server.access")
    response = client.post("/models/canny-control", json={"img_url": photo_ref}, headers={"X-Request-ID": "trace-1"})
    [record] = access_records(caplog)
    assert record.levelno == logging.INFO
    message = record.getMessage()
    for part in ("id=trace-1", "method=POST", "path=/models/canny-control", "model=canny-control", "status=200"):
        assert part in message.split(), message
    assert " ms=" in message and record.ms >= 0
    assert record.request_id == response.headers["X-Request-ID"]


def test_failed_post_logs_one_line_with_its_status(client, caplog):
    caplog.set_level(logging.INFO, logger="models_server.access")
    client.post("/models/hed-control", json={"img_url": "public/examples/photo.jpg"})
    [record] = access_records(caplog)
    assert "status=503" in record.getMessage() and "model=hed-control" in record.getMessage()


def test_polls_scrapes_and_page_refreshes_stay_out_of_info(client, caplog):
    caplog.set_level(logging.DEBUG, logger="models_server.access")
    polls = ["/metrics", "/", "/status", "/status/canny-control", "/status/no/such-model", "/running"]
    for path in polls:
        client.get(path)
    records = access_records(caplog)
    assert [record.path for record in records] == polls
    assert all(record.levelno == logging.DEBUG for record in records)


def test_every_access_field_is_bounded(client, caplog):
    caplog.set_level(logging.INFO, logger="models_server.access")
    client.post(f"/models/{'m' * 200_000}", json={})
    [record] = access_records(caplog)
    assert len(record.getMessage()) < 1_000
    assert len(record.path) < 300 and len(record.model) < 300
    assert "characters cut" in record.path


def test_untrusted_values_cannot_forge_a_log_line(client, caplog):
    caplog.set_level(logging.INFO, logger="models_server.access")
    client.post("/models/evil%0Aid=forged%20status=200", json={})
    [record] = access_records(caplog)
    assert "\n" not in record.getMessage()
    assert logfmt({"a": "x y", "b": None, "c": 'q"'}) == 'a="x y" b=- c="q\\""'


def test_page_lists_every_model_with_its_state(app, client, photo_ref):
    client.post("/models/canny-control", json={"img_url": photo_ref})
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    rows = page_rows(response.get_data(as_text=True))
    assert {model_id: row["state"] for model_id, row in rows.items()} == expected_states(app)
    canny = rows["canny-control"]["cells"]  # model, state, placement, memory, queue, progress, latency, error
    assert canny[1] == "loaded" and canny[2] == "cpu" and canny[4] == "0"
    assert canny[6].endswith(" ms")
    assert rows["hed-control"]["cells"][2] == "unloaded"
    actions = {model_id: row["actions"] for model_id, row in rows.items()}
    assert actions["canny-control"] == ["unload"] and actions["hed-control"] == ["load"]  # failed: load again
    assert actions["mlsd-control"] == actions["openpose-control"] == []  # loading, disabled
    assert actions.get("scribble-control", ["load"]) == ["load"]  # lazy


def test_page_shows_each_device_and_the_requests_in_flight(client):
    html = client.get("/").get_data(as_text=True)
    assert 'data-device="cpu"' in html and "Requests being served" in html
    assert client.get("/admin/requests").get_json() == {"requests": []}  # GETs are not cancellable


def test_page_escapes_untrusted_ids_and_errors(client):
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &amp; more" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert page_rows(html)["hed-control"]["cells"][7] == EVIL_ERROR


def test_page_shows_progress_and_request_errors(app, client, monkeypatch):
    runtime = app.extensions["models_server"].runtime
    real_views = runtime.views

    def with_progress():
        views = real_views()
        views["canny-control"] = dataclasses.replace(views["canny-control"], progress=(3, 20))
        return views

    monkeypatch.setattr(runtime, "views", with_progress)
    client.post("/models/canny-control", json={"img_url": "public/examples/missing.jpg"})
    canny = page_rows(client.get("/").get_data(as_text=True))["canny-control"]["cells"]
    assert canny[5] == "3/20"
    assert " 400: " in canny[7] and "missing.jpg" in canny[7]


def test_installing_twice_changes_nothing(app, client, caplog):
    # create_app installs it too once wired in; the tests' own call must then be a no-op.
    install_observability(app, app.extensions["models_server"].runtime)
    caplog.set_level(logging.DEBUG, logger="models_server.access")
    client.get("/running")
    assert len(access_records(caplog)) == 1


def test_openapi_documents_the_memory_and_the_requests_in_flight_as_they_are_answered(client):
    document = client.get("/openapi.json").get_json()
    memory_schema = document["paths"]["/status"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"]["properties"]["memory"]
    requests_schema = document["paths"]["/admin/requests"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    jsonschema.validate(client.get("/status").get_json()["memory"], memory_schema)
    in_flight = {"requests": [{"request_id": "r1", "model": None, "path": "/v1/embeddings", "age": 1.5,
                               "cancelled": False}]}
    jsonschema.validate(in_flight, requests_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"cpu": {"models_bytes": "many"}}, memory_schema)
