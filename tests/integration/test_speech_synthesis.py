"""Text-to-speech, voice conversion and audio classification through the HTTP routes."""

import time

import numpy as np
import pytest
import soundfile
from support.serving import tiny_settings

from models_server.catalog import catalog_rows
from models_server.errors import Cancelled
from models_server.progress import CancelToken, Job, tracking
from models_server.runtime import Runtime
from models_server.tasks.transformers.speech_synthesis import DEFAULT_XVECTOR, load_speaker_embedding

SPEECH_REF = "public/examples/tone.wav"


@pytest.fixture(scope="module")
def speech_ref(served) -> str:
    """Half a second of a 440 Hz tone at 22.05 kHz, so the handlers must resample it."""
    rate = 22050
    t = np.arange(rate // 2) / rate
    soundfile.write(served.public_dir / "examples" / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), rate)
    return SPEECH_REF


def read_wav(served, path: str):
    assert path.startswith("/audios/") and path.endswith(".wav"), path
    return soundfile.read(served.public_dir / path.lstrip("/"), dtype="float32")


def test_text_to_speech_writes_a_16khz_wav(client, served):
    response = client.post("/models/microsoft/speecht5_tts", json={"text": "Hello, this is a test."})
    assert response.status_code == 200, response.get_json()
    samples, rate = read_wav(served, response.get_json()["path"])
    assert rate == 16000 and samples.ndim == 1 and len(samples) > 0


def test_voice_conversion_writes_a_16khz_wav(client, served, speech_ref):
    response = client.post("/models/microsoft/speecht5_vc", json={"audio_url": speech_ref})
    assert response.status_code == 200, response.get_json()
    samples, rate = read_wav(served, response.get_json()["path"])
    assert rate == 16000 and len(samples) > 0


@pytest.mark.parametrize(
    ("model_id", "labels"),
    [
        ("ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition", 8),
        ("superb/wav2vec2-base-superb-ks", 12),
    ],
)
def test_audio_classification_scores_every_label(client, speech_ref, model_id, labels):
    response = client.post(f"/models/{model_id}", json={"audio_url": speech_ref})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert len(body) == labels and all(set(item) == {"label", "score"} for item in body)
    scores = [item["score"] for item in body]
    assert scores == sorted(scores, reverse=True)


def test_audio_tasks_without_audio_name_the_field(client):
    response = client.post("/models/microsoft/speecht5_vc", json={})
    assert response.status_code == 400 and "audio" in response.get_json()["error"]["message"]


def test_speaker_embedding_prefers_the_default_speaker(tmp_path):
    (tmp_path / "spkrec-xvect").mkdir()
    np.save(tmp_path / "spkrec-xvect" / "aaa.npy", np.zeros(512, np.float32))
    assert float(load_speaker_embedding(tmp_path).abs().sum()) == 0  # only file: the fallback
    np.save(tmp_path / DEFAULT_XVECTOR, np.ones(512, np.float32))
    embedding = load_speaker_embedding(tmp_path)
    assert embedding.shape == (1, 512) and float(embedding.sum()) == 512


def test_missing_speaker_embedding_says_where_it_looked(tmp_path):
    from models_server.errors import WeightsMissing

    with pytest.raises(WeightsMissing, match=str(tmp_path)):
        load_speaker_embedding(tmp_path)


def test_text_to_speech_refuses_text_past_speecht5_positions(client):
    response = client.post("/models/microsoft/speecht5_tts", json={"text": "a" * 700})
    assert response.status_code == 400 and "at most 600" in response.get_json()["error"]["message"]


