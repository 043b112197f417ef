"""Headless Chromium, as the browser tests run it: one-shot (`run_chromium`, its --dump-dom or
--screenshot), or driven as a person would over its DevTools protocol (`browse`, a `Page`: a
websocket, which aiohttp's client speaks)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from support.paths import REPO

BUILD = REPO / "build"

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
)


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed: run scripts/setup-env (it installs Debian's `chromium` package)")


def run_chromium(url: str, profile: Path, *flags: str) -> str:
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, f"chromium exited {done.returncode}:\n{done.stderr[-2000:]}"
    return done.stdout


class Page:
    """One browser tab over the DevTools protocol: commands by id, page state read by script."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.next_id = 0

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.socket.send_json({"id": self.next_id, "method": method, "params": params})
        deadline = time.monotonic() + 120
        while True:  # events arrive in between: the answer is the message with our id
            assert time.monotonic() < deadline, f"no answer to {method} within 120 s"
            message = json.loads((await self.socket.receive(timeout=120)).data)
            if message.get("id") == self.next_id:
                assert "error" not in message, message["error"]
                return message["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_for_state(self, *states: str, timeout: float = 120) -> str:
        """Until the page's `data-state` is one of `states` (the page sets it as it works)."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self.evaluate("document.body.dataset.state")
            if state in states:
                return state
            assert time.monotonic() < deadline, f"page state stayed {state!r}"
            await asyncio.sleep(0.2)

    async def wait_for(self, expression: str, timeout: float = 120) -> Any:
        """Until the script `expression` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while not (value := await self.evaluate(expression)):
            assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
            await asyncio.sleep(0.2)
        return value

    async def open(self, url: str, ready: str) -> None:
        """Navigate, then wait until the script `ready` is true."""
        await self.send("Page.enable")
        await self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 120
        while not await self.evaluate(ready):
            assert time.monotonic() < deadline, f"the page never became ready ({ready})"
            await asyncio.sleep(0.2)

    async def choose_file(self, selector: str, path: Path) -> None:
        root = await self.send("DOM.getDocument")
        node = await self.send("DOM.querySelector", nodeId=root["root"]["nodeId"], selector=selector)
        assert node["nodeId"], f"no {selector} on the page"
        await self.send("DOM.setFileInputFiles", nodeId=node["nodeId"], files=[str(path)])

    async def screenshot(self, name: str) -> Path:
        data = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        BUILD.mkdir(exist_ok=True)
        path = BUILD / name
        path.write_bytes(base64.b64decode(data["data"]))
        return path


def browse(url: str, profile: Path, steps, ready: str) -> Any:
    """Start Chromium, open `url`, run `await steps(page)`, close Chromium; return what steps returned."""
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
               "--window-size=1280,900", "about:blank"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert process.poll() is None and time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]

        async def session() -> Any:
            async with aiohttp.ClientSession() as http:
                targets = await (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
                tab = next(target for target in targets if target["type"] == "page")
                async with http.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                    page = Page(socket)
                    await page.open(url, ready)
                    return await steps(page)

        return asyncio.run(session())
    finally:
        process.terminate()
        process.wait(timeout=30)
