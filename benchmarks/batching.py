#!/usr/bin/env python
"""Batching (`diffusion.max_batch`) against sequential requests: ControlNet throughput through the
whole server at batch 1, 2 and 4, and how far a batched image is from the sequential one of the
same seed. Prints numbers; not a test.

At REAL size (random weights of the published configs; build them once, ~23 GB):

    PYTHONPATH=$PWD .venv/bin/python -m tiny_models --scale real --out /tmp/real-size/models
    PYTHONPATH=$PWD .venv/bin/python benchmarks/batching.py --model-root /tmp/real-size/models --size 512 \
        --steps 4 --requests 8 --dtype bfloat16

On the tiny models, to see that it runs (the figures mean little there):

    PYTHONPATH=$PWD .venv/bin/python benchmarks/batching.py --model-root /work/tiny-cache --size 64

One `models-server serve` per setting, each serving only the canny ControlNet (the rest of the
minimal tier switched off), all up at once; each round times every setting in turn (the order
rotating by round), so a drifting machine load falls on all of them:

- sequential: `max_batch` 1, one request at a time;
- batch N (1, 2, 4): `max_batch` N, 2N clients at once, so a whole batch waits whenever the
  model's turn comes. Batch 1 is the queued, unbatched server: against sequential it gains only
  by overlapping a request's HTTP, decoding and encoding with another's denoising (large on the
  tiny models, small at real size), so "vs batch 1" is what batching itself gains.

Each timed run posts `--requests` requests, seeds 1..requests, at `--size`², `--steps` steps; its
throughput is requests per second of wall time. The images of the first round are compared with
the sequential ones, seed by seed: the largest 8-bit level difference and how many values differ.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from harness import ROOT, Served, describe_machine, markdown_table, serve, write_json, write_photo

CONTROLNET = "lllyasviel/sd-controlnet-canny"
PROMPT = "a photograph of a red fox standing in fresh snow, morning light"
BATCHES = (1, 2, 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-root", type=Path, default=ROOT / ".cache" / "tiny-models")
    parser.add_argument("--size", type=int, default=64, help="output width and height (a multiple of 8)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--requests", type=int, default=16, help="requests per timed run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "batching.json")
    args = parser.parse_args()

    from models_server.catalog import catalog_rows

    others = sorted({row.id for row in catalog_rows() if row.in_tier("minimal") and row.id != CONTROLNET})
    settings = {"sequential": (1, 1), **{f"batch {size}": (size, 2 * size) for size in BATCHES}}
    with tempfile.TemporaryDirectory(prefix="bench-batching-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        public_dir = work / "public"
        photo = write_photo(public_dir, args.size)
        servers: dict[str, Served] = {}
        for name, (max_batch, _) in settings.items():
            config = {"tier": "minimal", "model_root": str(args.model_root), "public_dir": str(public_dir),
                      "device": "cpu", "dtype": args.dtype, "diffusion": {"max_batch": max_batch},
                      "limits": {"max_queue_per_model": max(8, 4 * max_batch)},
                      "models": {model_id: {"enabled": False} for model_id in others}}
            servers[name] = stack.enter_context(serve(work, name.replace(" ", "-"), config))
        for served in servers.values():
            served.wait_running()
            served.wait_settled()

        def body(seed: int) -> dict[str, Any]:
            return {"text": PROMPT, "img_url": photo, "num_inference_steps": args.steps, "seed": seed,
                    "width": args.size, "height": args.size}

        def run(name: str) -> tuple[float, list[np.ndarray]]:
            served, clients = servers[name], settings[name][1]
            with ThreadPoolExecutor(clients) as pool:
                started = time.perf_counter()
                answers = list(pool.map(lambda seed: served.post(CONTROLNET, body(seed)).json(),
                                        range(1, args.requests + 1)))
                taken = time.perf_counter() - started
            return args.requests / taken, [image(public_dir, answer["path"]) for answer in answers]

        for name in settings:  # untimed: loads lanes and the service-time estimates
            run(name)
        throughput: dict[str, list[float]] = {name: [] for name in settings}
        images: dict[str, list[np.ndarray]] = {}
        names = list(settings)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                rate, made = run(name)
                throughput[name].append(rate)
                images.setdefault(name, made)

    reference = images["sequential"]
    results: dict[str, Any] = {"size": args.size, "steps": args.steps, "requests": args.requests,
                               "rounds": args.rounds, "dtype": args.dtype, "machine": describe_machine(),
                               "settings": {}}
    sequential = statistics.median(throughput["sequential"])
    queued = statistics.median(throughput["batch 1"])
    rows = []
    for name, (max_batch, clients) in settings.items():
        rate = statistics.median(throughput[name])
        levels = [np.abs(made.astype(int) - alone.astype(int)) for made, alone in zip(images[name], reference,
                                                                                         strict=True)]
        worst = max(int(level.max()) for level in levels)
        differing = sum(int((level != 0).sum()) for level in levels)
        values = sum(level.size for level in levels)
        results["settings"][name] = {"max_batch": max_batch, "clients": clients, "requests_per_s": throughput[name],
                                     "median": rate, "vs_sequential": rate / sequential, "vs_batch_1": rate / queued,
                                     "max_levels": worst, "values_differing": differing, "values": values}
        rows.append((name, max_batch, clients, f"{rate:.3f}", f"{rate / sequential:.2f}x", f"{rate / queued:.2f}x",
                     worst, f"{differing} of {values}"))
    write_json(args.out, results)
    print(f"ControlNet canny, {args.size}², {args.steps} steps, {args.dtype}, {args.requests} requests a run, "
          f"median of {args.rounds} rounds; {results['machine']}")
    print(markdown_table(("setting", "max_batch", "clients", "requests/s", "vs sequential", "vs batch 1",
                          "max level diff", "values differing"), rows))
    return 0


def image(public_dir: Path, path: str) -> np.ndarray:
    from PIL import Image

    data = (public_dir / path.lstrip("/")).read_bytes()
    with Image.open(io.BytesIO(data)) as opened:
        return np.asarray(opened.convert("RGB")).copy()


if __name__ == "__main__":
    sys.exit(main())
