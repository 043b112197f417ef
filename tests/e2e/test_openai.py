"""OpenAI's API through the official `openai` SDK, unmodified, against a live server of tiny models."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import socket
import threading
from collections.abc import Iterator

import av
import numpy as np
import openai
import pytest
import requests
import soundfile
from PIL import Image
from support.generation import forward_held
from support.serving import LiveServer, Served, run_live_server
from support.waiting import wait_until

from models_server.http.app import create_app
from models_server.http.server import ServingOptions, make_server
from models_server.progress import CancelToken
from models_server.runtime.cancellation import Cancellations

EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
MATRYOSHKA = "mixedbread-ai/mxbai-embed-large-v1"  # trained so that its vectors may be cut
KEY = "s3cret-key"
WAIT = 60.0  # seconds any one wait may take before the test fails


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


def test_a_matryoshka_trained_model_cuts_its_vectors_to_the_dimensions_asked(sdk, served):
    """The first `dimensions` numbers of the model's own vector, made unit length again."""
    texts = ["a cat sits on the mat", "dogs bark"]
    cut = sdk.embeddings.create(model=MATRYOSHKA, input=texts, dimensions=8)  # a lazy row: loaded by this call
    whole = np.asarray(served.runtime.model(MATRYOSHKA).encode(texts))
    vectors = np.asarray([item.embedding for item in cut.data])
    prefixes = whole[:, :8] / np.linalg.norm(whole[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, prefixes, rtol=1e-4, atol=1e-5)
    native = sdk.embeddings.create(model=MATRYOSHKA, input=texts, dimensions=whole.shape[1], encoding_format="float")
    np.testing.assert_allclose([item.embedding for item in native.data], whole, rtol=1e-5, atol=1e-6)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model=MATRYOSHKA, input="x", dimensions=whole.shape[1] + 1)
    assert caught.value.body["param"] == "dimensions"  # type: ignore[index]


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


def container_of(data: bytes) -> tuple[str, str]:
    with av.open(io.BytesIO(data)) as container:
        return container.format.name, container.streams.audio[0].codec_context.name


@pytest.mark.parametrize("model", SPEAKERS)
def test_speech_comes_in_every_format_of_openais_mp3_first(sdk, model):
    """(Durations and speed are checked on fixed audio in tests/unit/test_openai_speech.py: these
    models' speech lengths vary from call to call.)"""
    default = sdk.audio.speech.create(model=model, input="Hello there.", voice="nova").read()
    assert container_of(default) == ("mp3", "mp3float")
    expected = {"opus": ("ogg", "opus"), "aac": ("aac", "aac"), "flac": ("flac", "flac"), "wav": ("wav", "pcm_s16le")}
    for answer_format, (container, codec) in expected.items():
        data = sdk.audio.speech.create(model=model, input="Hello there.", voice="alloy",
                                       response_format=answer_format).read()
        assert container_of(data) == (container, codec), answer_format
    pcm = sdk.audio.speech.create(model=model, input="Hello there.", voice="alloy", response_format="pcm").read()
    assert len(pcm) % 2 == 0 and len(pcm) > 0  # 16-bit samples, no header


def test_a_speed_out_of_range_is_a_bad_request(sdk):
    with pytest.raises(openai.BadRequestError, match="speed"):
        sdk.audio.speech.create(model="tts-1", input="Hello there.", voice="alloy", speed=9.0)


# -- images -------------------------------------------------------------------------------------

FEW_STEPS = {"num_inference_steps": 2}


def pixels(b64: str | None) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64 or ""))))


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_images_are_generated_n_at_a_time_and_a_seed_repeats_them(sdk):
    two = sdk.images.generate(model="dall-e-2", prompt="a red house", n=2, size="64x96", response_format="b64_json",
                              extra_body={"seed": 7, **FEW_STEPS})
    second = sdk.images.generate(model="runwayml/stable-diffusion-v1-5", prompt="a red house", size="64x96",
                                 response_format="b64_json", extra_body={"seed": 8, **FEW_STEPS})
    first, other = (pixels(item.b64_json) for item in two.data or [])
    assert first.shape == (96, 64, 3)
    assert np.array_equal(other, pixels((second.data or [])[0].b64_json))  # image i has seed + i
    assert not np.array_equal(first, other)


