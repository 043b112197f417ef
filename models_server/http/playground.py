"""The playground: a page to try any served model from a browser, and the route its outputs come from.

The page (`/playground`) is static HTML and script with no data in it, so it is open like
`/running`; everything it shows it fetches (`/openapi.json`, `/status`, `/models/<id>`, outputs
under `/playground/files/`) through the same access rules as every other route, sending the
api_key the person typed, kept in the tab's sessionStorage only. The form for a model is built
from its request schema in `/openapi.json`, so a new task needs no change here. A second form
runs chat, image generation, speech and transcription through OpenAI's `/v1` routes on the
models `/v1/models` lists, and shows the `openai` SDK call and the curl command that do the same.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, send_file

from models_server.errors import Forbidden, NotFound
from models_server.media.outputs import FOLDERS
from models_server.media.resources import inside_public

TEMPLATE = Path(__file__).with_name("templates") / "playground.html"
PAGE_PATH = "/playground"


def install_playground(app: Flask, public_dir: Path) -> None:
    """Register the page and the output files route on `app`."""
    page = TEMPLATE.read_text(encoding="utf-8")
    public_dir = public_dir.resolve()

    def playground() -> Response:
        response = Response(page, mimetype="text/html")
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: data:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"
        )
        return response

    def output_file(folder: str, name: str) -> Response:
        if folder not in FOLDERS:  # only the folders outputs are written to
            raise NotFound(f"no output folder {folder[:100]!r}; outputs are under {', '.join(FOLDERS)}")
        root, path = inside_public(public_dir, folder), inside_public(public_dir, f"{folder}/{name}")
        if root is None or path is None:
            raise Forbidden(f"{folder}/{name[:100]} leads outside the public folder")
        if not path.is_relative_to(root) or not path.is_file():  # another folder of public/ is not served
            raise NotFound(f"no file {name[:100]} in the output folder {folder}")
        return send_file(path, max_age=3600)

    app.add_url_rule(PAGE_PATH, "playground.page", playground, methods=["GET"])
    app.add_url_rule(f"{PAGE_PATH}/files/<folder>/<path:name>", "playground.file", output_file, methods=["GET"])
