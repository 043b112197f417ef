"""The controller's contract (PROTOCOL.md) through app.test_client()."""

import base64
from pathlib import Path

import pytest
from PIL import Image

from models_server.catalog.minimal import CONTROLNET_KINDS

ANNOTATORS = [f"{kind}-control" for kind in CONTROLNET_KINDS]
CONTROLNETS = [f"lllyasviel/sd-controlnet-{kind}" for kind in CONTROLNET_KINDS]


def output_file(public_dir: Path, path: str) -> Path:
    assert path.startswith("/images/") and path.endswith(".png"), path
    return public_dir / path.lstrip("/")


def test_running(client):
    response = client.get("/running")
    assert response.status_code == 200
    assert response.get_json() == {"running": True}


@pytest.mark.parametrize("model_id", [*ANNOTATORS, *CONTROLNETS, "midas-control"])
def test_status_of_a_minimal_model_has_the_hugging_face_shape(client, model_id):
    response = client.get(f"/status/{model_id}")
    assert response.status_code == 200
    status = response.get_json()
    assert status["loaded"] is True and status["state"] == "loaded"
    assert status["tier"] == "minimal"
    assert status["compute_type"] == "cpu" and status["device"] == "cpu" and status["dtype"] == "float32"
    assert {"task", "framework", "queue"} <= status.keys()


def test_status_of_an_unknown_model_is_a_json_404(client):
    response = client.get("/status/nobody/nothing")
    assert response.status_code == 404
    body = response.get_json()
    assert body["loaded"] is False and "nobody/nothing" in body["error"]["message"]


def test_status_of_everything(client, served):
    body = client.get("/status").get_json()
    assert body["tier"] == "full"
    assert set(body["models"]) == set(served.runtime.views())
    assert body["models"]["canny-control"]["state"] == "loaded"


@pytest.mark.parametrize("model_id", [*ANNOTATORS, "midas-control"])
def test_every_annotator_writes_a_control_map_of_the_photo(client, served, photo_ref, model_id):
    response = client.post(f"/models/{model_id}", json={"img_url": photo_ref})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"path"}
    with Image.open(output_file(served.public_dir, body["path"])) as image:
        # canny's edges are binary: a 1-bit PNG, a quarter of an RGB one's encoding work
        assert image.size == (512, 512) and image.mode == ("1" if model_id == "canny-control" else "RGB")


@pytest.mark.parametrize("model_id", CONTROLNETS)
def test_every_controlnet_generates_an_image(client, served, photo_ref, model_id):
    body = {"img_url": photo_ref, "text": "an astronaut on the moon", "num_inference_steps": 2, "seed": 1}
    response = client.post(f"/models/{model_id}", json=body)
    assert response.status_code == 200, response.get_json()
    with Image.open(output_file(served.public_dir, response.get_json()["path"])) as image:
        assert image.mode == "RGB" and image.size[0] == image.size[1]


def test_controlnet_is_reproducible_with_a_seed_and_honours_the_size(client, served, photo_ref):
    body = {"img_url": photo_ref, "text": "a cat", "num_inference_steps": 2, "seed": 7, "width": 96, "height": 64}
    paths = [client.post("/models/lllyasviel/sd-controlnet-canny", json=body).get_json()["path"] for _ in range(2)]
    first, second = (Image.open(output_file(served.public_dir, path)) for path in paths)
    assert paths[0] != paths[1]
    assert first.size == (96, 64)
    assert first.tobytes() == second.tobytes()


def test_control_map_chains_into_controlnet_as_the_controller_does(client, served, photo_ref):
    """The controller sends our own output path back as `public//images/<name>.png`."""
    path = client.post("/models/canny-control", json={"img_url": photo_ref}).get_json()["path"]
    body = {"img_url": f"public/{path}", "text": "a robot", "num_inference_steps": 2}
    response = client.post("/models/lllyasviel/sd-controlnet-canny", json=body)
    assert response.status_code == 200, response.get_json()


def test_canny_is_real_edges(client, served, photo_ref):
    import numpy as np

    path = client.post("/models/canny-control", json={"img_url": photo_ref}).get_json()["path"]
    edges = np.asarray(Image.open(output_file(served.public_dir, path)).convert("L"))
    assert set(np.unique(edges)) <= {0, 255}
    assert 0.01 < (edges == 255).mean() < 0.5


