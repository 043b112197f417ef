"""The controller's audio candidates (catalog/audio_coverage.py): every row answers a real wav over
HTTP from its miniature through the loader real weights use, one row per family through
huggingface_hub's InferenceClient, and `download` picks each family's files from reconstructed listings."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from huggingface_hub import InferenceClient
from support.hub_listings import reconstructed_listing
from support.paths import REPO

from models_server.catalog import ModelSpec, catalog_rows
from models_server.catalog import audio as audio_coverage
from models_server.weights import download as dl

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
    """The labels a miniature was built with: config.json's id2label or speechbrain's label_encoder.txt."""
    folder = tiny_root / row.weights[0].name
    if (folder / "config.json").is_file():
        return config_labels(tiny_root, row)
    lines = (folder / "label_encoder.txt").read_text().splitlines()
    return {line.split(" => ")[0].strip("'") for line in lines if " => " in line and "starting_index" not in line}


def read_wav(public_dir: Path, path: str) -> tuple[np.ndarray, int]:
    assert path.startswith("/audios/") and path.endswith(".wav"), path
    samples, rate = soundfile.read(public_dir / path.lstrip("/"), dtype="float32")
    assert samples.ndim == 1 and len(samples) > 0
    return samples, rate


SEPARATORS = {"speechbrain/sepformer-wsj02mix": 2, "speechbrain/sepformer-wham": 2,
              "mpariente/DPRNNTasNet-ks2_WHAM_sepclean": 2, "Awais/Audio_Source_Separation": 2}


@pytest.mark.parametrize("row", _rows("audio-to-audio"), ids=_ids(_rows("audio-to-audio")))
def test_audio_to_audio_answers_path_and_generated_audio(client, public_dir, row):
    """The file is under both keys the controller reads; a separator's speakers all under `sources`."""
    body = post(client, row.id, {"audio_url": AUDIO_URL})
    speakers = SEPARATORS.get(row.id, 1)
    assert set(body) == ({"path", "generated audio", "sources"} if speakers > 1 else {"path", "generated audio"})
    assert body["generated audio"] == body["path"]  # one file, named twice
    first, rate = read_wav(public_dir, body["path"])
    assert rate in (8000, 16000)  # the model's own rate, whatever the input's (22.05 kHz here)
    assert abs(len(first) / rate - 1.0) < 0.05  # as long as the input
    if speakers > 1:
        assert len(body["sources"]) == speakers
        assert body["sources"][0] == body["path"] and len(set(body["sources"])) == speakers
        sources = [read_wav(public_dir, path)[0] for path in body["sources"]]
        assert not np.array_equal(sources[0], sources[1])


@pytest.mark.parametrize("row", _rows("text-to-speech"), ids=_ids(_rows("text-to-speech")))
def test_text_to_speech_writes_a_wav(client, public_dir, row):
    body = post(client, row.id, {"text": "Hello world, this is a test."})
    samples, rate = read_wav(public_dir, body["path"])
    assert rate in (16000, 22050) and np.abs(samples).max() > 0


def test_the_japanese_voice_reads_japanese_through_pyopenjtalk(client, public_dir, tiny_root):
    """mio/amadeus's front end as its config has it (g2p pyopenjtalk, phoneme tokens): kana and kanji
    become OpenJTalk phonemes offline, from the dictionary pyopenjtalk-plus ships."""
    import yaml

    (config,) = (tiny_root / "mio/amadeus").glob("exp/*/config.yaml")
    front_end = yaml.safe_load(config.read_text())
    assert (front_end["g2p"], front_end["token_type"]) == ("pyopenjtalk", "phn")
    samples, rate = read_wav(public_dir, post(client, "mio/amadeus", {"text": "今日はいい天気ですね。"})["path"])
    assert rate == 22050 and np.abs(samples).max() > 0


@pytest.mark.parametrize("preload", [True, False], ids=["preloaded", "lazy"])
def test_a_row_whose_front_end_cannot_run_here_is_failed_with_the_fix(tiny_root, public_dir, monkeypatch, preload):
    """Without pyopenjtalk, espnet would load mio/amadeus and fail every request: the row is failed from
    the start, saying what is missing and the fix, preloaded or lazy, and `list --coverage` skips it."""
    import dataclasses
    import importlib.util

    from support.serving import tiny_settings

    from models_server.controller.coverage import coverage
    from models_server.runtime.runtime import Runtime

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "pyopenjtalk" else find_spec(name, *args))
    row = dataclasses.replace(next(row for row in ROWS if row.id == "mio/amadeus"), preload=preload)
    view = Runtime(tiny_settings(tiny_root, public_dir), [row]).view(row.id)
    assert view.state.value == "failed"
    assert "pyopenjtalk is not installed" in (view.reason or "") and "fix: pip install pyopenjtalk-plus" in view.reason
    (speech,) = [entry for entry in coverage([row]) if entry.task == "text-to-speech"]
    assert speech.served == () and [name for name, _ in speech.cannot_run] == ["mio/amadeus"]


