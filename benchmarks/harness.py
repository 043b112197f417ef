"""Stopping a benchmark's `models-server serve` subprocess, shared by the bench scripts."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen, grace: float = 60) -> None:
    """SIGTERM (the server's graceful stop), then SIGKILL if a computing request holds it past `grace`."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=60)
