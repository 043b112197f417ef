"""The playground in a real headless Chromium, driven as a person would: choose, upload, run, look.

Chromium is driven over its DevTools protocol (a websocket; aiohttp's client speaks it), so a file
is put into the page's real file input and the page's own Run button is clicked. Screenshots go
to build/ like the status page's.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.browser import Page, browse
from support.serving import Served, run_live_server

from models_server.config import load_settings
from models_server.http.app import create_app

READY = "!!document.body && document.body.dataset.state === 'ready'"  # body is null while navigating
KEY_ASKED = "!!document.getElementById('key-form') && !document.getElementById('key-form').hidden"


async def run(page: Page) -> str:
    """Click the page's Run button; the state it ends in ("answered" or "failed")."""
    # the form's submit handler marks the page running before its first await, so the click
    # returns with the state changed, and an "answered" read later is this run's answer
    await page.evaluate("document.getElementById('run').click()")
    assert await page.evaluate("document.body.dataset.state") == "running"
    return await page.wait_for_state("answered", "failed")


@pytest.fixture(scope="module")
def photo(public_dir: Path) -> Path:
    return public_dir / "examples" / "photo.jpg"


def test_canny_map_of_an_uploaded_photo_is_shown(live_server, photo, tmp_path):
    async def steps(page: Page) -> Any:
        assert await page.evaluate("document.getElementById('model').value") == "canny-control"
        await page.choose_file("#field-img_url-file", photo)
        # The gallery as it is the moment the page says "answered" (an observer runs before any
        # pending fetch can finish): the answer's outputs must be in it already, not on their way.
        await page.evaluate(
            "new MutationObserver((changes, observer) => { if (document.body.dataset.state === 'answered') {"
            " window.galleryWhenAnswered = document.querySelectorAll('#gallery figure').length;"
            " observer.disconnect(); } }).observe(document.body, { attributes: true, attributeFilter: ['data-state'] })"
        )
        assert await run(page) == "answered", await page.evaluate("document.getElementById('result').innerText")
        gallery = await page.evaluate("window.galleryWhenAnswered")
        shown = await page.evaluate(
            "new Promise(done => { const img = document.querySelector('#result img[data-output]');"
            " if (img.complete) done([img.naturalWidth, img.dataset.output]);"
            " else img.onload = () => done([img.naturalWidth, img.dataset.output]); })"
        )
        shot = await page.screenshot("playground-canny.png")
        return shown, gallery, shot

    (width, output), gallery, shot = browse(f"{live_server.url}/playground?model=canny-control", tmp_path, steps, READY)
    assert width == 512 and output.startswith("/images/")  # the map, at the photo's size
    assert gallery == 1
    assert shot.stat().st_size > 10_000


def test_text_to_speech_gives_a_playable_audio_element(live_server, tmp_path):
    async def steps(page: Page) -> Any:
        await page.evaluate("document.getElementById('field-text').value = 'Hello from the playground.'")
        assert await run(page) == "answered", await page.evaluate("document.getElementById('result').innerText")
        duration = await page.evaluate(
            "new Promise(done => { const audio = document.querySelector('#result audio');"
            " if (audio.readyState >= 1) done(audio.duration);"
            " else audio.onloadedmetadata = () => done(audio.duration); })"
        )
        await page.screenshot("playground-tts.png")
        return duration

    duration = browse(f"{live_server.url}/playground?model=microsoft/speecht5_tts", tmp_path, steps, READY)
    assert duration > 0


def test_detection_boxes_are_drawn_on_the_photo(live_server, photo, tmp_path):
    async def steps(page: Page) -> Any:
        await page.choose_file("#field-img_url-file", photo)
        await page.evaluate("document.getElementById('field-threshold').value = '0'")
        assert await run(page) == "answered", await page.evaluate("document.getElementById('result').innerText")
        drawn = await page.evaluate(
            "(() => { const canvas = document.querySelector('#result canvas');"
            " return [Number(canvas.dataset.boxes), canvas.width, canvas.height]; })()"
        )
        raw = await page.evaluate("JSON.parse(document.querySelector('#result pre').textContent).length")
        await page.screenshot("playground-detection.png")
        return drawn, raw

    (boxes, width, height), raw = browse(f"{live_server.url}/playground?model=facebook/detr-resnet-50", tmp_path,
                                         steps, READY)
    assert boxes == raw > 0
    assert (width, height) == (512, 512)  # drawn over the uploaded photo itself


@pytest.fixture(scope="module")
def keyed_server(served: Served, tiny_root: Path, public_dir: Path) -> Iterator[str]:
    flags = {"tier": "full", "model_root": tiny_root, "public_dir": public_dir, "device": "cpu", "api_key": "s3cret"}
    settings = load_settings(None, flags, environ={})
    live, server, thread = run_live_server(create_app(settings, served.runtime), threads=4)
    yield live.url
    server.close()
    thread.join(timeout=5)


def test_with_an_api_key_the_page_asks_for_it_and_keeps_it_for_the_tab(keyed_server, tmp_path):
    async def steps(page: Page) -> Any:
        asked = await page.evaluate("!document.getElementById('key-form').hidden")
        await page.evaluate("document.getElementById('api-key').value = 's3cret';"
                            "document.getElementById('key-form').requestSubmit()")
        await page.wait_for_state("ready")
        models = await page.evaluate("document.getElementById('model').options.length")
        await page.evaluate("document.getElementById('field-text').value = 'I love this.'")
        state = await run(page)
        ranked = await page.evaluate("document.querySelectorAll('#result ol.ranked li').length")
        stored = await page.evaluate("[sessionStorage.getItem('models_server_api_key'), localStorage.length]")
        return asked, models, state, ranked, stored

    url = f"{keyed_server}/playground?model=distilbert-base-uncased-finetuned-sst-2-english"
    asked, models, state, ranked, stored = browse(url, tmp_path, steps, ready=KEY_ASKED)
    assert asked and models > 40 and state == "answered" and ranked == 2
    assert stored == ["s3cret", 0]  # in the tab's session only, never in localStorage


def test_output_files_route_serves_only_output_folders(client):
    assert client.get("/playground/files/examples/photo.jpg").status_code == 404
    assert client.get("/playground/files/images/..%2Fexamples%2Fphoto.jpg").status_code == 404
    page = client.get("/playground")
    assert page.status_code == 200 and b"<select id=\"model\">" in page.data
    assert "script-src 'unsafe-inline'" in page.headers["Content-Security-Policy"]
    assert shutil.which("chromium") or shutil.which("chromium-browser")
