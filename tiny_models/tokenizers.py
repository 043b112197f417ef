"""Offline tokenizers for tiny models: the real tokenizer classes over a small vocabulary.

The Hub cannot be reached, so no pretrained vocabulary can be fetched. These builders train
or write a small vocabulary that still covers any input (byte-level BPE covers every byte,
WordPiece and the character SentencePiece model cover every letter), so a tiny model
accepts any prompt and its decoded output is real text. Each builder returns the
tokenizer; when `folder` is given it also saves it there in the Hub layout.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# Words that requests in tests and demos use; enough for BPE merges and WordPiece whole words.
CORPUS: tuple[str, ...] = (
    "a photo of a cat sitting on a table next to a dog",
    "the man rides a horse in the park under a blue sky",
    "what is the total amount due on this invoice",
    "invoice number date total amount due paid dollars",
    "how many people are in the picture two three four five",
    "yes no red green blue white black person car tree house",
    "hello world this is a test of speech recognition",
)

GPT2_SPECIALS = ("<|endoftext|>",)
WHISPER_SPECIALS = (
    "<|startoftranscript|>",
    "<|en|>",
    "<|de|>",
    "<|fr|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
)
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def byte_level_bpe(
    vocab_size: int = 320,
    specials: Sequence[str] = GPT2_SPECIALS,
    corpus: Iterable[str] = CORPUS,
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE vocabulary and merge list trained on `corpus` (specials first).

    The 256 byte symbols are always in the vocabulary, so any text encodes without <unk>.
    """
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=list(specials),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer)
    model = json.loads(tokenizer.to_str())["model"]
    return dict(model["vocab"]), [tuple(pair) for pair in model["merges"]]


def gpt2_tokenizer(folder: Path | None = None, vocab_size: int = 320, **kwargs: Any):
    """GPT-2's byte-level BPE tokenizer; `<|endoftext|>` (id 0) is bos, eos, unk and pad."""
    from transformers import GPT2Tokenizer

    vocab, merges = byte_level_bpe(vocab_size)
    kwargs.setdefault("pad_token", "<|endoftext|>")
    tokenizer = GPT2Tokenizer(vocab=vocab, merges=merges, **kwargs)
    return _saved(tokenizer, folder)


def roberta_tokenizer(folder: Path | None = None, vocab_size: int = 320, **kwargs: Any):
    """RoBERTa's byte-level BPE (<s>, <pad>, </s>, <unk>, <mask> first), as LayoutLM QA repos use.

    `add_prefix_space` defaults to True so that words given one by one (OCR output,
    `is_split_into_words=True`) encode as they would inside a sentence.
    """
    from transformers import RobertaTokenizer

    specials = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
    vocab, merges = byte_level_bpe(vocab_size, specials=specials)
    kwargs.setdefault("add_prefix_space", True)
    tokenizer = RobertaTokenizer(vocab=vocab, merges=merges, **kwargs)
    return _saved(tokenizer, folder)


def whisper_tokenizer(folder: Path | None = None, vocab_size: int = 320):
    """Whisper's tokenizer: byte-level BPE plus the prompt tokens generate() looks up by name.

    `<|endoftext|>` is id 0; the task, language and timestamp tokens follow it in
    WHISPER_SPECIALS order, so their ids are `1 + WHISPER_SPECIALS.index(token)`.
    """
    from transformers import WhisperTokenizer

    vocab, merges = byte_level_bpe(vocab_size, specials=GPT2_SPECIALS + WHISPER_SPECIALS)
    tokenizer = WhisperTokenizer(vocab=vocab, merges=merges, pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(WHISPER_SPECIALS)})
    return _saved(tokenizer, folder)


def clip_tokenizer(
    folder: Path | None = None, vocab_size: int = 400, model_max_length: int = 77, pad_token: str = "<|endoftext|>"
):
    """CLIP's BPE tokenizer (words end in `</w>`), as OWL-ViT, CLIP and Stable Diffusion load it.

    Every byte symbol is in the vocabulary both inside a word and ending one, so any text
    encodes without <unk>. As in CLIP's real vocabulary, `<|startoftext|>` and `<|endoftext|>`
    (also pad) are the last two ids: OWL-ViT treats a query whose first id is 0 as padding,
    and CLIP-style text models may pool at the highest id. As in CLIP's vocabulary, "!" is id 0
    (OWL-ViT's `pad_token`).
    """
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator(list(CORPUS), trainer)
    model = json.loads(bpe.to_str())["model"]
    vocab = dict(model["vocab"])
    for symbol in sorted(alphabet):
        for token in (symbol, f"{symbol}</w>"):
            vocab.setdefault(token, len(vocab))
    for token in ("<|startoftext|>", "<|endoftext|>"):
        vocab[token] = len(vocab)
    merges = [tuple(pair) for pair in model["merges"]]
    tokenizer = CLIPTokenizer(
        vocab=vocab, merges=merges, model_max_length=model_max_length, pad_token=pad_token
    )
    return _saved(tokenizer, folder)