def test_an_image_url_is_served_by_this_server(sdk, live_server):
    inline = sdk.images.generate(model="dall-e-2", prompt="a boat", size="64x64", response_format="b64_json",
                                 extra_body={"seed": 3, **FEW_STEPS})
    linked = sdk.images.generate(model="dall-e-2", prompt="a boat", size="64x64", extra_body={"seed": 3, **FEW_STEPS})
    url = (linked.data or [])[0].url or ""
    assert url.startswith(f"{live_server.url}/playground/files/images/")
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(fetched.content))), pixels((inline.data or [])[0].b64_json))


def test_an_edit_on_a_controlnet_reads_the_upload_as_its_control_map(sdk):
    control = Image.new("RGB", (64, 64))
    control.paste((255, 255, 255), (16, 16, 48, 48))
    answer = sdk.images.edit(model="lllyasviel/sd-controlnet-canny", image=("edges.png", png_of(control)),
                             prompt="a box", size="64x64", response_format="b64_json", extra_body=FEW_STEPS)
    assert pixels((answer.data or [])[0].b64_json).shape == (64, 64, 3)


def test_image_to_image_rows_serve_edits_and_variations(sdk):
    photo = png_of(Image.new("RGB", (64, 64), (90, 120, 30)))
    variation = sdk.images.create_variation(model="lambdalabs/sd-image-variations-diffusers",
                                            image=("photo.png", photo), n=2, response_format="b64_json",
                                            extra_body=FEW_STEPS)
    assert len(variation.data or []) == 2
    edit = sdk.images.edit(model="lambdalabs/sd-image-variations-diffusers", image=("photo.png", photo),
                           prompt="unused: this model reads no text", response_format="b64_json", extra_body=FEW_STEPS)
    assert len(edit.data or []) == 1


def test_what_an_image_model_cannot_do_is_a_bad_request(sdk):
    photo = png_of(Image.new("RGB", (64, 64)))
    with pytest.raises(openai.BadRequestError, match="mask"):
        sdk.images.edit(model="lllyasviel/sd-controlnet-canny", image=("a.png", photo), mask=("m.png", photo),
                        prompt="x")
    with pytest.raises(openai.BadRequestError, match="size"):
        sdk.images.generate(model="dall-e-2", prompt="x", size="big")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="text-to-image"):
        sdk.images.generate(model="lllyasviel/sd-controlnet-canny", prompt="x")
    with pytest.raises(openai.BadRequestError, match="at most 10"):
        sdk.images.generate(model="dall-e-2", prompt="x", n=11)


# -- chat and completions -----------------------------------------------------------------------

QWEN, LLAMA = "Qwen/Qwen2.5-0.5B-Instruct", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}]


def chat_model(served: Served, model_id: str):
    served.runtime.run(model_id, {"messages": HELLO, "prompt": None},
                       {"max_tokens": 1, "temperature": 0.0, "top_p": None, "stop": None, "seed": None})
    return served.runtime.model(model_id)


@pytest.mark.parametrize("model_id", [QWEN, LLAMA])
def test_chat_lays_the_conversation_out_in_the_models_own_template(sdk, served, model_id):
    answer = sdk.chat.completions.create(model=model_id, messages=HELLO, max_tokens=6, temperature=0)  # type: ignore[arg-type]
    chat = chat_model(served, model_id)
    prompt = chat.tokenizer.apply_chat_template(HELLO, add_generation_prompt=True, tokenize=False)
    ids = chat.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    expected = chat.model.generate(ids, max_new_tokens=6, do_sample=False)[0][ids.shape[1]:]
    assert answer.choices[0].message.content == chat.tokenizer.decode(expected, skip_special_tokens=True)
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (ids.shape[1], len(expected))
    assert answer.model == model_id and answer.object == "chat.completion"


