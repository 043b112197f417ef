#!/usr/bin/env python
"""How fast `/status` and `/running` answer while the server is under pressure. Prints numbers.

    python benchmarks/availability.py [--tree PATH] [--seconds 15] [--model-root DIR]

Serves the minimal tier's canny, depth and HED annotators and canny ControlNet (tiny weights)
with `python -m models_server serve` from `--tree` (default: this checkout; point it at an older
checkout to measure "before"), and probes GET /status and GET /running on a new connection every
50 ms (5 s timeout; a timeout counts as 5 s) from 127.0.0.1 under each pressure in turn, each
pressure made by a child process so its threads do not compete with the probe's:

- others:    two clients asking depth and HED in turn (their latency alone, for the next row);
- queue:     40 clients keep POSTing to one ControlNet while the two others ask depth and HED;
- soak:      16 clients each cycling through small canny, ControlNet, depth and HED requests;
- slowloris: 300 connections from 127.0.0.2, half idle, half sending a header line every 2 s;
- fetches:   24 clients keep POSTing an img_url whose server trickles a byte every 0.5 s.

For each it prints the probes' latency (both paths, and /status alone), the answers the load got
by model and status code, and the depth/HED clients' latency.

A second section measures the cost of extreme images on the annotators: peak RSS growth and
time of one call, each in a fresh process, for the tiny-PNG cases of issue 14 and the largest
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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness import stop

ROOT = Path(__file__).resolve().parent.parent
SERVED = ("canny-control", "lllyasviel/sd-controlnet-canny", "depth-control", "hed-control")
CONTROLNET = "lllyasviel/sd-controlnet-canny"
OTHERS = ("depth-control", "hed-control")  # asked by other clients while one ControlNet is flooded
CONTROLNET_BODY = '{"img_url": "public/examples/photo.png", "text": "a photo", "num_inference_steps": 20, ' \
                  '"width": 64, "height": 64}'
SMALL_CONTROLNET_BODY = '{"img_url": "public/examples/photo.png", "text": "a photo", "num_inference_steps": 4, ' \
                        '"width": 64, "height": 64}'
IMAGE_BODY = '{"img_url": "public/examples/photo.png"}'
SOAK_CLIENTS = 16
SOAK_MIX = (("canny-control", IMAGE_BODY), (CONTROLNET, SMALL_CONTROLNET_BODY), ("depth-control", IMAGE_BODY),
            ("hed-control", IMAGE_BODY))
PROBE_TIMEOUT = 5.0
ANSWER_TIMEOUT = 660.0  # a load request's: beyond the server's request_timeout (600 s), as the controller sets none
PROBE_EVERY = 0.05
HOG_ADDRESS = "127.0.0.2"
QUEUE_CLIENTS = 40  # more than the work threads (16) and max_pending (16) together
FETCH_CLIENTS = 24


# -- the server under test --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(tree: Path, model_root: Path, public_dir: Path, request_timeout: float | None) -> Iterator[int]:
    """`models_server serve` from `tree` with only SERVED enabled and private URLs allowed."""
    from models_server.catalog import minimal

    others = [row.id for row in minimal.MODELS if row.id not in SERVED]
    port = free_port()
    config = public_dir.parent / "bench-availability.yaml"
    lines = [f"model_root: {model_root}", f"public_dir: {public_dir}", "tier: minimal", "device: cpu",
             "allow_private_urls: true", "models:"] + [f"  {model_id!r}: false" for model_id in others]
    if request_timeout is not None:
        lines += ["limits:", f"  request_timeout: {request_timeout}"]
    config.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "models_server", "serve", "--config", str(config), "--port", str(port)],
        cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, body = get(port, f"/status/{CONTROLNET}")
                if status == 200 and json.loads(body).get("state") == "loaded":
                    break
            time.sleep(0.2)
        else:
            raise TimeoutError("the server did not load")
        yield port
    finally:
        stop(process)


def get(port: int, path: str, timeout: float = PROBE_TIMEOUT) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post(port: int, path: str, body: str, timeout: float = ANSWER_TIMEOUT) -> tuple[int, str | None]:
    """The answer's status code and Retry-After."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    finally:
        conn.close()


