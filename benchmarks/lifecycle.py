#!/usr/bin/env python
"""What a person's controls cost on a live server. Prints numbers.

    python benchmarks/lifecycle.py --model-root DIR [--unload-weights DIR] [--repeats 5]

- unload: `POST /admin/models/<id>/load`, one request (safetensors weights are mapped: only a run
  touches them all), then `/unload`; the server's RSS before, after the run and after the unload,
  and how long the unload call takes (it answers once the memory is freed).
  `--unload-weights` points the model at other weights (e.g. real-size ones from
  `make-tiny --scale real`), so the figure is about a model of a real size.
- cancel: a ControlNet generation of many steps from a raw socket; once it runs, the client
  closes the connection, and the time until `/status` shows the model free again is measured
  next to the time of one step (from the progress the status reports).
- cancel of a chunked task: the same for a long transcription (30 minutes of audio, 30 s windows,
  four to a chunk), next to the time of one chunk.
The machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from harness import stop

ROOT = Path(__file__).resolve().parent.parent
CONTROLNET = "lllyasviel/sd-controlnet-canny"
UNLOADED = "Intel/dpt-hybrid-midas"
ASR = "facebook/wav2vec2-base-960h"
AUDIO_MINUTES = 30
STEPS = 1000
PHOTO = "public/examples/photo.jpg"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(model_root: Path, weights: Path | None, public_dir: Path) -> Iterator[tuple[str, int]]:
    """The standard tier, every model lazy, from `model_root`; (base URL, server pid)."""
    port = free_port()
    override = f"{{weights: {weights}}}" if weights else "{}"
    config = public_dir.parent / "bench-lifecycle.yaml"
    config.write_text(f"model_root: {model_root}\npublic_dir: {public_dir}\ntier: standard\ndevice: cpu\n"
                      f"preload: false\nlimits: {{max_steps: {STEPS}, max_audio_seconds: {AUDIO_MINUTES * 60}}}\n"
                      f"models:\n  {UNLOADED}: {override}\n")
    log = (public_dir.parent / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "models_server", "serve", "--config", str(config),
                                "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while not _ready(base):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {log.name}")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        stop(process)
        log.close()


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/readyz", timeout=10).status_code == 200
    except requests.ConnectionError:
        return False


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure_unload(base: str, pid: int, repeats: int) -> None:
    rows = []
    for _ in range(repeats):
        before = rss_mb(pid)
        started = time.perf_counter()
        loaded = requests.post(f"{base}/admin/models/{UNLOADED}/load", timeout=600)
        load_s = time.perf_counter() - started
        loaded.raise_for_status()
        requests.post(f"{base}/models/{UNLOADED}", json={"img_url": PHOTO}, timeout=600).raise_for_status()
        resident = rss_mb(pid)
        started = time.perf_counter()
        requests.post(f"{base}/admin/models/{UNLOADED}/unload", timeout=600).raise_for_status()
        unload_s = time.perf_counter() - started
        rows.append((before, resident, rss_mb(pid), load_s, unload_s, loaded.json()["bytes"]))
    print(f"unload of {UNLOADED} ({rows[0][5] / 1e6:.0f} MB of weights), {repeats} times:")
    for before, resident, after, load_s, unload_s, _ in rows:
        print(f"  RSS {before:.0f} -> loaded and run once {resident:.0f} -> unloaded {after:.0f} MB; "
              f"load call {load_s:.2f} s, unload call {unload_s * 1000:.0f} ms")
    print(f"  median unload call {statistics.median(row[4] for row in rows) * 1000:.0f} ms, "
          f"median RSS freed {statistics.median(row[1] - row[2] for row in rows):.0f} MB")


def measure_cancel(base: str, repeats: int) -> None:
    body = json.dumps({"img_url": PHOTO, "text": "long", "num_inference_steps": STEPS,
                       "width": 64, "height": 64}).encode()
    step, frees = _leave_and_time(base, CONTROLNET, body, repeats, first_step=3, later=5)
    print(f"cancel by disconnect, {repeats} times ({STEPS}-step tiny ControlNet at 64x64; load {_load()}):")
    print(f"  one step {step * 1000:.0f} ms (median); model free after the client left: {_each_ms(frees)}")


def measure_chunked_cancel(base: str, repeats: int) -> None:
    import numpy as np
    import soundfile

    silence = io.BytesIO()  # FLAC keeps silence in a few bytes per frame: a small body
    soundfile.write(silence, np.zeros(AUDIO_MINUTES * 60 * 16000, dtype=np.int16), 16000, format="FLAC")
    body = json.dumps({"audio_url": "data:audio/flac;base64," + base64.b64encode(silence.getvalue()).decode()})
    window, frees = _leave_and_time(base, ASR, body.encode(), repeats, first_step=4, later=8)
    print(f"cancel by disconnect, {repeats} times ({AUDIO_MINUTES} min of audio to the tiny {ASR}, 30 s windows, "
          f"4 to a chunk; load {_load()}):")
    print(f"  one chunk {window * 4 * 1000:.0f} ms (median); model free after the client left: {_each_ms(frees)}")


def _leave_and_time(base: str, model_id: str, body: bytes, repeats: int, first_step: int,
                    later: int) -> tuple[float, list[float]]:
    """Post `body` from a raw socket and close it once the progress has moved `later` steps past
    `first_step`; the median seconds per step, and the seconds until the model was free each time."""
    requests.post(f"{base}/admin/models/{model_id}/load", timeout=600).raise_for_status()
    host, port = base.removeprefix("http://").split(":")
    frees, steps = [], []
    for _ in range(repeats):
        client = socket.create_connection((host, int(port)))
        client.sendall(f"POST /models/{model_id} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        first = _progress_at_least(base, model_id, first_step)
        second = _progress_at_least(base, model_id, first[0] + later)
        steps.append((second[1] - first[1]) / (second[0] - first[0]))
        left = time.perf_counter()
        client.close()
        while requests.get(f"{base}/status/{model_id}", timeout=30).json()["queue"]:
            time.sleep(0.005)
        frees.append(time.perf_counter() - left)
    return statistics.median(steps), frees


def _progress_at_least(base: str, model_id: str, step: int) -> tuple[int, float]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        progress = requests.get(f"{base}/status/{model_id}", timeout=30).json().get("progress")
        if progress and progress["step"] >= step:
            return progress["step"], time.perf_counter()
        time.sleep(0.005)
    raise TimeoutError(f"{model_id} never reached step {step}")


def _each_ms(seconds: list[float]) -> str:
    each = ", ".join(f"{value * 1000:.0f}" for value in seconds)
    return f"{each} ms (median {statistics.median(seconds) * 1000:.0f})"


def _load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-root", type=Path, required=True, help="tiny models (make-tiny --out)")
    parser.add_argument("--unload-weights", type=Path, help=f"weights folder for {UNLOADED}")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        public = Path(folder) / "public"
        (public / "examples").mkdir(parents=True)
        from PIL import Image

        Image.new("RGB", (512, 512), (120, 80, 40)).save(public / "examples" / "photo.jpg")
        with served(args.model_root, args.unload_weights, public) as (base, pid):
            measure_unload(base, pid, args.repeats)
            measure_cancel(base, args.repeats)
            measure_chunked_cancel(base, args.repeats)


if __name__ == "__main__":
    main()
