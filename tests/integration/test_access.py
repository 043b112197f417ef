"""Access control: client networks, the API key, and the warning for an open server."""

from __future__ import annotations

import logging

import pytest

from models_server.catalog.minimal import MODELS
from models_server.config import Settings
from models_server.http.access import install_access_control, is_loopback_host, warn_if_open
from models_server.http.app import create_app
from models_server.runtime import Runtime

LAN = {"REMOTE_ADDR": "10.1.2.3"}
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}
KEY = "s3cret-key"
CANNY = [row for row in MODELS if row.id == "canny-control"]


def make_client(tmp_path, environ: dict[str, str], **settings):
    """A small app serving canny only (nothing to load), with access control installed."""
    config = Settings(public_dir=tmp_path / "public", device="cpu", **settings)
    app = create_app(config, Runtime(config, rows=CANNY))
    install_access_control(app, config)
    client = app.test_client()
    client.environ_base.update(environ)
    return client


def test_nothing_configured_lets_everyone_in(tmp_path):
    client = make_client(tmp_path, OUTSIDE)
    assert client.get("/status").status_code == 200


def test_clients_outside_the_allowed_networks_are_refused_with_a_json_error(tmp_path):
    client = make_client(tmp_path, OUTSIDE, allowed_clients=["10.0.0.0/8", "fd00::/8"])
    response = client.get("/status")
    assert response.status_code == 403
    message = response.get_json()["error"]["message"]
    assert "203.0.113.9 is not in allowed_clients" in message
    assert client.post("/models/canny-control", json={"img_url": "x"}).status_code == 403
    assert client.get("/status/canny-control").status_code == 403


@pytest.mark.parametrize("address", ["10.1.2.3", "::ffff:10.1.2.3", "fd00::5"])
def test_clients_inside_an_allowed_network_pass(tmp_path, address):
    client = make_client(tmp_path, {"REMOTE_ADDR": address}, allowed_clients=["10.0.0.0/8", "fd00::/8"])
    assert client.get("/status").status_code == 200


def test_running_stays_open_to_everyone(tmp_path):
    client = make_client(tmp_path, OUTSIDE, allowed_clients=["10.0.0.0/8"], api_key=KEY)
    assert client.get("/running").status_code == 200


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"}, {"authorization": f"bearer {KEY}"},
                                     {"X-API-Key": KEY}])
def test_the_key_is_accepted_in_either_header(tmp_path, headers):
    client = make_client(tmp_path, OUTSIDE, api_key=KEY)
    assert client.get("/status", headers=headers).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY},
                                     {"Authorization": f"Basic {KEY}"}, {"X-API-Key": KEY[:-1]},
                                     {"X-API-Key": ""}, {"X-API-Key": "wrong", "Authorization": f"Bearer {KEY}"}])
def test_a_missing_or_wrong_key_is_refused(tmp_path, headers):
    client = make_client(tmp_path, LAN, api_key=KEY)
    response = client.get("/status", headers=headers)
    assert response.status_code == 403
    assert "API key" in response.get_json()["error"]["message"]


def test_either_the_network_or_the_key_is_enough(tmp_path):
    settings = {"allowed_clients": ["10.0.0.0/8"], "api_key": KEY}
    assert make_client(tmp_path, LAN, **settings).get("/status").status_code == 200
    outside = make_client(tmp_path, OUTSIDE, **settings)
    assert outside.get("/status").status_code == 403
    assert outside.get("/status", headers={"X-API-Key": KEY}).status_code == 200


def test_the_status_page_opens_without_data_to_ask_for_the_key(tmp_path):
    client = make_client(tmp_path, OUTSIDE, allowed_clients=["10.0.0.0/8"], api_key=KEY)
    asking = client.get("/")
    html = asking.get_data(as_text=True)
    assert asking.status_code == 200 and 'data-refused="yes"' in html and "no valid API key" in html
    assert 'id="key-form">' in html  # shown, not hidden
    assert "canny-control" not in html and "data-device" not in html  # nothing of the server
    shown = client.get("/", headers={"X-API-Key": KEY}).get_data(as_text=True)
    assert 'data-refused="no"' in shown and 'data-model="canny-control"' in shown and 'id="key-form" hidden' in shown
    assert client.get("/admin/requests").status_code == 403  # its data and buttons stay behind the key
    assert client.get("/admin/requests", headers={"X-API-Key": KEY}).get_json() == {"requests": []}


def test_without_a_key_to_ask_for_the_status_page_is_refused(tmp_path):
    response = make_client(tmp_path, OUTSIDE, allowed_clients=["10.0.0.0/8"]).get("/")
    assert response.status_code == 403 and "allowed_clients" in response.get_json()["error"]["message"]


def test_a_refused_post_is_refused_before_the_body_is_read(tmp_path):
    client = make_client(tmp_path, OUTSIDE, api_key=KEY)
    response = client.post("/models/canny-control", data=b"not json", content_type="application/json")
    assert response.status_code == 403


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "myhost"])
def test_non_loopback_hosts(host):
    assert not is_loopback_host(host)


def test_warns_only_when_listening_beyond_loopback_with_nothing_set(caplog):
    logger = logging.getLogger("test_access")
    with caplog.at_level(logging.WARNING, logger="test_access"):
        assert warn_if_open(Settings(host="0.0.0.0"), logger)
    assert "allowed_clients" in caplog.text and "api_key" in caplog.text
    assert not warn_if_open(Settings(host="127.0.0.1"), logger)
    assert not warn_if_open(Settings(host="0.0.0.0", api_key=KEY), logger)
    assert not warn_if_open(Settings(host="0.0.0.0", allowed_clients=["192.168.0.0/16"]), logger)
