"""The SentencePiece families' stand-ins ship the tokenizer files their real repos ship, and every
variant a repo may come in (with tokenizer.json, or the SentencePiece model alone) answers alike.

A loader that reads tokenizer.json only would pass on stand-ins that ship nothing else; the real
repos ship a SentencePiece model (and older snapshots that alone), which transformers converts
when it loads, with the sentencepiece and protobuf packages.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from support.serving import PHOTO_REF, tiny_settings

from models_server.catalog import catalog_rows
from models_server.check import Verdict, check_models
from models_server.http.app import create_app
from models_server.runtime import Runtime
from models_server.tasks.transformers.tokenizer_files import named_tokenizer

T5_FILES = {"spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
DONUT_FILES = {"sentencepiece.bpe.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
               "added_tokens.json"}
DEBERTA_FILES = {"spm.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"}
# repo: (the tokenizer files its real repo ships, those it does not)
REPO_FILES: dict[str, tuple[set[str], set[str]]] = {
    "t5-base": ({"spiece.model", "tokenizer.json"}, {"tokenizer_config.json", "special_tokens_map.json"}),
    "google/flan-t5-base": (T5_FILES, set()),
    "hkunlp/instructor-large": (T5_FILES, set()),
    "google/pix2struct-base": (T5_FILES, set()),
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": (
        {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}, set()),
    "naver-clova-ix/donut-base": (DONUT_FILES, set()),
    "naver-clova-ix/donut-base-finetuned-docvqa": (DONUT_FILES, set()),
    "ivelin/donut-refexp-combined-v1": (DONUT_FILES, set()),
    "deepset/deberta-v3-large-squad2": (DEBERTA_FILES, {"tokenizer.json"}),
    "timpal0l/mdeberta-v3-base-squad2": (DEBERTA_FILES, {"tokenizer.json"}),
}
# SentencePiece file: its first pieces, as the real models reserve them (T5 and Donut/XLM-R have no
# padding or BOS piece where the other ids are; Llama's byte pieces follow its three specials).
RESERVED_PIECES = {
    "spiece.model": ("<pad>", "</s>", "<unk>"),
    "tokenizer.model": ("<unk>", "<s>", "</s>", "<0x00>"),
    "sentencepiece.bpe.model": ("<unk>", "<s>", "</s>"),
    "spm.model": ("[PAD]", "[CLS]", "[SEP]", "[UNK]"),
}
TEXTS = ("Hello world, the cat sits on the table.", "Le café est très bon à Montréal", "東京 12345 ok?!")


def sentencepiece_model(folder: Path) -> Path:
    (model,) = [folder / name for name in RESERVED_PIECES if (folder / name).is_file()]
    return model


@pytest.mark.parametrize("repo", sorted(REPO_FILES))
def test_a_stand_in_ships_the_tokenizer_files_of_its_repo(tiny_root: Path, repo: str):
    import sentencepiece

    shipped, absent = REPO_FILES[repo]
    names = {path.name for path in (tiny_root / repo).iterdir()}
    assert shipped <= names and not absent & names, sorted(names)
    model = sentencepiece_model(tiny_root / repo)
    processor = sentencepiece.SentencePieceProcessor(model_file=str(model))
    reserved = RESERVED_PIECES[model.name]
    assert tuple(processor.id_to_piece(index) for index in range(len(reserved))) == reserved
    assert processor.get_piece_size() >= 100  # a real vocabulary, not the specials alone


@pytest.mark.parametrize("repo", ["t5-base", "google/flan-t5-base", "google/pix2struct-base"])
def test_t5_sentinels_follow_the_pieces_with_the_first_last(tiny_root: Path, repo: str):
    """T5 adds 100 <extra_id_N> after its SentencePiece pieces, <extra_id_0> the highest id."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_root / repo)
    ids = [tokenizer.convert_tokens_to_ids(f"<extra_id_{index}>") for index in range(100)]
    assert ids == list(range(len(tokenizer) - 1, len(tokenizer) - 101, -1))
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)


def test_t5_base_with_no_tokenizer_config_reads_no_more_than_its_trained_length(tiny_root: Path):
    """t5-base's repo sets no model_max_length: its config's `n_positions` (512) caps what the encoder
    reads, not a text's whole length at quadratic attention cost."""
    import torch

    from models_server.tasks.loading import LoadContext

    (row,) = rows_of(["t5-base"])
    model = row.loader(LoadContext(row.id, (tiny_root / row.id,), "cpu", torch.float32))
    inputs, _ = model.encode("the cat sat on the table " * 400, truncation=True)
    assert inputs["input_ids"].shape[-1] == 512


@pytest.mark.parametrize("repo", ["deepset/deberta-v3-large-squad2", "timpal0l/mdeberta-v3-base-squad2"])
def test_deberta_v3_stand_ins_keep_its_relative_attention_settings(tiny_root: Path, repo: str):
    """microsoft/deberta-v3-base's config.json, which its squad2 fine-tunes keep."""
    import json

    config = json.loads((tiny_root / repo / "config.json").read_text())
    expected = {"relative_attention": True, "position_buckets": 256, "max_relative_positions": -1,
                "pos_att_type": ["p2c", "c2p"], "norm_rel_ebd": "layer_norm", "position_biased_input": False}
    assert {key: config.get(key) for key in expected} == expected


# --- the variant without tokenizer.json --------------------------------------------------------

