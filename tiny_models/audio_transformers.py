"""Tiny transformers audio models for the coverage rows: large wav2vec2 CTC, AST and HuBERT classifiers.

Each keeps what distinguishes its real repos from the standard tier's miniatures: the large
wav2vec2 recognisers use layer norm in the CNN, the "stable" pre-norm transformer and a
normalising feature extractor that returns an attention mask; AST reads 128-bin log-mel
patches over 1024 frames; HuBERT's emotion classifier pools a weighted sum of its layers.
"""

from __future__ import annotations

import string
from pathlib import Path

from tiny_models.legacy_keys import resave_with_legacy_names
from tiny_models.speech import ctc_blanks_lose, ctc_tokenizer, save_processor

# superb/hubert-base-superb-er (IEMOCAP emotions, as the SUPERB benchmark names them).
SUPERB_EMOTIONS = ("neu", "hap", "ang", "sad")
# A few AudioSet classes of MIT/ast-finetuned-audioset-10-10-0.4593 (the real head has 527).
AUDIOSET_CLASSES = ("Speech", "Music", "Dog", "Cat", "Vehicle", "Silence")


def build_wav2vec2_large_ctc(folder: Path) -> None:
    """facebook/wav2vec2-large-960h-lv60-self, jonatasgrosman/wav2vec2-large-xlsr-53-english:
    Wav2Vec2ForCTC (layer-norm CNN, stable layer norm) + Wav2Vec2Processor over upper-case letters,
    its feature extractor returning the attention mask (transformers'
    convert_wav2vec2_original_pytorch_checkpoint_to_pytorch.py sets it for layer-norm models).
    The 2021 repos hold pytorch_model.bin with the weight norm's legacy names, and the model.safetensors
    the Hub's conversion bot added beside it holds the same keys; the loader reads the latter."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC, Wav2Vec2Processor

    symbols = ["<pad>", "<s>", "</s>", "<unk>", "|", "'", *string.ascii_uppercase]
    tokenizer = ctc_tokenizer(folder, symbols)
    features = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 8), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True,
        vocab_size=len(symbols), pad_token_id=0, ctc_loss_reduction="mean",
    )
    model = Wav2Vec2ForCTC(config)
    ctc_blanks_lose(model, tokenizer)
    model.save_pretrained(folder)
    resave_with_legacy_names(folder)
    _safetensors_beside_bin(folder)
    save_processor(Wav2Vec2Processor(feature_extractor=features, tokenizer=tokenizer), folder)


def build_wav2vec2_large_ctc_lm(folder: Path) -> None:
    """jonatasgrosman/wav2vec2-large-xlsr-53-english: the same large CTC model, published with an
    n-gram language model for pyctcdecode: preprocessor_config.json names Wav2Vec2ProcessorWithLM,
    beside `alphabet.json` and `language_model/` (attrs.json, unigrams.txt and a KenLM file, which
    the miniature leaves out: nothing here reads it). Layout of Wav2Vec2ProcessorWithLM.save_pretrained
    (transformers' processing_wav2vec2_with_lm.py) and the "Boosting Wav2Vec2 with n-grams" guide,
    which such repos follow; the model card decodes greedily, as we do."""
    import json

    build_wav2vec2_large_ctc(folder)
    (folder / "model.safetensors").unlink()  # this repo holds pytorch_model.bin alone
    settings_file = folder / "preprocessor_config.json"
    settings = json.loads(settings_file.read_text())
    settings_file.write_text(json.dumps({**settings, "processor_class": "Wav2Vec2ProcessorWithLM"}, indent=2))
    # pyctcdecode's labels in vocab order: blank "", the unknown token as "\u2047", the word separator as " "
    letters = [" ", "'", *string.ascii_uppercase]
    (folder / "alphabet.json").write_text(json.dumps({"labels": ["", "<s>", "</s>", "\u2047", *letters],
                                                      "is_bpe": False}))
    model_dir = folder / "language_model"
    model_dir.mkdir()
    (model_dir / "attrs.json").write_text(json.dumps({"alpha": 0.5, "beta": 1.5, "unk_score_offset": -10.0,
                                                      "score_boundary": True}))
    (model_dir / "unigrams.txt").write_text("\n".join(["the", "of", "and", "speech", "recognition"]) + "\n")


def _safetensors_beside_bin(folder: Path) -> None:
    """model.safetensors holding pytorch_model.bin's tensors under the same names."""
    import torch
    from safetensors.torch import save_file

    state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    save_file({key: tensor.contiguous() for key, tensor in state.items()}, folder / "model.safetensors",
              metadata={"format": "pt"})


def _labels(labels: tuple[str, ...]) -> dict:
    return {"id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}


def build_ast_classifier(folder: Path) -> None:
    """MIT/ast-finetuned-audioset-*: ASTForAudioClassification + ASTFeatureExtractor with the real
    settings (128 mel bins, 1024 frames, AudioSet mean/std), so the patch grid is the real one
    (transformers' convert_audio_spectrogram_transformer_original_to_pytorch.py; the feature
    extractor's defaults are AudioSet's statistics)."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    config = ASTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
        patch_size=16, frequency_stride=10, time_stride=10, max_length=1024, num_mel_bins=128,
        **_labels(AUDIOSET_CLASSES),
    )
    ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=128, max_length=1024, sampling_rate=16000).save_pretrained(folder)


def build_hubert_classifier(folder: Path) -> None:
    """superb/hubert-base-superb-er: HubertForSequenceClassification over a weighted layer sum, raw
    (unnormalised) 16 kHz input with an attention mask, as transformers'
    convert_hubert_original_s3prl_checkpoint_to_pytorch.py writes SUPERB's models; published (2021)
    as pytorch_model.bin only, weight norm under its legacy names."""
    from transformers import HubertConfig, HubertForSequenceClassification, Wav2Vec2FeatureExtractor

    config = HubertConfig(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20,
        conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, classifier_proj_size=16,
        use_weighted_layer_sum=True, **_labels(SUPERB_EMOTIONS),
    )
    HubertForSequenceClassification(config).save_pretrained(folder)
    resave_with_legacy_names(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=False, return_attention_mask=True).save_pretrained(
        folder
    )
