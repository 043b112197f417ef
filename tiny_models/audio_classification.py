"""Tiny wav2vec2 audio classifiers with the real repos' labels, feature extractors and files.

Both repos are 2021 checkpoints published as `pytorch_model.bin` only, their positional
convolution's weight norm under the `weight_g`/`weight_v` names of that time (tiny_models.legacy_keys).
"""

from __future__ import annotations

from pathlib import Path

from tiny_models.legacy_keys import resave_with_legacy_names

# ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition (RAVDESS emotions).
EMOTIONS = ("angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised")
# superb/wav2vec2-base-superb-ks (Speech Commands keyword spotting).
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_silence_", "_unknown_")


def _build(folder: Path, labels: tuple[str, ...], *, large: bool, superb: bool) -> None:
    """XLS-R "large" models use layer norm in the CNN and the pre-norm transformer, and normalise
    the waveform; SUPERB's base classifiers pool a weighted sum of the layers and take the raw
    waveform with an attention mask (transformers' convert_wav2vec2_original_s3prl_checkpoint_to_pytorch.py:
    do_normalize false, return_attention_mask true)."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    config = Wav2Vec2Config(
        vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20,
        conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, classifier_proj_size=16,
        feat_extract_norm="layer" if large else "group", do_stable_layer_norm=large, use_weighted_layer_sum=superb,
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )
    Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    resave_with_legacy_names(folder)
    Wav2Vec2FeatureExtractor(
        sampling_rate=16000, do_normalize=not superb, return_attention_mask=True
    ).save_pretrained(folder)


def build_emotion_recognition(folder: Path) -> None:
    """ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition: a Trainer run fine-tuned from
    jonatasgrosman/wav2vec2-large-xlsr-53-english (its card), so that model's large layout and
    normalising feature extractor with attention mask; the repo lists pytorch_model.bin only."""
    _build(folder, EMOTIONS, large=True, superb=False)


def build_keyword_spotting(folder: Path) -> None:
    """superb/wav2vec2-base-superb-ks: converted from s3prl onto facebook/wav2vec2-base."""
    _build(folder, KEYWORDS, large=False, superb=True)
