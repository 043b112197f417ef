"""The standard tier: captioning, detection, segmentation, depth, VQA, document QA, ASR and
classification, served with the model ids the controller's model list uses."""

from __future__ import annotations

from models_server.catalog.minimal import DPT_HYBRID
from models_server.catalog.rows import ModelSpec, Repo, row
from models_server.catalog.sizes import MB
from models_server.tasks.transformers import document_qa, speech, vision, vision_text

MODELS: list[ModelSpec] = [
    # Sizes: the published parameter counts of each architecture (model cards and papers) x 2 bytes.
    row(Repo("nlpconnect/vit-gpt2-image-captioning", "vision-encoder-decoder"),
        vision_text.CAPTION, vision_text.load_captioner, fp16_bytes=478 * MB, tier="standard"),
    row(Repo("ydshieh/vit-gpt2-coco-en", "vision-encoder-decoder"),
        vision_text.CAPTION, vision_text.load_captioner, fp16_bytes=478 * MB, tier="standard"),
    row(Repo("Salesforce/blip-image-captioning-base", "blip-captioning"),
        vision_text.CAPTION, vision_text.load_captioner, fp16_bytes=494 * MB, tier="standard"),
    row(Repo("facebook/detr-resnet-50", "detr"),
        vision.DETECT, vision.load_detector, fp16_bytes=83 * MB, tier="standard"),
    row(Repo("facebook/detr-resnet-101", "detr"),
        vision.DETECT, vision.load_detector, fp16_bytes=121 * MB, tier="standard"),
    row(Repo("hustvl/yolos-tiny", "yolos"),
        vision.DETECT, vision.load_detector, fp16_bytes=13 * MB, tier="standard"),
    row(Repo("google/owlvit-base-patch32", "owlvit"),
        vision.DETECT_OPEN_VOCABULARY, vision.load_open_vocabulary_detector, fp16_bytes=306 * MB, tier="standard"),
    row(Repo("facebook/detr-resnet-50-panoptic", "detr-panoptic"),
        vision.SEGMENT, vision.load_mask_segmenter, fp16_bytes=86 * MB, tier="standard"),
    row(Repo("nvidia/segformer-b0-finetuned-ade-512-512", "segformer"),
        vision.SEGMENT, vision.load_semantic_segmenter, fp16_bytes=8 * MB, tier="standard"),
    row(Repo("Intel/dpt-large", "dpt"),
        vision.ESTIMATE_DEPTH, vision.load_depth_estimator, fp16_bytes=686 * MB, tier="standard"),
    row(Repo("dandelin/vilt-b32-finetuned-vqa", "vilt-vqa"),
        vision_text.ANSWER, vision_text.load_visual_question_answerer, fp16_bytes=235 * MB, tier="standard"),
    row(Repo("Salesforce/blip-vqa-base", "blip-vqa"),
        vision_text.ANSWER, vision_text.load_visual_question_answerer, fp16_bytes=770 * MB, tier="standard"),
    row(Repo("impira/layoutlm-document-qa", "layoutlm-qa"),
        document_qa.ANSWER_DOCUMENT, document_qa.load_ocr_document_reader, fp16_bytes=256 * MB, tier="standard"),
    row(Repo("openai/whisper-base", "whisper"),
        speech.TRANSCRIBE, speech.load_whisper, fp16_bytes=145 * MB, tier="standard"),
    row(Repo("facebook/wav2vec2-base-960h", "wav2vec2-ctc"),
        speech.TRANSCRIBE, speech.load_ctc, fp16_bytes=189 * MB, tier="standard"),
    row(Repo("microsoft/speecht5_asr", "speecht5-asr"),
        speech.TRANSCRIBE, speech.load_speech_to_text, fp16_bytes=310 * MB, tier="standard"),
    row(Repo("google/vit-base-patch16-224", "vit-classification"),
        vision.CLASSIFY, vision.load_classifier, fp16_bytes=173 * MB, tier="standard"),
    row(Repo("microsoft/resnet-50", "resnet-classification"),
        vision.CLASSIFY, vision.load_classifier, fp16_bytes=51 * MB, tier="standard"),
    # The same weights the depth annotator reads: one Repo, so make-tiny and downloads see it once.
    row(DPT_HYBRID, vision.ESTIMATE_DEPTH, vision.load_depth_estimator, fp16_bytes=246 * MB, tier="standard"),
]
