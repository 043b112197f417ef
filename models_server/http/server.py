"""waitress, guarded: status routes on their own threads, connection caps, read deadlines, JSON errors.

waitress reads every request on one I/O thread and hands complete requests to a pool of worker
threads. Left as it is, a LAN client can take it off the air without reaching the app:
- one model's queue occupies every worker, and `/status` waits behind it;
- a hundred connections that trickle header lines fill `connection_limit` (they look active, so
  the idle timeout never closes them) and new connections are no longer accepted;
- an over-sized body is read and spooled to disk before the app can refuse it.

The design here, in waitress's own extension points:
- **Two lanes.** A request goes to the *status lane*, a small pool of its own threads, when it
  is a cheap read of in-memory state (`GET /running`, `/status`, `/status/<id>`, `/`, `/metrics`)
  or an answer the server makes itself (protocol errors, "busy"); everything else goes to the
  *work lane* (inference, URL fetches). Work can never occupy a status thread.
- **Admission.** When `max_pending` requests already wait for a work thread, the next one is
  answered 503 + Retry-After at once (on the status lane), instead of queueing without bound.
- **Connections.** At most `connections_per_client` open connections per client address (the
  next is answered 503 and closed at accept) and `connection_limit` in all; a request's header
  must arrive within `header_timeout` and the whole request within `request_read_timeout` of its
  first byte (else 408 and close); idle keep-alive connections close after `idle_timeout`.
- **Limits before work.** waitress refuses a declared Content-Length over `max_body_bytes` as
  soon as the header is parsed (a chunked body as soon as it grows past it), so nothing beyond
  the cap is read or stored; a request with both Transfer-Encoding and Content-Length is refused
  and its connection closed (RFC 9112 section 6.1). Every answer waitress makes itself is JSON
  `{"error": {"message", "type"}}`, like the app's.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import Error

from models_server.errors import ConfigError

log = logging.getLogger(__name__)

# Cheap reads of in-memory state, served on the status lane (GET and HEAD only).
STATUS_PATHS = frozenset({"/running", "/healthz", "/readyz", "/status", "/", "/metrics"})
STATUS_PREFIXES = ("/status/",)
BUSY_RETRY_AFTER_SECONDS = 5
# How long a connection answered with an error keeps reading (and dropping) what its client sends.
LINGER_SECONDS = 5.0


@dataclass(frozen=True)
class ServingOptions:
    """The knobs of the HTTP server; see the module docstring for what each one guards."""

    threads: int = 16  # work lane: inference and URL fetches
    status_threads: int = 4  # status lane
    max_pending: int = 16  # requests waiting for a work thread before new ones get 503
    connection_limit: int = 512  # open connections in all
    # open connections per client address: above threads + max_pending, so that a client whose own
    # requests fill the work lane and its queue (the controller itself) can still reach /status
    connections_per_client: int = 64
    header_timeout: float = 10.0  # from a request's first byte to the end of its header
    request_read_timeout: float = 120.0  # from a request's first byte to the end of its body
    idle_timeout: int = 60  # a keep-alive connection with no request in progress
    max_body_bytes: int = 64 * 2**20


class ServerBusy(Error):
    code = 503
    reason = "Service Unavailable"


class RequestTimeout(Error):
    code = 408
    reason = "Request Timeout"


def is_status_request(command: str, path: str) -> bool:
    return command in ("GET", "HEAD") and (path in STATUS_PATHS or path.startswith(STATUS_PREFIXES))


def error_body(error: Error, options: ServingOptions) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Our JSON error (and extra headers) for an answer waitress makes itself."""
    headers: list[tuple[str, str]] = []
    if error.code == 413:
        message, kind = f"the request body is larger than the limit max_body_bytes ({options.max_body_bytes} bytes)", \
            "payload_too_large"
    elif error.code == 431:
        message, kind = "the request's header is too large", "headers_too_large"
    elif error.code == 501:
        message, kind = "only the chunked Transfer-Encoding is supported", "not_implemented"
    elif error.code == 400:
        message, kind = f"malformed HTTP request: {error.body}", "bad_request"
    elif error.code in (408, 503):
        message, kind = str(error.body), "timeout" if error.code == 408 else "busy"
        if error.code == 503:
            headers.append(("Retry-After", str(BUSY_RETRY_AFTER_SECONDS)))
    else:
        message, kind = "internal error; see the server log", "server_error"  # never a traceback
    return {"error": {"message": message, "type": kind}}, headers


