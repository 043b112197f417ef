"""Which builder writes the miniature of each architecture family: the only link from the
catalog to tiny/. Catalog rows name a family (`Repo.family`); they never import a builder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models_server.tiny import (
    annotators,
    audio_classification,
    real_size,
    speech,
    speech_synthesis,
    stable_diffusion,
    text,
    video,
    vision,
)

Builder = Callable[[Path], None]

TINY_BUILDERS: dict[str, Builder] = {
    "stable-diffusion": stable_diffusion.build_sd15,
    "controlnet-annotators": annotators.build_annotators,
    "dpt-hybrid": annotators.build_dpt_hybrid,
    "upernet": annotators.build_upernet,
    "controlnet": stable_diffusion.build_controlnet,
    "vision-encoder-decoder": vision.build_vit_gpt2,
    "blip-captioning": vision.build_blip_caption,
    "detr": vision.build_detr,
    "yolos": vision.build_yolos,
    "owlvit": vision.build_owlvit,
    "detr-panoptic": vision.build_detr_panoptic,
    "segformer": vision.build_segformer,
    "dpt": vision.build_dpt,
    "vilt-vqa": vision.build_vilt_vqa,
    "blip-vqa": vision.build_blip_vqa,
    "layoutlm-qa": vision.build_layoutlm_qa,
    "whisper": speech.build_whisper,
    "wav2vec2-ctc": speech.build_wav2vec2,
    "speecht5-asr": speech.build_speecht5_asr,
    "vit-classification": vision.build_vit_classifier,
    "resnet-classification": vision.build_resnet_classifier,
    "text-to-video-sd": video.build_text_to_video,
    "speecht5-tts": speech_synthesis.build_speecht5_tts,
    "speecht5-vc": speech_synthesis.build_speecht5_vc,
    "speecht5-hifigan": speech_synthesis.build_hifigan,
    "speaker-xvectors": speech_synthesis.build_xvectors,
    "wav2vec2-emotion": audio_classification.build_emotion_recognition,
    "wav2vec2-keyword-spotting": audio_classification.build_keyword_spotting,
    "roberta-qa": text.build_roberta_squad,
    "distilbert-qa": text.build_distilbert_squad,
    "distilbert-sentiment": text.build_distilbert_sst2,
    "roberta-sentiment": text.build_twitter_roberta,
    "bert-ner": text.build_bert_ner,
    "sentence-transformer": text.build_minilm,
    "bart-summarization": text.build_bart_cnn,
    "t5": text.build_t5_base,
    "gpt2": text.build_gpt2,
    "flan-t5": text.build_flan_t5,
    "sd-image-variations": stable_diffusion.build_image_variations,
}


def builder_for(family: str, builders: dict[str, Builder] = TINY_BUILDERS) -> Builder:
    try:
        return builders[family]
    except KeyError:
        raise KeyError(f"no tiny builder for the architecture family {family!r}; add one to TINY_BUILDERS") from None


# Random weights at the real published size (`make-tiny --scale real`), for the minimal tier's
# families only: the same family names, so a catalog row picks its builder the same way.
REAL_SIZE_BUILDERS: dict[str, Builder] = {
    "stable-diffusion": real_size.build_sd15_real,
    "controlnet": real_size.build_controlnet_real,
    "controlnet-annotators": real_size.build_annotators_real,
    "dpt-hybrid": real_size.build_dpt_hybrid_real,
    "upernet": real_size.build_upernet_real,
}
