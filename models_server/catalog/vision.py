"""The full tier's vision rows: the controller's candidates for classification, detection,
segmentation, depth, captioning, visual and document question answering.

Each row is served under the controller's id, read with its task's generic loader (the
architecture comes from the checkpoint's own config) and built in miniature by its family.
The first five candidates of a task load at start; later ones, extras and anything over
~1 GB in half precision are lazy: they answer `loaded: true` and load on first use.

`fp16_bytes`, per family: "files" is the Hub's fp32 weight file halved, "params" the published
parameter count x 2 bytes.
"""

from __future__ import annotations

from models_server.catalog.rows import ModelSpec, Repo, row
from models_server.catalog.sizes import MB
from models_server.tasks.transformers import document_qa, vision, vision_text

CLASSIFY, DETECT, SEGMENT = vision.CLASSIFY, vision.DETECT, vision.SEGMENT
DEPTH, CAPTION, ANSWER = vision.ESTIMATE_DEPTH, vision_text.CAPTION, vision_text.ANSWER
classifier, detector, depth = vision.load_classifier, vision.load_detector, vision.load_depth_estimator
captioner, answerer = vision_text.load_captioner, vision_text.load_visual_question_answerer
reader, ocr_reader = document_qa.load_document_reader, document_qa.load_ocr_document_reader

