"""The status page in a real headless Chromium, against a real server on 127.0.0.1.

Chromium's own `--dump-dom` / `--screenshot` flags drive it, so no browser-automation package is
needed. `--virtual-time-budget` lets the page's refresh timer fire before the DOM is dumped, so
the rows checked are the ones the page's script fetched, not only the server-rendered first table.
A missing Chromium is a failure, not a skip: CI must not pass without having looked at the page.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.browser import run_chromium
from support.observed import EVIL_ERROR, EVIL_ID, expected_states, observed_app, page_rows
from support.paths import REPO
from support.serving import run_live_server

from models_server.http.status_page import PAGE_REFRESH_SECONDS


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, public_dir: Path) -> Iterator[tuple[str, object]]:
    app = observed_app(tmp_path_factory.mktemp("empty-model-root"), public_dir)
    server_url, server, thread = run_live_server(app, threads=4)
    yield server_url.url, app
    server.close()
    thread.join(timeout=5)


def test_page_renders_a_row_per_model_after_its_script_ran(live, tmp_path):
    url, app = live
    budget_ms = PAGE_REFRESH_SECONDS * 1000 + 1500
    dom = run_chromium(f"{url}/", tmp_path / "profile", f"--virtual-time-budget={budget_ms}", "--dump-dom")
    assert 'data-refreshes="1"' in dom or 'data-refreshes="2"' in dom, "the refresh script did not run"
    rows = page_rows(dom)
    assert {model_id: row["state"] for model_id, row in rows.items()} == expected_states(app)
    assert rows["hed-control"]["cells"][7] == EVIL_ERROR  # shown as text, not run as markup
    assert "<script>alert" not in dom


def test_page_screenshot(live, tmp_path, monkeypatch, photo_ref):
    """A picture for people: one real request for a latency, one failing one, and (patched in)
    a diffusion-style progress and a memory figure, so every column shows something."""
    url, app = live
    assert requests.post(f"{url}/models/canny-control", json={"img_url": photo_ref}, timeout=30).status_code == 200
    requests.post(f"{url}/models/{EVIL_ID}", json={"img_url": "public/examples/missing.jpg"}, timeout=30)
    runtime = app.extensions["models_server"].runtime
    real_views = runtime.views

    def with_progress_and_memory():
        views = real_views()
        views["canny-control"] = dataclasses.replace(views["canny-control"], progress=(7, 20), bytes=1_719_664_640)
        return views

    monkeypatch.setattr(runtime, "views", with_progress_and_memory)
    shot = tmp_path / "status-page.png"
    run_chromium(f"{url}/", tmp_path / "profile", "--window-size=1280,640", f"--screenshot={shot}")
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    build = REPO / "build"
    build.mkdir(exist_ok=True)
    shutil.copyfile(shot, build / "status-page.png")
