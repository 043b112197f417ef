#!/usr/bin/env python
"""The minimal tier at REAL size on the CPU, in the dtypes a GPU box uses: memory, cold start,
which weight files are read, and one 512x512 ControlNet request. Prints numbers; not a test.

Build the weights first (random values, real shapes and file names, ~13 GB):

    PYTHONPATH=$PWD .venv/bin/python -m models_server make-tiny --scale real --out /tmp/real-size/models
    PYTHONPATH=$PWD .venv/bin/python scripts/bench_real_size.py --model-root /tmp/real-size/models

For each dtype a `serve` subprocess runs the minimal tier (`device: cpu`, `dtype: <dtype>`) under
`strace -e trace=openat` (seccomp-filtered: only that syscall is stopped), so the weight files it
opens are listed from the kernel's side. Cold start is from page cache when the files were just
written or read (say so when quoting it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth")
CONTROLNET = "lllyasviel/sd-controlnet-canny"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def weight_files(model_root: Path) -> dict[str, int]:
    return {str(path.relative_to(model_root)): path.stat().st_size
            for path in sorted(model_root.rglob("*")) if path.suffix in WEIGHT_SUFFIXES}


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else float("nan")


def wait(ready, process: subprocess.Popen, timeout: float = 1800) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            if ready():
                return time.perf_counter()
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError("the server did not become ready")


def server_pid(strace: subprocess.Popen) -> int:
    """The python child of strace (strace itself is the Popen)."""
    for _ in range(100):
        children = psutil.Process(strace.pid).children()
        if children:
            return children[0].pid
        time.sleep(0.05)
    return strace.pid


def run_dtype(dtype: str, model_root: Path, work: Path, steps: list[int], size: int) -> dict:
    public = work / "public"
    (public / "examples").mkdir(parents=True, exist_ok=True)
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).resize((size, size)).save(public / "examples" / "photo.jpg", quality=95)
    port = free_port()
    config = work / f"real-{dtype}.yaml"
    config.write_text(json.dumps({
        "tier": "minimal", "model_root": str(model_root), "public_dir": str(public), "host": "127.0.0.1",
        "port": port, "device": "cpu", "dtype": dtype,
    }))
    trace = work / f"openat-{dtype}.txt"
    command = ["strace", "-f", "--seccomp-bpf", "-e", "trace=openat", "-o", str(trace),
               sys.executable, "-m", "models_server", "serve", "--config", str(config)]
    started = time.perf_counter()
    with (work / f"serve-{dtype}.log").open("w") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    result: dict = {"dtype": dtype}
    try:
        result["to_running_s"] = wait(lambda: requests.get(f"{base}/running", timeout=1).ok, process) - started

        def all_loaded() -> bool:
            states = [s["state"] for s in requests.get(f"{base}/status", timeout=5).json()["models"].values()]
            return all(state in ("loaded", "failed", "disabled") for state in states)

        result["to_loaded_s"] = wait(all_loaded, process) - started
        server = psutil.Process(server_pid(process))
        statuses = requests.get(f"{base}/status", timeout=10).json()["models"]
        metrics = requests.get(f"{base}/metrics", timeout=10).text
        result["rss_bytes"] = server.memory_info().rss
        result["resident_bytes_counted"] = metric(metrics, 'models_server_resident_bytes{placement="cpu"}')
        result["per_model"] = {model_id: {"state": s["state"], "bytes": s["bytes"], "load_s": s["load_seconds"]}
                               for model_id, s in statuses.items()}
        print(f"[{dtype}] loaded: to /running {result['to_running_s']:.1f}s, tier {result['to_loaded_s']:.1f}s, "
              f"RSS {gib(result['rss_bytes'])}, counted {gib(result['resident_bytes_counted'])}", flush=True)
        result["requests"] = {}
        for count in steps:
            body: dict[str, Any] = {"img_url": "public/examples/photo.jpg", "text": "a photo",
                                    "num_inference_steps": count, "width": size, "height": size, "seed": 1}
            began = time.perf_counter()
            response = requests.post(f"{base}/models/{CONTROLNET}", json=body, timeout=3600)
            result["requests"][count] = {"status": response.status_code, "s": time.perf_counter() - began}
            print(f"[{dtype}] {count} step(s): {result['requests'][count]['s']:.1f}s", flush=True)
        result["rss_after_requests_bytes"] = server.memory_info().rss
    except KeyboardInterrupt:
        print(f"[{dtype}] interrupted; figures so far: {json.dumps(result, default=str)}", flush=True)
        raise
    finally:
        # Stop the server itself (strace then exits with it); kill it if a computing request holds it.
        served = psutil.Process(server_pid(process)) if process.poll() is None else None
        if served is not None and served.pid != process.pid:
            served.terminate()
            try:
                served.wait(timeout=30)
            except psutil.TimeoutExpired:
                served.kill()
        process.terminate()
        process.wait(timeout=60)
    opened = set()
    for line in trace.read_text().splitlines():
        found = re.search(r'openat\([^"]*"([^"]+)"', line)
        path = found.group(1) if found else ""
        if path.startswith(str(model_root)) and path.endswith(WEIGHT_SUFFIXES) and "= -1" not in line:
            opened.add(str(Path(path).relative_to(model_root)))
    result["weight_files_opened"] = sorted(opened)
    return result


def in_process(dtype: str, model_root: Path, work: Path, steps: list[int], size: int) -> dict[int, float]:
    """The same ControlNet call as the HTTP request, made directly on the pipeline the server's own
    loaders build, in this process (after the server stopped): seconds per step count."""
    import torch
    from PIL import Image

    from models_server.catalog import catalog_rows
    from models_server.config import load_settings
    from models_server.runtime import Runtime
    from models_server.startup import load_tier

    settings = load_settings(None, {"tier": "minimal", "model_root": str(model_root), "device": "cpu",
                                    "dtype": dtype, "public_dir": str(work / "public")}, environ={})
    runtime = Runtime(settings, [row for row in catalog_rows() if row.id == CONTROLNET])
    load_tier(runtime)
    pipeline = runtime.model(CONTROLNET)
    control = Image.open(work / "public" / "examples" / "photo.jpg").convert("RGB")
    timings = {}
    for count in steps:
        began = time.perf_counter()
        pipeline(prompt="a photo", image=control, num_inference_steps=count, width=size, height=size,
                 guidance_scale=7.5, generator=torch.Generator().manual_seed(1))
        timings[count] = time.perf_counter() - began
        print(f"[{dtype}] in-process, {count} step(s): {timings[count]:.1f}s", flush=True)
    return timings


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
    parser.add_argument("--in-process", action="store_true",
                        help="after each server run, the same ControlNet calls in this process, for the HTTP ratio")
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
            run = run_dtype(dtype, model_root, Path(tmp), steps, args.size)
            if args.in_process and steps:
                run["in_process"] = in_process(dtype, model_root, Path(tmp), steps, args.size)
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
                print(f"  {CONTROLNET} {args.size}x{args.size}, {count} step(s): {timing['s']:.1f}s "
                      f"(HTTP {timing['status']})")
                if "in_process" in run:
                    alone = run["in_process"][count]
                    print(f"    the same call in-process: {alone:.1f}s; HTTP / in-process {timing['s'] / alone:.3f}")
            counts = sorted(run["requests"])
            if len(counts) >= 2:
                low, high = counts[0], counts[-1]
                per_step = (run["requests"][high]["s"] - run["requests"][low]["s"]) / (high - low)
                print(f"  one denoising step (UNet + ControlNet, CFG batch of 2): {per_step:.1f}s; "
                      f"fixed part of a request: {run['requests'][low]['s'] - low * per_step:.1f}s")
            print("  weight files opened by the server:")
            for name in run["weight_files_opened"]:
                print(f"    {name}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
