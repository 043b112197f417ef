"""What the benchmark scripts share: a `models-server serve` subprocess on a free port with its
output in a file, waiting on it, tiny weights and an example photo, timing and latency
percentiles, and the tables and machine line they print.

The scripts measure the checkout they sit in: importing this module puts its root first on
`sys.path`, and every server it starts runs with that root (or `tree`) as its PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import requests
import yaml

if TYPE_CHECKING:
    from models_server.catalog.rows import Repo
    from models_server.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PHOTO_REF = "public/examples/photo.jpg"
CONTROLNET_BODY = {"text": "a photo", "num_inference_steps": 2, "width": 64, "height": 64, "seed": 1}


# -- the server under test --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, grace: float = 60) -> None:
    """SIGTERM (the server's graceful stop), then SIGKILL if a computing request holds it past `grace`."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=60)


@dataclass
class Served:
    """A running server subprocess: its port on 127.0.0.1, process, log file and launch time."""

    port: int
    process: subprocess.Popen
    log: Path
    launched: float = field(default_factory=time.perf_counter)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, ready: Callable[[], bool], timeout: float = 600, every: float = 0.02) -> float:
        """Seconds from launch until `ready()` is true; connection errors count as not yet."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}) during start-up:\n{self.log_tail()}")
            try:
                if ready():
                    return time.perf_counter() - self.launched
            except OSError:  # requests' errors are OSErrors too
                pass
            time.sleep(every)
        raise TimeoutError(f"the server was not ready in {timeout:g} s:\n{self.log_tail()}")

    def wait_running(self, timeout: float = 600) -> float:
        """Seconds from launch until GET /running answers 200."""
        return self.wait(lambda: requests.get(f"{self.url}/running", timeout=2).status_code == 200, timeout)

    def wait_settled(self, pending: Sequence[str] = ("loading",), timeout: float = 600) -> float:
        """Seconds from launch until no row of /status is in a `pending` state."""
        return self.wait(lambda: not any(state in pending for state in self.states().values()), timeout, every=0.05)

    def states(self) -> dict[str, str]:
        return {model_id: s["state"] for model_id, s in self.get("/status").json()["models"].items()}

    def get(self, path: str, timeout: float = 30) -> requests.Response:
        response = requests.get(f"{self.url}{path}", timeout=timeout)
        response.raise_for_status()
        return response

    def post(self, model_id: str, body: dict, timeout: float = 600) -> requests.Response:
        return post(self.url, model_id, body, timeout)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def serve(work: Path, name: str, settings: Mapping[str, Any], *, args: Sequence[str] = (), tree: Path = ROOT,
          grace: float = 60, new_session: bool = False) -> Iterator[Served]:
    """`models-server serve` from `tree` with `settings` as its config (`work/<name>.yaml`), on a
    free 127.0.0.1 port, its output in `work/<name>.log`; stopped on the way out."""
    port = free_port()
    config = write_config(work / f"{name}.yaml", settings)
    argv = [sys.executable, "-m", "models_server", "serve", "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port), *args]
    with running(argv, port, work / f"{name}.log", cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                 grace=grace, new_session=new_session) as served:
        yield served


@contextmanager
def running(argv: Sequence[str], port: int, log: Path, *, cwd: Path, env: Mapping[str, str], grace: float = 60,
            new_session: bool = False) -> Iterator[Served]:
    """A server subprocess listening on `port`, its stdout and stderr in `log`; stopped on the way out."""
    with log.open("w") as sink:
        process = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=new_session)
    try:
        yield Served(port, process, log)
    finally:
        stop(process, grace)


def write_config(path: Path, settings: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(settings), sort_keys=False))
    return path


def post(base: str, model_id: str, body: dict, timeout: float = 600) -> requests.Response:
    """POST a JSON body to a model; anything but 200 is an error naming the answer."""
    response = requests.post(f"{base}/models/{model_id}", json=body, timeout=timeout)
    if response.status_code != 200:
        raise RuntimeError(f"{model_id} answered {response.status_code}: {response.text[:500]}")
    return response


def metric(text: str, name: str) -> float:
    """One sample's value from a Prometheus text page (`name` with its labels); NaN when absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return float("nan")


