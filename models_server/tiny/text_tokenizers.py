"""Offline tokenizers that `tiny.tokenizers` lacks: RoBERTa/BART byte-level BPE.

Same idea as `tiny.tokenizers`: the real tokenizer classes over a small vocabulary that
still encodes any text (every byte symbol is in it), saved in the Hub layout.
"""

from __future__ import annotations

from pathlib import Path

from models_server.tiny.tokenizers import byte_level_bpe

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

