"""Any Hub model by one config line: `models: {org/name: {task: ...}}` serves a model the catalog lacks.

Tiny models of the real classes are built under ids no catalog row has, configured by one line
each, and asked over HTTP with the controller's bodies. Models that cannot serve (the wrong
architecture for their task, files missing) end `failed` with a reason saying which, beside
neighbours that serve.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image
from support.paths import DATA

from models_server.catalog import Repo, catalog_rows, served_rows
from models_server.catalog.configured import CONFIGURED_FAMILY, configured_rows, is_configured
from models_server.cli import main
from models_server.config import Settings, load_settings
from models_server.errors import ConfigError, WeightsMissing
from models_server.http.app import create_app
from models_server.runtime import Runtime
from models_server.tasks.generic import GENERIC_TASKS, ModelUnfit
from models_server.tasks.loading import CheckedLoader
from models_server.weights.download import choose_repos, select_files
from tiny_models import make_tiny

CLASSIFIER, VISION, EMBEDDER = "someone/my-classifier", "someone/my-vision-classifier", "someone/my-embedder"
PAINTER = "someone/my-diffusion"
WRONG_ARCHITECTURE, HALF_COPIED = "someone/not-a-vision-model", "someone/half-copied"
# (id, the tiny family it is built from) — the same builders make-tiny uses for catalog repos
BUILT = ((CLASSIFIER, "distilbert-sentiment"), (VISION, "vit-classification"), (EMBEDDER, "sentence-transformer"),
         (PAINTER, "stable-diffusion"))
CONFIG = f"""
tier: minimal
model_root: models
device: cpu
models:
  {CLASSIFIER}: {{task: text-classification}}
  {VISION}: {{task: image-classification}}
  {EMBEDDER}: {{task: sentence-similarity}}
  {PAINTER}: {{task: text-to-image}}
  {WRONG_ARCHITECTURE}: {{task: image-classification, weights: models/{CLASSIFIER}}}
  {HALF_COPIED}: {{task: text-classification}}
"""


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config adding six Hub models by one line each; four built tiny, one text model asked for
    image classification, one copied without its weights."""
    folder = tmp_path_factory.mktemp("any-model")
    models = folder / "models"
    make_tiny(models, [Repo(model_id, family) for model_id, family in BUILT])
    half = models / HALF_COPIED
    half.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(models / CLASSIFIER / name, half / name)
    (folder / "config.yaml").write_text(CONFIG)
    return folder / "config.yaml"


@pytest.fixture(scope="module")
def settings(config_file: Path, public_dir: Path) -> Settings:
    return load_settings(config_file, {"public_dir": public_dir}, environ={})


@pytest.fixture(scope="module")
def any_client(settings: Settings) -> FlaskClient:
    """The app over a runtime of the configured rows only (the catalog's rows have no weights here)."""
    runtime = Runtime(settings, [row for row in served_rows(settings) if is_configured(row)])
    runtime.load_all()
    return create_app(settings, runtime).test_client()


def status_of(client: FlaskClient, model_id: str) -> dict:
    response = client.get(f"/status/{model_id}")
    assert response.status_code == 200
    return response.get_json()


def test_configured_models_answer_the_controller_over_http(any_client: FlaskClient, photo_ref: str, public_dir: Path):
    labels = any_client.post(f"/models/{CLASSIFIER}", json={"text": "I love it"}).get_json()
    assert {item["label"] for item in labels} == {"NEGATIVE", "POSITIVE"}  # the tiny SST-2 model's classes
    assert abs(sum(item["score"] for item in labels) - 1) < 1e-4

    response = any_client.post(f"/models/{VISION}", json={"img_url": photo_ref})
    assert response.status_code == 200
    guesses = response.get_json()
    assert 1 <= len(guesses) <= 5 and all(set(item) == {"label", "score"} for item in guesses)

    body = {"source_sentence": "a cat sits", "sentences": ["a cat sits", "stock prices fell"]}
    scores = any_client.post(f"/models/{EMBEDDER}", json=body).get_json()
    assert len(scores) == 2 and scores[0] == pytest.approx(1.0, abs=1e-4) and scores[1] < scores[0]

    body = {"text": "a red fox in the snow", "num_inference_steps": 1, "width": 64, "height": 64, "seed": 7}
    response = any_client.post(f"/models/{PAINTER}", json=body)
    assert response.status_code == 200, response.get_json()
    with Image.open(public_dir / response.get_json()["path"].lstrip("/")) as image:
        assert image.size == (64, 64)

    assert any_client.post(f"/models/{CLASSIFIER}", json={"inputs": "I love it"}).status_code == 200  # Inference API
    assert f"/models/{PAINTER}" in any_client.get("/openapi.json").get_json()["paths"]

    for model_id, task, framework in ((CLASSIFIER, "text-classification", "transformers"),
                                      (VISION, "image-classification", "transformers"),
                                      (EMBEDDER, "sentence-similarity", "sentence-transformers"),
                                      (PAINTER, "text-to-image", "diffusers")):
        status = status_of(any_client, model_id)
        assert (status["loaded"], status["state"], status["task"], status["framework"]) == (
            True, "loaded", task, framework)


