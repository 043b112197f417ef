#!/usr/bin/env python
"""How fast `/status` and `/running` answer while the server is under pressure. Prints numbers.

    python benchmarks/availability.py [--tree PATH] [--seconds 15] [--model-root DIR] [--pressures a,b]

Serves the minimal tier's canny, depth and HED annotators and canny ControlNet (tiny weights)
with `python -m models_server serve` from `--tree` (default: this checkout; point it at an older
checkout to measure "before"), and probes GET /status and GET /running on a new connection every
50 ms (5 s timeout; a timeout counts as 5 s) from 127.0.0.1 under each pressure in turn, each
pressure made by a child process so its threads do not compete with the probe's:

- others:    two clients asking depth and HED in turn (their latency alone, for the next row);
- queue:     40 clients keep POSTing to one ControlNet while the two others ask depth and HED;
- v1-queue:  the same, the 40 through OpenAI's `POST /v1/images/edits` naming the ControlNet;
- soak:      16 clients each cycling through small canny, ControlNet, depth and HED requests;
- slowloris: 300 connections from 127.0.0.2, half idle, half sending a header line every 2 s;
- fetches:   24 clients keep POSTing an img_url whose server trickles a byte every 0.5 s.

For each it prints the probes' latency (both paths, and /status alone), the answers the load got
by model and status code, and the depth/HED clients' latency.

A second section measures the cost of extreme images on the annotators: peak RSS growth and
time of one call, each in a fresh process, for images one pixel wide or high and the largest
images the work-size limit lets through.
"""

from __future__ import annotations

import argparse
import base64
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
from collections.abc import Callable, Iterator
from pathlib import Path

import harness
from harness import CONTROLNET_BODY, PHOTO_REF, ROOT

CANNY = "canny-control"
CONTROLNET = "lllyasviel/sd-controlnet-canny"
OTHERS = ("depth-control", "hed-control")  # asked by other clients while one ControlNet is flooded
SERVED = (CANNY, CONTROLNET, *OTHERS)
IMAGE_BODY = json.dumps({"img_url": PHOTO_REF})
FLOOD_BODY = json.dumps({**CONTROLNET_BODY, "img_url": PHOTO_REF, "num_inference_steps": 20})
SMALL_CONTROLNET_BODY = json.dumps({**CONTROLNET_BODY, "img_url": PHOTO_REF, "num_inference_steps": 4})
OTHERS_MIX = tuple((model_id, IMAGE_BODY) for model_id in OTHERS)
SOAK_MIX = ((CANNY, IMAGE_BODY), (CONTROLNET, SMALL_CONTROLNET_BODY), *OTHERS_MIX)
SOAK_CLIENTS = 16
PROBE_TIMEOUT = 5.0
ANSWER_TIMEOUT = 660.0  # a load request's: beyond the server's request_timeout (600 s), as the controller sets none
PROBE_EVERY = 0.05
HOG_ADDRESS = "127.0.0.2"
QUEUE_CLIENTS = 40  # more than the work threads (16) and max_pending (16) together
FETCH_CLIENTS = 24
V1_EDITS = "/v1/images/edits"
PRESSURES = ("others", "queue", "v1-queue", "soak", "slowloris", "fetches")


# -- the server under test --------------------------------------------------------------------


@contextlib.contextmanager
def served(tree: Path, model_root: Path, work: Path, request_timeout: float | None) -> Iterator[int]:
    """`models_server serve` from `tree` with only SERVED enabled and private URLs allowed; its port."""
    from models_server.catalog import minimal

    settings: dict[str, object] = {
        "model_root": str(model_root), "public_dir": str(work / "public"), "tier": "minimal", "device": "cpu",
        "allow_private_urls": True, "models": {row.id: False for row in minimal.MODELS if row.id not in SERVED}}
    if request_timeout is not None:
        settings["limits"] = {"request_timeout": request_timeout}
    with harness.serve(work, "serve-availability", settings, tree=tree) as live:
        live.wait_settled()
        if live.states()[CONTROLNET] != "loaded":
            raise RuntimeError(f"{CONTROLNET} did not load:\n{live.log_tail()}")
        yield live.port