def test_lazy_candidates_answer_loaded_before_their_first_request(client):
    lazy = [row.id for row in ROWS if not row.preload]
    assert {"openai/whisper-large-v2", "openai/whisper-medium", "speechbrain/sepformer-wham-enhancement"} <= set(lazy)
    for model_id in lazy:
        assert client.get(f"/status/{model_id}").get_json()["loaded"] is True, model_id


# The audio lines of the README's coverage table: how many of the controller's first ten candidates
# (controller/candidates.py, read from its model list) are served, per task.
AUDIO_SERVED = {"automatic-speech-recognition": 8, "audio-to-audio": 10, "audio-classification": 7,
                "text-to-speech": 5}


def test_every_served_audio_candidate_is_in_the_24gb_replay_with_its_size_and_heavy_ones_lazy():
    """tests/integration/test_replay.py replays every full-tier row of catalog_rows() with its fp16 size on the
    box of configs/gpu-24gb.yaml: the audio candidates served must be that many of them, none switched off."""
    from models_server.config import load_settings
    from models_server.controller.candidates import CANDIDATES

    box = load_settings(REPO / "configs" / "gpu-24gb.yaml",
                        {"device": "cpu", "model_root": Path("/nonexistent"), "public_dir": Path("/nonexistent")},
                        environ={})
    replayed = {name: row for row in catalog_rows() if row.in_tier("full") and box.override(row.id).enabled
                for name in (row.id, *row.aliases)}
    for task, count in AUDIO_SERVED.items():
        served = [model_id for model_id in CANDIDATES[task] if model_id in replayed]
        assert len(served) == count, (task, served)
        for model_id in served:
            row = replayed[model_id]
            assert row.task.name == task and row.fp16_bytes, model_id
            if row.fp16_bytes >= audio_coverage.ONE_GB:
                assert not row.preload, model_id
    assert all(row.id in replayed for row in ROWS)


# --- InferenceClient, one row per family -------------------------------------------------------

FAMILY_ROWS = list({row.weights[0].family: row for row in reversed(ROWS)}.values())
FAMILY_PARAMS = [pytest.param(row, id=row.weights[0].family) for row in FAMILY_ROWS]


@pytest.fixture(scope="module")
def hub(live_server):
    return lambda model_id: InferenceClient(model=f"{live_server.url}/models/{model_id}", timeout=60)


@pytest.mark.parametrize("row", FAMILY_PARAMS)
def test_inference_client_reads_every_family(hub, tiny_root, row):
    client = hub(row.id)
    task = row.task.name
    if task == "automatic-speech-recognition":
        assert isinstance(client.automatic_speech_recognition(WAV).text, str)
    elif task == "audio-classification":
        labels = client.audio_classification(WAV, top_k=2)
        assert len(labels) == 2 and {item.label for item in labels} <= model_labels(tiny_root, row)
    elif task == "text-to-speech":
        samples, rate = soundfile.read(io.BytesIO(client.text_to_speech("Hello world.")))
        assert rate in (16000, 22050) and len(samples) > 0
    elif task == "audio-to-audio":
        outputs = client.audio_to_audio(WAV)
        speakers = SEPARATORS.get(row.id, 1)
        assert len(outputs) == speakers and all(item.content_type.startswith("audio/") for item in outputs)
        waves = [soundfile.read(io.BytesIO(item.blob), dtype="float32")[0] for item in outputs]
        assert all(len(wave) > 0 for wave in waves)
        if speakers > 1:
            assert [item.label for item in outputs] == [f"label_{i}" for i in range(speakers)]
            assert not np.array_equal(waves[0], waves[1])
    else:
        raise AssertionError(f"no InferenceClient check for {task}")


# --- download: each new family's files from a reconstructed listing ---------------------------------

