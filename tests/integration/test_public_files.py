"""Routes that serve files from public/ never serve anything outside it, and every 500 is JSON
with an `error.type`. The app runs over a runtime with nothing loaded: no model is needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models_server.config import load_settings
from models_server.http.app import create_app
from models_server.runtime import Runtime


@pytest.fixture
def public(tmp_path: Path) -> Path:
    public = tmp_path / "public"
    (public / "images").mkdir(parents=True)
    (public / "images" / "out.png").write_bytes(b"an output")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.txt").write_text("not for callers")
    return public


@pytest.fixture
def runtime(public: Path) -> Runtime:
    settings = load_settings(None, {"public_dir": public, "device": "cpu", "tier": "minimal",
                                    "model_root": public.parent / "no-weights"}, environ={})
    return Runtime(settings)


@pytest.fixture
def client(runtime: Runtime):
    return create_app(runtime.settings, runtime).test_client()


def test_an_output_file_is_served(client):
    response = client.get("/playground/files/images/out.png")
    assert response.status_code == 200 and response.data == b"an output"


@pytest.mark.parametrize("link", ["file", "folder", "loop"])
def test_a_symlink_leading_out_of_public_or_nowhere_is_refused_with_json(client, public, link):
    images = public / "images"
    if link == "file":
        os.symlink(public.parent / "secret" / "key.txt", images / "key.txt")
        path = "images/key.txt"
    elif link == "folder":
        os.symlink(public.parent / "secret", images / "secret")
        path = "images/secret/key.txt"
    else:
        os.symlink(images / "b.png", images / "a.png")
        os.symlink(images / "a.png", images / "b.png")
        path = "images/a.png"
    response = client.get(f"/playground/files/{path}")
    assert 400 <= response.status_code < 500
    assert b"not for callers" not in response.data
    error = response.get_json()["error"]
    assert error["type"] and error["message"]


def test_an_unexpected_error_is_a_json_500_with_a_type(client, runtime, monkeypatch):
    def broken(model_id: str):
        raise RuntimeError("a bug, with /home/paths/in/it")

    monkeypatch.setattr(runtime, "view", broken)
    response = client.get("/status/canny-control")
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["type"] == "server_error"
    assert "/home/paths" not in error["message"]
