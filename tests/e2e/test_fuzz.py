"""Property-based fuzzing of a real server (waitress on 127.0.0.1) from its own /openapi.json.

Schemathesis turns every operation of the served document into a Hypothesis strategy: valid
bodies (positive) and bodies that break the schema (negative). Whatever arrives, the server
must answer below 500, and every error must be JSON carrying error.message, because that is
all the controller looks at. Only cheap models are served so a run stays well under a minute;
the limits are lowered so that valid ControlNet requests are tiny (64-128 px, 1-2 steps).

Each case sends a fixed number of requests (derandomized: the same ones every run), and the test
checks that it did: no clock decides what is tested. MODELS_SERVER_FUZZ_EXAMPLES raises the number
of examples per operation and mode (default 10).
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis import GenerationMode
from support.serving import PHOTO_REF, run_live_server, tiny_settings

from models_server.catalog import catalog_rows
from models_server.config import Settings
from models_server.http.access import install_access_control
from models_server.http.app import create_app
from models_server.http.openapi import build_openapi, install_openapi
from models_server.runtime import Runtime
from models_server.tasks.base import Kind

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("MODELS_SERVER_FUZZ_EXAMPLES", "10"))
FUZZED_IDS = (
    "canny-control",
    "lllyasviel/sd-controlnet-canny",
    "distilbert-base-uncased-finetuned-sst-2-english",
    "dslim/bert-base-NER",
    "sentence-transformers/all-MiniLM-L6-v2",
    "deepset/roberta-base-squad2",
)
LIMITS = {
    "max_body_bytes": 65536, "max_steps": 2, "max_width": 128, "max_height": 128,
    "max_prompt_chars": 300, "max_text_chars": 2000,
}
# Operations without inputs: one request each. POST /admin/reload/{model_id} is left out: it
# changes state (a reload in the middle of the run), and the access tests cover its refusal.
OTHER_OPERATIONS = ("GET /status", "GET /running", "GET /openapi.json", "GET /metrics", "GET /")
ROWS = [row for row in catalog_rows() if row.id in FUZZED_IDS]
IMAGE_FIELDS = {
    name for row in ROWS for field in (*row.task.inputs, *row.task.params) if field.kind is Kind.IMAGE
    for name in (field.name, *field.aliases)
}


def _small_png_uri() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 40), (200, 30, 90)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# A generated image reference is almost never readable, so valid images are mixed in: without
# them the fuzzer would never get past img_url to the numeric knobs behind it.
REAL_IMAGES = (None, PHOTO_REF, _small_png_uri())


def _fuzz_settings(tiny_root: Path, public_dir: Path) -> Settings:
    return tiny_settings(tiny_root, public_dir, limits=LIMITS)


@pytest.fixture(scope="module")
def fuzz_url(tiny_root: Path, public_dir: Path) -> Iterator[str]:
    settings = _fuzz_settings(tiny_root, public_dir)
    runtime = Runtime(settings, rows=ROWS)
    runtime.load_all()
    assert all(view.state.value == "loaded" for view in runtime.views().values()), runtime.views()
    app = create_app(settings, runtime)
    install_access_control(app, settings)
    install_openapi(app, ROWS, settings)
    live, server, thread = run_live_server(app, threads=4)
    yield live.url
    server.close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def schema(fuzz_url: str):
    return schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json", timeout=30)


def test_the_served_document_is_the_built_one_and_names_every_served_id(fuzz_url, tiny_root, public_dir):
    import requests

    served = requests.get(f"{fuzz_url}/openapi.json", timeout=30).json()
    assert served == json.loads(json.dumps(build_openapi(ROWS, _fuzz_settings(tiny_root, public_dir))))
    assert served["openapi"].startswith("3.")
    assert {f"/models/{model_id}" for model_id in FUZZED_IDS} <= set(served["paths"])
    steps = served["paths"]["/models/lllyasviel/sd-controlnet-canny"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]["num_inference_steps"]
    assert steps["maximum"] == LIMITS["max_steps"] and steps["minimum"] == 1  # a limit name, resolved
    for path in ("/running", "/status", "/status/{model_id}", "/metrics", "/", "/admin/reload/{model_id}"):
        assert path in served["paths"]


def test_every_catalog_row_is_described_with_its_fields_and_limits():
    document = build_openapi(catalog_rows(), Settings(api_key="k", limits={"max_steps": 7}))
    assert document["security"] == [{"bearer": []}, {"apiKey": []}]
    assert document["paths"]["/running"]["get"]["security"] == []
    for row in catalog_rows():
        for model_id in (row.id, *row.aliases):
            operation = document["paths"][f"/models/{model_id}"]["post"]
            assert {"200", "400", "403", "404", "413", "500", "503"} <= set(operation["responses"])
    body = document["paths"]["/models/lllyasviel/sd-controlnet-canny"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert body["required"] == ["img_url", "text"]
    assert body["properties"]["img_url"]["type"] == "string"
    assert body["properties"]["num_inference_steps"]["maximum"] == 7
    assert body["properties"]["width"]["multipleOf"] == 8
    assert body["properties"]["seed"]["type"] == ["integer", "null"]  # optional fields may be null
    similarity = document["paths"]["/models/sentence-transformers/all-MiniLM-L6-v2"]["post"]["requestBody"][
        "content"]["application/json"]["schema"]
    # a required field with aliases: any one of its names will do
    assert {"anyOf": [{"required": ["source_sentence"]}, {"required": ["text1"]}]} in similarity["allOf"]
    assert similarity["properties"]["sentences"]["anyOf"][0]["type"] == "array"


def _cases() -> list[tuple[str, GenerationMode]]:
    """Every operation with valid inputs; those that take inputs with invalid ones too."""
    with_inputs = ["GET /status/{model_id}", *(f"POST /models/{model_id}" for model_id in FUZZED_IDS)]
    return [
        *((label, GenerationMode.POSITIVE) for label in (*OTHER_OPERATIONS, *with_inputs)),
        # (an invalid path parameter cannot be put in a URL, so the negative runs are POSTs only)
        *((label, GenerationMode.NEGATIVE) for label in with_inputs if label.startswith("POST")),
    ]


@pytest.mark.parametrize(("label", "mode"), _cases(), ids=lambda value: str(value))
def test_no_input_makes_a_server_error_and_every_error_is_json(schema, fuzz_url, label, mode):
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    seen: list[int] = []
    # an operation without inputs has one request to send; the others, EXAMPLES each
    examples, images = (1, st.none()) if label in OTHER_OPERATIONS else (EXAMPLES, st.sampled_from(REAL_IMAGES))

    @settings(
        max_examples=examples, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), image=images)
    def run(case, image: str | None) -> None:
        if image and isinstance(case.body, dict):
            case.body = {key: image if key in IMAGE_FIELDS else value for key, value in case.body.items()}
        response = case.call(base_url=fuzz_url, timeout=60)
        seen.append(response.status_code)
        assert response.status_code < 500, _describe(case, response)
        if response.status_code >= 400:
            _assert_json_error(case, response)

    run()
    print(f"{label} [{mode}]: {len(seen)} requests, statuses {sorted(set(seen))}")
    assert len(seen) == examples, f"{label} [{mode}] sent {len(seen)} requests, not {examples}"


def _assert_json_error(case, response) -> None:
    try:
        body = json.loads(response.content)
    except ValueError:
        pytest.fail(f"error body is not JSON: {_describe(case, response)}")
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), _describe(case, response)
    message = body["error"].get("message")
    assert isinstance(message, str) and message, _describe(case, response)


def _describe(case, response) -> str:
    body: Any = case.body if not isinstance(case.body, bytes) else case.body[:200]
    return (
        f"{case.method} {case.formatted_path} body={str(body)[:500]!r} -> {response.status_code} "
        f"{response.content[:500]!r}"
    )


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(st.binary(max_size=2048), st.text(max_size=200).map(str.encode)),
    content_type=st.sampled_from(
        [None, "application/json", "application/json; charset=latin-1", "image/png", "audio/wav",
         "application/octet-stream", "text/plain", "multipart/form-data; boundary=x"]
    ),
    model_id=st.sampled_from(FUZZED_IDS),
)
def test_raw_bodies_of_any_bytes_and_type_are_answered_below_500(fuzz_url, body, content_type, model_id):
    """What schemathesis does not send: bodies that are not JSON at all, under any content type."""
    import requests

    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(f"{fuzz_url}/models/{model_id}", data=body, headers=headers, timeout=60)
    assert response.status_code < 500, (model_id, content_type, body[:200], response.text[:300])
    if response.status_code >= 400:
        assert isinstance(response.json()["error"]["message"], str)


def test_a_body_over_max_body_bytes_is_a_json_413(fuzz_url):
    import requests

    response = requests.post(
        f"{fuzz_url}/models/canny-control", data=b"{" + b" " * LIMITS["max_body_bytes"] + b"}",
        headers={"Content-Type": "application/json"}, timeout=60,
    )
    assert response.status_code == 413
    assert response.json()["error"]["message"]


# A NUL byte makes Path.resolve() raise ValueError, a name past the file system's limit makes
# Path.is_file() raise OSError(ENAMETOOLONG): both are the client's bad reference, a 400 naming the field.
@pytest.mark.parametrize("ref", ["\x00", "public/examples/photo.jpg\x00.png", "a" * 300, "public/" + "b" * 5000])
def test_unusable_paths_are_400_not_500(fuzz_url, ref):
    import requests

    response = requests.post(f"{fuzz_url}/models/canny-control", json={"img_url": ref}, timeout=60)
    assert response.status_code == 400, response.text[:300]
    assert "img_url" in response.json()["error"]["message"]
