"""`models-server download`: fetch from the Hub only the files our loaders read.

Hub repos carry the same weights several times over (a .bin and a .safetensors, fp16 and fp32,
single-file checkpoints beside the diffusers folders, ONNX/Flax/TF exports): fetching whole repos
costs several times the disk and time. `select_files` decides from a repo's file listing alone, so
it is tested offline against reconstructed listings; `Hub` is the only part that talks to the network.
Files land where `serve` looks: `<model_root>/<org>/<name>/...`, or the Hugging Face cache.
"""

from __future__ import annotations

import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, Any

from models_server.catalog import ModelSpec, Repo, unique_repos
from models_server.logs import library_handlers_removed
from models_server.weights.lfs import is_lfs_pointer

Listing = list[tuple[str, int]]  # (path in repo, size in bytes)

# The weight files transformers and diffusers load by default; `pytorch_model.bin` is the .bin form
# of `model.safetensors`. Anything else (v1-5-pruned.ckpt, open_clip_pytorch_model.bin,
# training_args.bin, ...) is a duplicate or not read; repos whose loaders read such files list them
# in `Repo.files`.
_WEIGHT_STEMS = {"model": "model", "pytorch_model": "model", "diffusion_pytorch_model": "diffusion_pytorch_model"}
_WEIGHT_FORMATS = ("safetensors", "bin")
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")
_INDEX = re.compile(
    r"^(?P<stem>[^.]+)(?:\.(?P<variant1>[^.]+))?\.(?P<fmt>safetensors|bin)\.index(?:\.(?P<variant2>[^.]+))?\.json$"
)
# Configs, tokenizers, processors, vocabularies, merges, sentencepiece models.
_METADATA_SUFFIXES = (".json", ".txt", ".model", ".spm", ".tiktoken")
# Other formats of the same weights, and the safety checker no pipeline of ours loads.
_SKIPPED_FOLDERS = frozenset({"safety_checker", "onnx", "openvino", "coreml"})


@dataclass(frozen=True)
class _Weight:
    folder: str
    key: str
    variant: str | None
    fmt: str


def _weight(path: str) -> _Weight | None:
    """The weight group a file (a shard, a whole file or a shard index) belongs to, if it is one."""
    folder, _, name = path.rpartition("/")
    index = _INDEX.match(name)
    if index:
        stem, fmt = index["stem"], index["fmt"]
        variant = index["variant1"] or index["variant2"]
    else:
        base, _, fmt = name.rpartition(".")
        if fmt not in _WEIGHT_FORMATS:
            return None
        stem, _, variant = _SHARD.sub("", base).partition(".")
    key = _WEIGHT_STEMS.get(stem)
    return None if key is None else _Weight(folder, key, variant or None, fmt)


def _preference(key: str, prefer_fp16: bool) -> list[tuple[str | None, str]]:
    """(variant, format) choices, best first.

    Diffusers loaders ask for the fp16 variant when it is on disk (`fp16_variant`); transformers
    components (a pipeline's text_encoder, every transformers model) are loaded without a variant,
    so for them the full-precision file comes first. Safetensors always beats .bin: it loads
    without unpickling and memory-maps.
    """
    full = [(None, "safetensors"), (None, "bin")]
    half = [("fp16", "safetensors"), ("fp16", "bin")]
    if key == "diffusion_pytorch_model" and prefer_fp16:
        return [half[0], full[0], half[1], full[1]]
    return [*full, *half]


def _skipped(path: str) -> bool:
    parts = path.split("/")
    return any(part.startswith(".") for part in parts) or any(part in _SKIPPED_FOLDERS for part in parts[:-1])