def test_a_stream_carries_the_same_answer_in_openais_chunks(sdk, live_server):
    whole = sdk.chat.completions.create(model=QWEN, messages=HELLO, max_tokens=8, temperature=0)  # type: ignore[arg-type]
    chunks = list(sdk.chat.completions.create(model=QWEN, messages=HELLO, max_tokens=8, temperature=0, stream=True,  # type: ignore[arg-type]
                                              stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == \
        whole.choices[0].message.content
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].usage == whole.usage
    raw = requests.post(f"{live_server.url}/v1/completions", timeout=60, json={
        "model": QWEN, "prompt": "Once upon", "max_tokens": 3, "stream": True})
    assert raw.headers["Content-Type"].startswith("text/event-stream")
    assert raw.text.endswith("data: [DONE]\n\n")


@contextlib.contextmanager
def held_generation(served: Served, model_id: str, after: int, until: threading.Event) -> Iterator[list[int]]:
    """The model's forward passes (one per generated token) counted; the pass after the first
    `after` ones waits for `until` (at most WAIT s) before it runs: a generation held mid-way."""
    try:
        with forward_held(chat_model(served, model_id).model, after + 1, lambda: until.wait(WAIT)) as passes:
            yield passes
    finally:
        until.set()


def test_a_stream_sends_each_token_while_the_model_still_generates(sdk, served):
    """The first pieces arrive while the model is held before its next token: sent as they are
    made. The whole stream is then the answer a request without `stream` gets for the same seed."""
    options = {"model": QWEN, "messages": HELLO, "max_tokens": 24, "temperature": 1.0, "seed": 7}
    whole = sdk.chat.completions.create(**options)  # type: ignore[call-overload]
    go_on = threading.Event()
    with held_generation(served, QWEN, after=8, until=go_on) as passes:
        stream = sdk.chat.completions.create(**options, stream=True, timeout=WAIT / 2)  # type: ignore[call-overload]
        chunks, passes_at_first_piece = [], None
        for chunk in stream:
            chunks.append(chunk)
            if passes_at_first_piece is None and chunk.choices and chunk.choices[0].delta.content:
                passes_at_first_piece = len(passes)
                go_on.set()  # only now may the model go on
    assert passes_at_first_piece is not None and passes_at_first_piece <= 9 < len(passes)
    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert "".join(pieces) == whole.choices[0].message.content
    assert 1 < len(pieces) <= whole.usage.completion_tokens  # type: ignore[union-attr]  # a chunk per token's text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_delete_stops_a_chat_at_its_next_token_and_frees_the_model(sdk, served, live_server, monkeypatch):
    """A running completion, held mid-way; `DELETE /admin/requests/<id>` marks it cancelled and
    lets the model go on: not one token more is made, its client is told, the next request runs."""
    marked = threading.Event()
    cancel = Cancellations.cancel

    def cancel_and_tell(self, request_id: str, reason: str):
        ended = cancel(self, request_id, reason)
        marked.set()
        return ended

    monkeypatch.setattr(Cancellations, "cancel", cancel_and_tell)
    answers: list[requests.Response] = []
    with held_generation(served, QWEN, after=3, until=marked) as passes:
        thread = threading.Thread(target=lambda: answers.append(requests.post(
            f"{live_server.url}/v1/completions", timeout=WAIT, headers={"X-Request-ID": "long-chat"},
            json={"model": QWEN, "prompt": "Once upon a time", "max_tokens": 200, "temperature": 0})))
        thread.start()
        wait_until(lambda: len(passes) > 3, WAIT, "the generation reached its held token")
        deleted = requests.delete(f"{live_server.url}/admin/requests/long-chat", timeout=WAIT)
        thread.join(WAIT)
    assert deleted.json() == {"request_id": "long-chat", "cancelled": 1, "stopped": True}
    assert answers[0].status_code == 409 and answers[0].json()["error"]["code"] == "cancelled"
    assert len(passes) == 4  # the held token was the last one
    after = sdk.completions.create(model=QWEN, prompt="Once upon a time", max_tokens=3, temperature=0)
    assert after.usage is not None and after.usage.completion_tokens <= 3


@pytest.mark.parametrize("stream", [True, False])
def test_a_client_leaving_stops_the_generation_at_the_next_token(served, monkeypatch, stream):
    """Behind the guarded server (which reads on while a request runs, so a client leaving is
    seen): the client closes the connection while the model is held before a token, streamed or
    not; the model is let go only once the server has seen it, and makes no token more."""
    seen = threading.Event()
    reason = CancelToken.reason

    def reason_and_tell(self):
        found = reason(self)
        if found is not None:
            seen.set()
        return found

    monkeypatch.setattr(CancelToken, "reason", reason_and_tell)
    server = make_server(served.app, "127.0.0.1", 0, ServingOptions())
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    body = json.dumps({"model": QWEN, "prompt": "Once upon a time", "max_tokens": 200, "temperature": 0,
                       "stream": stream}).encode()
    try:
        with held_generation(served, QWEN, after=3, until=seen) as passes:
            client = socket.create_connection(("127.0.0.1", server.effective_port), timeout=WAIT)
            client.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            wait_until(lambda: len(passes) > 3, WAIT, "the generation reached its held token")
            listed = requests.get(f"{url}/admin/requests", timeout=WAIT).json()["requests"]
            assert [(entry["model"], entry["path"]) for entry in listed] == [(QWEN, "/v1/completions")]  # from its body
            if stream:
                assert client.recv(65536).startswith(b"HTTP/1.1 200")  # the stream began
            assert not seen.is_set()
            client.close()  # the client leaves
            wait_until(lambda: requests.get(f"{url}/status/{QWEN}", timeout=WAIT).json()["queue"] == 0, WAIT,
                       "the cancelled generation ended")
        assert seen.is_set() and len(passes) == 4
    finally:
        server.close()
        server.shutdown_lanes(timeout=5)
        thread.join(timeout=5)


def test_sampling_repeats_with_a_seed_and_n_counts_seeds_up(sdk):
    def texts(**options) -> list[str | None]:
        answer = sdk.chat.completions.create(model=LLAMA, messages=HELLO, max_tokens=8, temperature=1.5, **options)  # type: ignore[arg-type]
        return [choice.message.content for choice in answer.choices]

    assert texts(seed=11) == texts(seed=11)
    assert texts(seed=11, n=2) == texts(seed=11) + texts(seed=12)


def test_max_tokens_beyond_the_context_is_clipped_and_a_stop_string_ends_the_text(sdk, served):
    context = chat_model(served, QWEN).context
    answer = sdk.completions.create(model=QWEN, prompt="Once upon a time", max_tokens=10 * context, temperature=0)
    assert answer.usage is not None and answer.usage.total_tokens == context
    assert answer.choices[0].finish_reason == "length"
    text = answer.choices[0].text
    stop = text[5:8]
    stopped = sdk.completions.create(model=QWEN, prompt="Once upon a time", max_tokens=40, temperature=0, stop=[stop])
    assert stopped.choices[0].text == text[: text.find(stop)]
    assert stopped.choices[0].finish_reason == "stop"


def test_what_the_chat_routes_do_not_serve_is_a_bad_request(sdk):
    with pytest.raises(openai.BadRequestError, match="tools"):
        sdk.chat.completions.create(model=QWEN, messages=HELLO, tools=[{"type": "function", "function": {  # type: ignore[arg-type]
            "name": "f", "parameters": {}}}])
    with pytest.raises(openai.BadRequestError, match="chat-completion"):
        sdk.chat.completions.create(model=EMBEDDER, messages=HELLO)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="role"):
        sdk.chat.completions.create(model=QWEN, messages=[{"role": "wizard", "content": "hi"}])  # type: ignore[arg-type, misc, list-item]


