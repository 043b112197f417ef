"""Tiny embedding models trained (in their real form) so that a prefix of each embedding is an
embedding too (Matryoshka), laid out as their Hub repos publish them.

mixedbread-ai/mxbai-embed-large-v1, the file by file facts this builder keeps (read from the
repo's published files; the Matryoshka training from its model card):
- `config.json`: a `BertModel` (model_type "bert", type_vocab_size 2, 512 positions) reading
  bert-base-uncased's lowercased WordPiece vocabulary (`vocab.txt`, `tokenizer_config.json`).
- `modules.json`: two modules, `sentence_transformers.models.Transformer` at the top folder and
  `sentence_transformers.models.Pooling` in `1_Pooling`; no Normalize module (its vectors are
  not unit length).
- `1_Pooling/config.json`: the CLS token's vector (`pooling_mode_cls_token` true, the others false).
- `sentence_bert_config.json`: max_seq_length 512, do_lower_case false.
- `config_sentence_transformers.json`: the retrieval prompt "Represent this sentence for searching
  relevant passages: " under `query`, an empty `passage` prompt, no default prompt.
The miniature keeps all of that at the tiny text width (tiny_models.text.HIDDEN).
"""

from __future__ import annotations

import json
from pathlib import Path

from tiny_models.text_encoders import _encoder, _sentence_transformer, _wordpiece

MXBAI_PROMPTS = {"query": "Represent this sentence for searching relevant passages: ", "passage": ""}


def build_st_bert_cls_prompts(folder: Path) -> None:
    """mixedbread-ai/mxbai-embed-large-v1: BERT, CLS pooling, unnormalised, a query prompt."""
    _sentence_transformer(folder, _encoder("bert", lambda target: _wordpiece(target, lowercase=True),
                                           type_vocab_size=2), "cls_token", 512)
    settings = folder / "config_sentence_transformers.json"
    published = json.loads(settings.read_text())
    published.update(prompts=MXBAI_PROMPTS, default_prompt_name=None)
    settings.write_text(json.dumps(published, indent=2))
