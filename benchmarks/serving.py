#!/usr/bin/env python
"""Benchmark the server on the tiny models: start-up, memory, HTTP overhead, /status under load,
throughput and ControlNet switch cost. Prints a table and writes JSON. Not a test: it measures.

    .venv/bin/python benchmarks/serving.py [--model-root .cache/tiny-models] [--out bench-results/cpu.json]
        [--sections tiers,request,load] [--jarvis-baseline]

`request` times one canny and one ControlNet request over HTTP against the same steps in this
process, split step by step (decode, admit, run, encode, write, serialise; HTTP is the rest);
with --jarvis-baseline, next to benchmarks/jarvis_canny_baseline.py (the original JARVIS server's
canny route, reproduced: see that file), requests interleaved. The machine's load average is
printed with the figures: other work on the cores moves them.

Every figure is measured side by side in one run on this machine; targets are printed next to
the figures they apply to.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests
from harness import stop
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CANNY = "canny-control"
CONTROLNETS = ("lllyasviel/sd-controlnet-canny", "lllyasviel/sd-controlnet-hed")
CONTROLNET_BODY = {"text": "a photo", "num_inference_steps": 2, "width": 64, "height": 64, "seed": 1}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(tier: str, model_root: Path, public_dir: Path, **env: str) -> Iterator[dict]:
    """A `models-server serve` subprocess; yields its URL, process, start-up timings and the
    steps of its tier's loading (from its `tier ... ready in` log line)."""
    port = free_port()
    started = time.perf_counter()
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [sys.executable, "-m", "models_server", "serve", "--tier", tier, "--port", str(port),
         "--model-root", str(model_root), "--public-dir", str(public_dir), "--device", "cpu"],
        stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, **env},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        running_at = _wait(lambda: requests.get(f"{base}/running", timeout=1).status_code == 200, process)
        to_running = running_at - started
        _wait(lambda: all(s["state"] in ("loaded", "failed", "disabled", "not_loaded")
                          for s in requests.get(f"{base}/status", timeout=5).json()["models"].values()), process)
        loaded_at = time.perf_counter()
        if os.environ.get("BENCH_NO_READY_LINE") != "1":  # set to time a version that logs no such line
            _wait(lambda: _ready_steps(log) is not None, process, timeout=30)
        yield {"url": base, "process": psutil.Process(process.pid), "to_running_s": to_running,
               "to_loaded_s": loaded_at - started, "ready_steps": _ready_steps(log)}
    finally:
        stop(process)
        log.close()


READY_LINE = re.compile(r"tier \S+ ready in ([\d.]+)s: (.*)")


def _ready_steps(log) -> dict[str, float] | None:
    """The server's start-up steps, once it logged its tier ready (None before)."""
    log.seek(0)
    for line in log.read().splitlines():
        found = READY_LINE.search(line)
        if found:
            steps = {"total": float(found.group(1))}
            for part in found.group(2).split(", "):
                name, _, value = part.rpartition(" ")
                steps[name] = float(value.rstrip("s"))
            return steps
    return None


@contextmanager
def jarvis_baseline(public_dir: Path) -> Iterator[str]:
    """benchmarks/jarvis_canny_baseline.py on a free port, working in a folder whose public/ is ours."""
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="bench-jarvis-"))
    (work / "public").symlink_to(public_dir)
    script = ROOT / "scripts" / "jarvis_canny_baseline.py"
    from models_server.cli import OPENMP_DEFAULTS

    original_env = {name: value for name, value in os.environ.items() if name not in OPENMP_DEFAULTS}
    process = subprocess.Popen([sys.executable, str(script), "--port", str(port)], cwd=work, env=original_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: requests.get(f"{base}/running", timeout=1).status_code == 200, process)
        yield base
    finally:
        stop(process)


