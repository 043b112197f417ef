"""Tiny random-weight miniatures of the full tier's NLP models, in each repo's Hub layout.

Every builder uses the real model class with a few narrow layers, and copies from the real repo
what a loader reads (files, labels, T5's task prefixes, special ids, generation settings, key
names of the time), so that a loader cannot tell a miniature from the real repository; each
builder names where its facts come from. Generators' output rows are shaped (`favour_words`) so
that random weights answer words, never blank text.
"""

from __future__ import annotations

from pathlib import Path

from tiny_models import tokenizers as tok
from tiny_models.legacy_keys import resave_with_legacy_names
from tiny_models.text_tokenizers import roberta_tokenizer

# One small shape for every encoder; hidden must divide by the head count.
HIDDEN, LAYERS, HEADS, FFN = 32, 2, 4, 37

SST2_LABELS = ("NEGATIVE", "POSITIVE")
# cardiffnlp/twitter-roberta-base-sentiment really names its classes LABEL_0..2.
TWITTER_LABELS = ("LABEL_0", "LABEL_1", "LABEL_2")
CONLL_LABELS = ("O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

# t5-base's config carries the prompt prefix for each task it was trained on.
T5_TASK_PARAMS = {
    "summarization": {"prefix": "summarize: ", "max_length": 200, "min_length": 30},
    "translation_en_to_de": {"prefix": "translate English to German: ", "max_length": 300},
    "translation_en_to_fr": {"prefix": "translate English to French: ", "max_length": 300},
    "translation_en_to_ro": {"prefix": "translate English to Romanian: ", "max_length": 300},
}


def favour_words(model, tokenizer, norm: float = 30.0) -> None:
    """Output weights under which a printable word always outranks end-of-text, padding and blanks.

    Random weights otherwise open with EOS, padding or a newline as often as with a word, and a
    generator answers empty text. The output rows of special, blank, control and partial-UTF-8
    tokens become zero (logit 0 for any hidden state); each word's row is random of length `norm`,
    so the best of a few hundred random directions scores far above 0. Ties (an output layer shared
    with the input embeddings) keep: the same rows serve both, as in the real repos.
    """
    import torch

    weight = model.get_output_embeddings().weight
    special = set(tokenizer.all_special_ids)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for index in range(weight.shape[0]):
            text = tokenizer.decode([index]) if index < len(tokenizer) and index not in special else ""
            if text.strip() and text.isprintable() and "\ufffd" not in text:
                row = torch.randn(weight.shape[1], generator=generator)
                weight[index] = (row * norm / row.norm()).to(weight.dtype)
            else:
                weight[index] = 0


def _labels(names: tuple[str, ...]) -> dict:
    return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def _bert_config(vocab_size: int, **extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=FFN, max_position_embeddings=512, **extra,
    )


def _roberta_config(vocab_size: int, **extra):
    from transformers import RobertaConfig

    return RobertaConfig(
        vocab_size=vocab_size, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=FFN, max_position_embeddings=514,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, **extra,
    )


def _distilbert_config(vocab_size: int, **extra):
    from transformers import DistilBertConfig

    return DistilBertConfig(
        vocab_size=vocab_size, dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN,
        max_position_embeddings=512, **extra,
    )


def _distilbert_tokenizer(folder: Path, lowercase: bool):
    from transformers import DistilBertTokenizer

    tokenizer = DistilBertTokenizer(vocab=tok.wordpiece_vocab(lowercase=lowercase), do_lower_case=lowercase)
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_roberta_squad(folder: Path) -> None:
    """deepset/roberta-base-squad2: RobertaForQuestionAnswering, 514 positions (512 tokens after the
    padding offset), byte-level BPE with <s> <pad> </s> <unk> at ids 0-3 (its config.json and
    model card; transformers' convert_roberta_original_pytorch_checkpoint_to_pytorch.py)."""
    from transformers import RobertaForQuestionAnswering

    tokenizer = roberta_tokenizer(folder)
    RobertaForQuestionAnswering(_roberta_config(len(tokenizer))).save_pretrained(folder)


def build_distilbert_squad(folder: Path) -> None:
    """distilbert-base-cased-distilled-squad: DistilBertForQuestionAnswering, cased WordPiece
    (do_lower_case false), no segment ids in the model's inputs (its config.json and
    tokenizer_config.json; the model card)."""
    from transformers import DistilBertForQuestionAnswering

    tokenizer = _distilbert_tokenizer(folder, lowercase=False)
    DistilBertForQuestionAnswering(_distilbert_config(len(tokenizer))).save_pretrained(folder)


def build_distilbert_sst2(folder: Path) -> None:
    """distilbert-base-uncased-finetuned-sst-2-english: DistilBertForSequenceClassification with
    id2label NEGATIVE/POSITIVE, uncased WordPiece (its config.json; the model card)."""
    from transformers import DistilBertForSequenceClassification

    tokenizer = _distilbert_tokenizer(folder, lowercase=True)
    config = _distilbert_config(len(tokenizer), **_labels(SST2_LABELS))
    DistilBertForSequenceClassification(config).save_pretrained(folder)


def build_twitter_roberta(folder: Path) -> None:
    """cardiffnlp/twitter-roberta-base-sentiment (2020) and the other RoBERTa sentiment rows:
    three-way sentiment, labels LABEL_0..2 (no names in its config.json; its model card maps them
    to negative, neutral, positive). The tokenizer is the pre-tokenizer.json kind, vocab.json and
    merges.txt only: with no tokenizer_config.json nothing sets `model_max_length`, the variant
    that lets a long text past RoBERTa's 512 positions unless the loader caps it."""
    import json

    from transformers import RobertaForSequenceClassification

    tokenizer = roberta_tokenizer()
    folder.mkdir(parents=True, exist_ok=True)
    vocab = tokenizer.get_vocab()
    (folder / "vocab.json").write_text(json.dumps(dict(sorted(vocab.items(), key=lambda item: item[1]))))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in _merges(tokenizer)))
    config = _roberta_config(len(tokenizer), **_labels(TWITTER_LABELS))
    RobertaForSequenceClassification(config).save_pretrained(folder)


