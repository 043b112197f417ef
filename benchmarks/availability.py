#!/usr/bin/env python
"""How fast `/status` and `/running` answer while the server is under pressure. Prints numbers.

    python benchmarks/availability.py [--tree PATH] [--seconds 15] [--model-root DIR]

Serves the minimal tier's canny annotator and canny ControlNet (tiny weights) with
`python -m models_server serve` from `--tree` (default: this checkout; point it at an older
checkout to measure "before"), and probes GET /status and GET /running on a new connection every
50 ms (5 s timeout; a timeout counts as 5 s) from 127.0.0.1 under each pressure in turn, each
pressure made by a child process so its threads do not compete with the probe's:

- queue:     40 clients keep POSTing to one ControlNet (its queue holds 16: more keep arriving);
- slowloris: 300 connections from 127.0.0.2, half idle, half sending a header line every 2 s;
- fetches:   24 clients keep POSTing an img_url whose server trickles a byte every 0.5 s.

A second section measures the cost of extreme images on the annotators: peak RSS growth and
time of one call, each in a fresh process, for images one pixel wide or high and the largest
images the work-size limit lets through.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import harness
from harness import CONTROLNET_BODY, ROOT

SERVED = ("canny-control", "lllyasviel/sd-controlnet-canny")
CONTROLNET = "lllyasviel/sd-controlnet-canny"
PROBE_TIMEOUT = 5.0
PROBE_EVERY = 0.05
HOG_ADDRESS = "127.0.0.2"
QUEUE_CLIENTS = 40  # > work threads (16) + requests allowed to wait (16): some must be refused
FETCH_CLIENTS = 24


# -- the server under test --------------------------------------------------------------------


@contextlib.contextmanager
def served(tree: Path, model_root: Path, work: Path) -> Iterator[int]:
    """`models_server serve` from `tree` with only SERVED enabled and private URLs allowed; its port."""
    from models_server.catalog import minimal

    settings = {"model_root": str(model_root), "public_dir": str(work / "public"), "tier": "minimal",
                "device": "cpu", "allow_private_urls": True,
                "models": {row.id: False for row in minimal.MODELS if row.id not in SERVED}}
    with harness.serve(work, "serve-availability", settings, tree=tree) as live:
        live.wait_settled()
        if live.states()[CONTROLNET] != "loaded":
            raise RuntimeError(f"{CONTROLNET} did not load:\n{live.log_tail()}")
        yield live.port


def get(port: int, path: str, timeout: float = PROBE_TIMEOUT) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post(port: int, path: str, body: str, timeout: float = 120) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# -- probing ----------------------------------------------------------------------------------


def probe(port: int, seconds: float) -> dict[str, float]:
    """Latencies of alternating /status and /running probes over `seconds`; a timeout counts as
    PROBE_TIMEOUT."""
    latencies: list[float] = []
    failures = 0
    ends = time.monotonic() + seconds
    paths = ("/status", "/running")
    while time.monotonic() < ends:
        started = time.perf_counter()
        try:
            status, _ = get(port, paths[len(latencies) % 2])
            if status != 200:
                failures += 1
        except (OSError, http.client.HTTPException):
            failures += 1
        latencies.append(min(time.perf_counter() - started, PROBE_TIMEOUT))
        time.sleep(max(0.0, PROBE_EVERY - (time.perf_counter() - started)))
    return {**harness.latency_ms(latencies), "failed": failures}


class Pressure:
    """Background load that runs until `stop` is set; counts answers by status code."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.codes: dict[str, int] = {}
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def count(self, code: str) -> None:
        with self.lock:
            self.codes[code] = self.codes.get(code, 0) + 1

    def start(self, target, count: int) -> None:
        for index in range(count):
            thread = threading.Thread(target=target, args=(index,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=PROBE_TIMEOUT + 60)


def posting(pressure: Pressure, port: int, body: str, model_id: str):
    def loop(_: int) -> None:
        while not pressure.stop.is_set():
            try:
                pressure.count(str(post(port, f"/models/{model_id}", body)))
            except (OSError, http.client.HTTPException) as exc:
                pressure.count(type(exc).__name__)
                time.sleep(0.05)
    return loop


def slowloris(pressure: Pressure, port: int):
    """Each thread keeps 30 connections open from HOG_ADDRESS; odd threads trickle header lines."""
    def loop(index: int) -> None:
        socks: list[socket.socket | None] = [None] * 30
        line = 0
        while not pressure.stop.is_set():
            for slot, sock in enumerate(socks):
                if sock is None:
                    try:
                        sock = socket.create_connection(("127.0.0.1", port), timeout=1, source_address=(HOG_ADDRESS, 0))
                        sock.setblocking(False)
                        if index % 2:
                            sock.send(b"GET /status HTTP/1.1\r\n")
                        socks[slot] = sock
                        pressure.count("opened")
                    except OSError:
                        pressure.count("connect-failed")
                        continue
                elif index % 2:
                    try:
                        sock.send(f"X-{line}: y\r\n".encode())
                    except OSError:
                        sock.close()
                        socks[slot] = None
                        pressure.count("closed-by-server")
            line += 1
            pressure.stop.wait(2.0)
        for sock in socks:
            if sock is not None:
                sock.close()
    return loop


@contextlib.contextmanager
def trickle_server() -> Iterator[int]:
    """Answers every connection with a status line and headers a byte every 0.5 s (bounded)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    listener.settimeout(0.2)
    stop = threading.Event()
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nX-Pad: " + b"p" * 200 + b"\r\n\r\n"

    def one(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            for byte in answer:
                if stop.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(0.5)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def run_pressure(name: str, port: int, stop, answers, photo_ref: str) -> None:
    """In a child process, so the load's own threads do not slow the probe: one pressure until `stop`."""
    pressure = Pressure()
    pressure.stop = stop  # set by the parent when its probing is over
    if name == "queue":
        body = json.dumps({**CONTROLNET_BODY, "img_url": photo_ref, "num_inference_steps": 20})
        pressure.start(posting(pressure, port, body, CONTROLNET), QUEUE_CLIENTS)
        stop.wait()
        pressure.finish()
    elif name == "slowloris":
        pressure.start(slowloris(pressure, port), 10)
        stop.wait()
        pressure.finish()
    else:
        with trickle_server() as trickle_port:
            body = f'{{"img_url": "http://127.0.0.1:{trickle_port}/a.png"}}'
            pressure.start(posting(pressure, port, body, "canny-control"), FETCH_CLIENTS)
            stop.wait()
            pressure.finish()
    answers.put(dict(pressure.codes))


def availability(tree: Path, model_root: Path, work: Path, seconds: float) -> dict[str, dict]:
    import multiprocessing

    photo_ref = harness.write_photo(work / "public", size=128)
    context = multiprocessing.get_context("fork")
    results: dict[str, dict] = {}
    with served(tree, model_root, work) as port:
        results["idle"] = {**probe(port, min(seconds, 5.0)), "load": {}}
        for name in ("queue", "slowloris", "fetches"):
            stop, answers = context.Event(), context.Queue()
            child = context.Process(target=run_pressure, args=(name, port, stop, answers, photo_ref),
                                    daemon=True)
            child.start()
            time.sleep(3.0)  # let the pressure build up
            results[name] = probe(port, seconds)
            stop.set()
            try:
                results[name]["load"] = answers.get(timeout=200)
            except queue.Empty:  # a pressure that did not report still has its probe figures
                results[name]["load"] = {"unreported": 1}
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    return results


# -- cost of extreme images on the annotators -------------------------------------------------

COST_CASES = (
    ("mlsd-control", 1, 20), ("openpose-control", 1, 20), ("hed-control", 1, 60),
    ("mlsd-control", 2048, 512), ("openpose-control", 2048, 512), ("hed-control", 2048, 512),
    ("canny-control", 1, 49_000_000), ("depth-control", 1, 49_000_000), ("normal-control", 7000, 7000),
)

COST_PROGRAM = r"""
import sys, time
from pathlib import Path
import torch
from PIL import Image
from models_server.catalog import minimal
from models_server.tasks import controlnet_aux as annotators
from models_server.tasks.loading import LoadContext, SharedComponents

model_id, width, height, root = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
row = next(r for r in minimal.MODELS if r.id == model_id)
ctx = LoadContext(model_id=row.id, weight_dirs=tuple(root / r.name for r in row.weights), device="cpu",
                  dtype=torch.float32, shared_components=SharedComponents())
model = row.loader(ctx)
image = Image.new("RGB", (width, height), (120, 80, 200))

def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
before = kib("VmRSS:")
started = time.perf_counter()
try:
    with torch.inference_mode():
        annotators.ANNOTATE.handler(model, {"img_url": image}, {})
    outcome = "ok"
except Exception as exc:
    outcome = f"{type(exc).__name__}"
print(f"{(kib('VmHWM:') - before) / 1024:.0f}\t{time.perf_counter() - started:.2f}\t{outcome}")
"""


def annotator_cost(tree: Path, model_root: Path, timeout: float) -> list[tuple[str, str]]:
    rows = []
    for model_id, width, height in COST_CASES:
        label = f"{model_id} {width}x{height}"
        try:
            done = subprocess.run(
                [sys.executable, "-c", COST_PROGRAM, model_id, str(width), str(height), str(model_root)],
                cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
                timeout=timeout,
            )
            fields = done.stdout.strip().splitlines()[-1].split("\t") if done.stdout.strip() else []
            shown = f"+{fields[0]} MiB peak, {fields[1]} s, {fields[2]}" if len(fields) == 3 else "crashed"
        except subprocess.TimeoutExpired:
            shown = f"over {timeout:g} s (stopped)"
        rows.append((label, shown))
        print(f"  {label:<34} {shown}", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout whose server is measured")
    parser.add_argument("--model-root", type=Path, default=ROOT / ".cache" / "tiny-models")
    parser.add_argument("--seconds", type=float, default=15.0, help="probing time per pressure")
    parser.add_argument("--skip-cost", action="store_true", help="only the availability section")
    parser.add_argument("--skip-availability", action="store_true", help="only the annotator cost section")
    parser.add_argument("--cost-timeout", type=float, default=300.0)
    args = parser.parse_args()
    tree = args.tree.resolve()

    from models_server.catalog import minimal

    harness.tiny_weights(args.model_root, [minimal.ANNOTATORS, minimal.DPT_HYBRID, minimal.UPERNET,
                                           *{repo for row in minimal.MODELS if row.id in SERVED
                                             for repo in row.weights}])
    print(f"tree: {tree}\nmachine: {harness.describe_machine()}")
    if not args.skip_availability:
        with tempfile.TemporaryDirectory(prefix="bench-availability-") as folder:
            results = availability(tree, args.model_root, Path(folder), args.seconds)
        print(f"\n/status and /running latency, ms (probe timeout {PROBE_TIMEOUT:g} s counts as {PROBE_TIMEOUT:g} s)\n")
        print(harness.markdown_table(
            ("pressure", "n", "p50", "p99", "max", "failed", "load answers"),
            [(name, row["n"], f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}", f"{row['max_ms']:.1f}", row["failed"],
              row["load"]) for name, row in results.items()]))
    if not args.skip_cost:
        print("\nannotator cost of one image (fresh process each; peak RSS growth during the call)")
        annotator_cost(tree, args.model_root, args.cost_timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
