"""A long task that works in chunks stops at the next chunk once its client leaves: a long
transcription (30 s windows, four to a chunk) frees its model and writes nothing."""

from __future__ import annotations

import base64
import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile
from support.cli import running_server
from support.waiting import wait_until

pytestmark = pytest.mark.slow

ASR = "facebook/wav2vec2-base-960h"  # CTC: every window costs the same, whatever it holds
MINUTES = 30  # 60 windows, 15 chunks
WINDOWS_PER_CHUNK = 4
http = requests.Session()


@pytest.fixture(scope="module")
def server(tiny_root: Path, public_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The standard tier from the tiny models, every model lazy, audio up to an hour."""
    folder = tmp_path_factory.mktemp("long-audio")
    config = folder / "config.yaml"
    config.write_text("preload: false\nlimits: {max_audio_seconds: 3600}\n")
    with running_server(["--config", str(config), "--tier", "standard", "--model-root", str(tiny_root),
                         "--public-dir", str(public_dir), "--device", "cpu"], folder / "server.log") as base:
        yield base


def silence_flac(seconds: float, rate: int = 16000) -> bytes:
    """Long audio in a small body: FLAC keeps silence in a few bytes per frame."""
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(int(seconds * rate), dtype=np.int16), rate, format="FLAC")
    return buffer.getvalue()


def status(base: str) -> dict:
    return http.get(f"{base}/status/{ASR}", timeout=30).json()


def public_files(public_dir: Path) -> set[Path]:
    return {path for path in public_dir.rglob("*") if path.is_file()}


def test_a_client_that_leaves_a_long_transcription_frees_the_model_within_a_chunk(server, public_dir):
    audio_url = "data:audio/flac;base64," + base64.b64encode(silence_flac(MINUTES * 60)).decode()
    body = json.dumps({"audio_url": audio_url}).encode()
    before = public_files(public_dir)
    host, port = server.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)))
    client.sendall(f"POST /models/{ASR} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    running = wait_until(lambda: (now := status(server)).get("progress") and now, 300,
                         "the transcription's first chunk done")
    client.close()  # the client gives up
    left_at, total = running["progress"]["step"], running["progress"]["total"]
    steps = [left_at]
    deadline = time.monotonic() + 300
    while (now := status(server))["queue"]:
        assert time.monotonic() < deadline, now
        steps.append(now.get("progress", {}).get("step", steps[-1]))
        time.sleep(0.02)
    # the chunk running when it left, and at most one more if the status read was a chunk behind
    assert max(steps) <= left_at + 2 * WINDOWS_PER_CHUNK < total
    assert status(server)["state"] == "loaded"  # free for the next request
    assert public_files(public_dir) == before
