#!/usr/bin/env python
"""Benchmark the server on the tiny models: start-up, memory, HTTP overhead, /status under load,
throughput and ControlNet switch cost. Prints a table and writes JSON. Not a test: it measures.

    .venv/bin/python benchmarks/serving.py [--model-root .cache/tiny-models] [--out bench-results/cpu.json]
        [--sections tiers,overhead,request] [--repeat 20] [--jarvis-baseline]

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
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path

import harness
import psutil
from harness import CONTROLNET_BODY, ROOT, Served

CANNY = "canny-control"
CONTROLNETS = ("lllyasviel/sd-controlnet-canny", "lllyasviel/sd-controlnet-hed")
READY_LINE = re.compile(r"tier \S+ ready in ([\d.]+)s: (.*)")


@contextmanager
def server(work: Path, tier: str, model_root: Path, public_dir: Path) -> Iterator[tuple[Served, dict]]:
    """`models-server serve` of `tier`, with its start-up timings and the steps of its tier's
    loading (from its `tier ... ready in` log line)."""
    settings = {"tier": tier, "model_root": str(model_root), "public_dir": str(public_dir), "device": "cpu"}
    with harness.serve(work, f"serve-{tier}", settings) as live:
        figures = {"to_running_s": live.wait_running(), "to_loaded_s": live.wait_settled()}
        live.wait(lambda: ready_steps(live.log) is not None, timeout=30)
        yield live, {**figures, "ready_steps": ready_steps(live.log)}


def ready_steps(log: Path) -> dict[str, float] | None:
    """The server's start-up steps, once it logged its tier ready (None before)."""
    found = READY_LINE.search(log.read_text(errors="replace"))
    if not found:
        return None
    steps = {"total": float(found.group(1))}
    for part in found.group(2).split(", "):
        name, _, value = part.rpartition(" ")
        steps[name] = float(value.rstrip("s"))
    return steps


@contextmanager
def jarvis_baseline(work: Path, public_dir: Path) -> Iterator[Served]:
    """benchmarks/jarvis_canny_baseline.py on a free port, working in a folder whose public/ is
    ours, with the environment the original ran in (none of our OpenMP settings)."""
    from models_server.cli import OPENMP_DEFAULTS

    folder = work / "jarvis"
    folder.mkdir()
    (folder / "public").symlink_to(public_dir)
    port = harness.free_port()
    script = ROOT / "benchmarks" / "jarvis_canny_baseline.py"
    original_env = {name: value for name, value in os.environ.items() if name not in OPENMP_DEFAULTS}
    with harness.running([sys.executable, str(script), "--port", str(port)], port, work / "jarvis.log",
                         cwd=folder, env=original_env) as theirs:
        theirs.wait_running()
        yield theirs


def baseline_rss() -> int:
    """RSS of a process that imported what the server imports, holding no model."""
    code = ("import torch, transformers, diffusers, controlnet_aux, flask, waitress, psutil, os;"
            "import models_server.http.app, models_server.catalog as c; c.catalog_rows();"
            "print(psutil.Process(os.getpid()).memory_info().rss)")
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout)


SPLIT_STEPS = ("decode", "admit", "run", "encode", "write", "serialise")


