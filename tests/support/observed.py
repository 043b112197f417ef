"""An app over a small runtime in every state, and what its status page shows."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from pathlib import Path

from conftest import tiny_settings
from flask import Flask

from models_server.catalog import catalog_rows
from models_server.http.app import create_app
from models_server.http.observability import install_observability
from models_server.runtime import Runtime, State

EVIL_ERROR = "<script>alert('pwned')</script> & more"


EVIL_ID = "<img src=x onerror=alert(1)>"


EXPECTED_STATES = {
    "canny-control": "loaded",
    EVIL_ID: "loaded",
    "hed-control": "failed",
    "depth-control": "failed",
    "mlsd-control": "loading",
    "openpose-control": "disabled",
}


def observed_app(model_root: Path, public_dir: Path) -> Flask:
    """An app with observability installed over models in loaded/failed/loading/disabled states."""
    by_id = {row.id: row for row in catalog_rows()}
    rows = [by_id[model_id] for model_id in EXPECTED_STATES if model_id != EVIL_ID]
    rows.append(dataclasses.replace(by_id["canny-control"], id=EVIL_ID, aliases=()))
    if hasattr(State, "NOT_LOADED"):
        rows.append(by_id["scribble-control"])
    settings = tiny_settings(model_root, public_dir, models={"openpose-control": {"enabled": False}})
    runtime = Runtime(settings, rows)
    runtime.load_all()
    runtime.slots.set_state("hed-control", runtime.view("hed-control").state, EVIL_ERROR)
    runtime.slots.set_state("mlsd-control", State.LOADING)
    if hasattr(State, "NOT_LOADED"):
        runtime.slots.set_state("scribble-control", State.NOT_LOADED)
    app = create_app(settings, runtime)
    install_observability(app, runtime)
    return app


def expected_states(app: Flask) -> dict[str, str]:
    runtime = app.extensions["models_server"].runtime
    return {model_id: view.state.value for model_id, view in runtime.views().items()}


class RowParser(HTMLParser):
    """Collects each model row's data-model/data-state, its cells' text and its buttons' actions."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self._in_row = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self._in_row = "data-model" in attrs
            if self._in_row:
                self.rows.append({"model": attrs["data-model"], "state": attrs["data-state"], "cells": [],
                                  "actions": []})
        elif tag == "td" and self._in_row:
            self._cell = []
        elif tag == "button" and self._in_row and "data-action" in attrs:
            self.rows[-1]["actions"].append(attrs["data-action"])

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1]["cells"].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._in_row = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def page_rows(html: str) -> dict[str, dict]:
    parser = RowParser()
    parser.feed(html)
    return {row["model"]: row for row in parser.rows}


