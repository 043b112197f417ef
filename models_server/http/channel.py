"""A guarded connection: deadlines for reading its requests and writing its answers.

- **Deadlines.** A connection that sends nothing is closed `header_timeout` after it was
  accepted; a request's header must arrive within `header_timeout` and the whole request within
  `request_read_timeout` of its first byte (else 408 and close); idle keep-alive connections
  close after `idle_timeout`. At `connection_limit` the connection with no request in progress
  gives way in the order of `GuardedChannel.eviction_rank`.
- **Clients that do not read.** A connection whose answer makes no progress for `send_timeout`
  is closed, which also frees a thread blocked on its full output buffer. A pipelined request
  waits, holding no thread, until the answer before it is written: a client that sends many
  requests and reads none gets one answer computed, not a buffer full.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.task import WSGITask

from models_server.http.body_models import BODY_VALUES
from models_server.http.framing import JsonErrorTask, RequestTimeout, StrictRequestParser, error_response

if TYPE_CHECKING:
    from models_server.http.server import GuardedServer, ServingOptions

# How long a connection answered with an error keeps reading (and dropping) what its client sends.
LINGER_SECONDS = 5.0


class AnswerNotingTask(WSGITask):
    """waitress's task running the app, noting on its channel whether the app answered 2xx; the
    body as read to find its model goes to the app with the request (`BODY_VALUES`)."""

    channel: GuardedChannel

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        read = getattr(self.request, "body_values", None)
        if read is not None:
            environ[BODY_VALUES] = read
        return environ

    def service(self) -> None:
        self.channel.answered_ok = False
        super().service()
        self.channel.answered_ok = self.wrote_header and self.status.startswith("2")


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
