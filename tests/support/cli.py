"""The `models-server` command in a subprocess, and waiting for a server it started."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "models_server", *args], capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_process(args: list[str], log: Path) -> subprocess.Popen:
    """`models-server serve ARGS` with its output in the file `log`: a pipe nobody reads fills."""
    with log.open("w") as output:
        return subprocess.Popen([sys.executable, "-m", "models_server", "serve", *args],
                                stdout=output, stderr=subprocess.STDOUT, text=True)


def wait_running(base: str, process: subprocess.Popen, seconds: float = 120, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text() if log else f"exited {process.returncode}"
        try:
            if requests.get(f"{base}/running", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("server never answered /running")


@contextmanager
def running_server(args: list[str], log: Path, seconds: float = 120) -> Iterator[str]:
    """`models-server serve` with these arguments on a free loopback port, its output in `log`;
    yields its base URL once `/running` answers, and stops it (SIGTERM, then kill) at the end."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "models_server", "serve", "--port", str(port), *args],
                                   stdout=output, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + seconds
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server never answered /running"
            try:
                if requests.get(f"{base}/running", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
