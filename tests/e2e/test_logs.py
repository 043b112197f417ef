"""A quiet start: the libraries' chatter hidden below debug, and one line saying where to go."""

import logging
import subprocess
import sys

import pytest

from models_server.logs.ready import LISTENING, TIER_LOADED, ReadyLine, status_url

NOISY = """
import logging, warnings
from models_server.logs import configure
configure({level!r})
warnings.warn_explicit("old API", FutureWarning, "timm/models/layers.py", 1, module="timm.models.layers")
warnings.warn_explicit("ours", UserWarning, "models_server/x.py", 1, module="models_server.x")
logging.getLogger("sentence_transformers.base").info("Loading SentenceTransformer model")
logging.info("Model structure: ESPnetTTSModel(...)")  # espnet logs to the root logger
logging.getLogger("espnet2.some").warning("Fallback to legacy_rel_pos")
logging.getLogger("some.library").error("a library's error")
logging.getLogger("models_server.runtime.loading").info("loaded gpt2")
"""


@pytest.mark.parametrize("level", ["info", "debug"])
def test_third_party_warnings_and_info_lines_show_only_at_debug(level):
    result = subprocess.run([sys.executable, "-c", NOISY.format(level=level)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ours" in result.stderr and "loaded gpt2" in result.stderr
    shown = level == "debug"
    assert ("old API" in result.stderr) is shown
    assert ("Loading SentenceTransformer" in result.stderr) is shown
    assert ("Model structure" in result.stderr) is shown
    assert ("Fallback to legacy_rel_pos" in result.stderr) is shown
    assert "a library's error" in result.stderr


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("models_server", logging.INFO, __file__, 1, msg, args, None)


def test_the_tier_summary_becomes_the_ready_line_with_the_address():
    line = ReadyLine()
    line.filter(record(LISTENING, "full", "127.0.0.1", 8005))
    summary = record(TIER_LOADED, "full", 52, 4.51)
    assert line.filter(summary)
    assert summary.getMessage() == (
        "tier full: 52 models ready in 4.5 s — status page http://127.0.0.1:8005/, "
        "point the controller's local_inference_endpoint here"
    )
    other = record("loaded %s", "gpt2")
    line.filter(other)
    assert other.getMessage() == "loaded gpt2"


def test_a_summary_before_the_address_is_known_still_reads_ready():
    summary = record(TIER_LOADED, "minimal", 3, 1.0)
    ReadyLine().filter(summary)
    assert summary.getMessage() == "tier minimal: 3 models ready in 1.0 s"


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:80/"),
    ("0.0.0.0", "http://<this machine's address>:80/"),
    ("::1", "http://[::1]:80/"),
])
def test_status_url(host, url):
    assert status_url(host, 80) == url


def test_the_runtime_summary_is_the_record_ready_line_rewrites(tiny_root, public_dir, caplog):
    """Keeps ReadyLine in step with the runtime's wording: fails if the summary record changes."""
    from conftest import tiny_settings

    from models_server.catalog import build_catalog, catalog_rows
    from models_server.runtime import Runtime

    runtime = Runtime(tiny_settings(tiny_root, public_dir), [build_catalog(catalog_rows())["gpt2"]])
    with caplog.at_level(logging.INFO, logger="models_server.runtime"):
        runtime.load_all()
    line = ReadyLine()
    summaries = [r for r in caplog.records if line.filter(r) and "models ready" in r.getMessage()]
    assert [r.getMessage().split(" in ")[0] for r in summaries] == ["tier full: 1 models ready"]


def test_a_log_output_nobody_reads_never_stops_the_server(tmp_path, public_dir):
    """stderr is a real pipe that is never read: once its 64 KiB fill, only the log writer waits."""
    import os

    import requests
    from support.cli import free_port, wait_running

    port = free_port()
    reader, writer = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "models_server", "serve", "--tier", "minimal", "--port", str(port),
         "--model-root", str(tmp_path), "--public-dir", str(public_dir), "--device", "cpu"],
        stdout=writer, stderr=writer,
    )
    os.close(writer)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_running(base, process)
        # Each answer logs a line at INFO; 400 lines of ~1 KB are six times what the pipe holds.
        for index in range(400):
            response = requests.post(f"{base}/models/{index}-{'x' * 1000}", json={}, timeout=30)
            assert response.status_code == 404
        assert requests.get(f"{base}/status", timeout=30).status_code == 200
        assert requests.get(f"{base}/running", timeout=30).status_code == 200
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
            os.close(reader)
