"""A saved transformers folder rewritten in the file layout the 2021-2023 Hub repos have.

transformers 5 saves a processor's image settings inside `processor_config.json` and a tokenizer
as `tokenizer.json` alone. The repos the catalog serves were written by older versions: image
settings in `preprocessor_config.json` (a `processor_config.json` only for a processor's own settings,
as BLIP-2's `num_query_tokens`), and the tokenizer's own
vocabulary files (`vocab.json` + `merges.txt` for byte-level BPE, `vocab.txt` for WordPiece),
which is the variant that needs the library to build the tokenizer from its vocabulary. A
Unigram tokenizer keeps its `tokenizer.json`: its real files are sentencepiece models.
"""

from __future__ import annotations

import json
from pathlib import Path

VOCABULARY_MODELS = ("BPE", "WordPiece")


def rewrite_as_hub_layout(folder: Path) -> None:
    _split_processor_config(folder)
    _vocabulary_files(folder)


def _split_processor_config(folder: Path) -> None:
    path = folder / "processor_config.json"
    if not path.is_file():
        return
    config = json.loads(path.read_text())
    images = config.get("image_processor")
    if images is None:
        return
    (folder / "preprocessor_config.json").write_text(json.dumps(images, indent=2, sort_keys=True) + "\n")
    del config["image_processor"]
    if set(config) - {"processor_class"}:  # the processor's own settings (BLIP-2's num_query_tokens) stay
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    else:
        path.unlink()


def _vocabulary_files(folder: Path) -> None:
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.is_file() or json.loads(path.read_text())["model"]["type"] not in VOCABULARY_MODELS:
        return
    Tokenizer.from_file(str(path)).model.save(str(folder))
    path.unlink()


def write_as_feature_extractor(folder: Path) -> None:
    """preprocessor_config.json as a 2021 FeatureExtractor saved it: `feature_extractor_type` in
    place of `image_processor_type`, `size` a plain number (the shortest edge, or a square's side)
    and `max_size` the longest edge."""
    path = folder / "preprocessor_config.json"
    config = json.loads(path.read_text())
    kind = config.pop("image_processor_type")
    config["feature_extractor_type"] = kind.replace("ImageProcessor", "FeatureExtractor")
    size = config.pop("size")
    if "shortest_edge" in size:
        config["size"] = size["shortest_edge"]
        if "longest_edge" in size:
            config["max_size"] = size["longest_edge"]
    else:
        assert size["height"] == size["width"], "a FeatureExtractor's size was one number"
        config["size"] = size["height"]
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
