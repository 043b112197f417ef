"""Offline tokenizers that `tiny.tokenizers` lacks: RoBERTa/BART byte-level BPE, SentencePiece models.

Same idea as `tiny.tokenizers`: the real tokenizer classes over a small vocabulary that
still encodes any text (byte-level BPE has every byte symbol; the SentencePiece models have every
letter of their corpus, which includes a few languages besides English), saved in the Hub layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tiny_models.tokenizers import CORPUS, byte_level_bpe, train_sentencepiece

# Sentences beside the English CORPUS, so multilingual miniatures have their letters in the vocabulary.
MULTILINGUAL_CORPUS: tuple[str, ...] = (
    "je m'appelle Clara et je vis à Montréal, où il fait très froid",
    "el perro está en la mesa y la casa es grande",
    "der Mann fährt mit dem Fahrrad über die Brücke",
    "кошка сидит на столе",
    "我住在北京，今天天气很好。",
    "私は東京に住んでいます",
)

# RoBERTa and BART reserve these ids: <s> 0, <pad> 1, </s> 2, <unk> 3 (configs rely on them).
ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def roberta_tokenizer(folder: Path | None = None, vocab_size: int = 320, cls: str = "RobertaTokenizer"):
    """RoBERTa's tokenizer (BART uses the same vocabulary scheme: pass cls="BartTokenizer")."""
    import transformers

    vocab, merges = byte_level_bpe(vocab_size, specials=ROBERTA_SPECIALS)
    tokenizer = getattr(transformers, cls)(vocab=vocab, merges=merges)
    if folder is not None:
        tokenizer.save_pretrained(folder)
    return tokenizer


# --- SentencePiece tokenizers (XLM-RoBERTa, CamemBERT, DeBERTa-v2/v3) --------------------------
# Those repos ship the SentencePiece model itself (`sentencepiece.bpe.model`, `spm.model`), often
# with no tokenizer.json: transformers converts the .model file when it loads. The miniatures ship
# only the .model and a tokenizer_config.json, so the conversion real repos need is what runs.


def sentencepiece_unigram(
    path: Path, corpus: Iterable[str] = CORPUS + MULTILINGUAL_CORPUS, vocab_size: int = 300, **ids: Any
) -> Path:
    """Train a Unigram SentencePiece model (the kind those repos ship, whatever the file's name says).

    `ids` are sentencepiece trainer options for the reserved pieces (pad_id=0, pad_piece="[PAD]", ...).
    """
    return train_sentencepiece(path, "unigram", corpus, vocab_size, **ids)


def _write_tokenizer_config(folder: Path, **config: Any) -> None:
    config.setdefault("model_max_length", 512)
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


def _load(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def xlm_roberta_tokenizer(folder: Path, tokenizer_class: str = "XLMRobertaTokenizer"):
    """XLM-RoBERTa's tokenizer from `sentencepiece.bpe.model` (CamemBERT: tokenizer_class="CamembertTokenizer").

    The class is named in tokenizer_config.json, as the multilingual sentence-transformers repos
    do for a BERT encoder that reads XLM-R's vocabulary. <s> 0, <pad> 1, </s> 2, <unk> 3 for XLM-R.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sentencepiece_unigram(folder / "sentencepiece.bpe.model")
    specials = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
    _write_tokenizer_config(folder, tokenizer_class=tokenizer_class, **specials)
    return _load(folder)


def deberta_v2_tokenizer(folder: Path):
    """DeBERTa-v3's tokenizer from `spm.model`: [PAD] 0, [CLS] 1, [SEP] 2, [UNK] 3 inside the model,
    [MASK] added after the vocabulary (added_tokens.json), as deberta-v3 and mDeBERTa repos have it."""
    folder.mkdir(parents=True, exist_ok=True)
    model = sentencepiece_unigram(
        folder / "spm.model", pad_id=0, pad_piece="[PAD]", bos_id=1, bos_piece="[CLS]",
        eos_id=2, eos_piece="[SEP]", unk_id=3, unk_piece="[UNK]",
    )
    import sentencepiece

    size = sentencepiece.SentencePieceProcessor(model_file=str(model)).get_piece_size()
    (folder / "added_tokens.json").write_text(json.dumps({"[MASK]": size}) + "\n")
    specials = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]",
                "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
    _write_tokenizer_config(
        folder, tokenizer_class="DebertaV2Tokenizer", do_lower_case=False, split_by_punct=False,
        vocab_type="spm", **specials,
    )
    return _load(folder)
