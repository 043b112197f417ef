"""Tiny random-weight miniatures of the vision families added for the controller's candidates.

Same classes, file names and formats as the real repos (checked against the Hub's file
listings where they could be read): BEiT/DiT and distilled DeiT classifiers, a timm checkpoint
in timm's own Hub layout, Table Transformer, MaskFormer (Swin), CLIPSeg, GLPN, TrOCR and
manga-ocr encoder-decoders, Donut (base, DocVQA, RefExp), Pix2Struct, BLIP-2 (OPT), GIT and
LayoutLMv3. Label maps and vocabularies are small stand-ins; processors are shrunk to tens of
pixels in their saved configs, which real weights replace with their own.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from tiny_models.readable_output import favour_readable_tokens
from tiny_models.tokenizers import CORPUS, bert_tokenizer, gpt2_tokenizer, roberta_tokenizer, t5_tokenizer
from tiny_models.vision import (
    ADE20K,
    IMAGENET,
    TINY_TIMM_RESNET,
    TINY_TRANSFORMER,
    detr_config,
    labels,
    save,
    scaled_batch_norms,
    write_timm_backbone_as_converted,
)

# Table Transformer's two repos name these classes (detection, then structure recognition).
TABLE_CLASSES = ("table", "table rotated", "table column", "table row", "table column header")
# Donut's task tokens, as the real tokenizers add them (added_tokens.json).
DONUT_READING = ("<s_iitcdip>", "<s_synthdog>")
DONUT_DOCVQA = ("<s_docvqa>", "<s_question>", "</s_question>", "<s_answer>", "</s_answer>", "<yes/>", "<no/>")
DONUT_REFEXP = (
    "<s_refexp>", "<s_prompt>", "</s_prompt>", "<s_target_bounding_box>", "</s_target_bounding_box>",
    "<s_xmin>", "</s_xmin>", "<s_ymin>", "</s_ymin>", "<s_xmax>", "</s_xmax>", "<s_ymax>", "</s_ymax>",
)


# --- classification -----------------------------------------------------------------------------


def build_beit_classifier(folder: Path) -> None:
    """microsoft/beit-base-patch16-224-pt22k-ft22k, microsoft/dit-base-finetuned-rvlcdip,
    cafeai/cafe_aesthetic, saltacc/anime-ai-detect: BeitForImageClassification + BeitImageProcessor."""
    from transformers import BeitConfig, BeitForImageClassification, BeitImageProcessor

    config = BeitConfig(
        image_size=32, patch_size=8, **TINY_TRANSFORMER, use_relative_position_bias=True,
        use_mean_pooling=True, layer_scale_init_value=0.1, id2label=labels(IMAGENET),
    )
    processor = BeitImageProcessor(
        size={"height": 32, "width": 32}, do_center_crop=False, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    save(folder, BeitForImageClassification(config), processor)


def build_deit_distilled(folder: Path) -> None:
    """facebook/deit-base-distilled-patch16-224: DeiTForImageClassificationWithTeacher (class and
    distillation heads, averaged) + DeiTImageProcessor (resize, then centre crop)."""
    from transformers import DeiTConfig, DeiTForImageClassificationWithTeacher, DeiTImageProcessor

    config = DeiTConfig(image_size=32, patch_size=8, **TINY_TRANSFORMER, id2label=labels(IMAGENET))
    processor = DeiTImageProcessor(size={"height": 36, "width": 36}, crop_size={"height": 32, "width": 32})
    save(folder, DeiTForImageClassificationWithTeacher(config), processor)


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


def build_table_transformer(folder: Path) -> None:
    """microsoft/table-transformer-detection and -structure-recognition: TableTransformerForObjectDetection
    + DetrImageProcessor. As converted (transformers' convert_table_transformer_to_hf.py): a timm
    `backbone` resnet18 named in a flat config, DetrImageProcessor of format coco_detection; the
    miniature names timm's tiny test ResNet instead and keeps one label map for both repos (the
    real ones: 2 labels, 15 queries for detection; 6 labels, 125 queries for structure)."""
    from transformers import DetrImageProcessor, TableTransformerConfig, TableTransformerForObjectDetection

    detr = detr_config(id2label=labels(TABLE_CLASSES)).to_dict()
    settings = {key: detr[key] for key in (
        "d_model", "encoder_layers", "decoder_layers", "encoder_ffn_dim", "decoder_ffn_dim",
        "encoder_attention_heads", "decoder_attention_heads", "num_queries", "init_std", "init_xavier_std",
    )}
    config = TableTransformerConfig(
        use_timm_backbone=True, backbone=TINY_TIMM_RESNET, id2label=labels(TABLE_CLASSES), **settings,
    )
    processor = DetrImageProcessor(format="coco_detection", size={"shortest_edge": 64, "longest_edge": 96})
    save(folder, scaled_batch_norms(TableTransformerForObjectDetection(config)), processor)
    write_timm_backbone_as_converted(folder)


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
    """vinvino02/glpn-nyu, -kitti and sayakpaul's DIODE fine-tunes: GLPNForDepthEstimation
    (SegFormer-style encoder) + GLPNImageProcessor (sizes rounded down to a multiple of 32)."""
    from transformers import GLPNConfig, GLPNForDepthEstimation, GLPNImageProcessor

    config = GLPNConfig(
        depths=[1, 1, 1, 1], hidden_sizes=[8, 8, 16, 16], num_attention_heads=[1, 1, 2, 2],
        decoder_hidden_size=16, max_depth=10,
    )
    save(folder, GLPNForDepthEstimation(config), GLPNImageProcessor(size_divisor=32))


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


def _xlm_roberta_tokenizer(extra_tokens: tuple[str, ...]):
    """Donut's XLM-RoBERTa Unigram tokenizer over characters and corpus words, plus the repo's
    task tokens (added as special tokens, as Donut's training code adds them)."""
    from transformers import XLMRobertaTokenizer

    words = sorted({word for line in CORPUS for word in line.split()})
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(char, -5.0) for char in string.ascii_letters + string.digits + string.punctuation]
    pieces += [(f"▁{word}", -3.0) for word in words]
    pieces += [("<mask>", 0.0)]
    tokenizer = XLMRobertaTokenizer(vocab=pieces)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<sep/>", *extra_tokens]})
    return tokenizer