def error_response(error: Error, options: ServingOptions) -> bytes:
    """A whole HTTP/1.1 response for `error`, for places where no task writes one."""
    body, headers = error_body(error, options)
    payload = json.dumps(body).encode()
    lines = [f"HTTP/1.1 {error.code} {error.reason}", "Content-Type: application/json",
             f"Content-Length: {len(payload)}", "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class JsonErrorTask(ErrorTask):
    """waitress's error answer (400, 408, 413, 431, 501, 503, 500) with our JSON body; closes,
    lingering so that a client still sending its body gets to read the answer."""

    def execute(self) -> None:
        self.channel.linger_on_close = True
        error = self.request.error
        body, headers = error_body(error, self.channel.server.options)
        payload = json.dumps(body).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), *headers])
        self.set_close_on_finish()
        self.content_length = len(payload)
        self.write(payload)


class StrictRequestParser(HTTPRequestParser):
    """waitress's parser, refusing a request framed two ways (a request-smuggling vector)."""

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        # waitress drops TRANSFER_ENCODING from the headers once it has set up chunked reading
        framed_by_transfer_encoding = self.chunked or "TRANSFER_ENCODING" in self.headers
        if framed_by_transfer_encoding and "CONTENT_LENGTH" in self.headers:
            raise ParsingError(
                "a request may not carry both Transfer-Encoding and Content-Length (RFC 9112 section 6.1)"
            )


class GuardedChannel(HTTPChannel):
    """A connection that remembers when the request it is reading began, and counts per client."""

    parser_class = StrictRequestParser
    error_task_class = JsonErrorTask
    reading_since: float | None = None  # monotonic time of the first byte of a partial request
    request: Any  # the partial request waitress is parsing (HTTPChannel's, untyped there)
    counted = False
    # After an error answer made before the body was read, the client may still be sending it;
    # closing over unread bytes would reset the connection and lose the answer. So the channel
    # shuts its sending side and reads (and drops) what comes for a while: a lingering close.
    linger_on_close = False
    lingering_until: float | None = None
    linger_bytes_left = 0

    def __init__(self, server: GuardedServer, sock: socket.socket, addr: Any, adj: Adjustments,
                 map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        server.client_connections[addr[0]] += 1
        self.counted = True

    def del_channel(self, map: Any = None) -> None:
        if self.counted:
            self.counted = False
            clients = self.server.client_connections
            clients[self.addr[0]] -= 1
            if clients[self.addr[0]] <= 0:
                del clients[self.addr[0]]
        super().del_channel(map)

    def readable(self) -> bool:
        return True if self.lingering_until is not None else super().readable()

    def handle_read(self) -> None:
        if self.lingering_until is None:
            super().handle_read()
            return
        try:
            dropped = self.recv(self.adj.recv_bytes)  # b"" at the end: recv closes for us
        except OSError:
            self.handle_close()
            return
        self.linger_bytes_left -= len(dropped)
        if dropped and self.linger_bytes_left <= 0:
            self.handle_close()

    def handle_close(self) -> None:
        if self.linger_on_close and self.lingering_until is None and self.connected:
            options = self.server.options
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                super().handle_close()
                return
            self.lingering_until = time.monotonic() + LINGER_SECONDS
            self.linger_bytes_left = options.max_body_bytes + 2**20
            self.will_close = False
            return
        super().handle_close()

    def linger_over(self, now: float) -> bool:
        return self.lingering_until is not None and now > self.lingering_until

    def received(self, data: bytes) -> bool:
        if data and self.request is None and self.reading_since is None:
            self.reading_since = time.monotonic()
        accepted = super().received(data)
        if self.request is None:  # nothing partial left: the next request starts its own clock
            self.reading_since = None
        return accepted

    def read_overdue(self, now: float, options: ServingOptions) -> str | None:
        """Why the request being read has taken too long, or None."""
        if self.reading_since is None or self.request is None or self.requests:
            return None
        waited = now - self.reading_since
        if not self.request.headers_finished and waited > options.header_timeout:
            return f"the request header did not arrive within header_timeout ({options.header_timeout:g} s)"
        if waited > options.request_read_timeout:
            return f"the request did not arrive within request_read_timeout ({options.request_read_timeout:g} s)"
        return None

    def refuse_slow_request(self, reason: str, options: ServingOptions) -> None:
        """Answer 408 and close (lingering); runs on the I/O thread while no task uses this channel."""
        with self.requests_lock:
            if self.request is not None:
                self.request.close()
                self.request = None
            self.reading_since = None
            payload = error_response(RequestTimeout(reason), options)
            with self.outbuf_lock:
                self.outbufs[-1].append(payload)
                self.total_outbufs_len += len(payload)
            self.close_when_flushed = True
            self.linger_on_close = True


class GuardedServer(TcpWSGIServer):
    """One listening socket; requests split between the work lane and the status lane."""

    channel_class = GuardedChannel

    def __init__(self, application: Any, options: ServingOptions, adj: Adjustments,
                 work: ThreadedTaskDispatcher, status: ThreadedTaskDispatcher) -> None:
        self.options = options
        self.status_dispatcher = status
        self.client_connections: collections.Counter[str] = collections.Counter()
        self.refused_connections = 0
        super().__init__(application, map={}, dispatcher=work, adj=adj, sockinfo=adj.listen[0])

    def add_task(self, channel: HTTPChannel) -> None:
        request = channel.requests[0]
        if request.error or is_status_request(request.command, request.path):
            self.status_dispatcher.add_task(channel)
        elif len(self.task_dispatcher.queue) >= self.options.max_pending:
            request.error = ServerBusy(
                f"the server is busy: {self.options.threads} requests are running and "
                f"{self.options.max_pending} more wait (max_pending); retry shortly"
            )
            self.status_dispatcher.add_task(channel)
        else:
            self.task_dispatcher.add_task(channel)

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
        except OSError:
            return
        if accepted is None:
            return
        conn, addr = accepted
        if self.client_connections[addr[0]] >= self.options.connections_per_client:
            self._refuse(conn)
            return
        try:
            self.set_socket_options(conn)
        except OSError:
            conn.close()
            return
        self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)

    def _refuse(self, conn: socket.socket) -> None:
        """A best-effort 503 to a client over its connection cap, then close; never blocks."""
        self.refused_connections += 1
        reason = ServerBusy(
            f"this client has {self.options.connections_per_client} connections open, "
            "the limit connections_per_client; close some or retry later"
        )
        with contextlib.suppress(OSError):
            conn.setblocking(False)
            conn.send(error_response(reason, self.options))
            conn.shutdown(socket.SHUT_WR)
            conn.recv(65536)  # what the client sent already: closing over unread bytes resets
        conn.close()

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle keep-alive connections
        monotonic = time.monotonic()
        for channel in list(self.active_channels.values()):
            if isinstance(channel, GuardedChannel):
                if channel.linger_over(monotonic):
                    channel.handle_close()
                    continue
                reason = channel.read_overdue(monotonic, self.options)
                if reason:
                    log.info("closing a connection from %s: %s", channel.addr[0], reason)
                    channel.refuse_slow_request(reason, self.options)

    def busy(self) -> bool:
        """Requests running or queued in either lane."""
        return any(d.active_count or d.queue for d in (self.task_dispatcher, self.status_dispatcher))

    def shutdown_lanes(self, timeout: float = 5) -> None:
        self.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        self.status_dispatcher.shutdown(cancel_pending=True, timeout=timeout)


