"""The standard tier: captioning, detection, segmentation, depth, VQA, document QA, ASR and
classification, served with the model ids the controller's model list uses."""

from __future__ import annotations

from models_server.catalog.minimal import DPT_HYBRID
from models_server.catalog.rows import ModelSpec, Repo
from models_server.tasks.transformers import document_qa, speech, vision, vision_text

_ROWS = (
    # (served id = weights repo, task, loader, architecture family)
    ("nlpconnect/vit-gpt2-image-captioning", vision_text.CAPTION,
     vision_text.load_captioner, "vision-encoder-decoder"),
    ("ydshieh/vit-gpt2-coco-en", vision_text.CAPTION,
     vision_text.load_captioner, "vision-encoder-decoder"),
    ("Salesforce/blip-image-captioning-base", vision_text.CAPTION,
     vision_text.load_captioner, "blip-captioning"),
    ("facebook/detr-resnet-50", vision.DETECT, vision.load_detector, "detr"),
    ("facebook/detr-resnet-101", vision.DETECT, vision.load_detector, "detr"),
    ("hustvl/yolos-tiny", vision.DETECT, vision.load_detector, "yolos"),
    ("google/owlvit-base-patch32", vision.DETECT_OPEN_VOCABULARY,
     vision.load_open_vocabulary_detector, "owlvit"),
    ("facebook/detr-resnet-50-panoptic", vision.SEGMENT,
     vision.load_mask_segmenter, "detr-panoptic"),
    ("nvidia/segformer-b0-finetuned-ade-512-512", vision.SEGMENT,
     vision.load_semantic_segmenter, "segformer"),
    ("Intel/dpt-large", vision.ESTIMATE_DEPTH, vision.load_depth_estimator, "dpt"),
    ("dandelin/vilt-b32-finetuned-vqa", vision_text.ANSWER, vision_text.load_visual_question_answerer, "vilt-vqa"),
    ("Salesforce/blip-vqa-base", vision_text.ANSWER, vision_text.load_visual_question_answerer, "blip-vqa"),
    ("impira/layoutlm-document-qa", document_qa.ANSWER_DOCUMENT,
     document_qa.load_document_reader, "layoutlm-qa"),
    ("openai/whisper-base", speech.TRANSCRIBE, speech.load_whisper, "whisper"),
    ("facebook/wav2vec2-base-960h", speech.TRANSCRIBE, speech.load_ctc, "wav2vec2-ctc"),
    ("microsoft/speecht5_asr", speech.TRANSCRIBE, speech.load_speech_to_text, "speecht5-asr"),
    ("google/vit-base-patch16-224", vision.CLASSIFY, vision.load_classifier, "vit-classification"),
    ("microsoft/resnet-50", vision.CLASSIFY, vision.load_classifier, "resnet-classification"),
)

MODELS: list[ModelSpec] = [
    *(
        ModelSpec(model_id, task, "standard", (Repo(model_id, family),), loader)
        for model_id, task, loader, family in _ROWS
    ),
    # The same weights the depth annotator reads: one Repo, so make-tiny and downloads see it once.
    ModelSpec("Intel/dpt-hybrid-midas", vision.ESTIMATE_DEPTH, "standard", (DPT_HYBRID,), vision.load_depth_estimator),
]
