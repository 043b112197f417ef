"""`models-server check`: which models of a tier will fail, and why, before a long start.

Offline and read-only: for each enabled model it looks at the folders `serve` would read
(`weights.weight_dirs`), the files the download rules say a loader reads, git-lfs stubs,
truncated safetensors, unreadable configs, the row's library and the model's size against
the memory budget. With `load=True` it then loads each model that passed, through the same
`Runtime` as `serve`, one at a time (each is unloaded again, so memory stays bounded).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from models_server.catalog import ModelSpec
from models_server.catalog.sizes import SHARED_REPO_BYTES
from models_server.config import Settings
from models_server.controller.candidates import HYBRID_FLOOR
from models_server.errors import WeightsMissing
from models_server.runtime.devices import DeviceKind
from models_server.tasks.generic import ModelUnfit
from models_server.tasks.libraries import Framework, import_library
from models_server.tasks.loading import CannotRun
from models_server.weights.download import format_size
from models_server.weights.front_end import front_end_refusal
from models_server.weights.locate import disk_bytes, locate_weights
from models_server.weights.problems import repo_problems, setting_repo_problems

# The module each catalog `framework` is imported as.
_LIBRARIES: dict[Framework, str] = {
    "transformers": "transformers",
    "diffusers": "diffusers",
    "controlnet_aux": "controlnet_aux",
    "sentence-transformers": "sentence_transformers",
    "scikit-learn": "sklearn",
}
# Fewer loaded candidates than this and the controller, in hybrid mode without the Hub, waits forever.
CONTROLLER_MIN_CANDIDATES = HYBRID_FLOOR


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"  # serves, but something deserves a look (e.g. over the budget with others)
    FAIL = "fail"


@dataclass
class ModelCheck:
    """The findings about one served model id; `problems[i]` is fixed by `fixes[i]`."""

    spec: ModelSpec
    preload: bool
    size: int | None = None
    size_source: str = ""  # "fp16" (catalog), "fp32" (catalog, doubled), "disk", "loaded"
    shared: dict[str, int] = field(default_factory=dict)  # bytes of `size` in repos the runtime holds once
    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    load_seconds: float | None = None

    @property
    def verdict(self) -> Verdict:
        if self.problems:
            return Verdict.FAIL
        return Verdict.WARN if self.warnings else Verdict.OK

    @property
    def blocks_start(self) -> bool:
        """A preloaded model that will fail: what the exit code counts."""
        return self.preload and self.verdict is Verdict.FAIL

    def fail(self, problem: str, fix: str) -> None:
        self.problems.append(problem)
        self.fixes.append(fix)


@dataclass(frozen=True)
class Target:
    """Where the models will run: which budget their bytes count against and in what precision."""

    device: str
    kind: DeviceKind
    budget: int | None
    half: bool  # float16/bfloat16 weights: the catalog's fp16 size applies as is

    @classmethod
    def of(cls, settings: Settings) -> Target:
        from models_server.runtime.devices import resolve_device

        try:
            device = resolve_device(settings.device)
        except RuntimeError:
            device = settings.device
        kind: DeviceKind = "gpu" if device.startswith("cuda") else "cpu"
        dtype = settings.dtype if settings.dtype != "auto" else ("float16" if kind == "gpu" else "float32")
        budget = settings.max_gpu_memory if kind == "gpu" else settings.max_cpu_memory
        return cls(device, kind, budget, dtype in ("float16", "bfloat16"))


def checked_rows(rows: Sequence[ModelSpec], settings: Settings, wanted: Sequence[str] = ()) -> list[ModelSpec]:
    """The rows to check: the named ids (or aliases), else every enabled row of the tier.

    Raises LookupError naming the first id the catalog does not have.
    """
    if wanted:
        by_name = {name: row for row in rows for name in (row.id, *row.aliases)}
        missing = [name for name in wanted if name not in by_name]
        if missing:
            raise LookupError(f"{missing[0]!r} is not a served model id; `models-server list` shows them")
        return list({by_name[name].id: by_name[name] for name in wanted}.values())
    return [row for row in rows if row.in_tier(settings.tier) and settings.override(row.id).enabled]


def is_preloaded(spec: ModelSpec, settings: Settings) -> bool:
    return settings.preloads(spec.id, spec.preload)


def check_models(
    rows: Sequence[ModelSpec],
    settings: Settings,
    *,
    load: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[ModelCheck]:
    """Check each row (offline), then with `load` load the ones that passed; in row order."""
    target = Target.of(settings)
    libraries: dict[str, str | None] = {}
    results: list[ModelCheck] = []
    steps = len(rows) * (2 if load else 1)
    for index, spec in enumerate(rows):
        if progress:
            progress(index + 1, steps, f"files of {spec.id}")
        results.append(check_offline(spec, settings, target, libraries))
    if load:
        _check_loading(results, settings, target, progress, offset=len(rows), steps=steps)
    _check_budget_total(results, target)
    return results


def check_offline(
    spec: ModelSpec, settings: Settings, target: Target, libraries: dict[str, str | None] | None = None
) -> ModelCheck:
    result = ModelCheck(spec, is_preloaded(spec, settings))
    libraries = {} if libraries is None else libraries
    library = _LIBRARIES.get(spec.framework, spec.framework.replace("-", "_"))
    if library not in libraries:
        libraries[library] = _import_error(library)
    if libraries[library] is not None:
        result.fail(f"library {library} does not import: {libraries[library]}",
                    f"pip install {spec.framework} (into the server's environment)")
    folders: dict[str, Path] = {}
    override = settings.override(spec.id).weights
    for index, repo in enumerate(spec.weights):
        try:
            folder = locate_weights(repo, settings.model_root, override if index == 0 else None)
        except WeightsMissing as exc:
            result.fail(str(exc).split(";")[0], f"models-server download --model {repo.name}")
            continue
        folders[repo.name] = folder
        for problem, fix in repo_problems(repo, folder, _unknown_model_type):
            result.fail(problem, fix)
        if index == 0:  # data, a front end or tokenizer that cannot run here, or a config line's architecture
            front_end = front_end_refusal(spec, folder)
            if front_end is not None:
                result.fail(str(front_end), front_end.fix)
            refusal = spec.refusal(folder)
            if isinstance(refusal, CannotRun):
                result.fail(str(refusal), refusal.fix)
            elif refusal is not None:
                fix = (f"give models.{spec.id}.task a task this architecture can do" if isinstance(refusal, ModelUnfit)
                       else f"models-server download --model {repo.name}")
                result.fail(str(refusal), fix)
    for problem, fix in setting_repo_problems(spec, settings):
        result.fail(problem, fix)
    _size(result, folders, target)
    return result


def _check_loading(
    results: list[ModelCheck],
    settings: Settings,
    target: Target,
    progress: Callable[[int, int, str], None] | None,
    offset: int,
    steps: int,
) -> None:
    from models_server.runtime import Runtime
    from models_server.runtime.slots import State

    runtime = Runtime(settings)
    for index, result in enumerate(results):
        if progress:
            progress(offset + index + 1, steps, f"loading {result.spec.id}")
        if result.problems:
            continue
        started = time.perf_counter()
        try:
            view = runtime.reload(result.spec.id)
        except Exception as exc:  # NotReady, TimedOut: reported as the model's failure
            result.fail(f"does not load: {exc}", "see the reason; `serve --log-level debug` shows the traceback")
            continue
        result.load_seconds = time.perf_counter() - started
        if view.state is State.LOADED:
            if view.bytes:
                result.size, result.size_source = view.bytes, "loaded"
        else:
            result.fail(f"does not load on {target.device}: {view.reason}", _load_fix(view.reason or "", result.spec))
        with runtime.residency.lock:  # one model at a time: the check must not need the whole tier's memory
            runtime.residency.unload(result.spec.id)


# Loader errors whose text hides the cause, and what it is.
_LOAD_HINTS = (
    (("ignore_mismatched_sizes", "size mismatch"),
     "the config does not fit the weights' shapes (an edited config.json, or files of two models mixed)"),
    (("out of memory",), "not enough memory on the device: free it, or set dtype: float16"),
)


def _load_fix(reason: str, spec: ModelSpec) -> str:
    names = " ".join(f"--model {repo.name}" for repo in spec.weights)
    for needles, cause in _LOAD_HINTS:
        if any(needle in reason for needle in needles):
            return f"{cause}: models-server download {names}"
    return f"see the reason (`check --load --log-level debug` shows the traceback); models-server download {names}"


def _size(result: ModelCheck, folders: Mapping[str, Path], target: Target) -> None:
    """The weight files on disk when they are there (they are what loads, tiny or real), else the
    catalog's real size at the configured precision; and how much of it is in shared repos."""
    spec = result.spec
    on_disk = disk_bytes(list(folders.values())) if folders else 0
    if on_disk:
        result.size, result.size_source = on_disk, "disk"
        result.shared = {name: disk_bytes([folder]) for name, folder in folders.items() if name in SHARED_REPO_BYTES}
    elif spec.fp16_bytes:
        scale = 1 if target.half else 2
        result.size = spec.fp16_bytes * scale
        result.size_source = "fp16" if target.half else "fp32"
        result.shared = {repo.name: SHARED_REPO_BYTES[repo.name] * scale
                         for repo in spec.weights if repo.name in SHARED_REPO_BYTES}
    if result.size and target.budget is not None and result.size > target.budget:
        name = "max_gpu_memory" if target.kind == "gpu" else "max_cpu_memory"
        result.fail(f"needs {format_size(result.size)}; {name} is {format_size(target.budget)}",
                    f"raise {name}, or disable {spec.id} in the config")


