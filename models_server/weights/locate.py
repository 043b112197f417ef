"""Where a model's weights are on this machine: an override, `model_root`, or the HF cache.

Never touches the network. Used before a load (the runtime), and by anything that checks a
model folder without loading it.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from models_server.errors import WeightsMissing

if TYPE_CHECKING:
    from models_server.catalog import ModelSpec, Repo
    from models_server.config import Settings

# Files that hold weights (or a tokenizer model): what a git-lfs stub can stand in for, and
# what a model never loaded before is estimated by.
WEIGHT_SUFFIXES = frozenset({".safetensors", ".bin", ".pth", ".pt", ".ckpt", ".npy", ".model", ".onnx"})


def weight_dirs(spec: ModelSpec, settings: Settings) -> tuple[Path, ...]:
    """The folder of each of the row's repos; a `weights:` override applies to the first one."""
    override = settings.override(spec.id).weights
    return tuple(
        locate_weights(repo, settings.model_root, override if index == 0 else None)
        for index, repo in enumerate(spec.weights)
    )


def setting_dirs(spec: ModelSpec, settings: Settings) -> dict[str, Path]:
    """The folder of each repo the row's `diffusion:` settings ask for, by setting name."""
    return {setting: locate_weights(repo, settings.model_root)
            for setting, repo in spec.weights_under(settings.diffusion_for(spec.id)).items()}


def satisfies(path: str, pattern: str) -> bool:
    """A `Repo.files` pattern is met by the file, or (for a .zip) by the folder it unpacks to."""
    if fnmatchcase(path, pattern):
        return True
    return pattern.endswith(".zip") and path.startswith(pattern.removesuffix(".zip") + "/")


def locate_weights(repo: Repo, model_root: Path | None, override: Path | None = None) -> Path:
    """The local folder holding `repo`: an override, `<model_root>/<org>/<name>`, or the HF cache.

    Raises WeightsMissing naming every place it looked.
    """
    if override is not None:
        if override.is_dir():
            return override
        raise WeightsMissing(f"weights folder {override} (set in the config for {repo.name}) does not exist")
    looked: list[str] = []
    if model_root is not None:
        for name in repo.names:
            candidate = model_root / name
            if candidate.is_dir():
                return candidate
            looked.append(str(candidate))
    cached = _from_hf_cache(repo.names, repo.repo_type)
    if cached is not None:
        return cached
    looked.append("the Hugging Face cache")
    raise WeightsMissing(
        f"weights of {repo.name} not found (looked in {', '.join(looked)}); "
        f"run `models-server download --model {repo.name}` or set model_root"
    )


def _from_hf_cache(names: tuple[str, ...], repo_type: str) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    for name in names:
        try:
            return Path(snapshot_download(name, repo_type=repo_type, local_files_only=True))
        except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
            continue
    return None


def disk_bytes(folders: Iterable[Path]) -> int:
    """Bytes of the weight files in `folders`: the estimate of a model never loaded before."""
    return sum(
        path.stat().st_size
        for folder in folders
        for path in folder.rglob("*")
        if path.suffix in WEIGHT_SUFFIXES and path.is_file()
    )