def get(port: int, path: str) -> int:
    """The status code of GET `path` on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def post(port: int, path: str, body: str) -> tuple[int, str | None]:
    """The answer's status code and Retry-After: a refusal is a figure here, not an error."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_TIMEOUT)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    finally:
        conn.close()


# -- probing ----------------------------------------------------------------------------------


def probe(port: int, seconds: float) -> dict:
    """Latencies of alternating /status and /running probes over `seconds` (a timeout counts as
    PROBE_TIMEOUT), and `status_p99_ms` of the /status probes alone."""
    latencies: list[float] = []
    failures = 0
    ends = time.monotonic() + seconds
    paths = ("/status", "/running")
    while time.monotonic() < ends:
        started = time.perf_counter()
        try:
            if get(port, paths[len(latencies) % 2]) != 200:
                failures += 1
        except (OSError, http.client.HTTPException):
            failures += 1
        latencies.append(min(time.perf_counter() - started, PROBE_TIMEOUT))
        time.sleep(max(0.0, PROBE_EVERY - (time.perf_counter() - started)))
    return {**harness.latency_ms(latencies), "failed": failures,
            "status_p99_ms": harness.latency_ms(latencies[::2])["p99_ms"]}


class Pressure:
    """Background load that runs until `stop` is set; counts answers by model and status code."""

    def __init__(self, stop) -> None:
        self.stop = stop
        self.codes: dict[str, int] = {}
        self.latencies: list[float] = []  # seconds, of the requests timed (the other clients')
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

    def timed(self, taken: float) -> None:
        with self.lock:
            self.latencies.append(taken)

    def start(self, target: Callable[[int], None], count: int) -> None:
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

    def report(self) -> dict:
        retry = sorted(self.retry_after)
        return {"codes": dict(sorted(self.codes.items())),
                "others_ms": harness.latency_ms(self.latencies) if self.latencies else None,
                "retry_after": (retry[0], int(statistics.median(retry)), retry[-1]) if retry else None}


def label(model_id: str) -> str:
    return "controlnet" if model_id == CONTROLNET else model_id.removesuffix("-control")


def model_path(model_id: str) -> str:
    return f"/models/{model_id}"


def cycling(pressure: Pressure, port: int, mix: tuple[tuple[str, str], ...],
            timed: bool = False, path: Callable[[str], str] = model_path) -> Callable[[int], None]:
    """Each client posts the requests of `mix` in turn (client i starting at the i-th) to the
    `path` of its model, counting answers by model and code, and timing them when `timed`."""
    def loop(index: int) -> None:
        turn = index
        while not pressure.stop.is_set():
            model_id, body = mix[turn % len(mix)]
            turn += 1
            started = time.perf_counter()
            try:
                pressure.answered(model_id, post(port, path(model_id), body))
            except (OSError, http.client.HTTPException) as exc:
                pressure.count(f"{label(model_id)} {type(exc).__name__}")
                time.sleep(0.05)
            if timed:
                pressure.timed(time.perf_counter() - started)
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


def v1_edit_body(public_dir: Path) -> str:
    """OpenAI's image edit on the ControlNet, as FLOOD_BODY asks it (the photo is the control map)."""
    photo = (public_dir.parent / PHOTO_REF).read_bytes()
    return json.dumps({"model": CONTROLNET, "prompt": "a photo", "image": base64.b64encode(photo).decode("ascii"),
                       "size": "64x64", "seed": 1, "num_inference_steps": 20})


def run_pressure(name: str, port: int, stop, answers, v1_body: str) -> None:
    """In a child process, so the load's own threads do not slow the probe: one pressure until
    `stop` (set by the parent when its probing is over), then its report on `answers`."""
    pressure = Pressure(stop)
    with contextlib.ExitStack() as needed:
        if name == "others":
            pressure.start(cycling(pressure, port, OTHERS_MIX, timed=True), len(OTHERS_MIX))
        elif name == "queue":
            pressure.start(cycling(pressure, port, ((CONTROLNET, FLOOD_BODY),)), QUEUE_CLIENTS)
            pressure.start(cycling(pressure, port, OTHERS_MIX, timed=True), len(OTHERS_MIX))
        elif name == "v1-queue":
            pressure.start(cycling(pressure, port, ((CONTROLNET, v1_body),), path=lambda _: V1_EDITS), QUEUE_CLIENTS)
            pressure.start(cycling(pressure, port, OTHERS_MIX, timed=True), len(OTHERS_MIX))
        elif name == "soak":
            pressure.start(cycling(pressure, port, SOAK_MIX), SOAK_CLIENTS)
        elif name == "slowloris":
            pressure.start(slowloris(pressure, port), 10)
        else:
            trickle_port = needed.enter_context(trickle_server())
            body = json.dumps({"img_url": f"http://127.0.0.1:{trickle_port}/a.png"})
            pressure.start(cycling(pressure, port, ((CANNY, body),)), FETCH_CLIENTS)
        stop.wait()
    pressure.finish()  # a trickling server is gone by now: the fetches still waiting fail
    answers.put(pressure.report())