def test_the_controllers_llm_client_gets_well_formed_answers(live_server):
    """As the HuggingGPT controller posts with `dev: true` (PROTOCOL.md): no key, an OpenAI model name
    (an alias here), OpenAI token ids in `logit_bias`, and for completions its own turn markers, stop
    string and a max_tokens counted for OpenAI's context."""
    logit_bias = {str(token): 0.1 for token in (5, 50256, 100_000)}  # ids of OpenAI's tokenizer
    chat = requests.post(f"{live_server.url}/v1/chat/completions", timeout=120, json={
        "model": "gpt-3.5-turbo", "messages": HELLO, "temperature": 0, "logit_bias": logit_bias}).json()
    assert isinstance(chat["choices"][0]["message"]["content"].strip(), str)
    prompt = "Be brief.<im_start>user\nHello!<im_end>\n<im_start>assistant"
    completion = requests.post(f"{live_server.url}/v1/completions", timeout=120, json={
        "model": "text-davinci-003", "prompt": prompt, "temperature": 0, "logit_bias": logit_bias,
        "stop": ["<im_end>"], "max_tokens": 4096 - 25}).json()
    assert "error" not in completion
    assert "<im_end>" not in completion["choices"][0]["text"]


def test_annotate_runs_the_controlnets_annotator_on_a_plain_photo_first(sdk, live_server, public_dir):
    photo = (public_dir / "examples" / "photo.jpg").read_bytes()
    control_map = requests.post(f"{live_server.url}/models/canny-control", data=photo, timeout=60,
                                headers={"Content-Type": "image/jpeg", "Accept": "image/png"}).content
    options = {"model": "lllyasviel/sd-controlnet-canny", "prompt": "an astronaut", "size": "64x64",
               "response_format": "b64_json"}
    annotated = sdk.images.edit(image=("photo.jpg", photo), extra_body={"annotate": True, "seed": 5, **FEW_STEPS},
                                **options)  # type: ignore[arg-type]
    direct = sdk.images.edit(image=("map.png", control_map), extra_body={"seed": 5, **FEW_STEPS}, **options)  # type: ignore[arg-type]
    as_photo = sdk.images.edit(image=("photo.jpg", photo), extra_body={"seed": 5, **FEW_STEPS}, **options)  # type: ignore[arg-type]
    assert np.array_equal(pixels((annotated.data or [])[0].b64_json), pixels((direct.data or [])[0].b64_json))
    assert not np.array_equal(pixels((annotated.data or [])[0].b64_json), pixels((as_photo.data or [])[0].b64_json))
    with pytest.raises(openai.BadRequestError, match="ControlNet"):
        sdk.images.edit(model="lambdalabs/sd-image-variations-diffusers", image=("photo.jpg", photo), prompt="x",
                        extra_body={"annotate": True})