def _wait(ready: Callable[[], bool], process: subprocess.Popen, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            if ready():
                return time.perf_counter()
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise TimeoutError("the server did not become ready")


def baseline_rss() -> int:
    """RSS of a process that imported what the server imports, holding no model."""
    code = ("import torch, transformers, diffusers, controlnet_aux, flask, waitress, psutil, os;"
            "import models_server.http.app, models_server.catalog as c; c.catalog_rows();"
            "print(psutil.Process(os.getpid()).memory_info().rss)")
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    call()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def post(base: str, model_id: str, body: dict) -> requests.Response:
    response = requests.post(f"{base}/models/{model_id}", json=body, timeout=600)
    response.raise_for_status()
    return response


def in_process_times(model_root: Path, public_dir: Path, photo_ref: str, repeat: int) -> dict[str, dict[str, float]]:
    """The same requests without HTTP: the request pipeline the route calls (decode the body's
    resources, run the handler in the model's turn, write the output file), in this process;
    and the bare handler on an already decoded image, to show what decoding and writing cost."""
    import json

    from models_server.catalog import catalog_rows
    from models_server.config import load_settings
    from models_server.media.outputs import OutputStore
    from models_server.media.resources import ResourceReader
    from models_server.pipeline.executor import LocalExecutor
    from models_server.pipeline.fields import FieldDecoder
    from models_server.pipeline.request import RequestPipeline
    from models_server.protocols.base import RawRequest
    from models_server.runtime import Runtime

    settings = load_settings(None, {"tier": "minimal", "model_root": model_root, "public_dir": public_dir,
                                    "device": "cpu"}, environ={})
    runtime = Runtime(settings, [row for row in catalog_rows() if row.id in (CANNY, CONTROLNETS[0])])
    runtime.load_all()
    fields = FieldDecoder(ResourceReader(public_dir, settings.limits), settings.limits)
    pipeline = RequestPipeline(runtime, LocalExecutor(runtime, fields), OutputStore(public_dir))

    def request(model_id: str, body: dict) -> object:
        return pipeline.handle(RawRequest(model_id, "application/json", json.dumps(body).encode(), {}))

    figures = {}
    for name, model_id, body in (("canny", CANNY, {"img_url": photo_ref}),
                                 ("controlnet", CONTROLNETS[0], {**CONTROLNET_BODY, "img_url": photo_ref})):
        inputs, params = fields.decode(runtime.catalog[model_id].task, body)
        figures[name] = {
            "app_steps": statistics.median(timed(lambda m=model_id, b=body: request(m, b), repeat)),
            "handler": statistics.median(timed(lambda m=model_id, i=inputs, p=params: runtime.run(m, i, p), repeat)),
        }
    return figures


SPLIT_STEPS = ("decode", "admit", "run", "encode", "write", "serialise")


def pipeline_steps(model_root: Path, public_dir: Path) -> Callable[[str, dict], dict[str, float]]:
    """A function running one request through the request pipeline's steps in this process,
    each step timed (seconds): what `RequestPipeline.handle` does, step by step."""
    from models_server.catalog import catalog_rows
    from models_server.config import load_settings
    from models_server.media.outputs import OutputStore
    from models_server.media.resources import ResourceReader
    from models_server.pipeline.executor import LocalExecutor
    from models_server.pipeline.fields import FieldDecoder
    from models_server.pipeline.request import RequestPipeline, json_bytes
    from models_server.protocols.base import RawRequest
    from models_server.runtime import Runtime
    try:
        from models_server.engines.startup import load_tier
    except ImportError:  # an older version of the server, timed for a before/after comparison
        def load_tier(runtime: Runtime) -> None:
            runtime.load_all()

    settings = load_settings(None, {"tier": "minimal", "model_root": model_root, "public_dir": public_dir,
                                    "device": "cpu"}, environ={})
    runtime = Runtime(settings, [row for row in catalog_rows() if row.id in (CANNY, CONTROLNETS[0])])
    load_tier(runtime)
    fields = FieldDecoder(ResourceReader(public_dir, settings.limits), settings.limits)
    pipeline = RequestPipeline(runtime, LocalExecutor(runtime, fields), OutputStore(public_dir))

    def once(raw: RawRequest) -> dict[str, float]:
        clock = [time.perf_counter()]
        model_id = runtime.resolve(raw.model_id)
        task = runtime.catalog[model_id].task
        with runtime.admit(model_id) as ticket:
            clock.append(time.perf_counter())
            call = pipeline.decode(task, raw)
            inputs, params = fields.decode(task, call.body)
            clock.append(time.perf_counter())
            result = ticket.run(inputs, params)
            clock.append(time.perf_counter())
        clock.append(time.perf_counter())
        encoded = call.encode(result)
        clock.append(time.perf_counter())
        published = pipeline.store.publish(encoded.content)
        clock.append(time.perf_counter())
        json_bytes(published)
        clock.append(time.perf_counter())
        t = clock
        return {"decode": t[2] - t[1], "admit": (t[1] - t[0]) + (t[4] - t[3]), "run": t[3] - t[2],
                "encode": t[5] - t[4], "write": t[6] - t[5], "serialise": t[7] - t[6], "total": t[7] - t[0]}

    return lambda model_id, body: once(RawRequest(model_id, "application/json", json.dumps(body).encode(), {}))


def request_path(model_root: Path, public_dir: Path, photo_ref: str, repeat: int, jarvis: bool) -> dict:
    """canny and ControlNet over HTTP (ours, and the JARVIS baseline's canny) and the same steps
    in this process, interleaved; HTTP is the request's time minus the in-process total."""
    canny_body = {"img_url": photo_ref}
    controlnet_body = {**CONTROLNET_BODY, "img_url": photo_ref}
    samples: dict[str, list[float]] = {}

    def sample(name: str, call: Callable[[], object]) -> None:
        started = time.perf_counter()
        call()
        samples.setdefault(name, []).append(time.perf_counter() - started)

    load_before = os.getloadavg()
    in_process = pipeline_steps(model_root, public_dir)
    split_samples: dict[str, list[dict[str, float]]] = {"canny": [], "controlnet": []}
    with server("minimal", model_root, public_dir) as ours, \
            (jarvis_baseline(public_dir) if jarvis else _nothing()) as theirs:
        base = ours["url"]
        calls = {"ours /running": lambda: requests.get(f"{base}/running", timeout=10).raise_for_status(),
                 "ours canny": lambda: post(base, CANNY, canny_body),
                 "ours controlnet": lambda: post(base, CONTROLNETS[0], controlnet_body)}
        if theirs:
            calls["jarvis /running"] = lambda: requests.get(f"{theirs}/running", timeout=10).raise_for_status()
            calls["jarvis canny"] = lambda: post(theirs, CANNY, canny_body)
        bodies = {"canny": (CANNY, canny_body), "controlnet": (CONTROLNETS[0], controlnet_body)}
        for call in calls.values():
            call()  # warm-up
        for model_id, body in bodies.values():
            in_process(model_id, body)
        for _ in range(repeat):
            for name, call in calls.items():
                sample(name, call)
            for name, (model_id, body) in bodies.items():
                split_samples[name].append(in_process(model_id, body))
    http = {name: statistics.median(times) for name, times in samples.items()}
    split = {name: {step: statistics.median(one[step] for one in runs) for step in runs[0]}
             for name, runs in split_samples.items()}
    for name in ("canny", "controlnet"):
        split[name]["http"] = http[f"ours {name}"] - split[name]["total"]
    return {"http_medians_s": http, "split_s": split, "repeat": repeat,
            "load_average": {"before": load_before, "after": os.getloadavg()}}


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def status_under_load(base: str, photo_ref: str, generations: int = 12) -> dict[str, float]:
    body = {**CONTROLNET_BODY, "img_url": photo_ref, "num_inference_steps": 20, "width": 128, "height": 128}
    latencies: list[float] = []
    with ThreadPoolExecutor(generations) as pool:
        futures = [pool.submit(post, base, CONTROLNETS[index % 2], body) for index in range(generations)]
        while not all(future.done() for future in futures):
            started = time.perf_counter()
            requests.get(f"{base}/status/{CONTROLNETS[0]}", timeout=30).raise_for_status()
            latencies.append(time.perf_counter() - started)
        for future in futures:
            future.result()
    latencies.sort()
    return {"samples": len(latencies), "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def throughput(base: str, model_id: str, body: dict, concurrency: int, total: int) -> float:
    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: post(base, model_id, body), range(total)))
    return total / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-root", type=Path, default=ROOT / ".cache" / "tiny-models")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "cpu.json")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--sections", default="tiers,overhead,request",
                        help="comma-separated: tiers (start-up, memory), overhead (HTTP vs in-process, /status "
                             "under load, throughput, switch), request (the request path's split, canny vs JARVIS)")
    parser.add_argument("--jarvis-baseline", action="store_true",
                        help="in `request`: time benchmarks/jarvis_canny_baseline.py's canny next to ours")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    # the in-process figures run torch's OpenMP as the server does (models_server/cli.py)
    from models_server.cli import set_openmp_defaults

    set_openmp_defaults()

    from skimage import data

    from models_server.catalog import catalog_rows, unique_repos
    from tiny_models import make_tiny

    make_tiny(args.model_root, unique_repos(catalog_rows()))
    public_dir = Path(tempfile.mkdtemp(prefix="bench-public-"))
    (public_dir / "examples").mkdir()
    # a real 512x512 photo, as a JPEG like the controller's examples
    Image.fromarray(data.astronaut()).save(public_dir / "examples" / "photo.jpg", quality=95)
    photo_ref = "public/examples/photo.jpg"
    memory_gib = psutil.virtual_memory().total / 2**30
    results: dict[str, object] = {"machine": f"{psutil.cpu_count()} CPUs, {memory_gib:.0f} GiB"}
    if "request" in sections:
        results["request_path"] = request_path(args.model_root, public_dir, photo_ref, args.repeat,
                                               args.jarvis_baseline)
    if "tiers" in sections:
        results.update(tier_figures(args.model_root, public_dir))
    if "overhead" in sections:
        results.update(overhead_figures(args.model_root, public_dir, photo_ref, args.repeat))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(render(results))
    print(f"\nwritten to {args.out}")
    return 0