def select_files(repo_files: Listing, repo: Repo, *, prefer_fp16: bool = True) -> list[str]:
    """The files of `repo` our loaders read, sorted, from the repo's (path, size) listing.

    With `repo.files` set: exactly the files those glob patterns match. Otherwise every config,
    tokenizer and processor file, and per folder one copy of each set of weights (all its shards
    and its index): fp16 for diffusers weights when present (unless `prefer_fp16` is False),
    safetensors over .bin, never another format or variant of the same weights.
    """
    paths = [path for path, _ in repo_files]
    if repo.files:
        return sorted(path for path in paths if any(fnmatchcase(path, pattern) for pattern in repo.files))
    chosen: list[str] = []
    groups: dict[tuple[str, str], dict[tuple[str | None, str], list[str]]] = {}
    for path in paths:
        if _skipped(path):
            continue
        weight = _weight(path)
        if weight is not None:
            group = groups.setdefault((weight.folder, weight.key), {})
            group.setdefault((weight.variant, weight.fmt), []).append(path)
        elif path.endswith(_METADATA_SUFFIXES):
            chosen.append(path)
    for (_, key), candidates in groups.items():
        best = next((choice for choice in _preference(key, prefer_fp16) if choice in candidates), None)
        if best is not None:
            chosen.extend(candidates[best])
    return sorted(chosen)


def unmatched_patterns(repo_files: Listing, repo: Repo) -> list[str]:
    """Patterns of `repo.files` that match no file: a renamed file the loader will miss."""
    paths = [path for path, _ in repo_files]
    return [pattern for pattern in repo.files if not any(fnmatchcase(path, pattern) for path in paths)]


def has_weights(files: Iterable[str]) -> bool:
    """Whether a selection holds anything but configs (a repo with odd weight names needs `Repo.files`)."""
    return any(not path.endswith(_METADATA_SUFFIXES) for path in files)


def rows_repos(rows: Iterable[ModelSpec], beside: Callable[[ModelSpec], tuple[Repo, ...]]) -> list[Repo]:
    """Every repo the rows read, once each: their weights and what `beside(row)` adds (the repos
    their settings ask for)."""
    picked: dict[str, Repo] = {}
    for row in rows:
        for repo in (*row.weights, *beside(row)):
            picked.setdefault(repo.name, repo)
    return list(picked.values())


def choose_repos(
    rows: Sequence[ModelSpec], wanted: Sequence[str], beside: Callable[[ModelSpec], tuple[Repo, ...]] = lambda row: ()
) -> list[Repo]:
    """The repos to fetch for `wanted` served ids (or aliases) or repo names, once each; a row's
    with what `beside(row)` adds.

    Raises LookupError naming the first entry that is neither.
    """
    by_id = {name: row for row in rows for name in (row.id, *row.aliases)}
    by_repo = {name: repo for repo in unique_repos(rows) for name in repo.names}
    picked: dict[str, Repo] = {}
    for entry in wanted:
        if entry in by_id:
            repos = (*by_id[entry].weights, *beside(by_id[entry]))
        elif entry in by_repo:
            repos = (by_repo[entry],)
        else:
            raise LookupError(
                f"{entry!r} is neither a served model id nor a weights repo; `models-server list` shows both "
                f"(a Hub model the catalog lacks: add `{entry}: {{task: ...}}` under `models:` and pass --config)"
            )
        for repo in repos:
            picked.setdefault(repo.name, repo)
    return list(picked.values())


