"""Tiny random-weight miniatures of the vision families added for the controller's candidates.

Same classes, file names and formats as the real repos (checked against the Hub's file
listings where they could be read): BEiT/DiT and distilled DeiT classifiers, a timm checkpoint
in timm's own Hub layout, Table Transformer, MaskFormer (Swin), CLIPSeg, GLPN, TrOCR and
manga-ocr encoder-decoders, Donut (base, DocVQA, RefExp), Pix2Struct, BLIP-2 (OPT), GIT and
LayoutLMv3. The classifiers (BEiT, DiT, the BEiT fine-tunes, DeiT), Table Transformer's two repos
and GLPN carry their real label maps, preprocessor configs of their time and weights files, one
family per repo where the values differ; the other families' label maps and vocabularies are small
stand-ins. Processors are shrunk to tens of pixels in their saved configs, which real weights
replace with their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny_models import vision_labels
from tiny_models.legacy_keys import resave_with_legacy_names
from tiny_models.readable_output import favour_readable_tokens
from tiny_models.text_tokenizers import xlm_roberta_tokenizer
from tiny_models.tokenizers import (
    CORPUS,
    bert_tokenizer,
    gpt2_tokenizer,
    roberta_tokenizer,
    t5_tokenizer,
    t5_tokenizer_config,
    write_tokenizer_files,
)
from tiny_models.vision import (
    ADE20K,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TINY_TIMM_RESNET,
    TINY_TRANSFORMER,
    detr_config,
    labels,
    save,
    scaled_batch_norms,
    write_feature_extractor_config,
    write_timm_backbone_as_converted,
)

# Table Transformer's two repos' label maps (convert_table_transformer_to_hf.py).
TABLE_DETECTION = ("table", "table rotated")
TABLE_STRUCTURE = (
    "table", "table column", "table row", "table column header", "table projected row header",
    "table spanning cell",
)
# RVL-CDIP's 16 document classes in the dataset's order (huggingface/label-files rvlcdip-id2label.json).
RVL_CDIP = (
    "letter", "form", "email", "handwritten", "advertisement", "scientific report", "scientific publication",
    "specification", "file folder", "news article", "budget", "invoice", "presentation", "questionnaire",
    "resume", "memo",
)
# Donut's task tokens, as the real tokenizers add them (added_tokens.json).
DONUT_READING = ("<s_iitcdip>", "<s_synthdog>")
DONUT_DOCVQA = ("<s_docvqa>", "<s_question>", "</s_question>", "<s_answer>", "</s_answer>", "<yes/>", "<no/>")
DONUT_REFEXP = (
    "<s_refexp>", "<s_prompt>", "</s_prompt>", "<s_target_bounding_box>", "</s_target_bounding_box>",
    "<s_xmin>", "</s_xmin>", "<s_ymin>", "</s_ymin>", "<s_xmax>", "</s_xmax>", "<s_ymax>", "</s_ymax>",
)


# --- classification -----------------------------------------------------------------------------


def _beit_classifier(folder: Path, id2label: dict[int, str], dit: bool = False) -> None:
    """BeitForImageClassification + BeitImageProcessor as the conversion scripts save them: a square
    resize, bilinear, no centre crop, mean and std 0.5; layer scale (`lambda_1`, `lambda_2`) and mean
    pooling of the patch tokens. BEiT fine-tunes use a relative position bias in every layer and no
    absolute positions; DiT uses absolute position embeddings and no relative bias. A pytorch_model.bin,
    as these repos (2021-2022) hold."""
    from transformers import BeitConfig, BeitForImageClassification, BeitImageProcessor

    positions = (
        {"use_absolute_position_embeddings": True, "use_relative_position_bias": False}
        if dit else {"use_absolute_position_embeddings": False, "use_relative_position_bias": True}
    )
    config = BeitConfig(
        image_size=32, patch_size=8, **TINY_TRANSFORMER, **positions, use_shared_relative_position_bias=False,
        use_mean_pooling=True, layer_scale_init_value=0.1, id2label=id2label,
    )
    processor = BeitImageProcessor(
        size={"height": 32, "width": 32}, resample=2, do_center_crop=False, image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
    save(folder, BeitForImageClassification(config), processor)
    write_feature_extractor_config(folder)
    resave_with_legacy_names(folder)


def build_beit_classifier(folder: Path) -> None:
    """microsoft/beit-base-patch16-224-pt22k-ft22k: ImageNet-22k's 21,841 classes, relative position
    bias per layer. Source: transformers' convert_beit_unilm_to_pytorch.py ("ft22k":
    use_relative_position_bias, num_labels 21841, BeitImageProcessor(resample=BILINEAR,
    do_center_crop=False))."""
    _beit_classifier(folder, vision_labels.imagenet_22k())


def build_dit_classifier(folder: Path) -> None:
    """microsoft/dit-base-finetuned-rvlcdip: BEiT classes with absolute position embeddings and RVL-CDIP's
    16 document classes. Source: transformers' convert_dit_unilm_to_pytorch.py
    (use_absolute_position_embeddings, rvlcdip-id2label.json, the same image processor as BEiT)."""
    _beit_classifier(folder, labels(RVL_CDIP), dit=True)


def build_beit_aesthetic(folder: Path) -> None:
    """cafeai/cafe_aesthetic: a BEiT fine-tune with two classes, "aesthetic" and "not_aesthetic"
    (its model card; public projects weight its two scores in that order)."""
    _beit_classifier(folder, labels(("aesthetic", "not_aesthetic")))


def build_beit_anime_ai_detect(folder: Path) -> None:
    """saltacc/anime-ai-detect: a BEiT fine-tune that tells AI-made anime art from human-made: two
    classes, "ai" and "human" (its model card)."""
    _beit_classifier(folder, labels(("ai", "human")))


def build_deit_distilled(folder: Path) -> None:
    """facebook/deit-base-distilled-patch16-224: DeiTForImageClassificationWithTeacher (class and
    distillation tokens and heads, averaged at inference), 1000 ImageNet-1k classes, and the
    DeiTFeatureExtractor config it was pushed with: resize to 256/224 of the crop, bicubic, centre
    crop, ImageNet mean and std; a pytorch_model.bin. Source: transformers'
    convert_deit_timm_to_pytorch.py (imagenet-1k-id2label.json; size int(224 / 0.875) = 256,
    resample BICUBIC, crop 224, IMAGENET_DEFAULT_MEAN/STD)."""
    from transformers import DeiTConfig, DeiTForImageClassificationWithTeacher, DeiTImageProcessor

    config = DeiTConfig(image_size=32, patch_size=8, **TINY_TRANSFORMER, id2label=vision_labels.imagenet_1k())
    processor = DeiTImageProcessor(
        size={"height": 36, "width": 36}, resample=3, crop_size={"height": 32, "width": 32},
        image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
    )
    save(folder, DeiTForImageClassificationWithTeacher(config), processor)
    write_feature_extractor_config(folder)
    resave_with_legacy_names(folder)


def build_timm_vit_clip(folder: Path) -> None:
    """timm/vit_large_patch14_clip_224.openai_ft_in12k_in1k in timm's own Hub layout (config.json
    with `architecture` and `pretrained_cfg`, model.safetensors without any prefix), as
    `timm.models.push_to_hf_hub` writes it. The miniature shrinks the architecture through
    `model_args`, which timm and transformers' timm wrapper both apply; 1000 ImageNet classes, whose
    names timm knows offline."""
    import json

    import timm
    from timm.models import save_for_hf

    shrink = {"img_size": 28, "patch_size": 14, "embed_dim": 32, "depth": 2, "num_heads": 2}
    model = timm.create_model("vit_large_patch14_clip_224.openai_ft_in12k_in1k", pretrained=False, **shrink)
    save_for_hf(model.eval(), str(folder), safe_serialization=True)
    # Recent timm also records the head's arguments (num_classes, ...), which transformers'
    # wrapper passes on its own; keep only what shrinks the model, as older exports had none.
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["model_args"] = shrink
    config_path.write_text(json.dumps(config, indent=2) + "\n")


# --- detection and segmentation -----------------------------------------------------------------


def _table_transformer(folder: Path, id2label: dict[int, str], queries: int, longest_edge: int) -> None:
    """TableTransformerForObjectDetection + DetrImageProcessor of format coco_detection. As converted
    (transformers' convert_table_transformer_to_hf.py): a timm `backbone` resnet18 named in a flat
    config (the miniature names timm's tiny test ResNet), the repo's own label map and query count, and
    a DetrFeatureExtractor config (the repos date from 2022) that resizes the shortest edge to 800 with
    the longest at most `max_size` (800 for detection, 1000 for structure; the miniature keeps their
    ratio); model.safetensors beside the .bin, as the listing of the structure repo shows."""
    from transformers import DetrImageProcessor, TableTransformerConfig, TableTransformerForObjectDetection

    detr = detr_config().to_dict()
    settings = {key: detr[key] for key in (
        "d_model", "encoder_layers", "decoder_layers", "encoder_ffn_dim", "decoder_ffn_dim",
        "encoder_attention_heads", "decoder_attention_heads", "init_std", "init_xavier_std",
    )}
    config = TableTransformerConfig(
        use_timm_backbone=True, backbone=TINY_TIMM_RESNET, id2label=id2label, num_queries=queries, **settings,
    )
    processor = DetrImageProcessor(format="coco_detection", size={"shortest_edge": 64, "longest_edge": longest_edge})
    save(folder, scaled_batch_norms(TableTransformerForObjectDetection(config)), processor)
    write_timm_backbone_as_converted(folder)
    write_feature_extractor_config(folder)  # converted in 2022, before image processors


def build_table_transformer_detection(folder: Path) -> None:
    """microsoft/table-transformer-detection: finds tables in a page: 2 labels ("table",
    "table rotated"), 15 queries, max_size 800 (convert_table_transformer_to_hf.py)."""
    _table_transformer(folder, labels(TABLE_DETECTION), queries=15, longest_edge=64)


def build_table_transformer_structure(folder: Path) -> None:
    """microsoft/table-transformer-structure-recognition: a table's rows, columns and cells: 6 labels
    ("table", "table column", "table row", "table column header", "table projected row header",
    "table spanning cell"), 125 queries, max_size 1000 (convert_table_transformer_to_hf.py)."""
    _table_transformer(folder, labels(TABLE_STRUCTURE), queries=125, longest_edge=80)


def build_maskformer_swin(folder: Path) -> None:
    """facebook/maskformer-swin-large-ade, -large-coco, -base-coco: MaskFormerForInstanceSegmentation
    (Swin backbone, DETR decoder) + MaskFormerImageProcessor."""
    from transformers import (
        DetrConfig,
        MaskFormerConfig,
        MaskFormerForInstanceSegmentation,
        MaskFormerImageProcessor,
        SwinConfig,
    )

    backbone = SwinConfig(
        image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=4,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    # Larger initial weights than training uses, so that queries differ and their masks do too.
    spread = {"init_std": 0.3, "init_xavier_std": 3.0}
    decoder = DetrConfig(
        d_model=32, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=32, decoder_ffn_dim=32,
        encoder_attention_heads=2, decoder_attention_heads=2, num_queries=8, **spread,
    )
    # The pixel decoder's group norms take 32 groups: feature sizes are multiples of 32.
    config = MaskFormerConfig(
        backbone_config=backbone, decoder_config=decoder, fpn_feature_size=32, mask_feature_size=32,
        id2label=labels(ADE20K), **spread,
    )
    processor = MaskFormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}, size_divisor=32)
    save(folder, MaskFormerForInstanceSegmentation(config), processor)


def build_clipseg(folder: Path) -> None:
    """CIDAS/clipseg-rd64-refined: CLIPSegForImageSegmentation + CLIPSegProcessor, as transformers'
    convert_clipseg_original_pytorch_to_hf.py writes it: the library's default config of 2022 but
    for `patch_size` 16 and `use_complex_transposed_convolution` (the "refined" decoder), so
    `reduce_dim` 64, `extract_layers` [3, 6, 9] of a 12-layer ViT, `conditional_layer` 0, 4 decoder
    heads, and the text ids of then (bos 0, eos 2, pad 1), with which the text model pools at the
    highest id (modeling_clipseg.py keeps that path for configs saved before it changed); a
    ViTFeatureExtractor(size=352) (one number; its ViT is 224 px, so position embeddings are
    interpolated) and openai/clip-vit-base-patch32's CLIPTokenizer (vocab.json, merges.txt, 77
    tokens). Weights in pytorch_model.bin (revision 91cddba)."""
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation, CLIPSegProcessor, ViTImageProcessor

    from tiny_models.hub_layout import write_as_feature_extractor
    from tiny_models.legacy_keys import resave_with_legacy_names
    from tiny_models.tokenizers import clip_tokenizer

    tokenizer = clip_tokenizer(model_max_length=77)
    text = {**TINY_TRANSFORMER, "vocab_size": len(tokenizer), "max_position_embeddings": 77,
            "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
    vision = {**TINY_TRANSFORMER, "num_hidden_layers": 12, "image_size": 64, "patch_size": 16}
    config = CLIPSegConfig(
        text_config=text, vision_config=vision, projection_dim=32, reduce_dim=64, extract_layers=[3, 6, 9],
        decoder_num_attention_heads=4, decoder_intermediate_size=64, conditional_layer=0,
        use_complex_transposed_convolution=True,
    )
    images = ViTImageProcessor(size={"height": 96, "width": 96}, image_mean=[0.485, 0.456, 0.406],
                               image_std=[0.229, 0.224, 0.225])
    processor = CLIPSegProcessor(image_processor=images, tokenizer=tokenizer)
    save(folder, CLIPSegForImageSegmentation(config), processor)
    write_as_feature_extractor(folder)
    resave_with_legacy_names(folder)


# --- depth --------------------------------------------------------------------------------------


def build_glpn(folder: Path) -> None:
    """vinvino02/glpn-nyu, -kitti and sayakpaul's DIODE fine-tunes of glpn-nyu: GLPNForDepthEstimation
    (a SegFormer-B4-shaped encoder: hidden sizes in the ratio 64:128:320:512, deepest third stage; a
    decoder of 64 channels; max_depth 10 for both, which the conversion leaves at its default) and the
    GLPNFeatureExtractor config it was pushed with (only `size_divisor` 32, bilinear, rescale; no
    normalisation); a pytorch_model.bin. Source: transformers' convert_glpn_to_pytorch.py
    (GLPNConfig(hidden_sizes=[64, 128, 320, 512], decoder_hidden_size=64, depths=[3, 8, 27, 3]),
    GLPNFeatureExtractor())."""
    from transformers import GLPNConfig, GLPNForDepthEstimation, GLPNImageProcessor

    config = GLPNConfig(
        depths=[1, 1, 2, 1], hidden_sizes=[8, 16, 40, 64], num_attention_heads=[1, 1, 2, 4],
        decoder_hidden_size=8, max_depth=10,
    )
    save(folder, GLPNForDepthEstimation(config), GLPNImageProcessor(size_divisor=32, resample=2))
    write_feature_extractor_config(folder)
    resave_with_legacy_names(folder)


# --- image-to-text ------------------------------------------------------------------------------


def _encoder_decoder(encoder: Any, decoder: Any, tokenizer: Any, start: int, end: int, pad: int):
    """A VisionEncoderDecoderModel whose generation starts, stops and pads at the given ids, and
    writes readable tokens first."""
    from transformers import VisionEncoderDecoderConfig, VisionEncoderDecoderModel

    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.eos_token_id, config.pad_token_id = start, end, pad
    model = VisionEncoderDecoderModel(config=config)
    generation = model.generation_config
    generation.decoder_start_token_id, generation.eos_token_id, generation.pad_token_id = start, end, pad
    favour_readable_tokens(model, tokenizer)
    return model


def build_trocr(folder: Path) -> None:
    """microsoft/trocr-base-printed and -handwritten: VisionEncoderDecoderModel (ViT encoder, TrOCR
    decoder), ViTImageProcessor, RoBERTa BPE tokenizer (vocab.json, merges.txt); generation starts at </s>.
    As converted (transformers' convert_trocr_unilm_to_pytorch.py): a ViT without query/key/value
    biases (`qkv_bias: false`), a decoder with learned positions and an embedding layer norm (the
    base models), a TrOCRProcessor of ViTImageProcessor and roberta-large's BPE tokenizer."""
    from transformers import TrOCRConfig, ViTConfig, ViTImageProcessor

    tokenizer = roberta_tokenizer()
    encoder = ViTConfig(image_size=32, patch_size=8, qkv_bias=False, **TINY_TRANSFORMER)
    decoder = TrOCRConfig(
        vocab_size=len(tokenizer), d_model=32, decoder_layers=2, decoder_attention_heads=2, decoder_ffn_dim=37,
        max_position_embeddings=64, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, decoder_start_token_id=tokenizer.eos_token_id,
    )
    model = _encoder_decoder(
        encoder, decoder, tokenizer, tokenizer.eos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    )
    images = ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    save(folder, model, images, tokenizer)


def build_manga_ocr(folder: Path) -> None:
    """kha-white/manga-ocr-base: VisionEncoderDecoderModel (ViT encoder, 2-layer BERT decoder with
    cross-attention), ViTImageProcessor and the character-level BertJapaneseTokenizer
    (vocab.txt; MeCab word splitting through fugashi and unidic-lite), starting at [CLS]."""
    from transformers import BertConfig, BertJapaneseTokenizer, ViTConfig, ViTImageProcessor

    characters = "".join(dict.fromkeys("".join(CORPUS).replace(" ", "") + "日本語の漫画を読むこんにちは。、！？"))
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters]) + "\n")
    tokenizer = BertJapaneseTokenizer(
        str(vocab), do_lower_case=False, word_tokenizer_type="mecab", subword_tokenizer_type="character",
        mecab_kwargs={"mecab_dic": "unidic_lite"},
    )
    encoder = ViTConfig(image_size=32, patch_size=8, **TINY_TRANSFORMER)
    decoder = BertConfig(
        **TINY_TRANSFORMER, vocab_size=len(tokenizer), max_position_embeddings=64, is_decoder=True,
        add_cross_attention=True,
    )
    model = _encoder_decoder(
        encoder, decoder, tokenizer, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    )
    images = ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    save(folder, model, images, tokenizer)