# -- busy, OpenAPI ------------------------------------------------------------------------------


def test_a_full_queue_is_503_with_retry_after_as_the_sdk_reads_it(live_server, served):
    """The model's queue filled as waiting requests fill it; the SDK (no retries) raises its 503 error."""
    limit = served.settings.limits.max_queue_per_model
    for _ in range(limit):
        served.runtime.slots.enter(EMBEDDER, limit)
    try:
        client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.InternalServerError) as caught:
            client.embeddings.create(model=EMBEDDER, input="hello")
        assert caught.value.status_code == 503
        assert caught.value.response.headers["Retry-After"] == "5"
        assert caught.value.body["code"] == "busy"  # type: ignore[index]
    finally:
        for _ in range(limit):
            served.runtime.slots.leave(EMBEDDER)


def test_openapi_documents_every_v1_route_with_the_models_it_takes(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for route in ("/v1/models", "/v1/models/{model}", "/v1/embeddings", "/v1/audio/transcriptions",
                  "/v1/audio/translations", "/v1/audio/speech", "/v1/images/generations", "/v1/images/edits",
                  "/v1/images/variations", "/v1/chat/completions", "/v1/completions"):
        assert route in paths, route
    body = paths["/v1/embeddings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {EMBEDDER, "text-embedding-3-small"} <= set(body["properties"]["model"]["enum"])
    assert "openai/whisper-base" not in body["properties"]["model"]["enum"]
    edits = paths["/v1/images/edits"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "lllyasviel/sd-controlnet-canny" in edits["properties"]["model"]["enum"]


def test_a_voice_picks_one_of_speecht5s_speakers(sdk, live_server):
    import torch

    def speech(voice: str) -> bytes:
        torch.manual_seed(0)  # SpeechT5 keeps its prenet's dropout on when it speaks
        return sdk.audio.speech.create(model="tts-1", input="Hello there.", voice=voice, response_format="wav").read()

    alloy = speech("alloy")
    assert alloy == speech("alloy") == speech("slt") == speech("a-voice-it-does-not-know")  # slt: the default
    assert speech("echo") != alloy
    refused = requests.post(f"{live_server.url}/models/microsoft/speecht5_tts", timeout=60,
                            json={"text": "Hello.", "speaker": "nobody"})
    assert refused.status_code == 400 and "CMU ARCTIC" in refused.json()["error"]["message"]