def test_a_model_of_the_wrong_architecture_fails_naming_it_and_the_task(any_client: FlaskClient, photo_ref: str):
    status = status_of(any_client, WRONG_ARCHITECTURE)
    assert (status["loaded"], status["state"]) == (False, "failed")
    reason = status["error"]["message"]
    for words in ("distilbert model", "DistilBertForSequenceClassification", "cannot do image-classification",
                  "AutoModelForImageClassification", f"{CLASSIFIER}/config.json"):
        assert words in reason
    response = any_client.post(f"/models/{WRONG_ARCHITECTURE}", json={"img_url": photo_ref})
    assert response.status_code == 503
    assert status_of(any_client, CLASSIFIER)["state"] == "loaded"  # the same weights serve their own task


def test_a_lazy_model_of_the_wrong_architecture_is_failed_from_the_start(settings: Settings):
    """Lazy models answer `loaded: true` before loading: one that cannot load must not."""
    entry = settings.models[WRONG_ARCHITECTURE].model_copy(update={"preload": False})
    lazy = settings.model_copy(update={"models": {WRONG_ARCHITECTURE: entry}})
    view = Runtime(lazy, configured_rows(lazy, catalog_rows())).view(WRONG_ARCHITECTURE)
    assert view.state.value == "failed" and "cannot do image-classification" in (view.reason or "")


def test_a_configured_layoutlm_without_tesseract_is_failed_from_the_start(
    tiny_root: Path, tmp_path: Path, public_dir: Path, monkeypatch
):
    """The generic loader asks the loader it picks what it lacks here: a LayoutLM checkpoint added
    by one config line, lazy, is failed at start with the fix when Tesseract cannot run."""
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    weights = tiny_root / "impira/layoutlm-document-qa"
    config = tmp_path / "config.yaml"
    config.write_text(f"tier: minimal\nmodel_root: {tmp_path}\ndevice: cpu\nmodels:\n"
                      f"  someone/layoutlm-docqa: {{task: document-question-answering, weights: {weights}, "
                      f"preload: false}}\n")
    settings = load_settings(config, {"public_dir": public_dir}, environ={})
    view = Runtime(settings, configured_rows(settings, catalog_rows())).view("someone/layoutlm-docqa")
    assert view.state.value == "failed" and "Tesseract" in (view.reason or "")
    assert "fix: install the Debian package tesseract-ocr" in view.reason


def test_a_model_whose_weights_are_missing_fails_naming_the_folder_and_file(any_client: FlaskClient):
    status = status_of(any_client, HALF_COPIED)
    assert status["state"] == "failed"
    reason = status["error"]["message"]
    assert f"{HALF_COPIED} holds no weight file" in reason and "model.safetensors" in reason


def test_a_model_whose_folder_is_absent_fails_saying_where_it_looked(settings: Settings, tmp_path: Path):
    absent = settings.model_copy(update={"model_root": tmp_path, "models": {CLASSIFIER: settings.models[CLASSIFIER]}})
    runtime = Runtime(absent, configured_rows(absent, catalog_rows()))
    runtime.load_all()
    view = runtime.view(CLASSIFIER)
    assert view.state.value == "failed" and str(tmp_path / CLASSIFIER) in (view.reason or "")


def test_a_head_the_task_cannot_use_is_refused_before_loading(config_file: Path, tmp_path: Path):
    """A masked-LM checkpoint of a model type that *can* classify text would load with a random
    classifier head: its `architectures` say so, and it is refused."""
    folder = tmp_path / "masked-lm"
    shutil.copytree(config_file.parent / "models" / CLASSIFIER, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["DistilBertForMaskedLM"]}))
    with pytest.raises(ModelUnfit, match=r"DistilBertForMaskedLM.*cannot do text-classification"):
        GENERIC_TASKS["text-classification"].choose(folder)
    with pytest.raises(WeightsMissing, match=r"has no config\.json"):
        GENERIC_TASKS["text-classification"].choose(tmp_path)
    # a plain encoder is what sentence-transformers mean-pools when the folder has no modules.json
    assert GENERIC_TASKS["sentence-similarity"].choose(folder).marker == "config.json"


def test_modules_sentence_transformers_does_not_ship_are_refused(config_file: Path, tmp_path: Path):
    """Such a folder needs remote code; its config.json must not make it pass as a plain encoder."""
    folder = tmp_path / "instructor-style"
    shutil.copytree(config_file.parent / "models" / EMBEDDER, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["type"] = "InstructorEmbedding.INSTRUCTOR_Transformer"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelUnfit, match=r"InstructorEmbedding\.INSTRUCTOR_Transformer.*cannot do sentence-similarity"):
        GENERIC_TASKS["sentence-similarity"].choose(folder)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("{task: image-clasification}", ["models.someone/x.task", "unknown task 'image-clasification'",
                                          "image-classification, image-segmentation"]),
        ("{task: control-map}", ["'control-map' has no generic loader", "text-classification"]),
        ("{task: [text-classification]}", ["models.someone/x.task", "valid string"]),
    ],
)
def test_a_task_no_generic_loader_serves_is_a_config_error_at_start(tmp_path: Path, entry: str, words: list[str]):
    config = tmp_path / "config.yaml"
    config.write_text(f"models:\n  someone/x: {entry}\n")
    with pytest.raises(ConfigError) as raised:
        Runtime(load_settings(config, environ={}))
    assert all(word in str(raised.value) for word in words), str(raised.value)