def test_data_uri_resource(client, served):
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "white").save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    response = client.post("/models/canny-control", json={"img_url": uri})
    assert response.status_code == 200
    assert Image.open(output_file(served.public_dir, response.get_json()["path"])).size == (32, 24)


# -- error paths: every one is JSON with error.message, and the server keeps serving --------


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    message = response.get_json()["error"]["message"]
    for word in words:
        assert word in message, message


def test_unknown_model_is_404(client):
    assert_error(client.post("/models/nobody/nothing", json={"text": "hi"}), 404, "nobody/nothing")


def test_missing_field_is_400_naming_it(client):
    assert_error(client.post("/models/canny-control", json={}), 400, "img_url")
    body = {"img_url": "public/examples/photo.jpg"}
    assert_error(client.post("/models/lllyasviel/sd-controlnet-hed", json=body), 400, "text")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"img_url": 42}, ("img_url",)),
        ({"img_url": "public/examples/photo.jpg", "text": 5}, ("text", "string")),
        ({"img_url": "public/examples/photo.jpg", "text": "a", "num_inference_steps": "x"}, ("num_inference_steps",)),
        ({"img_url": "public/examples/photo.jpg", "text": "a", "num_inference_steps": 10_000}, ("max_steps",)),
        ({"img_url": "public/examples/photo.jpg", "text": "a", "width": 100}, ("width", "multiple of 8")),
        ({"img_url": "public/examples/photo.jpg", "text": "a", "height": 4096}, ("height", "max_height")),
        ({"img_url": "public/examples/photo.jpg", "text": "a", "seed": True}, ("seed",)),
    ],
)
def test_wrongly_typed_or_out_of_range_fields_are_400(client, body, words):
    assert_error(client.post("/models/lllyasviel/sd-controlnet-canny", json=body), 400, *words)


@pytest.mark.parametrize(
    "model_id", ["microsoft/speecht5_tts", "damo-vilab/text-to-video-ms-1.7b", "runwayml/stable-diffusion-v1-5"]
)
@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_prompt_is_400_naming_the_field(client, model_id, text):
    assert_error(client.post(f"/models/{model_id}", json={"text": text}), 400, "'text'", "empty")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, ("nested",)),
        ('{"img_url": "public/examples/photo.jpg", "text": "a", "seed": ' + "9" * 309 + "}", ("seed", "integer")),
        ('{"img_url": "public/examples/photo.jpg", "text": "a", "guidance_scale": ' + "9" * 309 + "}",
         ("guidance_scale", "number")),
    ],
)
def test_deep_json_and_huge_numbers_are_400(client, body, words):
    response = client.post("/models/lllyasviel/sd-controlnet-canny", data=body, content_type="application/json")
    assert_error(response, 400, *words)


def test_body_that_is_not_a_json_object_is_400(client):
    assert_error(client.post("/models/canny-control", data="img_url=x"), 400, "JSON object")
    assert_error(client.post("/models/canny-control", json=["public/examples/photo.jpg"]), 400, "JSON object")


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        ("public/examples/absent.jpg", ("no file",)),
        ("public/../../etc/passwd", ("outside the public folder",)),
        ("/etc/passwd", ("no file",)),
        ("file:///etc/passwd", ("only http",)),
        ("data:image/png;base64,bm90IGFuIGltYWdl", ("cannot decode image",)),
    ],
)
def test_unreadable_resources_are_400(client, ref, words):
    assert_error(client.post("/models/canny-control", json={"img_url": ref}), 400, *words)


def test_wrong_method_and_unknown_route_are_json(client):
    assert_error(client.get("/models/canny-control"), 405, "method")
    assert_error(client.get("/nowhere"), 404, "not found")


def test_server_keeps_serving_after_errors(client, photo_ref):
    client.post("/models/canny-control", json={"img_url": "public/../x"})
    client.post("/models/nobody", json={})
    assert client.post("/models/canny-control", json={"img_url": photo_ref}).status_code == 200