def _donut(folder: Path, task_tokens: tuple[str, ...]) -> None:
    """VisionEncoderDecoderModel (DonutSwin encoder, MBart decoder) + DonutProcessor."""
    from transformers import DonutImageProcessor, DonutProcessor, DonutSwinConfig, MBartConfig

    tokenizer = _xlm_roberta_tokenizer(task_tokens)
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


def build_donut_base(folder: Path) -> None:
    """naver-clova-ix/donut-base: pretrained to read a page's text, prompted by <s_synthdog>."""
    _donut(folder, DONUT_READING)


def build_donut_docvqa(folder: Path) -> None:
    """naver-clova-ix/donut-base-finetuned-docvqa, jinhybr/OCR-DocVQA-Donut: answers
    `<s_docvqa><s_question>…</s_question><s_answer>` prompts."""
    _donut(folder, (*DONUT_READING, *DONUT_DOCVQA))


def build_donut_refexp(folder: Path) -> None:
    """ivelin/donut-refexp-combined-v1: finds the UI element a prompt describes, answering
    with its bounding box (`<s_refexp><s_prompt>…</s_prompt><s_target_bounding_box>`)."""
    _donut(folder, (*DONUT_READING, *DONUT_REFEXP))


def build_pix2struct(folder: Path) -> None:
    """google/pix2struct-base: Pix2StructForConditionalGeneration + Pix2StructProcessor (flattened
    variable-resolution patches, T5 tokenizer)."""
    from transformers import (
        Pix2StructConfig,
        Pix2StructForConditionalGeneration,
        Pix2StructImageProcessor,
        Pix2StructProcessor,
    )

    tokenizer = t5_tokenizer()
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

