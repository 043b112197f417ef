"""Catalog rows: each carries its real fp16 size, with the figures the first rows were planned with."""

from __future__ import annotations

from models_server.catalog import catalog_rows

# fp16 bytes of the first rows (minimal, standard and full tiers as first built): published
# parameter counts x 2 bytes, as the budgets have been planned with.
FIRST_ROWS_FP16_BYTES = {
    "canny-control": 0,
    "hed-control": 29_000_000,
    "scribble-control": 29_000_000,
    "mlsd-control": 3_000_000,
    "openpose-control": 105_000_000,
    "depth-control": 246_000_000,
    "normal-control": 246_000_000,
    "seg-control": 164_000_000,
    "lllyasviel/sd-controlnet-canny": 2_857_000_000,
    "lllyasviel/sd-controlnet-depth": 2_857_000_000,
    "lllyasviel/sd-controlnet-hed": 2_857_000_000,
    "lllyasviel/sd-controlnet-mlsd": 2_857_000_000,
    "lllyasviel/sd-controlnet-normal": 2_857_000_000,
    "lllyasviel/sd-controlnet-openpose": 2_857_000_000,
    "lllyasviel/sd-controlnet-scribble": 2_857_000_000,
    "lllyasviel/sd-controlnet-seg": 2_857_000_000,
    "nlpconnect/vit-gpt2-image-captioning": 478_000_000,
    "ydshieh/vit-gpt2-coco-en": 478_000_000,
    "Salesforce/blip-image-captioning-base": 494_000_000,
    "facebook/detr-resnet-50": 83_000_000,
    "facebook/detr-resnet-101": 121_000_000,
    "hustvl/yolos-tiny": 13_000_000,
    "google/owlvit-base-patch32": 306_000_000,
    "facebook/detr-resnet-50-panoptic": 86_000_000,
    "nvidia/segformer-b0-finetuned-ade-512-512": 8_000_000,
    "Intel/dpt-large": 686_000_000,
    "dandelin/vilt-b32-finetuned-vqa": 235_000_000,
    "Salesforce/blip-vqa-base": 770_000_000,
    "impira/layoutlm-document-qa": 256_000_000,
    "openai/whisper-base": 145_000_000,
    "facebook/wav2vec2-base-960h": 189_000_000,
    "microsoft/speecht5_asr": 310_000_000,
    "google/vit-base-patch16-224": 173_000_000,
    "microsoft/resnet-50": 51_000_000,
    "Intel/dpt-hybrid-midas": 246_000_000,
    "damo-vilab/text-to-video-ms-1.7b": 3_400_000_000,
    "microsoft/speecht5_tts": 314_000_000,
    "microsoft/speecht5_vc": 335_000_000,
    "ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition": 631_000_000,
    "superb/wav2vec2-base-superb-ks": 189_000_000,
    "deepset/roberta-base-squad2": 248_000_000,
    "distilbert-base-cased-distilled-squad": 130_000_000,
    "distilbert-base-uncased-finetuned-sst-2-english": 134_000_000,
    "cardiffnlp/twitter-roberta-base-sentiment": 250_000_000,
    "dslim/bert-base-NER": 216_000_000,
    "sentence-transformers/all-MiniLM-L6-v2": 45_000_000,
    "facebook/bart-large-cnn": 812_000_000,
    "t5-base": 446_000_000,
    "gpt2": 248_000_000,
    "google/flan-t5-base": 496_000_000,
    "runwayml/stable-diffusion-v1-5": 2_134_000_000,
    "lambdalabs/sd-image-variations-diffusers": 2_500_000_000,
}


def test_every_row_carries_its_fp16_size() -> None:
    assert [row.id for row in catalog_rows() if row.fp16_bytes is None] == []


def test_the_first_rows_keep_their_sizes() -> None:
    sizes = {row.id: row.fp16_bytes for row in catalog_rows()}
    changed = {model_id: (sizes.get(model_id), size) for model_id, size in FIRST_ROWS_FP16_BYTES.items()
               if sizes.get(model_id) != size}
    assert not changed


def test_a_refusal_to_load_a_broken_copy_names_the_model_in_its_fix(tmp_path) -> None:
    """The checks that find a broken copy read a folder; the row's refusal says which model to fetch again."""
    (row,) = [row for row in catalog_rows() if row.id == "sentence-transformers/all-mpnet-base-v2"]
    (tmp_path / "modules.json").write_text("{not json")
    refusal = row.refusal(tmp_path)
    assert refusal is not None and "is not readable JSON" in str(refusal)
    assert getattr(refusal, "fix", None) == f"download the model again (models-server download --model {row.id})"
