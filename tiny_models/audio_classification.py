"""Tiny wav2vec2 audio classifiers with the real repos' labels and feature extractors."""

from __future__ import annotations

from pathlib import Path

# ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition (RAVDESS emotions).
EMOTIONS = ("angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised")
# superb/wav2vec2-base-superb-ks (Speech Commands keyword spotting).
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_silence_", "_unknown_")


def _build(folder: Path, labels: tuple[str, ...], large: bool) -> None:
    """XLS-R "large" models normalise the waveform and use layer norm in the CNN; "base" ones do not."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    config = Wav2Vec2Config(
        vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20,
        conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, classifier_proj_size=16,
        feat_extract_norm="layer" if large else "group", do_stable_layer_norm=large,
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )
    Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        sampling_rate=16000, do_normalize=large, return_attention_mask=large
    ).save_pretrained(folder)


def build_emotion_recognition(folder: Path) -> None:
    _build(folder, EMOTIONS, large=True)


def build_keyword_spotting(folder: Path) -> None:
    _build(folder, KEYWORDS, large=False)