class Hub:
    """The Hub calls we make; `HF_ENDPOINT` and `HF_TOKEN` are read by huggingface_hub itself.

    `endpoint` overrides HF_ENDPOINT for file downloads (a mirror given in-process).
    """

    def __init__(self, endpoint: str | None = None) -> None:
        import huggingface_hub.utils.logging  # noqa: F401  (its stderr handler, removed below)

        self.endpoint = endpoint
        library_handlers_removed("huggingface_hub")

    def unreachable(self, timeout: float = 5.0) -> str | None:
        """One line saying why the Hub cannot be reached from here and what to set, or None.

        Asked once before any listing: huggingface_hub retries each call five times with back-off,
        which made an unreachable Hub cost minutes and a page of warnings per repo.
        """
        from huggingface_hub import constants
        from huggingface_hub.utils import get_session

        url = self.endpoint or constants.ENDPOINT
        try:
            get_session().head(url, timeout=timeout, follow_redirects=False)
        except Exception as exc:  # httpx's connect, timeout and proxy errors: all say the same to a user
            return (f"cannot reach the Hugging Face Hub at {url}: {_network_reason(exc)}; set HF_ENDPOINT to a "
                    "mirror this machine can reach, or HTTPS_PROXY to your proxy")
        return None

    def listing(self, name: str, kind: str) -> Listing | None:
        """Every file of the repo with its size, or None when no repo has that name."""
        from huggingface_hub import HfApi
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
        from huggingface_hub.hf_api import RepoFile

        try:
            entries = HfApi().list_repo_tree(name, repo_type=kind, recursive=True)
            return [(entry.path, entry.size) for entry in entries if isinstance(entry, RepoFile)]
        except GatedRepoError:
            raise  # exists, but needs the licence accepted and HF_TOKEN: the user must know
        except RepositoryNotFoundError:
            return None

    def cached(self, name: str, kind: str, path: str, local_dir: Path | None) -> Path | None:
        """Where `path` of the repo already is on disk (in `local_dir`, else the HF cache), if it is."""
        if local_dir is not None:
            candidate = local_dir / path
            return candidate if candidate.is_file() else None
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(name, path, repo_type=kind)
        return Path(found) if isinstance(found, str) else None

    def fetch(
        self, name: str, kind: str, files: Sequence[str], local_dir: Path | None, progress: Progress | None = None
    ) -> Path:
        """Download `files` one by one (resuming partial ones); return the folder holding the repo.

        Each file's bytes are added to `progress` as they arrive.
        """
        from huggingface_hub import hf_hub_download

        folder = local_dir
        for path in files:
            bar_class = progress.file_bar_class(path) if progress else None
            where = Path(hf_hub_download(name, path, repo_type=kind, local_dir=local_dir,
                                              tqdm_class=bar_class, endpoint=self.endpoint))
            folder = folder or where.parents[len(Path(path).parts) - 1]
            if progress:
                progress.file_done(path)
        assert folder is not None or not files
        return folder or Path()


class Progress:
    """One bar for the bytes of a whole download, on a terminal (hidden when output is not one)."""

    def __init__(self, total: int, stream: IO[str] | None = None, shown: bool | None = None) -> None:
        from tqdm import tqdm

        disable = None if shown is None else not shown  # None: shown on a terminal only
        self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1000, disable=disable,
                        file=stream or sys.stderr, desc="downloading", dynamic_ncols=True, leave=True)

    def file_bar_class(self, path: str) -> type:
        """A tqdm class for huggingface_hub's per-file bar that shows nothing and feeds this bar."""
        from tqdm import tqdm

        overall = self.bar
        overall.set_postfix_str(path, refresh=False)

        class _FeedsOverall(tqdm):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs["disable"] = True
                super().__init__(*args, **kwargs)

            def update(self, n: float | None = 1) -> bool | None:
                if n:
                    overall.update(n)
                return super().update(n)

        return _FeedsOverall

    def file_done(self, path: str) -> None:
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def format_size(size: int) -> str:
    """Decimal units, as the Hub shows sizes."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


@dataclass
class _Plan:
    """One repo's selection, split into the files to fetch and those already on disk."""

    repo: Repo
    name: str
    local_dir: Path | None
    fetch: list[tuple[str, int]]
    present: list[tuple[str, int]]


