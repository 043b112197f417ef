"""The status page in a real headless Chromium, against a real server on 127.0.0.1.

Chromium's own `--dump-dom` / `--screenshot` flags drive it for a look, and its DevTools protocol
(support/browser.py) for clicks: no browser-automation package is needed. `--virtual-time-budget`
lets the page's refresh timer fire before the DOM is dumped, so the rows checked are the ones the
page's script fetched, not only the server-rendered first table.
A missing Chromium is a failure, not a skip: CI must not pass without having looked at the page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.browser import Page, browse, run_chromium
from support.observed import EVIL_ERROR, EVIL_ID, expected_states, observed_app, page_rows
from support.paths import REPO
from support.serving import run_live_server, tiny_settings

from models_server.catalog import catalog_rows
from models_server.http.app import create_app
from models_server.http.status_page import PAGE_REFRESH_SECONDS
from models_server.runtime import Runtime


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


LONG = "lllyasviel/sd-controlnet-canny"
LAZY = "lllyasviel/sd-controlnet-seg"
STEPS = 1000  # a generation that runs for minutes unless it is stopped


@pytest.fixture(scope="module")
def steered(tiny_root: Path, public_dir: Path) -> Iterator[tuple[str, Runtime]]:
    """Two ControlNets over one SD base: one preloaded, one lazy; long generations allowed."""
    settings = tiny_settings(tiny_root, public_dir, models={LAZY: {"preload": False}}, limits={"max_steps": STEPS})
    by_id = {row.id: row for row in catalog_rows()}
    runtime = Runtime(settings, [by_id[LONG], by_id[LAZY]])
    runtime.load_all()
    assert runtime.view(LONG).state.value == "loaded", runtime.view(LONG).reason
    live, server, thread = run_live_server(create_app(settings, runtime), threads=8)
    yield live.url, runtime
    server.close()
    thread.join(timeout=5)


def _row(model_id: str) -> str:
    return f"document.querySelector('tr[data-model=\"{model_id}\"]')"


CPU_MODELS_BYTES = "Number(document.querySelector('tr[data-device=\"cpu\"]').dataset.modelsBytes)"


def test_the_page_loads_and_unloads_a_model_and_cancels_a_running_generation(steered, photo_ref, tmp_path):
    url, runtime = steered
    answers: dict[str, requests.Response] = {}

    def generate() -> None:
        body = {"img_url": photo_ref, "text": "a long one", "num_inference_steps": STEPS, "width": 64, "height": 64}
        answers["long-one"] = requests.post(f"{url}/models/{LONG}", json=body, headers={"X-Request-ID": "long-one"},
                                            timeout=600)

    generation = threading.Thread(target=generate)

    async def steps(page: Page) -> dict[str, object]:
        seen: dict[str, object] = {"before": await page.evaluate(f"{_row(LAZY)}.dataset.state")}
        unloaded_bytes = await page.evaluate(CPU_MODELS_BYTES)
        await page.evaluate(f"{_row(LAZY)}.querySelector('button[data-action=\"load\"]').click()")
        await page.wait_for(f"{_row(LAZY)}.dataset.state === 'loaded'")
        seen["loaded_bytes"] = (unloaded_bytes, await page.evaluate(CPU_MODELS_BYTES))
        await page.evaluate(f"{_row(LAZY)}.querySelector('button[data-action=\"unload\"]').click()")
        await page.wait_for(f"{_row(LAZY)}.dataset.state === 'not_loaded'")
        seen["unloaded_bytes"] = await page.evaluate(CPU_MODELS_BYTES)

        generation.start()
        deadline = time.monotonic() + 120
        while runtime.view(LONG).progress is None:  # running, not only queued
            assert time.monotonic() < deadline and generation.is_alive(), "the generation never started"
            await asyncio.sleep(0.05)
        cancel = "document.querySelector('tr[data-request=\"long-one\"] button[data-action=\"cancel\"]')"
        await page.wait_for(f"!!{cancel}")  # on the page at its next refresh
        await page.screenshot("status-page-in-flight.png")
        await page.evaluate(f"{cancel}.click()")
        await page.wait_for("document.body.dataset.action === 'done'")
        await page.wait_for("!document.querySelector('tr[data-request=\"long-one\"]')")
        seen["message"] = await page.evaluate("document.getElementById('action-result').textContent")
        return seen

    seen = browse(f"{url}/", tmp_path / "profile", steps, ready=f"!!document.body && !!{_row(LAZY)}")
    generation.join(timeout=120)
    assert seen["before"] == "not_loaded"
    unloaded_bytes, loaded_bytes = seen["loaded_bytes"]
    assert loaded_bytes > unloaded_bytes and seen["unloaded_bytes"] == unloaded_bytes  # the page's device row moved
    assert runtime.view(LAZY).state.value == "not_loaded"
    assert seen["message"] == "cancel long-one: done"
    answer = answers["long-one"]
    assert answer.status_code == 409 and answer.json()["error"]["type"] == "cancelled", answer.text
    view = runtime.view(LONG)
    assert view.queue == 0 and view.state.value == "loaded"  # free for the next request


KEY = "page-key"
KEY_ASKED = "!!document.getElementById('key-form') && !document.getElementById('key-form').hidden"


@pytest.fixture(scope="module")
def keyed(steered, tiny_root: Path, public_dir: Path) -> Iterator[str]:
    """The same runtime behind an api_key."""
    _, runtime = steered
    settings = tiny_settings(tiny_root, public_dir, api_key=KEY)
    live, server, thread = run_live_server(create_app(settings, runtime), threads=4)
    yield live.url
    server.close()
    thread.join(timeout=5)


def test_with_an_api_key_the_page_asks_for_it_then_shows_the_models_and_its_buttons_work(keyed, steered, tmp_path):
    _, runtime = steered

    async def steps(page: Page) -> dict[str, object]:
        seen: dict[str, object] = {"rows_before_key": await page.evaluate("document.querySelectorAll('tr').length")}
        await page.evaluate(f"document.getElementById('api-key').value = '{KEY}';"
                            "document.getElementById('key-form').requestSubmit()")
        await page.wait_for(f"!!{_row(LAZY)}")
        seen["form_hidden"] = await page.evaluate("document.getElementById('key-form').hidden")
        await page.evaluate(f"{_row(LAZY)}.querySelector('button[data-action=\"load\"]').click()")
        await page.wait_for(f"{_row(LAZY)}.dataset.state === 'loaded'")
        await page.evaluate(f"{_row(LAZY)}.querySelector('button[data-action=\"unload\"]').click()")
        await page.wait_for(f"{_row(LAZY)}.dataset.state === 'not_loaded'")
        seen["stored"] = await page.evaluate("[sessionStorage.getItem('models_server_api_key'), localStorage.length]")
        return seen

    seen = browse(f"{keyed}/", tmp_path / "profile", steps, ready=KEY_ASKED)
    assert seen == {"rows_before_key": 0, "form_hidden": True, "stored": [KEY, 0]}
    assert runtime.view(LAZY).state.value == "not_loaded"
