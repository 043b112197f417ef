"""Tiny random-weight miniatures of the standard tier's vision models (classes as on the Hub).

Each builder saves the model and the processor files its loader reads. The classifiers and
segmenters carry their real repo's whole label map (vision_labels: ImageNet-1k, ADE20K's 150,
Cityscapes' 19, COCO panoptic's 250; each fine-tune's own), the preprocessor config in the form
the repo holds (a 2021-2022 `*FeatureExtractor` with plain-number sizes where it was converted
then) and its weights file (`pytorch_model.bin` where that is all the repo has). A repo whose
values differ is its own family (ViT's fine-tunes, SegFormer's Cityscapes and face-parsing
models). Image processors are shrunk to tens of pixels: the sizes live in
preprocessor_config.json, which real weights replace with their own. Files are laid out as the
Hub repos have them (hub_layout: preprocessor_config.json, vocab.json + merges.txt or
vocab.txt); the generators' weights favour readable tokens (readable_output).
Each builder's docstring names where its facts come from.
DETR-style models name a timm backbone as the converted repos do; transformers builds it without
pretrained weights and fills it from the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny_models import vision_labels
from tiny_models.hub_layout import rewrite_as_hub_layout, write_as_feature_extractor
from tiny_models.legacy_keys import resave_with_legacy_names
from tiny_models.readable_output import favour_readable_tokens
from tiny_models.tokenizers import bert_tokenizer, clip_tokenizer, gpt2_tokenizer, roberta_tokenizer

# COCO's ids as DETR and YOLOS number them (0 is unused), a prefix of the 91.
COCO_DETECTION = (
    "N/A", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant",
)
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
AGE_RANGES = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70")
FACIAL_EMOTIONS = ("Anger", "Contempt", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise")
CELEBAMASK_HQ = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth",
    "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)
ADE20K = ("wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass")
VQA_ANSWERS = ("yes", "no", "2", "1", "3", "white", "red", "blue", "cat", "dog", "nothing", "tennis")
VQA_ANSWER_COUNT = 3129  # VQAv2's answer list, as ViLT's VQA head has it

# A small ViT-like transformer: sizes from transformers' own tiny test configs.
TINY_TRANSFORMER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}


def labels(names: tuple[str, ...]) -> dict[int, str]:
    return dict(enumerate(names))


def save(folder: Path, model: Any, *processors: Any) -> None:
    """The model and its processors, in the file layout of the Hub repos (hub_layout)."""
    model.eval()
    model.save_pretrained(folder)
    for processor in processors:
        processor.save_pretrained(folder)
    rewrite_as_hub_layout(folder)


def resnet_config(**overrides: Any):
    from transformers import ResNetConfig

    settings = {"embedding_size": 8, "hidden_sizes": [8, 8, 16, 16], "depths": [1, 1, 1, 1]}
    return ResNetConfig(**{**settings, **overrides})


# --- classification -----------------------------------------------------------------------------


def write_feature_extractor_config(folder: Path) -> None:
    """preprocessor_config.json as the repos converted in 2021-2022 hold it: a `*FeatureExtractor`
    type, sizes as plain numbers (hub_layout's rewrite), a square `crop_size` as one number too, and
    SegFormer's `reduce_labels` under that name (transformers 5 reads `do_reduce_labels`)."""
    import json

    path = folder / "preprocessor_config.json"
    config = json.loads(path.read_text())
    if "size" not in config:  # GLPN's: only `size_divisor`
        kind = config.pop("image_processor_type")
        config["feature_extractor_type"] = kind.replace("ImageProcessor", "FeatureExtractor")
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    write_as_feature_extractor(folder)
    config = json.loads(path.read_text())
    crop = config.get("crop_size")
    if isinstance(crop, dict):
        assert crop["height"] == crop["width"], "a FeatureExtractor's crop_size was one number"
        config["crop_size"] = crop["height"]
    if "do_reduce_labels" in config:
        config["reduce_labels"] = config.pop("do_reduce_labels")
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _vit_classifier(folder: Path, id2label: dict[int, str]) -> None:
    """ViTForImageClassification (base/16 shape in miniature) + the ViTFeatureExtractor config the
    2021-2022 repos hold: resize to a square, bilinear, mean and std 0.5, no crop."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=32, patch_size=8, id2label=id2label, **TINY_TRANSFORMER)
    processor = ViTImageProcessor(size={"height": 32, "width": 32}, resample=2, image_mean=[0.5] * 3,
                                  image_std=[0.5] * 3)
    save(folder, ViTForImageClassification(config), processor)
    write_feature_extractor_config(folder)


def build_vit_classifier(folder: Path) -> None:
    """google/vit-base-patch16-224: the 1000 ImageNet-1k classes (transformers' convert_vit_timm_to_pytorch.py
    loads imagenet-1k-id2label.json for a 224 fine-tune; -in21k has no head and is not served)."""
    _vit_classifier(folder, vision_labels.imagenet_1k())


def build_vit_age_classifier(folder: Path) -> None:
    """nateraw/vit-age-classifier: ViT fine-tuned on FairFace's nine age ranges, as its model card's
    usage (ViTFeatureExtractor, ViTForImageClassification) and the label lists public projects copy
    from its config ("0-2" ... "more than 70"); a pytorch_model.bin of 2021."""
    _vit_classifier(folder, labels(AGE_RANGES))
    resave_with_legacy_names(folder)


def build_vit_facial_emotion(folder: Path) -> None:
    """Rajaram1996/FacialEmoRecog: ViT fine-tuned on eight facial expressions (AffectNet's; the names
    as public projects that call it list them), a pytorch_model.bin read by AutoFeatureExtractor."""
    _vit_classifier(folder, labels(FACIAL_EMOTIONS))
    resave_with_legacy_names(folder)


def build_resnet_classifier(folder: Path) -> None:
    """microsoft/resnet-50: ResNetForImageClassification, bottleneck layers, ReLU, a 7x7 stem of 64
    channels, no downsampling in the first stage, 1000 ImageNet-1k classes, with the
    ConvNextFeatureExtractor config it was pushed with (size 224 shortest edge, crop_pct 0.875,
    bicubic, ImageNet mean and std). Sources: transformers' convert_resnet_to_pytorch.py (timm's
    resnet50 into ResNetConfig, ConvNextImageProcessor) and the model card's usage."""
    from transformers import ConvNextImageProcessor, ResNetForImageClassification

    config = resnet_config(
        id2label=vision_labels.imagenet_1k(), layer_type="bottleneck", hidden_act="relu",
        downsample_in_first_stage=False,
    )
    processor = ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875, resample=3,
                                       image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)
    save(folder, ResNetForImageClassification(config), processor)
    write_feature_extractor_config(folder)


