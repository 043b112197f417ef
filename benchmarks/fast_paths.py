#!/usr/bin/env python
"""The diffusion fast paths (`diffusion:` settings) against the plain path: time per denoising step,
the VAE decode, the image's difference from the plain one on the same seed, and peak RSS. Prints
numbers; not a test.

At REAL size (random weights of the published configs; build them once, ~23 GB with the SD1.x fine-tunes):

    PYTHONPATH=$PWD .venv/bin/python -m tiny_models --scale real --out /tmp/real-size/models
    PYTHONPATH=$PWD .venv/bin/python benchmarks/fast_paths.py --root /tmp/real-size/models

On the tiny models, to see that it runs (the figures mean nothing there):

    PYTHONPATH=$PWD .venv/bin/python benchmarks/fast_paths.py --root /work/tiny-cache --size 64 --rounds 1

Each (path, round) is a fresh worker process of this script (`--worker`): it loads the SD1.5
text-to-image pipeline and the canny ControlNet pipeline on one shared base with the real loaders
and that path's settings (compiling and warming up at load, as the server does), runs one
untimed call per pipeline, then one timed call each: `--steps` steps at `--size`², seed 1234.
Rounds alternate the paths' order so a drifting machine load falls on all of them.

- per step: (last step's end - first step's end) / (steps - 1), so text encoding and the first,
  slower call of a step are left out; with the step cache, an even number of steps in it makes
  half of them full and half cached (interval 2; the default 5 steps).
- decode: from the last step's end to the image (the VAE, or TAESD, and the conversion to PIL).
- difference: mean absolute pixel difference (0-255) and PSNR (dB) against the plain path's image.
- peak RSS: the worker's maximum resident set (ru_maxrss) after both calls, load and compile included.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SD15 = "runwayml/stable-diffusion-v1-5"
CONTROLNET = "lllyasviel/sd-controlnet-canny"
PROMPT = "a photograph of a red fox standing in fresh snow, morning light"
SEED = 1234
PATHS: dict[str, dict[str, Any]] = {
    "plain": {},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
    "tiny_vae": {"tiny_vae": True},
    "step_cache": {"step_cache_interval": 2},
}
KINDS = ("text", "controlnet")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/real-size/models"),
                        help="a make-tiny folder (--scale real for real size)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--steps", type=int, default=5, help="at least 2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32", "float16"))
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--step-cache-interval", type=int, default=2)
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="the server's cache_dir (compiled kernels); default: a fresh temporary folder")
    parser.add_argument("--out", type=Path, default=None, help="folder for the images and results.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2: the time per step is measured between the steps' ends")
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    return run(args)


def run(args: argparse.Namespace) -> int:
    names = [name for name in args.paths.split(",") if name]
    unknown = sorted(set(names) - set(PATHS))
    if unknown:
        sys.exit(f"unknown paths {unknown}; known: {', '.join(PATHS)}")
    if "plain" not in names:
        names.insert(0, "plain")
    out = args.out or Path(tempfile.mkdtemp(prefix="fast-paths-"))
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = args.cache_dir or out / "cache"
    settings = {name: dict(PATHS[name]) for name in names}
    settings["step_cache"] = {"step_cache_interval": args.step_cache_interval}
    settings["compile"] = {"compile": True, "compile_backend": args.compile_backend}
    print(f"{len(names)} paths x {args.rounds} rounds, {args.size}x{args.size}, {args.steps} steps, {args.dtype}, "
          f"root {args.root}; images in {out}; load average {os.getloadavg()[0]:.2f}", flush=True)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            spec = {"root": str(args.root), "size": args.size, "steps": args.steps, "dtype": args.dtype,
                    "diffusion": settings.get(name, {}), "cache_dir": str(cache_dir),
                    "images": str(out / f"{name}-round{round_index}")}
            started = time.perf_counter()
            result = spawn(spec)
            result["wall_s"] = time.perf_counter() - started
            result["load_average"] = os.getloadavg()[0]
            results[name].append(result)
            print(f"round {round_index} {name}: load {result['load_s']:.1f} s, "
                  + ", ".join(f"{kind} {result[kind]['step_s'] * 1000:.0f} ms/step" for kind in KINDS), flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print()
    print(report(results, out, args))
    return 0


def spawn(spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"worker failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Load both pipelines with one path's settings, then time one call of each."""
    import torch
    from PIL import Image

    from models_server.catalog.minimal import TAESD
    from models_server.config import DiffusionSettings
    from models_server.tasks.diffusers import controlnet, text_to_image
    from models_server.tasks.loading import LoadContext, SharedComponents

    root, size, steps = Path(spec["root"]), spec["size"], spec["steps"]
    dtype = getattr(torch, spec["dtype"])
    shared = SharedComponents()
    settings = DiffusionSettings(**spec["diffusion"])

    def context(model_id: str, *repos: str) -> LoadContext:
        return LoadContext(model_id, tuple(root / repo for repo in repos), "cpu", dtype, shared, diffusion=settings,
                           cache_dir=Path(spec["cache_dir"]), setting_dirs={"tiny_vae": root / TAESD.name})

    started = time.perf_counter()
    pipelines = {
        "text": text_to_image.load_text_to_image(context(SD15, SD15)),
        "controlnet": controlnet.load_controlnet_pipeline(context(CONTROLNET, CONTROLNET, SD15)),
    }
    result: dict[str, Any] = {"load_s": time.perf_counter() - started, "rss_loaded": rss_now()}
    images = Path(spec["images"])
    images.mkdir(parents=True, exist_ok=True)
    control = edge_map(size)
    for kind, pipeline in pipelines.items():
        extra = {"image": control} if kind == "controlnet" else {}
        with torch.inference_mode():
            pipeline(prompt=PROMPT, num_inference_steps=1, width=size, height=size, **extra)
            marks: list[float] = []

            def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any],
                            marks: list[float] = marks) -> dict[str, Any]:
                marks.append(time.perf_counter())
                return tensors

            begun = time.perf_counter()
            image = pipeline(prompt=PROMPT, num_inference_steps=steps, width=size, height=size,
                             generator=torch.Generator("cpu").manual_seed(SEED), callback_on_step_end=on_step_end,
                             **extra).images[0]
            ended = time.perf_counter()
        assert isinstance(image, Image.Image)
        path = images / f"{kind}.png"
        image.save(path)
        result[kind] = {"step_s": (marks[-1] - marks[0]) / max(1, len(marks) - 1), "decode_s": ended - marks[-1],
                        "total_s": ended - begun, "image": str(path)}
    result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