class LocalPipeline:
    """The request pipeline the route calls, in this process, over the canny annotator and the
    canny ControlNet loaded as `serve` loads them."""

    def __init__(self, model_root: Path, public_dir: Path) -> None:
        from models_server.media.outputs import OutputStore
        from models_server.media.resources import ResourceReader
        from models_server.pipeline.executor import LocalExecutor
        from models_server.pipeline.fields import FieldDecoder
        from models_server.pipeline.request import RequestPipeline

        self.runtime = harness.local_runtime(model_root, public_dir, (CANNY, CONTROLNETS[0]))
        limits = self.runtime.settings.limits
        self.fields = FieldDecoder(ResourceReader(public_dir, limits), limits)
        executor = LocalExecutor(self.runtime, self.fields)
        self.pipeline = RequestPipeline(self.runtime, executor, OutputStore(public_dir))

    @staticmethod
    def raw(model_id: str, body: dict):
        from models_server.protocols.base import RawRequest

        return RawRequest(model_id, "application/json", json.dumps(body).encode(), {})

    def handle(self, model_id: str, body: dict) -> object:
        """What `POST /models/<id>` does without HTTP: decode, admit, run, write, serialise."""
        return self.pipeline.handle(self.raw(model_id, body))

    def handler(self, model_id: str, body: dict) -> Callable[[], object]:
        """The bare handler on inputs decoded once: what decoding and writing cost is the rest."""
        inputs, params = self.fields.decode(self.runtime.catalog[model_id].task, body)
        return lambda: self.runtime.run(model_id, inputs, params)

    def steps(self, model_id: str, body: dict) -> dict[str, float]:
        """`handle`, each step timed (seconds)."""
        from models_server.pipeline.request import json_bytes

        raw = self.raw(model_id, body)
        clock = [time.perf_counter()]
        resolved = self.runtime.resolve(raw.model_id)
        task = self.runtime.catalog[resolved].task
        with self.runtime.admit(resolved) as ticket:
            clock.append(time.perf_counter())
            call = self.pipeline.decode(task, raw)
            inputs, params = self.fields.decode(task, call.body)
            clock.append(time.perf_counter())
            result = ticket.run(inputs, params)
            clock.append(time.perf_counter())
        clock.append(time.perf_counter())
        encoded = call.encode(result)
        clock.append(time.perf_counter())
        published = self.pipeline.store.publish(encoded.content)
        clock.append(time.perf_counter())
        json_bytes(published)
        clock.append(time.perf_counter())
        t = clock
        return {"decode": t[2] - t[1], "admit": (t[1] - t[0]) + (t[4] - t[3]), "run": t[3] - t[2],
                "encode": t[5] - t[4], "write": t[6] - t[5], "serialise": t[7] - t[6], "total": t[7] - t[0]}


def request_path(work: Path, model_root: Path, public_dir: Path, photo_ref: str, repeat: int, jarvis: bool) -> dict:
    """canny and ControlNet over HTTP (ours, and the JARVIS baseline's canny) and the same steps
    in this process, interleaved; HTTP is the request's time minus the in-process total."""
    bodies = request_bodies(photo_ref)
    load_before = os.getloadavg()
    local = LocalPipeline(model_root, public_dir)
    with server(work, "minimal", model_root, public_dir) as (ours, _), \
            (jarvis_baseline(work, public_dir) if jarvis else nullcontext()) as theirs:
        calls: dict[str, Callable[[], object]] = {"ours /running": lambda: ours.get("/running")}
        for name, (model_id, body) in bodies.items():
            calls[f"ours {name}"] = partial(ours.post, model_id, body)
            calls[f"split {name}"] = partial(local.steps, model_id, body)
        if theirs:
            calls["jarvis /running"] = lambda: theirs.get("/running")
            calls["jarvis canny"] = lambda: theirs.post(*bodies["canny"])
        samples = harness.interleaved(calls, repeat)
    http = {name: statistics.median(harness.seconds(runs)) for name, runs in samples.items()
            if not name.startswith("split ")}
    split: dict[str, dict[str, float]] = {}
    for name in bodies:
        runs = [steps for _, steps in samples[f"split {name}"] if isinstance(steps, dict)]
        split[name] = {step: statistics.median(one[step] for one in runs) for step in runs[0]}
        split[name]["http"] = http[f"ours {name}"] - split[name]["total"]
    return {"http_medians_s": http, "split_s": split, "repeat": repeat,
            "load_average": {"before": load_before, "after": os.getloadavg()}}


def request_bodies(photo_ref: str) -> dict[str, tuple[str, dict]]:
    """The two requests timed: canny on the photo, and a 64², 2-step ControlNet on it."""
    return {"canny": (CANNY, {"img_url": photo_ref}),
            "controlnet": (CONTROLNETS[0], {**CONTROLNET_BODY, "img_url": photo_ref})}