# --- detection and segmentation -----------------------------------------------------------------


# timm's own miniature ResNet: the real DETR repos name a timm ResNet (resnet50, resnet101,
# resnet18 for Table Transformer), built through transformers' TimmBackbone; this one is the same
# code path at a few hundred thousand parameters.
TINY_TIMM_RESNET = "test_resnet"


def detr_config(**overrides: Any):
    from transformers import DetrConfig

    settings = {
        "use_timm_backbone": True,
        "backbone": TINY_TIMM_RESNET,
        "d_model": 32,  # the panoptic mask head needs d_model + heads divisible by 8
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_ffn_dim": 32,
        "decoder_ffn_dim": 32,
        "encoder_attention_heads": 8,
        "decoder_attention_heads": 8,
        "num_queries": 12,
        "id2label": labels(COCO_DETECTION),
        # Larger initial weights than training uses, so queries differ and boxes spread out.
        "init_std": 0.3,
        "init_xavier_std": 3.0,
    }
    return DetrConfig(**{**settings, **overrides})


def scaled_batch_norms(model: Any) -> Any:
    """`model` with its zero BatchNorm scales set to one. timm starts each residual block's last
    BatchNorm at zero (a training recipe), which makes a random ResNet an identity whose features
    barely vary; trained checkpoints have no zero scales."""
    import torch

    with torch.no_grad():
        for module in model.modules():
            weight = getattr(module, "weight", None)
            if "BatchNorm" in type(module).__name__ and weight is not None and not weight.any():
                weight.fill_(1.0)
    return model


