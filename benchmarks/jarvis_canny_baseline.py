#!/usr/bin/env python
"""BASELINE, not part of the server: the original JARVIS models server's canny request path,
reproduced so `benchmarks/serving.py --jarvis-baseline` can time it next to ours on the same machine.

The original file (microsoft/JARVIS, hugginggpt/server/models_server.py) cannot start here: at
import it needs `datasets`, `flask_cors` and `huggingface_hub.cached_download` (gone from the
installed huggingface_hub), and it loads every model of its deployment, from the Hub, before it
serves. So this script does the work its canny route does, in the same order, with the same
libraries, written for this benchmark (no code copied):

- a Flask app served by `waitress.serve` with waitress's defaults (4 threads), as the original;
- `GET /running` -> `{"running": true}`;
- `POST /models/canny-control`: wait while the model is flagged in use, flag it, read the JSON
  body's `img_url` with `diffusers.utils.load_image` (a path relative to the working folder:
  PIL open, EXIF transpose, RGB), run `controlnet_aux.CannyDetector` with thresholds 100/200, save
  the map as `public/images/<4 hex>.png`, unflag, answer `{"path": "/images/<name>.png"}`; the
  route's three progress lines are printed, as the original prints them.

    python benchmarks/jarvis_canny_baseline.py --port 8015   (run with the folder holding public/ as cwd)
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path


def build_app():
    import flask
    from controlnet_aux import CannyDetector
    from diffusers.utils import load_image

    app = flask.Flask(__name__)
    detectors = {"canny-control": {"model": CannyDetector()}}

    @app.route("/running", methods=["GET"])
    def running():
        return flask.jsonify({"running": True})

    @app.route("/models/<path:model_id>", methods=["POST"])
    def models(model_id: str):
        slot = detectors[model_id]
        while slot.get("using"):
            time.sleep(0.1)
        slot["using"] = True
        print(f"[ inference {model_id} ] start", flush=True)
        started = time.time()
        image = load_image(flask.request.get_json()["img_url"])
        control = slot["model"](image, low_threshold=100, high_threshold=200)
        name = uuid.uuid4().hex[:4]
        control.save(f"public/images/{name}.png")
        result = {"path": f"/images/{name}.png"}
        slot["using"] = False
        print(f"[ complete {model_id} ] {time.time() - started}s", flush=True)
        print(f"[ result {model_id} ] {result}", flush=True)
        return flask.jsonify(result)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import waitress

    Path("public/images").mkdir(parents=True, exist_ok=True)
    waitress.serve(build_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