def wordpiece_vocab(corpus: Iterable[str] = CORPUS, lowercase: bool = True) -> dict[str, int]:
    """BERT-style vocabulary: specials, every letter and digit alone and as `##` suffix, whole words.

    Single characters make every word encodable; whole words make common ones one token.
    """
    chars = string.ascii_lowercase + string.digits + string.punctuation
    if not lowercase:
        chars += string.ascii_uppercase
    words = sorted({word for line in corpus for word in line.split()})
    tokens = [*BERT_SPECIALS, *chars, *(f"##{c}" for c in string.ascii_letters + string.digits), *words]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def bert_tokenizer(folder: Path | None = None, lowercase: bool = True, **kwargs: Any):
    """BERT's WordPiece tokenizer (also what ViLT and LayoutLM load through AutoTokenizer)."""
    from transformers import BertTokenizer

    tokenizer = BertTokenizer(vocab=wordpiece_vocab(lowercase=lowercase), do_lower_case=lowercase, **kwargs)
    return _saved(tokenizer, folder)


# T5's SentencePiece model reserves <pad> 0, </s> 1, <unk> 2 and has no BOS (t5's spiece.model, as
# transformers' T5 converter reads it); the 100 <extra_id_N> sentinels are added after it, <extra_id_0> last.
T5_SPECIAL_IDS: dict[str, Any] = {"pad_id": 0, "pad_piece": "<pad>", "eos_id": 1, "eos_piece": "</s>", "unk_id": 2,
                  "unk_piece": "<unk>", "bos_id": -1}
T5_EXTRA_IDS = 100


def train_sentencepiece(
    path: Path, model_type: str = "unigram", corpus: Iterable[str] = CORPUS, vocab_size: int = 300, **options: Any
) -> Path:
    """Train a SentencePiece model file at `path` offline, as the real repos ship them (`spiece.model`,
    `tokenizer.model`, `sentencepiece.bpe.model`, `spm.model`).

    The corpus plus one line of every ASCII letter, digit and punctuation mark, so any English text
    encodes; `options` are the trainer's own (reserved ids and pieces, `byte_fallback`, ...). The size
    is a ceiling: a small corpus yields fewer pieces (`hard_vocab_limit` off).
    """
    import io

    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter([*corpus, string.ascii_letters + string.digits + string.punctuation]),
        model_writer=model,
        model_type=model_type,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
        **options,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return path


def write_tokenizer_files(folder: Path, tokenizer_config: dict[str, Any] | None,
                          special_tokens_map: dict[str, Any] | None = None) -> None:
    """Replace the tokenizer_config.json transformers 5 writes with the repo's own keys (none: no file),
    keeping the `processor_class` a saved processor names there (as transformers 4 wrote it too), and
    write its special_tokens_map.json when it has one."""
    import json

    config = folder / "tokenizer_config.json"
    written = json.loads(config.read_text()) if config.is_file() else {}
    config.unlink(missing_ok=True)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    if tokenizer_config is not None:
        processor = {"processor_class": written["processor_class"]} if "processor_class" in written else {}
        config.write_text(json.dumps({**tokenizer_config, **processor}, indent=2) + "\n")
    if special_tokens_map is not None:
        (folder / "special_tokens_map.json").write_text(json.dumps(special_tokens_map, indent=2) + "\n")


def t5_tokenizer(folder: Path, extra_ids: int = T5_EXTRA_IDS, vocab_size: int = 300):
    """T5's tokenizer as its repos ship it: a Unigram `spiece.model` (nmt_nfkc normalisation,
    <pad> 0, </s> 1, <unk> 2) and the tokenizer.json transformers converts from it, with
    `extra_ids` sentinels after the pieces. Callers write the repo's own tokenizer_config.json."""
    from transformers import T5Tokenizer

    train_sentencepiece(folder / "spiece.model", "unigram", vocab_size=vocab_size, **T5_SPECIAL_IDS)
    tokenizer = T5Tokenizer.from_pretrained(folder, extra_ids=extra_ids)
    return _saved(tokenizer, folder)


def t5_tokenizer_config(tokenizer, model_max_length: int = 512) -> tuple[dict[str, Any], dict[str, Any]]:
    """tokenizer_config.json and special_tokens_map.json as transformers 4 wrote them for a T5 repo
    (flan-t5, pix2struct, instructor): the sentinels listed as additional special tokens."""
    sentinels = [f"<extra_id_{index}>" for index in range(tokenizer.init_kwargs.get("extra_ids", 0))]
    specials = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
                "additional_special_tokens": sentinels}
    config = {**specials, "extra_ids": len(sentinels), "model_max_length": model_max_length,
              "tokenizer_class": "T5Tokenizer", "sp_model_kwargs": {}}
    return config, specials


def sentencepiece_char_model(path: Path, corpus: Iterable[str] = CORPUS, vocab_size: int = 120) -> Path:
    """Train a character-level SentencePiece model file at `path` offline.

    For tokenizers that only load from an `spm.model` file (SpeechT5, Marian, ...).
    Ids: 0 <unk>, 1 <s>, 2 </s> (sentencepiece's defaults), 3 <pad>, then characters.
    """
    return train_sentencepiece(path, "char", corpus, vocab_size, pad_id=3)


def _saved(tokenizer, folder: Path | None):
    if folder is not None:
        tokenizer.save_pretrained(folder)
    return tokenizer