def write_timm_backbone_as_converted(folder: Path) -> None:
    """Rewrite a saved DETR-style config.json the way the converted repos carry their backbone:
    `backbone` (a timm model name) with `use_timm_backbone` and `use_pretrained_backbone`, and no
    nested `backbone_config` (which transformers 5 writes). `use_pretrained_backbone: true` is the
    variant that would make a loader fetch ImageNet weights if it honoured it."""
    import json

    path = folder / "config.json"
    config = json.loads(path.read_text())
    backbone = config.pop("backbone_config")
    config.update(backbone=backbone["backbone"], use_timm_backbone=True, use_pretrained_backbone=True,
                  dilation=False, backbone_kwargs=None)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _detr_processor(panoptic: bool = False):
    from transformers import DetrImageProcessor

    annotations = "coco_panoptic" if panoptic else "coco_detection"
    return DetrImageProcessor(format=annotations, size={"shortest_edge": 64, "longest_edge": 96})


def build_detr(folder: Path) -> None:
    """facebook/detr-resnet-50 and -101, TahaDouaji/detr-doc-table-detection: DetrForObjectDetection
    + DetrImageProcessor. As converted (transformers' convert_detr_original_pytorch_checkpoint_to_pytorch.py:
    `DetrConfig()` with `backbone` resnet50 or resnet101, COCO's 91 ids with gaps, a DetrFeatureExtractor
    of format coco_detection): a timm backbone named in a flat config, the processor saved as that
    FeatureExtractor (`size` and `max_size` as numbers)."""
    from transformers import DetrForObjectDetection

    save(folder, scaled_batch_norms(DetrForObjectDetection(detr_config())), _detr_processor())
    write_timm_backbone_as_converted(folder)
    write_as_feature_extractor(folder)


def build_detr_panoptic(folder: Path) -> None:
    """facebook/detr-resnet-50-panoptic: DetrForSegmentation (boxes + mask head), converted by the same
    script with format coco_panoptic: 250 outputs named by COCO panoptic's categories (vision_labels:
    things at ids 1-90, stuff at 92-200, the ids the old is_thing_map split at); saved as a
    pytorch_model.bin with its pre-v5 key names (`bbox_attention.q_linear`, `mask_head.lay1`,
    `backbone.conv_encoder`), which transformers renames on load."""
    from transformers import DetrForSegmentation

    config = detr_config(id2label=vision_labels.coco_panoptic())
    save(folder, scaled_batch_norms(DetrForSegmentation(config)), _detr_processor(panoptic=True))
    write_timm_backbone_as_converted(folder)
    write_as_feature_extractor(folder)
    resave_with_legacy_names(folder)  # a pytorch_model.bin, as save_pretrained wrote in 2021


def build_yolos(folder: Path) -> None:
    """hustvl/yolos-tiny, -small: YolosForObjectDetection + YolosImageProcessor of format coco_detection,
    COCO's 91 ids (transformers' convert_yolos_to_pytorch.py). yolos-small interpolates its
    mid-layer position embeddings (`use_mid_position_embeddings`, the default), yolos-tiny has none;
    the miniature keeps them, the path with more to get wrong."""
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor

    config = YolosConfig(
        image_size=[64, 96], patch_size=16, num_detection_tokens=10,
        id2label=labels(COCO_DETECTION), **TINY_TRANSFORMER,
    )
    processor = YolosImageProcessor(format="coco_detection", size={"shortest_edge": 64, "longest_edge": 96})
    save(folder, YolosForObjectDetection(config), processor)