def tier_figures(model_root: Path, public_dir: Path) -> dict:
    baseline = baseline_rss()
    tiers = {}
    for tier in ("minimal", "standard", "full"):
        with server(tier, model_root, public_dir) as live:
            metrics = requests.get(f"{live['url']}/metrics", timeout=10).text
            resident = _metric(metrics, 'models_server_resident_bytes{placement="cpu"}')
            statuses = requests.get(f"{live['url']}/status", timeout=10).json()["models"]
            per_model = sum(s["bytes"] for s in statuses.values())
            rss = live["process"].memory_info().rss
            tiers[tier] = {
                "to_running_s": live["to_running_s"], "to_loaded_s": live["to_loaded_s"],
                "rss_bytes": rss, "unique_weight_bytes": resident, "sum_of_model_bytes": per_model,
                "rss_minus_weights_bytes": rss - resident, "ready_steps_s": live["ready_steps"],
                "load_average": os.getloadavg(),
                "saved_by_sharing_bytes": per_model - resident,
                "memory_ratio": rss / (resident + baseline),
                "loaded": sum(s["state"] == "loaded" for s in statuses.values()),
            }
    return {"baseline_rss_bytes": baseline, "tiers": tiers}


def overhead_figures(model_root: Path, public_dir: Path, photo_ref: str, repeat: int) -> dict:
    results: dict[str, object] = {}
    with server("minimal", model_root, public_dir) as live:
        base = live["url"]
        canny_body = {"img_url": photo_ref}
        controlnet_body = {**CONTROLNET_BODY, "img_url": photo_ref}
        http = {
            "canny": statistics.median(timed(lambda: post(base, CANNY, canny_body), repeat)),
            "controlnet": statistics.median(timed(lambda: post(base, CONTROLNETS[0], controlnet_body), repeat)),
        }
        results["status_under_load"] = status_under_load(base, photo_ref)
        results["throughput_rps"] = {
            name: {c: throughput(base, model_id, body, c, total=max(16, 4 * c)) for c in (1, 4, 8)}
            for name, model_id, body in (("canny", CANNY, canny_body), ("controlnet", CONTROLNETS[0], controlnet_body))
        }
        same = timed(lambda: post(base, CONTROLNETS[0], controlnet_body), repeat)
        flip = iter(range(10**9))
        alternating = timed(lambda: post(base, CONTROLNETS[next(flip) % 2], controlnet_body), repeat)
        results["switch_ratio"] = statistics.median(alternating) / statistics.median(same)

    in_process = in_process_times(model_root, public_dir, photo_ref, repeat)
    results["overhead"] = {
        name: {"http_s": http[name], "in_process_s": in_process[name]["app_steps"],
               "handler_only_s": in_process[name]["handler"], "ratio": http[name] / in_process[name]["app_steps"]}
        for name in http
    }
    return results


