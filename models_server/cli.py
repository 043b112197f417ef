"""The `models-server` command: serve, download, check, list, and the commands installed packages add."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from models_server.config import TIERS, load_settings
from models_server.errors import ConfigError
from models_server.logs import LEVELS, configure

if TYPE_CHECKING:
    from models_server.catalog import ModelSpec, Repo
    from models_server.config import Settings


class _Parser(argparse.ArgumentParser):
    """Errors in one line that names the flag, instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="models-server", description="Local model inference server for HuggingGPT.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="serve the models of a tier over HTTP")
    serve.add_argument("--config", type=Path, help="YAML config file (configs/default.yaml, configs/tiny.yaml)")
    serve.add_argument("--tier", choices=TIERS, help="which tier to load (minimal < standard < full)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8005)")
    serve.add_argument("--model-root", type=Path, help="folder holding <org>/<name>/ weight folders")
    serve.add_argument("--public-dir", type=Path, help="the public/ folder shared with the controller")
    serve.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    serve.add_argument("--engine", choices=("single", "ray"),
                       help="single: this process (default); ray: on Ray Serve, models in groups (README)")
    serve.add_argument("--ray-address", help="with --engine ray: join this Ray cluster (auto, or host:port) "
                                             "instead of starting a local one")
    _log_level(serve)
    serve.set_defaults(run=_serve)

    fetch = commands.add_parser("download", help="fetch the weights a tier (or some models) reads from the Hub")
    fetch.add_argument("--config", type=Path, help="take tier, model_root and disabled models from this config")
    fetch.add_argument("--tier", choices=TIERS, help="every model of this tier (default: the config's, else minimal)")
    fetch.add_argument("--model", action="append", metavar="ID",
                       help="a served model id or a weights repo name; repeat for more; overrides --tier")
    fetch.add_argument("--model-root", type=Path, help="write <org>/<name>/ folders here (default: the HF cache)")
    fetch.add_argument("--dry-run", action="store_true", help="list the files and their sizes; download nothing")
    fetch.add_argument("--no-fp16", action="store_true",
                       help="full-precision diffusers weights even where fp16 ones exist (for a float32 server)")
    _log_level(fetch)
    fetch.set_defaults(run=_download)

    check = commands.add_parser("check", help="check a tier's model folders (and, with --load, loading) before serving")
    check.add_argument("--config", type=Path, help="YAML config file (configs/default.yaml, configs/tiny.yaml)")
    check.add_argument("--tier", choices=TIERS, help="which tier to check (default: the config's)")
    check.add_argument("--model-root", type=Path, help="folder holding <org>/<name>/ weight folders")
    check.add_argument("--device", help="auto, cpu, cuda or cuda:N (the budget and --load use it)")
    check.add_argument("--model", action="append", metavar="ID", help="check only this served id; repeat for more")
    check.add_argument("--load", action="store_true", help="also load each model that passed, one at a time")
    _log_level(check)
    check.set_defaults(run=_check)
    _add_installed_commands(commands)

    listing = commands.add_parser("list", help="print the catalog as a table")
    listing.add_argument("--config", type=Path, help="also list the Hub models this config adds by task")
    listing.add_argument("--tier", choices=TIERS, help="only the models this tier serves")
    listing.add_argument("--coverage", action="store_true",
                         help="per controller task: how many of its first ten candidates are served and can run here")
    listing.add_argument("--ids", action="store_true", help="with --coverage: name the candidates counted per task")
    listing.set_defaults(run=_list)
    return parser


# Commands other installed packages add under `models-server` (tiny_models adds `make-tiny`): each
# entry point is a `main(argv, prog) -> int`, loaded only when its command runs.
COMMANDS_GROUP = "models_server.commands"


def _add_installed_commands(commands: argparse._SubParsersAction) -> None:
    for entry in entry_points(group=COMMANDS_GROUP):
        command = commands.add_parser(entry.name, add_help=False,
                                      help=f"see `models-server {entry.name} --help` (from {entry.module})")
        command.add_argument("arguments", nargs=argparse.REMAINDER)
        command.set_defaults(
            run=lambda args, entry=entry: entry.load()(args.arguments, prog=f"models-server {entry.name}"))


def _log_level(command: argparse.ArgumentParser) -> None:
    command.add_argument("--log-level", choices=LEVELS, default="info",
                         help="debug also shows the libraries' warnings and progress bars (default info)")


def _serve(args: argparse.Namespace) -> int:
    from models_server.engines.local import serve
    from models_server.http.server import check_can_listen
    from models_server.logs import ready

    ready.install()
    flags = {
        "tier": args.tier, "host": args.host, "port": args.port, "model_root": args.model_root,
        "public_dir": args.public_dir, "device": args.device, "engine": args.engine,
    }
    settings = load_settings(args.config, flags)
    check_can_listen(settings.host, settings.port)  # under Ray too: the ingress listens on this machine
    if settings.engine == "ray":
        from models_server.engines.ray.engine import serve_on_ray

        serve_on_ray(settings, args.ray_address or settings.ray.address)
        return 0
    serve(settings)
    return 0