SEPFORMER_FILES = ("decoder.ckpt", "encoder.ckpt", "hyperparams.yaml", "masknet.ckpt")
ECAPA_FILES = ("classifier.ckpt", "embedding_model.ckpt", "hyperparams.yaml")
VITS_RUN = "exp/tts_train_vits_raw_phn_tacotron_g2p_en_no_space"
AMADEUS_RUN = "exp/tts_train_vits_raw_phn_jaconv_pyopenjtalk"
JOINT_RUN = "exp/tts_train_joint_conformer_fastspeech2_hifigan_raw_phn_tacotron_g2p_en_no_space"
STATS = "exp/tts_stats_raw_phn_tacotron_g2p_en_no_space/train"
# repo: (the only weight files picked, files that must come with them)
EXPECTED_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "openai/whisper-large-v2": (("model.safetensors",), ("vocab.json", "merges.txt", "preprocessor_config.json")),
    "facebook/wav2vec2-large-960h-lv60-self": (("model.safetensors",), ("vocab.json", "preprocessor_config.json")),
    # with an n-gram language model: the CTC model and its tokenizer, not the KenLM file nobody here reads
    "jonatasgrosman/wav2vec2-large-xlsr-53-english": (("pytorch_model.bin",),
                                                      ("vocab.json", "preprocessor_config.json")),
    "MIT/ast-finetuned-audioset-10-10-0.4593": (("model.safetensors",), ("config.json", "preprocessor_config.json")),
    "superb/hubert-base-superb-er": (("pytorch_model.bin",), ("config.json", "preprocessor_config.json")),
    # speechbrain: hyperparams.yaml and the pretrainer's files, never the example audio
    "speechbrain/sepformer-wsj02mix": (SEPFORMER_FILES, ()),
    "speechbrain/sepformer-wham16k-enhancement": (SEPFORMER_FILES, ()),
    "speechbrain/sepformer-wham-enhancement": (SEPFORMER_FILES, ()),
    "speechbrain/metricgan-plus-voicebank": (("enhance_model.ckpt", "hyperparams.yaml"), ()),
    "speechbrain/mtl-mimic-voicebank": (("enhance_model.ckpt", "hyperparams.yaml"), ()),
    "speechbrain/lang-id-voxlingua107-ecapa": (ECAPA_FILES, ("label_encoder.txt",)),
    "speechbrain/lang-id-commonlanguage_ecapa": (ECAPA_FILES, ("label_encoder.txt",)),
    "speechbrain/spkrec-xvect-voxceleb": (
        ("classifier.ckpt", "embedding_model.ckpt", "hyperparams.yaml", "mean_var_norm_emb.ckpt"),
        ("label_encoder.txt",),
    ),
    "speechbrain/tts-tacotron2-ljspeech": (("hyperparams.yaml", "model.ckpt"), ()),
    "speechbrain/tts-hifigan-ljspeech": (("generator.ckpt", "hyperparams.yaml"), ()),
    # asteroid: the model package alone
    "JorisCos/DCCRNet_Libri1Mix_enhsingle_16k": (("pytorch_model.bin",), ()),
    "mpariente/DPRNNTasNet-ks2_WHAM_sepclean": (("pytorch_model.bin",), ()),
    "Awais/Audio_Source_Separation": (("pytorch_model.bin",), ()),
    # espnet: the run's config and model (and FastSpeech2's statistics), not logs or plots
    "espnet/kan-bayashi_ljspeech_vits": ((f"{VITS_RUN}/config.yaml", f"{VITS_RUN}/train.total_count.ave_10best.pth"),
                                         ()),
    "mio/amadeus": ((f"{AMADEUS_RUN}/config.yaml", f"{AMADEUS_RUN}/train.total_count.ave_10best.pth"), ()),
    "espnet/kan-bayashi_ljspeech_joint_finetune_conformer_fastspeech2_hifigan": (
        (*(f"{STATS}/{name}_stats.npz" for name in ("energy", "feats", "pitch")),
         f"{JOINT_RUN}/config.yaml", f"{JOINT_RUN}/train.total_count.ave_5best.pth"),
        (),
    ),
}


def _repo(name: str):
    return next(repo for row in ROWS for repo in row.weights if repo.name == name)


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_download_picks_the_files_each_family_reads(name):
    weights, companions = EXPECTED_FILES[name]
    files = dl.select_files(reconstructed_listing(name), _repo(name))
    assert [path for path in files if not path.endswith(dl._METADATA_SUFFIXES)] == list(weights)
    assert set(companions) <= set(files)


