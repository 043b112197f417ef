"""A repo's tokenizer files: which tokenizer a folder holds, and what reading it needs here.

Repos ship a SentencePiece model (T5's `spiece.model`, Llama's `tokenizer.model`, XLM-R's and
Donut's `sentencepiece.bpe.model`, DeBERTa-v3's `spm.model`), most of them with the
`tokenizer.json` converted from it beside it. Without a tokenizer.json transformers converts the
model when it loads, which needs the sentencepiece and protobuf packages; and for a model type
that transformers maps to its generic tokenizer (Pix2Struct), only the class the repo's
tokenizer_config.json names can read the SentencePiece file. Nothing here imports transformers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models_server.tasks.libraries import importable
from models_server.tasks.loading import CannotRun

# The SentencePiece file names the tokenizer classes read (their VOCAB_FILES_NAMES in transformers).
SENTENCEPIECE_FILES = ("spiece.model", "tokenizer.model", "sentencepiece.bpe.model", "spm.model",
                       "sentencepiece.model")
# What converting a SentencePiece model needs: the model's reader and its protobuf schema.
CONVERSION_MODULES = {"sentencepiece": "sentencepiece", "google.protobuf": "protobuf"}
# Tokenizer classes that read their SentencePiece model through sentencepiece every time they load,
# with no tokenizer.json (transformers' SentencePieceBackend classes), as tokenizer_config.json names them.
SENTENCEPIECE_READERS = frozenset({"SpeechT5Tokenizer", "SiglipTokenizer", "BertGenerationTokenizer",
                                   "PLBartTokenizer", "BartphoTokenizer", "GPTSw3Tokenizer"})


def sentencepiece_file(folder: Path) -> Path | None:
    """The folder's SentencePiece model when it has no tokenizer.json to read instead, else None."""
    if (folder / "tokenizer.json").is_file():
        return None
    return next((folder / name for name in SENTENCEPIECE_FILES if (folder / name).is_file()), None)


def _tokenizer_class(folder: Path) -> str:
    path = folder / "tokenizer_config.json"
    try:
        config = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return ""
    return str(config.get("tokenizer_class") or "").removesuffix("Fast") if isinstance(config, dict) else ""


def conversion_refusal(folder: Path) -> CannotRun | None:
    """Why the folder's tokenizer cannot be read here: a SentencePiece model with no tokenizer.json,
    and a package its conversion needs not installed; or a tokenizer class that always reads its
    model through sentencepiece, not installed. Found without importing anything."""
    name = _tokenizer_class(folder)
    if name in SENTENCEPIECE_READERS and not importable("sentencepiece"):
        return CannotRun(f"its tokenizer ({name}) reads a SentencePiece model through sentencepiece, "
                         "which is not installed", "pip install sentencepiece")
    model = sentencepiece_file(folder)
    if model is None:
        return None
    missing = [package for module, package in CONVERSION_MODULES.items() if not importable(module)]
    if not missing:
        return None
    return CannotRun(
        f"its tokenizer is the SentencePiece model {model.name} with no tokenizer.json, and converting it "
        f"needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed",
        f"pip install {' '.join(missing)}",
    )


def named_tokenizer(folder: Path) -> Any | None:
    """The tokenizer class tokenizer_config.json names, loaded from the folder's SentencePiece model,
    when there is no tokenizer.json; None when the folder has one (or names no such class).

    For processors whose model type transformers maps to its generic tokenizer, which reads
    tokenizer.json only (a Pix2Struct repo with spiece.model alone)."""
    if sentencepiece_file(folder) is None:
        return None
    name = _tokenizer_class(folder)
    import transformers

    tokenizer_class = getattr(transformers, name, None) if name else None
    if tokenizer_class is None:
        return None
    return tokenizer_class.from_pretrained(folder, local_files_only=True)
