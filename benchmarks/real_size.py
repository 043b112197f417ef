#!/usr/bin/env python
"""The minimal tier at REAL size on the CPU, in the dtypes a GPU box uses: memory, cold start,
which weight files are read, and one 512x512 ControlNet request. Prints numbers; not a test.

Build the weights first (random values, real shapes and file names, ~23 GB):

    PYTHONPATH=$PWD .venv/bin/python -m tiny_models --scale real --out /tmp/real-size/models
    PYTHONPATH=$PWD .venv/bin/python benchmarks/real_size.py --model-root /tmp/real-size/models

For each dtype a `serve` subprocess runs the minimal tier (`device: cpu`, `dtype: <dtype>`). The
weight files opened while it loads are listed from the kernel's side by inotify, which never stops
the process (tracing it with `strace -f` would, and slow its requests). Cold start is from
page cache when the files were just written or read (say so when quoting it). With `--in-process`
the same ControlNet call also runs in this process, alternating with the HTTP requests so both
see the same machine.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
import psutil
import requests
from harness import CONTROLNET_BODY, PHOTO_REF

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth")
CONTROLNET = "lllyasviel/sd-controlnet-canny"


def weight_files(model_root: Path) -> dict[str, int]:
    return {str(path.relative_to(model_root)): path.stat().st_size
            for path in sorted(model_root.rglob("*")) if path.suffix in WEIGHT_SUFFIXES}


IN_OPEN = 0x20


class OpenWatch:
    """Files opened under `root` (by any process) while it is open, from inotify."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.opened: set[str] = set()
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._folders: dict[int, Path] = {}
        for folder in [root, *(path for path in root.rglob("*") if path.is_dir())]:
            self._folders[self._libc.inotify_add_watch(self._fd, bytes(folder), IN_OPEN)] = folder

    def close(self) -> set[str]:
        """The files opened so far, relative to root; the watch ends."""
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                break
            offset = 0
            while offset < len(data):  # struct inotify_event: wd, mask, cookie, len, name[len]
                wd, _, _, length = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16:offset + 16 + length].rstrip(b"\0").decode()
                offset += 16 + length
                if name:
                    self.opened.add(str((self._folders[wd] / name).relative_to(self.root)))
        os.close(self._fd)
        return self.opened


def controlnet_body(steps: int, size: int) -> dict[str, Any]:
    return {**CONTROLNET_BODY, "img_url": PHOTO_REF, "num_inference_steps": steps, "width": size, "height": size}


def run_dtype(dtype: str, model_root: Path, work: Path, steps: list[int], size: int, repeat: int,
              alongside: bool) -> dict:
    public = work / "public"
    harness.write_photo(public, size)
    settings = {"tier": "minimal", "model_root": str(model_root), "public_dir": str(public), "device": "cpu",
                "dtype": dtype}
    result: dict = {"dtype": dtype}
    watch = OpenWatch(model_root)
    with harness.serve(work, f"real-{dtype}", settings, grace=30) as live:
        base = live.url
        try:
            result["to_running_s"] = live.wait_running(timeout=1800)
            result["to_loaded_s"] = live.wait_settled(pending=("loading", "not_loaded"), timeout=1800)
            result["weight_files_opened"] = sorted(name for name in watch.close() if name.endswith(WEIGHT_SUFFIXES))
            server = psutil.Process(live.process.pid)
            statuses = requests.get(f"{base}/status", timeout=10).json()["models"]
            metrics = requests.get(f"{base}/metrics", timeout=10).text
            result["rss_bytes"] = server.memory_info().rss
            result["resident_bytes_counted"] = harness.metric(metrics, 'models_server_resident_bytes{placement="cpu"}')
            result["per_model"] = {model_id: {"state": s["state"], "bytes": s["bytes"], "load_s": s["load_seconds"]}
                                   for model_id, s in statuses.items()}
            print(f"[{dtype}] loaded: to /running {result['to_running_s']:.1f}s, tier {result['to_loaded_s']:.1f}s, "
                  f"RSS {gib(result['rss_bytes'])}, counted {gib(result['resident_bytes_counted'])}", flush=True)
            requests.post(f"{base}/models/{CONTROLNET}", json=controlnet_body(1, 64), timeout=3600).raise_for_status()
            local = InProcessControlNet(dtype, model_root, work) if alongside and steps else None
            result["requests"], result["in_process"] = {}, {}
            for count in steps:
                over_http, statuses_seen, here = [], set(), []
                for _ in range(repeat):  # alternating, so both see the same machine
                    began = time.perf_counter()
                    response = requests.post(f"{base}/models/{CONTROLNET}", json=controlnet_body(count, size),
                                             timeout=3600)
                    over_http.append(time.perf_counter() - began)
                    statuses_seen.add(response.status_code)
                    if local is not None:
                        here.append(local.call(count, size))
                result["requests"][count] = {"status": ",".join(map(str, sorted(statuses_seen))), "s": min(over_http),
                                             "each_s": over_http}
                print(f"[{dtype}] {count} step(s) over HTTP: {' '.join(f'{s:.1f}s' for s in over_http)}", flush=True)
                if here:
                    result["in_process"][count] = {"s": min(here), "each_s": here}
                    print(f"[{dtype}] {count} step(s) in-process: {' '.join(f'{s:.1f}s' for s in here)}", flush=True)
            result["rss_after_requests_bytes"] = server.memory_info().rss
        except KeyboardInterrupt:
            print(f"[{dtype}] interrupted; figures so far: {json.dumps(result, default=str)}", flush=True)
            raise
    return result


