"""The full tier's vision rows: the controller's candidates for classification, detection,
segmentation, depth, captioning, visual and document question answering (issue 12).

Each row is served under the controller's id, read with its task's generic loader (the
architecture comes from the checkpoint's own config) and built in miniature by its family.
The first five candidates of a task load at start; later ones, extras and anything over
~1 GB in half precision are lazy: they answer `loaded: true` and load on first use.

`fp16_bytes`, per family: "files" is the Hub's fp32 weight file halved, "params" the published
parameter count x 2 bytes.
"""

from __future__ import annotations

from models_server.catalog.rows import ModelSpec, Repo
from models_server.tasks.transformers import document_qa, vision, vision_text

MB = 10**6


def _row(name: str, task, loader, family: str, fp16_mb: float, preload: bool = True) -> ModelSpec:
    return ModelSpec(
        name, task, "full", (Repo(name, family),), loader,
        preload=preload, fp16_bytes=round(fp16_mb * MB),
    )


def _lazy(name: str, task, loader, family: str, fp16_mb: float) -> ModelSpec:
    return _row(name, task, loader, family, fp16_mb, preload=False)


CLASSIFY, DETECT, SEGMENT = vision.CLASSIFY, vision.DETECT, vision.SEGMENT
DEPTH, CAPTION, ANSWER = vision.ESTIMATE_DEPTH, vision_text.CAPTION, vision_text.ANSWER
classifier, detector, depth = vision.load_classifier, vision.load_detector, vision.load_depth_estimator
captioner, answerer = vision_text.load_captioner, vision_text.load_visual_question_answerer
reader = document_qa.load_document_reader

