#!/usr/bin/env python
"""`serve --engine ray` beside the single-process server, on the tiny models of the minimal tier:
per-request time (canny; ControlNet 64x64, 2 steps), memory per process, time to ready, and
/status latency while 12 generations are in flight. Prints a table and writes JSON; not a test.

    .venv/bin/python benchmarks/ray_engine.py [--model-root .cache/tiny-models] [--out bench-results/ray.json]

Both servers run at once as `models-server serve` subprocesses with one config (two Ray groups:
the SD ControlNets, and the annotators); per-request times alternate between them, so both see
the same background load; /status under load is measured on one while the other is idle.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests
import yaml
from harness import stop
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CANNY = "canny-control"
CONTROLNET = "lllyasviel/sd-controlnet-canny"
CONTROLNET_BODY = {"text": "a photo", "num_inference_steps": 2, "width": 64, "height": 64, "seed": 1}
SD_GROUP = [f"lllyasviel/sd-controlnet-{name}" for name in
            ("canny", "depth", "hed", "mlsd", "normal", "openpose", "scribble", "seg")]
IN_FLIGHT = 12


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(folder: Path, model_root: Path, public_dir: Path, group_niceness: int) -> Path:
    config = {
        "tier": "minimal", "model_root": str(model_root), "public_dir": str(public_dir),
        "device": "cpu", "threads": 32,
        "ray": {"num_cpus": 2, "group_niceness": group_niceness, "groups": {
            "sd": {"models": SD_GROUP, "num_cpus": 0},
            "annotators": {"models": ["canny-control", "hed-control", "scribble-control", "mlsd-control",
                                      "openpose-control", "depth-control", "normal-control", "seg-control"],
                           "num_cpus": 0}}},
    }
    path = folder / "bench-ray.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def server(config: Path, port: int, engine: str) -> Iterator[dict]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "models_server", "serve", "--config", str(config), "--engine", engine,
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: requests.get(f"{base}/running", timeout=2).status_code == 200, process)
        running = time.perf_counter() - started
        _wait(lambda: all(s["state"] in ("loaded", "failed", "disabled")
                          for s in requests.get(f"{base}/status", timeout=5).json()["models"].values()), process)
        yield {"url": base, "pid": process.pid, "to_running_s": running, "to_ready_s": time.perf_counter() - started}
    finally:
        stop(process)


def _wait(ready, process, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if ready():
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("server not ready in time")


def per_request(bases: dict[str, str], model: str, body: dict, count: int) -> dict[str, dict]:
    """Requests alternating between the engines, so both see the same background load."""
    times: dict[str, list[float]] = {engine: [] for engine in bases}
    for round_ in range(count + 2):
        for engine, base in bases.items():
            started = time.perf_counter()
            answer = requests.post(f"{base}/models/{model}", json=body, timeout=120)
            if answer.status_code != 200:
                raise RuntimeError(f"{engine} answered {answer.status_code}: {answer.text}")
            if round_ >= 2:  # the first rounds warm caches
                times[engine].append(time.perf_counter() - started)
    return {engine: {"median_ms": statistics.median(values) * 1000, "mean_ms": statistics.fmean(values) * 1000}
            for engine, values in times.items()}


def status_under_load(base: str, body: dict, samples: int = 200) -> dict:
    stop = threading.Event()
    done = [0]

    def generate() -> None:
        while not stop.is_set():
            requests.post(f"{base}/models/{CONTROLNET}", json=body, timeout=300)
            done[0] += 1

    pool = ThreadPoolExecutor(IN_FLIGHT)
    for _ in range(IN_FLIGHT):
        pool.submit(generate)
    time.sleep(2.0)  # let every generation get in flight
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        assert requests.get(f"{base}/status", timeout=30).status_code == 200
        times.append(time.perf_counter() - started)
        time.sleep(0.02)
    stop.set()
    pool.shutdown(wait=True)
    times.sort()
    return {"p50_ms": times[len(times) // 2] * 1000, "p99_ms": times[int(len(times) * 0.99) - 1] * 1000,
            "max_ms": times[-1] * 1000, "generations_done": done[0]}


def memory(root_pid: int, engine: str) -> dict[str, float]:
    """RSS in MiB: the server process, or for Ray every process of the local Ray, by role."""
    if engine == "single":
        return {"server": psutil.Process(root_pid).memory_info().rss / 2**20}
    roles: dict[str, float] = {}
    for process in psutil.process_iter(["cmdline", "memory_info"]):
        command = " ".join(process.info["cmdline"] or [])
        if "ServeReplica:models-server:" in command:
            role = command.split("ServeReplica:models-server:")[1].split()[0]
        elif process.pid == root_pid:
            role = "driver (models-server serve)"
        elif any(name in command for name in ("raylet", "gcs_server", "ServeController", "ProxyActor",
                                               "dashboard", "log_monitor", "ray::IDLE", "runtime_env")):
            role = "ray itself"
        else:
            continue
        rss = (process.info["memory_info"].rss if process.info["memory_info"] else 0) / 2**20
        roles[role] = roles.get(role, 0.0) + rss
    return roles


def measure(config: Path, ports: dict[str, int], photo: str, count: int) -> dict:
    results: dict[str, dict] = {}
    with server(config, ports["single"], "single") as single, server(config, ports["ray"], "ray") as ray:
        running = {"single": single, "ray": ray}
        bases = {engine: info["url"] for engine, info in running.items()}
        canny = {engine: requests.post(f"{base}/models/{CANNY}", json={"img_url": photo}, timeout=60).json()["path"]
                 for engine, base in bases.items()}
        canny_times = per_request(bases, CANNY, {"img_url": photo}, count)
        body = {**CONTROLNET_BODY, "img_url": canny["single"]}  # public/ is shared: either path reads
        controlnet_times = per_request(bases, CONTROLNET, body, count)
        for engine, info in running.items():
            results[engine] = {
                "to_running_s": info["to_running_s"], "to_ready_s": info["to_ready_s"],
                "canny": canny_times[engine], "controlnet_64_2steps": controlnet_times[engine],
                "memory_mib": memory(info["pid"], engine),
            }
        for engine, base in bases.items():  # one engine loaded at a time, the other idle
            results[engine]["status_under_12_generations"] = status_under_load(base, body)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-root", type=Path, default=ROOT / ".cache" / "tiny-models")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--group-niceness", type=int, default=10,
                        help="how much nicer the group processes run than the ingress (config ray.group_niceness)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "ray.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        public = Path(folder) / "public"
        (public / "examples").mkdir(parents=True)
        buffer = io.BytesIO()
        Image.effect_mandelbrot((512, 512), (-2, -1.5, 1, 1.5), 100).convert("RGB").save(buffer, "JPEG")
        (public / "examples" / "photo.jpg").write_bytes(buffer.getvalue())
        ports = {"single": free_port(), "ray": free_port()}
        config = write_config(Path(folder), args.model_root.resolve(), public, args.group_niceness)
        results = measure(config, ports, "public/examples/photo.jpg", args.count)
    single, ray = results["single"], results["ray"]
    for name in ("canny", "controlnet_64_2steps"):
        ratio = ray[name]["median_ms"] / single[name]["median_ms"]
        target = " (target <= 1.15x)" if name.startswith("controlnet") else ""
        print(f"{name:24} single {single[name]['median_ms']:7.1f} ms   ray {ray[name]['median_ms']:7.1f} ms"
              f"   {ratio:.2f}x, +{ray[name]['median_ms'] - single[name]['median_ms']:.1f} ms{target}")
    for engine, figures in results.items():
        load = figures["status_under_12_generations"]
        print(f"{engine:6} ready in {figures['to_ready_s']:.1f}s (port open {figures['to_running_s']:.1f}s); "
              f"/status under {IN_FLIGHT} generations p50 {load['p50_ms']:.1f} ms p99 {load['p99_ms']:.1f} ms "
              f"max {load['max_ms']:.1f} ms (target p99 <= 50 ms)")
        for role, mib in sorted(figures["memory_mib"].items()):
            print(f"{engine:6}   RSS {role:32} {mib:8.0f} MiB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
