"""fetch_url against a real HTTP server on 127.0.0.1.

No internet here, so a "public" host is a fake name that the test resolver maps to a public
address (93.184.216.34), and the test's socket layer then carries connections to that address
back to the local server. That lets a public URL redirect to 127.0.0.1, as an attacker's would.
"""

from __future__ import annotations

import contextlib
import http.server
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3.util.connection

from models_server.errors import BadInput
from models_server.media import fetch
from models_server.media.fetch import fetch_url

PUBLIC_IP = "93.184.216.34"
BODY = b"image bytes " * 100
SHORT = {"connect_timeout": 2.0, "read_timeout": 2.0}


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /img, /host, /to?url=..., /chain/<n>, /big, /unsized, /stall, /trickle."""

    seen_hosts: list[str] = []  # noqa: RUF012 - shared by the test on purpose

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.seen_hosts.append(self.headers.get("Host", ""))
        if path == "/img":
            self._send(BODY)
        elif path == "/host":
            self._send(self.headers.get("Host", "").encode())
        elif path == "/to":
            self._redirect(parse_qs(urlsplit(self.path).query)["url"][0])
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._redirect(f"/chain/{left - 1}") if left else self._send(BODY)
        elif path == "/big":
            self._send(b"x" * 5000)
        elif path == "/unsized":
            self._stream(b"x" * 1000 for _ in range(10))
        elif path == "/stall":
            time.sleep(1.5)  # longer than the test's read timeout, bounded so the thread ends
            self._send(BODY)
        elif path == "/trickle":
            self._stream(_trickle(count=30, pause=0.1))
        else:
            self.send_error(404)

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client may have timed out
            self.wfile.write(body)

    def _stream(self, chunks) -> None:
        """No Content-Length: the body ends when the connection closes."""
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as the test wants it to
        self.close_connection = True

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _trickle(count: int, pause: float) -> Iterator[bytes]:
    for _ in range(count):
        time.sleep(pause)
        yield b"x"


def _serve(server: http.server.ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def port() -> Iterator[int]:
    Handler.seen_hosts = []
    yield from _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))


@pytest.fixture
def connects(monkeypatch) -> list[tuple[str, int]]:
    """Resolve the fake names; carry connections to PUBLIC_IP to 127.0.0.1; record every connect."""
    names = {"public.example": [PUBLIC_IP], "localhost.example": ["127.0.0.1"]}
    monkeypatch.setattr(fetch, "resolve_host", lambda host, port: names.get(host, [host]))
    seen: list[tuple[str, int]] = []
    real_connect = urllib3.util.connection.create_connection

    def connect(address, *args, **kwargs):
        seen.append(address)
        host, port = address
        return real_connect(("127.0.0.1" if host == PUBLIC_IP else host, port), *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", connect)
    return seen


def get(url: str, max_bytes: int = 10_000, **kwargs) -> bytes:
    return fetch_url(url, max_bytes, **{**SHORT, **kwargs})


# -- private addresses ------------------------------------------------------------------------


def test_loopback_is_refused_by_default_and_the_message_says_how_to_allow_it(port):
    with pytest.raises(BadInput, match=r"resolves to 127\.0\.0\.1, a loopback address; set allow_private_urls: true"):
        get(f"http://127.0.0.1:{port}/img")


def test_loopback_is_fetched_when_private_urls_are_allowed(port):
    assert get(f"http://127.0.0.1:{port}/img", allow_private=True) == BODY


def test_a_name_resolving_to_loopback_is_refused(port, connects):
    with pytest.raises(BadInput, match="loopback"):
        get(f"http://localhost.example:{port}/img")
    assert connects == []


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.7", "private"), ("192.168.1.1", "private"), ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"), ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"), ("100.64.0.1", "not a public"),
        ("::1", "loopback"), ("::", "unspecified"), ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"), ("fc00::1", "private"), ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"), ("ff02::1", "multicast"), ("64:ff9b::a00:1", "private"),
    ],
)
def test_non_public_addresses_are_refused_before_connecting(address, kind, monkeypatch):
    monkeypatch.setattr(fetch, "resolve_host", lambda host, port: [address])
    with pytest.raises(BadInput, match=f"resolves to .*{kind}"):
        get("http://somewhere.example/a.png")


def test_every_resolved_address_is_checked_not_only_the_first(monkeypatch):
    monkeypatch.setattr(fetch, "resolve_host", lambda host, port: [PUBLIC_IP, "127.0.0.1"])
    with pytest.raises(BadInput, match=r"127\.0\.0\.1, a loopback address"):
        get("http://mixed.example/a.png")


def test_ip_literals_in_url_are_checked(monkeypatch):
    with pytest.raises(BadInput, match="loopback"):
        get("http://[::ffff:127.0.0.1]:9/a.png")
    with pytest.raises(BadInput, match="link-local"):
        get("http://169.254.169.254/latest/meta-data/")


# -- pinning: connect to the address that was checked -------------------------------------------


def test_the_checked_address_is_the_one_connected_to_and_the_host_name_is_kept(port, connects):
    calls = []

    def once_public_then_loopback(host, port_):
        calls.append(host)
        return [PUBLIC_IP] if len(calls) == 1 else ["127.0.0.1"]  # a rebinding name

    assert fetch_url(
        f"http://public.example:{port}/host", 1000, **SHORT, resolver=once_public_then_loopback
    ) == f"public.example:{port}".encode()
    assert calls == ["public.example"]
    assert connects == [(PUBLIC_IP, port)]


def test_https_sends_the_name_for_sni_and_checks_the_certificate_against_it(tmp_path, connects, monkeypatch):
    cert, key = _self_signed(tmp_path, "public.example")
    monkeypatch.setattr(fetch, "CA_BUNDLE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for https_port in _serve(server):
        assert get(f"https://public.example:{https_port}/img") == BODY
        assert names == ["public.example"]
        with pytest.raises(BadInput, match="cannot fetch"):  # the certificate names another host
            get(f"https://{PUBLIC_IP}:{https_port}/img")


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
             "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make a test certificate with openssl: {exc}")
    return cert, key


# -- redirects --------------------------------------------------------------------------------


def test_a_public_url_redirecting_to_loopback_is_refused(port, connects):
    target = f"http://127.0.0.1:{port}/img"
    with pytest.raises(BadInput, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        get(f"http://public.example:{port}/to?url={target}")
    assert connects == [(PUBLIC_IP, port)]  # the second hop was refused before connecting


def test_a_redirect_to_another_scheme_is_refused(port, connects):
    with pytest.raises(BadInput, match="only http and https"):
        get(f"http://public.example:{port}/to?url=file:///etc/passwd")


def test_three_redirects_are_followed_and_a_fourth_is_refused(port):
    assert get(f"http://127.0.0.1:{port}/chain/3", allow_private=True) == BODY
    with pytest.raises(BadInput, match="more than 3 redirects"):
        get(f"http://127.0.0.1:{port}/chain/4", allow_private=True)


def test_relative_redirects_keep_the_host_name(port, connects):
    assert get(f"http://public.example:{port}/chain/2") == BODY
    assert Handler.seen_hosts == [f"public.example:{port}"] * 3


# -- schemes, size, time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.png", "file:///etc/passwd", "gopher://127.0.0.1:70/", "data:,x", "//example.com/a"]
)
def test_only_http_and_https_are_fetched(url):
    with pytest.raises(BadInput, match="only http and https"):
        get(url, allow_private=True)


@pytest.mark.parametrize("url", ["http:///nohost", "http://example.com:notaport/", "http://[::1/"])
def test_malformed_urls_are_bad_input(url):
    with pytest.raises(BadInput):
        get(url)


def test_declared_and_undeclared_sizes_over_the_cap_are_refused(port):
    with pytest.raises(BadInput, match="5000 bytes; the limit max_download_bytes is 4000"):
        get(f"http://127.0.0.1:{port}/big", max_bytes=4000, allow_private=True)
    with pytest.raises(BadInput, match=r"larger than the limit max_download_bytes \(4000\)"):
        get(f"http://127.0.0.1:{port}/unsized", max_bytes=4000, allow_private=True)
    assert len(get(f"http://127.0.0.1:{port}/unsized", max_bytes=10_000, allow_private=True)) == 10_000


def test_a_stalling_server_times_out(port):
    started = time.monotonic()
    with pytest.raises(BadInput, match="timed out"):
        get(f"http://127.0.0.1:{port}/stall", allow_private=True, read_timeout=0.3)
    assert time.monotonic() - started < 1.4


def test_a_trickling_server_is_cut_off_by_the_overall_deadline(port):
    started = time.monotonic()
    with pytest.raises(BadInput, match="took longer than"):
        get(f"http://127.0.0.1:{port}/trickle", allow_private=True, connect_timeout=0.2, read_timeout=0.5)
    assert time.monotonic() - started < 2.5


def test_a_refused_connection_and_an_http_error_are_bad_input(port):
    with pytest.raises(BadInput, match="answered HTTP 404"):
        get(f"http://127.0.0.1:{port}/absent", allow_private=True)
    with pytest.raises(BadInput, match="cannot fetch"):
        get("http://127.0.0.1:1/img", allow_private=True)


def test_an_unresolvable_name_is_bad_input(monkeypatch):
    def fail(host, port):
        raise OSError("no such host")

    monkeypatch.setattr(fetch, "resolve_host", fail)
    with pytest.raises(BadInput, match="does not resolve"):
        get("http://nowhere.invalid/a.png")
