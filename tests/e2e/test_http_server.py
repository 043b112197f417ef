"""The guarded waitress server on 127.0.0.1: status lane, admission, connection caps, read deadlines,
limits before the body is read, JSON for waitress's own errors, no request smuggling.

A small WSGI app stands in for ours so each case controls exactly when "inference" ends: its
`/models/...` requests block on an event the test releases. Every wait is bounded (socket
timeouts, event timeouts); nothing asserts how long something took.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from support.waiting import wait_until

from models_server.http.server import GuardedServer, ServingOptions, make_server

HOG_ADDRESS = "127.0.0.2"  # another loopback address: "another host" for the per-client cap
WAIT = 15.0  # upper bound of any wait in these tests; reaching it means the behaviour is missing


@dataclass
class StandIn:
    """A WSGI app: /models/* blocks until `release` is set; /status answers at once."""

    release: threading.Event = field(default_factory=threading.Event)
    entered: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    paths: list[str] = field(default_factory=list)

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        self.paths.append(path)
        if path.startswith("/models/"):
            body = environ["wsgi.input"].read()
            self.entered.release()
            self.release.wait(timeout=WAIT)
            payload = json.dumps({"ok": True, "bytes": len(body)}).encode()
        else:
            payload = json.dumps({"path": path}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]


@contextlib.contextmanager
def running(app, **options) -> Iterator[tuple[GuardedServer, int]]:
    server = make_server(app, "127.0.0.1", 0, ServingOptions(**options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server, server.effective_port
    finally:
        getattr(app, "release", threading.Event()).set()
        server.close()
        server.shutdown_lanes(timeout=5)
        thread.join(timeout=5)


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def raw_exchange(port: int, data: bytes, source: str = "127.0.0.1") -> bytes:
    """Send `data`, then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT, source_address=(source, 0)) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def error_of(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head.lower(), head
    return status, json.loads(body)["error"]


def start_work(port: int, count: int) -> list[threading.Thread]:
    def work(index: int) -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):  # the server may close first
            request(port, "POST", f"/models/m{index}", b"{}")

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


# -- status lane and admission ------------------------------------------------------------------


def test_status_is_answered_while_every_work_thread_is_busy_and_more_work_waits():
    app = StandIn()
    with running(app, threads=2, max_pending=2) as (server, port):
        start_work(port, 2)
        for _ in range(2):
            assert app.entered.acquire(timeout=WAIT)  # both work threads are inside the app
        start_work(port, 2)  # these two wait for a work thread
        wait_until(lambda: len(server.task_dispatcher.queue) == 2, WAIT, "waitress queued both")
        for path in ("/status", "/running", "/status/some/model", "/"):
            status, _, body = request(port, "GET", path)
            assert (status, json.loads(body)) == (200, {"path": path})


def test_work_beyond_max_pending_gets_503_with_retry_after_at_once():
    app = StandIn()
    with running(app, threads=1, max_pending=1) as (server, port):
        start_work(port, 1)
        assert app.entered.acquire(timeout=WAIT)
        start_work(port, 1)
        wait_until(lambda: server.task_dispatcher.queue, WAIT, "waitress queued the request")
        status, headers, body = request(port, "POST", "/models/another", b"{}")
        assert status == 503
        assert int(headers["Retry-After"]) > 0
        error = json.loads(body)["error"]
        assert error["type"] == "busy" and "max_pending" in error["message"]
        assert "/models/another" not in app.paths  # refused before the app
        app.release.set()


# -- connections ------------------------------------------------------------------------------


def test_one_client_cannot_hold_more_than_its_connections_and_others_are_still_served():
    app = StandIn()
    with running(app, connections_per_client=4) as (_, port):
        held = [socket.create_connection(("127.0.0.1", port), timeout=WAIT, source_address=(HOG_ADDRESS, 0))
                for _ in range(4)]
        try:
            for sock in held:
                sock.sendall(b"GET /status HTTP/1.1\r\n")  # a header that never ends
            with socket.create_connection(
                ("127.0.0.1", port), timeout=WAIT, source_address=(HOG_ADDRESS, 0)
            ) as over:
                status, error = error_of(read_until_closed(over))
            assert status == 503 and "connections_per_client" in error["message"]
            assert request(port, "GET", "/status")[0] == 200  # another address is served
        finally:
            for sock in held:
                sock.close()


def test_a_header_trickled_line_by_line_is_cut_off_with_408():
    """Each line arrives well within any idle timeout; only the header deadline stops it."""
    app = StandIn()
    with running(app, header_timeout=1.0) as (_, port), socket.create_connection(
        ("127.0.0.1", port), timeout=WAIT
    ) as sock:
        sock.sendall(b"GET /status HTTP/1.1\r\n")
        received = b""
        for index in range(100):  # bounded: ~30 s of trickling at most
            try:
                sock.sendall(f"X-Line-{index}: y\r\n".encode())
            except OSError:
                break
            sock.settimeout(0.3)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            received += chunk
            break  # answered: stop sending, read the rest
        sock.settimeout(WAIT)
        with contextlib.suppress(OSError):
            received += read_until_closed(sock)
        status, error = error_of(received)
        assert status == 408 and "header_timeout" in error["message"]
        assert "/status" not in app.paths


def test_a_connection_that_sends_nothing_is_closed_after_header_timeout_from_its_accept():
    app = StandIn()
    with running(app, header_timeout=1.0, idle_timeout=600) as (_, port), socket.create_connection(
        ("127.0.0.1", port), timeout=WAIT
    ) as silent:
        assert read_until_closed(silent) == b""  # closed quietly: no request, no answer
        assert app.paths == []


def test_at_connection_limit_silent_connections_give_way_to_a_client_with_a_request():
    app = StandIn()
    limit = 8
    with running(app, connection_limit=limit, connections_per_client=100, header_timeout=600) as (server, port):
        silent = [socket.create_connection(("127.0.0.1", port), timeout=WAIT, source_address=(HOG_ADDRESS, 0))
                  for _ in range(limit)]
        try:
            wait_until(lambda: server.client_connections[HOG_ADDRESS] == limit, WAIT,
                       "the silent ones were not accepted")
            status, _, body = request(port, "GET", "/status")
            assert (status, json.loads(body)) == (200, {"path": "/status"})
            assert len(server.active_channels) <= limit
            assert server.client_connections[HOG_ADDRESS] < limit  # the oldest silent one gave way
        finally:
            for sock in silent:
                sock.close()


@dataclass
class LargeAnswers:
    """A WSGI app whose /metrics answer is `size` bytes; it counts the ones it made."""

    size: int
    made: list[str] = field(default_factory=list)

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        payload = b"m" * self.size if path == "/metrics" else json.dumps({"path": path}).encode()
        if path == "/metrics":
            self.made.append(path)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(payload)))])
        return [payload]


@contextlib.contextmanager
def non_reading_client(port: int, requests: int) -> Iterator[socket.socket]:
    """A connection from HOG_ADDRESS that pipelines `requests` GET /metrics and reads nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the answer stays with the server
    sock.settimeout(WAIT)
    try:
        sock.bind((HOG_ADDRESS, 0))
        sock.connect(("127.0.0.1", int(port)))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * requests)
        yield sock
    finally:
        sock.close()


def test_a_client_that_reads_no_answer_frees_the_status_thread_within_send_timeout():
    """An answer over waitress's output high-water mark blocks the thread that wrote it until the
    client reads: here the only status thread, so /status waits on the non-reading client."""
    app = LargeAnswers(size=24 * 2**20)
    with running(app, status_threads=1, send_timeout=1.0) as (server, port), non_reading_client(port, 2):
        wait_until(lambda: app.made, WAIT, "the first answer was never made")
        status, _, body = request(port, "GET", "/status")  # on the status lane, after the hog's
        assert (status, json.loads(body)) == (200, {"path": "/status"})
        wait_until(lambda: not server.client_connections[HOG_ADDRESS], WAIT,
                   "the non-reading client is still connected")


def test_pipelined_requests_wait_for_the_answer_before_them_to_be_written():
    app = LargeAnswers(size=8 * 2**20)  # larger than what the kernel buffers, under the high-water mark
    with running(app, send_timeout=1.0) as (server, port), non_reading_client(port, 6):
        wait_until(lambda: app.made, WAIT, "the first answer was never made")
        wait_until(lambda: not server.client_connections[HOG_ADDRESS], WAIT,
                   "the non-reading client is still connected")
        assert app.made == ["/metrics"]  # one answer made, not a buffer full


# -- limits before the body is read -------------------------------------------------------------


def test_a_declared_length_over_max_body_bytes_gets_json_413_before_any_body_is_sent():
    app = StandIn()
    with running(app, max_body_bytes=1000) as (_, port):
        raw = raw_exchange(port, b"POST /models/m HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
        status, error = error_of(raw)
        assert status == 413 and error["type"] == "payload_too_large"
        assert "max_body_bytes (1000 bytes)" in error["message"]
        assert app.paths == []
        app.release.set()
        assert request(port, "POST", "/models/m", b"x" * 1000)[0] == 200  # the cap itself is allowed


def test_on_openais_routes_the_servers_own_413_has_openais_error_shape():
    app = StandIn()
    with running(app, max_body_bytes=1000) as (_, port):
        raw = raw_exchange(port, b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
        status, error = error_of(raw)
        assert status == 413 and set(error) == {"message", "type", "param", "code"}
        assert (error["type"], error["code"]) == ("invalid_request_error", "payload_too_large")
        assert app.paths == []


def test_a_chunked_body_growing_past_max_body_bytes_gets_json_413():
    app = StandIn()
    with running(app, max_body_bytes=1000) as (_, port):
        chunk = b"400\r\n" + b"x" * 0x400 + b"\r\n"
        raw = raw_exchange(port, b"POST /models/m HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk)
        assert error_of(raw)[0] == 413
        assert app.paths == []


@pytest.mark.parametrize(
    ("body", "what"),
    [(b"1" * 2**20, "chunk-size line"), (b"0\r\nX-Trailer: " + b"t" * 2**20, "trailer")],
    ids=["chunk-size-line", "trailer"],
)
def test_a_long_chunk_size_line_or_trailer_gets_400_at_once(body, what):
    """Without a limit the unfinished line is held until request_read_timeout (far past WAIT)."""
    app = StandIn()
    with running(app, request_read_timeout=600) as (_, port), socket.create_connection(
        ("127.0.0.1", port), timeout=WAIT
    ) as sock:
        sock.sendall(b"POST /models/m HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        status, error = error_of(read_until_closed(sock))
        assert status == 400 and what in error["message"]
        assert app.paths == []


def test_transfer_encoding_with_content_length_is_refused_and_the_connection_closed():
    """The bytes after the chunked body would otherwise be served as a second request."""
    app = StandIn()
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    with running(app) as (_, port):
        raw = raw_exchange(
            port,
            b"POST /models/m HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
            b"0\r\n\r\n" + smuggled,
        )
        assert raw.count(b"HTTP/1.1 ") == 1  # one answer, then the connection was closed
        status, error = error_of(raw)
        assert status == 400 and "Transfer-Encoding and Content-Length" in error["message"]
        assert app.paths == []


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n", 431),
        (b"POST /models/m HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET /status HTTP/1.1\r\nBad Header Line\r\n\r\n", 400),
        (b"POST /models/m HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n", 400),
    ],
)
def test_waitress_own_errors_are_json(data, code):
    app = StandIn()
    with running(app) as (_, port):
        status, error = error_of(raw_exchange(port, data))
        assert status == code
        assert isinstance(error["message"], str) and error["message"]
        assert "Traceback" not in error["message"] and "waitress" not in error["message"]


# -- with the real app --------------------------------------------------------------------------


def test_the_real_app_behind_the_guarded_server(served):
    from models_server.engines.local import serving_options

    options = serving_options(served.settings)
    assert options.max_body_bytes == served.settings.limits.max_body_bytes
    assert options.threads == served.settings.threads
    with running(served.app, max_body_bytes=options.max_body_bytes) as (_, port):
        status, _, body = request(port, "GET", "/status")
        assert status == 200 and "models" in json.loads(body)
        too_big = options.max_body_bytes + 1
        raw = raw_exchange(port, f"POST /models/canny-control HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                 f"\r\nContent-Length: {too_big}\r\n\r\n".encode())
        assert error_of(raw)[0] == 413
        status, _, body = request(port, "POST", "/models/canny-control", b'{"img_url": 7}',
                                  {"Content-Type": "application/json"})
        assert status == 400 and json.loads(body)["error"]["message"]


@pytest.mark.parametrize("threads", [4, 16, 40])
def test_by_default_one_client_can_fill_the_work_lane_and_its_queue_and_still_connect(threads):
    from models_server.config import load_settings
    from models_server.engines.local import serving_options

    options = serving_options(load_settings(None, {"threads": threads}, environ={}))
    assert options.connections_per_client > options.threads + options.max_pending


# -- graceful stop ------------------------------------------------------------------------------


def served_until_stopped(app, grace: float = WAIT, **options):
    """A server on its own thread and the GracefulStop the engine would use for it."""
    from models_server.http.stop import GracefulStop

    server = make_server(app, "127.0.0.1", 0, ServingOptions(**options))
    loop = threading.Thread(target=server.run, daemon=True)
    loop.start()
    return server, loop, GracefulStop(server, grace)


def test_after_a_graceful_stop_the_loop_has_ended_and_a_late_wake_up_is_harmless():
    """Threads still pull the loop's trigger after it closed it: that must not raise (EBADF) nor
    write to whatever file reused its descriptor."""
    server, loop, stopper = served_until_stopped(StandIn())
    stopper.stop("test")
    loop.join(timeout=WAIT)
    assert not loop.is_alive()
    server.trigger.pull_trigger()
    server.trigger.pull_trigger(lambda: None)
    server.shutdown_lanes(timeout=5)


def test_a_request_still_arriving_at_the_stop_is_answered_and_new_connections_are_refused():
    app = StandIn()
    app.release.set()
    server, loop, stopper = served_until_stopped(app)
    port = int(server.effective_port)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
            sock.sendall(b"POST /models/m HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
            wait_until(lambda: any(getattr(c, "request", None) is not None for c in server.active_channels.values()),
                       WAIT, "the server never began reading the request")
            stopping = threading.Thread(target=stopper.stop, args=("test",), daemon=True)
            stopping.start()
            refused = False
            deadline = time.monotonic() + WAIT
            while not refused and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    time.sleep(0.01)
                except OSError:
                    refused = True
            assert refused, "a new connection was accepted after the stop"
            stopping.join(timeout=1.0)  # a stop that ignores the request in flight is over by now
            sock.sendall(b"67890")
            response = read_until_closed(sock)
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
        assert json.loads(response.partition(b"\r\n\r\n")[2]) == {"ok": True, "bytes": 10}
        stopping.join(timeout=WAIT)
        loop.join(timeout=WAIT)
        assert not loop.is_alive()
    finally:
        server.shutdown_lanes(timeout=5)