QUESTION = "What is in the picture?"
# One row per family that ships tokenizer.json, and what to ask it.
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "t5-base": ("/models/t5-base", {"text": "Le café est très bon. The house is wonderful.", "max_new_tokens": 6}),
    "google/flan-t5-base": ("/models/google/flan-t5-base", {"text": "What is the capital of France?",
                                                            "max_new_tokens": 6}),
    "hkunlp/instructor-large": ("/models/hkunlp/instructor-large", {
        "source_sentence": "a cat on a table", "sentences": ["a dog in the park", "東京 is big"]}),
    "google/pix2struct-base": ("/models/google/pix2struct-base", {"img_url": PHOTO_REF}),
    "naver-clova-ix/donut-base": ("/models/naver-clova-ix/donut-base", {"img_url": PHOTO_REF}),
    "naver-clova-ix/donut-base-finetuned-docvqa": ("/models/naver-clova-ix/donut-base-finetuned-docvqa",
                                                   {"img_url": PHOTO_REF, "text": QUESTION}),
    "ivelin/donut-refexp-combined-v1": ("/models/ivelin/donut-refexp-combined-v1",
                                        {"img_url": PHOTO_REF, "text": QUESTION}),
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": ("/v1/chat/completions", {
        "model": "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "temperature": 0, "max_tokens": 8,
        "messages": [{"role": "user", "content": "Hello world, the cat sits on the table. 東京"}]}),
}


def rows_of(repos: list[str]) -> list[Any]:
    return [row for row in catalog_rows() if row.id in repos]


def answer(client: Any, path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    return [choice["message"] for choice in result["choices"]] if path.startswith("/v1/") else result


@pytest.fixture(scope="module")
def sentencepiece_only_root(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copies of the stand-ins with their tokenizer.json removed, as older snapshots of the repos are."""
    root = tmp_path_factory.mktemp("sentencepiece-only")
    for repo in REQUESTS:
        shutil.copytree(tiny_root / repo, root / repo)
        (root / repo / "tokenizer.json").unlink()
    return root


@pytest.mark.parametrize("repo", sorted(REQUESTS))
def test_the_tokenizer_json_agrees_with_the_sentencepiece_model(tiny_root, sentencepiece_only_root, repo):
    from transformers import AutoTokenizer

    shipped = AutoTokenizer.from_pretrained(tiny_root / repo)
    # as the loaders read it: the class tokenizer_config.json names (Pix2Struct's T5Tokenizer) where
    # transformers would take its generic tokenizer, which reads tokenizer.json only
    converted = named_tokenizer(sentencepiece_only_root / repo) or AutoTokenizer.from_pretrained(
        sentencepiece_only_root / repo)
    for text in TEXTS:
        assert converted(text).input_ids == shipped(text).input_ids, text


@pytest.mark.slow
@pytest.mark.parametrize("repo", sorted(REQUESTS))
def test_a_repo_with_the_sentencepiece_model_alone_answers_as_with_tokenizer_json(
    served, public_dir, sentencepiece_only_root, repo
):
    """The same weights, tokenized from the converted SentencePiece model: the same answer."""
    path, body = REQUESTS[repo]
    settings = tiny_settings(sentencepiece_only_root, public_dir)
    runtime = Runtime(settings, rows_of([repo]))
    runtime.load_all()
    converted = answer(create_app(settings, runtime).test_client(), path, body)
    assert converted == answer(served.app.test_client(), path, body)


# --- sentencepiece or protobuf not installed ----------------------------------------------------


@pytest.mark.parametrize("package", ["sentencepiece", "google.protobuf"])
def test_a_row_that_must_convert_a_sentencepiece_model_is_failed_without_its_packages(
    tiny_root, public_dir, monkeypatch, package
):
    """DeBERTa-v3's repos ship spm.model alone: without sentencepiece or protobuf their tokenizer
    cannot be built, so they are failed from the start with the fix (preloaded or lazy), in
    `/status` and in `check`; a repo with tokenizer.json beside its model (t5-base) still runs."""
    import dataclasses

    from models_server.tasks.transformers import tokenizer_files

    # only our check is told the package is missing: transformers caches what it finds for the whole
    # session (tests/e2e/test_tokenizer_packages.py removes the package for real, in a child process)
    importable = tokenizer_files.importable
    monkeypatch.setattr(tokenizer_files, "importable", lambda module: module != package and importable(module))
    deberta, t5 = rows_of(["deepset/deberta-v3-large-squad2"]) + rows_of(["t5-base"])
    settings = tiny_settings(tiny_root, public_dir)
    pip_name = "protobuf" if package == "google.protobuf" else package
    for preload in (True, False):
        rows = [dataclasses.replace(deberta, preload=preload), dataclasses.replace(t5, preload=False)]
        runtime = Runtime(settings, rows)
        failed = runtime.view(deberta.id)
        assert failed.state.value == "failed", failed
        assert "spm.model" in (failed.reason or "") and f"fix: pip install {pip_name}" in (failed.reason or "")
        assert runtime.view(t5.id).state.value == "not_loaded"
    result, fine = check_models([deberta, t5], settings)
    assert result.verdict is Verdict.FAIL and result.fixes == [f"pip install {pip_name}"]
    assert fine.verdict is not Verdict.FAIL


def test_the_classes_named_as_sentencepiece_readers_are_the_librarys():
    """SENTENCEPIECE_READERS names transformers' classes that always read their model through sentencepiece."""
    import transformers
    from transformers.tokenization_utils_sentencepiece import SentencePieceBackend

    from models_server.tasks.transformers.tokenizer_files import SENTENCEPIECE_READERS

    assert all(issubclass(getattr(transformers, name), SentencePieceBackend) for name in SENTENCEPIECE_READERS)
