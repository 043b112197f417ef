"""Which builder writes the miniature of each architecture family: the only link from the
catalog to tiny_models/. Catalog rows name a family (`Repo.family`); they never import a builder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tiny_models import (
    annotators,
    asteroid_models,
    audio_classification,
    audio_transformers,
    chat,
    espnet_models,
    keras_image,
    matryoshka_embeddings,
    real_size,
    speech,
    speech_synthesis,
    speechbrain_models,
    stable_diffusion,
    stable_diffusion_variants,
    tabular,
    taesd,
    text,
    text_encoders,
    video,
    vision,
    vision_architectures,
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
    "sentence-transformer": text_encoders.build_st_minilm,
    "bart-summarization": text.build_bart_cnn,
    "t5": text.build_t5_base,
    "gpt2": text.build_gpt2,
    "qwen2-chat": chat.build_qwen2_chat,
    "llama-chat": chat.build_llama_chat,
    "flan-t5": text.build_flan_t5,
    "sd-image-variations": stable_diffusion.build_image_variations,
    # The controller's text candidates (catalog/text_encoders.py).
    "bert-text-classification": text_encoders.build_bert_text_classifier,
    "xlm-roberta-text-classification": text_encoders.build_xlm_roberta_text_classifier,
    "camembert-token-classification": text_encoders.build_camembert_ner,
    "xlm-roberta-token-classification": text_encoders.build_xlm_roberta_ner,
    "distilbert-token-classification": text_encoders.build_distilbert_ner,
    "roberta-token-classification": text_encoders.build_roberta_ner,
    "bert-qa": text_encoders.build_bert_qa,
    "chinese-bert-qa": text_encoders.build_chinese_bert_qa,
    "xlm-roberta-qa": text_encoders.build_xlm_roberta_qa,
    "deberta-v2-qa": text_encoders.build_deberta_v2_qa,
    "st-mpnet": text_encoders.build_st_mpnet,
    "st-mpnet-cls": text_encoders.build_st_mpnet_cls,
    "st-multilingual-minilm": text_encoders.build_st_multilingual_minilm,
    "st-xlm-roberta": text_encoders.build_st_xlm_roberta,
    "st-labse": text_encoders.build_st_labse,
    "st-chinese-bert": text_encoders.build_st_chinese_bert,
    "st-instructor": text_encoders.build_st_instructor,
    "st-bert-cls-prompts": matryoshka_embeddings.build_st_bert_cls_prompts,
    # vision
    "beit-classification": vision_architectures.build_beit_classifier,
    "deit-distilled-classification": vision_architectures.build_deit_distilled,
    "timm-vit-clip": vision_architectures.build_timm_vit_clip,
    "table-transformer": vision_architectures.build_table_transformer,
    "maskformer-swin": vision_architectures.build_maskformer_swin,
    "clipseg": vision_architectures.build_clipseg,
    "glpn": vision_architectures.build_glpn,
    "trocr": vision_architectures.build_trocr,
    "manga-ocr": vision_architectures.build_manga_ocr,
    "donut-base": vision_architectures.build_donut_base,
    "donut-docvqa": vision_architectures.build_donut_docvqa,
    "donut-refexp": vision_architectures.build_donut_refexp,
    "pix2struct": vision_architectures.build_pix2struct,
    "blip2-opt": vision_architectures.build_blip2_opt,
    "git-vqa": vision_architectures.build_git_vqa,
    "layoutlmv3-qa": vision_architectures.build_layoutlmv3_qa,
    # diffusion and image-to-image
    "stable-diffusion-2": stable_diffusion_variants.build_sd2,
    "stable-diffusion-inpainting": stable_diffusion_variants.build_sd_inpainting,
    "compvis-sd1-ckpt": stable_diffusion_variants.build_compvis_sd1_ckpt,
    "orangemixs": stable_diffusion_variants.build_orangemixs,
    "taesd": taesd.build_taesd,
    "keras-image-enhancement": keras_image.build_keras_enhancement,
    "zero-dce": keras_image.build_zero_dce,
    "keras-super-resolution": keras_image.build_keras_super_resolution,
    "maxim": keras_image.build_maxim,
    # The controller's audio candidates (catalog/audio_transformers.py).
    "wav2vec2-large-ctc": audio_transformers.build_wav2vec2_large_ctc,
    "wav2vec2-large-ctc-lm": audio_transformers.build_wav2vec2_large_ctc_lm,
    "ast-classification": audio_transformers.build_ast_classifier,
    "hubert-classification": audio_transformers.build_hubert_classifier,
    "speechbrain-sepformer-2spk-8k": speechbrain_models.build_sepformer_2spk_8k,
    "speechbrain-sepformer-enhancement-8k": speechbrain_models.build_sepformer_enhancement_8k,
    "speechbrain-sepformer-enhancement-16k": speechbrain_models.build_sepformer_enhancement_16k,
    "speechbrain-metricgan": speechbrain_models.build_metricgan,
    "speechbrain-mtl-mimic": speechbrain_models.build_mtl_mimic,
    "speechbrain-ecapa-voxlingua107": speechbrain_models.build_ecapa_voxlingua,
    "speechbrain-ecapa-commonlanguage": speechbrain_models.build_ecapa_commonlanguage,
    "speechbrain-xvector-voxceleb": speechbrain_models.build_xvector_speakers,
    "speechbrain-tacotron2": speechbrain_models.build_tacotron2,
    "speechbrain-hifigan": speechbrain_models.build_hifigan_vocoder,
    "asteroid-dccrnet": asteroid_models.build_dccrnet,
    "asteroid-dprnn-tasnet": asteroid_models.build_dprnn_tasnet,
    "asteroid-convtasnet": asteroid_models.build_convtasnet,
    "espnet-vits": espnet_models.build_vits,
    "espnet-vits-pyopenjtalk": espnet_models.build_vits_pyopenjtalk,
    "espnet-fastspeech2-hifigan": espnet_models.build_fastspeech2_hifigan,
    # tabular classification
    "keras-census-classifier": tabular.build_keras_census_classifier,
    "keras-matrix-classifier": tabular.build_keras_matrix_classifier,
    "sklearn-pipeline": tabular.build_sklearn_wine_pipeline,
    "autotrain-sklearn": tabular.build_autotrain_sklearn,
    "autotrain-xgboost": tabular.build_autotrain_xgboost,
}


def builder_for(family: str, builders: dict[str, Builder] = TINY_BUILDERS) -> Builder:
    try:
        return builders[family]
    except KeyError:
        raise KeyError(f"no tiny builder for the architecture family {family!r}; add one to TINY_BUILDERS") from None


# Random weights at the real published size (`make-tiny --scale real`), for the minimal tier's
# families and the TAESD decoder they may use: the same family names, so a catalog row picks its builder the same way.
REAL_SIZE_BUILDERS: dict[str, Builder] = {
    "stable-diffusion": real_size.build_sd15_real,
    "controlnet": real_size.build_controlnet_real,
    "controlnet-annotators": real_size.build_annotators_real,
    "dpt-hybrid": real_size.build_dpt_hybrid_real,
    "upernet": real_size.build_upernet_real,
    "taesd": taesd.build_taesd_real,
}
