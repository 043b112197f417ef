"""The controller's audio candidates (catalog/audio_coverage.py): every row answers a real wav over
HTTP from its miniature through the loader real weights use, one row per family through
huggingface_hub's InferenceClient, and `download` picks each family's files from recorded listings."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from huggingface_hub import InferenceClient

from models_server import download as dl
from models_server.catalog import ModelSpec, audio_coverage, catalog_rows

LISTINGS = Path(__file__).parent / "data" / "hub_listings"
ROWS = audio_coverage.MODELS


def _rows(task: str) -> list[ModelSpec]:
    return [row for row in ROWS if row.task.name == task]


def _ids(rows: list[ModelSpec]) -> list[str]:
    return [row.id for row in rows]


def speech_like_wav(seconds: float = 1.0, rate: int = 22050) -> bytes:
    """A voiced, vowel-like sound (a 140 Hz buzz through two formants) with a little noise, as WAV."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 700, 1220), start=1))
    wave = 0.2 * wave * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(len(t))
    buffer = io.BytesIO()
    soundfile.write(buffer, wave.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


WAV = speech_like_wav()
AUDIO_URL = "data:audio/wav;base64," + base64.b64encode(WAV).decode()


def post(client, model_id: str, body: dict):
    response = client.post(f"/models/{model_id}", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- the controller's bodies, every row --------------------------------------------------------


@pytest.mark.parametrize("row", _rows("automatic-speech-recognition"),
                         ids=_ids(_rows("automatic-speech-recognition")))
def test_speech_recognition_transcribes(client, row):
    body = post(client, row.id, {"audio_url": AUDIO_URL})
    assert set(body) == {"text", "generated text"}
    assert isinstance(body["text"], str) and body["text"] == body["generated text"]


def config_labels(tiny_root: Path, row: ModelSpec) -> set[str]:
    config = json.loads((tiny_root / row.weights[0].name / "config.json").read_text())
    return set(config["id2label"].values())


@pytest.mark.parametrize("row", _rows("audio-classification"), ids=_ids(_rows("audio-classification")))
def test_audio_classification_scores_every_label_best_first(client, tiny_root, row):
    body = post(client, row.id, {"audio_url": AUDIO_URL})
    assert {item["label"] for item in body} == model_labels(tiny_root, row)
    scores = [item["score"] for item in body]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= score <= 1 for score in scores)


def model_labels(tiny_root: Path, row: ModelSpec) -> set[str]:
    return config_labels(tiny_root, row)


def test_lazy_candidates_answer_loaded_before_their_first_request(client):
    lazy = [row.id for row in ROWS if not row.preload]
    assert {"openai/whisper-large-v2", "openai/whisper-medium"} <= set(lazy)
    for model_id in lazy:
        assert client.get(f"/status/{model_id}").get_json()["loaded"] is True, model_id


# --- InferenceClient, one row per family -------------------------------------------------------

FAMILY_ROWS = list({row.weights[0].family: row for row in reversed(ROWS)}.values())


@pytest.fixture(scope="module")
def hub(live_server):
    return lambda model_id: InferenceClient(model=f"{live_server.url}/models/{model_id}", timeout=60)


@pytest.mark.parametrize("row", FAMILY_ROWS, ids=[row.weights[0].family for row in FAMILY_ROWS])
def test_inference_client_reads_every_family(hub, tiny_root, row):
    client = hub(row.id)
    task = row.task.name
    if task == "automatic-speech-recognition":
        assert isinstance(client.automatic_speech_recognition(WAV).text, str)
    elif task == "audio-classification":
        labels = client.audio_classification(WAV, top_k=2)
        assert len(labels) == 2 and {item.label for item in labels} <= model_labels(tiny_root, row)
    else:
        raise AssertionError(f"no InferenceClient check for {task}")


# --- download: each new family's files from a recorded listing ---------------------------------

# repo: (the only weight files picked, files that must come with them)
EXPECTED_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "openai/whisper-large-v2": (("model.safetensors",), ("vocab.json", "merges.txt", "preprocessor_config.json")),
    "facebook/wav2vec2-large-960h-lv60-self": (("model.safetensors",), ("vocab.json", "preprocessor_config.json")),
    "MIT/ast-finetuned-audioset-10-10-0.4593": (("model.safetensors",), ("config.json", "preprocessor_config.json")),
    "superb/hubert-base-superb-er": (("pytorch_model.bin",), ("config.json", "preprocessor_config.json")),
}


def _listing(name: str) -> dl.Listing:
    data = json.loads((LISTINGS / (name.replace("/", "--") + ".json")).read_text())
    return [(path, size) for path, size in data["files"]]


def _repo(name: str):
    return next(repo for row in ROWS for repo in row.weights if repo.name == name)


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_download_picks_the_files_each_family_reads(name):
    weights, companions = EXPECTED_FILES[name]
    files = dl.select_files(_listing(name), _repo(name))
    assert [path for path in files if not path.endswith(dl._METADATA_SUFFIXES)] == list(weights)
    assert set(companions) <= set(files)


def test_every_new_family_has_a_recorded_listing():
    elsewhere = {repo.family for row in catalog_rows() if row not in ROWS for repo in row.weights}
    new_families = {repo.family for row in ROWS for repo in row.weights} - elsewhere
    assert new_families <= {_repo(name).family for name in EXPECTED_FILES}