def _merges(tokenizer) -> list[tuple[str, str]]:
    """A byte-level BPE tokenizer's merge list, as merges.txt holds it."""
    import json

    return [tuple(pair) for pair in json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]]


def build_bert_ner(folder: Path) -> None:
    """dslim/bert-base-NER (and bert-large-NER, Davlan's, felflare's): cased BERT tagging CoNLL-2003
    entities in its config's order O, B-MISC, I-MISC, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC (the
    model card's table). The BERT family's legacy variant: a pytorch_model.bin with TensorFlow
    BERT's `LayerNorm.gamma`/`.beta` names (transformers' conversion_mapping.py "legacy")."""
    from transformers import BertForTokenClassification

    tokenizer = tok.bert_tokenizer(lowercase=False)
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(folder)
    config = _bert_config(len(tokenizer), **_labels(CONLL_LABELS))
    BertForTokenClassification(config).save_pretrained(folder)
    resave_with_legacy_names(folder)


def build_bart_cnn(folder: Path) -> None:
    """facebook/bart-large-cnn: BART with tied embeddings, </s> starting the decoder, <s> forced
    first and </s> last, and the CNN/DailyMail decoding of fairseq's BART evaluation (beam 4,
    length penalty 2.0, 56 to 142 tokens, no repeated trigram; fairseq examples/bart/README.md,
    the repo's config.json and generation_config.json)."""
    from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig

    tokenizer = roberta_tokenizer(folder, cls="BartTokenizer")
    config = BartConfig(
        vocab_size=len(tokenizer), d_model=HIDDEN, encoder_layers=LAYERS, decoder_layers=LAYERS,
        encoder_attention_heads=HEADS, decoder_attention_heads=HEADS, encoder_ffn_dim=FFN,
        decoder_ffn_dim=FFN, max_position_embeddings=1024,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
        forced_bos_token_id=0, forced_eos_token_id=2,
    )
    model = BartForConditionalGeneration(config)
    favour_words(model, tokenizer)
    model.generation_config = GenerationConfig(
        bos_token_id=0, eos_token_id=2, pad_token_id=1, decoder_start_token_id=2,
        forced_bos_token_id=0, forced_eos_token_id=2, num_beams=4, length_penalty=2.0, min_length=56,
        max_length=142, no_repeat_ngram_size=3, early_stopping=True,
    )
    model.save_pretrained(folder)