def _metric(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[-1]))
    raise KeyError(name)


def render(results: dict) -> str:
    out = io.StringIO()
    out.write(f"machine: {results['machine']}\n")
    if "request_path" in results:
        _render_request_path(out, results["request_path"])
    if "tiers" in results:
        _render_tiers(out, results)
    if "overhead" in results:
        _render_overhead(out, results)
    return out.getvalue()


def _render_request_path(out: io.StringIO, r: dict) -> None:
    ms = {name: 1000 * value for name, value in r["http_medians_s"].items()}
    load = r["load_average"]
    out.write(f"\nrequest path: medians of {r['repeat']} interleaved requests; load average "
              f"{load['before'][0]:.1f} before, {load['after'][0]:.1f} after (1 min)\n\n")
    out.write("| request | ours | JARVIS baseline | target |\n|---|---|---|---|\n")
    theirs = {name: ms.get(f"jarvis {name}", float("nan")) for name in ("/running", "canny")}
    out.write(f"| GET /running | {ms['ours /running']:.1f} ms | {theirs['/running']:.1f} ms | - |\n")
    out.write(f"| canny (512² JPEG) | {ms['ours canny']:.1f} ms | {theirs['canny']:.1f} ms "
              "| ours ≤ JARVIS |\n")
    out.write(f"| ControlNet (64², 2 steps) | {ms['ours controlnet']:.1f} ms | - | - |\n")
    out.write("\n| step (ms) | " + " | ".join(["http", *SPLIT_STEPS, "in-process total"]) + " |\n")
    out.write("|---" * (len(SPLIT_STEPS) + 3) + "|\n")
    for name, split in r["split_s"].items():
        cells = [split["http"], *(split[step] for step in SPLIT_STEPS), split["total"]]
        out.write(f"| {name} | " + " | ".join(f"{1000 * cell:.1f}" for cell in cells) + " |\n")
    ratio = r["http_medians_s"]["ours controlnet"] / r["split_s"]["controlnet"]["total"]
    out.write(f"\nControlNet over HTTP / in-process: {ratio:.2f}× "
              "(target ≤ 1.15×)\n")


