"""The last line of a start: how many models are ready, and where to point a browser and the controller.

The runtime logs its tier summary ("tier %s: %d models loaded in %.1fs") and the server the address
it listens on; neither knows the other. `ReadyLine` sits on the log handlers, remembers the address
from the server's line and turns the runtime's summary into the one line a person acts on.
"""

from __future__ import annotations

import logging
from typing import Any, cast

# The records it reads, by their message templates (runtime/runtime.py, server.py). A record may
# also carry `event="tier_loaded"` / `event="listening"` (logged with `extra=`): that is preferred.
TIER_LOADED = "tier %s: %d models loaded in %.1fs"
LISTENING = "serving tier %s on http://%s:%s"
_ANY_ADDRESS = {"0.0.0.0", "::", ""}


def ready_message(tier: str, ready: int, seconds: float, url: str | None) -> str:
    where = f" — status page {url}, point the controller's local_inference_endpoint here" if url else ""
    return f"tier {tier}: {ready} models ready in {seconds:.1f} s{where}"


def status_url(host: str, port: object) -> str:
    shown = "<this machine's address>" if host in _ANY_ADDRESS else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/"


class ReadyLine(logging.Filter):
    """Rewrites the tier summary record into `ready_message`, with the address once it is known."""

    def __init__(self) -> None:
        super().__init__()
        self.url: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        event = getattr(record, "event", None)
        if (event == "listening" or record.msg == LISTENING) and isinstance(record.args, tuple):
            _, host, port = record.args
            self.url = status_url(str(host), port)
        elif (event == "tier_loaded" or record.msg == TIER_LOADED) and isinstance(record.args, tuple):
            tier, ready, seconds = cast(tuple[Any, Any, Any], record.args)
            record.msg, record.args = "%s", (ready_message(str(tier), int(ready), float(seconds), self.url),)
        return True


def install() -> ReadyLine:
    """Put one `ReadyLine` on every root handler (call after logging is configured)."""
    line = ReadyLine()
    for handler in logging.getLogger().handlers:
        handler.addFilter(line)
    return line