class InProcessControlNet:
    """The same ControlNet call as the HTTP request, made directly on the pipeline the server's own
    loaders build, in this process."""

    def __init__(self, dtype: str, model_root: Path, work: Path) -> None:
        from PIL import Image

        self.runtime = harness.local_runtime(model_root, work / "public", [CONTROLNET], dtype=dtype)
        self.pipeline = self.runtime.model(CONTROLNET)
        self.control = Image.open(work / "public" / "examples" / "photo.jpg").convert("RGB")
        self.call(1, 64)  # this process's first call pays one-off costs; the server's warm request did too

    def call(self, steps: int, size: int) -> float:
        import torch

        began = time.perf_counter()
        self.pipeline(prompt="a photo", image=self.control, num_inference_steps=steps, width=size, height=size,
                      guidance_scale=7.5, generator=torch.Generator().manual_seed(1))
        return time.perf_counter() - began


def budget_exercise(dtype: str, model_root: Path, work: Path, counted: float, files: dict[str, int],
                    size: int) -> dict:
    """A CPU memory budget at real size: the tier minus the seg ControlNet fits, the seg ControlNet
    does not. After every row has been used once (canny first, so it is the least recently used),
    a seg request must move exactly canny out; then canny comes back. On a CPU-only box "out" is
    an unload and "back" a load from the page cache; a GPU box with `max_gpu_memory` moves to
    and from CPU memory instead (on paper in docs/gpu-figures.md)."""
    lazy = "lllyasviel/sd-controlnet-seg"
    itemsize = {"float16": 2, "bfloat16": 2, "float32": 4}[dtype]
    own = files[f"{lazy}/diffusion_pytorch_model.safetensors"] * itemsize // 4  # the Hub file is float32
    budget = int(counted) - own // 2
    settings = {"tier": "minimal", "model_root": str(model_root), "public_dir": str(work / "public"),
                "device": "cpu", "dtype": dtype, "max_cpu_memory": budget, "models": {lazy: {"preload": False}}}
    result: dict = {"budget_bytes": budget, "controlnet_bytes": own}
    with harness.serve(work, f"budget-{dtype}", settings, grace=30) as live:
        base = live.url
        live.wait_settled(timeout=1800)

        def post(model_id: str) -> float:
            photo = {"img_url": PHOTO_REF}
            body = controlnet_body(1, size) if model_id.startswith("lllyasviel/") else photo
            began = time.perf_counter()
            response = requests.post(f"{base}/models/{model_id}", json=body, timeout=3600)
            assert response.ok, (model_id, response.status_code, response.text)
            return time.perf_counter() - began

        def snapshot() -> tuple[list[str], float]:
            statuses = requests.get(f"{base}/status", timeout=10).json()["models"]
            resident = harness.metric(requests.get(f"{base}/metrics", timeout=10).text,
                              'models_server_resident_bytes{placement="cpu"}')
            return sorted(i for i, s in statuses.items() if s["state"] == "not_loaded"), resident

        result["after_load"] = snapshot()
        statuses = requests.get(f"{base}/status", timeout=10).json()["models"]
        used = [CONTROLNET] + [i for i, s in statuses.items() if s["state"] == "loaded" and i != CONTROLNET]
        result["touch_s"] = {model_id: post(model_id) for model_id in used}
        result["seg_cold_s"] = post(lazy)
        result["after_seg"] = snapshot()
        result["seg_load_s"] = requests.get(f"{base}/status/{lazy}", timeout=10).json()["load_seconds"]
        result["seg_warm_s"] = post(lazy)
        result["canny_back_s"] = post(CONTROLNET)
        result["after_canny"] = snapshot()
        result["canny_load_s"] = requests.get(f"{base}/status/{CONTROLNET}", timeout=10).json()["load_seconds"]
        result["canny_warm_s"] = post(CONTROLNET)
    return result


def gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-root", type=Path, required=True, help="folder make-tiny --scale real wrote")
    parser.add_argument("--dtype", action="append", choices=("float16", "bfloat16", "float32"),
                        help="repeat for more (default: float16 and bfloat16)")
    parser.add_argument("--steps", type=int, action="append",
                        help="a request with this many steps; repeat (default 1 and 2: the difference is one step); "
                             "0 alone: no request (float16 convolutions are very slow on CPUs without AVX512-FP16)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--repeat", type=int, default=2,
                        help="each request this many times; the fastest is compared (the first pays one-off costs)")
    parser.add_argument("--budget", action="store_true",
                        help="after each server run, one under a CPU budget one ControlNet short: evict, bring back")
    parser.add_argument("--budget-size", type=int, default=64, help="image size of the budget exercise's requests")
    parser.add_argument("--in-process", action="store_true",
                        help="the same ControlNet calls in this process too, alternating with the HTTP requests")
    args = parser.parse_args()
    model_root = args.model_root.resolve()
    files = weight_files(model_root)
    print(f"weight files under {model_root}: {len(files)}, {gib(sum(files.values()))}")
    for name, size in files.items():
        print(f"  {size / 1e6:10.1f} MB  {name}")
    runs: list[dict] = []
    results = {"files": files, "runs": runs}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in args.dtype or ["float16", "bfloat16"]:
            steps = [count for count in (args.steps or [1, 2]) if count > 0]
            run = run_dtype(dtype, model_root, Path(tmp), steps, args.size, args.repeat, args.in_process)
            if args.budget:
                run["budget"] = budget_exercise(dtype, model_root, Path(tmp), run["resident_bytes_counted"], files,
                                                args.budget_size)
            runs.append(run)
            per_model = run["per_model"]
            controlnets = {k: v for k, v in per_model.items() if k.startswith("lllyasviel/sd-controlnet-")}
            print(f"\n== dtype {dtype} on CPU")
            print(f"  to /running {run['to_running_s']:.1f}s, tier loaded {run['to_loaded_s']:.1f}s")
            print(f"  RSS {gib(run['rss_bytes'])}; runtime's resident bytes (shared once) "
                  f"{gib(run['resident_bytes_counted'])}; RSS after requests {gib(run['rss_after_requests_bytes'])}")
            print(f"  /status bytes: sum over rows {gib(sum(v['bytes'] for v in per_model.values()))}")
            for model_id, status in per_model.items():
                if status["state"] == "disabled":
                    continue
                print(f"    {status['bytes'] / 1e6:10.1f} MB  load {status['load_s'] or 0:6.1f}s  "
                      f"{status['state']:8s} {model_id}")
            loaded_cn = sum(v["state"] == "loaded" for v in controlnets.values())
            print(f"  ControlNet rows loaded: {loaded_cn}/8")
            for count, timing in run["requests"].items():
                print(f"  {CONTROLNET} {args.size}x{args.size}, {count} step(s): {timing['s']:.1f}s fastest of "
                      f"{' '.join(f'{s:.1f}' for s in timing['each_s'])} (HTTP {timing['status']})")
                if count in run["in_process"]:
                    alone = run["in_process"][count]
                    print(f"    the same call in-process: {alone['s']:.1f}s fastest of "
                          f"{' '.join(f'{s:.1f}' for s in alone['each_s'])}; HTTP / in-process "
                          f"{timing['s'] / alone['s']:.3f}")
            counts = sorted(run["requests"])
            if len(counts) >= 2:
                low, high = counts[0], counts[-1]
                per_step = (run["requests"][high]["s"] - run["requests"][low]["s"]) / (high - low)
                print(f"  one denoising step (UNet + ControlNet, CFG batch of 2): {per_step:.1f}s; "
                      f"fixed part of a request: {run['requests'][low]['s'] - low * per_step:.1f}s")
            if "budget" in run:
                exercise = run["budget"]
                print(f"  budget exercise, max_cpu_memory {gib(exercise['budget_bytes'])} "
                      f"(the tier counted {gib(run['resident_bytes_counted'])}, seg ControlNet lazy, "
                      f"{exercise['controlnet_bytes'] / 1e6:.0f} MB of its own):")
                for moment in ("after_load", "after_seg", "after_canny"):
                    unloaded, resident = exercise[moment]
                    print(f"    {moment}: resident {gib(resident)}; not loaded: {', '.join(unloaded) or '-'}")
                print(f"    seg at {args.budget_size}², 1 step: first {exercise['seg_cold_s']:.1f}s "
                      f"(its load {exercise['seg_load_s']:.1f}s), again {exercise['seg_warm_s']:.1f}s")
                print(f"    canny brought back: {exercise['canny_back_s']:.1f}s "
                      f"(its load {exercise['canny_load_s']:.1f}s), again {exercise['canny_warm_s']:.1f}s")
            print("  weight files opened while the server loaded:")
            for name in run["weight_files_opened"]:
                print(f"    {name}")
    if args.out:
        harness.write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
