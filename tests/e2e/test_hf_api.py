"""The real `huggingface_hub.InferenceClient` against our server, and the controller's bodies beside it.

A URL model makes the client use its "hf-inference" provider and post straight to that URL,
so each test below is exactly what a user of the client sends: raw bytes when a method has no
parameters, `{"inputs": <base64>, "parameters": ...}` when it has some, JSON for text tasks.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
from huggingface_hub import InferenceClient
from huggingface_hub.inference._generated import types as hf
from PIL import Image, ImageDraw, ImageFont

from models_server.catalog import catalog_rows
from models_server.protocols.inference_api import ADAPTERS, AS_IS


@pytest.fixture(scope="module")
def photo(public_dir: Path) -> Path:
    return public_dir / "examples" / "photo.jpg"


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One second of a 440 Hz tone at 16 kHz, as a .wav file."""
    t = np.arange(16000) / 16000
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    return path


@pytest.fixture(scope="module")
def invoice() -> bytes:
    image = Image.new("RGB", (480, 160), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("DejaVuSans.ttf", 28)
    draw.text((20, 20), "INVOICE 1234", fill="black", font=font)
    draw.text((20, 90), "Total: 42.50 USD", fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hub(live_server):
    """`hub("<model id>")`: an InferenceClient bound to that model on our server."""
    return lambda model_id: InferenceClient(model=f"{live_server.url}/models/{model_id}", timeout=60)


# --- vision ---------------------------------------------------------------------------------------


def test_image_classification(hub, photo: Path) -> None:
    labels = hub("google/vit-base-patch16-224").image_classification(photo, top_k=3)
    assert 1 <= len(labels) <= 3
    assert all(isinstance(item, hf.ImageClassificationOutputElement) for item in labels)
    assert all(isinstance(item.label, str) and 0.0 <= item.score <= 1.0 for item in labels)


@pytest.mark.parametrize("threshold", [None, 0.0])  # None: raw bytes; 0.0: base64 JSON with parameters
def test_object_detection_boxes_are_pixels_of_the_photo(hub, photo: Path, threshold: float | None) -> None:
    found = hub("facebook/detr-resnet-50").object_detection(photo.read_bytes(), threshold=threshold)
    assert isinstance(found, list)
    if threshold == 0.0:
        assert found, "every query passes a zero threshold"
    for item in found:
        assert isinstance(item, hf.ObjectDetectionOutputElement) and isinstance(item.label, str)
        box = item.box
        corners = (box.xmin, box.ymin, box.xmax, box.ymax)
        assert all(isinstance(v, int) and 0 <= v <= 512 for v in corners)
        assert box.xmin <= box.xmax and box.ymin <= box.ymax


@pytest.mark.parametrize("model_id", ["nvidia/segformer-b0-finetuned-ade-512-512", "facebook/detr-resnet-50-panoptic"])
def test_image_segmentation_gives_a_mask_per_segment(hub, photo: Path, model_id: str) -> None:
    segments = hub(model_id).image_segmentation(photo, threshold=0.0, mask_threshold=0.0)
    assert segments, "random weights with zero thresholds still find segments"
    covered = None
    for segment in segments:
        assert isinstance(segment, hf.ImageSegmentationOutputElement) and isinstance(segment.label, str)
        mask = segment.mask  # the client decodes each base64 PNG into a PIL image
        assert mask.size == (512, 512) and set(mask.getdata()) <= {0, 255}
        pixels = {index for index, value in enumerate(mask.getdata()) if value}
        assert pixels and (covered is None or not pixels & covered)  # segments do not overlap
        covered = pixels | (covered or set())


def test_image_to_text(hub, photo: Path) -> None:
    output = hub("nlpconnect/vit-gpt2-image-captioning").image_to_text(photo)
    assert isinstance(output, hf.ImageToTextOutput) and isinstance(output.generated_text, str)


def test_visual_question_answering(hub, photo: Path) -> None:
    answers = hub("dandelin/vilt-b32-finetuned-vqa").visual_question_answering(photo, "What is this?", top_k=2)
    assert len(answers) == 2
    assert all(isinstance(a, hf.VisualQuestionAnsweringOutputElement) and isinstance(a.answer, str) for a in answers)
    assert answers[0].score >= answers[1].score


def test_document_question_answering(hub, invoice: bytes) -> None:
    answers = hub("impira/layoutlm-document-qa").document_question_answering(invoice, "What is the total?")
    assert len(answers) == 1
    (answer,) = answers
    assert isinstance(answer, hf.DocumentQuestionAnsweringOutputElement) and answer.answer
    assert 0 <= answer.start <= answer.end


def test_image_to_image_on_an_annotator_and_a_controlnet(hub, photo: Path) -> None:
    """File-producing tasks beyond the client's list: a control map, then ControlNet on a prompt."""
    edges = hub("canny-control").image_to_image(photo)
    assert isinstance(edges, Image.Image) and edges.size == (512, 512) and edges.format == "PNG"
    drawn = hub("lllyasviel/sd-controlnet-canny").image_to_image(
        photo, prompt="a robot", num_inference_steps=2, target_size={"width": 96, "height": 64}
    )
    assert isinstance(drawn, Image.Image) and drawn.size == (96, 64)


def test_text_to_image_has_the_requested_size(hub) -> None:
    image = hub("runwayml/stable-diffusion-v1-5").text_to_image(
        "an astronaut", width=96, height=64, num_inference_steps=2, seed=1
    )
    assert isinstance(image, Image.Image) and image.size == (96, 64) and image.format == "PNG"


# --- audio ----------------------------------------------------------------------------------------


def test_automatic_speech_recognition(hub, wav: Path) -> None:
    output = hub("openai/whisper-base").automatic_speech_recognition(wav.read_bytes())
    assert isinstance(output, hf.AutomaticSpeechRecognitionOutput) and isinstance(output.text, str)


def test_audio_classification(hub, wav: Path) -> None:
    labels = hub("superb/wav2vec2-base-superb-ks").audio_classification(wav, top_k=2)
    assert len(labels) == 2 and all(isinstance(item, hf.AudioClassificationOutputElement) for item in labels)
    assert labels[0].score >= labels[1].score


def test_text_to_speech_is_audio_soundfile_reads(hub) -> None:
    audio = hub("microsoft/speecht5_tts").text_to_speech("Hello there.")
    samples, rate = soundfile.read(io.BytesIO(audio))
    assert rate == 16000 and samples.ndim == 1 and len(samples) > 0


def test_audio_to_audio_blobs_are_audio(hub, wav: Path) -> None:
    (output,) = hub("microsoft/speecht5_vc").audio_to_audio(wav)
    assert isinstance(output, hf.AudioToAudioOutputElement) and output.content_type == "audio/flac"
    samples, rate = soundfile.read(io.BytesIO(output.blob))
    assert rate == 16000 and len(samples) > 0


# --- text -----------------------------------------------------------------------------------------


def test_question_answering_is_a_span_of_the_context(hub) -> None:
    context = "My name is Clara and I live in Berkeley."
    output = hub("deepset/roberta-base-squad2").question_answering(question="Where do I live?", context=context)
    assert isinstance(output, hf.QuestionAnsweringOutputElement)
    assert context[output.start:output.end] == output.answer


def test_text_classification(hub) -> None:
    labels = hub("distilbert-base-uncased-finetuned-sst-2-english").text_classification("I love it", top_k=1)
    assert len(labels) == 1 and isinstance(labels[0], hf.TextClassificationOutputElement)
    assert labels[0].label in {"POSITIVE", "NEGATIVE"}


def test_token_classification(hub) -> None:
    text = "Clara lives in Berkeley"
    entities = hub("dslim/bert-base-NER").token_classification(text)
    for entity in entities:
        assert isinstance(entity, hf.TokenClassificationOutputElement) and entity.entity_group
        assert 0 <= entity.start < entity.end <= len(text)


def test_sentence_similarity(hub) -> None:
    scores = hub("sentence-transformers/all-MiniLM-L6-v2").sentence_similarity(
        "A cat sits.", other_sentences=["A cat sits.", "Stocks fell today."]
    )
    assert len(scores) == 2 and scores[0] == pytest.approx(1.0, abs=1e-3)


def test_summarization(hub) -> None:
    output = hub("facebook/bart-large-cnn").summarization(
        "The tower is 324 metres tall. It was the tallest structure for 41 years.",
        generate_parameters={"max_new_tokens": 5},
    )
    assert isinstance(output, hf.SummarizationOutput) and isinstance(output.summary_text, str)


def test_translation(hub) -> None:
    output = hub("t5-base").translation("The house is wonderful.", src_lang="en", tgt_lang="de")
    assert isinstance(output, hf.TranslationOutput) and isinstance(output.translation_text, str)


def test_text_generation_continues_the_prompt(hub) -> None:
    client = hub("gpt2")
    assert client.text_generation("Once upon a time", max_new_tokens=3).startswith("Once upon a time")
    new_text = client.text_generation("Once upon a time", max_new_tokens=3, return_full_text=False)
    assert isinstance(new_text, str) and not new_text.startswith("Once upon a time")
    assert isinstance(hub("google/flan-t5-base").text_generation("Say hi", max_new_tokens=3), str)


def test_text_generation_drops_what_it_cannot_honour_with_a_warning(hub) -> None:
    """The client reads the transformers wording of our 400, retries without those knobs, warns."""
    with pytest.warns(UserWarning, match="temperature"):
        text = hub("gpt2").text_generation("Hello", max_new_tokens=2, temperature=0.5, details=True)
    assert isinstance(text, str)
    with pytest.raises(ValueError, match="stream"):
        hub("gpt2").text_generation("Hello", max_new_tokens=2, stream=True)


# --- raw HTTP: what the client does not show ------------------------------------------------------


def test_depth_is_json_with_a_base64_map_unless_an_image_is_accepted(client, photo: Path) -> None:
    raw = photo.read_bytes()
    as_json = client.post("/models/Intel/dpt-large", data=raw, content_type="image/jpeg")
    assert as_json.status_code == 200 and as_json.mimetype == "application/json"
    with Image.open(io.BytesIO(base64.b64decode(as_json.get_json()["depth"]))) as depth:
        assert depth.size == (512, 512)
    as_file = client.post(
        "/models/Intel/dpt-large", data=raw, content_type="image/jpeg", headers={"Accept": "image/jpeg"}
    )
    assert as_file.mimetype == "image/jpeg" and Image.open(io.BytesIO(as_file.data)).size == (512, 512)


def test_speech_format_follows_accept(client) -> None:
    response = client.post(
        "/models/microsoft/speecht5_tts", json={"inputs": "Hi."}, headers={"Accept": "audio/wav"}
    )
    assert response.status_code == 200 and response.mimetype == "audio/wav"
    assert soundfile.info(io.BytesIO(response.data)).format == "WAV"


def test_named_inputs_and_references_as_the_api_documents_them(client, photo: Path) -> None:
    """`inputs` as a dict of parts (base64 image + question); a string that is no base64 is a reference."""
    b64 = base64.b64encode(photo.read_bytes()).decode()
    vqa = client.post(
        "/models/dandelin/vilt-b32-finetuned-vqa", json={"inputs": {"image": b64, "question": "What is it?"}}
    )
    assert vqa.status_code == 200 and {"answer", "score"} <= set(vqa.get_json()[0])
    labels = client.post("/models/microsoft/resnet-50", json={"inputs": "public/examples/photo.jpg"})
    assert labels.status_code == 200 and {"label", "score"} <= set(labels.get_json()[0])


def test_a_file_sent_to_a_text_model_is_400(client) -> None:
    response = client.post("/models/gpt2", data=b"\x89PNG...", content_type="image/png")
    assert response.status_code == 400 and "reads text" in response.get_json()["error"]["message"]


def test_every_catalog_task_has_the_api_shape() -> None:
    """A new task must either return the API's shape or get an adapter."""
    served = {row.task.contract for row in catalog_rows()}
    assert served <= set(ADAPTERS) | AS_IS, served - set(ADAPTERS) - AS_IS


# --- the controller's own bodies answer as before -------------------------------------------------


def test_controller_bodies_keep_their_answers(client, photo_ref: str, wav: Path) -> None:
    edges = client.post("/models/canny-control", json={"img_url": photo_ref})
    assert edges.status_code == 200 and set(edges.get_json()) == {"path"}
    assert edges.get_json()["path"].startswith("/images/")
    audio_uri = "data:audio/wav;base64," + base64.b64encode(wav.read_bytes()).decode()
    heard = client.post("/models/openai/whisper-base", json={"audio_url": audio_uri}).get_json()
    assert set(heard) == {"text", "generated text"}
    caption = client.post("/models/nlpconnect/vit-gpt2-image-captioning", json={"img_url": photo_ref, "text": None})
    assert set(caption.get_json()) == {"generated text"}
    labels = client.post("/models/distilbert-base-uncased-finetuned-sst-2-english", json={"text": "I love it"})
    assert isinstance(labels.get_json()[0]["label"], str)  # flat, where the API nests one list per text


def test_a_chat_model_answers_as_text_generation(client) -> None:
    body = {"inputs": "Once upon a time", "parameters": {"max_new_tokens": 4, "temperature": 0}}
    full = client.post("/models/Qwen/Qwen2.5-0.5B-Instruct", json=body)
    new = client.post("/models/Qwen/Qwen2.5-0.5B-Instruct",
                      json={**body, "parameters": {**body["parameters"], "return_full_text": False}})
    assert full.status_code == new.status_code == 200, full.get_json()
    assert full.get_json()[0]["generated_text"] == "Once upon a time" + new.get_json()[0]["generated_text"]