MODELS: list[ModelSpec] = [
    # image-classification. params: BEiT/DiT/ViT-base 86M (BEiT pt22k-ft22k 103M with its 21,841
    # classes), DeiT-base distilled 87M, timm ViT-L/14 CLIP 304M.
    _row("microsoft/beit-base-patch16-224-pt22k-ft22k", CLASSIFY, classifier, "beit-classification", 205),
    _row("cafeai/cafe_aesthetic", CLASSIFY, classifier, "beit-classification", 172),
    _row("facebook/deit-base-distilled-patch16-224", CLASSIFY, classifier, "deit-distilled-classification", 174),
    _lazy("microsoft/dit-base-finetuned-rvlcdip", CLASSIFY, classifier, "beit-classification", 172),
    _lazy("timm/vit_large_patch14_clip_224.openai_ft_in12k_in1k", CLASSIFY, classifier, "timm-vit-clip", 608),
    _lazy("nateraw/vit-age-classifier", CLASSIFY, classifier, "vit-classification", 172),
    _lazy("saltacc/anime-ai-detect", CLASSIFY, classifier, "beit-classification", 172),
    _lazy("Rajaram1996/FacialEmoRecog", CLASSIFY, classifier, "vit-classification", 172),
    # object-detection. params: Table Transformer 28.8M, DETR-R50 41.6M, YOLOS-S 30.7M,
    # OWL-ViT L/14 434M.
    _row("microsoft/table-transformer-structure-recognition", DETECT, detector, "table-transformer", 58),
    _lazy("TahaDouaji/detr-doc-table-detection", DETECT, detector, "detr", 83),
    _lazy("microsoft/table-transformer-detection", DETECT, detector, "table-transformer", 58),
    _lazy("hustvl/yolos-small", DETECT, detector, "yolos", 61),
    _lazy("google/owlvit-large-patch14", vision.DETECT_OPEN_VOCABULARY, vision.load_open_vocabulary_detector,
          "owlvit", 868),
    # image-segmentation. params: MaskFormer Swin-L 212M, Swin-B 102M; SegFormer B5 84.7M, B1
    # 13.7M; CLIPSeg 150.7M. The original JARVIS server's facebook/maskformer-swin-base-coco rides along.
    _row("facebook/maskformer-swin-large-ade", SEGMENT, vision.load_mask_segmenter, "maskformer-swin", 424),
    _row("jonathandinu/face-parsing", SEGMENT, vision.load_semantic_segmenter, "segformer", 169),
    _row("CIDAS/clipseg-rd64-refined", vision.SEGMENT_BY_PROMPTS, vision.load_prompted_segmenter, "clipseg", 301),
    _lazy("nvidia/segformer-b5-finetuned-ade-640-640", SEGMENT, vision.load_semantic_segmenter, "segformer", 169),
    _lazy("facebook/maskformer-swin-large-coco", SEGMENT, vision.load_mask_segmenter, "maskformer-swin", 424),
    _lazy("nvidia/segformer-b1-finetuned-cityscapes-1024-1024", SEGMENT, vision.load_semantic_segmenter,
          "segformer", 27),
    _lazy("facebook/maskformer-swin-base-coco", SEGMENT, vision.load_mask_segmenter, "maskformer-swin", 204),
    # depth-estimation. files: GLPN checkpoints are 245 MB in fp32.
    _row("vinvino02/glpn-nyu", DEPTH, depth, "glpn", 123),
    _row("sayakpaul/glpn-nyu-finetuned-diode-221122-044810", DEPTH, depth, "glpn", 123),
    _lazy("vinvino02/glpn-kitti", DEPTH, depth, "glpn", 123),
    _lazy("sayakpaul/glpn-nyu-finetuned-diode-221121-063504", DEPTH, depth, "glpn", 123),
    _lazy("sayakpaul/glpn-nyu-finetuned-diode-221116-104421", DEPTH, depth, "glpn", 123),
    _lazy("sayakpaul/glpn-nyu-finetuned-diode-230124-104649", DEPTH, depth, "glpn", 123),
    # image-to-text. files: Donut 809 MB, BLIP-2 OPT-2.7b 15 GB (two safetensors shards);
    # manga-ocr 444 MB; params: TrOCR-base 334M, BLIP-large 470M, Pix2Struct-base 282M, BLIP-2 OPT-6.7b 7.75B.
    _row("microsoft/trocr-base-printed", CAPTION, captioner, "trocr", 668),
    _row("Salesforce/blip-image-captioning-large", CAPTION, captioner, "blip-captioning", 940),
    _row("naver-clova-ix/donut-base", CAPTION, captioner, "donut-base", 405),
    _lazy("microsoft/trocr-base-handwritten", CAPTION, captioner, "trocr", 668),
    _lazy("google/pix2struct-base", CAPTION, captioner, "pix2struct", 564),
    _lazy("Salesforce/blip2-opt-2.7b", CAPTION, captioner, "blip2-opt", 7_500),
    _lazy("Salesforce/blip2-opt-6.7b", CAPTION, captioner, "blip2-opt", 15_500),
    _lazy("kha-white/manga-ocr-base", CAPTION, captioner, "manga-ocr", 222),
    # visual-question-answering. files: BLIP VQA capfilt-large 1.54 GB, Donut 809 MB, ViLT 470 MB;
    # params: GIT-large 394M, GIT-base 177M.
    _row("Salesforce/blip-vqa-capfilt-large", ANSWER, answerer, "blip-vqa", 770),
    _row("microsoft/git-large-vqav2", ANSWER, answerer, "git-vqa", 788),
    _row("ivelin/donut-refexp-combined-v1", ANSWER, answerer, "donut-refexp", 405),
    _lazy("microsoft/git-base-textvqa", ANSWER, answerer, "git-vqa", 354),
    _lazy("microsoft/git-base-vqav2", ANSWER, answerer, "git-vqa", 354),
    _lazy("microsoft/git-large-textvqa", ANSWER, answerer, "git-vqa", 788),
    _lazy("tufa15nik/vilt-finetuned-vqasi", ANSWER, answerer, "vilt-vqa", 235),
    _lazy("azwierzc/vilt-b32-finetuned-vqa-pl", ANSWER, answerer, "vilt-vqa", 240),
    # document-question-answering. files: LayoutLM 511 MB, LayoutLMv3 504 MB, Donut DocVQA 1.01 GB (jinhybr's
    # fine-tune of donut-base: 809 MB assumed, its file size unknown here).
    # faisalraza's and cloudqi's repos hold the same files as impira's (LayoutLM + RoBERTa BPE).
    _row("impira/layoutlm-invoices", document_qa.ANSWER_DOCUMENT, reader, "layoutlm-qa", 256),
    _row("naver-clova-ix/donut-base-finetuned-docvqa", document_qa.ANSWER_DOCUMENT, reader, "donut-docvqa", 505),
    _row("faisalraza/layoutlm-invoices", document_qa.ANSWER_DOCUMENT, reader, "layoutlm-qa", 256),
    _lazy("cloudqi/CQI_Visual_Question_Awnser_PT_v0", document_qa.ANSWER_DOCUMENT, reader, "layoutlm-qa", 256),
    _lazy("jinhybr/OCR-DocVQA-Donut", document_qa.ANSWER_DOCUMENT, reader, "donut-docvqa", 405),
    _lazy("xhyi/layoutlmv3_docvqa_t11c5000", document_qa.ANSWER_DOCUMENT, reader, "layoutlmv3-qa", 252),
]
