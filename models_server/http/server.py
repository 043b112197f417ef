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
- **Each model's queue.** A request whose path names a model (`POST /models/<id>`) waits in
  that model's queue, holding no thread, and goes to the work lane only when its model can take
  it; it is refused (503 + Retry-After) only when the work ahead of it cannot finish within
  `request_timeout` (see model_queues.py). A busy model so never costs another model its answer.
- **Admission of the rest.** When `max_pending` requests already wait for a work thread, the next
  request that no model queue took is answered 503 + Retry-After at once (on the status lane),
  instead of queueing without bound.
- **Connections.** At most `connections_per_client` open connections per client address (the
  next is answered 503 and closed at accept) and `connection_limit` in all. At that limit a new
  connection takes the place of the oldest one with no request in progress (silent, idle, or
  still sending its header), so idle and silent connections can never lock the controller out;
  only when every connection is working is the next one answered 503. A connection that sends
  nothing is closed `header_timeout` after it was accepted; a request's header must arrive within
  `header_timeout` and the whole request within `request_read_timeout` of its first byte (else
  408 and close); idle keep-alive connections close after `idle_timeout`.
- **Clients that do not read.** A connection whose answer makes no progress for `send_timeout`
  is closed, which also frees a thread blocked on its full output buffer. A pipelined request
  waits, holding no thread, until the answer before it is written: a client that sends many
  requests and reads none gets one answer computed, not a buffer full.
- **Limits before work.** waitress refuses a declared Content-Length over `max_body_bytes` as
  soon as the header is parsed (a chunked body as soon as it grows past it), so nothing beyond
  the cap is read or stored; a request with both Transfer-Encoding and Content-Length is refused
  and its connection closed (RFC 9112 section 6.1). A chunk-size line or trailer longer than a
  few KiB is refused with 400 as soon as it is (waitress keeps an unfinished one whole and
  searches it again on every read). Every answer waitress makes itself is JSON
  `{"error": {"message", "type"}}`, like the app's.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from waitress import trigger
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.receiver import ChunkedReceiver
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask
from waitress.utilities import BadRequest, Error

from models_server.errors import ConfigError
from models_server.http.model_queues import ModelQueues

log = logging.getLogger(__name__)

# Cheap reads of in-memory state, served on the status lane (GET and HEAD only).
STATUS_PATHS = frozenset({"/running", "/healthz", "/readyz", "/status", "/", "/metrics"})
STATUS_PREFIXES = ("/status/",)
BUSY_RETRY_AFTER_SECONDS = 5
# How long a connection answered with an error keeps reading (and dropping) what its client sends.
LINGER_SECONDS = 5.0
# Chunked framing: a chunk-size line (with its extensions) and the trailer section.
MAX_CHUNK_LINE_BYTES = 4096
MAX_TRAILER_BYTES = 16384


@dataclass(frozen=True)
class ServingOptions:
    """The knobs of the HTTP server; see the module docstring for what each one guards."""

    threads: int = 16  # work lane: inference and URL fetches
    status_threads: int = 4  # status lane
    max_pending: int = 16  # requests no model queue took waiting for a work thread before new ones get 503
    connection_limit: int = 512  # open connections in all
    # open connections per client address: above threads + max_pending, so that a client whose own
    # requests fill the work lane and its queue (the controller itself) can still reach /status
    connections_per_client: int = 64
    header_timeout: float = 10.0  # from a request's first byte to the end of its header
    request_read_timeout: float = 120.0  # from a request's first byte to the end of its body
    idle_timeout: int = 60  # a keep-alive connection with no request in progress
    send_timeout: float = 30.0  # an answer making no progress to its client this long closes the connection
    max_body_bytes: int = 64 * 2**20


class ServerBusy(Error):
    code = 503
    reason = "Service Unavailable"

    def __init__(self, body: str, retry_after: int = BUSY_RETRY_AFTER_SECONDS) -> None:
        super().__init__(body)
        self.retry_after = retry_after


class WaitedTooLong(Error):
    code = 504
    reason = "Gateway Timeout"


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
    elif error.code in (408, 503, 504):
        message, kind = str(error.body), "busy" if error.code == 503 else "timeout"
        if isinstance(error, ServerBusy):
            headers.append(("Retry-After", str(error.retry_after)))
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


class AnswerNotingTask(WSGITask):
    """waitress's task running the app, noting on its channel whether the app answered 2xx."""

    channel: GuardedChannel

    def service(self) -> None:
        self.channel.answered_ok = False
        super().service()
        self.channel.answered_ok = self.wrote_header and self.status.startswith("2")