def availability(tree: Path, model_root: Path, work: Path, seconds: float,
                 request_timeout: float | None, pressures: tuple[str, ...] = PRESSURES) -> dict[str, dict]:
    import multiprocessing

    harness.write_photo(work / "public", size=128)
    v1_body = v1_edit_body(work / "public")
    context = multiprocessing.get_context("fork")
    results: dict[str, dict] = {}
    with served(tree, model_root, work, request_timeout) as port:
        results["idle"] = {**probe(port, min(seconds, 5.0)), "load": {"codes": {}, "others_ms": None}}
        for name in pressures:
            stop, answers = context.Event(), context.Queue()
            child = context.Process(target=run_pressure, args=(name, port, stop, answers, v1_body), daemon=True)
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


def print_availability(results: dict[str, dict]) -> None:
    print(f"\n/status and /running latency, ms (probe timeout {PROBE_TIMEOUT:g} s counts as {PROBE_TIMEOUT:g} s); "
          f"machine now: {harness.describe_machine()}\n")
    print(harness.markdown_table(
        ("pressure", "n", "p50", "p99", "max", "failed", "/status p99", "depth/HED clients ms (p50 p99 max)"),
        [(name, row["n"], f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}", f"{row['max_ms']:.1f}", row["failed"],
          f"{row['status_p99_ms']:.1f}", others_shown(row["load"]["others_ms"])) for name, row in results.items()]))
    print("answers the load got, by model and status code\n")
    print(harness.markdown_table(
        ("pressure", "answers", "503 Retry-After min/median/max s"),
        [(name, row["load"]["codes"], "/".join(map(str, row["load"].get("retry_after") or ())) or "-")
         for name, row in results.items() if row["load"]["codes"]]))


def others_shown(others: dict | None) -> str:
    return f"{others['p50_ms']:.0f} {others['p99_ms']:.0f} {others['max_ms']:.0f} (n={others['n']})" if others else "-"


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
    parser.add_argument("--request-timeout", type=float, default=None,
                        help="the server's request_timeout (default: its own); lower, the flood is an overload")
    parser.add_argument("--skip-cost", action="store_true", help="only the availability section")
    parser.add_argument("--skip-availability", action="store_true", help="only the annotator cost section")
    parser.add_argument("--cost-timeout", type=float, default=300.0)
    parser.add_argument("--pressures", default=",".join(PRESSURES),
                        help=f"comma-separated, of {', '.join(PRESSURES)} (default: all)")
    args = parser.parse_args()
    pressures = tuple(name for name in args.pressures.split(",") if name)
    if unknown := set(pressures) - set(PRESSURES):
        parser.error(f"no such pressure: {', '.join(sorted(unknown))}")
    tree = args.tree.resolve()

    from models_server.catalog import minimal

    harness.tiny_weights(args.model_root, [minimal.ANNOTATORS, minimal.DPT_HYBRID, minimal.UPERNET,
                                           *{repo for row in minimal.MODELS if row.id in SERVED
                                             for repo in row.weights}])
    print(f"tree: {tree}\nmachine: {harness.describe_machine()}")
    if not args.skip_availability:
        with tempfile.TemporaryDirectory(prefix="bench-availability-") as folder:
            print_availability(availability(tree, args.model_root, Path(folder), args.seconds, args.request_timeout,
                                            pressures))
    if not args.skip_cost:
        print("\nannotator cost of one image (fresh process each; peak RSS growth during the call)")
        annotator_cost(tree, args.model_root, args.cost_timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
