"""Tiny random-weight miniatures of the speech recognisers (Hub classes and files).

The feature extractors keep their real settings (16 kHz, Whisper's 80 mel bins over 30 s):
they hold no weights, and the real ones are what the loaders must cope with.

Random weights left alone transcribe nothing: a decoder's first choice is as likely to be its
end token as a word, and a CTC head's blank (or word separator) may win every frame. So each
miniature's output layer is shaped (`words_outrank`, `_ctc_blanks_lose`) so that an ordinary
token always outranks end, padding, blank, special, timestamp and whitespace tokens: on any
input the transcript is a non-empty word salad, and the controller's ASR -> text chains run on
the offline demo. Their generation configs stay the real repos'.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tiny_models.legacy_keys import resave_with_legacy_names
from tiny_models.tokenizers import CORPUS, byte_level_bpe

_ENCODER_DECODER = {
    "d_model": 32, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
    "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32,
}
# How far below the ordinary tokens' logits the unwanted ones are pushed (see words_outrank).
_MARGIN = 20.0


def words_outrank(embeddings: Any, final_norm: Any, unwanted: Iterable[int], seed: int = 0) -> None:
    """Shape a tied output layer so no `unwanted` token ever wins against the ordinary ones.

    Along one random unit direction u, every row of the embedding (shared with the output layer)
    is made orthogonal to u, then the unwanted rows moved to -u; the last LayerNorm's bias gets
    `_MARGIN` * u. A logit is row . (n + MARGIN u) for the normalised state n (|n| = sqrt(width)
    with the norm's unit gain): an ordinary token's is its random part, unchanged in spread; an
    unwanted one's at most about sqrt(width) - MARGIN, whatever the input.
    """
    import torch

    rows = sorted(set(unwanted))
    with torch.no_grad():
        direction = torch.randn(embeddings.shape[1], generator=torch.Generator().manual_seed(seed))
        direction /= direction.norm()
        embeddings -= torch.outer(embeddings @ direction, direction)
        embeddings[rows] -= direction
        final_norm.bias += _MARGIN * direction


def save_processor(processor: Any, folder: Path, *, typed: bool = True, extra: dict[str, Any] | None = None) -> None:
    """A processor in the files the Hub's repos hold: `preprocessor_config.json` (the feature
    extractor's settings, plus `extra`) and the tokenizer's own files, never transformers 5's
    combined `processor_config.json`, which no real repo of these families has.

    `typed` names the classes (`processor_class`, `feature_extractor_type`, `tokenizer_class`), as
    repos written since 2022 do; untyped is the 2021 layout (facebook/wav2vec2-base-960h), where
    transformers finds every class from config.json's model_type alone.
    """
    processor.feature_extractor.save_pretrained(folder)
    processor.tokenizer.save_pretrained(folder)
    path = folder / "preprocessor_config.json"
    settings = {**json.loads(path.read_text()), **(extra or {})}
    tokenizer_path = folder / "tokenizer_config.json"
    tokenizer_settings = json.loads(tokenizer_path.read_text())
    if typed:
        settings["processor_class"] = type(processor).__name__
    else:
        settings.pop("feature_extractor_type", None)
        tokenizer_settings.pop("tokenizer_class", None)
        tokenizer_settings.pop("processor_class", None)
    path.write_text(json.dumps(settings, indent=2, sort_keys=True))
    tokenizer_path.write_text(json.dumps(tokenizer_settings, indent=2, sort_keys=True))


def _whisper_tokenizer(languages: int = 8) -> tuple[Any, list[str]]:
    """Whisper's multilingual layout (transformers' convert_openai_to_hf.py): byte-level BPE, then
    `<|endoftext|>` (bos, eos, pad and unk), `<|startoftranscript|>`, the language tokens in
    LANGUAGES order, the six control tokens ending in `<|notimestamps|>` (the last special id,
    which the tokenizer's timestamp decoding counts from), then the 1501 timestamp tokens
    `<|0.00|>` ... `<|30.00|>` as ordinary added tokens. The vocabulary and the languages are cut
    down, the order kept. Returns the tokenizer and its language tokens."""
    from transformers import WhisperTokenizer
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    vocab, merges = byte_level_bpe(320, specials=())
    end = "<|endoftext|>"
    tokenizer = WhisperTokenizer(vocab=vocab, merges=merges, unk_token=end, bos_token=end, eos_token=end, pad_token=end)
    language_tokens = [f"<|{code}|>" for code in list(LANGUAGES)[:languages]]
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|startoftranscript|>", *language_tokens,
                                                                *WHISPER_CONTROLS]})
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    tokenizer.set_prefix_tokens()  # the post-processor's prefix now names the tokens just added
    return tokenizer, language_tokens


WHISPER_CONTROLS = ("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                    "<|notimestamps|>")
# openai/whisper's tokenizer.py `non_speech_tokens`: symbols Whisper never writes (its generation
# config's suppress_tokens hold these, with and without a leading space, and " -", " '").
_NON_SPEECH = '"#()*+/:;<=>@[\\]^_`{|}~'


def _is_word(text: str) -> bool:
    return any(char.isalnum() and char.isascii() for char in text)


def build_whisper(folder: Path) -> None:
    """openai/whisper-{tiny,base,medium,large,large-v2}: WhisperForConditionalGeneration (output
    projection tied to the token embedding) + WhisperProcessor, in the multilingual token layout
    of `_whisper_tokenizer`; config.json and generation_config.json with the real repos' ids by
    role: bos = eos = pad = `<|endoftext|>`, decoder start `<|startoftranscript|>`,
    forced_decoder_ids [[1, None], [2, <|transcribe|>]] (language detected), begin_suppress_tokens
    [" ", eos], suppress_tokens the non-speech symbols and control tokens, lang_to_id, task_to_id,
    no_timestamps_token_id, prev_sot_token_id, max_initial_timestamp_index 50, alignment_heads
    (sources: transformers' convert_openai_to_hf.py, which copies the generation config from these
    repos; generation_whisper.py, which reads forced_decoder_ids and prev_sot_token_id; the
    openai/whisper-base generation_config.json values quoted in Whisper's transformers docs)."""
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    tokenizer, languages = _whisper_tokenizer()
    ids = tokenizer.get_vocab()
    end, start = tokenizer.eos_token_id, ids["<|startoftranscript|>"]
    controls = {token: ids[token] for token in WHISPER_CONTROLS}
    space = ids["\u0120"]
    symbols = [ids[token] for char in _NON_SPEECH for token in (char, "\u0120" + char) if token in ids]
    symbols += [ids[token] for token in ("\u0120-", "\u0120'") if token in ids]
    suppress = sorted({*symbols, start, *(controls[token] for token in WHISPER_CONTROLS[:-1])})
    config = WhisperConfig(
        **_ENCODER_DECODER, vocab_size=len(tokenizer), num_mel_bins=80, max_source_positions=1500,
        max_target_positions=64, decoder_start_token_id=start, bos_token_id=end, eos_token_id=end, pad_token_id=end,
        suppress_tokens=suppress, begin_suppress_tokens=[space, end],
    )
    model = WhisperForConditionalGeneration(config)
    generation = model.generation_config
    generation.decoder_start_token_id = start
    generation.bos_token_id = generation.eos_token_id = generation.pad_token_id = end
    generation.forced_decoder_ids = [[1, None], [2, controls["<|transcribe|>"]]]
    generation.suppress_tokens, generation.begin_suppress_tokens = suppress, [space, end]
    generation.is_multilingual = True
    generation.lang_to_id = {token: ids[token] for token in languages}
    generation.task_to_id = {"transcribe": controls["<|transcribe|>"], "translate": controls["<|translate|>"]}
    generation.no_timestamps_token_id = controls["<|notimestamps|>"]
    generation.prev_sot_token_id = controls["<|startofprev|>"]
    generation.max_initial_timestamp_index = 50
    generation.alignment_heads = [[0, 0], [0, 1]]
    generation.return_timestamps = False
    generation.max_length = 24  # the real 448 is max_target_positions; short random transcripts keep tests quick
    generation._from_model_config = False  # else loading rebuilds it from config.json, losing the ids
    text = [i for token, i in ids.items() if i < end and _is_word(tokenizer.convert_tokens_to_string([token]))]
    words_outrank(model.model.decoder.embed_tokens.weight, model.model.decoder.layer_norm,
                  sorted(set(range(len(tokenizer))) - set(text)))
    model.save_pretrained(folder)
    features = WhisperFeatureExtractor(feature_size=80)
    # the real preprocessor_config.json also lists the mel filter bank (written before transformers computed it)
    save_processor(WhisperProcessor(feature_extractor=features, tokenizer=tokenizer), folder,
                   extra={"mel_filters": features.mel_filters.tolist()})


# facebook/wav2vec2-base-960h's and -large-960h-lv60-self's vocab.json: the four specials, the word
# separator, then LibriSpeech's upper-case letters by frequency (and the apostrophe).
LIBRISPEECH_SYMBOLS = ("<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ")


def ctc_tokenizer(folder: Path, symbols: Iterable[str]):
    """Wav2Vec2CTCTokenizer over `symbols` (vocab.json in their order; `|` separates words,
    upper case kept: the real repos' tokenizer_config says do_lower_case false)."""
    from transformers import Wav2Vec2CTCTokenizer

    vocab_file = folder / "vocab.json"
    vocab_file.write_text(json.dumps({symbol: i for i, symbol in enumerate(symbols)}))
    return Wav2Vec2CTCTokenizer(str(vocab_file), word_delimiter_token="|", do_lower_case=False)


def ctc_blanks_lose(model: Any, tokenizer: Any) -> None:
    """Lower the CTC head's bias for the blank (pad), the other specials and the word separator,
    which decode to nothing, so a letter wins every frame (the head's logits are the product of
    a layer-normed state and 0.02-scale weights: well under `_MARGIN`)."""
    import torch

    silent = {*tokenizer.all_special_ids, tokenizer.convert_tokens_to_ids(tokenizer.word_delimiter_token)}
    with torch.no_grad():
        model.lm_head.bias[sorted(silent)] -= _MARGIN


def build_wav2vec2(folder: Path) -> None:
    """facebook/wav2vec2-base-960h: Wav2Vec2ForCTC (group-norm CNN, post-norm transformer) +
    Wav2Vec2Processor (normalising feature extractor without attention mask, as base models are fed)
    over LIBRISPEECH_SYMBOLS, in a pytorch_model.bin with the positional convolution's weight norm as
    `weight_g`/`weight_v`, as the 2021 repo holds it (sources: transformers'
    convert_wav2vec2_original_pytorch_checkpoint_to_pytorch.py: vocab from fairseq's letter
    dictionary, do_lower_case false, do_normalize true, return_attention_mask only for layer-norm
    models; the repo's vocab.json as public code copies it)."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC, Wav2Vec2Processor

    tokenizer = ctc_tokenizer(folder, LIBRISPEECH_SYMBOLS)
    features = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 8), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, vocab_size=len(LIBRISPEECH_SYMBOLS), pad_token_id=0,
        feat_extract_norm="group", do_stable_layer_norm=False, ctc_loss_reduction="sum",
    )
    model = Wav2Vec2ForCTC(config)
    ctc_blanks_lose(model, tokenizer)
    model.save_pretrained(folder)
    resave_with_legacy_names(folder)
    save_processor(Wav2Vec2Processor(feature_extractor=features, tokenizer=tokenizer), folder, typed=False)


def speecht5_char_model(path: Path, corpus: Iterable[str] = CORPUS) -> Path:
    """SpeechT5's character SentencePiece model (spm_char.model) with fairseq's special ids, which
    the real repos' configs name: <s> 0, <pad> 1, </s> 2, <unk> 3 (transformers' SpeechT5Config
    defaults, taken from microsoft/speecht5_asr)."""
    import io

    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter([*corpus, string.ascii_letters + string.digits + string.punctuation]),
        model_writer=model, model_type="char", vocab_size=120, hard_vocab_limit=False, character_coverage=1.0,
        bos_id=0, pad_id=1, eos_id=2, unk_id=3, minloglevel=2,
    )
    path.write_bytes(model.getvalue())
    return path


def build_speecht5_asr(folder: Path) -> None:
    """microsoft/speecht5_asr: SpeechT5ForSpeechToText (lm_head tied to the text decoder's
    embedding) + SpeechT5Processor over `speecht5_char_model`; bos 0, pad 1, eos 2 = decoder
    start (transformers' SpeechT5Config defaults, which are this repo's config.json)."""
    from transformers import (
        SpeechT5Config,
        SpeechT5FeatureExtractor,
        SpeechT5ForSpeechToText,
        SpeechT5Processor,
        SpeechT5Tokenizer,
    )

    tokenizer = SpeechT5Tokenizer(vocab_file=str(speecht5_char_model(folder / "spm_char.model")))
    config = SpeechT5Config(
        vocab_size=len(tokenizer), hidden_size=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        conv_dim=(32, 32), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, max_text_positions=64, max_speech_positions=4000,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
    )
    model = SpeechT5ForSpeechToText(config)
    model.generation_config.max_length = 24  # the real 450 is its max_text_positions; tiny keeps tests quick
    words = [i for i in range(len(tokenizer)) if _is_word(tokenizer.convert_ids_to_tokens(i))]
    words_outrank(model.speecht5.decoder.prenet.embed_tokens.weight,
                  model.speecht5.decoder.wrapped_decoder.layers[-1].final_layer_norm,
                  sorted(set(range(len(tokenizer))) - set(words)))
    model.save_pretrained(folder)
    save_processor(SpeechT5Processor(feature_extractor=SpeechT5FeatureExtractor(), tokenizer=tokenizer), folder)
