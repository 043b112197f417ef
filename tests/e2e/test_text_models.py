"""The controller's text candidates (catalog/text_coverage.py): every row answers over HTTP from its
miniature through the loader real weights use, one row per family through huggingface_hub's
InferenceClient, and `download` picks each family's files from reconstructed listings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from huggingface_hub import InferenceClient
from huggingface_hub.inference._generated import types as hf
from support.hub_listings import reconstructed_listing

from models_server.catalog import ModelSpec, catalog_rows
from models_server.catalog import text as text_coverage
from models_server.tasks.loading import LoadContext
from models_server.tasks.transformers import text
from models_server.weights import download as dl

CONTEXT = "My name is Clara and I live in Berkeley, California. 我住在北京，在一家面包店工作。"
ROWS = text_coverage.MODELS


def _rows(task: str) -> list[ModelSpec]:
    return [row for row in ROWS if row.task.name == task]


def _ids(rows: list[ModelSpec]) -> list[str]:
    return [row.id for row in rows]


def post(client, model_id: str, body: dict):
    response = client.post(f"/models/{model_id}", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def config_labels(tiny_root: Path, row: ModelSpec) -> set[str]:
    config = json.loads((tiny_root / row.weights[0].name / "config.json").read_text())
    return set(config["id2label"].values())


@pytest.mark.parametrize("row", _rows("text-classification"), ids=_ids(_rows("text-classification")))
def test_text_classification_scores_every_label_best_first(client, tiny_root, row):
    body = post(client, row.id, {"text": "I love this new phone! Je l'adore."})
    assert {item["label"] for item in body} == config_labels(tiny_root, row)
    scores = [item["score"] for item in body]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, abs=1e-4)


@pytest.mark.parametrize("row", _rows("token-classification"), ids=_ids(_rows("token-classification")))
def test_token_classification_groups_the_models_own_tags(client, tiny_root, row):
    entities = post(client, row.id, {"text": CONTEXT})
    tags = {label.removeprefix("B-").removeprefix("I-") for label in config_labels(tiny_root, row)} - {"O"}
    assert entities, "random weights still tag something"
    for entity in entities:
        assert set(entity) == {"entity_group", "word", "score", "start", "end"}
        assert entity["entity_group"] in tags
        assert 0 <= entity["start"] < entity["end"] <= len(CONTEXT)


@pytest.mark.parametrize("row", _rows("question-answering"), ids=_ids(_rows("question-answering")))
def test_question_answering_answers_a_span_of_the_context(client, row):
    body = post(client, row.id, {"question": "Where do I live?", "context": CONTEXT})
    assert set(body) == {"answer", "score", "start", "end"}
    assert body["answer"] and CONTEXT[body["start"]:body["end"]] == body["answer"]
    assert 0 < body["score"] <= 1


@pytest.mark.parametrize("row", _rows("sentence-similarity"), ids=_ids(_rows("sentence-similarity")))
def test_sentence_similarity_scores_each_sentence(client, row):
    sentences = ["A man is eating food.", "我住在北京", "Un homme mange."]
    scores = post(client, row.id, {"source_sentence": "A man is eating food.", "sentences": sentences})
    assert len(scores) == 3 and scores[0] == pytest.approx(1.0, abs=1e-4)
    assert all(-1.0001 <= score <= 1.0001 for score in scores)


MOVED = [(row, alias) for row in ROWS for alias in row.aliases]
BODIES = {
    "text-classification": {"text": CONTEXT},
    "token-classification": {"text": CONTEXT},
    "question-answering": {"question": "Where?", "context": CONTEXT},
}


@pytest.mark.parametrize(("row", "new_name"), MOVED, ids=[new for _, new in MOVED])
def test_moved_repos_answer_under_both_names(client, row, new_name):
    assert client.get(f"/status/{row.id}").get_json()["loaded"] is True
    assert client.get(f"/status/{new_name}").get_json()["loaded"] is True
    body = BODIES[row.task.name]
    assert post(client, new_name, body) == post(client, row.id, body)


def test_lazy_candidates_answer_loaded_before_their_first_request(client):
    lazy = [row.id for row in ROWS if not row.preload]
    assert "hkunlp/instructor-xl" in lazy and "deepset/xlm-roberta-large-squad2" in lazy
    for model_id in lazy:
        assert client.get(f"/status/{model_id}").get_json()["loaded"] is True, model_id


# --- InferenceClient, one row per family -------------------------------------------------------

FAMILY_ROWS = list({row.weights[0].family: row for row in reversed(ROWS)}.values())


@pytest.fixture(scope="module")
def hub(live_server):
    return lambda model_id: InferenceClient(model=f"{live_server.url}/models/{model_id}", timeout=60)


@pytest.mark.parametrize("row", FAMILY_ROWS, ids=[row.weights[0].family for row in FAMILY_ROWS])
def test_inference_client_reads_every_family(hub, row):
    client = hub(row.id)
    task = row.task.name
    if task == "text-classification":
        labels = client.text_classification("I love it", top_k=2)
        assert len(labels) == 2 and all(isinstance(item, hf.TextClassificationOutputElement) for item in labels)
    elif task == "token-classification":
        entities = client.token_classification(CONTEXT)
        assert entities and all(CONTEXT[e.start:e.end] for e in entities)
    elif task == "question-answering":
        answer = client.question_answering(question="Where do I live?", context=CONTEXT)
        assert isinstance(answer, hf.QuestionAnsweringOutputElement)
        assert CONTEXT[answer.start:answer.end] == answer.answer
    else:
        scores = client.sentence_similarity("A cat sits.", other_sentences=["A cat sits.", "Stocks fell."])
        assert len(scores) == 2 and scores[0] == pytest.approx(1.0, abs=1e-3)


# --- INSTRUCTOR: an instruction the pooling leaves out ----------------------------------------


def test_instructor_embeds_with_its_instruction_and_pools_the_text_only(tiny_root):
    from sentence_transformers import SentenceTransformer

    folder = tiny_root / "hkunlp/instructor-large"
    model = text.load_instructor(LoadContext("hkunlp/instructor-large", (folder,), "cpu", torch.float32))
    pooling = next(module for module in model if type(module).__name__ == "Pooling")
    assert pooling.include_prompt is False
    plain = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    prompted = model.encode(["a cat"], convert_to_tensor=True)
    assert not torch.allclose(prompted, plain.encode(["a cat"], convert_to_tensor=True), atol=1e-4)
    by_hand = plain.encode([text.INSTRUCTOR_INSTRUCTION + "a cat"], convert_to_tensor=True)
    assert not torch.allclose(prompted, by_hand, atol=1e-4), "the instruction's tokens must not be averaged in"


# --- download: each new family's files from a reconstructed listing ---------------------------------

BERT_VOCAB = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
ST_MODULES = ("modules.json", "1_Pooling/config.json", "sentence_bert_config.json")
# repo: (the only weight files picked, files that must come with them)
EXPECTED_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ProsusAI/finbert": (("pytorch_model.bin",), BERT_VOCAB),
    "cardiffnlp/twitter-xlm-roberta-base-sentiment": (("pytorch_model.bin",), ("sentencepiece.bpe.model",)),
    "Jean-Baptiste/camembert-ner": (("model.safetensors",), ("sentencepiece.bpe.model", "tokenizer_config.json")),
    "xlm-roberta-large-finetuned-conll03-english": (("model.safetensors",), ("sentencepiece.bpe.model",)),
    "d4data/biomedical-ner-all": (("model.safetensors",), BERT_VOCAB),
    "Jean-Baptiste/roberta-large-ner-english": (("model.safetensors",), ("vocab.json", "merges.txt")),
    "deepset/minilm-uncased-squad2": (("model.safetensors",), BERT_VOCAB),
    "uer/roberta-base-chinese-extractive-qa": (("pytorch_model.bin",), BERT_VOCAB),
    "deepset/xlm-roberta-large-squad2": (("model.safetensors",), ("sentencepiece.bpe.model",)),
    "deepset/deberta-v3-large-squad2": (("model.safetensors",), ("spm.model", "added_tokens.json")),
    "sentence-transformers/all-mpnet-base-v2": (("model.safetensors",), (*ST_MODULES, "vocab.txt")),
    "sentence-transformers/multi-qa-mpnet-base-dot-v1": (("model.safetensors",), ST_MODULES),
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": (("model.safetensors",),
                                                                   (*ST_MODULES, "sentencepiece.bpe.model")),
    "sentence-transformers/paraphrase-multilingual-mpnet-base-v2": (("model.safetensors",), ST_MODULES),
    "sentence-transformers/LaBSE": (("2_Dense/model.safetensors", "model.safetensors"),
                                    (*ST_MODULES, "2_Dense/config.json")),
    "shibing624/text2vec-base-chinese": (("model.safetensors",), (*ST_MODULES, "vocab.txt")),
    "hkunlp/instructor-large": (("2_Dense/pytorch_model.bin", "pytorch_model.bin"),
                                (*ST_MODULES, "2_Dense/config.json", "spiece.model")),
    "mixedbread-ai/mxbai-embed-large-v1": (("model.safetensors",),
                                           (*ST_MODULES, "config_sentence_transformers.json", "vocab.txt")),
}


def _repo(name: str):
    return next(repo for row in ROWS for repo in row.weights if repo.name == name)


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_download_picks_one_copy_of_the_weights_and_the_tokenizer_files(name):
    weights, companions = EXPECTED_FILES[name]
    files = dl.select_files(reconstructed_listing(name), _repo(name))
    assert [path for path in files if not path.endswith(dl._METADATA_SUFFIXES)] == list(weights)
    assert set(companions) <= set(files)
    assert not any(path.startswith(("onnx/", "openvino/")) for path in files)


def test_every_new_family_has_a_reconstructed_listing():
    elsewhere = {repo.family for row in catalog_rows() if row not in ROWS for repo in row.weights}
    new_families = {repo.family for row in ROWS for repo in row.weights} - elsewhere
    assert new_families <= {_repo(name).family for name in EXPECTED_FILES}