class ModelTask:
    """A request from a model's queue on the work lane; tells the queues when it is over, and how
    long it took when that is a sample of the model's service time (a 2xx answer)."""

    def __init__(self, server: GuardedServer, channel: GuardedChannel, model_id: str) -> None:
        self.server = server
        self.channel = channel
        self.model_id = model_id

    def service(self) -> None:
        started = time.monotonic()
        try:
            self.channel.service()
        finally:
            self.server.model_finished(self.model_id, self.channel.addr[0], started, self.channel.answered_ok)

    def cancel(self) -> None:
        self.channel.cancel()


class BoundedChunkedReceiver(ChunkedReceiver):
    """waitress's chunked body reader, refusing a chunk-size line or trailer over a small limit.

    waitress keeps an unfinished line whole and copies and searches it again on every read, so
    an endless one costs time growing with the square of its length. Each read hands over at
    most `recv_bytes`, so checking what is left unfinished after each one bounds both.
    """

    error: Error | None
    control_line: bytes
    trailer: bytes

    def received(self, s: bytes) -> int:
        consumed = super().received(s)
        if self.error is None:
            if len(self.control_line) > MAX_CHUNK_LINE_BYTES:
                self.error = BadRequest(f"a chunk-size line is longer than {MAX_CHUNK_LINE_BYTES} bytes")
            elif len(self.trailer) > MAX_TRAILER_BYTES:
                self.error = BadRequest(f"the chunked trailer is longer than {MAX_TRAILER_BYTES} bytes")
            if self.error is not None:
                self.all_chunks_received = True
        return consumed


class StrictRequestParser(HTTPRequestParser):
    """waitress's parser, refusing a request framed two ways (a request-smuggling vector), and
    reading chunked bodies with bounded framing."""

    body_rcv: Any  # waitress's, untyped there

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if isinstance(self.body_rcv, ChunkedReceiver):
            self.body_rcv = BoundedChunkedReceiver(self.body_rcv.buf)
        # waitress drops TRANSFER_ENCODING from the headers once it has set up chunked reading
        framed_by_transfer_encoding = self.chunked or "TRANSFER_ENCODING" in self.headers
        if framed_by_transfer_encoding and "CONTENT_LENGTH" in self.headers:
            raise ParsingError(
                "a request may not carry both Transfer-Encoding and Content-Length (RFC 9112 section 6.1)"
            )


class ClosableTrigger(trigger.trigger):
    """waitress's wake-up pipe for the I/O loop, safe to pull from any thread before, during and
    after its close: a pull after the close does nothing (waitress's would write to a closed
    descriptor, or to whatever file reused its number)."""

    def __init__(self, map: Any) -> None:
        self.pipe_lock = threading.Lock()  # one job: no write to the pipe once it is closed
        super().__init__(map)

    def _physical_pull(self) -> None:
        with self.pipe_lock:
            if not self._closed:
                os.write(self.trigger, b"x")

    def _close(self) -> None:
        with self.pipe_lock:
            super()._close()