def _check_budget_total(results: Sequence[ModelCheck], target: Target) -> None:
    """Preloaded models that together exceed the budget still serve, but take turns in memory."""
    if target.budget is None:
        return
    total = preloaded_bytes(results)
    if total <= target.budget:
        return
    for result in results:
        if result.preload and not result.problems:
            result.warnings.append(
                f"the preloaded models need {format_size(total)} together, over the "
                f"{format_size(target.budget)} budget: some load on first use"
            )
            return


def preloaded_bytes(results: Iterable[ModelCheck]) -> int:
    """The preloaded models' bytes, counting once what the runtime holds once: the weights several
    ids read (the annotators) and the shared repos (one SD base under every ControlNet)."""
    own: dict[tuple[str, ...], int] = {}
    shared: dict[str, int] = {}
    for result in results:
        if result.preload:
            key = tuple(repo.name for repo in result.spec.weights) or (result.spec.id,)
            own[key] = max(0, (result.size or 0) - sum(result.shared.values()))
            shared.update(result.shared)
    return sum(own.values()) + sum(shared.values())


def _unknown_model_type(config: dict[str, Any]) -> str | None:
    if "model_type" not in config:
        return None
    model_type = config["model_type"]
    try:
        from transformers import CONFIG_MAPPING
    except Exception:  # the library check reports transformers itself
        return None
    if isinstance(model_type, str) and model_type in CONFIG_MAPPING:
        return None
    return f"names model_type {model_type!r}, which this transformers does not know"