def build_owlvit(folder: Path) -> None:
    """google/owlvit-base-patch32 and -large-patch14: OwlViTForObjectDetection + OwlViTProcessor, as
    transformers' convert_owlvit_original_flax_to_hf.py writes them: openai/clip-vit-base-patch32's
    CLIP tokenizer (vocab.json, merges.txt) with `pad_token` "!" (id 0; a query whose first id is 0
    counts as padding) and `model_max_length` 16, the text model's 16 positions; an image processor
    given one number for `size` and `crop_size` (768 for B/32, 840 for L/14; CONFIGS there), saved in
    2022 as an OwlViTFeatureExtractor with both sizes plain numbers. The text config keeps
    OwlViTTextConfig's ids (pad 0, bos and eos the tokenizer's); its text model pools at the highest
    id, the end token. Weights in pytorch_model.bin, as saved in 2022."""
    from transformers import OwlViTConfig, OwlViTForObjectDetection, OwlViTImageProcessor, OwlViTProcessor

    tokenizer = clip_tokenizer(model_max_length=16, pad_token="!")
    text = {
        **TINY_TRANSFORMER, "vocab_size": len(tokenizer), "max_position_embeddings": 16,
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {**TINY_TRANSFORMER, "image_size": 32, "patch_size": 8}
    config = OwlViTConfig(text_config=text, vision_config=vision, projection_dim=32)
    images = OwlViTImageProcessor(size=32, crop_size=32, do_center_crop=True)
    processor = OwlViTProcessor(image_processor=images, tokenizer=tokenizer)
    save(folder, OwlViTForObjectDetection(config), processor)
    write_feature_extractor_config(folder)
    resave_with_legacy_names(folder)


def _segformer(folder: Path, id2label: dict[int, str], reduce_labels: bool, legacy: bool) -> None:
    """SegformerForSemanticSegmentation (MiT encoder, all-MLP decoder) + SegformerImageProcessor
    (square resize, ImageNet mean and std). `legacy`: the nvidia repos of 2021, a SegformerFeatureExtractor
    config with `reduce_labels` and a pytorch_model.bin; otherwise an image processor as saved since 2023."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    config = SegformerConfig(
        depths=[1, 1, 1, 1], hidden_sizes=[8, 8, 16, 16], num_attention_heads=[1, 1, 2, 2],
        decoder_hidden_size=16, id2label=id2label,
    )
    processor = SegformerImageProcessor(size={"height": 64, "width": 64}, do_reduce_labels=reduce_labels)
    save(folder, SegformerForSemanticSegmentation(config), processor)
    if legacy:
        write_feature_extractor_config(folder)
        resave_with_legacy_names(folder)


def build_segformer(folder: Path) -> None:
    """nvidia/segformer-b0-finetuned-ade-512-512 and -b5-finetuned-ade-640-640: ADE20K's 150 classes,
    `reduce_labels: true` (ADE's 0 is "other", dropped from the labels). Sources: transformers'
    convert_segformer_original_to_pytorch.py (ade20k-id2label.json, 150 labels, SegformerImageProcessor
    with do_reduce_labels for ADE), the repos' 2021 SegformerFeatureExtractor configs."""
    _segformer(folder, vision_labels.ade20k(), reduce_labels=True, legacy=True)


def build_segformer_cityscapes(folder: Path) -> None:
    """nvidia/segformer-b1-finetuned-cityscapes-1024-1024: Cityscapes' 19 classes, no label
    reduction (the same conversion script: cityscapes-id2label.json, 19 labels)."""
    _segformer(folder, vision_labels.cityscapes(), reduce_labels=False, legacy=True)


def build_segformer_face_parsing(folder: Path) -> None:
    """jonathandinu/face-parsing: a SegFormer fine-tuned on CelebAMask-HQ's 19 face parts
    ("background", "skin", ... "cloth", as projects that use it list the config's labels), pushed
    in 2024 with a SegformerImageProcessor and model.safetensors."""
    _segformer(folder, labels(CELEBAMASK_HQ), reduce_labels=False, legacy=False)


def build_dpt(folder: Path) -> None:
    """Intel/dpt-large: DPTForDepthEstimation on a plain ViT (not hybrid), readout "project", features
    taken after a quarter, half, three quarters and all of the layers (5, 11, 17, 23 of 24), neck sizes
    in the ratio 256:512:1024:1024, and a DPTFeatureExtractor config (a square resize with the
    processor's defaults: mean and std 0.5, no aspect ratio kept); a pytorch_model.bin. Source:
    transformers' convert_dpt_to_pytorch.py ("large": hidden 1024, 24 layers, backbone_out_indices
    [5, 11, 17, 23], neck_hidden_sizes [256, 512, 1024, 1024], DPTImageProcessor(size=384)).
    Intel/dpt-hybrid-midas is the "dpt-hybrid" family (annotators.py)."""
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(
        **{**TINY_TRANSFORMER, "num_hidden_layers": 8}, image_size=32, patch_size=8, is_hybrid=False,
        readout_type="project", backbone_out_indices=[1, 3, 5, 7], neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16, head_in_index=-1,
    )
    processor = DPTImageProcessor(size={"height": 32, "width": 32})  # the script's DPTImageProcessor(size=384)
    save(folder, DPTForDepthEstimation(config), processor)
    write_feature_extractor_config(folder)
    resave_with_legacy_names(folder)


# --- image + text -------------------------------------------------------------------------------


def build_vit_gpt2(folder: Path) -> None:
    """nlpconnect/vit-gpt2-image-captioning, ydshieh/vit-gpt2-coco-en: VisionEncoderDecoderModel
    (ViT encoder, GPT-2 decoder with cross-attention), ViTImageProcessor (mean and std 0.5), GPT-2's
    byte-level BPE tokenizer; generation starts, ends and pads at <|endoftext|>. Sources: the
    model card's usage (VisionEncoderDecoderModel, ViTImageProcessor, AutoTokenizer from the repo)."""
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    tokenizer = gpt2_tokenizer()
    special = tokenizer.eos_token_id
    encoder = ViTConfig(image_size=32, patch_size=8, **TINY_TRANSFORMER)
    decoder = GPT2Config(
        vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=special, eos_token_id=special, pad_token_id=special,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = special
    model = VisionEncoderDecoderModel(config=config)
    model.generation_config.decoder_start_token_id = special
    model.generation_config.pad_token_id = model.generation_config.eos_token_id = special
    favour_readable_tokens(model, tokenizer)
    save(folder, model, ViTImageProcessor(size={"height": 32, "width": 32}), tokenizer)


def _blip_config():
    """BLIP's text decoder starts from `[DEC]` (bos) and stops at `[SEP]`, as the real config says
    (salesforce/BLIP's init_tokenizer: bert-base-uncased plus `[DEC]` and `[ENC]`). The repos hold
    preprocessor_config.json and a BERT WordPiece vocab.txt beside tokenizer.json
    (Salesforce/blip-image-captioning-large's file list at revision 353689b, as a public project's
    download manifest records it)."""
    from transformers import BlipConfig

    tokenizer = bert_tokenizer(bos_token="[DEC]")
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    text = {
        **TINY_TRANSFORMER, "vocab_size": len(tokenizer), "max_position_embeddings": 64,
        "bos_token_id": tokenizer.bos_token_id, "sep_token_id": tokenizer.sep_token_id,
        "eos_token_id": tokenizer.sep_token_id, "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {**TINY_TRANSFORMER, "image_size": 32, "patch_size": 8}
    return BlipConfig(text_config=text, vision_config=vision, projection_dim=32), tokenizer


def _blip_processor(tokenizer):
    from transformers import BlipImageProcessor, BlipProcessor

    images = BlipImageProcessor(size={"height": 32, "width": 32})
    return BlipProcessor(image_processor=images, tokenizer=tokenizer)


def build_blip_caption(folder: Path) -> None:
    """Salesforce/blip-image-captioning-base: BlipForConditionalGeneration + BlipProcessor."""
    from transformers import BlipForConditionalGeneration

    config, tokenizer = _blip_config()
    model = BlipForConditionalGeneration(config)
    favour_readable_tokens(model, tokenizer)
    save(folder, model, _blip_processor(tokenizer))


def build_blip_vqa(folder: Path) -> None:
    """Salesforce/blip-vqa-base: BlipForQuestionAnswering + BlipProcessor."""
    from transformers import BlipForQuestionAnswering

    config, tokenizer = _blip_config()
    model = BlipForQuestionAnswering(config)
    favour_readable_tokens(model, tokenizer)
    save(folder, model, _blip_processor(tokenizer))


def vqa_answers(count: int = VQA_ANSWER_COUNT) -> tuple[str, ...]:
    """`count` answers: VQA_ANSWERS, then numbers (VQAv2's answer list holds many)."""
    numbers = (str(n) for n in range(count * 2) if str(n) not in VQA_ANSWERS)
    return (*VQA_ANSWERS, *(next(numbers) for _ in range(count - len(VQA_ANSWERS))))


def build_vilt_vqa(folder: Path) -> None:
    """dandelin/vilt-b32-finetuned-vqa (and its fine-tunes): ViltForQuestionAnswering, a classifier
    over VQAv2's 3129 answers, as transformers' convert_vilt_original_to_pytorch.py writes it:
    `ViltConfig(image_size=384, patch_size=32, tie_word_embeddings=False)` with the library's default
    `max_position_embeddings` 40, the labels of huggingface/label-files vqa2-id2label.json (their
    count mirrored, their names stand-ins); ViltProcessor of a ViltFeatureExtractor(size=384) (saved
    as one number, the shortest edge, with `size_divisor` 32) and bert-base-uncased's BertTokenizer
    (vocab.txt, lower case), whose `model_max_length` is 512: longer than the text positions, so
    a loader must not trust the tokenizer's limit. Weights in pytorch_model.bin, as saved in 2022,
    here with the LayerNorm `gamma`/`beta` names transformers renames on load (legacy_keys)."""
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltImageProcessor, ViltProcessor

    tokenizer = bert_tokenizer(model_max_length=512)
    config = ViltConfig(
        **TINY_TRANSFORMER, vocab_size=len(tokenizer), max_position_embeddings=40, image_size=64,
        patch_size=32, max_image_length=-1, tie_word_embeddings=False, id2label=labels(vqa_answers()),
    )
    images = ViltImageProcessor(size={"shortest_edge": 384}, size_divisor=32)
    processor = ViltProcessor(image_processor=images, tokenizer=tokenizer)
    save(folder, ViltForQuestionAnswering(config), processor)
    write_as_feature_extractor(folder)
    resave_with_legacy_names(folder)


def build_layoutlm_qa(folder: Path) -> None:
    """impira/layoutlm-document-qa and -invoices (faisalraza's and cloudqi's repos hold the same
    files): LayoutLMForQuestionAnswering read through RoBERTa's byte-level BPE (vocab.json,
    merges.txt; tokenizer_class RobertaTokenizer) with RoBERTa's sizes and ids (514 positions, one
    token type, pad 1, bos 0, eos 2, layer norm eps 1e-5). The tokenizer does not add a prefix space
    itself: transformers' test_pipelines_document_question_answering.py loads it with
    `add_prefix_space=True`, as a fast RoBERTa tokenizer needs for words given one by one. No image
    processor: words come from Tesseract (pytesseract), as the document-question-answering pipeline
    of impira's model card runs it. Weights in pytorch_model.bin, as saved in 2022, here with the
    LayerNorm `gamma`/`beta` names transformers renames on load (legacy_keys)."""
    from transformers import LayoutLMConfig, LayoutLMForQuestionAnswering

    tokenizer = roberta_tokenizer(model_max_length=512, add_prefix_space=False)
    config = LayoutLMConfig(
        **TINY_TRANSFORMER, vocab_size=len(tokenizer), max_position_embeddings=514, type_vocab_size=1,
        max_2d_position_embeddings=1024, layer_norm_eps=1e-5, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    save(folder, LayoutLMForQuestionAnswering(config), tokenizer)
    resave_with_legacy_names(folder)