def throughput(live: Served, model_id: str, body: dict, concurrency: int, total: int) -> float:
    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: live.post(model_id, body), range(total)))
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

    from models_server.catalog import catalog_rows, unique_repos

    harness.tiny_weights(args.model_root, unique_repos(catalog_rows()))
    results: dict[str, object] = {"machine": harness.machine()}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as folder:
        work = Path(folder)
        public_dir = work / "public"
        photo_ref = harness.write_photo(public_dir)
        if "request" in sections:
            results["request_path"] = request_path(work, args.model_root, public_dir, photo_ref, args.repeat,
                                                   args.jarvis_baseline)
        if "tiers" in sections:
            results.update(tier_figures(work, args.model_root, public_dir))
        if "overhead" in sections:
            results.update(overhead_figures(work, args.model_root, public_dir, photo_ref, args.repeat))
    harness.write_json(args.out, results)
    print(render(results))
    print(f"\nwritten to {args.out}")
    return 0


def tier_figures(work: Path, model_root: Path, public_dir: Path) -> dict:
    baseline = baseline_rss()
    tiers = {}
    for tier in ("minimal", "standard", "full"):
        with server(work, tier, model_root, public_dir) as (live, started):
            resident = harness.metric(live.get("/metrics").text, 'models_server_resident_bytes{placement="cpu"}')
            statuses = live.get("/status").json()["models"]
            per_model = sum(s["bytes"] for s in statuses.values())
            rss = psutil.Process(live.process.pid).memory_info().rss
            tiers[tier] = {
                "to_running_s": started["to_running_s"], "to_loaded_s": started["to_loaded_s"],
                "rss_bytes": rss, "unique_weight_bytes": resident, "sum_of_model_bytes": per_model,
                "rss_minus_weights_bytes": rss - resident, "ready_steps_s": started["ready_steps"],
                "load_average": os.getloadavg(),
                "saved_by_sharing_bytes": per_model - resident,
                "memory_ratio": rss / (resident + baseline),
                "loaded": sum(s["state"] == "loaded" for s in statuses.values()),
            }
    return {"baseline_rss_bytes": baseline, "tiers": tiers}


def overhead_figures(work: Path, model_root: Path, public_dir: Path, photo_ref: str, repeat: int) -> dict:
    results: dict[str, object] = {}
    bodies = request_bodies(photo_ref)
    with server(work, "minimal", model_root, public_dir) as (live, _):
        http = {name: statistics.median(harness.timed(partial(live.post, model_id, body), repeat))
                for name, (model_id, body) in bodies.items()}
        heavy = {**CONTROLNET_BODY, "img_url": photo_ref, "num_inference_steps": 20, "width": 128, "height": 128}
        results["status_under_load"] = harness.status_under_load(
            live.url, [(CONTROLNETS[index % 2], heavy) for index in range(12)], f"/status/{CONTROLNETS[0]}",
            samples=max(20, 5 * repeat))
        results["throughput_rps"] = {
            name: {c: throughput(live, model_id, body, c, total=max(16, 4 * c)) for c in (1, 4, 8)}
            for name, (model_id, body) in bodies.items()
        }
        controlnet_body = bodies["controlnet"][1]
        switching = harness.interleaved({"same": lambda: live.post(CONTROLNETS[0], controlnet_body),
                                         "other": lambda: live.post(CONTROLNETS[1], controlnet_body)}, repeat)
        same = harness.timed(lambda: live.post(CONTROLNETS[0], controlnet_body), repeat)
        alternating = harness.seconds(switching["same"] + switching["other"])
        results["switch_ratio"] = statistics.median(alternating) / statistics.median(same)

    local = LocalPipeline(model_root, public_dir)
    overhead = {}
    for name, (model_id, body) in bodies.items():
        in_process = statistics.median(harness.timed(partial(local.handle, model_id, body), repeat))
        handler = statistics.median(harness.timed(local.handler(model_id, body), repeat))
        overhead[name] = {"http_s": http[name], "in_process_s": in_process, "handler_only_s": handler,
                          "ratio": http[name] / in_process}
    return {**results, "overhead": overhead}