def _donut_tokenizer(folder: Path, extra_tokens: tuple[str, ...]):
    """Donut's tokenizer as its repos ship it: XLM-RoBERTa's `sentencepiece.bpe.model` (fairseq ids:
    <s> 0, <pad> 1, </s> 2, <unk> 3, the pieces one up, <mask> last), `<sep/>` and the task tokens
    after it in added_tokens.json (added as special tokens, as Donut's training code adds them),
    special_tokens_map.json naming them, tokenizer_config.json naming XLMRobertaTokenizer; the
    tokenizer.json transformers converts is written beside them when the processor is saved."""
    import json

    tokenizer = xlm_roberta_tokenizer(folder)
    added = ["<sep/>", *extra_tokens]
    tokenizer.add_special_tokens({"additional_special_tokens": added})
    files = {name: json.loads((folder / name).read_text())
             for name in ("tokenizer_config.json", "special_tokens_map.json")}
    files["special_tokens_map.json"]["additional_special_tokens"] = added
    files["tokenizer_config.json"]["additional_special_tokens"] = added
    files["added_tokens.json"] = {token: tokenizer.convert_tokens_to_ids(token) for token in added}
    return tokenizer, files


def _donut(folder: Path, task_tokens: tuple[str, ...]) -> None:
    """VisionEncoderDecoderModel (DonutSwin encoder, MBart decoder) + DonutProcessor, the weights a
    pytorch_model.bin (ivelin/donut-refexp-combined-v1's file list; the naver-clova-ix repos' too)."""
    import json

    from transformers import DonutImageProcessor, DonutProcessor, DonutSwinConfig, MBartConfig

    tokenizer, tokenizer_files = _donut_tokenizer(folder, task_tokens)
    encoder = DonutSwinConfig(
        image_size=[64, 48], patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=4,
    )
    decoder = MBartConfig(
        vocab_size=len(tokenizer), d_model=16, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32,
        encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, max_position_embeddings=128,
        is_decoder=True, add_cross_attention=True, scale_embedding=True, add_final_layer_norm=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = _encoder_decoder(
        encoder, decoder, tokenizer, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    )
    images = DonutImageProcessor(size={"height": 64, "width": 48}, do_align_long_axis=False)
    save(folder, model, DonutProcessor(image_processor=images, tokenizer=tokenizer))
    resave_with_legacy_names(folder)  # the Donut repos (2022) hold pytorch_model.bin alone; no key is renamed
    tokenizer_files["tokenizer_config.json"]["processor_class"] = "DonutProcessor"
    for name, content in tokenizer_files.items():
        (folder / name).write_text(json.dumps(content, indent=2) + "\n")


def build_donut_base(folder: Path) -> None:
    """naver-clova-ix/donut-base: pretrained to read a page's text, prompted by <s_synthdog>.
    Tokenizer files as the Donut repos list them (sentencepiece.bpe.model, tokenizer.json,
    added_tokens.json, special_tokens_map.json, tokenizer_config.json: ivelin/donut-refexp-combined-v1's
    file list; XLM-R's ids from transformers' XLMRobertaConverter and clovaai/donut's model.py)."""
    _donut(folder, DONUT_READING)


def build_donut_docvqa(folder: Path) -> None:
    """naver-clova-ix/donut-base-finetuned-docvqa, jinhybr/OCR-DocVQA-Donut: answers
    `<s_docvqa><s_question>…</s_question><s_answer>` prompts (tokenizer files as `build_donut_base`)."""
    _donut(folder, (*DONUT_READING, *DONUT_DOCVQA))


def build_donut_refexp(folder: Path) -> None:
    """ivelin/donut-refexp-combined-v1: finds the UI element a prompt describes, answering
    with its bounding box (`<s_refexp><s_prompt>…</s_prompt><s_target_bounding_box>`)."""
    _donut(folder, (*DONUT_READING, *DONUT_REFEXP))


def build_pix2struct(folder: Path) -> None:
    """google/pix2struct-base: Pix2StructForConditionalGeneration + Pix2StructProcessor (flattened
    variable-resolution patches, T5 tokenizer). Tokenizer files as the repo lists them: spiece.model
    (T5's SentencePiece ids), tokenizer.json, special_tokens_map.json and a tokenizer_config.json
    naming T5Tokenizer (its file list; transformers' convert_pix2struct_original_pytorch_to_hf.py
    saves a T5 tokenizer with the processor)."""
    from transformers import (
        Pix2StructConfig,
        Pix2StructForConditionalGeneration,
        Pix2StructImageProcessor,
        Pix2StructProcessor,
    )

    tokenizer = t5_tokenizer(folder)
    tokenizer_files = t5_tokenizer_config(tokenizer)
    text = {
        "vocab_size": len(tokenizer), "hidden_size": 32, "d_kv": 16, "d_ff": 37, "num_layers": 2,
        "num_heads": 2, "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": tokenizer.pad_token_id,
    }
    # patch_embed_hidden_size is a flattened patch's length: 8 x 8 pixels x 3 channels.
    vision = {"hidden_size": 32, "patch_embed_hidden_size": 192, "d_kv": 16, "d_ff": 37, "num_hidden_layers": 2,
              "num_attention_heads": 2, "patch_size": 8}
    config = Pix2StructConfig(text_config=text, vision_config=vision, decoder_start_token_id=tokenizer.pad_token_id,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    images = Pix2StructImageProcessor(max_patches=16, patch_size={"height": 8, "width": 8})
    processor = Pix2StructProcessor(image_processor=images, tokenizer=tokenizer)
    model = Pix2StructForConditionalGeneration(config)
    favour_readable_tokens(model, tokenizer)
    save(folder, model, processor)
    write_tokenizer_files(folder, *tokenizer_files)


def build_blip2_opt(folder: Path) -> None:
    """Salesforce/blip2-opt-2.7b and -6.7b: Blip2ForConditionalGeneration (ViT, Q-Former, OPT) +
    Blip2Processor (BLIP image processor, OPT's GPT-2 BPE tokenizer with the `<image>` token the
    processor repeats once per query token, as the current Hub revisions carry it)."""
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, BlipImageProcessor

    tokenizer = gpt2_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    queries = 4
    vision = {**TINY_TRANSFORMER, "image_size": 32, "patch_size": 8}
    qformer = {**TINY_TRANSFORMER, "vocab_size": 64, "encoder_hidden_size": 32, "max_position_embeddings": 32}
    text = {
        "model_type": "opt", "vocab_size": len(tokenizer), "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 2, "ffn_dim": 37, "word_embed_proj_dim": 32, "max_position_embeddings": 64,
        "bos_token_id": tokenizer.eos_token_id, "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    config = Blip2Config(vision_config=vision, qformer_config=qformer, text_config=text, num_query_tokens=queries,
                         image_token_index=image_token)
    images = BlipImageProcessor(size={"height": 32, "width": 32})
    processor = Blip2Processor(image_processor=images, tokenizer=tokenizer, num_query_tokens=queries)
    model = Blip2ForConditionalGeneration(config)
    favour_readable_tokens(model, tokenizer)
    save(folder, model, processor)


# --- visual and document question answering ----------------------------------------------------


def build_git_vqa(folder: Path) -> None:
    """microsoft/git-base-vqav2, -base-textvqa, -large-vqav2, -large-textvqa: GitForCausalLM (CLIP
    vision encoder, BERT-vocabulary text decoder) + GitProcessor (CLIP image processor, BERT tokenizer)."""
    from transformers import CLIPImageProcessor, GitConfig, GitForCausalLM, GitProcessor

    tokenizer = bert_tokenizer(model_max_length=64)
    vision = {**TINY_TRANSFORMER, "image_size": 32, "patch_size": 8}
    config = GitConfig(
        vision_config=vision, **TINY_TRANSFORMER, vocab_size=len(tokenizer), max_position_embeddings=64,
        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    model = GitForCausalLM(config)
    favour_readable_tokens(model, tokenizer)
    save(folder, model, GitProcessor(image_processor=images, tokenizer=tokenizer))


def build_layoutlmv3_qa(folder: Path) -> None:
    """xhyi/layoutlmv3_docvqa_t11c5000: LayoutLMv3ForQuestionAnswering fine-tuned from
    microsoft/layoutlmv3-base, with LayoutLMv3's RoBERTa BPE tokenizer (vocab.json, merges.txt; it
    takes the words' boxes itself) and the base model's code paths (visual patch embeddings of a
    224 px page, 1D and 2D relative attention biases, RoBERTa's ids and 514 positions: the
    defaults of transformers' LayoutLMv3Config, documented as microsoft/layoutlmv3-base's). Like
    the real repo (its file list, tests/data/hub_listings), no preprocessor_config.json: the loader
    falls back to LayoutLMv3's default image processor (224 px, mean/std 0.5, `apply_ocr` on, which
    the loader turns off: it OCRs the page itself). Weights in pytorch_model.bin, here with the
    LayerNorm `gamma`/`beta` names transformers renames on load (legacy_keys), for the family's
    legacy-key stand-in."""
    from transformers import LayoutLMv3Config, LayoutLMv3ForQuestionAnswering, LayoutLMv3Tokenizer

    from tiny_models.legacy_keys import resave_with_legacy_names

    bpe = roberta_tokenizer()
    tokenizer = LayoutLMv3Tokenizer(
        vocab=bpe.get_vocab(), merges=_merges(bpe), add_prefix_space=True, model_max_length=512
    )
    config = LayoutLMv3Config(
        **TINY_TRANSFORMER, vocab_size=len(tokenizer), max_position_embeddings=514, max_2d_position_embeddings=1024,
        input_size=224, patch_size=16, coordinate_size=6, shape_size=4, rel_pos_bins=8, max_rel_pos=16,
        rel_2d_pos_bins=8, max_rel_2d_pos=32, has_relative_attention_bias=True, has_spatial_attention_bias=True,
        visual_embed=True, layer_norm_eps=1e-5, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    save(folder, LayoutLMv3ForQuestionAnswering(config), tokenizer)
    resave_with_legacy_names(folder)


def _merges(tokenizer) -> list[tuple[str, str]]:
    import json

    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    return [tuple(pair) if isinstance(pair, list) else tuple(pair.split(" ")) for pair in model["merges"]]