# -- probing ----------------------------------------------------------------------------------


def probe(port: int, seconds: float) -> dict:
    """Latencies (ms) of alternating /status and /running probes over `seconds`; `status_p99` of
    the /status probes alone."""
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
        latencies.append(min(time.perf_counter() - started, PROBE_TIMEOUT) * 1000)
        time.sleep(max(0.0, PROBE_EVERY - (time.perf_counter() - started)))
    return {**summarize(latencies, failures), "status_p99": summarize(latencies[::2], 0)["p99"]}


def summarize(latencies: list[float], failures: int) -> dict[str, float]:
    ordered = sorted(latencies) or [0.0]
    return {
        "n": len(latencies),
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
        "failed": failures,
    }


class Pressure:
    """Background load that runs until `stop` is set; counts answers by status code."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.codes: dict[str, int] = {}
        self.latencies: list[float] = []  # ms, of the requests timed (the other clients')
        self.retry_after: list[int] = []  # of the 503 answers
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def count(self, code: str) -> None:
        with self.lock:
            self.codes[code] = self.codes.get(code, 0) + 1

    def answered(self, model_id: str, answer: tuple[int, str | None]) -> None:
        self.count(f"{label(model_id)} {answer[0]}")
        if answer[0] == 503 and answer[1] is not None and answer[1].isdigit():
            with self.lock:
                self.retry_after.append(int(answer[1]))

    def timed(self, milliseconds: float) -> None:
        with self.lock:
            self.latencies.append(milliseconds)

    def start(self, target, count: int) -> None:
        for index in range(count):
            thread = threading.Thread(target=target, args=(index,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        """Stop sending, and wait (up to ANSWER_TIMEOUT) for the answers still to come."""
        self.stop.set()
        deadline = time.monotonic() + ANSWER_TIMEOUT + 5
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


def label(model_id: str) -> str:
    return "controlnet" if model_id == CONTROLNET else model_id.removesuffix("-control")


def posting(pressure: Pressure, port: int, body: str, model_id: str):
    def loop(_: int) -> None:
        while not pressure.stop.is_set():
            try:
                pressure.answered(model_id, post(port, f"/models/{model_id}", body))
            except (OSError, http.client.HTTPException) as exc:
                pressure.count(f"{label(model_id)} {type(exc).__name__}")
                time.sleep(0.05)
    return loop


def cycling(pressure: Pressure, port: int, mix: tuple[tuple[str, str], ...], timed: bool = False):
    """Each client posts the requests of `mix` in turn (client i starting at the i-th), counting
    answers by model and code, and timing them when `timed`."""
    def loop(index: int) -> None:
        turn = index
        while not pressure.stop.is_set():
            model_id, body = mix[turn % len(mix)]
            turn += 1
            started = time.perf_counter()
            try:
                pressure.answered(model_id, post(port, f"/models/{model_id}", body))
            except (OSError, http.client.HTTPException) as exc:
                pressure.count(f"{label(model_id)} {type(exc).__name__}")
                time.sleep(0.05)
            if timed:
                pressure.timed((time.perf_counter() - started) * 1000)
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


def run_pressure(name: str, port: int, stop, answers) -> None:
    """In a child process, so the load's own threads do not slow the probe: one pressure until `stop`."""
    pressure = Pressure()
    pressure.stop = stop  # set by the parent when its probing is over
    others = [(model_id, IMAGE_BODY) for model_id in OTHERS]
    if name == "others":
        pressure.start(cycling(pressure, port, tuple(others), timed=True), len(others))
        stop.wait()
        pressure.finish()
    elif name == "queue":
        pressure.start(posting(pressure, port, CONTROLNET_BODY, CONTROLNET), QUEUE_CLIENTS)
        pressure.start(cycling(pressure, port, tuple(others), timed=True), len(others))
        stop.wait()
        pressure.finish()
    elif name == "soak":
        pressure.start(cycling(pressure, port, SOAK_MIX), SOAK_CLIENTS)
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
        pressure.finish()  # the trickling server is gone: the fetches still waiting fail
    others_ms = summarize(pressure.latencies, 0) if pressure.latencies else None
    retry = sorted(pressure.retry_after)
    retry_after = (retry[0], int(statistics.median(retry)), retry[-1]) if retry else None
    answers.put({"codes": dict(sorted(pressure.codes.items())), "others_ms": others_ms, "retry_after": retry_after})