def check_can_listen(host: str, port: int) -> None:
    """Raise ConfigError at once when (host, port) cannot be listened on (another server holds
    it, or no such address here), bound the way the server binds: rather than a traceback from
    deep in the start-up, or, under Ray, from a replica Serve retried three times."""
    if port == 0:
        return
    try:
        family, kind, proto, address = Adjustments(host=host, port=port).listen[0]  # as make_server resolves it
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except (OSError, ValueError) as exc:  # ValueError: waitress found no address for the host
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason} (is another server running there? "
                          "set `port` or --port)") from None


def make_server(application: Any, host: str, port: int, options: ServingOptions) -> GuardedServer:
    """A guarded waitress server listening on (host, port); `run()` serves until closed."""
    adj = Adjustments(
        host=host, port=port, threads=options.threads,
        connection_limit=options.connection_limit,
        channel_timeout=options.idle_timeout,
        cleanup_interval=1,  # the read deadlines are checked by the cleanup pass
        # waitress refuses a body of *at least* this size; ours is refused above max_body_bytes
        max_request_body_size=options.max_body_bytes + 1,
        asyncore_use_poll=True,  # select() stops at 1024 descriptors
        channel_request_lookahead=1,  # read on while a request runs, so a client leaving is seen (and it stops)
        ident="models_server",
    )
    if len(adj.listen) > 1:
        log.warning("%s resolves to %d addresses; listening on the first, %s", host, len(adj.listen),
                    adj.listen[0][3])
    work = ThreadedTaskDispatcher()
    work.set_thread_count(options.threads)
    status = ThreadedTaskDispatcher()
    status.set_thread_count(options.status_threads)
    return GuardedServer(application, options, adj, work, status)
