"""The playground: a page to try any served model from a browser, and the route its outputs come from.

The page (`/playground`) is static HTML and script with no data in it, so it is open like
`/running`; everything it shows it fetches (`/openapi.json`, `/status`, `/models/<id>`, outputs
under `/playground/files/`) through the same access rules as every other route, sending the
api_key the person typed, kept in the tab's sessionStorage only. The form for a model is built
from its request schema in `/openapi.json`, so a new task needs no change here.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, abort, send_from_directory

from models_server.media.outputs import FOLDERS

TEMPLATE = Path(__file__).with_name("templates") / "playground.html"
PAGE_PATH = "/playground"


def install_playground(app: Flask, public_dir: Path) -> None:
    """Register the page and the output files route on `app`."""
    page = TEMPLATE.read_text(encoding="utf-8")

    def playground() -> Response:
        response = Response(page, mimetype="text/html")
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: data:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"
        )
        return response

    def output_file(folder: str, name: str) -> Response:
        if folder not in FOLDERS:  # only the folders outputs are written to
            abort(404)
        return send_from_directory(public_dir / folder, name, max_age=3600)  # safe_join: no ../ escapes

    app.add_url_rule(PAGE_PATH, "playground.page", playground, methods=["GET"])
    app.add_url_rule(f"{PAGE_PATH}/files/<folder>/<path:name>", "playground.file", output_file, methods=["GET"])