MODELS: list[ModelSpec] = [
    # image-classification. params: BEiT/DiT/ViT-base 86M (BEiT pt22k-ft22k 103M with its 21,841
    # classes), DeiT-base distilled 87M, timm ViT-L/14 CLIP 304M.
    row(Repo("microsoft/beit-base-patch16-224-pt22k-ft22k", "beit-classification"),
        CLASSIFY, classifier, fp16_bytes=205 * MB),
    row(Repo("cafeai/cafe_aesthetic", "beit-aesthetic"),
        CLASSIFY, classifier, fp16_bytes=172 * MB),
    row(Repo("facebook/deit-base-distilled-patch16-224", "deit-distilled-classification"),
        CLASSIFY, classifier, fp16_bytes=174 * MB),
    row(Repo("microsoft/dit-base-finetuned-rvlcdip", "dit-classification"),
        CLASSIFY, classifier, fp16_bytes=172 * MB, preload=False),
    row(Repo("timm/vit_large_patch14_clip_224.openai_ft_in12k_in1k", "timm-vit-clip"),
        CLASSIFY, classifier, fp16_bytes=608 * MB, preload=False),
    row(Repo("nateraw/vit-age-classifier", "vit-age-classification"),
        CLASSIFY, classifier, fp16_bytes=172 * MB, preload=False),
    row(Repo("saltacc/anime-ai-detect", "beit-anime-ai-detect"),
        CLASSIFY, classifier, fp16_bytes=172 * MB, preload=False),
    row(Repo("Rajaram1996/FacialEmoRecog", "vit-facial-emotion"),
        CLASSIFY, classifier, fp16_bytes=172 * MB, preload=False),
    # object-detection. params: Table Transformer 28.8M, DETR-R50 41.6M, YOLOS-S 30.7M,
    # OWL-ViT L/14 434M.
    row(Repo("microsoft/table-transformer-structure-recognition", "table-transformer-structure"),
        DETECT, detector, fp16_bytes=58 * MB),
    row(Repo("TahaDouaji/detr-doc-table-detection", "detr"),
        DETECT, detector, fp16_bytes=83 * MB, preload=False),
    row(Repo("microsoft/table-transformer-detection", "table-transformer-detection"),
        DETECT, detector, fp16_bytes=58 * MB, preload=False),
    row(Repo("hustvl/yolos-small", "yolos"),
        DETECT, detector, fp16_bytes=61 * MB, preload=False),
    row(Repo("google/owlvit-large-patch14", "owlvit"),
        vision.DETECT_OPEN_VOCABULARY, vision.load_open_vocabulary_detector, fp16_bytes=868 * MB, preload=False),
    # image-segmentation. params: MaskFormer Swin-L 212M, Swin-B 102M; SegFormer B5 84.7M, B1
    # 13.7M; CLIPSeg 150.7M. The original JARVIS server's facebook/maskformer-swin-base-coco rides along.
    row(Repo("facebook/maskformer-swin-large-ade", "maskformer-swin"),
        SEGMENT, vision.load_mask_segmenter, fp16_bytes=424 * MB),
    row(Repo("jonathandinu/face-parsing", "segformer-face-parsing"),
        SEGMENT, vision.load_semantic_segmenter, fp16_bytes=169 * MB),
    row(Repo("CIDAS/clipseg-rd64-refined", "clipseg"),
        vision.SEGMENT_BY_PROMPTS, vision.load_prompted_segmenter, fp16_bytes=301 * MB),
    row(Repo("nvidia/segformer-b5-finetuned-ade-640-640", "segformer"),
        SEGMENT, vision.load_semantic_segmenter, fp16_bytes=169 * MB, preload=False),
    row(Repo("facebook/maskformer-swin-large-coco", "maskformer-swin"),
        SEGMENT, vision.load_mask_segmenter, fp16_bytes=424 * MB, preload=False),
    row(Repo("nvidia/segformer-b1-finetuned-cityscapes-1024-1024", "segformer-cityscapes"),
        SEGMENT, vision.load_semantic_segmenter, fp16_bytes=27 * MB, preload=False),
    row(Repo("facebook/maskformer-swin-base-coco", "maskformer-swin"),
        SEGMENT, vision.load_mask_segmenter, fp16_bytes=204 * MB, preload=False),
    # depth-estimation. files: GLPN checkpoints are 245 MB in fp32.
    row(Repo("vinvino02/glpn-nyu", "glpn"),
        DEPTH, depth, fp16_bytes=123 * MB),
    row(Repo("sayakpaul/glpn-nyu-finetuned-diode-221122-044810", "glpn"),
        DEPTH, depth, fp16_bytes=123 * MB),
    row(Repo("vinvino02/glpn-kitti", "glpn"),
        DEPTH, depth, fp16_bytes=123 * MB, preload=False),
    row(Repo("sayakpaul/glpn-nyu-finetuned-diode-221121-063504", "glpn"),
        DEPTH, depth, fp16_bytes=123 * MB, preload=False),
    row(Repo("sayakpaul/glpn-nyu-finetuned-diode-221116-104421", "glpn"),
        DEPTH, depth, fp16_bytes=123 * MB, preload=False),
    row(Repo("sayakpaul/glpn-nyu-finetuned-diode-230124-104649", "glpn"),
        DEPTH, depth, fp16_bytes=123 * MB, preload=False),
    # image-to-text. files: Donut 809 MB, BLIP-2 OPT-2.7b 15 GB (two safetensors shards);
    # manga-ocr 444 MB; params: TrOCR-base 334M, BLIP-large 470M, Pix2Struct-base 282M, BLIP-2 OPT-6.7b 7.75B.
    row(Repo("microsoft/trocr-base-printed", "trocr"),
        CAPTION, captioner, fp16_bytes=668 * MB),
    row(Repo("Salesforce/blip-image-captioning-large", "blip-captioning"),
        CAPTION, captioner, fp16_bytes=940 * MB),
    row(Repo("naver-clova-ix/donut-base", "donut-base"),
        CAPTION, captioner, fp16_bytes=405 * MB),
    row(Repo("microsoft/trocr-base-handwritten", "trocr"),
        CAPTION, captioner, fp16_bytes=668 * MB, preload=False),
    row(Repo("google/pix2struct-base", "pix2struct"),
        CAPTION, captioner, fp16_bytes=564 * MB, preload=False),
    row(Repo("Salesforce/blip2-opt-2.7b", "blip2-opt"),
        CAPTION, captioner, fp16_bytes=7_500 * MB, preload=False),
    row(Repo("Salesforce/blip2-opt-6.7b", "blip2-opt"),
        CAPTION, captioner, fp16_bytes=15_500 * MB, preload=False),
    row(Repo("kha-white/manga-ocr-base", "manga-ocr"),
        CAPTION, captioner, fp16_bytes=222 * MB, preload=False),
    # visual-question-answering. files: BLIP VQA capfilt-large 1.54 GB, Donut 809 MB, ViLT 470 MB;
    # params: GIT-large 394M, GIT-base 177M.
    row(Repo("Salesforce/blip-vqa-capfilt-large", "blip-vqa"),
        ANSWER, answerer, fp16_bytes=770 * MB),
    row(Repo("microsoft/git-large-vqav2", "git-vqa"),
        ANSWER, answerer, fp16_bytes=788 * MB),
    row(Repo("ivelin/donut-refexp-combined-v1", "donut-refexp"),
        ANSWER, answerer, fp16_bytes=405 * MB),
    row(Repo("microsoft/git-base-textvqa", "git-vqa"),
        ANSWER, answerer, fp16_bytes=354 * MB, preload=False),
    row(Repo("microsoft/git-base-vqav2", "git-vqa"),
        ANSWER, answerer, fp16_bytes=354 * MB, preload=False),
    row(Repo("microsoft/git-large-textvqa", "git-vqa"),
        ANSWER, answerer, fp16_bytes=788 * MB, preload=False),
    row(Repo("tufa15nik/vilt-finetuned-vqasi", "vilt-vqa"),
        ANSWER, answerer, fp16_bytes=235 * MB, preload=False),
    row(Repo("azwierzc/vilt-b32-finetuned-vqa-pl", "vilt-vqa"),
        ANSWER, answerer, fp16_bytes=240 * MB, preload=False),
    # document-question-answering. files: LayoutLM 511 MB, LayoutLMv3 504 MB, Donut DocVQA 1.01 GB (jinhybr's
    # fine-tune of donut-base: 809 MB assumed, its file size unknown here).
    # faisalraza's and cloudqi's repos hold the same files as impira's (LayoutLM + RoBERTa BPE).
    row(Repo("impira/layoutlm-invoices", "layoutlm-qa"),
        document_qa.ANSWER_DOCUMENT, ocr_reader, fp16_bytes=256 * MB),
    row(Repo("naver-clova-ix/donut-base-finetuned-docvqa", "donut-docvqa"),
        document_qa.ANSWER_DOCUMENT, reader, fp16_bytes=505 * MB),
    row(Repo("faisalraza/layoutlm-invoices", "layoutlm-qa"),
        document_qa.ANSWER_DOCUMENT, ocr_reader, fp16_bytes=256 * MB),
    row(Repo("cloudqi/CQI_Visual_Question_Awnser_PT_v0", "layoutlm-qa"),
        document_qa.ANSWER_DOCUMENT, ocr_reader, fp16_bytes=256 * MB, preload=False),
    row(Repo("jinhybr/OCR-DocVQA-Donut", "donut-docvqa"),
        document_qa.ANSWER_DOCUMENT, reader, fp16_bytes=405 * MB, preload=False),
    row(Repo("xhyi/layoutlmv3_docvqa_t11c5000", "layoutlmv3-qa"),
        document_qa.ANSWER_DOCUMENT, ocr_reader, fp16_bytes=252 * MB, preload=False),
]