def test_every_new_family_has_a_reconstructed_listing():
    elsewhere = {repo.family for row in catalog_rows() if row not in ROWS for repo in row.weights}
    new_families = {repo.family for row in ROWS for repo in row.weights} - elsewhere
    assert new_families <= {_repo(name).family for name in EXPECTED_FILES}


# --- speechbrain: local folders only, nothing written -------------------------------------------


def _copy_of(tiny_root: Path, name: str, target: Path) -> Path:
    import shutil

    return Path(shutil.copytree(tiny_root / name, target / name.replace("/", "--")))


def test_speechbrain_loads_in_place_and_writes_nothing(tiny_root, tmp_path, monkeypatch):
    """savedir=None: no `pretrained_models/` in the working directory, no link or copy in the weights."""
    import torch

    from models_server.tasks import speechbrain as sb
    from models_server.tasks.loading import LoadContext

    folder = _copy_of(tiny_root, "speechbrain/spkrec-xvect-voxceleb", tmp_path / "weights")
    before = sorted((path.name, path.stat().st_mtime_ns) for path in folder.iterdir())
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    model = sb.load_encoder_classifier(LoadContext("x", (folder,), "cpu", torch.float32))
    assert model.hparams.label_encoder.ind2lab  # the labels came from the local label_encoder.txt
    assert sorted((path.name, path.stat().st_mtime_ns) for path in folder.iterdir()) == before
    assert list(workdir.iterdir()) == []


def test_speechbrain_paths_naming_the_hub_are_read_locally_and_a_missing_file_is_no_download(tiny_root, tmp_path):
    """The miniature's yaml names its files `speechbrain/<repo>/<file>`, as the real ones do."""
    import torch

    from models_server.tasks import speechbrain as sb
    from models_server.tasks.loading import LoadContext

    folder = _copy_of(tiny_root, "speechbrain/metricgan-plus-voicebank", tmp_path)
    assert "pretrained_path: speechbrain/metricgan-plus-voicebank" in (folder / "hyperparams.yaml").read_text()
    local = {"enhance_model": str(folder / "enhance_model.ckpt")}
    assert sb.local_overrides(folder) == {"pretrainer": {"paths": local}}
    (folder / "enhance_model.ckpt").unlink()
    with pytest.raises(Exception, match=r"enhance_model\.ckpt"):
        sb.load_spectral_mask_enhancer(LoadContext("x", (folder,), "cpu", torch.float32))


# Reads `__file__` off every module, as hypothesis does; exit status 3 if that imported anything.
SCAN_MODULES = """
import sys
before = set(sys.modules)
[getattr(module, '__file__', None) for module in list(sys.modules.values())]
sys.exit(3 if set(sys.modules) - before else 0)
"""


@pytest.mark.parametrize("importer, status", [
    ("from models_server.tasks.libraries import import_library; import_library('speechbrain')", 0),
    ("import importlib; importlib.import_module('speechbrain')", 1),  # the library alone: the scan crashes
])
def test_speechbrain_imported_our_way_leaves_sys_modules_scannable(importer, status):
    """hypothesis reads `__file__` off every module in sys.modules; `models-server check`, the loaders
    and the tiny builders import speechbrain through `import_library`, so that scan neither crashes
    nor imports speechbrain's optional integrations. In a fresh interpreter: in this one
    speechbrain's LazyModule is already patched."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", f"{importer}\n{SCAN_MODULES}"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == status, done.stderr[-2000:]


ENGLISH_VOICE = "espnet/kan-bayashi_ljspeech_vits"


def _voice_reading_phonemes(tiny_root: Path, root: Path) -> None:
    """The tiny voice with the real repo's front end named in its config (`g2p: g2p_en_no_space`)."""
    import shutil

    import yaml

    folder = root / ENGLISH_VOICE
    shutil.copytree(tiny_root / ENGLISH_VOICE, folder)
    [config_file] = folder.glob("exp/*/config.yaml")
    config = yaml.safe_load(config_file.read_text())
    config_file.write_text(yaml.safe_dump({**config, "g2p": "g2p_en_no_space"}))