def _render_tiers(out: io.StringIO, results: dict) -> None:
    mib = 2**20
    baseline = results["baseline_rss_bytes"] / mib
    out.write(f"\nempty-process baseline {baseline:.0f} MiB\n\n")
    out.write("| tier | /running after start | tier loaded after | ready steps (server log) | models | RSS "
              "| unique weights | RSS − weights | saved by sharing | RSS / (weights + baseline) |\n")
    out.write("|---|---|---|---|---|---|---|---|---|---|\n")
    for tier, t in results["tiers"].items():
        steps = ", ".join(f"{name} {value:.1f}s" for name, value in (t["ready_steps_s"] or {}).items())
        out.write(f"| {tier} | {t['to_running_s']:.2f} s (target ≤ 3 s) | {t['to_loaded_s']:.1f} s | {steps} "
                  f"| {t['loaded']} | {t['rss_bytes'] / mib:.0f} MiB | {t['unique_weight_bytes'] / mib:.1f} MiB | "
                  f"{t['rss_minus_weights_bytes'] / mib:.0f} MiB | {t['saved_by_sharing_bytes'] / mib:.1f} MiB | "
                  f"{t['memory_ratio']:.2f} (target ≤ 1.15) |\n")


def _render_overhead(out: io.StringIO, results: dict) -> None:
    out.write("\n| measure | figure | target |\n|---|---|---|\n")
    for name, o in results["overhead"].items():
        target = "≤ 1.25×" if name == "canny" else "≤ 1.15×"
        out.write(f"| {name}: HTTP vs the same steps in-process | {1000 * o['http_s']:.1f} ms vs "
                  f"{1000 * o['in_process_s']:.1f} ms = {o['ratio']:.2f}× (handler alone "
                  f"{1000 * o['handler_only_s']:.1f} ms) | {target} |\n")
    s = results["status_under_load"]
    out.write(f"| /status with 12 generations in flight | p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms "
              f"({s['samples']} samples) | p99 ≤ 50 ms |\n")
    for name, by_concurrency in results["throughput_rps"].items():
        figures = ", ".join(f"c={c}: {rps:.1f}/s" for c, rps in by_concurrency.items())
        out.write(f"| {name} throughput | {figures} | - |\n")
    out.write(f"| ControlNet switch (alternating / repeating) | {results['switch_ratio']:.3f} | ≤ 1.05 |\n")

if __name__ == "__main__":
    sys.exit(main())
