"""Tiny random-weight miniatures of the standard tier's speech recognisers (Hub classes and files).

The feature extractors keep their real settings (16 kHz, Whisper's 80 mel bins over 30 s):
they hold no weights, and the real ones are what the loaders must cope with.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

from tiny_models.legacy_keys import resave_with_legacy_names
from tiny_models.tokenizers import WHISPER_SPECIALS, sentencepiece_char_model, whisper_tokenizer

_ENCODER_DECODER = {
    "d_model": 32, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
    "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32,
}


def build_whisper(folder: Path) -> None:
    """openai/whisper-base: WhisperForConditionalGeneration + WhisperProcessor + generation_config
    naming the language, task and no-timestamps tokens, which generate() looks up."""
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    tokenizer = whisper_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in WHISPER_SPECIALS}
    end = tokenizer.eos_token_id
    config = WhisperConfig(
        **_ENCODER_DECODER, vocab_size=len(tokenizer), num_mel_bins=80, max_source_positions=1500,
        max_target_positions=64, decoder_start_token_id=ids["<|startoftranscript|>"],
        bos_token_id=end, eos_token_id=end, pad_token_id=end, suppress_tokens=[], begin_suppress_tokens=[end],
    )
    model = WhisperForConditionalGeneration(config)
    generation = model.generation_config
    generation.decoder_start_token_id = ids["<|startoftranscript|>"]
    generation.eos_token_id = generation.pad_token_id = end
    generation.is_multilingual = True
    generation.lang_to_id = {token: ids[token] for token in ("<|en|>", "<|de|>", "<|fr|>")}
    generation.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    generation.no_timestamps_token_id = ids["<|notimestamps|>"]
    generation.max_length = 24  # short random transcripts keep tests quick
    generation._from_model_config = False  # else loading rebuilds it from config.json, losing the ids
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(), tokenizer=tokenizer).save_pretrained(folder)


def build_wav2vec2(folder: Path) -> None:
    """facebook/wav2vec2-base-960h: Wav2Vec2ForCTC + Wav2Vec2Processor over upper-case letters
    (vocab.json with `|` as the word separator, as the real repo), in a pytorch_model.bin with the
    positional convolution's weight norm as `weight_g`/`weight_v`, as the 2021 repo holds it."""
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    symbols = ["<pad>", "<s>", "</s>", "<unk>", "|", *string.ascii_uppercase, "'"]
    vocab_file = folder / "vocab.json"
    vocab_file.write_text(json.dumps({symbol: i for i, symbol in enumerate(symbols)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), word_delimiter_token="|")
    features = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 8), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, vocab_size=len(symbols), pad_token_id=0, ctc_loss_reduction="mean",
    )
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    resave_with_legacy_names(folder)
    Wav2Vec2Processor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(folder)


def build_speecht5_asr(folder: Path) -> None:
    """microsoft/speecht5_asr: SpeechT5ForSpeechToText + SpeechT5Processor (character
    SentencePiece model `spm_char.model`)."""
    from transformers import (
        SpeechT5Config,
        SpeechT5FeatureExtractor,
        SpeechT5ForSpeechToText,
        SpeechT5Processor,
        SpeechT5Tokenizer,
    )

    spm = sentencepiece_char_model(folder / "spm_char.model")
    tokenizer = SpeechT5Tokenizer(vocab_file=str(spm))
    config = SpeechT5Config(
        vocab_size=len(tokenizer), hidden_size=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        conv_dim=(32, 32), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, max_text_positions=64, max_speech_positions=4000,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
    )
    model = SpeechT5ForSpeechToText(config)
    model.generation_config.max_length = 24
    model.save_pretrained(folder)
    processor = SpeechT5Processor(feature_extractor=SpeechT5FeatureExtractor(), tokenizer=tokenizer)
    processor.save_pretrained(folder)
