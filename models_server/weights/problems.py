"""What is wrong with the local copy of a weights repo, read from its files without loading them:
git-lfs stubs, no weight file where the download rules expect one, a diffusers component missing,
a config that is no JSON, a truncated safetensors file. `check` reports all of them; `serve` asks
at start for each lazy row, so a half-copied folder is `failed` rather than `loaded: true`.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models_server.catalog import ModelSpec, Repo
from models_server.config import Settings
from models_server.errors import WeightsMissing
from models_server.weights.download import format_size, has_weights, select_files
from models_server.weights.lfs import MAX_POINTER_BYTES, is_lfs_pointer
from models_server.weights.locate import WEIGHT_SUFFIXES, locate_weights, satisfies

# Diffusers components that hold no weights, or that no pipeline of ours loads.
_WEIGHTLESS_COMPONENTS = frozenset({"scheduler", "tokenizer", "tokenizer_2", "feature_extractor", "safety_checker"})


def setting_repo_problems(spec: ModelSpec, settings: Settings,
                          largest_json: int | None = None) -> list[tuple[str, str]]:
    """What is wrong with the repos the row's `diffusion:` settings make its loader read (the
    TAESD decoder under `tiny_vae`), as (problem, fix) pairs: the start-up check and `check`."""
    problems: list[tuple[str, str]] = []
    for repo in spec.weights_under(settings.diffusion_for(spec.id)).values():
        where = f"its `diffusion:` settings read {repo.name}"
        try:
            folder = locate_weights(repo, settings.model_root)
        except WeightsMissing as exc:
            problems.append((f"{where}: {str(exc).split(';')[0]}", f"models-server download --model {repo.name}"))
            continue
        problems += [(f"{where}: {problem}", fix) for problem, fix in repo_problems(repo, folder, None, largest_json)]
    return problems


def repo_problems(
    repo: Repo,
    folder: Path,
    config_problem: Callable[[dict[str, Any]], str | None] | None = None,
    largest_json: int | None = None,
) -> list[tuple[str, str]]:
    """What is wrong with the local copy of `repo` in `folder`, as (problem, fix) pairs;
    `config_problem` says what is wrong with a parsed config.json beyond its JSON (`check` asks
    transformers whether it knows the model type); JSON files over `largest_json` bytes (a
    tokenizer's vocabulary) are not parsed."""
    download = f"models-server download --model {repo.name}"
    listing = _local_listing(folder)
    pointers = [path for path, size in listing
                if size <= MAX_POINTER_BYTES and Path(path).suffix in WEIGHT_SUFFIXES and is_lfs_pointer(folder / path)]
    if pointers:
        more = f" and {len(pointers) - 1} more" if len(pointers) > 1 else ""
        return [(f"{pointers[0]}{more} in {folder} is a git-lfs pointer, not the weights",
                 f"git lfs pull (in {folder}) or {download}")]
    problems: list[tuple[str, str]] = []
    if repo.files:
        for pattern in repo.files:
            if not any(satisfies(path, pattern) for path, _ in listing):
                problems.append((f"{folder} has no file matching {pattern}", download))
    else:
        chosen = select_files(listing, repo)
        if not has_weights(chosen):
            problems.append((f"{folder} holds no weight file (.safetensors or .bin)", download))
        problems.extend(_component_problems(folder, download))
    for path, size in listing:
        if path.endswith(".json") and largest_json is not None and size > largest_json:
            continue
        reason = _file_problem(folder / path, config_problem)
        if reason:
            problems.append((f"{folder / path} {reason}", download))
    return problems


def _local_listing(folder: Path) -> list[tuple[str, int]]:
    """(path under `folder`, size) of every file, sorted; hidden files and folders left out."""
    listing = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        prefix = Path(root).relative_to(folder)
        for name in files:
            path = Path(root) / name
            if not name.startswith(".") and path.is_file():
                listing.append(((prefix / name).as_posix(), path.stat().st_size))
    return sorted(listing)


def _component_problems(folder: Path, download: str) -> list[tuple[str, str]]:
    """A diffusers pipeline folder: every component model_index.json names must be there."""
    index = folder / "model_index.json"
    try:
        components = json.loads(index.read_text())
    except (OSError, ValueError):
        return []
    problems = []
    for name, value in components.items():
        if name.startswith("_") or not isinstance(value, list) or value[0] is None or name in _WEIGHTLESS_COMPONENTS:
            continue
        sub = folder / name
        if not (sub / "config.json").is_file():
            problems.append((f"{sub}/config.json is missing (model_index.json lists {name})", download))
        elif not any(path.suffix in WEIGHT_SUFFIXES for path in sub.iterdir()):
            problems.append((f"{sub} holds no weight file (model_index.json lists {name})", download))
    return problems


def _file_problem(path: Path, config_problem: Callable[[dict[str, Any]], str | None] | None) -> str | None:
    """Why a config or safetensors file cannot be read, from its bytes alone."""
    if path.suffix == ".json":
        try:
            config = json.loads(path.read_bytes())
        except ValueError as exc:
            return f"is not valid JSON ({exc})"
        if path.name == "config.json" and isinstance(config, dict) and config_problem is not None:
            return config_problem(config)
        return None
    if path.suffix == ".safetensors":
        return _safetensors_problem(path)
    return None


def _safetensors_problem(path: Path) -> str | None:
    """A truncated or corrupt file: its header says how long it must be (8 + header + data)."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            if header_len > size - 8:
                return "is truncated or not a safetensors file (its header runs past the end)"
            header = json.loads(handle.read(header_len))
    except (struct.error, ValueError):
        return "is not a safetensors file (unreadable header)"
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    needed = 8 + header_len + max(ends, default=0)
    if size < needed:
        return f"is truncated ({format_size(size)} of {format_size(needed)})"
    return None
