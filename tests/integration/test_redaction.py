"""URL passwords and query strings never reach the status page or an error message."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.serving import tiny_settings

from models_server.catalog import catalog_rows
from models_server.http.app import create_app
from models_server.redact import redact_url, redact_urls
from models_server.runtime import Runtime


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pw@host/a.png?sig=1#f", "http://user:***@host/a.png?***"),
        ("https://user@host:8443/a", "https://user@host:8443/a"),
        ("https://host/a?", "https://host/a"),
        ("http://a:b:c@h@evil/x", "http://a:***@evil/x"),  # the last @ ends the user part
        ("http://[::1", "http://[::1"),  # malformed, still shown safely
        ("http://:p@h/", "http://:***@h/"),
        ("public/examples/a.jpg", "public/examples/a.jpg"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redact_urls_in_free_text_keeps_the_rest():
    text = "fetching 'http://u:secret@h/x?token=abc' failed; see https://docs/x?y=1 and public/a.png"
    assert redact_urls(text) == "fetching 'http://u:***@h/x?***' failed; see https://docs/x?*** and public/a.png"


def test_the_status_page_shows_no_secret_of_a_url(tmp_path: Path, public_dir: Path):
    rows = [row for row in catalog_rows() if row.id in ("canny-control", "hed-control")]
    settings = tiny_settings(tmp_path, public_dir)  # an empty model root: hed fails to load
    runtime = Runtime(settings, rows)
    runtime.load_all()
    runtime.slots.set_state("hed-control", runtime.view("hed-control").state,
                            "weights at http://admin:hunter2@mirror.lan/hed.pth?X-Sig=s3cr3t failed")
    client = create_app(settings, runtime).test_client()
    client.post("/models/canny-control", json={"img_url": "http://bob:pa55@127.0.0.1:9/a.png?key=k3y"})
    html = client.get("/").get_data(as_text=True)
    for secret in ("hunter2", "s3cr3t", "pa55", "k3y"):
        assert secret not in html
    assert "http://admin:***@mirror.lan/hed.pth?***" in html
    assert "http://bob:***@127.0.0.1:9/a.png?***" in html
