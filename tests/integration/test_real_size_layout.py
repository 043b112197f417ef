"""`make-tiny --scale real` writes each minimal-tier repo in the very layout of its tiny stand-in,
which mirrors the real repo as `download` leaves it: the same files, the same config keys, the
same weight key names and dtypes. The loaders are tested on the stand-ins, so a real-size build
that differed from them could fail where they pass.

The real-size builders run here on the published configs narrowed to a few channels (keys and
file names do not depend on widths, and the channel changes between blocks are kept, so every
key of the real architecture is written); the annotators and TAESD, whose networks are small or
fixed, are built at their real size.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from models_server.catalog import generation, minimal, unique_repos
from models_server.catalog.rows import Repo
from tiny_models import make_tiny, real_size
from tiny_models.registry import REAL_SIZE_BUILDERS, TINY_BUILDERS

# One repo per family (the eight ControlNets share one builder), and the TAESD decoder they may use.
REPOS: list[Repo] = list({repo.family: repo for repo in [*unique_repos(minimal.MODELS), generation.TAESD]}.values())

# Files whose content does not depend on the models' size: equal, not only in their keys.
SIZE_FREE = re.compile(r"(^|/)(model_index\.json|scheduler_config\.json|preprocessor_config\.json|tokenizer/.*)$")

NARROW: dict[str, dict[str, Any]] = {
    "SD15_UNET": {"block_out_channels": [32, 64, 128, 128], "cross_attention_dim": 32},
    "SD15_VAE": {"block_out_channels": [32, 64, 128, 128]},
    "SD15_TEXT_ENCODER": {"hidden_size": 32, "intermediate_size": 37, "projection_dim": 32, "num_attention_heads": 4},
    "SD15_CONTROLNET": {"block_out_channels": [32, 64, 128, 128], "cross_attention_dim": 32},
    "DPT_HYBRID_MIDAS": {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                         "neck_hidden_sizes": [16, 16, 32, 32], "fusion_hidden_size": 32},
    "UPERNET_CONVNEXT_SMALL_BACKBONE": {"depths": [1, 1, 1, 1], "hidden_sizes": [8, 16, 24, 32]},
    "UPERNET_CONVNEXT_SMALL": {"hidden_size": 16, "auxiliary_in_channels": 24, "auxiliary_channels": 8},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tiny root, real-size root) of every minimal-tier repo and TAESD, built with make_tiny."""
    tiny, real = tmp_path_factory.mktemp("tiny"), tmp_path_factory.mktemp("real")
    make_tiny(tiny, REPOS, builders=TINY_BUILDERS)
    with pytest.MonkeyPatch.context() as patch:
        for name, narrow in NARROW.items():
            patch.setattr(real_size, name, {**getattr(real_size, name), **narrow})
        make_tiny(real, REPOS, builders=REAL_SIZE_BUILDERS)
    return tiny, real


def files(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def key_tree(value: Any) -> Any:
    """A JSON value's dict keys, nested; other values left out."""
    if isinstance(value, dict):
        return {key: key_tree(item) for key, item in value.items()}
    return None


def weight_names(path: Path) -> tuple[set[str], set[torch.dtype]]:
    """A weight file's key names with block and layer numbers blanked (their count is the size's
    business, their names the layout's), and its dtypes."""
    if path.suffix == ".safetensors":
        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    return {re.sub(r"\.\d+(?=\.)", ".#", key) for key in state}, {tensor.dtype for tensor in state.values()}


def test_every_minimal_tier_family_is_compared():
    families = {repo.family for repo in REPOS}
    assert families == {repo.family for repo in unique_repos(minimal.MODELS)} | {"taesd"}
    assert families <= set(REAL_SIZE_BUILDERS)


@pytest.mark.parametrize("repo", REPOS, ids=lambda repo: repo.family)
def test_the_real_size_repo_has_the_tiny_repos_files_and_config_keys(built: tuple[Path, Path], repo: Repo):
    tiny, real = (root / repo.name for root in built)
    assert files(real) == files(tiny)
    for name in files(tiny):
        if name.endswith(".json"):
            tiny_json, real_json = (json.loads((root / name).read_text()) for root in (tiny, real))
            if SIZE_FREE.search(name):
                assert real_json == tiny_json, name
            else:
                assert key_tree(real_json) == key_tree(tiny_json), name
        elif SIZE_FREE.search(name):
            assert (real / name).read_bytes() == (tiny / name).read_bytes(), name


@pytest.mark.parametrize("repo", REPOS, ids=lambda repo: repo.family)
def test_the_real_size_weights_have_the_tiny_weights_key_names_and_dtypes(built: tuple[Path, Path], repo: Repo):
    tiny, real = (root / repo.name for root in built)
    for name in files(tiny):
        if not name.endswith((".safetensors", ".pth")):
            continue
        (tiny_keys, tiny_dtypes), (real_keys, real_dtypes) = weight_names(tiny / name), weight_names(real / name)
        assert real_keys == tiny_keys, name
        if repo.family != "controlnet-annotators":  # the stand-ins store these float16 to halve the files
            assert real_dtypes == tiny_dtypes, name
