#!/usr/bin/env python
"""Where one request's time goes, from the client's connect to the last byte it reads.

The guarded waitress server and the app run in this process as `serve` runs them; a client in
another process sends requests one at a time (a new connection each, as the JARVIS peer harness
and the controller's `requests.post` do) and notes when it sent and when the answer was read.
The server's stages are stamped by wrapping the functions at their boundaries (only here, for
the measurement), all on the same monotonic clock as the client's:

    connect -> accepted (I/O thread) -> request parsed -> on a work thread -> in the pipeline
    -> inputs decoded -> on the model's thread -> model call -> back on the work thread
    -> answer encoded -> file written -> answer made -> its last byte sent -> read by the client

Prints the median of each stage over `--repeat` requests, and the machine's load.

    .venv/bin/python benchmarks/request_path.py [--model-root DIR] [--image PATH] [--repeat 200]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
from harness import ROOT

MODEL = "canny-control"

CLIENT = r"""
import json, sys, time, requests
url, body, repeat = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
for _ in range(5):
    requests.post(url, json=body, timeout=60).raise_for_status()
print("warm", flush=True)
sys.stdin.readline()
marks = []
for _ in range(repeat):
    sent = time.monotonic()
    response = requests.post(url, json=body, timeout=60)
    read = time.monotonic()
    response.raise_for_status()
    marks.append((sent, read))
print(json.dumps(marks), flush=True)
"""

# (stage name, the stamp it ends at); each stage starts where the one before ended
STAGES = (
    ("connect, accept", "accepted"),
    ("read and parse the request", "parsed"),
    ("hand to a work thread", "dispatched"),
    ("WSGI, Flask, access rules", "pipeline"),
    ("resolve, admit", "decode_start"),
    ("decode inputs (read + JPEG)", "decode_end"),
    ("the model's turn (and thread, for torch)", "model_start"),
    ("model call", "model_end"),
    ("back to the work thread", "run_back"),
    ("encode the answer (PNG)", "encoded"),
    ("write the file", "written"),
    ("answer JSON", "handled"),
    ("Flask, access log, send", "sent"),
    ("to the client", "read"),
)


class Stamps:
    """Per request (in order; requests run one at a time), the monotonic time of each boundary."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self.done: list[dict[str, float]] = []
        self.lock = threading.Lock()

    def mark(self, name: str) -> None:
        now = time.monotonic()
        with self.lock:
            self.current.setdefault(name, now)

    def finish(self) -> None:
        with self.lock:
            if "sent" in self.current:
                self.done.append(self.current)
            self.current = {}


def wrap(owner: Any, name: str, before: str | None = None, after: str | None = None,
         when: Callable[[Any], bool] = lambda result: True) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def stamped(*args: Any, **kwargs: Any) -> Any:
        if before:
            STAMPS.mark(before)
        result = original(*args, **kwargs)
        if after and when(result):
            STAMPS.mark(after)
        return result

    setattr(owner, name, stamped)


STAMPS = Stamps()


