"""The `make-tiny` command: write random-weight repos of the catalog's families, offline."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from models_server.catalog import catalog_rows, unique_repos
from models_server.cli import set_openmp_defaults
from models_server.logs import configure
from tiny_models import make_tiny
from tiny_models.registry import REAL_SIZE_BUILDERS, TINY_BUILDERS


def build_parser(prog: str = "make-tiny") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Write tiny random-weight models for every catalog entry.")
    parser.add_argument("--out", type=Path, required=True, help="folder to write <org>/<name>/ into")
    parser.add_argument("--force", action="store_true", help="rebuild repos that are already complete")
    parser.add_argument("--scale", choices=("tiny", "real"), default="tiny",
                        help="tiny: miniatures of every repo (seconds); real: the minimal tier's repos (and the "
                             "SD1.x repos of its base's family) at their real published size, in the miniatures' "
                             "file layout, random values (~23 GB, minutes)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "make-tiny") -> int:
    set_openmp_defaults()
    args = build_parser(prog).parse_args(argv)
    configure("info")
    started = time.perf_counter()
    builders = REAL_SIZE_BUILDERS if args.scale == "real" else TINY_BUILDERS
    repos = [repo for repo in unique_repos(catalog_rows()) if repo.family in builders]
    print(f"building {len(repos)} {args.scale}-size repos into {args.out} (those already complete are kept)",
          flush=True)
    written = make_tiny(args.out, repos, force=args.force, builders=builders)
    print(f"built {len(written)} {args.scale}-size repos into {args.out} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
