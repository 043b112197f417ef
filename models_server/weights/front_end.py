"""Data a model's text front end reads beside its weights: NLTK's, for the English espnet voices.

Which data a model needs is decided by its own config on disk (espnet's `g2p`), so `check` and
`download` read it from the weights folder, as the loader does. The loader never fetches it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from models_server.catalog import ModelSpec
from models_server.errors import WeightsMissing
from models_server.tasks import espnet, nltk_data
from models_server.tasks.loading import CannotRun
from models_server.weights.locate import locate_weights

# catalog `framework` -> the NLTK packages a model's weights folder says its front end reads
NLTK_NEEDS: dict[str, Callable[[Path], tuple[str, ...]]] = {"espnet": espnet.nltk_packages}


def nltk_needs(spec: ModelSpec, folder: Path) -> tuple[str, ...]:
    reader = NLTK_NEEDS.get(spec.framework)
    if reader is None:
        return ()
    try:
        return reader(folder)
    except (WeightsMissing, OSError, ValueError):  # no readable config: the weights check says so
        return ()


def missing_front_end_data(spec: ModelSpec, folder: Path, *, without_import: bool = False) -> list[str]:
    """The NLTK packages the model's front end reads that are not on this machine; `without_import`
    looks for them without importing NLTK (the server's start)."""
    needed = nltk_needs(spec, folder)
    if not needed:
        return []
    return nltk_data.missing_on_disk(needed) if without_import else nltk_data.missing(needed)


def front_end_refusal(spec: ModelSpec, folder: Path, *, without_import: bool = False) -> CannotRun | None:
    """The NLTK data the model's text front end reads and this machine lacks, as the refusal to
    load it (its loader refuses rather than let the library download them), with the fix."""
    absent = missing_front_end_data(spec, folder, without_import=without_import)
    if not absent:
        return None
    return CannotRun(f"its text front end reads NLTK data not on this machine: {', '.join(absent)}",
                     f"models-server download --model {spec.id}")


def fetch_front_end_data(
    rows: Sequence[ModelSpec], model_root: Path | None, *, dry_run: bool, out: Callable[[str], None] = print
) -> int:
    """Fetch (or, dry, list) the NLTK data the rows' front ends read; return how many packages failed."""
    wanted: dict[str, list[str]] = {}
    for spec in rows:
        if spec.framework not in NLTK_NEEDS or not spec.weights:
            continue
        try:
            folder = locate_weights(spec.weights[0], model_root)
        except WeightsMissing:
            if dry_run:
                out(f"{spec.id}: the NLTK data its front end reads is known once its config is here")
            continue
        for package in missing_front_end_data(spec, folder):
            wanted.setdefault(package, []).append(spec.id)
    if not wanted:
        return 0
    for package, ids in wanted.items():
        out(f"NLTK data {package} (read by {', '.join(ids)}){' (dry run: not fetched)' if dry_run else ''}")
    if dry_run:
        return 0
    failed = nltk_data.fetch(list(wanted))
    for reason in failed:
        out(f"NLTK data {reason}: set HTTPS_PROXY if a proxy is needed, or copy it into {nltk_data.search_path()[0]}")
    return len(failed)
