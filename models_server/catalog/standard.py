"""The standard tier: captioning, detection, segmentation, depth, VQA, document QA, ASR and
classification, served with the model ids the controller's model list uses."""

from __future__ import annotations

from models_server.catalog import ModelSpec, Repo
from models_server.catalog.minimal import DPT_HYBRID
from models_server.tasks import document_qa, speech, vision, vision_text
from models_server.tiny import speech as tiny_speech
from models_server.tiny import vision as tiny_vision

_ROWS = (
    # (served id = weights repo, task, loader, tiny builder)
    ("nlpconnect/vit-gpt2-image-captioning", vision_text.CAPTION,
     vision_text.load_encoder_decoder_captioner, tiny_vision.build_vit_gpt2),
    ("ydshieh/vit-gpt2-coco-en", vision_text.CAPTION,
     vision_text.load_encoder_decoder_captioner, tiny_vision.build_vit_gpt2),
    ("Salesforce/blip-image-captioning-base", vision_text.CAPTION,
     vision_text.load_blip_captioner, tiny_vision.build_blip_caption),
    ("facebook/detr-resnet-50", vision.DETECT, vision.load_detector, tiny_vision.build_detr),
    ("facebook/detr-resnet-101", vision.DETECT, vision.load_detector, tiny_vision.build_detr),
    ("hustvl/yolos-tiny", vision.DETECT, vision.load_detector, tiny_vision.build_yolos),
    ("google/owlvit-base-patch32", vision.DETECT_OPEN_VOCABULARY,
     vision.load_open_vocabulary_detector, tiny_vision.build_owlvit),
    ("facebook/detr-resnet-50-panoptic", vision.SEGMENT,
     vision.load_panoptic_segmenter, tiny_vision.build_detr_panoptic),
    ("nvidia/segformer-b0-finetuned-ade-512-512", vision.SEGMENT,
     vision.load_semantic_segmenter, tiny_vision.build_segformer),
    ("Intel/dpt-large", vision.ESTIMATE_DEPTH, vision.load_depth_estimator, tiny_vision.build_dpt),
    ("dandelin/vilt-b32-finetuned-vqa", vision_text.ANSWER, vision_text.load_vilt, tiny_vision.build_vilt_vqa),
    ("Salesforce/blip-vqa-base", vision_text.ANSWER, vision_text.load_blip_vqa, tiny_vision.build_blip_vqa),
    ("impira/layoutlm-document-qa", document_qa.ANSWER_DOCUMENT,
     document_qa.load_document_reader, tiny_vision.build_layoutlm_qa),
    ("openai/whisper-base", speech.TRANSCRIBE, speech.load_whisper, tiny_speech.build_whisper),
    ("facebook/wav2vec2-base-960h", speech.TRANSCRIBE, speech.load_ctc, tiny_speech.build_wav2vec2),
    ("microsoft/speecht5_asr", speech.TRANSCRIBE, speech.load_speech_to_text, tiny_speech.build_speecht5_asr),
    ("google/vit-base-patch16-224", vision.CLASSIFY, vision.load_classifier, tiny_vision.build_vit_classifier),
    ("microsoft/resnet-50", vision.CLASSIFY, vision.load_classifier, tiny_vision.build_resnet_classifier),
)

MODELS: list[ModelSpec] = [
    *(
        ModelSpec(model_id, task, "standard", (Repo(model_id, build),), loader)
        for model_id, task, loader, build in _ROWS
    ),
    # The same weights the depth annotator reads: one Repo, so make-tiny and downloads see it once.
    ModelSpec("Intel/dpt-hybrid-midas", vision.ESTIMATE_DEPTH, "standard", (DPT_HYBRID,), vision.load_depth_estimator),
]
