"""The playground in a real headless Chromium, driven as a person would: choose, upload, run, look.

Chromium is driven over its DevTools protocol (a websocket; aiohttp's client speaks it), so a file
is put into the page's real file input and the page's own Run button is clicked. Screenshots go
to build/ like the status page's.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.browser import Page, browse
from support.serving import Served, run_live_server

from models_server.config import load_settings
from models_server.http.app import create_app

READY = "!!document.body && document.body.dataset.state === 'ready'"  # body is null while navigating
CHAT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
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


def choose(element: str, value: str, event: str = "change") -> str:
    """Script that sets a control's value as a person would, and fires the event the page reads."""
    return (f"(() => {{ const node = document.getElementById({json.dumps(element)}); node.value = {json.dumps(value)};"
            f" node.dispatchEvent(new Event({json.dumps(event)}, {{ bubbles: true }})); }})()")


async def run_v1(page: Page) -> str:
    await page.evaluate("document.getElementById('v1-run').click()")
    assert await page.evaluate("document.body.dataset.state") == "running"
    return await page.wait_for_state("answered", "failed")


def test_chat_and_images_run_through_v1_and_show_the_sdk_and_curl_calls_that_do_the_same(live_server, tmp_path):
    """The chat streams into the page; the SDK code and the curl command it shows, run as shown,
    give the same answer."""
    async def steps(page: Page) -> Any:
        await page.evaluate(choose("v1-operation", "chat"))
        await page.evaluate(choose("v1-model", CHAT_MODEL))
        await page.evaluate(choose("v1-text", "Hello!", "input"))
        shown = await page.evaluate("[document.getElementById('v1-sdk').textContent,"
                                    " document.getElementById('v1-curl').textContent]")
        assert await run_v1(page) == "answered", await page.evaluate("document.getElementById('v1-result').innerText")
        answer = await page.evaluate("document.querySelector('#v1-result .answer').textContent")
        await page.evaluate(choose("v1-operation", "images"))
        await page.evaluate(choose("v1-model", "dall-e-2"))
        await page.evaluate("document.querySelector('[data-option=size]').value = '64x64';"
                            "document.querySelector('[data-option=num_inference_steps]').value = '2';"
                            "document.getElementById('v1-form').dispatchEvent(new Event('input'))")
        assert "size=\"64x64\"" in await page.evaluate("document.getElementById('v1-sdk').textContent")
        assert await run_v1(page) == "answered", await page.evaluate("document.getElementById('v1-result').innerText")
        width = await page.evaluate(
            "new Promise(done => { const img = document.querySelector('#v1-result img[data-output]');"
            " if (img.complete) done(img.naturalWidth); else img.onload = () => done(img.naturalWidth); })")
        await page.screenshot("playground-v1.png")
        return shown, answer, width

    (sdk_code, curl), answer, width = browse(f"{live_server.url}/playground", tmp_path, steps, READY)
    assert width == 64
    assert f'client.chat.completions.create(model="{CHAT_MODEL}"' in sdk_code and "stream=True" in sdk_code
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(sdk_code, {})  # the SDK code as the page shows it
    assert printed.getvalue() == answer
    assert curl.startswith(f"curl {live_server.url}/v1/chat/completions ")
    events = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=120, check=True).stdout
    assert events.endswith("data: [DONE]\n\n")
    pieces = [json.loads(line[6:])["choices"] for line in events.split("\n\n") if line.startswith("data: {")]
    assert "".join(choice[0]["delta"].get("content") or "" for choice in pieces if choice) == answer