def render(results: dict) -> str:
    parts = [f"machine: {harness.describe_machine(results['machine'])}\n"]
    if "request_path" in results:
        parts.append(render_request_path(results["request_path"]))
    if "tiers" in results:
        parts.append(render_tiers(results))
    if "overhead" in results:
        parts.append(render_overhead(results))
    return "\n".join(parts)


def render_request_path(r: dict) -> str:
    ms = {name: 1000 * value for name, value in r["http_medians_s"].items()}
    theirs = {name: ms.get(f"jarvis {name}", float("nan")) for name in ("/running", "canny")}
    load = r["load_average"]
    head = (f"request path: medians of {r['repeat']} interleaved requests; load average "
            f"{load['before'][0]:.1f} before, {load['after'][0]:.1f} after (1 min)\n\n")
    requests_table = harness.markdown_table(("request", "ours", "JARVIS baseline", "target"), [
        ("GET /running", f"{ms['ours /running']:.1f} ms", f"{theirs['/running']:.1f} ms", "-"),
        ("canny (512² JPEG)", f"{ms['ours canny']:.1f} ms", f"{theirs['canny']:.1f} ms", "ours ≤ JARVIS"),
        ("ControlNet (64², 2 steps)", f"{ms['ours controlnet']:.1f} ms", "-", "-"),
    ])
    steps_table = harness.markdown_table(
        ("step (ms)", "http", *SPLIT_STEPS, "in-process total"),
        [(name, *(f"{1000 * split[step]:.1f}" for step in ("http", *SPLIT_STEPS, "total")))
         for name, split in r["split_s"].items()])
    ratio = r["http_medians_s"]["ours controlnet"] / r["split_s"]["controlnet"]["total"]
    return (f"{head}{requests_table}\n{steps_table}\n"
            f"ControlNet over HTTP / in-process: {ratio:.2f}× (target ≤ 1.15×)\n")


def render_tiers(results: dict) -> str:
    mib = 2**20
    rows = []
    for tier, t in results["tiers"].items():
        steps = ", ".join(f"{name} {value:.1f}s" for name, value in (t["ready_steps_s"] or {}).items())
        rows.append((tier, f"{t['to_running_s']:.2f} s (target ≤ 3 s)", f"{t['to_loaded_s']:.1f} s", steps,
                     t["loaded"], f"{t['rss_bytes'] / mib:.0f} MiB", f"{t['unique_weight_bytes'] / mib:.1f} MiB",
                     f"{t['rss_minus_weights_bytes'] / mib:.0f} MiB", f"{t['saved_by_sharing_bytes'] / mib:.1f} MiB",
                     f"{t['memory_ratio']:.2f} (target ≤ 1.15)"))
    table = harness.markdown_table(
        ("tier", "/running after start", "tier loaded after", "ready steps (server log)", "models", "RSS",
         "unique weights", "RSS − weights", "saved by sharing", "RSS / (weights + baseline)"), rows)
    return f"empty-process baseline {results['baseline_rss_bytes'] / mib:.0f} MiB\n\n{table}"


def render_overhead(results: dict) -> str:
    rows = []
    for name, o in results["overhead"].items():
        rows.append((f"{name}: HTTP vs the same steps in-process",
                     f"{1000 * o['http_s']:.1f} ms vs {1000 * o['in_process_s']:.1f} ms = {o['ratio']:.2f}× "
                     f"(handler alone {1000 * o['handler_only_s']:.1f} ms)",
                     "≤ 1.25×" if name == "canny" else "≤ 1.15×"))
    s = results["status_under_load"]
    rows.append(("/status with 12 generations in flight",
                 f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms ({s['n']} samples)", "p99 ≤ 50 ms"))
    for name, by_concurrency in results["throughput_rps"].items():
        rows.append((f"{name} throughput", ", ".join(f"c={c}: {rps:.1f}/s" for c, rps in by_concurrency.items()), "-"))
    rows.append(("ControlNet switch (alternating / repeating)", f"{results['switch_ratio']:.3f}", "≤ 1.05"))
    return harness.markdown_table(("measure", "figure", "target"), rows)


if __name__ == "__main__":
    sys.exit(main())
