"""The full tier's NLP models through the HTTP routes, in the shapes transformers' pipelines return."""

import pytest

from models_server.catalog import catalog_rows
from models_server.tasks.transformers.text_generation import language_name

CONTEXT = "My name is Clara and I live in Berkeley, California. I work at the office of a bakery."


def post(client, model_id, body):
    return post_path(client, f"/models/{model_id}", body)


def post_path(client, path, body):
    response = client.post(path, json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("model_id", ["deepset/roberta-base-squad2", "distilbert-base-cased-distilled-squad"])
@pytest.mark.parametrize("question_key", ["text", "question"])
def test_question_answering_returns_a_span_of_the_context(client, model_id, question_key):
    body = post(client, model_id, {question_key: "Where do I live?", "context": CONTEXT})
    assert set(body) == {"answer", "score", "start", "end"}
    assert body["answer"] and CONTEXT[body["start"]:body["end"]] == body["answer"]
    assert 0 < body["score"] <= 1


def test_question_answering_reads_long_contexts_in_windows(client):
    long_context = " ".join([CONTEXT] * 40)  # past one 384-token window, inside max_prompt_chars
    body = post(client, "distilbert-base-cased-distilled-squad", {"text": "Who?", "context": long_context})
    assert long_context[body["start"]:body["end"]] == body["answer"]


def test_question_answering_without_context_names_the_field(client):
    response = client.post("/models/deepset/roberta-base-squad2", json={"text": "Where?"})
    assert response.status_code == 400
    assert "context" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("model_id", "labels"),
    [
        ("distilbert-base-uncased-finetuned-sst-2-english", {"NEGATIVE", "POSITIVE"}),
        ("cardiffnlp/twitter-roberta-base-sentiment", {"LABEL_0", "LABEL_1", "LABEL_2"}),
    ],
)
def test_text_classification_scores_every_label_best_first(client, model_id, labels):
    body = post(client, model_id, {"text": "I love this new phone!"})
    assert {item["label"] for item in body} == labels
    scores = [item["score"] for item in body]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, abs=1e-4)


@pytest.mark.parametrize("model_id", ["cardiffnlp/twitter-roberta-base-sentiment",
                                      "Jean-Baptiste/roberta-large-ner-english"])
def test_a_text_longer_than_the_models_positions_is_truncated_not_a_500(client, model_id):
    """The RoBERTa repos' tokenizers may set no model_max_length: truncation must still stop at 512."""
    assert post(client, model_id, {"text": "I love this new phone! " * 170})


def test_token_classification_groups_entities_with_offsets(client):
    body = post(client, "dslim/bert-base-NER", {"text": CONTEXT})
    assert body, "random weights still tag something"
    for entity in body:
        assert set(entity) == {"entity_group", "word", "score", "start", "end"}
        assert entity["entity_group"] in {"PER", "ORG", "LOC", "MISC"}
        assert 0 <= entity["start"] < entity["end"] <= len(CONTEXT)


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ({"text1": "A man is eating.", "text2": "A man, happily, eats."}, 1),  # commas stay in text2
        ({"source_sentence": "A man is eating.", "sentences": ["A man eats.", "A horse runs."]}, 2),
    ],
)
def test_sentence_similarity_scores_each_sentence(client, body, count):
    scores = post(client, "sentence-transformers/all-MiniLM-L6-v2", body)
    assert len(scores) == count and all(-1.0001 <= s <= 1.0001 for s in scores)


def test_sentence_similarity_of_a_sentence_with_itself_is_one(client):
    scores = post(client, "sentence-transformers/all-MiniLM-L6-v2", {"text1": "a cat", "text2": "a cat"})
    assert scores == [pytest.approx(1.0, abs=1e-5)]


def test_sentence_similarity_needs_sentences(client):
    response = client.post("/models/sentence-transformers/all-MiniLM-L6-v2", json={"text1": "a cat"})
    assert response.status_code == 400 and "sentences" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("model_id", "body", "key"),
    [
        ("facebook/bart-large-cnn", {"text": CONTEXT}, "summary_text"),
        ("t5-base", {"text": "The house is wonderful.", "max_new_tokens": 5}, "translation_text"),
        ("t5-base", {"text": "Hello", "src_lang": "en", "tgt_lang": "fr", "max_new_tokens": 4}, "translation_text"),
        ("google/flan-t5-base", {"text": "What is the capital of France?"}, "generated_text"),
        ("gpt2", {"text": "Once upon a time", "max_new_tokens": 5}, "generated_text"),
        ("openai-community/gpt2", {"text": "Once upon a time", "max_new_tokens": 5}, "generated_text"),
    ],
)
def test_generation_tasks_answer_one_text(client, model_id, body, key):
    result = post(client, model_id, body)
    assert isinstance(result, list) and len(result) == 1 and set(result[0]) == {key}
    assert isinstance(result[0][key], str)


