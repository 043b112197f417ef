"""transformers checkpoints with the key names of their time, which the library renames on load.

transformers' `save_pretrained` already writes a model's own renamed keys back in their original
layout (`save_original_format`), but not the renamings its `conversion_mapping.py` lists as
"legacy": `LayerNorm.gamma`/`.beta` (checkpoints converted from TensorFlow BERT) and weight
norm's `.weight_g`/`.weight_v` (saved before torch's parametrizations, e.g. wav2vec2's positional
convolution). A stand-in of such a repo is re-saved here with those renamings reversed by the
library's own rules, as a `pytorch_model.bin` state dict like the repos of that time hold.
"""

from __future__ import annotations

from pathlib import Path


def resave_with_legacy_names(folder: Path) -> list[str]:
    """Rewrite `folder`'s model.safetensors as pytorch_model.bin with the legacy key names; the keys renamed."""
    import torch
    from safetensors.torch import load_file
    from transformers.conversion_mapping import get_checkpoint_conversion_mapping
    from transformers.core_model_loading import WeightRenaming, apply_renamings

    legacy = [rule.reverse_transform() for rule in get_checkpoint_conversion_mapping("legacy")]
    renamings = [rule for rule in legacy if isinstance(rule, WeightRenaming)]
    safetensors = folder / "model.safetensors"
    state = {apply_renamings(key, renamings): tensor for key, tensor in load_file(safetensors).items()}
    safetensors.unlink()
    torch.save(state, folder / "pytorch_model.bin")
    return sorted(key for key in state if key.endswith((".gamma", ".beta", ".weight_g", ".weight_v")))