def availability(tree: Path, model_root: Path, public_dir: Path, seconds: float,
                 request_timeout: float | None) -> dict[str, dict]:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    results: dict[str, dict] = {}
    with served(tree, model_root, public_dir, request_timeout) as port:
        results["idle"] = {**probe(port, min(seconds, 5.0)), "load": {"codes": {}, "others_ms": None}}
        for name in ("others", "queue", "soak", "slowloris", "fetches"):
            stop, answers = context.Event(), context.Queue()
            child = context.Process(target=run_pressure, args=(name, port, stop, answers), daemon=True)
            child.start()
            time.sleep(3.0)  # let the pressure build up
            results[name] = probe(port, seconds)
            stop.set()
            try:
                results[name]["load"] = answers.get(timeout=ANSWER_TIMEOUT + 60)
            except queue.Empty:  # a pressure that did not report still has its probe figures
                results[name]["load"] = {"codes": {"unreported": 1}, "others_ms": None}
            child.join(timeout=30)
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
from models_server.tasks import annotators
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
    parser.add_argument("--request-timeout", type=float, default=None,
                        help="the server's request_timeout (default: its own); lower, the flood is an overload")
    parser.add_argument("--skip-cost", action="store_true", help="only the availability section")
    parser.add_argument("--skip-availability", action="store_true", help="only the annotator cost section")
    parser.add_argument("--cost-timeout", type=float, default=300.0)
    args = parser.parse_args()
    tree = args.tree.resolve()

    sys.path.insert(0, str(ROOT))
    from models_server.catalog import minimal
    from tiny_models import make_tiny

    make_tiny(args.model_root, [minimal.ANNOTATORS, minimal.DPT_HYBRID, minimal.UPERNET,
                                *{repo for row in minimal.MODELS if row.id in SERVED for repo in row.weights}])
    print(f"tree: {tree}   load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.skip_availability:
        with tempfile.TemporaryDirectory() as folder:
            public_dir = Path(folder) / "public"
            (public_dir / "examples").mkdir(parents=True)
            from PIL import Image

            Image.new("RGB", (128, 128), (90, 140, 200)).save(public_dir / "examples" / "photo.png")
            results = availability(tree, args.model_root, public_dir, args.seconds, args.request_timeout)
        print(f"\n/status and /running latency, ms (probe timeout {PROBE_TIMEOUT:g} s counts as {PROBE_TIMEOUT:g} s); "
              f"load average now {os.getloadavg()[0]:.1f}")
        print(f"  {'pressure':<10} {'n':>5} {'p50':>8} {'p99':>8} {'max':>8} {'failed':>7} {'/status p99':>12}  "
              "depth/HED clients ms (p50 p99 max)")
        for name, row in results.items():
            others = row["load"]["others_ms"]
            shown = f"{others['p50']:.0f} {others['p99']:.0f} {others['max']:.0f} (n={others['n']})" if others else "-"
            print(f"  {name:<10} {row['n']:>5} {row['p50']:>8.1f} {row['p99']:>8.1f} {row['max']:>8.1f} "
                  f"{row['failed']:>7} {row['status_p99']:>12.1f}  {shown}")
        print("\nanswers the load got, by model and status code")
        for name, row in results.items():
            if row["load"]["codes"]:
                retry = row["load"].get("retry_after")
                shown = f"   503 Retry-After min/median/max {retry[0]}/{retry[1]}/{retry[2]} s" if retry else ""
                print(f"  {name:<10} {row['load']['codes']}{shown}")
    if not args.skip_cost:
        print("\nannotator cost of one image (fresh process each; peak RSS growth during the call)")
        annotator_cost(tree, args.model_root, args.cost_timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
