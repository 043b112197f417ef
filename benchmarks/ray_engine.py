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
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import harness
import psutil
from harness import CONTROLNET_BODY, ROOT, Served

CANNY = "canny-control"
CONTROLNET = "lllyasviel/sd-controlnet-canny"
SD_GROUP = [f"lllyasviel/sd-controlnet-{name}" for name in
            ("canny", "depth", "hed", "mlsd", "normal", "openpose", "scribble", "seg")]
ANNOTATOR_GROUP = ["canny-control", "hed-control", "scribble-control", "mlsd-control", "openpose-control",
                   "depth-control", "normal-control", "seg-control"]
IN_FLIGHT = 12
ENGINES = ("single", "ray")


def settings(model_root: Path, public_dir: Path, group_niceness: int) -> dict:
    """One config for both engines; Ray runs two groups: the SD ControlNets, and the annotators."""
    return {
        "tier": "minimal", "model_root": str(model_root), "public_dir": str(public_dir),
        "device": "cpu", "threads": 32,
        "ray": {"num_cpus": 2, "group_niceness": group_niceness, "groups": {
            "sd": {"models": SD_GROUP, "num_cpus": 0},
            "annotators": {"models": ANNOTATOR_GROUP, "num_cpus": 0}}},
    }


@contextmanager
def server(work: Path, config: dict, engine: str) -> Iterator[tuple[Served, dict[str, float]]]:
    """`serve --engine <engine>` and its start-up timings; ready once no row is loading or waiting
    to load (a Ray group reports its rows not loaded until it is up)."""
    with harness.serve(work, f"serve-{engine}", config, args=("--engine", engine), new_session=True) as live:
        running = live.wait_running()
        ready = live.wait_settled(pending=("loading", "not_loaded"))
        yield live, {"to_running_s": running, "to_ready_s": ready}


def per_request(servers: dict[str, Served], model: str, body: dict, count: int) -> dict[str, dict]:
    """Requests alternating between the engines, so both see the same background load; the first
    two rounds warm caches."""
    samples = harness.interleaved({engine: partial(live.post, model, body, 120) for engine, live in servers.items()},
                                  count, warmup=2)
    return {engine: {"median_ms": statistics.median(harness.seconds(runs)) * 1000,
                     "mean_ms": statistics.fmean(harness.seconds(runs)) * 1000}
            for engine, runs in samples.items()}


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


def measure(work: Path, config: dict, photo: str, count: int) -> dict:
    results: dict[str, dict] = {}
    with server(work, config, "single") as (single, single_start), server(work, config, "ray") as (ray, ray_start):
        servers = {"single": single, "ray": ray}
        started = {"single": single_start, "ray": ray_start}
        canny = {engine: live.post(CANNY, {"img_url": photo}, 60).json()["path"] for engine, live in servers.items()}
        canny_times = per_request(servers, CANNY, {"img_url": photo}, count)
        body = {**CONTROLNET_BODY, "img_url": canny["single"]}  # public/ is shared: either path reads
        controlnet_times = per_request(servers, CONTROLNET, body, count)
        for engine, live in servers.items():
            results[engine] = {
                **started[engine], "canny": canny_times[engine], "controlnet_64_2steps": controlnet_times[engine],
                "memory_mib": memory(live.process.pid, engine),
            }
        for engine, live in servers.items():  # one engine loaded at a time, the other idle
            results[engine]["status_under_12_generations"] = harness.status_under_load(
                live.url, [(CONTROLNET, body)] * IN_FLIGHT)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-root", type=Path, default=ROOT / ".cache" / "tiny-models")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--group-niceness", type=int, default=10,
                        help="how much nicer the group processes run than the ingress (config ray.group_niceness)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "ray.json")
    args = parser.parse_args()
    from models_server.catalog import catalog_rows, unique_repos

    model_root = args.model_root.resolve()
    harness.tiny_weights(model_root, unique_repos(row for row in catalog_rows() if row.in_tier("minimal")))
    print(f"machine: {harness.describe_machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as folder:
        work = Path(folder)
        photo = harness.write_photo(work / "public")
        config = settings(model_root, work / "public", args.group_niceness)
        results = measure(work, config, photo, args.count)
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
    harness.write_json(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