# -- what the server reads --------------------------------------------------------------------


def tiny_weights(model_root: Path, repos: Iterable[Repo]) -> None:
    """Build the tiny random-weight folders of `repos` under `model_root` that are not there yet."""
    from tiny_models import make_tiny

    make_tiny(model_root, repos)


def write_photo(public_dir: Path, size: int = 512) -> str:
    """A real photo (scikit-image's astronaut) as a `size`² JPEG in public/examples, like the
    controller's examples; returns the reference a request body uses for it."""
    from PIL import Image
    from skimage import data

    (public_dir / "examples").mkdir(parents=True, exist_ok=True)
    photo = Image.fromarray(data.astronaut())
    if photo.size != (size, size):
        photo = photo.resize((size, size))
    photo.save(public_dir / "examples" / "photo.jpg", quality=95)
    return PHOTO_REF


def local_runtime(model_root: Path, public_dir: Path, model_ids: Iterable[str], **settings: Any) -> Runtime:
    """The minimal tier's rows `model_ids` loaded in this process, as `serve` loads them."""
    from models_server.catalog import catalog_rows
    from models_server.config import load_settings
    from models_server.engines.startup import load_tier
    from models_server.runtime import Runtime

    wanted = set(model_ids)
    loaded = load_settings(None, {"tier": "minimal", "model_root": str(model_root), "public_dir": str(public_dir),
                                  "device": "cpu", **settings}, environ={})
    runtime = Runtime(loaded, [row for row in catalog_rows() if row.id in wanted])
    load_tier(runtime)
    return runtime


# -- timing -----------------------------------------------------------------------------------


def interleaved(calls: Mapping[str, Callable[[], object]], rounds: int,
                warmup: int = 1) -> dict[str, list[tuple[float, object]]]:
    """Each call once per round, in turn, so all see the same background load: per call, the
    seconds and the result of each round after `warmup` untimed rounds."""
    samples: dict[str, list[tuple[float, object]]] = {name: [] for name in calls}
    for round_ in range(warmup + rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            result = call()
            if round_ >= warmup:
                samples[name].append((time.perf_counter() - started, result))
    return samples


def seconds(samples: Iterable[tuple[float, object]]) -> list[float]:
    return [taken for taken, _ in samples]


def timed(call: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    return seconds(interleaved({"call": call}, repeat, warmup)["call"])


def latency_ms(samples_s: Iterable[float]) -> dict[str, float]:
    """Count, median, 99th percentile (nearest rank) and maximum of latencies, in milliseconds."""
    ordered = sorted(1000 * value for value in samples_s)
    if not ordered:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {"n": len(ordered), "p50_ms": statistics.median(ordered),
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], "max_ms": ordered[-1]}


def status_under_load(base: str, generations: Sequence[tuple[str, dict]], status_path: str = "/status",
                      samples: int = 200) -> dict[str, float]:
    """Latency of GET `status_path` while every one of `generations` (a model id and body) is kept
    in flight, each posted again as soon as it answers."""
    done = threading.Event()
    answered = [0]

    def generate(model_id: str, body: dict) -> None:
        while not done.is_set():
            post(base, model_id, body, timeout=600)
            answered[0] += 1

    with ThreadPoolExecutor(len(generations)) as pool:
        running = [pool.submit(generate, model_id, body) for model_id, body in generations]
        time.sleep(2.0)  # let every generation get in flight
        latencies = []
        try:
            for _ in range(samples):
                started = time.perf_counter()
                requests.get(f"{base}{status_path}", timeout=30).raise_for_status()
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)
        finally:
            done.set()
        for future in running:
            future.result()
    return {**latency_ms(latencies), "generations_answered": answered[0]}


# -- what the scripts print -------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30),
            "load_average": os.getloadavg()}


def describe_machine(figures: Mapping[str, Any] | None = None) -> str:
    figures = figures or machine()
    load = figures["load_average"]
    return (f"{figures['cpus']} CPUs, {figures['memory_gib']} GiB; load average {load[0]:.1f} {load[1]:.1f} "
            f"{load[2]:.1f} (1, 5, 15 min)")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_json(path: Path, results: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