def download(
    repos: Sequence[Repo],
    model_root: Path | None,
    *,
    dry_run: bool = False,
    prefer_fp16: bool = True,
    hub: Hub | None = None,
    out: Callable[[str], None] = print,
    progress_stream: IO[str] | None = None,
) -> int:
    """Fetch (or, dry, only list) each repo's selected files; return how many repos failed.

    Files already on disk with their Hub size are skipped. One repo failing (missing, gated,
    network) is reported and the others still come. A progress bar counts the bytes of the
    whole download; the last line says what was fetched, skipped and failed.
    """
    hub = hub or Hub()
    problem = hub.unreachable()
    if problem is not None:
        out(problem)
        return len(repos)
    failed = 0
    plans: list[_Plan] = []
    for repo in repos:
        try:
            plans.append(_plan(repo, model_root, prefer_fp16, hub, out))
        except Exception as exc:  # reported, counted in the exit code; the other repos still download
            out(f"{repo.name}: error: {type(exc).__name__}: {_first_line(exc)}")
            failed += 1
    if dry_run:
        files = [item for plan in plans for item in plan.fetch + plan.present]
        failures = f", {failed} failed" if failed else ""
        out(f"total: {len(files)} files, {format_size(sum(size for _, size in files))} in {len(plans)} repos"
            f"{failures} (dry run: nothing downloaded)")
        return failed
    progress = Progress(sum(size for plan in plans for _, size in plan.fetch), progress_stream)
    fetched: list[tuple[str, int]] = []
    try:
        for plan in plans:
            try:
                folder = hub.fetch(plan.name, plan.repo.repo_type, [path for path, _ in plan.fetch], plan.local_dir,
                                   progress)
                _unpack_archives(folder if plan.fetch else plan.local_dir, [path for path, _ in plan.fetch], out)
            except Exception as exc:
                out(f"{plan.name}: error: {type(exc).__name__}: {_first_line(exc)}")
                failed += 1
                continue
            fetched += plan.fetch
    finally:
        progress.close()
    skipped = [item for plan in plans for item in plan.present]
    out(summary(fetched, skipped, len(plans) + failed, failed))
    return failed


def summary(fetched: Sequence[tuple[str, int]], skipped: Sequence[tuple[str, int]], repos: int, failed: int) -> str:
    """What a download did, in one line."""
    failures = f"; {failed} of {repos} repos failed (see the errors above)" if failed else ""
    return (f"fetched {len(fetched)} files ({format_size(sum(size for _, size in fetched))}), "
            f"skipped {len(skipped)} already present ({format_size(sum(size for _, size in skipped))}){failures}")


def _plan(repo: Repo, model_root: Path | None, prefer_fp16: bool, hub: Hub, out: Callable[[str], None]) -> _Plan:
    kind = repo.repo_type
    for name in repo.names:
        listing = hub.listing(name, kind)
        if listing is not None:
            break
    else:
        raise LookupError(f"no {kind} repo named {' or '.join(repo.names)} on the Hub")
    files = select_files(listing, repo, prefer_fp16=prefer_fp16)
    missing = unmatched_patterns(listing, repo)
    if missing:
        raise LookupError(f"{name} has no file matching {', '.join(missing)}")
    if not has_weights(files):
        raise LookupError(f"{name}: no weight file matches the download rules; list the files in Repo.files")
    sizes = dict(listing)
    local_dir = None if model_root is None else model_root / name
    plan = _Plan(repo, name, local_dir, [], [])
    out(f"{name} -> {local_dir or 'the Hugging Face cache'}")
    for path in files:
        on_disk = hub.cached(name, kind, path, local_dir)
        present = on_disk is not None and on_disk.stat().st_size == sizes[path] and not is_lfs_pointer(on_disk)
        (plan.present if present else plan.fetch).append((path, sizes[path]))
        out(f"  {format_size(sizes[path]):>9}  {path}{'  (already present)' if present else ''}")
    size = sum(sizes[path] for path in files)
    out(f"  {len(files)} files, {format_size(size)}")
    return plan


def _unpack_archives(folder: Path | None, files: Iterable[str], out: Callable[[str], None]) -> None:
    """Unpack fetched .zip files beside themselves: loaders read their members as plain files
    (the x-vectors come as one zip of .npy files). Members already there are left alone, so a
    second run costs nothing; zipfile strips `..` and absolute parts from member names."""
    for path in files:
        if folder is None or not path.endswith(".zip"):
            continue
        target = (folder / path).parent
        with zipfile.ZipFile(folder / path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir() and not (target / m.filename).is_file()]
            archive.extractall(target, members)
        out(f"  unpacked {len(members)} files from {path}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _network_reason(exc: BaseException) -> str:
    """What a failed connection means, in a few words (the errno texts name the case)."""
    text = str(exc)
    if "name resolution" in text or "not known" in text or "No address associated" in text:
        return "its name does not resolve here (no DNS for it)"
    if "refused" in text.lower():
        return "the connection was refused"
    if "timed out" in text.lower() or "Timeout" in type(exc).__name__:
        return "the connection timed out"
    return f"{type(exc).__name__}: {_first_line(exc)}"
