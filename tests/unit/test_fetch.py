"""fetch_url against a real HTTP server on 127.0.0.1.

No internet here, so a "public" host is a fake name that the test resolver maps to a public
address (93.184.216.34), and the test's socket layer then carries connections to that address
back to the local server. That lets a public URL redirect to 127.0.0.1, as an attacker's would.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3.util.connection

from models_server.config import Limits
from models_server.errors import BadInput, Busy
from models_server.media import fetch, resources
from models_server.media.fetch import fetch_url
from models_server.media.resources import ResourceReader

PUBLIC_IP = "93.184.216.34"
BODY = b"image bytes " * 100
SHORT = {"connect_timeout": 2.0, "read_timeout": 2.0}


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /img, /host, /to?url=..., /chain/<n>, /big, /unsized, /stall, /trickle."""

    seen_hosts: list[str] = []  # noqa: RUF012 - shared by the test on purpose
    released = threading.Event()  # /stall answers once the test is over (its fixture sets it)

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
            Handler.released.wait(timeout=60)  # past any read timeout: until the test ends
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
    Handler.seen_hosts, Handler.released = [], threading.Event()
    try:
        yield from _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    finally:
        Handler.released.set()


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
    with pytest.raises(BadInput, match="timed out"):
        get(f"http://127.0.0.1:{port}/stall", allow_private=True, read_timeout=0.3)


def test_a_trickling_body_is_cut_off_by_the_overall_deadline(port):
    limit = r"did not finish within 0\.7 s \(the limit url_connect_timeout \+ url_read_timeout\)"
    with pytest.raises(BadInput, match=limit):
        get(f"http://127.0.0.1:{port}/trickle", allow_private=True, connect_timeout=0.2, read_timeout=0.5)


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


# -- a raw server: status line and headers trickled, malformed answers ----------------------------


@contextlib.contextmanager
def raw_server(answer) -> Iterator[tuple[int, threading.Event]]:
    """A loopback server that calls `answer(conn)` for each connection (at most 20), each in a thread;
    the event is set once a connection has been closed by the client while being answered."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    hung_up = threading.Event()
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                answer(conn)
            except OSError:
                hung_up.set()

    def accept_loop() -> None:
        for _ in range(20):
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                    break
                except TimeoutError:
                    continue
            else:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], hung_up
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def trickle(conn: socket.socket, data: bytes, pause: float) -> None:
    """Send `data` a byte at a time; bounded by its length (the client is expected to hang up first)."""
    for byte in data:
        conn.sendall(bytes([byte]))
        time.sleep(pause)


SLOW_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\nabc"


def test_a_status_line_and_headers_trickled_a_byte_every_half_second_are_cut_off_by_the_deadline():
    """Each byte arrives well within the read timeout, so only the overall deadline can stop it;
    the server would need ~2 minutes to finish and sees the hang-up instead."""
    with raw_server(lambda conn: trickle(conn, SLOW_ANSWER, 0.5)) as (port, hung_up):
        with pytest.raises(BadInput, match=r"did not finish within 1\.5 s"):
            get(f"http://127.0.0.1:{port}/img", allow_private=True, connect_timeout=0.5, read_timeout=1.0)
        assert hung_up.wait(timeout=10), "the server never saw the connection shut down"


def test_a_trickled_tls_handshake_is_cut_off(connects):
    """A server that sends its TLS handshake a byte at a time: Python bounds the whole handshake
    by the socket's timeout (the connect timeout), which the overall deadline exceeds anyway."""
    garbage_hello = b"\x16\x03\x01\x00\x50" + b"\x02" * 200
    with raw_server(lambda conn: trickle(conn, garbage_hello, 0.2)) as (port, hung_up):
        with pytest.raises(BadInput, match=r"timed out|did not finish within 1\.5 s"):
            get(f"https://127.0.0.1:{port}/img", allow_private=True, connect_timeout=0.5, read_timeout=1.0)
        assert hung_up.wait(timeout=10)


