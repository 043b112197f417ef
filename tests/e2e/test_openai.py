"""OpenAI's API through the official `openai` SDK, unmodified, against a live server of tiny models."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator

import av
import numpy as np
import openai
import pytest
import requests
import soundfile
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


# -- transcription and translation --------------------------------------------------------------

WHISPER, CTC = "openai/whisper-base", "facebook/wav2vec2-base-960h"


def tone_wav(seconds: float = 3.0, rate: int = 16000) -> bytes:
    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV")
    return buffer.getvalue()


def cue_times(document: str) -> list[tuple[float, float]]:
    """(start, end) seconds of each cue of an srt or vtt document."""
    def seconds(clock: str) -> float:
        hours, minutes, rest = clock.replace(",", ".").split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(rest)

    return [(seconds(start), seconds(end)) for start, end in re.findall(r"([\d:.,]+) --> ([\d:.,]+)", document)]


def test_a_transcript_comes_in_every_format_of_openais(sdk):
    audio = ("tone.wav", tone_wav(3.0))
    plain = sdk.audio.transcriptions.create(model="whisper-1", file=audio)
    text = sdk.audio.transcriptions.create(model="whisper-1", file=audio, response_format="text")
    verbose = sdk.audio.transcriptions.create(model=WHISPER, file=audio, response_format="verbose_json")
    srt = sdk.audio.transcriptions.create(model=WHISPER, file=audio, response_format="srt")
    vtt = sdk.audio.transcriptions.create(model=WHISPER, file=audio, response_format="vtt")
    assert plain.text == verbose.text == text.strip()
    assert verbose.duration == pytest.approx(3.0)
    assert verbose.segments and " ".join(segment.text for segment in verbose.segments) == verbose.text
    times = [(segment.start, segment.end) for segment in verbose.segments]
    assert all(0 <= start <= end <= 3.0 for start, end in times)
    assert vtt.startswith("WEBVTT")
    assert cue_times(srt) == cue_times(vtt)
    assert np.allclose(cue_times(srt), times, atol=1e-3)


def test_a_model_without_times_of_its_own_gives_one_segment_per_window(sdk):
    verbose = sdk.audio.transcriptions.create(model=CTC, file=("tone.wav", tone_wav(3.0)),
                                              response_format="verbose_json", language="en")
    assert [(segment.start, segment.end) for segment in verbose.segments or []] == [(0.0, 3.0)]


def test_whisper_takes_a_language_and_a_prompt_and_translates(sdk):
    audio = ("tone.wav", tone_wav(1.0))
    verbose = sdk.audio.transcriptions.create(model=WHISPER, file=audio, language="de", prompt="Guten Tag, Anna.",
                                              response_format="verbose_json")
    assert verbose.language == "german"
    translated = sdk.audio.translations.create(model="whisper-1", file=audio, response_format="verbose_json")
    assert translated.task == "translate"  # type: ignore[attr-defined]


def test_what_a_model_cannot_do_is_a_bad_request(sdk):
    audio = ("tone.wav", tone_wav(1.0))
    with pytest.raises(openai.BadRequestError, match="Whisper"):
        sdk.audio.translations.create(model=CTC, file=audio)
    with pytest.raises(openai.BadRequestError, match="word timestamps"):
        sdk.audio.transcriptions.create(model=WHISPER, file=audio, response_format="verbose_json",
                                        timestamp_granularities=["word"])
    with pytest.raises(openai.BadRequestError, match=r"cannot decode audio|not audio"):
        sdk.audio.transcriptions.create(model=WHISPER, file=("x.wav", b"not audio at all"))
    with pytest.raises(openai.BadRequestError, match="text-to-speech"):
        sdk.audio.speech.create(model=WHISPER, input="hello", voice="alloy")


# -- speech -------------------------------------------------------------------------------------

SPEAKERS = ["microsoft/speecht5_tts", "espnet/kan-bayashi_ljspeech_vits"]


def decoded_seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate


@pytest.mark.parametrize("model", SPEAKERS)
def test_speech_comes_in_every_format_of_openais_mp3_first(sdk, model):
    wav = sdk.audio.speech.create(model=model, input="Hello there.", voice="alloy", response_format="wav").read()
    seconds = soundfile.info(io.BytesIO(wav)).duration
    default = sdk.audio.speech.create(model=model, input="Hello there.", voice="nova").read()
    assert av.open(io.BytesIO(default)).format.name == "mp3"
    # AAC's encoder adds up to three frames of 1024 samples (its priming delay and the last frame's padding)
    for answer_format, padding in (("mp3", 0.08), ("opus", 0.08), ("aac", 3 * 1024 / 16000), ("flac", 0.0)):
        data = sdk.audio.speech.create(model=model, input="Hello there.", voice="alloy",
                                       response_format=answer_format).read()
        assert seconds - 0.08 <= decoded_seconds(data) <= seconds + padding + 0.001, answer_format
    pcm = sdk.audio.speech.create(model=model, input="Hello there.", voice="alloy", response_format="pcm").read()
    assert len(pcm) / 2 / 24000 == pytest.approx(seconds, abs=0.01)  # 16-bit samples at 24 kHz, no header


def test_speed_shortens_the_speech(sdk):
    def seconds(speed: float) -> float:
        data = sdk.audio.speech.create(model="tts-1", input="Hello there, how are you today?", voice="alloy",
                                       response_format="wav", speed=speed).read()
        return soundfile.info(io.BytesIO(data)).duration

    assert seconds(2.0) == pytest.approx(seconds(1.0) / 2, rel=0.1)
    with pytest.raises(openai.BadRequestError):
        seconds(9.0)