def instrument() -> None:
    from models_server.http.channel import GuardedChannel
    from models_server.http.lanes import Lanes, ModelTask
    from models_server.media import outputs
    from models_server.media.outputs import OutputStore
    from models_server.pipeline.fields import FieldDecoder
    from models_server.pipeline.request import RequestPipeline
    from models_server.runtime.admission import Admission
    from models_server.runtime.lanes import ComputeLanes

    wrap(Lanes, "add_task", before="parsed")
    wrap(ModelTask, "service", before="dispatched")
    wrap(RequestPipeline, "handle", before="pipeline", after="handled")
    wrap(FieldDecoder, "decode", before="decode_start", after="decode_end")
    wrap(outputs, "encode_file", after="encoded")
    wrap(OutputStore, "write", after="written")

    wrap(Admission, "_call", before="model_start", after="model_end")
    wrap(ComputeLanes, "run", after="run_back")

    original_init = GuardedChannel.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        STAMPS.mark("accepted")
        original_init(self, *args, **kwargs)

    GuardedChannel.__init__ = init  # type: ignore[method-assign]

    original_flush = GuardedChannel._flush_some

    def flush(self: Any, do_close: bool = True) -> bool:
        flushed = original_flush(self, do_close=do_close)
        if flushed and not self.total_outbufs_len and "handled" in STAMPS.current:
            STAMPS.mark("sent")
            STAMPS.finish()
        return flushed

    GuardedChannel._flush_some = flush  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-root", type=Path, default=ROOT / ".cache" / "tiny-models")
    parser.add_argument("--image", type=Path, help="the photo to send (default: a 512² photo)")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--out", type=Path, help="write the per-request stamps here as JSON")
    args = parser.parse_args()

    from models_server.cli import set_openmp_defaults

    set_openmp_defaults()
    from models_server.catalog import catalog_rows, unique_repos
    from models_server.config import load_settings
    from models_server.engines.local import serving_options
    from models_server.http.app import create_app
    from models_server.http.model_queues import ModelQueues
    from models_server.http.server import make_server
    from models_server.logs import configure
    from models_server.runtime import Runtime

    rows = [row for row in catalog_rows() if row.id == MODEL]
    harness.tiny_weights(args.model_root, unique_repos(rows))
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-path-"))
        public_dir = Path(folder) / "public"
        if args.image:
            (public_dir / "examples").mkdir(parents=True)
            shutil.copy(args.image, public_dir / "examples" / args.image.name)
            reference = f"public/examples/{args.image.name}"
        else:
            reference = harness.write_photo(public_dir)
        settings = load_settings(None, {"tier": "minimal", "model_root": str(args.model_root),
                                        "public_dir": str(public_dir), "device": "cpu", "port": 0,
                                        "host": "127.0.0.1"}, environ={})
        log_file = stack.enter_context(open(Path(folder) / "server.log", "w"))
        configure("info", log_file)  # access lines are written, as when serving
        runtime = Runtime(settings, rows)
        runtime.load_all()
        queues = ModelQueues.for_runtime(runtime)
        server = make_server(create_app(settings, runtime, queues=queues), "127.0.0.1", 0,
                             serving_options(settings), queues)
        instrument()
        threading.Thread(target=server.run, name="server", daemon=True).start()
        url = f"http://127.0.0.1:{server.effective_port}/models/{MODEL}"
        client = subprocess.Popen([sys.executable, "-c", CLIENT, url, json.dumps({"img_url": reference}),
                                   str(args.repeat)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert client.stdin is not None and client.stdout is not None
        client.stdout.readline()  # warmed up
        STAMPS.current, STAMPS.done = {}, []
        load_before = os.getloadavg()
        client.stdin.write("go\n")
        client.stdin.flush()

        marks = json.loads(client.stdout.readline())
        client.wait(30)
        load_after = os.getloadavg()
        server.close()

    records = STAMPS.done[-len(marks):]
    per_stage: dict[str, list[float]] = collections.defaultdict(list)
    totals = []
    for (sent, read), record in zip(marks, records, strict=False):
        record = {"start": sent, **record, "read": read}
        totals.append(1000 * (read - sent))
        previous = "start"
        for stage, stamp in STAGES:
            if stamp in record:
                per_stage[stage].append(1000 * (record[stamp] - record[previous]))
                previous = stamp
    print(f"{MODEL} on {reference}, {len(totals)} requests one at a time, a new connection each")
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"{'stage':40} {'p50 ms':>8}")
    for stage, _ in STAGES:
        if per_stage[stage]:
            print(f"{stage:40} {statistics.median(per_stage[stage]):8.2f}")
    print(f"{'total (client)':40} {statistics.median(totals):8.2f}")
    if args.out:
        args.out.write_text(json.dumps({"marks": marks, "records": records}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