def test_an_english_voice_without_its_nltk_data_fails_with_the_fix(tiny_root, public_dir, tmp_path, monkeypatch):
    import nltk
    from support.serving import tiny_settings

    from models_server.catalog import build_catalog
    from models_server.check import Target, check_offline
    from models_server.runtime import Runtime, State

    _voice_reading_phonemes(tiny_root, tmp_path / "models")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "no-nltk-data")])
    settings = tiny_settings(tmp_path / "models", public_dir)
    spec = build_catalog(catalog_rows())[ENGLISH_VOICE]
    runtime = Runtime(settings, [spec])
    runtime.load_all()
    view = runtime.view(ENGLISH_VOICE)
    assert view.state is State.FAILED
    assert "averaged_perceptron_tagger_eng, cmudict" in view.reason
    assert f"models-server download --model {ENGLISH_VOICE}" in view.reason
    checked = check_offline(spec, settings, Target.of(settings))
    assert any("NLTK data" in problem and "cmudict" in problem for problem in checked.problems)
    assert f"models-server download --model {ENGLISH_VOICE}" in checked.fixes


def test_a_lazy_english_voice_without_its_nltk_data_is_failed_at_start(tiny_root, public_dir, tmp_path, monkeypatch):
    """Found from the config and the disk at start, without importing NLTK: no `loaded: true` before
    a load that would refuse."""
    import dataclasses

    from support.serving import tiny_settings

    from models_server.catalog import build_catalog
    from models_server.runtime import Runtime, State
    from models_server.tasks import nltk_data

    _voice_reading_phonemes(tiny_root, tmp_path / "models")
    monkeypatch.setattr(nltk_data, "data_path", lambda: [str(tmp_path / "no-nltk-data")])
    spec = dataclasses.replace(build_catalog(catalog_rows())[ENGLISH_VOICE], preload=False)
    view = Runtime(tiny_settings(tmp_path / "models", public_dir), [spec]).view(ENGLISH_VOICE)
    assert view.state is State.FAILED
    assert "NLTK data not on this machine: averaged_perceptron_tagger_eng, cmudict" in (view.reason or "")
    assert f"fix: models-server download --model {ENGLISH_VOICE}" in view.reason


def test_nltks_search_path_is_found_without_importing_it(tmp_path):
    """The start-time lookup's path is NLTK's own, for the same environment."""
    import os
    import subprocess
    import sys

    script = ("import nltk, json; from models_server.tasks import nltk_data\n"
              "print(json.dumps([nltk_data.data_path(), nltk.data.path]))")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path / "home"),
           "NLTK_DATA": os.pathsep.join([str(tmp_path / "a"), "~/b"])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ours, nltks = json.loads(done.stdout)
    assert ours == nltks and str(tmp_path / "a") in ours


NO_NETWORK_LOAD = """
import sys
reached = []
sys.addaudithook(lambda event, args: reached.append((event, args[:2])) if event in
                 ("socket.getaddrinfo", "socket.connect") else None)
from pathlib import Path
from support.serving import tiny_settings
from models_server.catalog import build_catalog, catalog_rows
from models_server.runtime import Runtime
runtime = Runtime(tiny_settings(Path(sys.argv[1]), Path(sys.argv[2])),
                  [build_catalog(catalog_rows())[sys.argv[3]]])
runtime.load_all()
print(runtime.view(sys.argv[3]).state.value, reached)
"""


def test_loading_an_espnet_voice_reaches_for_no_network(tiny_root, public_dir, tmp_path):
    """espnet imports g2p_en for every voice, and g2p_en downloads NLTK data at import when it is
    missing. In a fresh interpreter, with no NLTK data: no name lookup, no connection."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}", "NLTK_DATA": str(tmp_path),
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", NO_NETWORK_LOAD, str(tiny_root), str(public_dir), ENGLISH_VOICE],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "loaded []", done.stdout  # and the audit hook saw no lookup or connection


# --- asteroid: packages saved before 0.4 ---------------------------------------------------------


def test_an_asteroid_package_saved_before_0_4_builds_at_its_class_default_rate(tiny_root):
    """mpariente/DPRNNTasNet-ks2_WHAM_sepclean (2020) says no sample rate; asteroid builds DPRNNTasNet
    at its default, 8 kHz, and the separator runs at that rate."""
    import torch

    from models_server.tasks import asteroid
    from models_server.tasks.loading import LoadContext

    model_id = "mpariente/DPRNNTasNet-ks2_WHAM_sepclean"
    folder = tiny_root / model_id
    assert "sample_rate" not in asteroid.read_package(folder)["model_args"]
    row = next(row for row in ROWS if row.id == model_id)
    separator = row.loader(LoadContext(model_id, (folder,), "cpu", torch.float32))
    assert separator.sample_rate == 8000