class GuardedChannel(HTTPChannel):
    """A connection with deadlines for reading its requests and for writing its answers, that
    runs a pipelined request only once the answer before it is written, and counts per client."""

    parser_class = StrictRequestParser
    error_task_class = JsonErrorTask
    task_class = AnswerNotingTask
    answered_ok = False  # the last request the app ran was answered 2xx
    # monotonic time the request being read began: its first byte, or the accept for the first request
    reading_since: float | None = None
    request: Any  # the partial request waitress is parsing (HTTPChannel's, untyped there)
    counted = False
    received_any = False
    # After an error answer made before the body was read, the client may still be sending it;
    # closing over unread bytes would reset the connection and lose the answer. So the channel
    # shuts its sending side and reads (and drops) what comes for a while: a lingering close.
    linger_on_close = False
    lingering_until: float | None = None
    linger_bytes_left = 0
    next_request_waits = False  # a complete request waits for the answer before it to be written
    flushes = 0  # sends that wrote something, for the send deadline
    unsent_since: float | None = None
    flushes_seen = 0

    def __init__(self, server: GuardedServer, sock: socket.socket, addr: Any, adj: Adjustments,
                 map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        self.accepted_at = self.reading_since = time.monotonic()
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

    def abort(self) -> None:
        """Close now, unsent output and all; wakes a thread waiting to write to it."""
        self.linger_on_close = False
        self.handle_close()

    def linger_over(self, now: float) -> bool:
        return self.lingering_until is not None and now > self.lingering_until

    def received(self, data: bytes) -> bool:
        if data:
            self.received_any = True
            if self.request is None and self.reading_since is None:
                self.reading_since = time.monotonic()
        accepted = super().received(data)
        if self.request is None:  # nothing partial left: the next request starts its own clock
            self.reading_since = None
        return accepted

    def read_overdue(self, now: float, options: ServingOptions) -> str | None:
        """Why the request being read (or the first one, not begun) has taken too long, or None."""
        if self.reading_since is None or self.requests:
            return None
        waited = now - self.reading_since
        if self.request is None:
            if not self.received_any and waited > options.header_timeout:
                return f"nothing arrived within header_timeout ({options.header_timeout:g} s) of the connection"
            return None
        if not self.request.headers_finished and waited > options.header_timeout:
            return f"the request header did not arrive within header_timeout ({options.header_timeout:g} s)"
        if waited > options.request_read_timeout:
            return f"the request did not arrive within request_read_timeout ({options.request_read_timeout:g} s)"
        return None

    def refuse_slow_request(self, reason: str, options: ServingOptions) -> None:
        """Answer 408 and close (lingering); runs on the I/O thread while no task uses this channel.
        A connection that sent nothing has no request to answer: it is closed quietly."""
        if not self.received_any:
            self.abort()
            return
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

    # -- writing ----------------------------------------------------------------------------------

    def _flush_some(self, do_close: bool = True) -> bool:
        flushed = super()._flush_some(do_close=do_close)
        if flushed:
            self.flushes += 1
        return flushed

    def send_overdue(self, now: float, options: ServingOptions) -> bool:
        """True when unsent output has made no progress for `send_timeout` (checked each
        maintenance pass, so the clock starts at the first pass that sees it stalled)."""
        if not self.total_outbufs_len:
            self.unsent_since = None
            return False
        if self.unsent_since is None or self.flushes != self.flushes_seen:
            self.unsent_since, self.flushes_seen = now, self.flushes
            return False
        return now - self.unsent_since > options.send_timeout

    def hold_until_flushed(self) -> bool:
        """For the next pipelined request: True (and it waits) while an answer is still unsent;
        the I/O thread hands it to a lane once that answer is written (see handle_write)."""
        with self.outbuf_lock:
            if not self.total_outbufs_len:
                return False
            self.next_request_waits = True
        self.server.pull_trigger()
        return True

    def handle_write(self) -> None:
        super().handle_write()
        if not self.next_request_waits or not self.connected:
            return
        with self.outbuf_lock:
            flushed = not self.total_outbufs_len
            if flushed:
                self.next_request_waits = False
        if flushed and self.requests:
            self.server.add_task(self)

    def in_progress(self) -> bool:
        """A request being read, run or answered on this connection."""
        return bool(self.requests or self.request is not None or self.total_outbufs_len
                    or self.next_request_waits)

    def eviction_rank(self) -> tuple[int, float] | None:
        """Order in which connections give way at connection_limit (lowest first), or None for
        one that is working: silent ones, then idle keep-alive ones, then those still sending a
        header, oldest first in each."""
        if self.requests or self.total_outbufs_len or self.next_request_waits or self.lingering_until:
            return None
        if not self.received_any:
            return 0, self.accepted_at
        if self.request is None:
            return 1, self.last_activity
        if not self.request.headers_finished:
            return 2, self.reading_since or self.accepted_at
        return None


class GuardedServer(TcpWSGIServer):
    """One listening socket; requests split between the work lane and the status lane."""

    channel_class = GuardedChannel
    trigger: trigger.trigger

    def __init__(self, application: Any, options: ServingOptions, adj: Adjustments,
                 work: ThreadedTaskDispatcher, status: ThreadedTaskDispatcher,
                 queues: ModelQueues[GuardedChannel] | None = None) -> None:
        self.options = options
        self.status_dispatcher = status
        self.queues = queues
        self.client_connections: collections.Counter[str] = collections.Counter()
        self.refused_connections = 0
        super().__init__(application, map={}, dispatcher=work, adj=adj, sockinfo=adj.listen[0])
        self.trigger.close()
        self.trigger = ClosableTrigger(self._map)

    def add_task(self, channel: HTTPChannel) -> None:
        if isinstance(channel, GuardedChannel) and channel.hold_until_flushed():
            return
        request = channel.requests[0]
        model_id = None
        if self.queues is not None and not request.error:
            model_id = self.queues.model_of(request.command, request.path)
        if request.error or is_status_request(request.command, request.path):
            self.status_dispatcher.add_task(channel)
        elif model_id is not None and isinstance(channel, GuardedChannel):
            self._queue(channel, model_id)
        elif len(self.task_dispatcher.queue) >= self.options.max_pending:
            request.error = ServerBusy(
                f"the server is busy: {self.options.threads} requests are running and "
                f"{self.options.max_pending} more wait (max_pending); retry shortly"
            )
            self.status_dispatcher.add_task(channel)
        else:
            self.task_dispatcher.add_task(channel)

    def _queue(self, channel: GuardedChannel, model_id: str) -> None:
        """Into the model's queue (503 on the status lane when refused), then start what may start."""
        assert self.queues is not None
        refusal = self.queues.offer(model_id, channel.addr[0], channel, time.monotonic())
        if refusal is not None:
            channel.requests[0].error = ServerBusy(refusal.message, refusal.retry_after)
            self.status_dispatcher.add_task(channel)
            return
        self._start_ready(model_id)

    def _start_ready(self, model_id: str) -> None:
        assert self.queues is not None
        for channel in self.queues.ready(model_id):
            self.task_dispatcher.add_task(ModelTask(self, channel, model_id))

    def model_finished(self, model_id: str, client: str, started: float, answered: bool) -> None:
        """On the work thread whose model task is over: the model may take its next request."""
        assert self.queues is not None
        self.queues.finished(model_id, client, started, time.monotonic(), answered)
        self._start_ready(model_id)

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
        except OSError:
            return
        if accepted is None:
            return
        conn, addr = accepted
        if self.client_connections[addr[0]] >= self.options.connections_per_client:
            self._refuse(conn, f"this client has {self.options.connections_per_client} connections open, "
                               "the limit connections_per_client; close some or retry later")
            return
        if len(self.active_channels) >= self.options.connection_limit and not self._make_room():
            self._refuse(conn, f"the server has {self.options.connection_limit} connections open, all of them "
                               "working (connection_limit); retry shortly")
            return
        try:
            self.set_socket_options(conn)
        except OSError:
            conn.close()
            return
        self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)

    def _make_room(self) -> bool:
        """Close the connection that gives way first (see GuardedChannel.eviction_rank), if any."""
        ranked = [(rank, channel) for channel in self.active_channels.values()
                  if isinstance(channel, GuardedChannel) and (rank := channel.eviction_rank()) is not None]
        if not ranked:
            return False
        _, channel = min(ranked, key=lambda item: item[0])
        log.debug("connection_limit reached: closing a connection from %s with no request in progress",
                  channel.addr[0])
        channel.abort()
        return True

    def _refuse(self, conn: socket.socket, message: str) -> None:
        """A best-effort 503 to a client we cannot take, then close; never blocks."""
        self.refused_connections += 1
        with contextlib.suppress(OSError):
            conn.setblocking(False)
            conn.send(error_response(ServerBusy(message), self.options))
            conn.shutdown(socket.SHUT_WR)
            conn.recv(65536)  # what the client sent already: closing over unread bytes resets
        conn.close()

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle keep-alive connections
        monotonic = time.monotonic()
        if self.queues is not None:
            for channel in self.queues.sweep(monotonic, gone=lambda channel: not channel.connected):
                channel.requests[0].error = WaitedTooLong(
                    f"the request waited request_timeout ({self.queues.deadline:g} s) for its model; retry later")
                self.status_dispatcher.add_task(channel)
        for channel in list(self.active_channels.values()):
            if isinstance(channel, GuardedChannel):
                if channel.linger_over(monotonic):
                    channel.handle_close()
                    continue
                if channel.send_overdue(monotonic, self.options):
                    log.info("closing a connection from %s: its client read nothing of the answer for "
                             "send_timeout (%g s)", channel.addr[0], self.options.send_timeout)
                    channel.abort()
                    continue
                reason = channel.read_overdue(monotonic, self.options)
                if reason:
                    level = logging.INFO if channel.received_any else logging.DEBUG
                    log.log(level, "closing a connection from %s: %s", channel.addr[0], reason)
                    channel.refuse_slow_request(reason, self.options)

    def busy(self) -> bool:
        """Requests running or queued in either lane, or waiting in a model's queue."""
        return (any(d.active_count or d.queue for d in (self.task_dispatcher, self.status_dispatcher))
                or (self.queues is not None and self.queues.waiting() > 0))

    def shutdown_lanes(self, timeout: float = 5) -> None:
        if self.queues is not None:
            for channel in self.queues.clear():
                channel.cancel()
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


def make_server(application: Any, host: str, port: int, options: ServingOptions,
                queues: ModelQueues[GuardedChannel] | None = None) -> GuardedServer:
    """A guarded waitress server listening on (host, port); `run()` serves until closed. With
    `queues`, a request naming a model waits in that model's queue (see model_queues.py)."""
    adj = Adjustments(
        host=host, port=port, threads=options.threads,
        # GuardedServer.handle_accept keeps to connection_limit itself, making room at the limit;
        # waitress's own check (counting the listener and the trigger too) must not stop it first
        connection_limit=options.connection_limit + 3,
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
    return GuardedServer(application, options, adj, work, status, queues)