def test_converted_voice_chains_into_speech_recognition_as_the_controller_does(client, served, speech_ref,
                                                                               monkeypatch):
    """The controller hands a dependency's audio to the next task only through `generated audio`
    (prefixed with public/); the transcription must read the converted file, not the recording."""
    from models_server.media.resources import ResourceReader

    converted = client.post("/models/microsoft/speecht5_vc", json={"audio_url": speech_ref}).get_json()
    assert converted["generated audio"] == converted["path"]
    assert len(list((served.public_dir / "audios").glob(converted["path"].rsplit("/", 1)[1]))) == 1
    read = []
    real_read = ResourceReader.read

    def recording_read(self, ref, field):
        read.append(ref)
        return real_read(self, ref, field)

    monkeypatch.setattr(ResourceReader, "read", recording_read)
    chained = "public" + converted["generated audio"]
    response = client.post("/models/openai/whisper-base", json={"audio_url": chained})
    assert response.status_code == 200, response.get_json()
    assert read == [chained]
    samples, rate = read_wav(served, converted["generated audio"])
    original, _ = soundfile.read(served.public_dir / "examples" / "tone.wav", dtype="float32")
    assert rate == 16000 and not np.array_equal(samples[: len(original)], original[: len(samples)])


FASTSPEECH2 = "espnet/kan-bayashi_ljspeech_joint_finetune_conformer_fastspeech2_hifigan"


def test_an_espnet_model_that_normalises_reads_its_statistics_from_the_repo_wherever_it_runs(
        tiny_root, tmp_path, monkeypatch):
    """The config names its statistics relative to the repo root, as espnet's recipe writes them;
    espnet alone resolves them against the working directory, so the loader makes them absolute."""
    import torch
    import yaml
    from espnet2.bin.tts_inference import Text2Speech

    from models_server.tasks import espnet
    from models_server.tasks.loading import LoadContext

    folder = tiny_root / FASTSPEECH2
    config_file, model_file = espnet.find_experiment(folder)
    config = yaml.safe_load(config_file.read_text())
    stats = {name: f"exp/tts_stats_raw_phn_tacotron_g2p_en_no_space/train/{name}_stats.npz"  # the repo's names
             for name in ("feats", "pitch", "energy")}
    assert (config["normalize"], config["normalize_conf"]) == ("global_mvn", {"stats_file": stats["feats"]})
    assert config["pitch_normalize_conf"] == {"stats_file": stats["pitch"]}
    assert config["energy_normalize_conf"] == {"stats_file": stats["energy"]}
    monkeypatch.chdir(tmp_path)  # the server's working directory is not the repo
    with pytest.raises(FileNotFoundError, match=r"feats_stats\.npz"):
        Text2Speech(train_config=str(config_file), model_file=str(model_file), device="cpu")
    before = config_file.read_bytes()

    tts = espnet.load_text2speech(LoadContext(FASTSPEECH2, (folder,), "cpu", torch.float32))
    assert tts.model.normalize.stats_file == folder / stats["feats"]
    assert tts.model.pitch_normalize.stats_file == folder / stats["pitch"]
    audio = espnet.speak(tts, {"text": "hello there."}, {})
    assert audio.sample_rate == 22050 and audio.seconds > 0 and np.abs(audio.samples).max() > 0
    assert config_file.read_bytes() == before and not list(folder.rglob("*.yaml.*"))  # the repo is left as it was


def test_speech_decoding_stops_at_the_next_frame_once_its_request_is_cancelled(tiny_root, public_dir):
    """SpeechT5 decodes one mel frame at a time in a loop of its own; its decoder looks at the
    request before each frame (the tiny model would stop after one: a minimum length keeps it going)."""
    import torch

    model_id = "microsoft/speecht5_tts"
    runtime = Runtime(tiny_settings(tiny_root, public_dir), [row for row in catalog_rows() if row.id == model_id])
    runtime.load(model_id)
    tts = runtime.model(model_id)
    looks: list[int] = []
    token = CancelToken("tts-1", lambda: looks.append(1) is None and len(looks) >= 3)  # gone at the third look
    input_ids = tts.processor(text="A sentence of some length.", return_tensors="pt")["input_ids"]
    job = Job(model_id, deadline=time.monotonic() + 300, cancel=token)
    with tracking(job), torch.inference_mode(), pytest.raises(Cancelled):
        tts.model.generate_speech(input_ids, tts.speaker, minlenratio=1.0, vocoder=tts.vocoder)
    assert len(looks) == 3  # it stopped at the frame where the client was first seen gone