def _import_error(module: str) -> str | None:
    try:
        import_library(module)
    except Exception as exc:  # ImportError, or a broken install raising anything at import
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


# -- the report -------------------------------------------------------------------------


def format_table(results: Iterable[ModelCheck]) -> list[str]:
    """One row per model: id, task, preload, size, verdict, then the first problem and its fix."""
    rows = [("model", "task", "start", "size", "verdict", "problem -> fix")]
    for result in results:
        size = "-" if result.size is None else f"{format_size(result.size)} ({result.size_source})"
        if result.problems:
            extra = f" (+{len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
            detail = f"{result.problems[0]}{extra} -> {result.fixes[0]}"
        else:
            detail = "; ".join(result.warnings)
            if result.load_seconds is not None:
                detail = f"loaded in {result.load_seconds:.1f}s" + (f"; {detail}" if detail else "")
        rows.append((result.spec.id, result.spec.task.name, "preload" if result.preload else "lazy",
                     size, result.verdict.value, detail))
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5]
            for row in rows]


def coverage_lines(
    results: Sequence[ModelCheck], candidates: Mapping[str, Sequence[str]], minimum: int = CONTROLLER_MIN_CANDIDATES
) -> list[str]:
    """Per task, how many of the controller's candidate ids would answer `loaded: true` here.

    `candidates` maps a task name to the ids the controller asks about, in its order. A task
    with fewer than `minimum` makes a hybrid-mode controller without the Hub wait forever.
    """
    passing = {name for result in results if not result.problems for name in (result.spec.id, *result.spec.aliases)}
    lines = []
    for task, ids in candidates.items():
        ready = [model_id for model_id in ids if model_id in passing]
        short = f"  (fewer than {minimum}: a hybrid controller without the Hub hangs)" if len(ready) < minimum else ""
        lines.append(f"  {task}: {len(ready)} of {len(ids)} candidates ready{short}")
    return lines


def summary_line(results: Sequence[ModelCheck], target: Target, seconds: float) -> str:
    counts = {verdict: sum(result.verdict is verdict for result in results) for verdict in Verdict}
    blocking = sum(result.blocks_start for result in results)
    preloaded = preloaded_bytes(results)
    budget = "no budget" if target.budget is None else f"budget {format_size(target.budget)}"
    return (
        f"{len(results)} models checked in {seconds:.1f}s: {counts[Verdict.OK]} ok, {counts[Verdict.WARN]} warn, "
        f"{counts[Verdict.FAIL]} fail ({blocking} preloaded); preloaded weights {format_size(preloaded)} "
        f"on {target.device} ({budget})"
    )


def report(
    results: Sequence[ModelCheck],
    target: Target,
    seconds: float,
    candidates: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """The table, the coverage per task (when the controller's candidates are given), the summary."""
    lines = format_table(results)
    if candidates:
        lines += ["", "controller coverage per task:", *coverage_lines(results, candidates)]
    return [*lines, "", summary_line(results, target, seconds)]