def _t5(folder: Path, gated: bool, task_params: dict | None, tokenizer_files: bool) -> None:
    """`tokenizer_files`: the repo has tokenizer_config.json and special_tokens_map.json beside
    spiece.model and tokenizer.json (flan-t5); t5-base has neither."""
    from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration

    tokenizer = tok.t5_tokenizer(folder)
    tok.write_tokenizer_files(folder, *(tok.t5_tokenizer_config(tokenizer) if tokenizer_files else (None, None)))
    config = T5Config(
        vocab_size=-(-len(tokenizer) // 128) * 128, d_model=HIDDEN, d_kv=HIDDEN // HEADS, d_ff=FFN, num_layers=LAYERS,
        num_heads=HEADS, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        feed_forward_proj="gated-gelu" if gated else "relu", tie_word_embeddings=not gated,
        task_specific_params=task_params, n_positions=512,
    )
    model = T5ForConditionalGeneration(config)
    favour_words(model, tokenizer)
    model.generation_config = GenerationConfig(
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    model.save_pretrained(folder)


def build_t5_base(folder: Path) -> None:
    """t5-base: the original T5 (ReLU feed-forward, tied embeddings) with its task prefixes in the
    config; the embedding has more rows than the tokenizer has tokens (32128 for 32100: rounded up
    to a multiple of 128), and the pad id starts the decoder (the repo's config.json and
    generation_config.json; transformers' convert_t5_original_tf_checkpoint_to_pytorch.py). Its
    tokenizer is spiece.model and tokenizer.json alone, no tokenizer_config.json (the repo's file
    list; T5's SentencePiece ids from transformers' T5Converter and T5Tokenizer), so nothing
    sets model_max_length but config.json's legacy `n_positions` 512 (kept in both T5 configs)."""
    _t5(folder, gated=False, task_params=T5_TASK_PARAMS, tokenizer_files=False)


def build_flan_t5(folder: Path) -> None:
    """google/flan-t5-base: T5 v1.1 (gated-GELU, untied output embeddings), whose config.json
    still carries t5's task prefixes; the same 32128-row embedding (the repo's config.json). Its
    tokenizer: spiece.model, tokenizer.json, special_tokens_map.json and a tokenizer_config.json
    naming T5Tokenizer with 100 extra ids and model_max_length 512 (the repo's file list and
    tokenizer_config.json)."""
    _t5(folder, gated=True, task_params=T5_TASK_PARAMS, tokenizer_files=True)


def build_gpt2(folder: Path) -> None:
    """gpt2: GPT2LMHeadModel whose weights are saved as OpenAI's conversion wrote them, the base
    model's keys without the `transformer.` prefix and no `lm_head` (tied to `wte`), which
    transformers maps onto the LM head when loading; config.json's task_specific_params for
    text-generation; `<|endoftext|>` (id 0 here) is bos and eos (the repo's model.safetensors
    key names, config.json and generation_config.json; convert_gpt2_original_tf_checkpoint_to_pytorch.py)."""
    from safetensors.torch import load_file, save_file
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel

    tokenizer = tok.gpt2_tokenizer(folder)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=1024, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS,
        bos_token_id=0, eos_token_id=0,
        task_specific_params={"text-generation": {"do_sample": True, "max_length": 50}},
    )
    model = GPT2LMHeadModel(config)
    favour_words(model, tokenizer)
    model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=0)
    model.save_pretrained(folder)
    weights = folder / "model.safetensors"
    state = {key.removeprefix("transformer."): tensor for key, tensor in load_file(weights).items()
             if not key.startswith("lm_head.")}
    save_file(state, weights, metadata={"format": "pt"})