def test_a_slow_name_lookup_is_cut_off_by_the_deadline(monkeypatch):
    released = threading.Event()

    def slow_resolver(host, port_):
        released.wait(timeout=10)  # bounded: the test releases it at the end
        return [PUBLIC_IP]

    monkeypatch.setattr(fetch, "resolve_host", slow_resolver)
    try:
        with pytest.raises(BadInput, match=r"did not finish within 0\.4 s"):
            get("http://slow-dns.example/a.png", connect_timeout=0.2, read_timeout=0.2)
    finally:
        released.set()


@pytest.mark.parametrize(
    ("location", "match"),
    [
        ("http://[::1", "redirected to an invalid URL"),
        ("http://[::1]:99999/", "not a valid URL"),
        ("http://h:port/", "not a valid URL"),
        ("http://" + "a" * 70 + ".example/", "cannot be encoded"),
        ("http://a..b/", "cannot be encoded"),
        ("https:///x", "names no host"),
        ("javascript:alert(1)", "only http and https"),
        ("http://\u00e9\u00e9.example:1/", "cannot"),
    ],
)
def test_odd_redirect_targets_are_bad_input(location, match):
    def redirect(conn):
        head = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
        conn.sendall(head.encode("latin-1", "replace"))

    with raw_server(redirect) as (port, _), pytest.raises(BadInput, match=match):
        get(f"http://127.0.0.1:{port}/img", allow_private=True)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",  # closes before the declared length
        b"HTTP/1.1 2000000000000 OK\r\n\r\n",
        b"HTTP/9 200 OK\r\n\r\n",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",  # more headers than http.client takes
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"x" * 70_000 + b"\r\n\r\n",  # a header line over 64 KiB
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # a bad chunk size
        b"HTTP/1.1 302 Found\r\nLocation: /\x00\x01\r\nContent-Length: 0\r\n\r\n",
        b"",  # closes without a word
    ],
)
def test_malformed_answers_are_bad_input_not_errors(answer):
    with raw_server(lambda conn: conn.sendall(answer)) as (port, _), pytest.raises(BadInput):
        get(f"http://127.0.0.1:{port}/img", allow_private=True)


# -- secrets in URLs --------------------------------------------------------------------------


def test_error_messages_show_no_password_and_no_query(port):
    with pytest.raises(BadInput) as refused:
        get(f"http://user:hunter2@127.0.0.1:{port}/absent?X-Amz-Signature=s3cr3t#frag", allow_private=True)
    message = refused.value.message
    assert "answered HTTP 404" in message
    assert "hunter2" not in message and "s3cr3t" not in message
    assert f"http://user:***@127.0.0.1:{port}/absent?***" in message


def test_a_refused_private_address_names_the_url_without_its_secrets():
    with pytest.raises(BadInput, match="loopback") as refused:
        get("http://admin:pw@127.0.0.1:9/x?token=abc")
    assert "pw@" not in refused.value.message and "token=abc" not in refused.value.message


# -- concurrency cap --------------------------------------------------------------------------


def test_fetches_beyond_the_cap_get_a_503_with_retry_after(tmp_path):
    """With every slot held by a slow server, one more fetch waits url_connect_timeout, then 503."""
    cap = resources.max_concurrent_fetches(Limits())
    limits = Limits(url_connect_timeout=0.3, url_read_timeout=20.0)
    reader = ResourceReader(tmp_path, limits, allow_private=True)
    arrived = threading.Semaphore(0)
    release = threading.Event()

    def held(conn):
        arrived.release()
        release.wait(timeout=20)  # bounded
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with raw_server(held) as (port, _), ThreadPoolExecutor(max_workers=cap) as pool:
        url = f"http://127.0.0.1:{port}/img"
        holding = [pool.submit(reader.read, url, "img_url") for _ in range(cap)]
        for _ in range(cap):
            assert arrived.acquire(timeout=10)
        with pytest.raises(Busy, match=f"{cap} URL fetches are in flight, the limit max_concurrent_fetches") as busy:
            reader.read(url, "img_url")
        assert busy.value.headers["Retry-After"]
        release.set()
        assert [future.result(timeout=30) for future in holding] == [b"ok"] * cap
        assert reader.read(url, "img_url") == b"ok"  # every slot was given back