def test_text_generation_continues_the_prompt(client):
    result = post(client, "gpt2", {"text": "Once upon a time", "max_new_tokens": 3})
    assert result[0]["generated_text"].startswith("Once upon a time")


def test_max_new_tokens_is_capped(client):
    response = client.post("/models/gpt2", json={"text": "a", "max_new_tokens": 10**6})
    assert response.status_code == 400 and "max_new_tokens" in response.get_json()["error"]["message"]


# What a controller's chain hands a text generator: a caption, a transcript, a question, a word.
ORDINARY_TEXTS = ("a photo of a cat sitting on a table", "hello world this is a test of speech recognition",
                  "What is the capital of France?", "Hello")
GENERATED_KEY = {"summarization": "summary_text", "translation": "translation_text",
                 "text-generation": "generated_text", "text2text-generation": "generated_text"}
GENERATOR_FAMILIES = ("bart-summarization", "t5", "flan-t5", "gpt2", "qwen2-chat", "llama-chat")
GENERATOR_IDS = sorted(spec.id for spec in catalog_rows() if spec.task.name in (*GENERATED_KEY, "chat-completion")
                       and spec.weights and spec.weights[0].family in GENERATOR_FAMILIES)


@pytest.mark.parametrize("model_id", GENERATOR_IDS)
def test_text_generators_never_answer_blank_text(client, model_id):
    """A chain (caption -> text-to-video, speech -> text -> ...) stops at an empty answer."""
    task = next(spec.task.name for spec in catalog_rows() if spec.id == model_id)
    for text in ORDINARY_TEXTS:
        if task == "chat-completion":
            for temperature in (0, 1):
                body = post_path(client, "/v1/chat/completions", {
                    "model": model_id, "messages": [{"role": "user", "content": text}], "max_tokens": 8,
                    "temperature": temperature})
                assert body["choices"][0]["message"]["content"].strip(), (text, temperature, body)
            continue
        answer = post(client, model_id, {"text": text, "max_new_tokens": 8})[0][GENERATED_KEY[task]]
        new_text = answer.removeprefix(text) if task == "text-generation" else answer
        assert new_text.strip(), (text, answer)


QWEN_CHAT_IDS = sorted(spec.id for spec in catalog_rows() if spec.weights and spec.weights[0].family == "qwen2-chat")
# What the Qwen2.5-Instruct repos hold beside their README and LICENSE: reconstructed, as this machine
# cannot list the Hub (public code fetches vocab.json and merges.txt from Qwen/Qwen2.5-0.5B-Instruct)
QWEN_REPO_FILES = {"config.json", "generation_config.json", "merges.txt", "model.safetensors", "tokenizer.json",
                   "tokenizer_config.json", "vocab.json"}


@pytest.mark.parametrize("model_id", QWEN_CHAT_IDS)
def test_a_qwen_stand_in_ships_the_repos_tokenizer_files_and_they_agree(tiny_root, model_id):
    """vocab.json and merges.txt read as one BPE encode text as tokenizer.json does."""
    from tokenizers import Tokenizer, models

    folder = tiny_root / model_id
    assert {path.name for path in folder.iterdir() if not path.name.startswith(".")} == QWEN_REPO_FILES
    whole = Tokenizer.from_file(str(folder / "tokenizer.json"))
    pair = Tokenizer(models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt")))
    pair.pre_tokenizer = whole.pre_tokenizer
    for text in ORDINARY_TEXTS:
        assert pair.encode(text).ids == whole.encode(text, add_special_tokens=False).ids


@pytest.mark.parametrize(("value", "name"), [("de", "German"), ("FR", "French"), ("romanian", "Romanian")])
def test_language_codes_and_names_become_t5_names(value, name):
    assert language_name(value) == name