def _download(args: argparse.Namespace) -> int:
    from models_server.catalog import served_rows
    from models_server.weights.download import choose_repos, download, rows_repos
    from models_server.weights.front_end import fetch_front_end_data

    settings = load_settings(args.config, {"tier": args.tier, "model_root": args.model_root})
    rows = served_rows(settings)

    def beside(row: ModelSpec) -> tuple[Repo, ...]:
        return tuple(row.weights_under(settings.diffusion_for(row.id)).values())

    if args.model:
        try:
            repos = choose_repos(rows, args.model, beside)
        except LookupError as exc:
            print(f"models-server: error: {exc.args[0]}", file=sys.stderr)
            return 2
    else:
        wanted = [row for row in rows if row.in_tier(settings.tier) and settings.override(row.id).enabled]
        repos = rows_repos(wanted, beside)
    failed = download(repos, settings.model_root, dry_run=args.dry_run, prefer_fp16=not args.no_fp16)
    names = {repo.name for repo in repos}
    served = [row for row in rows if row.weights and row.weights[0].name in names]
    failed += fetch_front_end_data(served, settings.model_root, dry_run=args.dry_run)
    return 1 if failed else 0


def _check(args: argparse.Namespace) -> int:
    import time

    from models_server.catalog import served_rows
    from models_server.check import Target, check_models, checked_rows, report

    settings = load_settings(args.config, {"tier": args.tier, "model_root": args.model_root, "device": args.device})
    try:
        rows = checked_rows(served_rows(settings), settings, args.model or ())
    except LookupError as exc:
        print(f"models-server: error: {exc.args[0]}", file=sys.stderr)
        return 2
    # the table says why a model failed; the loaders' own log lines and tracebacks only at debug
    if args.log_level != "debug":
        logging.getLogger("models_server.runtime").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    from models_server.controller.candidates import CANDIDATES

    results = check_models(rows, settings, load=args.load, progress=_progress_printer(sys.stderr))
    for line in report(results, Target.of(settings), time.perf_counter() - started, candidates=CANDIDATES):
        print(line)
    if any("models-server download" in fix for result in results for fix in result.fixes):
        from models_server.weights.download import Hub

        problem = Hub().unreachable()
        if problem is not None:
            print(f"the fixes above download, but {problem}", file=sys.stderr)
    return 1 if any(result.blocks_start for result in results) else 0


def _progress_printer(stream):
    """Progress on one rewritten line on a terminal; to a file or pipe, a line per load (the slow part)."""
    terminal = stream.isatty()

    def show(step: int, total: int, what: str) -> None:
        if terminal:
            end = "\n" if step == total else ""
            stream.write(f"\r\033[K[{step}/{total}] {what}"[:200] + end)
        elif what.startswith("loading"):
            stream.write(f"[{step}/{total}] {what}\n")
        stream.flush()

    return show


def _cannot_run_here(row: ModelSpec, settings: Settings) -> Exception | None:
    """What stops a row here: its library or front end, else what its loader refuses in its weights
    folder, when that is downloaded (as `serve` finds at start)."""
    from models_server.errors import WeightsMissing
    from models_server.weights.front_end import front_end_refusal
    from models_server.weights.locate import weight_dirs

    missing = row.missing_here()
    if missing is not None or not row.weights:
        return missing
    try:
        folder = weight_dirs(row, settings)[0]
    except WeightsMissing:  # not downloaded yet: `download` fetches it, `check` says so
        return None
    return row.refusal(folder) or front_end_refusal(row, folder, without_import=True)


def _list(args: argparse.Namespace) -> int:
    from models_server.catalog import catalog_rows, served_rows
    from models_server.catalog.configured import is_configured

    served = catalog_rows() if args.config is None else served_rows(load_settings(args.config))
    if args.coverage:
        from models_server.controller.coverage import coverage, coverage_ids, coverage_table

        settings = load_settings(args.config)
        entries = coverage(served, args.tier, lambda row: _cannot_run_here(row, settings))
        print(coverage_ids(entries) if args.ids else coverage_table(entries))
        return 0
    rows = [row for row in served if args.tier is None or row.in_tier(args.tier)]
    table = [("id", "task", "tier", "weights")] + [
        (
            row.id + "".join(f" (= {alias})" for alias in row.aliases),
            row.task.name,
            "config" if is_configured(row) else row.tier,
            ", ".join(repo.name for repo in row.weights) or "-",
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(3)]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)) + "  " + line[3])
    return 0


# How long torch's idle OpenMP threads spin before they sleep: briefly (GOMP_SPINCOUNT 30000 is
# ~0.3 ms by libgomp's estimate, KMP_BLOCKTIME 1 ms for Intel's and LLVM's runtimes). Each model's
# calls run on a thread of its own (runtime/lanes.py), so one team per model spins: sleeping at
# once would pay a wake-up at every op, spinning unbounded would take the cores from the working
# team (README, Performance, "Threads"). Read when torch's OpenMP starts.
OPENMP_DEFAULTS = {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "30000", "KMP_BLOCKTIME": "1"}


def set_openmp_defaults() -> None:
    """Before torch is imported; a value already in the environment wins."""
    for name, value in OPENMP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def main(argv: Sequence[str] | None = None) -> int:
    set_openmp_defaults()
    arguments = list(sys.argv[1:] if argv is None else argv)
    installed = {entry.name: entry for entry in entry_points(group=COMMANDS_GROUP)}
    if arguments and arguments[0] in installed:  # its own parser reads every flag, --help too
        return installed[arguments[0]].load()(arguments[1:], prog=f"models-server {arguments[0]}")
    args = build_parser().parse_args(arguments)
    configure(getattr(args, "log_level", "info"))
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"models-server: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