def test_a_catalog_id_or_a_non_hub_id_with_a_task_is_a_config_error(tmp_path: Path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("models:\n  gpt2: {task: text-generation}\n")
    assert main(["list", "--config", str(config)]) == 2
    assert "'models.gpt2.task': gpt2 is in the catalog already" in capsys.readouterr().err
    config.write_text("models:\n  ../etc: {task: text-generation}\n")
    with pytest.raises(ConfigError, match="expected a Hub model id"):
        configured_rows(load_settings(config, environ={}), catalog_rows())


def test_list_and_check_show_the_configured_models(config_file: Path, capsys):
    assert main(["list", "--config", str(config_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:3] == [CLASSIFIER, "text-classification", "config"] for line in lines)
    assert len(lines) == 1 + len(catalog_rows()) + 6

    args = ["check", "--config", str(config_file), "--model", CLASSIFIER, "--model", WRONG_ARCHITECTURE,
            "--model", HALF_COPIED]
    assert main(args) == 1  # preloaded models that will fail
    table = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("someone/")}
    assert " ok " in table[CLASSIFIER]
    assert " fail " in table[WRONG_ARCHITECTURE] and "cannot do image-classification" in table[WRONG_ARCHITECTURE]
    assert " fail " in table[HALF_COPIED] and "holds no weight file" in table[HALF_COPIED]


def test_download_picks_a_configured_models_files_by_the_usual_rules(settings: Settings):
    with pytest.raises(LookupError, match=re.escape(f"add `{EMBEDDER}: {{task: ...}}` under `models:`")):
        choose_repos(catalog_rows(), [EMBEDDER])  # without the config, the id is unknown and the hint says why
    (repo,) = choose_repos(served_rows(settings), [EMBEDDER])
    assert repo == Repo(EMBEDDER, CONFIGURED_FAMILY) and repo.files == ()
    # a sentence-transformers repo as the Hub lists it: one copy of the weights, every config
    listed = json.loads((DATA / "hub_listings" /
                         "sentence-transformers--all-MiniLM-L6-v2.json").read_text())["files"]
    files = select_files([(path, size) for path, size in listed], repo)
    assert "modules.json" in files and "1_Pooling/config.json" in files and "model.safetensors" in files
    assert not any(path.endswith((".onnx", ".h5", ".msgpack", "pytorch_model.bin")) for path in files)


# Catalog rows whose loader is not their task's generic one, and why.
_NOT_GENERIC = {
    "openai/whisper-base": "load_whisper: the same model class AutoModelForSpeechSeq2Seq gives",
    "runwayml/stable-diffusion-v1-5": "load_text_to_image: shares SD1.5's components with the ControlNets",
    "hkunlp/instructor-large": "load_instructor: an instruction prompt, known by the Hub name",
    "hkunlp/instructor-xl": "load_instructor",
    "mixedbread-ai/mxbai-embed-large-v1": "load_matryoshka_sentence_transformer: trained to be cut (`dimensions`), "
                                          "which its files do not say",
    "CIDAS/clipseg-rd64-refined": "a task of its own (segmentation by prompts)",
    "CompVis/stable-diffusion-v-1-4-original": "a single checkpoint file read with SD1.5's configs",
    "WarriorMama777/OrangeMixs": "a single checkpoint file read with SD1.5's configs",
    # speechbrain classifiers: hyperparams.yaml, no config.json; the generic table reads transformers' only
    "TalTechNLP/voxlingua107-epaca-tdnn": "load_encoder_classifier: speechbrain's format",
    "speechbrain/lang-id-voxlingua107-ecapa": "load_encoder_classifier: speechbrain's format",
    "speechbrain/lang-id-commonlanguage_ecapa": "load_encoder_classifier: speechbrain's format",
    "speechbrain/spkrec-xvect-voxceleb": "load_encoder_classifier: speechbrain's format",
}


def loading_function(loader: Any) -> Any:
    """What a loader runs: a CheckedLoader's `load` (a row may add what its environment needs, as
    the LayoutLM rows declare Tesseract), else the loader itself."""
    return loader.load if isinstance(loader, CheckedLoader) else loader


def test_the_generic_table_picks_the_catalogs_own_loader_for_its_tiny_models(tiny_root: Path):
    """Every catalog row of a task with generic loaders, read as if configured by one line, gets
    the loader its row names: the table's architecture checks accept what the catalog serves."""
    checked = 0
    for row in catalog_rows():
        generic = GENERIC_TASKS.get(row.task.name)
        if generic is None or row.id in _NOT_GENERIC:
            continue
        chosen = generic.choose(tiny_root / row.weights[0].name).load
        assert loading_function(chosen) is loading_function(row.loader), row.id
        checked += 1
    assert checked > 100
