"""Real fp16 sizes of the first rows (tiers minimal, standard and full as first built), for
planning memory budgets before any weights are on disk.

Source: the published parameter counts of each architecture (model cards and papers) × 2 bytes,
rounded; not measured here. Rows added later carry `fp16_bytes` themselves. `SHARED_REPO_BYTES`
are repos several rows read and the runtime holds once (the Stable Diffusion 1.5 base: UNet 860 M,
VAE 84 M, CLIP text encoder 123 M parameters).
"""

from __future__ import annotations

MB = 1_000_000

SHARED_REPO_BYTES: dict[str, int] = {
    "runwayml/stable-diffusion-v1-5": 2_134 * MB,
    "Intel/dpt-hybrid-midas": 246 * MB,
    "lllyasviel/Annotators": 172 * MB,  # HED 14.7 M, M-LSD 1.5 M, OpenPose body 52 M parameters
    "microsoft/speecht5_hifigan": 25 * MB,
}

_CONTROLNET = 723 * MB  # 361 M parameters, the SD1.5 ControlNet
_SD15 = SHARED_REPO_BYTES["runwayml/stable-diffusion-v1-5"]

FP16_BYTES: dict[str, int] = {
    "canny-control": 0,
    "hed-control": 29 * MB,
    "scribble-control": 29 * MB,
    "mlsd-control": 3 * MB,
    "openpose-control": 105 * MB,
    "depth-control": 246 * MB,
    "normal-control": 246 * MB,
    "seg-control": 164 * MB,  # UperNet ConvNeXt-small, 82 M
    **{f"lllyasviel/sd-controlnet-{kind}": _CONTROLNET + _SD15
       for kind in ("canny", "depth", "hed", "mlsd", "normal", "openpose", "scribble", "seg")},
    "nlpconnect/vit-gpt2-image-captioning": 478 * MB,
    "ydshieh/vit-gpt2-coco-en": 478 * MB,
    "Salesforce/blip-image-captioning-base": 494 * MB,
    "facebook/detr-resnet-50": 83 * MB,
    "facebook/detr-resnet-101": 121 * MB,
    "hustvl/yolos-tiny": 13 * MB,
    "google/owlvit-base-patch32": 306 * MB,
    "facebook/detr-resnet-50-panoptic": 86 * MB,
    "nvidia/segformer-b0-finetuned-ade-512-512": 8 * MB,
    "Intel/dpt-large": 686 * MB,
    "dandelin/vilt-b32-finetuned-vqa": 235 * MB,
    "Salesforce/blip-vqa-base": 770 * MB,
    "impira/layoutlm-document-qa": 256 * MB,
    "openai/whisper-base": 145 * MB,
    "facebook/wav2vec2-base-960h": 189 * MB,
    "microsoft/speecht5_asr": 310 * MB,
    "google/vit-base-patch16-224": 173 * MB,
    "microsoft/resnet-50": 51 * MB,
    "Intel/dpt-hybrid-midas": 246 * MB,
    "damo-vilab/text-to-video-ms-1.7b": 3_400 * MB,
    "microsoft/speecht5_tts": 289 * MB + 25 * MB,
    "microsoft/speecht5_vc": 310 * MB + 25 * MB,
    "ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition": 631 * MB,
    "superb/wav2vec2-base-superb-ks": 189 * MB,
    "deepset/roberta-base-squad2": 248 * MB,
    "distilbert-base-cased-distilled-squad": 130 * MB,
    "distilbert-base-uncased-finetuned-sst-2-english": 134 * MB,
    "cardiffnlp/twitter-roberta-base-sentiment": 250 * MB,
    "dslim/bert-base-NER": 216 * MB,
    "sentence-transformers/all-MiniLM-L6-v2": 45 * MB,
    "facebook/bart-large-cnn": 812 * MB,
    "t5-base": 446 * MB,
    "gpt2": 248 * MB,
    "google/flan-t5-base": 496 * MB,
    "runwayml/stable-diffusion-v1-5": _SD15,
    "lambdalabs/sd-image-variations-diffusers": 2_500 * MB,
}