def edge_map(size: int):
    """A canny-like control map: white outlines of a few shapes on black."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    for index in range(1, 4):
        inset = size * index // 8
        draw.ellipse((inset, inset, size - inset, size - inset // 2), outline="white", width=max(1, size // 256))
    return image


def rss_now() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def difference(path: str, reference: str) -> tuple[float, float]:
    """Mean absolute pixel difference (0-255) and PSNR in dB (inf when identical)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as one, Image.open(reference) as other:
        a = np.asarray(one.convert("RGB"), np.float64)
        b = np.asarray(other.convert("RGB"), np.float64)
    mse = float(((a - b) ** 2).mean())
    return float(np.abs(a - b).mean()), math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def report(results: dict[str, list[dict[str, Any]]], out: Path, args: argparse.Namespace) -> str:
    plain = results["plain"]
    lines = [f"{args.size}x{args.size}, {args.steps} steps, {args.dtype}, {args.rounds} rounds (medians); "
             f"root {args.root}",
             "",
             "| path | pipeline | ms/step | per-step ratio | decode ms | total s | mean abs diff | PSNR dB "
             "| peak RSS GiB | RSS cost MiB | load s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    plain_rss = statistics.median(run["peak_rss"] for run in plain)
    for name, runs in results.items():
        rss = statistics.median(run["peak_rss"] for run in runs)
        for kind in KINDS:
            step = statistics.median(run[kind]["step_s"] for run in runs)
            ratios = [run[kind]["step_s"] / base[kind]["step_s"] for run, base in zip(runs, plain, strict=True)]
            mad, psnr = difference(runs[0][kind]["image"], plain[0][kind]["image"])
            lines.append(
                f"| {name} | {kind} | {step * 1000:.0f} | {statistics.median(ratios):.3f} "
                f"| {statistics.median(run[kind]['decode_s'] for run in runs) * 1000:.0f} "
                f"| {statistics.median(run[kind]['total_s'] for run in runs):.2f} | {mad:.2f} | {psnr:.1f} "
                f"| {rss / 2**30:.2f} | {(rss - plain_rss) / 2**20:+.0f} "
                f"| {statistics.median(run['load_s'] for run in runs):.1f} |"
            )
    loads = [run["load_average"] for runs in results.values() for run in runs]
    lines += ["", f"load average while measuring: {min(loads):.2f}-{max(loads):.2f}; results: {out / 'results.json'}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
