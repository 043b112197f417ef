"""OpenAI's API through the official `openai` SDK, unmodified, against a live server of tiny models."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import numpy as np
import openai
import pytest
import requests
from support.serving import LiveServer, Served, run_live_server

from models_server.http.app import create_app

EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
KEY = "s3cret-key"


@pytest.fixture(scope="module")
def sdk(live_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def keyed_server(served: Served) -> Iterator[LiveServer]:
    """The session's models behind an app that asks for an API key."""
    settings = served.settings.model_copy(update={"api_key": KEY})
    live, server, thread = run_live_server(create_app(settings, served.runtime))
    yield live
    server.close()
    thread.join(timeout=5)


# -- models -------------------------------------------------------------------------------------


def test_the_model_list_holds_every_served_id_of_status_and_the_aliases(sdk, live_server):
    status = requests.get(f"{live_server.url}/status", timeout=30).json()["models"]
    served = {model_id for model_id, entry in status.items() if entry["state"] != "disabled"}
    listed = {model.id: model for model in sdk.models.list()}
    assert served <= set(listed)
    assert {"whisper-1", "tts-1", "dall-e-2", "text-embedding-3-small"} <= set(listed)
    assert listed["whisper-1"].alias_of == "openai/whisper-base"  # type: ignore[attr-defined]
    assert listed[EMBEDDER].object == "model"
    assert listed[EMBEDDER].task == "sentence-similarity"  # type: ignore[attr-defined]


def test_a_model_is_retrieved_by_an_id_with_slashes(sdk):
    model = sdk.models.retrieve("lllyasviel/sd-controlnet-canny")
    assert (model.id, model.owned_by) == ("lllyasviel/sd-controlnet-canny", "lllyasviel")


def test_an_unknown_model_is_the_sdks_not_found_error(sdk):
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve("nobody/nothing")
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="nobody/nothing", input="hello")


# -- embeddings ---------------------------------------------------------------------------------


def test_embeddings_come_as_floats_and_as_base64_of_the_same_vectors(sdk, served):
    texts = ["a cat sits on the mat, quietly", "dogs bark"]
    floats = sdk.embeddings.create(model=EMBEDDER, input=texts, encoding_format="float")
    packed = sdk.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="base64")
    expected = served.runtime.model(EMBEDDER).encode(texts)
    assert [item.index for item in floats.data] == [0, 1]
    np.testing.assert_allclose([item.embedding for item in floats.data], expected, rtol=1e-5, atol=1e-6)
    decoded = [np.frombuffer(base64.b64decode(item.embedding), dtype="<f4") for item in packed.data]  # type: ignore[arg-type]
    np.testing.assert_allclose(decoded, expected, rtol=1e-5, atol=1e-6)


def test_the_sdks_default_request_decodes_to_the_models_vector(sdk, served):
    """The SDK asks for base64 unless told otherwise and decodes it itself."""
    answer = sdk.embeddings.create(model=EMBEDDER, input="one sentence, with a comma")
    expected = served.runtime.model(EMBEDDER).encode(["one sentence, with a comma"])[0]
    np.testing.assert_allclose(answer.data[0].embedding, expected, rtol=1e-5, atol=1e-6)
    assert len(answer.data) == 1  # a comma does not split the input


def test_embedding_usage_counts_the_models_own_tokens(sdk, served):
    texts = ["hello there", "a longer sentence than the first one"]
    answer = sdk.embeddings.create(model=EMBEDDER, input=texts)
    tokenizer = served.runtime.model(EMBEDDER).tokenizer
    expected = sum(len(tokenizer(text)["input_ids"]) for text in texts)
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == expected


def test_dimensions_other_than_the_models_own_are_a_clear_bad_request(sdk, served):
    native = served.runtime.model(EMBEDDER).get_sentence_embedding_dimension()
    answer = sdk.embeddings.create(model=EMBEDDER, input="x", dimensions=native, encoding_format="float")
    assert len(answer.data[0].embedding) == native
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model=EMBEDDER, input="x", dimensions=native // 2)
    assert caught.value.body["param"] == "dimensions"  # type: ignore[index]
    assert "truncated" in caught.value.message


def test_a_model_of_another_task_is_a_bad_request(sdk):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="openai/whisper-base", input="hello")
    assert caught.value.body["code"] == "model_not_supported"  # type: ignore[index]


@pytest.mark.parametrize("bad_input", [[], [""], [[1, 2, 3]]])
def test_inputs_that_are_no_strings_are_bad_requests(sdk, bad_input):
    with pytest.raises(openai.BadRequestError):
        sdk.embeddings.create(model=EMBEDDER, input=bad_input)


# -- errors and access --------------------------------------------------------------------------


def test_errors_have_openais_shape_and_unknown_routes_too(live_server):
    response = requests.post(f"{live_server.url}/v1/embeddings", data=b"{not json", timeout=30,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    response = requests.get(f"{live_server.url}/v1/no/such/route", timeout=30)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_body_over_the_limit_is_413_in_openais_shape(served):
    settings = served.settings.model_copy(update={"limits": served.settings.limits.model_copy(
        update={"max_body_bytes": 1000})})
    client = create_app(settings, served.runtime).test_client()
    response = client.post("/v1/embeddings", json={"model": EMBEDDER, "input": "x" * 2000})
    assert response.status_code == 413
    assert response.get_json()["error"]["type"] == "invalid_request_error"


def test_a_missing_or_wrong_key_is_the_sdks_authentication_error(keyed_server):
    for key in ("wrong", ""):
        client = openai.OpenAI(base_url=f"{keyed_server.url}/v1", api_key=key or "-", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
    client = openai.OpenAI(base_url=f"{keyed_server.url}/v1", api_key=KEY, max_retries=0)
    assert any(model.id == EMBEDDER for model in client.models.list())
    assert requests.get(f"{keyed_server.url}/status", timeout=30).status_code == 403  # other routes: as before
